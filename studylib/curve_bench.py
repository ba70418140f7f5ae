"""Learning-curve tables: ``studylib bench --table FILE.csv --fidelity epoch``, budgets in epochs.

The file has one row per (config, seed, epoch): hyperparameter columns and an optional ``seed``
column, then ``epoch`` (1..E, every epoch of every (config, seed) present), then per-epoch
values, one of them the ``--metric`` (the others are ignored); ``studylib export-table`` writes
such files from a study folder. Protocol:

* a config's seed is drawn once, at its first evaluation, from ``tables.noise_rng(table, run
  seed)``; every later rung of that config reads the same seed's curve;
* a multi-fidelity strategy (memetic-sh, tpe-hb, asha, dehb) asks for ``Proposal(config, e)``: the
  value is the curve's value at epoch ``e``; continuing a config from rung ``e`` to ``e'`` costs
  ``e' - e`` epochs. A full-fidelity strategy (random, memetic, ...) is charged E epochs and reads
  epoch E. The budget counts epochs (:class:`~studylib.fidelity.Spend`, the same study loop as
  ``studylib search``): a run never trains more than ``--budget-epochs``; the last plain trial may
  be capped to the epochs left (it then reads that epoch);
* after each charged trial the *incumbent* is the best observed config at the highest fidelity
  (epochs) reached so far (replicated configs: :func:`studylib.numbers.incumbent_regrets`);
  regret = best mean at the final epoch - the incumbent's mean at the final epoch (sign-adjusted
  for minimised metrics, so regret >= 0). Means within one part in a million (``TIE``) of a
  run's smallest are one value (:func:`studylib.tables.merge_ties`): curves are logged in
  float32 (Keras), so the same accuracy averaged over two seeds can differ in the 8th digit (on
  ``curves-a`` the two best configs by 3e-8), and a run that found the one a reference did not
  would never reach its regret.

``bench.csv`` gets one row per charged trial with ``cost`` (cumulative epochs); the summary
(written by ``studylib.bench``) reads a run's regret after ``c`` epochs as that of its last trial
finished within ``c`` epochs; before its first trial is paid for it has none (NaN, so a median
over seeds there is NaN too: :mod:`studylib.numbers`). No randomness beyond the seed draws.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import StudyError
from .fidelity import Rungs, run_fields, seed_list, split
from .numbers import incumbent_regrets, on_grid
from .objective import TableObjective
from .tables import Table
from .trial import Trial

EPOCH = "epoch"
TIE = 1e-6  # relative: final means this close are one value (float32 logs)


@dataclass(frozen=True)
class CurveTable:
    """Learning curves: ``values[config, seed, epoch - 1]``; ``final`` is the Table of epoch E."""

    name: str
    values: np.ndarray
    final: Table

    @property
    def space(self):
        return self.final.space

    @property
    def epochs(self) -> int:
        return int(self.values.shape[2])


def curve_table_from_frame(frame, name: str, metric: str, maximize: bool, source: str = "") -> CurveTable:
    """A CurveTable from rows of (hyperparameters..., [seed], epoch, metric); every (config, seed)
    must have every epoch 1..E once (else a one-line StudyError)."""
    import pandas as pd

    from .table_files import SEED, _metric_values, check_filled, table_from_frame

    where = source or name
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if EPOCH not in frame.columns:
        raise StudyError(f"{where}: --fidelity epoch needs an 'epoch' column")
    epoch = pd.to_numeric(frame[EPOCH], errors="coerce")
    if epoch.isna().any() or (epoch != epoch.round()).any() or (epoch < 1).any():
        raise StudyError(f"{where}: column 'epoch' must hold whole numbers >= 1")
    if (epoch > len(frame)).any():  # a curve holds every epoch up to its last, a row each
        raise StudyError(f"{where}: column 'epoch' holds {epoch.max():g}, more than the file's {len(frame)} rows: "
                         "every curve needs a row for each epoch from 1 to its last")
    frame = frame.assign(**{EPOCH: epoch.astype(int)})
    values = list(frame.columns[list(frame.columns).index(EPOCH) + 1:])
    if metric in values:  # the other per-epoch values are not hyperparameters
        frame = frame.drop(columns=[c for c in values if c != metric])
    elif metric in frame.columns:
        raise StudyError(f"{where}: the --metric column {metric!r} must come after 'epoch' (columns left of "
                         "'epoch' are hyperparameters and seed, those right of it per-epoch values)")
    if metric not in frame.columns or metric in (SEED, EPOCH):
        return table_from_frame(frame, name, metric, maximize, source, reserved=(SEED, EPOCH))  # its error
    _metric_values(frame[metric], metric, where)  # in the file's row order: an error names the file's row
    group = [c for c in frame.columns if c not in (metric, EPOCH)]
    check_filled(frame, group, where)  # in the file's row order, before the curves are grouped
    top = int(frame[EPOCH].max())
    stats = frame.groupby(group, sort=False, dropna=False)[EPOCH].agg(["count", "nunique"])
    bad = stats[(stats["count"] != top) | (stats["nunique"] != top)]
    if len(bad):
        first = bad.index[0] if isinstance(bad.index[0], tuple) else (bad.index[0],)
        label = ", ".join(f"{c}={getattr(v, 'item', lambda: v)()!r}" for c, v in zip(group, first))
        have = sorted(frame.loc[(frame[group] == pd.Series(first, index=group)).all(axis=1), EPOCH])
        missing = sorted(set(range(1, top + 1)) - set(have))
        what = f"missing epoch {missing[0]}" if missing else "an epoch repeated"
        raise StudyError(f"{where}: {len(bad)} curve(s) lack epochs 1..{top}, e.g. {label}: {what}")
    gid = frame.groupby(group, sort=False, dropna=False).ngroup().to_numpy()
    frame = frame.iloc[np.lexsort((frame[EPOCH].to_numpy(), gid))]  # each epoch: the same row order
    rule = "every column left of 'epoch' but 'seed' is one"
    tables = [table_from_frame(frame[frame[EPOCH] == e].drop(columns=EPOCH), name, metric, maximize, source, rule=rule)
              for e in range(1, top + 1)]
    final = dataclasses.replace(tables[-1], tie=TIE)  # logged metrics: float32 (Keras)
    return CurveTable(name, np.stack([t.values for t in tables], axis=2), final)


class CurveObjective(TableObjective):
    """The :class:`~studylib.objective.Objective` of a CurveTable (see the module doc): a
    :class:`TableObjective` (same keys and noise draws) that reads a config's value at a rung."""

    def __init__(self, table: CurveTable, seed: int = 0):
        super().__init__(table, seed)
        self.max_epochs = table.epochs

    def evaluate(self, key: str, config: dict, on_epoch=None) -> Trial:
        config, fid = split(config)
        idx = self.table.space.index_of(config)
        run = int((fid or {}).get("run", 0))
        column = self.column(idx, run, self.table.final.counts[idx], keep=True)  # a run's rungs: one seed
        metrics = {"index": idx} | run_fields(fid)
        if fid is None or not {"epochs", "max_epochs"} & set(fid):  # a full run (a replicate's too)
            epochs, done = self.max_epochs, 0
        elif "epochs" in fid:
            epochs, done = int(fid["epochs"]), int(fid.get("from") or 0)
            metrics.update(rung=epochs, resumed_from=done, rung_of=fid.get("rung_of", ""))
        else:  # the last plain trial, capped to the epochs left
            epochs, done = int(fid["max_epochs"]), 0
        metrics.update(value=float(self.table.values[idx, column, epochs - 1]), new_epochs=epochs - done)
        return Trial(key, config, metrics=metrics, epochs=epochs, seed=self.seed, dataset=self.name)

    def score(self, trial: Trial) -> float:
        return self.table.final.sign * trial.metrics["value"]


class TableRungs(Rungs):
    """Rungs without checkpoints: a rung continues from the config's highest lower rung."""

    def __init__(self, max_epochs: int):
        super().__init__(None, max_epochs)

    def start(self, base: str, epochs: int):
        lower = [e for e, t in self.known.get(base, {}).items() if e < epochs and t.ok]
        return (max(lower), None, None) if lower else (0, None, None)


def run_curve(table: CurveTable, strategy: str, seed: int, budget: int, options: dict | None = None,
              workers: int = 1, window: int | None = None) -> dict:
    """One run of ``strategy`` on ``table`` with ``budget`` epochs. Returns ``regret`` and ``cost``
    (cumulative epochs) after each charged trial, the ``trials`` themselves, ``charged``, ``free``
    and ``seconds``. ``workers`` > 1: on that many simulated workers
    (:class:`~studylib.executors.simulated.SimulatedWorkers`), each strategy with at least that many
    proposals in flight (``window``: exactly that many); the trials are then in the order their
    results came back, ``time`` is when (the simulated clock, in epochs) and ``utilization`` the
    workers' busy share."""
    from .bench import repeats_allowed, run_in_memory
    from .executors import InlineExecutor, SimulatedWorkers
    from .fidelity import Spend, charged_epochs
    from .strategies import make_strategy, strategy_kwargs
    from .strategies.base import default_in_flight

    strat = make_strategy(strategy, table.space, seed=seed, **strategy_kwargs(strategy, table.epochs, options))
    t0 = time.perf_counter()
    executor = InlineExecutor(progress=False) if workers == 1 else SimulatedWorkers(workers)
    objective = CurveObjective(table, seed)
    if window is None:
        window = 1 if workers == 1 else max(workers, default_in_flight(strat))
    counts, trials = run_in_memory(strat, objective, executor, f"{table.name}-{strategy}-s{seed}",
                                   # every charged trial costs an epoch: the budget or the space ends the
                                   # run, not the count (replicate runs count: table.space.size would end it early)
                                   trials=table.space.size + int(budget), space_size=table.space.size, window=window,
                                   max_repeats=repeats_allowed(budget), spend=Spend(epochs=int(budget)),
                                   rungs=TableRungs(table.epochs))
    out = {}
    if workers > 1:
        trials = sorted(trials, key=lambda t: executor.finished_at[t.key])  # stable: ties keep the ledger's order
        out = {"time": np.asarray([executor.finished_at[t.key] for t in trials], dtype=float),
               "utilization": executor.utilization()}
    return {"table": table.name, "strategy": strategy, "seed": int(seed),
            "regret": np.asarray(curve_regrets(table, trials, objective.score), dtype=float),
            "cost": np.cumsum([charged_epochs(t) for t in trials]).astype(int),
            "trials": trials, "charged": counts.evaluated, "free": counts.repeats,
            "seconds": time.perf_counter() - t0, **out}


def curve_regrets(table: CurveTable, trials: list[Trial], score) -> list[float]:
    """Regret after each trial: the incumbent is the best observed config at the highest
    fidelity (epochs) reached so far; its regret comes from the final epoch's means."""
    return incumbent_regrets(((t.epochs, score(t), t.metrics["index"]) for t in trials), table.final.regret)


def on_epoch_grid(df, budget: int):
    """``bench.csv`` rows (one per trial, with ``cost``) -> one row per epoch spent 1..budget whose
    ``evaluation`` is the epochs and ``regret`` that of the last trial finished within them; NaN
    before the run's first trial is paid for (:func:`studylib.numbers.on_grid`: no look-ahead)."""
    import pandas as pd

    parts = []
    for (table, strategy, seed), run in df.groupby(["table", "strategy", "seed"], sort=False):
        regret = on_grid(run["cost"].to_numpy(), run["regret"].to_numpy(), np.arange(1, budget + 1))
        parts.append(pd.DataFrame({"table": table, "strategy": strategy, "seed": seed,
                                   "evaluation": np.arange(1, budget + 1), "regret": regret}))
    return pd.concat(parts, ignore_index=True)


def load_curve_file(path, metric: str | None, direction: str | None) -> CurveTable:
    """The CurveTable of a ``--table`` file (``--fidelity epoch``)."""
    from .table_files import maximizes, read_frame

    maximize = maximizes(path, metric, direction)
    return curve_table_from_frame(read_frame(path), Path(path).stem, metric, maximize, str(path))


def _job(args):
    from .parallel import shared

    i, strategy, seed, budget, options = args
    return run_curve(shared()[i], strategy, seed, budget, options)


def run_curves(tables: list[CurveTable], strategies: list[str], seeds, budget: int, workers: int = 2,
               options: dict | None = None, progress: bool = False):
    """Every (table, strategy, seed) with ``budget`` epochs (``seeds``: a count K, seeds 0..K-1, or
    a list). Returns ``bench.csv``'s frame (one row per charged trial: ``evaluation``, ``cost``,
    ``regret``) and the same runs on the epoch grid (:func:`on_epoch_grid`, what the summary and
    figure read)."""
    import pandas as pd

    from .parallel import run_jobs
    from .progress import RunCounter

    jobs = [(i, s, seed, int(budget), (options or {}).get(s)) for i in range(len(tables))
            for s in strategies for seed in seed_list(seeds)]
    results = run_jobs(_job, jobs, workers, shared=list(tables), done=RunCounter(progress))
    rows = [(r["table"], r["strategy"], r["seed"], e, int(c), float(v))
            for r in results for e, (c, v) in enumerate(zip(r["cost"], r["regret"]), 1)]
    df = pd.DataFrame(rows, columns=["table", "strategy", "seed", "evaluation", "cost", "regret"])
    return df, on_epoch_grid(df, int(budget))
