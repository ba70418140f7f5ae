"""How much of the regret at 200 is the search, and how much the noise of the incumbent's one draw.

    nice .venv/bin/python benchmarks/incumbent_noise.py --workers 2      # resumable; ~16 min on 2 idle cores

The benchmark protocol (``studylib.bench``) names as incumbent the config with the best *observed*
value (one seed's draw; once a strategy replicated a config, the mean of each config's draws less
one standard error: ``studylib.numbers.incumbent_regrets``) and charges it the regret of its
*mean* over the table's seeds. On a noisy table a config that is truly worse can win
that draw. For every table and strategy of ``bench.csv`` (same runs: seeds 0-29, 200 evaluations)
this script records per run

* ``incumbent``: the regret of the protocol's incumbent at 200 (the number ``bench.csv`` reports);
* ``best_evaluated``: the lowest regret among all configs the run evaluated (what the search found);
* ``drawn_above``: how many evaluated configs drew a better value than that best-evaluated config
  (a replicated config by the mean of its runs);
* ``replicates``: the evaluations that were runs 1, 2, ... of a config already evaluated.

and writes medians per table and strategy to ``benchmarks/results/incumbent_noise.csv`` with the
paired Wilcoxon p of memetic vs each strategy on ``best_evaluated`` (``p_best_vs_memetic``).
Per-run rows stay in ``reports/incumbent-chunks/s<seeds>-b<budget>/`` (git-ignored), one file per (table, strategy);
a re-run skips the finished ones made by code of the same fingerprint (``chunks.chunk_is_current``).
Randomness: none here; each run is seeded by (table, strategy, seed) inside ``studylib.bench``
exactly as in ``bench_all.py``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from chunks import ALL_STRATEGIES, RESULTS, chunk_is_current, chunk_path, code_stamp, save_chunk
from studylib import bench, provenance
from studylib.parallel import run_jobs
from studylib.paths import REPORTS_DIR
from studylib.strategies import Replicate, config_of, make_strategy
from studylib.tables import TABLES, load_table

WORK = REPORTS_DIR / "incumbent-chunks"


def recording(name: str):
    """A factory for strategy ``name`` whose instances keep every ``(config, score)`` they are
    told; ``tell`` is wrapped on the instance, so the loop schedules the strategy as usual."""
    made: list = []

    def make(space, seed=0, **options):
        s = make_strategy(name, space, seed=seed, **options)
        s.told, tell = [], s.tell

        def told(config, score):
            s.told.append((config, score))
            tell(config, score)

        s.tell = told
        made.append(s)
        return s

    return make, made


def one_run(job) -> dict:
    """One ``bench.run_one`` (the protocol of ``bench.csv``) and what its evaluated configs were."""
    table_name, strategy, seed, budget = job
    table = load_table(table_name)
    make, made = recording(strategy)
    r = bench.run_one(table, make, seed, budget)
    first: dict[tuple[int, int], float] = {}  # (config, run) -> value; a repeat is told its first value again
    for item, score in made[0].told:
        run = item.run if isinstance(item, Replicate) else 0
        first.setdefault((table.space.index_of(config_of(item)), run), float(score))
    runs: dict[int, list[float]] = {}
    for (index, _), value in first.items():
        runs.setdefault(index, []).append(value)
    mean = {i: sum(v) / len(v) for i, v in runs.items()}  # each config by the mean of its runs
    best = min(mean, key=table.regret)
    return {"table": table_name, "strategy": strategy, "seed": seed, "incumbent": float(r["regret"][-1]),
            "best_evaluated": table.regret(best), "configs": len(mean), "replicates": len(first) - len(mean),
            "drawn_above": sum(v > mean[best] for v in mean.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--out", default=str(RESULTS / "incumbent_noise.csv"))
    args = ap.parse_args()
    work = WORK / f"s{args.seeds}-b{args.budget}"  # chunks of another run length are not these
    stamp = provenance.code_stamp(list(ALL_STRATEGIES), tables=list(TABLES), budget=args.budget,
                                  seeds=f"0-{args.seeds - 1}")
    frames = []
    for table in TABLES:
        for strategy in ALL_STRATEGIES:
            if chunk_is_current(work, table, strategy):
                frames.append(pd.read_csv(chunk_path(work, table, strategy)))
                continue
            rows = run_jobs(one_run, [(table, strategy, s, args.budget) for s in range(args.seeds)], args.workers)
            df = pd.DataFrame(rows)
            save_chunk(work, table, strategy, df, code_stamp(strategy), index=False)
            frames.append(df)
            print(f"{table:<28} {strategy:<10} incumbent {df.incumbent.median():.4g}  "
                  f"best evaluated {df.best_evaluated.median():.4g}", file=sys.stderr, flush=True)
    long = pd.concat(frames, ignore_index=True)
    out = []
    for (table, strategy), g in long.groupby(["table", "strategy"], sort=False):
        m = long[(long.table == table) & (long.strategy == bench.PROPOSAL)].set_index("seed").best_evaluated
        x = g.set_index("seed").best_evaluated.loc[m.index]
        p = np.nan if strategy == bench.PROPOSAL else (float(wilcoxon(x, m).pvalue) if np.any(x != m) else 1.0)
        out.append({"table": table, "strategy": strategy, "runs": len(g),
                    "median_incumbent": g.incumbent.median(), "median_best_evaluated": g.best_evaluated.median(),
                    "mean_incumbent": g.incumbent.mean(), "mean_best_evaluated": g.best_evaluated.mean(),
                    "median_drawn_above": g.drawn_above.median(), "median_replicates": g.replicates.median(),
                    "incumbent_is_best_share": float((g.incumbent <= g.best_evaluated).mean()),
                    "p_best_vs_memetic": p})
    df = pd.DataFrame(out)
    provenance.write_result(df, args.out, stamp, float_format="%.6g")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
