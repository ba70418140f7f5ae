"""Resumable benchmark runs in (table, strategy) chunks, shared by ``bench_all.py`` and ``ablation.py``.

Each chunk is one ``studylib.bench.run_bench`` call (the same protocol and numbers as
``studylib bench``) for one table and one strategy over all seeds. Its per-seed regret curves are
kept as ``<work>/<table>__<strategy>.csv`` (one row per seed, one column per evaluation) under a
git-ignored folder (``reports/bench-chunks/s<seeds>-b<budget>/``), with the code that made it in
``<table>__<strategy>.provenance.json`` (``studylib.provenance``), so a re-run skips finished
chunks of the same strategy and protocol code and runs a chunk of other code again (one line). Only summaries (``summarize``) and figures are meant for git. Randomness: none here; every
run is seeded by (table, strategy, seed) inside ``studylib.bench``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from studylib import bench, provenance
from studylib.paths import REPORTS_DIR

RESULTS = Path(__file__).resolve().parent / "results"
ALL_STRATEGIES = ("random", "ga", "memetic", "tpe", "optuna-ga", "regevo", "local")


def work_dir(seeds: int, budget: int) -> Path:
    return REPORTS_DIR / "bench-chunks" / f"s{seeds}-b{budget}"


def chunk_path(work: Path, table: str, strategy: str) -> Path:
    return work / f"{table}__{strategy}.csv"


def run_chunk(table: str, strategy: str, seeds: int, budget: int, workers: int, work: Path) -> float:
    """Run one chunk unless its file exists; return the seconds it took (0 when skipped)."""
    path = chunk_path(work, table, strategy)
    stamp = provenance.code_stamp(table=table, strategy=strategy, seeds=seeds, budget=budget)
    if path.exists():
        why = provenance.stale_reason(path, stamp)
        if why is None:
            return 0.0
        print(f"chunk {path.name}: {why}; running it again", file=sys.stderr)
    bench.load_table(table)  # loaded once here; forked workers inherit the cache
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench.run_bench([table], [strategy], seeds, budget, out_dir=tmp, workers=workers,
                        progress=False, plot=False)
        long = pd.read_csv(Path(tmp) / "bench.csv")
    wide = long.pivot(index="seed", columns="evaluation", values="regret").sort_index()
    seconds = time.perf_counter() - t0
    work.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp")
    wide.to_csv(tmp_path)
    provenance.write_stamp(path, stamp)  # the code that made it: a chunk of other code is not reused
    tmp_path.rename(path)  # a chunk file exists only once complete
    with open(work / "timings.csv", "a") as fh:
        fh.write(f"{table},{strategy},{seconds:.1f}\n")
    return seconds


def run_all(tables, strategies, seeds: int, budget: int, workers: int) -> Path:
    """Every missing chunk, strategy by strategy (so cheap strategies finish first if ordered so)."""
    work = work_dir(seeds, budget)
    now = provenance.code_stamp()
    todo = [(t, s) for s in strategies for t in tables
            if not chunk_path(work, t, s).exists() or provenance.stale_reason(chunk_path(work, t, s), now)]
    print(f"{len(todo)} of {len(tables) * len(strategies)} chunks to run in {work}", file=sys.stderr)
    t0 = time.perf_counter()
    for k, (t, s) in enumerate(todo, 1):
        sec = run_chunk(t, s, seeds, budget, workers, work)
        print(f"  [{k}/{len(todo)}] {t} {s}: {sec:.0f}s (total {time.perf_counter() - t0:.0f}s)",
              file=sys.stderr, flush=True)
    return work


def load_long(work: Path, tables, strategies) -> pd.DataFrame:
    """The finished chunks as one long frame (table, strategy, seed, evaluation, regret)."""
    frames, now = [], provenance.code_stamp()
    for t in tables:
        for s in strategies:
            path = chunk_path(work, t, s)
            if not path.exists():
                continue
            why = provenance.stale_reason(path, now)
            if why:
                raise SystemExit(f"error: chunk {path}: {why}; run without --summarize-only to recompute it")
            wide = pd.read_csv(path, index_col="seed")
            long = wide.stack().rename("regret").reset_index()
            long.columns = ["seed", "evaluation", "regret"]
            long["evaluation"] = long.evaluation.astype(int)
            long.insert(0, "strategy", s)
            long.insert(0, "table", t)
            frames.append(long)
    if not frames:
        raise SystemExit(f"no finished chunks in {work}")
    return pd.concat(frames, ignore_index=True)


def summarize(long: pd.DataFrame, budget: int, wilcoxon: bool = True) -> pd.DataFrame:
    """``studylib.bench.summarize`` (medians, Wilcoxon p vs memetic, evaluations to reach random's
    median at the budget) plus the interquartile range at each checkpoint."""
    base = bench.summarize(long, budget)
    checkpoints = [int(c.split("@")[1]) for c in base.columns if c.startswith("regret@")]
    at = long[long.evaluation.isin(checkpoints)]
    q = at.groupby(["table", "strategy", "evaluation"]).regret.quantile([0.25, 0.75]).unstack()
    out = []
    for _, row in base.iterrows():
        r = {"table": row.table, "strategy": row.strategy, "runs": int(row.runs)}
        for c in checkpoints:
            r[f"median@{c}"] = row[f"regret@{c}"]
            lo, hi = q.loc[(row.table, row.strategy, c)]
            r[f"iqr@{c}"] = hi - lo
        r["evals_to_random"] = row.evals_to_random
        if wilcoxon:
            r[f"p_vs_{bench.PROPOSAL}"] = row[f"p_vs_{bench.PROPOSAL}"]
        out.append(r)
    return pd.DataFrame(out)


def write_summary(summary: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(path, index=False, float_format="%.6g")
    provenance.write_stamp(path, provenance.code_stamp())  # load_long refuses chunks of other code
    print(f"wrote {path}", file=sys.stderr)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tables", default="all", help="comma-separated table names or 'all'")
    p.add_argument("--strategies", default=None, help="comma-separated subset of this script's strategies")
    p.add_argument("--seeds", type=int, default=30, help="seeds 0..K-1 (default 30)")
    p.add_argument("--budget", type=int, default=200, help="charged evaluations per run (default 200)")
    p.add_argument("--workers", type=int, default=2, help="processes per chunk (default 2)")
    p.add_argument("--summarize-only", action="store_true",
                   help="no new runs: summarize the finished chunks")
    return p


def selected(spec: str | None, default) -> list[str]:
    if spec is None:
        return list(default)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in names if s not in default]
    if unknown:
        raise SystemExit(f"error: unknown strategy {unknown[0]!r} (choose from {', '.join(default)})")
    return names


def median_curves(long: pd.DataFrame, table: str) -> dict[str, np.ndarray]:
    sub = long[long.table == table]
    return {s: g.pivot(index="seed", columns="evaluation", values="regret").median(axis=0).to_numpy()
            for s, g in sub.groupby("strategy", sort=False)}


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` as a PNG and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def command_line(doc: str, default_strategies):
    """Parse the script's flags: ``(args, tables, strategies, chunk folder)``."""
    args = parser(doc.splitlines()[0]).parse_args()
    return (args, bench.resolve_tables(args.tables), selected(args.strategies, default_strategies),
            work_dir(args.seeds, args.budget))
