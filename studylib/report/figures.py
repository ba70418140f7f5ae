"""The paper's figures (Figs. 3-9) drawn with seaborn from a ledger DataFrame.

Each function returns a :class:`matplotlib.figure.Figure` (closed in pyplot, so a notebook shows
it once, as the cell's value) whose suptitle says what is plotted, under the paper's figure number,
and whose caption line (below the axes) quotes the paper's own caption; axes are labelled with the
column they plot. Accuracy is ``best_acc``: the best *validation* accuracy of a trial, which is
what the paper's logs call ``best_acc`` and its figures call "test accuracy". Points are
drawn over the boxes: with a handful of trials the boxes alone would mislead; their sideways
jitter is a fixed draw (:func:`studylib.jitter.fixed_jitter`), so the same trials always give the
same figure. Categories follow the search space's order (values never sampled leave an empty slot)
when a space is known.
"""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..jitter import fixed_jitter
from .keep import kept
from .labels import value_label

Y = "best_acc"
Y_LABEL = "best_acc (best validation accuracy)"
#: The learning rates the paper found failing in round 1 (Fig. 3 caption, Appendix 1).
PAPER_FAILING_LR = (0.01, 0.03)
FAIL_COLOR, OK_COLOR, BOX_COLOR = "#d62728", "#1f77b4", "#8fb8de"


def _unpack(data, space=None, context=None, chance=None):
    from .rounds import RoundRun, one_row_per_config

    if isinstance(data, RoundRun):
        return data.frame, space or data.space, context if context is not None else data.context, \
            chance if chance is not None else data.chance
    return one_row_per_config(data), space, context, chance


def _order(frame: pd.DataFrame, column: str, space) -> list:
    if space is not None and column in getattr(space, "names", []):
        return list(space[column].values)
    vals = frame[column].dropna().unique().tolist()
    try:
        return sorted(vals)
    except TypeError:
        return vals


def _new_figure(ncols: int = 1, width: float = 7.0, height: float = 4.2):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), sharey=True, squeeze=False, layout="constrained")
    return fig, list(axes[0])


def _finish(fig, title: str, context: str | None, n: int, paper: str | None = None):
    """Title (wrapped to the figure's width) and, below the axes, what the points are
    (``context``) and the paper's own caption (``paper``, quoted)."""
    import matplotlib.pyplot as plt

    import textwrap

    width = max(30, int(fig.get_figwidth() * 10))
    fig.suptitle("\n".join(textwrap.wrap(title, width)), fontweight="bold")
    lines = [context or f"{n} trials"] + ([f"the paper's caption: \u201c{paper}\u201d"] if paper else [])
    fig.supxlabel("\n".join(textwrap.fill(ln, int(width * 1.6)) for ln in lines), fontsize="small", color="0.35")
    plt.close(fig)
    return fig


def _box(ax, frame, column, order, y=Y, palette=None, chance=None, xlabel=None, ylabel=Y_LABEL,
         chance_label=True):
    import seaborn as sns

    ok = frame[frame[y].notna()] if y in frame else frame.iloc[0:0]
    present = [v for v in order if (ok[column] == v).any()] if len(ok) else []
    if present:
        data = ok.assign(_x=ok[column].map(value_label))
        labels = [value_label(v) for v in order]
        pal = {value_label(k): c for k, c in (palette or {}).items()} or None
        sns.boxplot(data=data, x="_x", y=y, order=labels, ax=ax, hue="_x" if pal else None, palette=pal,
                    legend=False, color=None if pal else BOX_COLOR, fill=True, showfliers=False, width=0.6)
        spans = data.groupby("_x")[y].agg(["min", "max"])
        for i, label in enumerate(labels):  # a box of no height (one trial, or all alike) shows no colour:
            if label in spans.index and spans.at[label, "min"] == spans.at[label, "max"]:  # a bar in its colour
                ax.hlines(spans.at[label, "min"], i - 0.3, i + 0.3, colors=(pal or {}).get(label, BOX_COLOR),
                          lw=6, zorder=0.95, clip_on=False)  # whole at accuracy 0 or 1 too
        from .rounds import stopped_early

        low = stopped_early(data)  # a multi-fidelity round: configs scored after fewer epochs, drawn apart
        with fixed_jitter():
            sns.stripplot(data=data[~low], x="_x", y=y, order=labels, ax=ax, color="0.15", size=5, jitter=0.15,
                          alpha=0.8)
            if low.any():
                sns.stripplot(data=data[low], x="_x", y=y, order=labels, ax=ax, color="0.6", marker="v", size=5,
                              jitter=0.15, alpha=0.8)
    else:
        ax.set_xticks(range(len(order)), [value_label(v) for v in order])
        ax.text(0.5, 0.5, "no finished trials", transform=ax.transAxes, ha="center", color="0.4")
    if present:  # a value of the space with no box says why, not a blank slot
        for i, v in enumerate(order):
            if v not in present:
                why = "none finished" if (frame[column] == v).any() else "not sampled"
                ax.text(i, 0.03, why, rotation=90, ha="center", va="bottom", fontsize="small", color="0.45")
    if chance:
        ax.axhline(chance, ls="--", lw=1, color="0.5")
    if chance and chance_label:  # outside the axes (right margin), never over the boxes
        ax.annotate("chance", (1, chance), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", ha="left", fontsize="small", color="0.4",
                    annotation_clip=False)
    ax.set_xlabel(xlabel or column)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)


@kept(by="column")
def accuracy_by(data, column: str, title: str, *, space=None, context: str | None = None,
                chance: float | None = None, order: Sequence | None = None, palette: dict | None = None,
                xlabel: str | None = None, y: str = Y, paper: str | None = None):
    """``best_acc`` per value of ``column`` (box + points) under ``title`` (``paper``: the
    paper's caption, quoted below)."""
    frame, space, context, chance = _unpack(data, space, context, chance)
    if column not in frame:
        raise KeyError(f"the trials have no column {column!r}")
    order = list(order) if order is not None else _order(frame, column, space)
    fig, (ax,) = _new_figure()
    _box(ax, frame, column, order, y=y, palette=palette, chance=chance, xlabel=xlabel)
    return _finish(fig, title, context, len(frame), paper)


@kept()
def fig3_learning_rate(data, *, space=None, context=None, chance=None):
    """Fig. 3: accuracy by learning rate; the rates the paper saw fail (0.01, 0.03) in red."""
    frame, space, context, chance = _unpack(data, space, context, chance)
    order = _order(frame, "learning_rate", space)
    palette = {v: FAIL_COLOR if any(math.isclose(float(v), f) for f in PAPER_FAILING_LR) else OK_COLOR
               for v in order}
    fig = accuracy_by(frame, "learning_rate", "Fig. 3. Best Validation Accuracy by Learning Rate",
                      space=space, context=context, chance=chance, order=order, palette=palette,
                      paper="Fig. 3. Test Accuracy on Fail Learning Rate by 0.01 and 0.03")
    from matplotlib.patches import Patch

    ax = fig.axes[0]
    ax.set_ylim(0, 1.16)  # head-room for the legend above accuracy 1.0
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    shown = {palette[v] for v in order if (frame.loc[frame[Y].notna(), "learning_rate"] == v).any()} \
        if Y in frame else set()
    handles = [Patch(color=c, label=text) for c, text in ((FAIL_COLOR, "failed in the paper (0.01, 0.03)"),
                                                          (OK_COLOR, "converged in the paper")) if c in shown]
    if handles:  # only colours that a box shows
        ax.legend(handles=handles, loc="upper center", ncol=2, fontsize="small", frameon=False)
    return fig


@kept()
def fig4_distribution(data, *, space=None, context=None, chance=None, bins: int = 20):
    """Fig. 4: the distribution of accuracy over the round's trials (histogram + one tick per trial)."""
    import seaborn as sns

    frame, space, context, chance = _unpack(data, space, context, chance)
    fig, (ax,) = _new_figure()
    ok = frame[frame[Y].notna()]
    if len(ok):
        sns.histplot(data=ok, x=Y, bins=bins, binrange=(0, 1), ax=ax, color=BOX_COLOR, edgecolor="white")
        sns.rugplot(data=ok, x=Y, ax=ax, color="0.15", height=0.05)
    if chance:  # labelled above the axes, never over the bars
        ax.axvline(chance, ls="--", lw=1, color="0.5")
        ax.annotate("chance", (chance, 1), xycoords=("data", "axes fraction"), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize="small", color="0.4",
                    annotation_clip=False)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, 1)
    ax.set_xlabel(Y_LABEL)
    ax.set_ylabel("trials")
    return _finish(fig, "Fig. 4. Distribution of Best Validation Accuracy over the Trials", context, len(frame),
                   paper="Fig. 4. Test Accuracy of Small CNNs on GPU")


@kept()
def fig5_optimizer(data, **kw):
    """Fig. 5: accuracy vs optimizer (paper: Adam beats Nesterov and RMSProp)."""
    return accuracy_by(data, "optimizer", "Fig. 5. Best Validation Accuracy vs Optimizer",
                       paper="Fig. 5. Accuracy vs Optimizer", **kw)


@kept()
def fig6_activation(data, **kw):
    """Fig. 6: accuracy vs activation function (paper: relu/lrelu beat elu)."""
    return accuracy_by(data, "activation", "Fig. 6. Best Validation Accuracy vs Activation Function",
                       paper="Fig. 6. Accuracy vs Activation Function", **kw)


@kept()
def fig7_batch_size(data, **kw):
    """Fig. 7: accuracy vs batch size (paper: 32 has the higher median, 64 is more reliable; its
    text has no caption for Fig. 7, so none is quoted)."""
    return accuracy_by(data, "batch_size", "Fig. 7. Best Validation Accuracy vs Batch Size", **kw)


def conv_input_sides(config: dict, side: int) -> list[int]:
    """The side of the map each conv layer of ``config`` slides its kernel over, for square images
    of ``side`` pixels: the arithmetic of :func:`studylib.model.build_model` (crop, the first
    layer's stride, padding, 2x2 pooling padded to keep at least 1)."""
    from ..model import DEFAULTS

    c = {**DEFAULTS, **{k: v for k, v in config.items() if not _missing(v)}}
    sides, s = [], side - 2 * int(c["border_crop"])
    for i in range(1, 10):
        if _missing(c.get(f"ksize{i}")):
            break
        sides.append(s)
        stride = int(c["stride"]) if i == 1 else 1
        s = -(-s // stride) if c["padding"] == "same" else max((s - int(c[f"ksize{i}"])) // stride + 1, 0)
        s = -(-s // 2) if c["pooling"] in ("max", "avg") else s
    return sides


def _missing(v) -> bool:
    return v is None or isinstance(v, float) and math.isnan(v)


def _one_pixel_layers(frame: pd.DataFrame, input_shape) -> set[int]:
    """The conv layers (from 1) whose input is a single pixel in every trial of ``frame``: their
    kernel size changes nothing."""
    if not input_shape or len(frame) == 0 or input_shape[0] != input_shape[1]:
        return set()
    sides = [conv_input_sides(row, int(input_shape[0])) for row in frame.to_dict("records")]
    depth = max(map(len, sides))
    return {i + 1 for i in range(depth) if all(len(s) <= i or s[i] <= 1 for s in sides)}


@kept(by="prefix")
def per_layer(data, prefix: str, title: str, *, space=None, context=None, chance=None, label: str = "",
              paper: str | None = None, input_shape=None):
    """One panel per conv layer: accuracy vs ``<prefix>1``, ``<prefix>2``, ... (shared y axis).
    ``input_shape`` (a round's own, from its data): a kernel-size panel whose layer sees a 1x1 map
    in every trial says so."""
    from .rounds import RoundRun

    if isinstance(data, RoundRun) and input_shape is None:
        input_shape = data.data.get("input_shape")
    frame, space, context, chance = _unpack(data, space, context, chance)
    cols = [f"{prefix}{i}" for i in range(1, 10) if f"{prefix}{i}" in frame]
    if not cols:
        raise KeyError(f"the trials have no {prefix}1.. columns")
    flat = _one_pixel_layers(frame, input_shape) if prefix == "ksize" else set()
    fig, axes = _new_figure(len(cols), width=3.6 * len(cols), height=4.2)
    for i, (ax, col) in enumerate(zip(axes, cols), start=1):
        _box(ax, frame, col, _order(frame, col, space), chance=chance, xlabel=col,
             ylabel=Y_LABEL if i == 1 else "", chance_label=i == len(cols))
        ax.set_title(f"conv layer {i}{label}" + ("\n(a 1x1 input in every trial: no effect)" if i in flat else ""))
    return _finish(fig, title, context, len(frame), paper)


@kept()
def fig8_filters(data, **kw):
    """Fig. 8: accuracy vs number of filters in each conv layer."""
    return per_layer(data, "filters", "Fig. 8. Best Validation Accuracy vs Filters in each Conv Layer",
                     label=": filters", paper="Fig. 8. Network Structure Hyperparameters after being Optimized by "
                                              "Random Search (Filters)", **kw)


@kept()
def fig9_kernels(data, **kw):
    """Fig. 9: accuracy vs kernel size in each conv layer."""
    return per_layer(data, "ksize", "Fig. 9. Best Validation Accuracy vs Kernel Size in each Conv Layer",
                     label=": kernel size", paper="Fig. 9. Network Structure Hyperparameters after being Optimized "
                                                  "by Random Search (Kernel)", **kw)


def _bars(ax, names, values, errors, colors) -> None:
    """Horizontal bars, top to bottom, each value written inside its bar (never past the frame)."""
    y = list(range(len(names)))[::-1]
    spread = any(e and math.isfinite(e) for e in errors)  # no error-bar caps where no row has a spread
    ax.barh(y, values, xerr=errors if spread else None, color=colors, edgecolor="0.3", capsize=3 if spread else 0)
    for yy, v, e in zip(y, values, errors):
        if math.isfinite(v):
            text = f"{v:.2f}" + (f" ± {e:.2f}" if e else "")
            ax.text(max(v, 1) - 1, yy, text, va="center", ha="right", fontsize="small", color="white",
                    fontweight="bold")
    import textwrap

    ax.set_yticks(y, [textwrap.fill(n, 34) for n in names])
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")


@kept()
def table_iv_figure(data, *, context=None):
    """Table IV as bars: the paper's CIFAR-10 leaderboard and OUR measured test accuracy (mean ±
    std over seeds as an error bar). Ours is ranked among them only when it was measured on
    CIFAR-10; on any other dataset it gets its own panel and axis, labelled with its dataset."""
    import matplotlib.pyplot as plt

    from .rounds import RoundRun, dataset_name
    from .tables import table_iv

    table = table_iv(data)
    if isinstance(data, RoundRun) and context is None:
        context = data.context
    name = dataset_name(data, data if isinstance(data, RoundRun) else None, "?")
    ours = table["Network"].str.contains("OUR")
    acc = table["Accuracy (%)"].astype(float)
    err = table["± std"].where(table["± std"].notna(), 0.0).astype(float)
    n = len(data.frame) if isinstance(data, RoundRun) else len(data)
    # the paper's own row is its best validation accuracy (Table IV's other rows: test sets)
    paper = [(nm + (" (validation)" if "the paper" in nm else ""), a, e)
             for nm, a, e, o in zip(table["Network"], acc, err, ours) if not o]
    mine = [(f"OUR run (test accuracy on {name})", a, e) for a, e, o in zip(acc, err, ours) if o]
    if name == "cifar10":
        rows = paper + mine
        fig, (ax,) = _new_figure(width=8.0, height=3.8)
        _bars(ax, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
              [BOX_COLOR] * len(paper) + [FAIL_COLOR] * len(mine))
        ax.set_title("CIFAR-10 (test sets; the paper's own row: its validation split)", fontsize="medium")
    else:  # two panels, two axes: ours is never placed on the CIFAR-10 scale
        fig, (ax, own) = plt.subplots(2, 1, figsize=(8.0, 5.0), layout="constrained",
                                      gridspec_kw={"height_ratios": [len(paper), 1.4]})
        _bars(ax, [r[0] for r in paper], [r[1] for r in paper], [r[2] for r in paper], [BOX_COLOR] * len(paper))
        ax.set_title("the paper's Table IV: CIFAR-10 (test sets; its own row: its validation split)",
                     fontsize="medium")
        _bars(own, [r[0] for r in mine], [r[1] for r in mine], [r[2] for r in mine], [FAIL_COLOR] * len(mine))
        own.set_title(f"ours, on the {name} test set (not CIFAR-10: not ranked)", fontsize="medium")
    for a in fig.axes:
        a.set_ylabel("")
    return _finish(fig, "Table IV. Accuracy: the Paper's CIFAR-10 Leaderboard and Our Run", context, n,
                   paper="Table IV. Accuracy on CIFAR-10 without Data Augmentation")
