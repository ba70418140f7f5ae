"""Resumable benchmark runs in (table, strategy) chunks, shared by ``bench_all.py`` and ``ablation.py``.

Each chunk is one ``studylib.bench.run_bench`` call (the same protocol and numbers as
``studylib bench``) for one table and one strategy over all seeds. Its per-seed regret curves are
kept as ``<work>/<table>__<strategy>.csv`` (one row per seed, one column per evaluation) under a
git-ignored folder (``reports/bench-chunks/s<seeds>-b<budget>/``), so a re-run skips finished
chunks. Only summaries (``summarize``) and figures are meant for git. Randomness: none here; every
run is seeded by (table, strategy, seed) inside ``studylib.bench``.

Results are tied to the code that made them (:func:`code_stamp`): each chunk has a sidecar
``<table>__<strategy>.json`` with the git commit and a fingerprint of the strategy and protocol
code; a chunk whose fingerprint differs from today's code (or that has none) is re-run with a
message, never reused silently, and the summaries carry ``commit`` and ``fingerprint`` columns.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from studylib import bench
from studylib.paths import REPORTS_DIR
from studylib.provenance import fingerprint, git_commit

RESULTS = Path(__file__).resolve().parent / "results"
ALL_STRATEGIES = ("random", "ga", "memetic", "tpe", "optuna-ga", "regevo", "local")


def code_stamp(strategy: str, options: dict | None = None) -> dict:
    """``{"commit", "fingerprint"}`` of the code that makes a benchmark run of ``strategy`` with
    ``options``: :func:`studylib.provenance.fingerprint`. The commit says where to find the code;
    the fingerprint says whether a result still matches it."""
    return {"commit": git_commit(), "fingerprint": fingerprint(strategy, options)}


def stamp_path(work: Path, table: str, strategy: str) -> Path:
    return work / f"{table}__{strategy}.json"


def chunk_is_current(work: Path, table: str, strategy: str, stamp: dict | None = None, say: bool = True) -> bool:
    """The chunk exists and was made by code with today's fingerprint (``say``: tell when not)."""
    path, side = chunk_path(work, table, strategy), stamp_path(work, table, strategy)
    if not path.exists():
        return False
    stamp = stamp or code_stamp(strategy)
    made = json.loads(side.read_text()) if side.exists() else {}
    if made.get("fingerprint") != stamp["fingerprint"]:
        if say:
            print(f"  {path.name}: made by other code (fingerprint {made.get('fingerprint', 'none')}, "
                  f"commit {made.get('commit', 'unknown')}; today {stamp['fingerprint']}): not reused",
                  file=sys.stderr)
        return False
    return True


def work_dir(seeds: int, budget: int) -> Path:
    return REPORTS_DIR / "bench-chunks" / f"s{seeds}-b{budget}"


def chunk_path(work: Path, table: str, strategy: str) -> Path:
    return work / f"{table}__{strategy}.csv"


def save_chunk(work: Path, table: str, strategy: str, frame: pd.DataFrame, stamp: dict, *, index: bool = True,
               **extra) -> Path:
    """Write a chunk: the old one removed, its stamp (with ``extra``) written, then the CSV whole,
    so that a chunk file exists only once complete, beside the stamp of the code that made it."""
    from studylib.atomic import write_text, write_with

    work.mkdir(parents=True, exist_ok=True)
    path = chunk_path(work, table, strategy)
    path.unlink(missing_ok=True)  # else an interrupted save would leave the old chunk beside a new stamp
    write_text(stamp_path(work, table, strategy), json.dumps({**stamp, "table": table, "strategy": strategy,
                                                               **extra}) + "\n")
    return write_with(path, lambda tmp: frame.to_csv(tmp, index=index))


def run_chunk(table: str, strategy: str, seeds: int, budget: int, workers: int, work: Path) -> float:
    """Run one chunk unless a current one exists (:func:`chunk_is_current`); return the seconds it
    took (0 when skipped)."""
    stamp = code_stamp(strategy)
    if chunk_is_current(work, table, strategy, stamp, say=False):  # run_all has said it
        return 0.0
    bench.load_table(table)  # loaded once here; forked workers inherit the cache
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench.run_bench([table], [strategy], seeds, budget, out_dir=tmp, workers=workers,
                        progress=False, plot=False)
        long = pd.read_csv(Path(tmp) / "bench.csv")
    wide = long.pivot(index="seed", columns="evaluation", values="regret").sort_index()
    seconds = time.perf_counter() - t0
    save_chunk(work, table, strategy, wide, stamp, seeds=seeds, budget=budget, seconds=round(seconds, 1))
    with open(work / "timings.csv", "a") as fh:
        fh.write(f"{table},{strategy},{seconds:.1f}\n")
    return seconds


def run_all(tables, strategies, seeds: int, budget: int, workers: int) -> Path:
    """Every missing chunk, strategy by strategy (so cheap strategies finish first if ordered so)."""
    work = work_dir(seeds, budget)
    stamps = {s: code_stamp(s) for s in strategies}
    todo = [(t, s) for s in strategies for t in tables if not chunk_is_current(work, t, s, stamps[s])]
    print(f"{len(todo)} of {len(tables) * len(strategies)} chunks to run in {work}", file=sys.stderr)
    t0 = time.perf_counter()
    for k, (t, s) in enumerate(todo, 1):
        sec = run_chunk(t, s, seeds, budget, workers, work)
        print(f"  [{k}/{len(todo)}] {t} {s}: {sec:.0f}s (total {time.perf_counter() - t0:.0f}s)",
              file=sys.stderr, flush=True)
    return work


def load_long(work: Path, tables, strategies) -> pd.DataFrame:
    """The chunks of ``tables`` x ``strategies`` as one long frame (table, strategy, seed,
    evaluation, regret, commit, fingerprint). Every one must exist and be made by today's code:
    otherwise it stops with one line (a summary never leaves a chunk out)."""
    frames, unusable = [], []
    for s in strategies:
        stamp = code_stamp(s)
        for t in tables:
            path = chunk_path(work, t, s)
            if not chunk_is_current(work, t, s, stamp):
                unusable.append(f"{t}__{s}")
                continue
            made = json.loads(stamp_path(work, t, s).read_text())
            wide = pd.read_csv(path, index_col="seed")
            long = wide.stack().rename("regret").reset_index()
            long.columns = ["seed", "evaluation", "regret"]
            long["evaluation"] = long.evaluation.astype(int)
            long.insert(0, "strategy", s)
            long.insert(0, "table", t)
            long["commit"], long["fingerprint"] = made["commit"], made["fingerprint"]
            frames.append(long)
    if unusable:
        raise SystemExit(f"error: {len(unusable)} chunk(s) in {work} missing or made by other code "
                         f"({', '.join(unusable[:3])}{', ...' if len(unusable) > 3 else ''}); "
                         "run without --summarize-only to (re)compute them")
    return pd.concat(frames, ignore_index=True)


def summarize(long: pd.DataFrame, budget: int, wilcoxon: bool = True) -> pd.DataFrame:
    """``studylib.bench.summarize`` (medians, Wilcoxon p vs memetic, evaluations to reach random's
    median at the budget) plus the interquartile range at each checkpoint."""
    base = bench.summarize(long.drop(columns=["commit", "fingerprint"], errors="ignore"), budget)
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
        if "fingerprint" in long:
            made = long[(long.table == row.table) & (long.strategy == row.strategy)].iloc[0]
            r["commit"], r["fingerprint"] = made.commit, made.fingerprint
        out.append(r)
    return pd.DataFrame(out)


def write_summary(summary: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(path, index=False, float_format="%.6g")
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
    """``--strategies``: a subset of this script's ``default`` strategies (None: all of them),
    duplicates dropped; none, or one it does not run, is an error."""
    from studylib.names import split_names

    if spec is None:
        return list(default)
    names = split_names(spec, "--strategies")
    if not names:
        raise SystemExit(f"error: --strategies: none given (choose from {', '.join(default)})")
    unknown = [s for s in names if s not in default]
    if unknown:
        raise SystemExit(f"error: unknown strategy {unknown[0]!r} (choose from {', '.join(default)})")
    return list(dict.fromkeys(names))


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
