"""studylib: reproducible HPO studies of small CNNs (the paper's random-search rounds and a
memetic GA against random, grid and Bayesian search)."""
import os

# TensorFlow's C++ logging (start-up chatter, harmless grappler "remapper failed" lines for
# LeakyReLU) drowns the progress bars; Python exceptions are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
