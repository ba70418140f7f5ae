"""Finding ledgers and reading them into the explorer's tables (no widgets here).

Sources are ledger files or folders searched recursively for ``ledger.sqlite`` (a ``studylib
run`` report folder holds one per round; a ``studylib search --out`` folder holds one for every
study run into it). Everything is read from the ledgers (``Ledger.studies()``,
``Ledger.frame(study_id)``), never from ``trials.csv``: a folder may hold any number of studies.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import paths
from ..errors import StudyError
from ..ledger import ADDED_COLUMNS, SCHEMA, Ledger
from ..progress import count_text
from .analysis import ADDED, METRICS, TEST_METRICS

#: Environment variable ``studylib explore`` passes its sources in (``os.pathsep``-separated).
ENV_SOURCES = "STUDYLIB_EXPLORE"
SQLITE_MAGIC = b"SQLite format 3\x00"


def default_sources() -> list[str]:
    """``$STUDYLIB_EXPLORE`` (set by ``studylib explore``), else ``reports/``."""
    env = os.environ.get(ENV_SOURCES, "").strip()
    return [s for s in env.split(os.pathsep) if s] if env else [str(paths.REPORTS_DIR)]


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def find_ledgers(source: str | Path, skipped: list[str] | None = None) -> list[Path]:
    """The ledgers in ``source``: the file itself, or every ``ledger.sqlite`` under a folder.
    Raises :class:`StudyError` (one line) when there is none or the file is not a ledger; in a
    folder, one that is not (a damaged copy, say) is left out, with why added to ``skipped``,
    unless none is usable."""
    path = Path(source).expanduser()
    if not path.exists():
        raise StudyError(f"no such file or folder: {path}")
    if not path.is_dir():
        check_ledger(path)
        return [path.resolve()]
    found = sorted(p for p in path.rglob(paths.LEDGER_NAME) if p.is_file())
    if not found:
        raise StudyError(f"no {paths.LEDGER_NAME} in {path} (run `studylib search` or `studylib run` "
                         "into it first)")
    usable, errors = [], []
    for p in found:
        try:
            check_ledger(p)
            usable.append(p.resolve())
        except StudyError as e:
            errors.append(str(e))
    if not usable:
        raise StudyError(errors[0] + (f" (and {len(errors) - 1} more ledgers in {path} like it)"
                                      if len(errors) > 1 else ""))
    if skipped is not None:
        skipped += [f"left out: {e}" for e in errors]
    return usable


def check_ledger(path: Path) -> int:
    """Number of trials in the ledger ``path``; :class:`StudyError` when it is not one."""
    if not _is_sqlite(path):
        raise StudyError(f"{path} is not a studylib ledger (not an SQLite file)")
    with Ledger(path, read_only=True) as led:
        _check_tables(led)
        return led.count()


def ledger_labels(ledgers: Sequence[Path]) -> dict[Path, str]:
    """Short names for ledgers: their folder relative to the folders' common parent."""
    parents = [p.parent for p in ledgers]
    if len(parents) == 1:
        return {ledgers[0]: parents[0].name or str(parents[0])}
    root = Path(os.path.commonpath([str(p) for p in parents]))
    out = {}
    for p, parent in zip(ledgers, parents):
        rel = parent.relative_to(root).as_posix()
        out[p] = rel if rel != "." else (parent.name or str(parent))
    return out


@dataclass
class TrialData:
    """What the explorer shows, read from ledgers.

    ``trials``: one row per trial and ledger (``Ledger.frame()`` plus ``ledger``, ``study``,
    ``strategy`` -- the first study that proposed it -- and ``order``, finishing order in its
    ledger). ``runs``: one row per (study, trial) in proposal order (``number``), for best-so-far
    curves. ``studies``: each study of ``Ledger.studies()`` with its ``ledger`` path, ``label``,
    number of ``trials`` (rows) and ``count`` (``4 trials``; ``2 configs in 3 rung trials``). ``hyperparameters``: the configuration columns, in ledger order.
    ``curves``: the per-epoch logs, one row per (ledger, key, epoch), see :func:`read_curves`.
    """

    ledgers: list[Path] = field(default_factory=list)
    trials: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["key", "status", *METRICS, *TEST_METRICS, *ADDED]))
    runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["key", "number", "status", *METRICS, *TEST_METRICS, *ADDED]))
    studies: list[dict] = field(default_factory=list)
    hyperparameters: list[str] = field(default_factory=list)
    curves: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["ledger", *CURVE_COLUMNS]))


#: Columns of :func:`read_curves` (``accuracy``: training accuracy, NaN where not recorded).
CURVE_COLUMNS = ("key", "epoch", "val_accuracy", "accuracy")


def read_curves(led: Ledger) -> pd.DataFrame:
    """Every trial's per-epoch ``val_accuracy`` (and training ``accuracy``) in ``led``: one row
    per (key, epoch), epochs numbered from 1; trials without a recorded curve have no rows."""
    rows = []
    for key, _, _, logs in led.histories():
        val = logs.get("val_accuracy") or []
        train = logs.get("accuracy") or []
        for i, v in enumerate(val):
            rows.append((key, i + 1, _float(v), _float(train[i]) if i < len(train) else float("nan")))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _float(v) -> float:
    return float("nan") if v is None else float(v)


def _open(path: Path) -> Ledger:
    """``path`` opened read-only; a ledger of an older version, which lacks columns this one
    reads, as studies open it (it gains them), or read-only where that cannot be done (an archive
    whose folder cannot be written)."""
    led = Ledger(path, read_only=True)
    try:
        have = _check_tables(led)
    except StudyError:
        led.close()
        raise
    if all(column in have[table] for table, column, _ in ADDED_COLUMNS):
        return led
    led.close()
    try:
        return Ledger(path)
    except StudyError:
        return Ledger(path, read_only=True)


def _check_tables(led: Ledger) -> dict[str, set[str]]:
    """Each of a ledger's tables with its columns. A file without them is no ledger, one missing
    some is damaged (errors: a reader does not create them). A study creating the ledger makes it
    an SQLite file first, then its tables one by one: looked at again for a moment first."""
    for wait in (0.05, 0.2, 0.5, None):
        have = {t: {r[1] for r in led.conn.execute(f"PRAGMA table_info({t})")} for t in LEDGER_TABLES}
        missing = [t for t, columns in have.items() if not columns]
        if not missing or wait is None:
            break
        time.sleep(wait)
    if len(missing) == len(LEDGER_TABLES):
        raise StudyError(f"{led.path} is not a studylib ledger (an SQLite file without the tables "
                         f"{', '.join(LEDGER_TABLES)})")
    if missing:
        raise StudyError(f"ledger {led.path} is damaged: it has no {', '.join(missing)} table (a study's ledger "
                         f"has {', '.join(LEDGER_TABLES)})")
    return have


#: The tables of a ledger.
LEDGER_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))


def load_ledgers(ledgers: Sequence[Path]) -> TrialData:
    """Read ``ledgers`` (see :class:`TrialData`)."""
    ledgers = list(ledgers)
    labels = ledger_labels(ledgers) if ledgers else {}
    data = TrialData(ledgers=ledgers)
    trials, runs, curves = [], [], []
    for path in ledgers:
        with _open(path) as led:
            frame = led.frame()
            per_study = [(s, led.frame(s["study_id"])) for s in led.studies()]
            curves.append(read_curves(led).assign(ledger=labels[path]))
            names = led.config_names()
        for c in names:  # not the bookkeeping columns (rung_of, new_epochs, ...)
            if c in frame.columns and c not in data.hyperparameters:
                data.hyperparameters.append(c)
        label = labels[path]
        first: dict[str, tuple[str, str, str]] = {}  # a trial key: its first study's label, strategy and space
        for s, f in per_study:
            sid, strategy, space = s["study_id"], s["spec"].get("strategy", ""), s["spec"].get("space", "")
            study_label = sid if len(ledgers) == 1 else f"{label}/{sid}"
            data.studies.append({**s, "ledger": path, "ledger_label": label, "label": study_label,
                                 "trials": len(f), "count": count_text(f)})
            for k in f["key"] if len(f) else []:
                first.setdefault(k, (study_label, strategy, space))
            if len(f):
                runs.append(f.rename(columns={"trial": "number"}).assign(
                    ledger=label, study=study_label, strategy=strategy, round=space))
        if len(frame):  # a trial's study, strategy and round: those of the first study that has it
            owners = [first.get(k, ("", "", "")) for k in frame["key"]]
            studies, strategies, rounds = (list(column) for column in zip(*owners))
            trials.append(frame.drop(columns=["study_id"]).assign(
                ledger=label, study=studies, strategy=strategies, round=rounds, order=range(1, len(frame) + 1)))
    if trials:
        data.trials = pd.concat(trials, ignore_index=True)
    if runs:
        data.runs = pd.concat(runs, ignore_index=True)
    if curves:
        data.curves = pd.concat(curves, ignore_index=True)
    return data
