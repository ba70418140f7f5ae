"""What produced a result: code version, seeds, library versions, data hash, machine."""
from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from importlib import metadata

from .paths import REPO_ROOT

LIBRARIES = ("studylib", "keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy", "pandas",
             "scikit-learn", "optuna", "papermill", "seaborn", "dask")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out


def collect(**extra) -> dict:
    import os

    return {
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "libraries": versions(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
