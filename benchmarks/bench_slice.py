"""Regenerate the regression slice that ``tests/test_bench_slice.py`` re-runs and matches exactly.

    .venv/bin/python benchmarks/bench_slice.py

A small deterministic part of the benchmark (2 development tables x 7 strategies x 3 seeds x 50
evaluations), one row per run with its regret after every evaluation, written to
``benchmarks/results/bench_slice.csv``. Regenerate it ONLY for an intended change of protocol or
strategy, and say so in the commit message.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from studylib import bench, provenance

TABLES = ("nb201-cifar10", "hpolib-naval")
STRATEGIES = ("random", "ga", "memetic", "tpe", "optuna-ga", "regevo", "local")
SEEDS, BUDGET = 3, 50
PATH = Path(__file__).resolve().parent / "results" / "bench_slice.csv"


def run_slice(tables=TABLES, strategies=STRATEGIES, seeds=SEEDS, budget=BUDGET, workers=1) -> pd.DataFrame:
    """The slice as a wide frame: table, strategy, seed, then regret after evaluation 1..budget."""
    with tempfile.TemporaryDirectory() as tmp:
        bench.run_bench(list(tables), list(strategies), seeds, budget, out_dir=tmp, workers=workers,
                        progress=False, plot=False)
        long = pd.read_csv(Path(tmp) / "bench.csv")
    wide = long.pivot_table(index=["table", "strategy", "seed"], columns="evaluation", values="regret",
                            sort=False).reset_index()
    wide.columns = [c if isinstance(c, str) else f"r{c}" for c in wide.columns]
    return wide


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    stamp = provenance.code_stamp(STRATEGIES, tables=list(TABLES), seeds=SEEDS, budget=BUDGET)  # before the CSV
    provenance.write_result(run_slice(), PATH, stamp)
    print(f"wrote {PATH} and the code that made it beside it", file=sys.stderr)
