"""How many configs of each learning-curve table memetic-sh starts within the comparison's budget
(issue 20, item 4: a model that chooses which configs to start has room only where the budget
cannot start them all).

    nice .venv/bin/python benchmarks/configs_started.py --tables-dir reports/curve-tables

Runs memetic-sh at its defaults (and without the inner GA's model) on curves-a, its 9-epoch cut,
curves-b and curves-c with ``curve_compare``'s budget (20 full trainings), seeds 5000-5019 (seeds
no result elsewhere uses), and counts the distinct configs among each run's trials. Writes
``results/configs_started.csv`` (per table and strategy: the space's size, and the median, minimum
and maximum of the configs started) with a ``.provenance.json``. Randomness: the run seeds only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import curve_compare as cc  # noqa: E402

SEEDS = range(5000, 5020)
TABLES = ("curves-a", "curves-a@9", "curves-b", "curves-c")
RUNS = {"memetic-sh": None, "memetic-sh-no-model": {"inner": "memetic-no-model"}}


def started(tables, seeds=SEEDS) -> pd.DataFrame:
    from studylib.curve_bench import run_curve

    rows = []
    for table in tables:
        for label, options in RUNS.items():
            n = [len({t.metrics["index"] for t in run_curve(table, "memetic-sh", s, cc.budget_of(table), options)["trials"]})
                 for s in seeds]
            rows.append({"table": table.name, "strategy": label, "configs": table.space.size,
                         "budget_epochs": cc.budget_of(table), "seeds": len(n), "started_median": float(np.median(n)),
                         "started_min": int(min(n)), "started_max": int(max(n))})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables-dir", default=str(ROOT / "reports" / "curve-tables"))
    args = p.parse_args(argv)
    from studylib import provenance

    tables_dir = Path(args.tables_dir)
    stamp = provenance.code_stamp({k: ("memetic-sh", o) for k, o in RUNS.items()}, protocol=provenance.CURVE_PROTOCOL,
                                  tables=list(TABLES),
                                  seeds=list(SEEDS), table_hashes=cc.table_hashes(tables_dir))
    tables = [cc.load(t, tables_dir) for t in TABLES]
    out = started(tables)
    cc.write_result(out, "configs_started.csv", stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
