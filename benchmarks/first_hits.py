"""Where a run first reaches random search's final regret: the rung (epochs) of that trial, per
learning-curve table and strategy (issue 17: why dehb's ratio on curves-a is lower than memetic-sh's).

    nice .venv/bin/python benchmarks/first_hits.py --tables-dir reports/curve-tables

Runs memetic-sh and dehb (``--strategies``) at their defaults on curves-a with ``curve_compare``'s
budget and reporting seeds 0-99 against the same independent random search (seed ``s +
REFERENCE_OFFSET``), and counts, per rung, the seeds whose first trial with regret <= that search's
final regret was trained to that rung ("never": no such trial). Beside them: the median number of
first-rung trials before the run's first trial at a higher rung (while the incumbent is the best
first-rung score). Writes ``results/first_hits.csv`` with a ``.provenance.json``. Randomness: the
run seeds only.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import curve_compare as cc  # noqa: E402

STRATEGIES = ("memetic-sh", "dehb")


def first_hit(run: dict, target: float) -> int | None:
    """The rung (epochs) of ``run``'s first trial whose regret is at most ``target``; None if none."""
    return next((int(t.epochs) for t, r in zip(run["trials"], run["regret"]) if r <= target + 1e-12), None)


def first_rung_trials(run: dict) -> int:
    """The trials at the run's lowest rung before its first trial at a higher one."""
    low = min(t.epochs for t in run["trials"])
    return sum(1 for _ in itertools.takewhile(lambda t: t.epochs == low, run["trials"]))


def hits(table, strategies=STRATEGIES, seeds=range(100)) -> pd.DataFrame:
    from studylib.curve_bench import run_curve

    budget = cc.budget_of(table)
    targets = {s: cc.reference_regret(table, s) for s in seeds}
    hit, lead = {}, {}  # strategy -> per seed: the rung of the first hit (None: never); first-rung trials
    for strategy in strategies:
        runs = [run_curve(table, strategy, s, budget) for s in seeds]
        hit[strategy] = [first_hit(run, targets[s]) for run, s in zip(runs, seeds)]
        lead[strategy] = [first_rung_trials(run) for run in runs]
    rungs = sorted({r for h in hit.values() for r in h if r is not None})
    return pd.DataFrame([{"table": table.name, "strategy": strategy, "seeds": len(h),
                          "first_rung_trials_median": float(np.median(lead[strategy])),
                          **{f"hit_at_{r}": h.count(r) for r in rungs}, "never": h.count(None)}
                         for strategy, h in hit.items()])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables-dir", default=str(ROOT / "reports" / "curve-tables"))
    p.add_argument("--tables", nargs="+", default=["curves-a"])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    args = p.parse_args(argv)
    from studylib import provenance

    tables_dir = Path(args.tables_dir)
    stamp = provenance.code_stamp({s: (s, None) for s in args.strategies}, protocol=provenance.CURVE_PROTOCOL, tables=args.tables, seeds=list(range(100)),
                                  table_hashes=cc.table_hashes(tables_dir))
    out = pd.concat([hits(cc.load(t, tables_dir), args.strategies) for t in args.tables], ignore_index=True)
    counts = [c for c in out.columns if c.startswith("hit_at_") or c == "never"]  # tables of other rungs: 0
    out[counts] = out[counts].fillna(0).astype(int)
    cc.write_result(out, "first_hits.csv", stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
