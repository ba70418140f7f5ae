"""Several trials in flight: each strategy on the learning-curve tables with ``--workers`` simulated
workers (issue 17, item 2: does a worker idle while promotions are pending?).

    nice .venv/bin/python benchmarks/parallel_workers.py --tables-dir reports/curve-tables

Every strategy runs with ``curve_compare``'s budget (20 full trainings' epochs) on
:class:`~studylib.executors.simulated.SimulatedWorkers`: a trial takes its epochs on a clock shared
by the workers, and each strategy keeps at least that many proposals in flight (memetic-sh its
population, 20; ``memetic-sh-async-w`` and ``memetic-sh-fill``, ``promote="async"`` without and
with ``fill=True``, exactly that many). Time is in epochs of one worker; ``T`` = budget / workers, the time a run that
never leaves a worker idle would take. Per table and strategy, medians over the seeds of:
``utilization`` (epochs worked / (workers x the time of the last result)), ``finish`` (that time
/ ``T``), the regret at ``T/9``, ``T/3`` and ``T`` (that of the last result back by then; NaN
before the first), ``regret_end`` (once the budget is spent, whenever that is), seeds better/worse
than ``memetic-sh`` (the default) at ``T`` and at the end, and ``time_ratio``: the time until regret <= the final regret of the
independent random search of ``curve_compare`` (seed ``s + REFERENCE_OFFSET``, one worker: random
search's trials do not depend on the workers), / ``T``, with the seeds reaching it. Writes
``results/parallel_workers.csv`` with a ``.provenance.json``. Randomness: the run seeds only.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import curve_compare as cc  # noqa: E402
from studylib.numbers import on_grid  # noqa: E402

#: label -> (strategy, options); the window (proposals in flight) is at least the workers
#: (memetic-sh's: its population, 20), but exactly the workers for the labels in ``WINDOW_IS_WORKERS``
#: (``fill`` is meant for a window of the workers' number)
STRATEGIES = {"memetic-sh": ("memetic-sh", None), "memetic-sh-async": ("memetic-sh", {"promote": "async"}),
              "memetic-sh-async-w": ("memetic-sh", {"promote": "async"}),
              "memetic-sh-fill": ("memetic-sh", {"promote": "async", "fill": True}),
              "asha": ("asha", None), "tpe-hb": ("tpe-hb", None), "dehb": ("dehb", None), "random": ("random", None),
              "memetic-sh-fill-20": ("memetic-sh", {"promote": "async", "fill": True})}
WINDOW_IS_WORKERS = ("memetic-sh-async-w", "memetic-sh-fill")
#: run unless --strategies is given (``memetic-sh-fill-20``, ``fill`` with memetic-sh's own window of
#: 20, only on request: the docs' pilot of why ``fill`` is not the default)
DEFAULT_LABELS = [k for k in STRATEGIES if k != "memetic-sh-fill-20"]
PAIRED_WITH = "memetic-sh"  # better/worse columns: each row's regret against this label's, seed by seed
SEEDS = range(100)


def regret_at(run: dict, t: float) -> float:
    """The regret of the last result back by time ``t`` (NaN before the first)."""
    return float(on_grid(run["time"], run["regret"], [t])[0])


def time_to(run: dict, target: float) -> float:
    """When the run's regret first is <= ``target`` (inf: never)."""
    hit = np.nonzero(run["regret"] <= target + 1e-12)[0]
    return float(run["time"][hit[0]]) if len(hit) else math.inf


def _one(i):
    from studylib.curve_bench import run_curve
    from studylib.parallel import shared

    table, label, strategy, options, seed, workers = shared()[i]
    window = workers if label in WINDOW_IS_WORKERS else None
    run = run_curve(table, strategy, seed, cc.budget_of(table), options, workers=workers, window=window)
    return table.name, label, seed, {k: run[k] for k in ("time", "regret", "utilization")}


def summarize(runs: list, targets: dict, budget: dict, workers: int) -> pd.DataFrame:
    import warnings

    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # no result yet at T/9 in any seed
    frame = pd.DataFrame(runs, columns=["table", "label", "seed", "run"])
    rows = []
    for (table, label), group in frame.groupby(["table", "label"], sort=False):
        T = budget[table] / workers
        r = group.run.tolist()
        ratio = np.array([time_to(x, targets[table, s]) / T for x, s in zip(r, group.seed)])
        at_T, end = np.array([regret_at(x, T) for x in r]), np.array([x["regret"][-1] for x in r])
        base = frame[(frame.table == table) & (frame.label == PAIRED_WITH)].set_index("seed").run
        if base.empty:  # (not among --strategies)
            base = group.set_index("seed").run
        base_T = np.array([regret_at(base[s], T) for s in group.seed])
        base_end = np.array([base[s]["regret"][-1] for s in group.seed])
        rows.append({"table": table, "strategy": label, "workers": workers, "seeds": len(r),
                     "utilization": float(np.median([x["utilization"] for x in r])),
                     "finish": float(np.median([x["time"][-1] / T for x in r])),
                     **{f"regret_at_T/{k}": float(np.nanmedian([regret_at(x, T / k) for x in r])) for k in (9, 3)},
                     "regret_at_T": float(np.nanmedian(at_T)), "regret_end": float(np.median(end)),
                     "time_ratio": float(np.median(ratio)), "seeds_reaching": int(np.isfinite(ratio).sum()),
                     f"better_worse_at_T_than_{PAIRED_WITH}": f"{int((at_T < base_T).sum())}/{int((at_T > base_T).sum())}",
                     f"better_worse_end_than_{PAIRED_WITH}": f"{int((end < base_end).sum())}/{int((end > base_end).sum())}"})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables-dir", default=str(ROOT / "reports" / "curve-tables"))
    p.add_argument("--tables", nargs="+", default=["curves-a", "curves-b", "curves-c"])
    p.add_argument("--strategies", nargs="+", default=DEFAULT_LABELS, choices=list(STRATEGIES))
    p.add_argument("--workers", type=int, default=4, help="simulated workers [4]")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0..N-1 [100]")
    p.add_argument("--jobs", type=int, default=2, help="processes running the runs [2]")
    args = p.parse_args(argv)
    from studylib import provenance
    from studylib.parallel import run_jobs

    tables_dir, seeds = Path(args.tables_dir), range(args.seeds)
    tables = [cc.load(t, tables_dir) for t in args.tables]
    stamp = provenance.code_stamp({k: STRATEGIES[k] for k in args.strategies}, protocol=provenance.CURVE_PROTOCOL,
                                  tables=args.tables,
                                  seeds=list(seeds), table_hashes=cc.table_hashes(tables_dir), workers=args.workers,
                                  window_is_workers=list(WINDOW_IS_WORKERS))
    targets = {(t.name, s): cc.reference_regret(t, s) for t in tables for s in seeds}
    jobs = [(t, label, *STRATEGIES[label], s, args.workers) for t in tables for label in args.strategies for s in seeds]
    runs = run_jobs(_one, range(len(jobs)), args.jobs, shared=jobs)
    out = summarize(runs, targets, {t.name: cc.budget_of(t) for t in tables}, args.workers)
    cc.write_result(out, "parallel_workers.csv", stamp, float_format="%.4g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
