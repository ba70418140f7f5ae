"""studylib: reproducible HPO studies of small CNNs (the paper's random-search rounds and a
memetic GA against random, grid and Bayesian search)."""
import os

# TensorFlow's C++ start-up chatter drowns the progress bars; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
