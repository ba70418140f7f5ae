"""What the memetic GA's model costs per proposal: time spent in the strategy's ``ask`` and
``tell`` per charged evaluation, over a whole 200-evaluation run and over its last 50 (where the
model is fitted on ~200 results), with and without the model and its self-check (TPE for scale).

    .venv/bin/python benchmarks/surrogate_cost.py [--tables nb201-cifar10,hpolib-naval] [--seeds 5]

Prints a table (milliseconds per proposal); a measurement, not a test: the figures depend on the
machine and its load. Randomness only inside ``studylib.bench`` (seeds 0..K-1).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from studylib import bench
from studylib.strategies import make_strategy

STRATEGIES = ("memetic", "memetic-no-check", "memetic-no-model", "tpe")


def timed(name: str, clock: list):
    """A factory for ``bench.run_one``: the strategy with ``ask``/``tell`` timed into ``clock``
    (one entry per ask: its seconds plus those of the tells that follow it)."""
    def factory(space, seed=0, **options):
        s = make_strategy(name, space, seed=seed, **options)
        ask, tell = s.ask, s.tell

        def timed_ask(n=1):
            t0 = time.perf_counter()
            out = ask(n)
            clock.append(time.perf_counter() - t0)
            return out

        def timed_tell(config, score):
            t0 = time.perf_counter()
            tell(config, score)
            if clock:
                clock[-1] += time.perf_counter() - t0

        s.ask, s.tell = timed_ask, timed_tell
        return s
    return factory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="nb201-cifar10,hpolib-naval,hpobench-segment")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=200)
    args = ap.parse_args()
    import sklearn.ensemble  # noqa: F401  (imported once here, not inside the first timed run)
    print(f"| table | strategy | ms/proposal (all {args.budget}) | ms/proposal (last 50) |")
    print("| --- | --- | --- | --- |")
    for tname in bench.resolve_tables(args.tables):
        table = bench.load_table(tname)
        for name in STRATEGIES:
            whole, last = [], []
            for seed in range(args.seeds):
                clock: list[float] = []
                run = bench.run_one(table, timed(name, clock), seed, args.budget)
                per = np.asarray(clock) * 1e3
                whole.append(per.sum() / max(run["charged"], 1))
                last.append(per[-50:].mean())
            print(f"| {tname} | {name} | {np.mean(whole):.2f} | {np.mean(last):.2f} |", flush=True)


if __name__ == "__main__":
    main()
