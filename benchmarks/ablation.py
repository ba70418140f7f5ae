"""Ablation of the memetic GA: the default and each variant with one part switched off, on all
15 tables x 30 seeds x 200 evaluations (resumable; shares the chunk folder with ``bench_all.py``).

    nice .venv/bin/python benchmarks/ablation.py --workers 2
    .venv/bin/python benchmarks/ablation.py --summarize-only

Writes ``benchmarks/results/ablation.csv`` (per table and variant: median and IQR of regret at
50/100/200, evaluations by which half the seeds reach random's 200-evaluation median, Wilcoxon p of
the default vs the variant at 200) and ``benchmarks/results/ablation.png`` (median regret at 50
and 200 evaluations relative to random search's 200-evaluation median). Random search runs as the
reference and is left out of the CSV. Nothing random happens here.
"""
from __future__ import annotations

import numpy as np

from chunks import RESULTS, command_line, load_long, run_all, save_figure, summarize, write_summary
from studylib import bench
from studylib.strategies import ABLATIONS

VARIANTS = ("memetic",) + tuple(f"memetic-{v}" for v in ABLATIONS)


def plot(summary, path) -> None:
    """Heat maps (tables x variants) of median regret / random's median regret at 200."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    ref = summary[summary.strategy == bench.REFERENCE].set_index("table")["median@200"]
    sub = summary[summary.strategy != bench.REFERENCE]
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5), sharey=True)
    for ax, c in zip(axes, (50, 200)):
        piv = sub.pivot(index="table", columns="strategy", values=f"median@{c}")
        piv = piv.loc[list(dict.fromkeys(sub.table)), list(dict.fromkeys(sub.strategy))]
        rel = piv.div(ref.loc[piv.index].replace(0, np.nan), axis=0)
        rel.columns = [s.removeprefix("memetic-") if s != "memetic" else "memetic (default)" for s in rel.columns]
        sns.heatmap(rel, ax=ax, annot=True, fmt=".2f", cmap="rocket_r", vmin=0, vmax=1.5,
                    cbar=c == 200, cbar_kws={"label": "median regret / random's median @200"},
                    annot_kws={"fontsize": 8})
        ax.set_title(f"after {c} evaluations (lower is better)")
        ax.set_xlabel("variant (one part switched off)")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Memetic GA ablation: median regret over 30 seeds relative to random search at 200", x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    args, tables, variants, work = command_line(__doc__, VARIANTS)
    strategies = [bench.REFERENCE, *variants]
    if not args.summarize_only:
        run_all(tables, strategies, args.seeds, args.budget, args.workers)
    summary = summarize(load_long(work, tables, strategies), args.budget)
    write_summary(summary[summary.strategy != bench.REFERENCE].rename(columns={"strategy": "variant"}),
                  RESULTS / "ablation.csv")
    plot(summary, RESULTS / "ablation.png")


if __name__ == "__main__":
    main()
