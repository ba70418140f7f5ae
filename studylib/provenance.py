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


# -- results tied to the code that made them ---------------------------------------------------------
#: Modules whose change can change a benchmark's numbers, besides the strategies (``strategies/``).
PROTOCOL_FILES = ("bench.py", "curve_bench.py", "fidelity.py", "loop.py", "numbers.py", "objective.py",
                  "space.py", "table_files.py", "tables.py", "trial.py")


def source_hash(files) -> str:
    """12 hex digits of SHA-256 over the files' names (relative to the package) and bytes."""
    import hashlib

    from .paths import PACKAGE_DIR

    h = hashlib.sha256()
    for path in sorted(files):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def strategy_fingerprint() -> str:
    """The strategies' code: every module of ``studylib/strategies/`` (they import each other)."""
    from .paths import PACKAGE_DIR

    return source_hash((PACKAGE_DIR / "strategies").glob("*.py"))


def protocol_fingerprint() -> str:
    """The benchmark protocol's code: :data:`PROTOCOL_FILES` (the loop, tables, regret, ...)."""
    from .paths import PACKAGE_DIR

    return source_hash(PACKAGE_DIR / f for f in PROTOCOL_FILES)


def code_stamp(**settings) -> dict:
    """What made a result: the git commit, the strategy and protocol fingerprints, ``settings``."""
    return {"git_commit": git_commit(), "strategy_code": strategy_fingerprint(),
            "protocol_code": protocol_fingerprint(), **settings}


def stamp_path(result) -> "Path":  # noqa: F821
    """The sidecar of a result file: ``x.csv`` -> ``x.provenance.json`` beside it."""
    from pathlib import Path

    result = Path(result)
    return result.with_name(result.stem + ".provenance.json")


def write_stamp(result, stamp: dict) -> "Path":  # noqa: F821
    """Record ``stamp`` (a :func:`code_stamp`) beside the result file ``result``; returns the sidecar."""
    import json
    import os

    path = stamp_path(result)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**stamp, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1,
                              sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
