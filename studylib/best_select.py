"""Which study, config and trial ``studylib best`` trains (:func:`choose_study`, :func:`best_trial`,
:func:`best_below` for a folder of study folders), how that trial trained (:func:`training_of`,
:func:`refit_epochs`), and the checks before it does (:func:`check_backend`, :func:`damaged`).
No randomness."""
from __future__ import annotations

import contextlib
import json
import math
import re
from pathlib import Path

from .errors import StudyError


def choose_study(ledger, study: str | None, folder) -> dict:
    """The study of ``ledger`` named ``study``, or its only one; :class:`StudyError` naming them."""
    studies = ledger.studies()
    ids = [s["study_id"] for s in studies]
    if study is not None:
        if study not in ids:
            raise StudyError(f"no study {study!r} in {folder} (it holds: {', '.join(ids) or 'none'})")
        return studies[ids.index(study)]
    if not studies:
        raise StudyError(f"{folder} holds no study")
    if len(studies) > 1:
        raise StudyError(f"{folder} holds {len(studies)} studies: give one with --study ({', '.join(ids)})")
    return studies[0]


def best_trial(ledger, study_id: str, folder, best=None):
    """``(row, raw)``: the best config's row as ``trials.csv`` and the ``best:`` line give it (or
    ``best``, a row chosen among several studies: :func:`best_below`), and the ledger row of the
    trial to train again (its first run; of a multi-fidelity study, its highest rung)."""
    from .fidelity import collapse_rungs
    from .numbers import best_config

    frame = ledger.frame(study_id)
    if best is None:
        best = best_config(collapse_rungs(frame)) if len(frame) else None
    if best is None:
        raise StudyError(f"study {study_id} in {folder} has no successful trial to train again")
    raw = frame[frame["key"] == best["key"]] if "key" in frame and "key" in best else frame.iloc[0:0]
    return best, (raw.iloc[0] if len(raw) else best)


def best_below(folder: Path, study: str | None):
    """``(study folder, study_id, row, studies compared)``: the config the ``best:`` rule
    (:func:`studylib.numbers.best_config`) names over all the trials of every study in the study
    folders below ``folder`` (a ``--seeds N`` round, a comparison: strategies and seeds) together,
    its study and its row; ``study`` limits it to that study. The studies must share one search
    space and one dataset (the same data: validation accuracies on other data do not compare).
    :class:`StudyError` for none or a mix. A study id found in two folders (a copy) counts once,
    the first folder's (in name order)."""
    import pandas as pd

    from . import paths
    from .fidelity import collapse_rungs
    from .ledger import Ledger
    from .numbers import best_config
    from .outdir import first_few, study_folders_below
    from .study_spec import kinds_named, study_kind

    frames, where, kinds = [], {}, {}
    for sub in study_folders_below(folder):
        with Ledger(sub / paths.LEDGER_NAME, read_only=True) as ledger, damaged(sub / paths.LEDGER_NAME):
            for s in ledger.studies():
                sid = s["study_id"]
                if sid in where or study not in (None, sid):
                    continue
                where[sid] = sub
                spec = s["spec"]
                kinds.setdefault(study_kind(spec), sid)
                frame = ledger.frame(sid)
                if len(frame):
                    frames.append(collapse_rungs(frame))
    if study is not None and not where:
        raise StudyError(f"no study {study!r} in the study folders below {folder} "
                         f"({first_few(study_folders_below(folder))})")
    if len(kinds) > 1:
        raise StudyError(f"the study folders below {folder} hold studies of {len(kinds)} search spaces or data "
                         f"({kinds_named(kinds)}): their accuracies do not compare; give one folder, or "
                         "--study ID")
    best = best_config(pd.concat(frames, ignore_index=True)) if frames else None
    if best is None:
        raise StudyError(f"no study below {folder} has a successful trial to train again")
    return where[best["study_id"]], str(best["study_id"]), best, len(where)


@contextlib.contextmanager
def damaged(path):
    """Reading the ledger ``path``: an SQLite file without a ledger's tables, a record that is not
    JSON (edited or damaged by hand), or a file SQLite cannot read now (locked) is
    :class:`StudyError`, one line."""
    import sqlite3

    from .errors import first_line

    try:
        yield
    except sqlite3.OperationalError as e:
        if "no such" not in str(e):  # locked, an I/O error: said as it is
            raise StudyError(f"cannot read {path}: {first_line(e)}") from None
        raise StudyError(f"{path} is not a studylib ledger ({first_line(e)})") from None
    except sqlite3.DatabaseError as e:
        raise StudyError(f"{path} is not a studylib ledger ({first_line(e)})") from None
    except json.JSONDecodeError as e:
        raise StudyError(f"{path} holds a damaged record ({type(e).__name__}: {first_line(e)})") from None


def check_backend(study: dict, folder) -> None:
    """:class:`StudyError` where ``study`` trained on another Keras backend than this process's:
    another backend trains another network from the same seed."""
    from .objective import trainer_fingerprint
    from .study import split_trainer_fingerprint as split

    recorded, current = split(study.get("fingerprint")), split(trainer_fingerprint())
    (_, was), (_, now) = recorded or ("", ""), current or ("", "")
    if recorded and current and was != now:
        raise StudyError(f"study {study['study_id']} in {folder} was trained on the Keras backend {was}, this "
                         f"process uses {now}: set KERAS_BACKEND={was} to train it again (the .keras file "
                         "it saves loads on any backend)")


def training_of(raw, budget: dict) -> tuple[int, int | None, int]:
    """``(epochs, patience, seed)`` the trial ``raw`` trained with: a rung's epochs without early
    stopping; a trial a budget cut short (key ``…-m<cap>``), its cap; else the study's budget; the
    seed of its run (:func:`~studylib.fidelity.training_seed`)."""
    from .fidelity import training_seed

    rung = raw.get("rung")
    run = raw.get("run")
    seed = training_seed(int(raw["seed"]), 0 if run is None or missing_value(run) else int(run))
    if rung is not None and not missing_value(rung):
        return int(rung), None, seed
    cap = re.search(r"-m(\d+)$", str(raw.get("key", "")))
    return (int(cap.group(1)) if cap else int(budget["max_epochs"])), int(budget["patience"]), seed


def missing_value(v) -> bool:
    """A ledger cell with nothing in it (None, NaN, empty text)."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


def refit_epochs(raw, epochs: int) -> int:
    """How long a refit trains: the epochs the trial ``raw`` took to its best validation accuracy
    (its ``best_epoch``), or ``epochs`` where it has none (a trial that diverged at once)."""
    return recorded_best_epoch(raw) or epochs


def recorded_best_epoch(raw) -> int:
    """The trial ``raw``'s best epoch (1-based), 0 where it recorded none."""
    b = raw.get("best_epoch")
    return 0 if missing_value(b) or int(b) < 1 else int(b)
