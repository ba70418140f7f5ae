"""A study's output folder: checked before anything is written, locked per study, and exported.

One folder may hold many studies (other seeds, strategies, ...): they share ``ledger.sqlite``;
``trials.csv`` holds every study's trials, grouped by study, with a ``study_id`` column (the
ledger's column names; the paper's spellings only in the reports' tables);
``studies/<study_id>.json`` records each study's spec and provenance.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterable

from . import atomic, paths
from .errors import StudyError
from .ledger import Ledger, write_csv_atomic

STUDIES_DIR = "studies"
RUNGS_CSV = "rungs.csv"  # every rung of the multi-fidelity studies (trials.csv: one row per config)


def is_study_record(path) -> bool:
    """Whether ``path`` is a ``trials.csv`` or ``rungs.csv`` beside a study's ledger."""
    path = Path(path)
    return path.name in (paths.TRIALS_CSV, RUNGS_CSV) and (path.parent / paths.LEDGER_NAME).exists()


def csv_columns(path) -> list[str]:
    """The column names in a CSV file's header, as a CSV reader reads them (quoted or not, a
    byte-order mark dropped, each stripped); none for an empty file. Only the first line is read."""
    import csv

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        return [c.strip() for c in next(csv.reader([f.readline(1 << 16)], skipinitialspace=True), [])]


#: Marks a published report (:func:`studylib.report.publish.render_html`), so that a later ``run``
#: into its folder knows it may overwrite it.
GENERATOR = '<meta name="generator" content="studylib">'


def check_out_dir(out: Path, index: bool = False, reports: Iterable[str] = (), files: Iterable[str] = (),
                  study: bool = False) -> None:
    """Fail early (before any training, leaving nothing behind) if ``out`` cannot hold results, or
    holds a ``trials.csv`` (with ``index``, also an ``index.html``; for each name of ``reports``, a
    ``<name>.ipynb`` and ``<name>.html``) that studylib did not write, or a folder where it writes
    one of those files, ``ledger.sqlite`` or one of ``files``; with ``study``, also if ``out`` is
    (or lies in) a study folder's record folder ``studies/``."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise StudyError(f"output path {out} is a link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise StudyError(f"output path {out} exists and is not a folder")
    full = Path(os.path.abspath(out))
    records = study and next((p for p in (full, *full.parents) if p.name == STUDIES_DIR
                              and (p.parent / paths.LEDGER_NAME).is_file()), None)
    if records:
        raise StudyError(f"output folder {out} is in {records}, the record folder of the study folder "
                         f"{records.parent}: give {records.parent} itself to add this study there, "
                         "or a folder beside it")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StudyError(f"cannot create output folder {out}: {parent} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".studylib-probe-"))
    except OSError as e:
        raise StudyError(f"output folder {out} is not writable ({e.strerror})") from None
    names = [paths.TRIALS_CSV, *(["index.html"] if index else []),
             *(f"{r}{suffix}" for r in reports for suffix in (".ipynb", ".html"))]
    for name in [*names, paths.LEDGER_NAME, *files]:
        if (out / name).is_dir():
            raise StudyError(f"output folder {out} holds a folder named {name}, where studylib writes a file")
    ledger = out / paths.LEDGER_NAME
    if ledger.exists() and not os.access(ledger, os.W_OK):
        raise StudyError(f"output folder {out}: its {paths.LEDGER_NAME} is read-only (a study adds its trials "
                         "there): give another --out, or make the file writable")
    foreign = [name for name in [*names, *files] if _foreign(out / name)]
    if foreign:
        raise StudyError(f"output folder {out} holds {' and '.join(foreign)} that studylib did not write "
                         "(it would be overwritten): give another --out, or move the file away")


#: The columns that mark a CSV file of these names as one studylib wrote.
OWN_COLUMNS = {paths.TRIALS_CSV: {"trial", "study_id"}, "bench.csv": {"table", "strategy", "seed", "regret"},
               "bench_summary.csv": {"table", "strategy", "runs"}}


def _foreign(path: Path) -> bool:
    """``path`` exists and is not a file studylib writes: a CSV of :data:`OWN_COLUMNS` without its
    columns (``trials.csv``: a ledger export's; ``bench.csv``, ``bench_summary.csv``: a
    benchmark's), a ``bench.provenance.json`` without a code stamp, an ``index.html`` that is not a
    reports index, a ``<round>.ipynb`` that papermill did not execute (the repository's own
    notebooks), a ``<round>.html`` that is not a published report (:data:`GENERATOR`) nor beside an
    executed notebook of its name (a report published before that mark). Other names: never."""
    if path.suffix == ".ipynb":
        if not path.exists():
            return False
        try:
            return "papermill" not in (json.loads(path.read_text(errors="replace")).get("metadata") or {})
        except (OSError, ValueError, AttributeError, TypeError):
            return True
    if not path.is_file():
        return False
    if path.suffix == ".html" and path.name != "index.html":
        return GENERATOR not in path.read_text(errors="replace") and (
            not path.with_suffix(".ipynb").exists() or _foreign(path.with_suffix(".ipynb")))
    if path.name not in OWN_COLUMNS and path.name not in ("index.html", "bench.provenance.json"):
        return False
    if path.name == "bench.provenance.json":
        try:
            return "protocol_code" not in json.loads(path.read_text(errors="replace"))
        except (OSError, ValueError, TypeError):
            return True
    if path.name == "index.html":
        with open(path, errors="replace") as f:
            return "studylib reports" not in f.read(4096)
    return not OWN_COLUMNS[path.name] <= set(csv_columns(path))


def check_out_file(out: Path, suffix: str | None = None, flag: str = "--out") -> None:
    """Fail early (before any work) if the file ``out`` cannot be written: a folder, a missing or
    read-only parent, a read-only file, or (with ``suffix``, e.g. ``".csv"``) another file type."""
    out = Path(out)
    if suffix and out.suffix.lower() != suffix:
        raise StudyError(f"{flag} {out}: use a {suffix} file name")
    if out.is_dir():
        raise StudyError(f"{flag} {out} is a folder")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise StudyError(f"{flag} {out}: {folder} is a file, not a folder" if folder.exists() else
                         f"{flag} {out}: folder {folder} does not exist")
    if out.exists() and not os.access(out, os.W_OK):
        raise StudyError(f"{flag} {out}: not writable")
    try:  # a probe file: os.access says yes to root even where the file system says no (/proc)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".studylib-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise StudyError(f"{flag} {out}: not writable ({e.strerror})") from None


def study_record_path(out: str | Path, study_id: str) -> Path:
    """Where the study ``study_id`` of folder ``out`` records its spec and provenance."""
    return Path(out) / STUDIES_DIR / f"{study_id}.json"


def read_study_record(out: str | Path, study_id: str) -> dict:
    """The study's record (``{}`` if it has none)."""
    path = study_record_path(out, study_id)
    return json.loads(path.read_text()) if path.exists() else {}


def write_study_record(out: Path, study_id: str, record: dict) -> None:
    """Write the study's record: ``trials`` as this run asked, and ``most_trials``, the most any
    run without a budget asked for (a smaller re-run serves its trials from the ledger, which still
    holds the others; a budget run's ``trials`` is the space's size, not what it ran)."""
    path = study_record_path(out, study_id)
    try:
        before = read_study_record(out, study_id)
    except (OSError, ValueError):  # unreadable or damaged by hand: written anew
        before = {}
    before = before if isinstance(before, dict) else {}

    def unbudgeted(r: dict):
        return r.get("trials") if r.get("budget_epochs") is None and r.get("budget_hours") is None else None

    asked = [v for v in (before.get("most_trials"), unbudgeted(before), unbudgeted(record)) if isinstance(v, int)]
    if asked:
        record = {**record, "most_trials": max(asked)}
    path.parent.mkdir(exist_ok=True)
    atomic.write_text(path, json.dumps({"study_id": study_id, **record}, indent=2, default=str))


def study_folder(path: str | Path) -> Path:
    """The folder of a study folder given as itself or as its ledger file."""
    path = Path(path)
    return path.parent if path.name == paths.LEDGER_NAME and path.is_file() else path


def study_folders_below(folder: str | Path) -> list[Path]:
    """The study folders (each with a ledger) below ``folder``, not itself, sorted."""
    folder = Path(folder)
    return sorted(p.parent for p in folder.rglob(paths.LEDGER_NAME) if p.parent != folder) if folder.is_dir() else []


def first_few(items, n: int = 3) -> str:
    """``a, b, c and 2 more``."""
    items = [str(i) for i in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def study_ledger(folder: str | Path) -> Path:
    """The ledger of a study folder (the ``--out`` of ``studylib search``; or the ledger itself);
    :class:`StudyError` (one line) for a missing folder, a file, or a folder without one (naming
    the study folders inside it, e.g. the seeds of a ``run --seeds N`` round)."""
    folder = study_folder(folder)
    if not folder.exists():
        raise StudyError(f"no such folder: {folder}")
    if folder.is_file():
        beside = folder.parent / paths.LEDGER_NAME
        hint = f"; its study folder is {folder.parent}" if beside.is_file() else ""
        raise StudyError(f"{folder} is a file: give a study folder (the --out of studylib search){hint}")
    path = folder / paths.LEDGER_NAME
    if not path.is_file():
        inside = study_folders_below(folder)
        hint = f"; the study folders in it: {first_few(inside)}" if inside else "; is it a study folder?"
        raise StudyError(f"no ledger in {folder} (expected {path}{hint})")
    return path


def export_trials(ledger: Ledger, path: Path) -> None:
    """Write every study of ``ledger`` to ``path`` (``trials.csv``) with the ledger's column names:
    one name per hyperparameter in every round (the paper's spellings only in displayed tables).

    Multi-fidelity studies: ``trials.csv`` keeps one row per config (its highest rung, see
    :func:`studylib.fidelity.collapse_rungs`) and ``rungs.csv`` beside it lists every rung
    (``config_trial``: its config's number in ``trials.csv``). A folder without a finished trial
    gets no ``trials.csv``."""
    from .fidelity import collapse_rungs, config_column

    frame = ledger.folder_frame()
    if frame.empty:  # interrupted before the first trial finished: no file (not one holding a newline)
        return
    collapsed = collapse_rungs(frame)
    if collapsed is not frame:  # each rung also names its config by its trials.csv number
        config = config_column(frame)
        frame = frame.assign(config_trial=frame.groupby([frame["study_id"], config])["trial"].transform("min"))
        write_csv_atomic(frame, Path(path).with_name(RUNGS_CSV))
    write_csv_atomic(collapsed, path)


class StudyLock:
    """One process at a time per study and output folder: an exclusive ``flock`` on
    ``OUT/.<study_id>.lock``, released by the kernel when the process ends (``kill -9`` too).

    :meth:`release` deletes the file while still holding the lock, so a clean exit leaves no
    hidden file; an acquirer that opened the file before it was deleted gets the lock on a
    deleted inode, sees that the path no longer names its file, and starts again."""

    def __init__(self, out: Path, study_id: str, what: str | None = None):
        self.path = Path(out) / f".{study_id}.lock"
        self.what = what or f"study {study_id}"  # what the error message says is running
        self.fd = None

    def acquire(self) -> "StudyLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise StudyError(f"{self.what} is already running in {self.path.parent} ({holder}); "
                                 "wait for it to finish or stop it, then re-run to continue") from None
            if self._names(fd):
                break
            os.close(fd)  # locked a file its holder deleted on release: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self.fd = fd
        return self

    def _names(self, fd: int) -> bool:
        """True if ``self.path`` still names the file open as ``fd``."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # while holding the lock: no one else owns the path now
            os.close(self.fd)  # drops the flock
            self.fd = None
