"""Trials per hour of a 20-trial smoke study with each executor on this machine.

    .venv/bin/python benchmarks/executor_throughput.py [--datasets digits,fashion_mnist] [--repeats 1]
        [--variants serial,inline,dask2] [--trials 20]

Each run is the user's command, ``studylib search round1 --strategy random --profile smoke
--trials 20 --seed 0`` into a fresh folder, timed end to end (start-up, data loading, cluster
start included). Variants: ``serial`` (``--executor serial``), ``inline`` (``--executor inline``),
``dask2`` (``--workers 2``: two single-thread Dask workers, each training in its own process),
``dask2-1t`` (the same with ``TF_NUM_INTRAOP_THREADS=1``, one TensorFlow thread per trial).
With ``--repeats N`` the variants run in turn N times and the median is reported. Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = {
    "serial": (["--executor", "serial"], {}),
    "inline": (["--executor", "inline"], {}),
    "dask2": (["--workers", "2"], {}),
    "dask2-1t": (["--workers", "2"], {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}),
}


def run_study(dataset: str, variant: str, trials: int) -> float:
    args, env = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "studylib.cli", "search", "round1", "--strategy", "random",
               "--profile", "smoke", "--dataset", dataset, "--trials", str(trials), "--seed", "0",
               "--no-progress", "--out", out, *args]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env})
        wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip().splitlines()[-1:]}")
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="digits,fashion_mnist")
    ap.add_argument("--variants", default="serial,inline,dask2")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    variants = args.variants.split(",")
    rows = []
    for dataset in args.datasets.split(","):
        walls = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v in variants:
                walls[v].append(run_study(dataset, v, args.trials))
                print(f"{dataset} {v}: {walls[v][-1]:.1f} s", file=sys.stderr, flush=True)
        for v in variants:
            med = statistics.median(walls[v])
            rows.append(f"| {dataset} | {v} | {med:.0f} | {args.trials * 3600 / med:,.0f} | "
                        f"{', '.join(f'{w:.0f}' for w in walls[v])} |")
    print(f"{args.trials}-trial round-1 smoke study (random search), {os.cpu_count()} cores, end to end")
    print("| dataset | executor | wall s (median) | trials/hour | runs (s) |")
    print("| --- | --- | ---: | ---: | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
