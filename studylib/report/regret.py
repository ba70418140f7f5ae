"""The regret-vs-evaluations figure of tabular benchmarks, for ``studylib bench`` and the
comparison report (Fig. 11) alike.

``curves`` is a DataFrame with one row per (table, strategy, seed, evaluation) and its ``regret``
(best mean in the table minus the mean of the best config observed so far), as ``bench.csv``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..progress import count
from .styles import color, label, line_style

TITLE = "Regret vs Evaluations on Tabular Benchmarks"


EVALUATIONS = "evaluations (distinct trials: configs and replicates)"


def regret_figure(curves: pd.DataFrame, strategies: Sequence[str] | None = None, *, title: str = TITLE,
                  context: str | None = None, xlabel: str = EVALUATIONS):
    """One panel per table: per strategy, the median regret over seeds (line) and its
    interquartile range (band) against charged evaluations (``xlabel``: what ``evaluation``
    counts, e.g. epochs), log scale (zero regret drawn at half the smallest positive value drawn, so
    no median above zero lands on it; a dotted line there is labelled "0"). ``strategies`` orders
    the legend (default: as in ``curves``). The legend sits right of the panels, outside the data
    and below the title. Returns the figure (closed in pyplot)."""
    from .figures import _finish

    import matplotlib.pyplot as plt

    tables = list(dict.fromkeys(curves["table"]))
    present = set(curves["strategy"])
    order = [s for s in (strategies or dict.fromkeys(curves["strategy"])) if s in present]
    ncols = max(1, min(len(tables), 3))
    nrows = max(1, math.ceil(len(tables) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols + 2.2, 3.9 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    for ax, table in zip(axes.flat, tables):
        sub = curves[curves["table"] == table]
        bands = {}
        for i, s in enumerate(order):
            m = sub[sub["strategy"] == s].pivot(index="seed", columns="evaluation", values="regret")
            if len(m):
                bands[s] = (i, m.columns.to_numpy(), *(np.quantile(m.to_numpy(), q, axis=0) for q in (0.25, 0.5, 0.75)))
        # below every positive value drawn, quantiles included (the median of 0 and p is p / 2)
        drawn = np.concatenate([sub["regret"].to_numpy(dtype=float)] + [np.concatenate(b[2:]) for b in bands.values()])
        positive = drawn[drawn > 0]
        floor = float(positive.min()) / 2 if len(positive) else 1e-6
        for s, (i, x, q25, q50, q75) in bands.items():
            c = color(s, i)
            ax.plot(x, np.maximum(q50, floor), color=c, label=label(s), **line_style(s))
            ax.fill_between(x, np.maximum(q25, floor), np.maximum(q75, floor), color=c, alpha=0.15, lw=0)
        ax.set_yscale("log")
        if any((np.concatenate(b[2:]) <= 0).any() for b in bands.values()):  # no 0 on a log axis: say where
            ax.axhline(floor, color="0.55", lw=0.7, ls=":", zorder=0)
            ax.annotate("0", (0, floor), xycoords=("axes fraction", "data"), xytext=(-3, 0),
                        textcoords="offset points", ha="right", va="center", fontsize="small", color="0.35")
        ax.set_title(table)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("regret (median, IQR)")
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:  # beside the first row's last panel: below the title, whatever the figure's width
        axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small",
                           frameon=False)
    if context is None:
        unit = "evaluations" if xlabel == EVALUATIONS else xlabel.split(" (")[0]
        context = (f"{count(curves['seed'].nunique(), 'seed')} x {int(curves['evaluation'].max())} {unit} per "
                   "strategy and table")
    return _finish(fig, title, context, len(curves))


def plot_regret(curves: pd.DataFrame, path: str | Path, strategies: Sequence[str] | None = None, *,
                title: str = TITLE, context: str | None = None, xlabel: str = EVALUATIONS) -> Path:
    """:func:`regret_figure` saved as a PNG at ``path`` (folders created)."""
    fig = regret_figure(curves, strategies, title=title, context=context, xlabel=xlabel)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
