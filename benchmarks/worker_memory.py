"""Resident memory of a long-lived trial process over many consecutive trials, with and without recycling.

    .venv/bin/python benchmarks/worker_memory.py [--trials 100] [--recycle-after 25] [--dataset digits]

Runs ``--trials`` smoke-profile trials (random round-1 configs, 2 epochs, 1000/300/300 images) one
after another in one :class:`studylib.executors.TrialProcess` (what the ``serial`` executor and each
Dask worker use), first never recycled, then recycled every ``--recycle-after`` trials, and prints
the child's RSS after each tenth trial, its growth from trial 1 to the last, the peak, and the wall
time (recycling costs one process start: Keras import + data load).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from studylib.data import load_dataset
from studylib.executors import TrialProcess
from studylib.objective import DataSource, TrainingObjective
from studylib.space_file import load_space
from studylib.training import Budget


def run(label: str, source: DataSource, configs: list[dict], budget: Budget, recycle_after: int | None) -> dict:
    proc = TrialProcess(TrainingObjective(None, budget, 0, source=source), recycle_after=recycle_after,
                        max_memory_mb=None)
    rss, failed = [], 0
    start = time.perf_counter()
    try:
        for i, config in enumerate(configs):
            trial = proc.run(f"bench-{i}", config)
            failed += trial.status == "failed"
            rss.append(proc.last_rss_mb)
            if (i + 1) % 10 == 0 or i == 0:
                print(f"  {label:<22} trial {i + 1:>4}: RSS {rss[-1]:7.1f} MiB  (process starts so far: "
                      f"{proc.started})", flush=True)
    finally:
        proc.close()
    return {"label": label, "first": rss[0], "last": rss[-1], "peak": max(rss), "growth": rss[-1] - rss[0],
            "per_trial": (rss[-1] - rss[0]) / max(len(rss) - 1, 1), "starts": proc.started, "failed": failed,
            "wall": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--recycle-after", type=int, default=25)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    sizes = {"train_size": 1000, "val_size": 300, "test_size": 300}  # the smoke profile
    data = load_dataset(args.dataset, **sizes)
    source = DataSource(args.dataset, sizes, data.fingerprint)
    space = load_space("round1")
    rng = np.random.default_rng(args.seed)
    configs = [space.sample(rng) for _ in range(args.trials)]
    budget = Budget(max_epochs=2, patience=4)
    print(f"{args.trials} smoke trials (round1 random configs, {args.dataset}, 2 epochs) in one trial process")
    rows = [run("no recycling", source, configs, budget, None),
            run(f"recycle every {args.recycle_after}", source, configs, budget, args.recycle_after)]
    print()
    print(f"{'':<22} {'RSS trial 1':>12} {'RSS last':>9} {'peak':>8} {'growth':>8} {'MiB/trial':>9} "
          f"{'starts':>6} {'failed':>6} {'wall s':>7}")
    for r in rows:
        print(f"{r['label']:<22} {r['first']:12.1f} {r['last']:9.1f} {r['peak']:8.1f} {r['growth']:8.1f} "
              f"{r['per_trial']:9.2f} {r['starts']:6d} {r['failed']:6d} {r['wall']:7.1f}")


if __name__ == "__main__":
    main()
