"""The explorer's numbers: filtering trials, which hyperparameters matter, best-so-far curves.

Pure functions of DataFrames (no widgets, no figures); deterministic (no randomness).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import numbers
from ..report.labels import value_label as label  # noqa: F401  (the filters' and tables' labels)

KINDS = ("strip", "box", "scatter", "best-so-far", "curves")
#: What the y axis, the sort, the importance view and "best" can use; True where higher is better.
#: Validation and training only: the test set is never used to choose (it is a reported column).
METRICS = {"best_acc": True, "best_train_acc": True, "best_loss": False, "best_train_loss": False}
#: Reported, never chosen on.
TEST_METRICS = ("test_acc", "test_loss")
METRIC_LABELS = {"best_acc": "best_acc (best validation accuracy)"}
#: Columns the explorer adds: which ledger, study, strategy and space ("round") a trial belongs to.
ADDED = ("ledger", "study", "strategy", "round")
#: Result columns the x axis may show besides hyperparameters (numeric: scatter them).
X_EXTRAS = ("status", "strategy", "ledger", "seed", "epochs", "params", "wall_time")
TABLE_RESULTS = ("best_acc", "test_acc", "best_loss", "best_train_acc", "epochs", "params", "status")
#: Study-level columns a best-so-far curve can be grouped (coloured) by.
STUDY_LEVEL = ("study", "strategy", "ledger", "seed", "dataset")


def plain(v):
    """numpy scalars -> Python values (widgets and JSON want those)."""
    return v.item() if isinstance(v, np.generic) else v


def sorted_values(series: pd.Series) -> list:
    vals = [plain(v) for v in series.dropna().unique()]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def finite(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``frame`` with a finite ``metric`` (none when the column is missing)."""
    if metric not in frame or not len(frame):
        return frame.iloc[0:0]
    return frame[np.isfinite(pd.to_numeric(frame[metric], errors="coerce"))]


def filter_columns(trials: pd.DataFrame, hyperparameters: Iterable[str]) -> list[str]:
    """Columns worth a filter: hyperparameters, then strategy/seed/dataset/ledger, with 2+ values."""
    cols = [c for c in hyperparameters if c in trials and trials[c].nunique() > 1]
    cols += [c for c in ("strategy", "seed", "dataset", "ledger") if c in trials
             and trials[c].replace("", np.nan).nunique() > 1]
    return cols


def mask(trials: pd.DataFrame, statuses: Iterable[str], picked: Mapping[str, Iterable]) -> pd.Series:
    """Trials whose status is in ``statuses`` and whose value of each column in ``picked`` is
    one of the picked values."""
    if not len(trials):
        return pd.Series([], dtype=bool)
    m = trials["status"].isin(list(statuses))
    for c, values in picked.items():
        m &= trials[c].isin(list(values))
    return m


def importance(frame: pd.DataFrame, columns: Iterable[str], metric: str = "best_acc") -> pd.DataFrame:
    """How much ``metric`` varies with each hyperparameter, over the trials of ``frame``.

    ``eta_sq`` (η²): the share of the metric's variance explained by the hyperparameter's values
    alone (between-group sum of squares / total); ``spread``: best group mean minus worst group
    mean. Both ignore the other hyperparameters (with few random trials they mix effects); only
    columns with at least two values among trials with a finite metric are listed.
    """
    higher = METRICS.get(metric, True)
    ok = finite(frame, metric)
    rows = []
    for c in columns:
        if c not in ok or ok[c].nunique(dropna=True) < 2:
            continue
        sub = ok[ok[c].notna()]
        y = sub[metric].astype(float)
        total = float(((y - y.mean()) ** 2).sum())
        g = y.groupby(sub[c].map(label)).agg(["mean", "count"])
        between = float((g["count"] * (g["mean"] - y.mean()) ** 2).sum())
        best = g["mean"].idxmax() if higher else g["mean"].idxmin()
        rows.append({"hyperparameter": c, "levels": len(g), "trials": int(g["count"].sum()),
                     "eta_sq": between / total if total > 0 else 0.0,
                     "spread": float(g["mean"].max() - g["mean"].min()),
                     "best_value": best, "best_mean": float(g["mean"][best])})
    out = pd.DataFrame(rows, columns=["hyperparameter", "levels", "trials", "eta_sq", "spread", "best_value",
                                      "best_mean"])
    return out.sort_values(["eta_sq", "spread"], ascending=False, kind="stable").reset_index(drop=True)


def importance_by_round(frame: pd.DataFrame, columns: Iterable[str], metric: str = "best_acc") -> pd.DataFrame:
    """:func:`importance` within each round (search space, the ``round`` column) and fidelity,
    never pooled: the rounds' spaces differ (``border_crop`` exists only in round 2) and so do
    their accuracies, and a multi-fidelity study's rung trials (a ``rung`` value) are scored after
    that many epochs (a 1-epoch accuracy says little of a 9-epoch one). A ``round`` column leads:
    the round, with `` @ N epochs`` for the rung trials of rung N; groups in order of appearance,
    each sorted by η²."""
    rounds = frame["round"].fillna("").astype(str) if "round" in frame else pd.Series("", index=frame.index)
    if "rung" in frame:
        rungs = pd.to_numeric(frame["rung"], errors="coerce")
        at = rungs.map(lambda r: f" @ {r:g} epoch{'s' if r != 1 else ''}" if np.isfinite(r) else "").astype(str)
        rounds = (rounds + at).str.strip()  # (astype: no trials shown leaves an empty numeric series)
    parts = [importance(frame[rounds == r], columns, metric).assign(round=r) for r in dict.fromkeys(rounds)]
    parts = [p for p in parts if len(p)]
    cols = ["round", "hyperparameter", "levels", "trials", "eta_sq", "spread", "best_value", "best_mean"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def best_so_far(runs: pd.DataFrame, shown: pd.DataFrame, metric: str, group: str) -> pd.DataFrame:
    """Best-so-far ``metric`` of each study, over its trials in proposal order (``number``),
    keeping only trials in ``shown`` (matched by ledger and key). Adds ``_best`` (the running
    best; NaN before the first finite value) and ``_group`` (the study's ``group`` value, as text)."""
    keys = set(zip(shown["ledger"], shown["key"])) if len(shown) else set()
    if len(runs):
        runs = runs[[(lg, k) in keys for lg, k in zip(runs["ledger"], runs["key"])]]
    if not len(runs):
        return pd.DataFrame(columns=["number", "_best", "_group"])
    out = numbers.best_so_far(runs, metric, by=("study",), order="number", maximize=METRICS.get(metric, True))
    return out.rename(columns={"best_so_far": "_best"}).assign(_group=lambda f: f[group].map(label))


def learning_curves(curves: pd.DataFrame, shown: pd.DataFrame, metric: str = "best_acc") -> pd.DataFrame:
    """The per-epoch curves (``key, epoch, val_accuracy, accuracy``, as
    :func:`~studylib.explorer.ledgers.read_curves`) of the ``shown`` trials (matched by ledger and
    key), with each trial's ``study`` and ``_best`` (True for the trial with the best ``metric``
    among those shown that have a curve, of a multi-fidelity study's rung trials among those at the
    highest rung, as ``studylib search`` names its best; ties: the first)."""
    cols = ["ledger", "key", "study", "epoch", "val_accuracy", "accuracy", "_best"]
    if not len(curves) or not len(shown):
        return pd.DataFrame(columns=cols)
    trials = shown[["ledger", "key", "study", metric]].assign(
        _fidelity=numbers.fidelity_of(shown)).drop_duplicates(["ledger", "key"])
    out = curves.merge(trials, on=["ledger", "key"], how="inner")
    if not len(out):
        return pd.DataFrame(columns=cols)
    per_trial = out.drop_duplicates(["ledger", "key"]).set_index(["ledger", "key"])
    values = pd.to_numeric(per_trial[metric], errors="coerce").where(per_trial["_fidelity"] == per_trial["_fidelity"].max())
    best = None
    if values.notna().any():
        best = values.idxmax() if METRICS.get(metric, True) else values.idxmin()
    out["_best"] = [(lg, k) == best for lg, k in zip(out["ledger"], out["key"])]
    return out.sort_values(["ledger", "key", "epoch"], kind="stable").reset_index(drop=True)[cols]
