"""studylib: reproducible HPO studies of small CNNs (the paper's random-search rounds and a
memetic GA against random, grid and Bayesian search)."""
import os

# TensorFlow's C++ logging (start-up chatter, harmless grappler "remapper failed" lines for
# LeakyReLU) drowns the progress bars; Python exceptions are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# ... but TensorFlow 2.21 still prints "All log messages before absl::InitializeLog()" and its
# oneDNN notice at import; only turning oneDNN's custom CPU ops off silences both (a user may set
# TF_ENABLE_ONEDNN_OPTS=1: the notice returns). Set here, before TensorFlow is first imported: every
# entry point (CLI, papermill kernels, trial processes, Dask workers) imports studylib first or
# inherits this environment.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

#: The Python API at the top level (``studylib.search(...)``), imported on first use so that
#: ``import studylib`` stays light (no pandas, no Keras).
_API = {"search": "study", "StudyError": "errors", "load_space": "space_file", "load_dataset": "data"}


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
