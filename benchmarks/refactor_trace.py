"""A fingerprint of the multi-fidelity loop's behaviour, for refactors that must change no number.

    nice .venv/bin/python benchmarks/refactor_trace.py /tmp/before.json   # on the old code
    nice .venv/bin/python benchmarks/refactor_trace.py /tmp/after.json    # on the new code
    cmp /tmp/before.json /tmp/after.json

112 runs of ``curve_bench.run_curve`` (about 20 s) on a synthetic learning-curve table of 144
configs x 2 seeds x 27 epochs: memetic-sh under 8 option sets, dehb, asha, tpe-hb, memetic, random
and ga, on 1 and 4 simulated workers, seeds 0 and 1, budgets of 150 and 700 epochs. Each run is
hashed over its trial keys, epochs, new epochs, regret, cost, charged and free counts and simulated
times. The committed ``bench.csv`` covers the single-fidelity strategies without a budget and the
learning-curve tables are not committed; this covers the rest (not hours budgets, nor resuming
from a SQLite ledger). Randomness: the table's curves (generator seed 0) and each run's seed.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studylib.curve_bench import curve_table_from_frame, run_curve  # noqa: E402

HALVING_OPTIONS = [{}, {"promote": "async"}, {"promote": "async", "fill": True}, {"reconsider": False}, {"quorum": 1},
                   {"compare": "score"}, {"promote_model": True, "best_first": True}, {"min_epochs": 3}]
OTHERS = ("dehb", "asha", "tpe-hb", "memetic", "random", "ga")


def synthetic_curves(rng: np.random.Generator, epochs: int = 27) -> pd.DataFrame:
    """Saturating curves with noise: one row per config, seed and epoch."""
    rows = []
    for a, b, c, d in itertools.product(range(6), "xyz", range(4), "pq"):
        ceiling, speed = rng.uniform(0.5, 0.95), rng.uniform(1, 8)
        for seed in range(2):
            for e in range(1, epochs + 1):
                rows.append({"a": a, "b": b, "c": c, "d": d, "seed": seed, "epoch": e,
                             "val_accuracy": ceiling * (1 - np.exp(-e / speed)) + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


def trace() -> dict[str, str]:
    table = curve_table_from_frame(synthetic_curves(np.random.default_rng(0)), "g", "val_accuracy", True)
    runs = [("memetic-sh", o, w) for o in HALVING_OPTIONS for w in (1, 4)]
    runs += [(s, {}, w) for s in OTHERS for w in (1, 4)]
    out = {}
    for strategy, options, workers in runs:
        for seed in (0, 1):
            for budget in (150, 700):
                r = run_curve(table, strategy, seed, budget, options=options or None, workers=workers)
                trials = [(t.key, t.epochs, t.metrics.get("new_epochs")) for t in r["trials"]]
                blob = json.dumps([trials, r["regret"].tolist(), r["cost"].tolist(), r["charged"], r["free"],
                                   r.get("time", np.zeros(0)).tolist()])
                name = f"{strategy} {json.dumps(options, sort_keys=True)} w{workers} s{seed} b{budget}"
                out[name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", metavar="OUT.json", type=Path, help="where the fingerprint goes")
    out = parser.parse_args().out
    result = trace()
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"{len(result)} runs -> {out}")
