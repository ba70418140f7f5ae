"""Every path studylib uses comes from here (override with environment variables; an empty one
counts as unset)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SPACES_DIR = PACKAGE_DIR / "spaces"
#: A Jupyter data directory with studylib's nbconvert and Voila templates (nothing from a CDN).
JUPYTER_DIR = PACKAGE_DIR / "jupyter"
NOTEBOOKS_DIR = Path(os.environ.get("STUDYLIB_NOTEBOOKS") or REPO_ROOT / "notebooks")
#: ``STUDYLIB_DATA`` is checked as ``--data-dir`` is (a missing folder is an error, not the default)
DATA_DIR_SET = bool(os.environ.get("STUDYLIB_DATA"))
DATA_DIR = Path(os.environ.get("STUDYLIB_DATA") or REPO_ROOT / "data")
REPORTS_DIR = Path(os.environ.get("STUDYLIB_REPORTS") or REPO_ROOT / "reports")
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

LEDGER_NAME = "ledger.sqlite"
TRIALS_CSV = "trials.csv"
