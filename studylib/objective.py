"""What a study evaluates: a CNN trained on a dataset, or a tabular benchmark's noisy lookup.

Both objectives answer the same :class:`Objective` protocol, so the study loop
(:mod:`studylib.loop`) and every executor (:mod:`studylib.executors`) run either one:

* ``key(config, code)``: the trial's ledger key; ``evaluate(key, config, on_epoch)``: a
  :class:`~studylib.trial.Trial` (never raises: an error is a ``failed`` trial);
  ``score(trial)``: the number a strategy maximises; ``trial_fields()``: seed, dataset and
  budget that every trial records;
* ``for_worker()``: a picklable copy to send to a worker process, and ``prepare()``: what the
  worker calls once (e.g. loads the dataset) before its first trial.

Randomness: :class:`TrainingObjective` seeds Keras with the study seed for every trial
(:func:`studylib.training.evaluate`), :func:`studylib.fidelity.training_seed` for run ``n`` of a
replicated config;
:class:`TableObjective` draws one of a config's recorded seeds from ``tables.noise_rng(table,
seed)``, one draw per evaluation, in evaluation order (a replicate: one its earlier runs did not use).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, runtime_checkable

from .errors import StudyError
from .trial import METRIC_FIELDS, Trial

FAILED_SCORE = 0.0  # what a strategy is told for a failed CNN trial (accuracy is maximised)


@runtime_checkable
class Objective(Protocol):
    name: str        # what the ledger's ``dataset`` column says
    seed: int
    max_epochs: int  # epochs a trial may train (0: no training; sizes the epoch progress bar)

    def key(self, config: dict, code: str | None = None) -> str: ...

    def evaluate(self, key: str, config: dict, on_epoch: Callable | None = None) -> Trial: ...

    def score(self, trial: Trial) -> float: ...

    def trial_fields(self) -> dict: ...

    def for_worker(self) -> "Objective": ...

    def prepare(self) -> "Objective": ...


def trial_key(config: dict, dataset_hash: str, budget: dict, seed: int, code: str | None = None) -> str:
    """A CNN trial's key: config, data, budget, seed and (when given) the trainer's code fingerprint."""
    ident = {"config": config, "data": dataset_hash, "budget": budget, "seed": int(seed)}
    if code is not None:  # None: keys of ledgers written before fingerprints
        ident["code"] = code
    blob = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


#: The source files whose code decides a trial's result (hashed into the trainer fingerprint).
TRAINER_SOURCES = ("model.py", "training.py", "resumable.py")


def trainer_fingerprint() -> str:
    """What trains a CNN, in one line: studylib's version, a hash of :data:`TRAINER_SOURCES`,
    and the Keras version and backend. A change of any of them changes trial results."""
    from importlib import metadata
    from pathlib import Path

    from . import __version__
    from .backend import require_backend

    here = Path(__file__).resolve().parent
    src = hashlib.sha256(b"".join((here / f).read_bytes() for f in TRAINER_SOURCES)).hexdigest()[:10]
    try:
        keras = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras = "none"
    return f"studylib {__version__} src {src} keras {keras} {require_backend()}"


@dataclass(frozen=True)
class DataSource:
    """How a worker loads the study's dataset itself: ``load_dataset(name, **kwargs)``, which must
    give the same bytes (``fingerprint``) the study keyed its trials on."""

    name: str
    kwargs: dict = field(default_factory=dict)
    fingerprint: str = ""

    def load(self):
        from .data import load_dataset

        data = load_dataset(self.name, **self.kwargs)
        if self.fingerprint and data.fingerprint != self.fingerprint:
            raise StudyError(f"dataset {self.name} on {socket.gethostname()} differs from the study's "
                             f"(hash {data.fingerprint} != {self.fingerprint}); give every machine the same "
                             "data files (--data-dir)")
        return data


def _metrics(r) -> dict:
    """A :class:`~studylib.training.TrialResult`'s metrics as a Trial keeps them."""
    return {name: getattr(r, name) for name in METRIC_FIELDS}


def _trial(key: str, config: dict, r, metrics: dict, where: dict) -> Trial:
    """The Trial of a finished training ``r`` (a :class:`~studylib.training.TrialResult`)."""
    return Trial(key, config, status=r.status, metrics=metrics, curve=r.history, epochs=r.epochs,
                 wall_time=r.wall_time, error=r.error, **where)


@dataclass(frozen=True)
class TrainingObjective:
    """Train the CNN of a config on ``data`` within ``budget`` (seeded by ``seed``).

    ``source`` (optional) tells worker processes how to load the data themselves; without it the
    arrays travel with the objective."""

    data: Any                      # a studylib.data.Dataset (None in a worker's copy until prepare())
    budget: Any                    # a studylib.training.Budget
    seed: int = 0
    source: DataSource | None = None
    dataset: str = ""

    @property
    def name(self) -> str:
        return self.dataset or (self.source.name if self.source else getattr(self.data, "name", ""))

    @property
    def fingerprint(self) -> str:
        return self.source.fingerprint if self.source else self.data.fingerprint

    @property
    def max_epochs(self) -> int:
        return self.budget.max_epochs

    def key(self, config: dict, code: str | None = None) -> str:
        return trial_key(config, self.fingerprint, self.budget.to_dict(), self.seed, code)

    def for_worker(self) -> "TrainingObjective":
        return replace(self, data=None) if self.source is not None else self

    def prepare(self) -> "TrainingObjective":
        return replace(self, data=self.source.load()) if self.data is None else self

    def evaluate(self, key: str, config: dict, on_epoch: Callable | None = None) -> Trial:
        """Train ``config`` (``training.evaluate``) and return its Trial; an exception is a failed trial."""
        from .fidelity import failed_fields, run_fields, split, training_seed
        from .training import evaluate

        start = time.perf_counter()
        config, fid = split(config)
        fid = fid or {}
        run = int(fid.get("run", 0))
        seed = training_seed(self.seed, run)
        where = dict(self.trial_fields(), host=socket.gethostname(), pid=os.getpid())
        try:
            if "epochs" in fid:
                return self._rung(key, config, fid, where, on_epoch)
            budget = replace(self.budget, max_epochs=int(fid["max_epochs"])) if "max_epochs" in fid else self.budget
            r = evaluate(config, self.data, budget, seed, on_epoch=on_epoch)
        except Exception as e:  # an invalid combination, out of memory...
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            failed = Trial.failed(key, config, last, time.perf_counter() - start, **where)
            failed.metrics.update(failed_fields(fid))
            return failed
        return _trial(key, config, r, _metrics(r) | run_fields(fid), where)

    def _rung(self, key: str, config: dict, fid: dict, where: dict, on_epoch) -> Trial:
        """Train ``config`` to the rung's epochs, continuing its checkpoint (:mod:`studylib.resumable`)."""
        from .resumable import train_rung

        resume = fid.get("resume")
        if resume and not os.path.exists(resume):  # deleted meanwhile: train from scratch
            resume = None
        r = train_rung(config, self.data, self.seed, int(fid["epochs"]), resume=resume,
                       history=fid.get("history") if resume else None, save=fid.get("save"), on_epoch=on_epoch,
                       earlier=fid.get("earlier"))
        done = int(fid.get("from") or 0) if resume else 0
        metrics = dict(_metrics(r), rung=int(fid["epochs"]), new_epochs=r.epochs - done, resumed_from=done,
                       rung_of=fid.get("rung_of", ""))
        return _trial(key, config, r, metrics, where)

    def trial_fields(self) -> dict:
        """What every trial of this objective records besides its config and results."""
        return {"seed": self.seed, "dataset": self.name, "budget": self.budget.to_dict()}

    def score(self, trial: Trial) -> float:
        acc = trial.metrics.get("best_acc")
        if not trial.ok or acc is None or not math.isfinite(acc):
            return FAILED_SCORE
        return float(acc)


class TableObjective:
    """Look a config up in a tabular benchmark: the value of ONE of its recorded seeds, drawn from
    ``noise_rng(table, seed)`` at each evaluation (so evaluation order matters: the study loop
    evaluates in proposal order); a replicate (run ``n`` > 0) draws a seed the config's earlier
    runs did not use, as a new training seed would. Scores are ``sign * value`` (higher is better)."""

    def __init__(self, table, seed: int = 0):
        from .tables import noise_rng

        self.table = table
        self.seed = int(seed)
        self.name = table.name
        self.max_epochs = 0
        self.rng = noise_rng(table.name, seed)
        self.used: dict[int, dict[int, int]] = {}  # config index -> run -> the seed column it drew

    def key(self, config: dict, code: str | None = None) -> str:
        return f"{self.name}/{self.seed}/{self.table.space.index_of(config)}"

    def for_worker(self) -> "TableObjective":
        return self

    def prepare(self) -> "TableObjective":
        return self

    def evaluate(self, key: str, config: dict, on_epoch: Callable | None = None) -> Trial:
        from .fidelity import run_fields, split

        t = self.table
        config, fid = split(config)
        idx = t.space.index_of(config)
        fid = fid or {}
        run = int(fid.get("run", 0))
        column = self.column(idx, run, t.counts[idx])
        metrics = {"value": float(t.values[idx, column]), "index": idx} | run_fields(fid)
        return Trial(key, config, metrics=metrics, seed=self.seed, dataset=self.name)

    def column(self, idx: int, run: int, count: int, keep: bool = False) -> int:
        """The recorded seed that answers run ``run`` of config ``idx``, drawn at each evaluation
        (``keep``: once per run, then kept): run 0 any of its ``count`` seeds, a later run one
        the config's other runs did not use (any once all are used)."""
        used = self.used.setdefault(idx, {})
        if not (keep and run in used):
            left = [c for c in range(count) if c not in used.values()] if run else []
            used[run] = left[int(self.rng.integers(len(left)))] if left else int(self.rng.integers(count))
        return used[run]

    def trial_fields(self) -> dict:
        return {"seed": self.seed, "dataset": self.name}

    def score(self, trial: Trial) -> float:
        return self.table.sign * trial.metrics["value"]
