"""One evaluated config as a frozen value: what the study loop, the executors and the ledger pass.

A :class:`Trial` is created by an objective (:mod:`studylib.objective`) when an evaluation ends,
and is never changed afterwards (``dataclasses.replace`` gives a new one). It round-trips to a
ledger row (:meth:`to_row` / :meth:`from_row`) and to a ``trials.csv`` row (:meth:`to_csv_row` /
:meth:`from_csv_row`). Its cost is the epochs it trained and its wall time; a later
multi-fidelity strategy may continue a trial to more epochs as a new Trial with a larger cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Result columns of the ledger and of ``trials.csv``, in this order (the paper's Appendix fields first).
RESULT_FIELDS = ("best_acc", "best_loss", "best_train_acc", "best_train_loss", "epochs", "best_epoch",
                 "test_acc", "test_loss", "params", "wall_time", "status", "error")
#: The result fields kept in :attr:`Trial.metrics` (the others are attributes of their own).
METRIC_FIELDS = ("best_acc", "best_loss", "best_train_acc", "best_train_loss", "best_epoch", "test_acc",
                 "test_loss", "params")
FLOAT_METRICS = ("best_acc", "best_loss", "best_train_acc", "best_train_loss", "test_acc", "test_loss")
STATUSES = ("ok", "diverged", "failed")


def _nan(v):
    return float("nan") if v is None else v


@dataclass(frozen=True)
class Trial:
    """A finished evaluation of ``config`` under ``key`` (config + data + budget + seed + code).

    ``metrics``: what the objective measured (a CNN: ``best_acc``, ``test_acc``, ...; a table:
    ``value``); ``curve``: per-epoch logs (``val_accuracy`` -> list); ``epochs`` and ``wall_time``
    make its :attr:`cost`. ``host``/``pid`` name the process that ran it.
    """

    key: str
    config: dict
    status: str = "ok"                       # ok | diverged | failed
    metrics: dict = field(default_factory=dict)
    curve: dict = field(default_factory=dict)
    epochs: int = 0
    wall_time: float = 0.0
    error: str = ""
    seed: int = 0
    dataset: str = ""
    budget: dict = field(default_factory=dict)
    host: str | None = None
    pid: int | None = None

    @classmethod
    def failed(cls, key: str, config: dict, error: str, wall_time: float = 0.0, **where: Any) -> "Trial":
        return cls(key, config, status="failed", error=error, wall_time=wall_time, **where)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def cost(self) -> dict:
        """What the evaluation spent: epochs trained and seconds."""
        return {"epochs": self.epochs, "wall_time": self.wall_time}

    def get(self, name: str, default=None):
        """A result field by name: an attribute (``status``, ``epochs``...) or a metric."""
        if name in ("status", "epochs", "wall_time", "error"):
            return getattr(self, name)
        return self.metrics.get(name, default)

    # -- ledger rows ---------------------------------------------------------------------------
    def to_row(self) -> dict:
        """The ledger's columns (SQL NULL for non-finite numbers; ``extra``: metrics outside
        :data:`RESULT_FIELDS`)."""
        row = {"key": self.key, "config": self.config, "seed": int(self.seed), "dataset": self.dataset,
               "budget": self.budget, "history": self.curve, "host": self.host, "pid": self.pid}
        for f in RESULT_FIELDS:
            v = self.get(f)
            row[f] = None if isinstance(v, float) and not math.isfinite(v) else v
        row["extra"] = {k: v for k, v in self.metrics.items() if k not in METRIC_FIELDS}
        return row

    @classmethod
    def from_row(cls, row: dict) -> "Trial":
        metrics = {f: _nan(row.get(f)) if f in FLOAT_METRICS else row.get(f) for f in METRIC_FIELDS}
        metrics.update(row.get("extra") or {})
        return cls(key=row["key"], config=dict(row["config"]), status=row.get("status") or "ok", metrics=metrics,
                   curve=row.get("history") or {}, epochs=int(row.get("epochs") or 0),
                   wall_time=float(row.get("wall_time") or 0.0), error=row.get("error") or "",
                   seed=int(row.get("seed") or 0), dataset=row.get("dataset") or "", budget=row.get("budget") or {},
                   host=row.get("host"), pid=row.get("pid"))

    # -- trials.csv rows -----------------------------------------------------------------------
    def to_csv_row(self) -> dict:
        """One flat row: hyperparameters by name, result fields, other metrics, then where it ran."""
        rec = dict(self.config)
        rec.update({f: self.get(f) for f in RESULT_FIELDS})
        rec.update({k: v for k, v in self.metrics.items() if k not in METRIC_FIELDS})
        rec.update({"seed": self.seed, "dataset": self.dataset, "host": self.host, "pid": self.pid, "key": self.key})
        return rec

    @classmethod
    def from_csv_row(cls, row: dict, config_names, budget: dict | None = None) -> "Trial":
        """Back from :meth:`to_csv_row` (``config_names``: the space's hyperparameter names; the
        curve and budget are not in the CSV)."""
        names = set(config_names)
        skip = names | set(RESULT_FIELDS) | {"seed", "dataset", "host", "pid", "key", "trial", "study_id"}
        metrics = {f: row.get(f) for f in METRIC_FIELDS}
        metrics.update({k: v for k, v in row.items() if k not in skip})
        err = row.get("error")
        return cls(key=row["key"], config={k: row[k] for k in config_names}, status=row.get("status") or "ok",
                   metrics=metrics, epochs=int(row.get("epochs") or 0), wall_time=float(row.get("wall_time") or 0),
                   error=err if isinstance(err, str) else "", seed=int(row.get("seed") or 0),
                   dataset=row.get("dataset") or "", budget=budget or {}, host=row.get("host"), pid=row.get("pid"))
