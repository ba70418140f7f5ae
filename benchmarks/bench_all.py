"""Every strategy on every table: 15 tables x 30 seeds x 200 evaluations (resumable).

    nice .venv/bin/python benchmarks/bench_all.py --workers 2          # runs missing chunks, then summarizes
    .venv/bin/python benchmarks/bench_all.py --summarize-only          # summary + figure from finished chunks

Writes ``benchmarks/results/bench.csv`` (per table and strategy: median and IQR of regret at
50/100/200, evaluations by which half the seeds reach random's 200-evaluation median, Wilcoxon p of
memetic vs each strategy at 200) and ``benchmarks/results/bench.png`` (median regret curves). Per-seed curves
stay in the git-ignored chunk folder (see ``chunks.py``); nothing random happens here.
"""
from __future__ import annotations

import math

from chunks import (ALL_STRATEGIES, RESULTS, command_line, load_long, run_all, save_figure, summarize,
                    write_summary)
from studylib import bench
from studylib.report.regret import EVALUATIONS


def plot(long, path, title: str) -> None:
    """One panel per table: median regret curve of each strategy (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.lines import Line2D

    tables = list(dict.fromkeys(long.table))
    strategies = list(dict.fromkeys(long.strategy))
    others = [s for s in strategies if s != bench.PROPOSAL]
    colors = {**dict(zip(others, sns.color_palette("tab10", len(others)))), bench.PROPOSAL: "black"}
    ncols = min(len(tables), 5)
    nrows = math.ceil(len(tables) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    med = long.groupby(["table", "strategy", "evaluation"]).regret.median()
    for ax, table in zip(axes.flat, tables):
        sub = med.loc[table]
        floor = max(float(sub[sub > 0].min()) if (sub > 0).any() else 1e-6, 1e-12) / 2
        for s in strategies:
            if s not in sub.index.get_level_values(0):
                continue
            y = sub.loc[s]
            ax.plot(y.index, y.clip(lower=floor), color=colors[s], lw=2.2 if s == bench.PROPOSAL else 1.3,
                    label=s, zorder=3 if s == bench.PROPOSAL else 2)
        ax.set_yscale("log")
        ax.set_title(table, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=8)
    for ax in axes[-1]:
        ax.set_xlabel(EVALUATIONS)
    for row in axes:
        row[0].set_ylabel("median regret")
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    handles = [Line2D([], [], color=colors[s], lw=2.2 if s == bench.PROPOSAL else 1.3) for s in strategies]
    fig.legend(handles, strategies, loc="upper center", bbox_to_anchor=(0.5, 0.965), ncol=len(strategies),
               fontsize=11, frameon=False)
    fig.suptitle(title, y=0.995, fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    save_figure(fig, path)


def main() -> None:
    args, tables, strategies, work = command_line(__doc__, ALL_STRATEGIES)
    if not args.summarize_only:
        # cheap strategies first, Optuna's last: partial results are usable early
        order = sorted(strategies, key=lambda s: s in ("tpe", "optuna-ga"))
        run_all(tables, order, args.seeds, args.budget, args.workers)
    long = load_long(work, tables, strategies)
    write_summary(summarize(long, args.budget), RESULTS / "bench.csv")
    plot(long, RESULTS / "bench.png",
         f"median regret over {args.seeds} seeds (log scale; values of 0 drawn at half the smallest positive)")


if __name__ == "__main__":
    main()
