"""The explorer's views as plain objects: figures (:class:`matplotlib.figure.Figure`, drawn
without pyplot: no global state, the same bytes in a notebook, in Voilà and in tests), PNG bytes
and HTML tables. Deterministic: a strip plot's jitter is a fixed draw
(:func:`studylib.jitter.fixed_jitter`)."""
from __future__ import annotations

import html
import io
import math
from typing import Iterable

import numpy as np
import pandas as pd

from ..jitter import fixed_jitter
from .analysis import (METRIC_LABELS, STUDY_LEVEL, best_so_far, finite, is_numeric, label, learning_curves,
                       sorted_values)

CSS = """<style>
.studylib-explorer .studylib-table table{border-collapse:collapse;font-size:11px}
.studylib-explorer .studylib-table th,.studylib-explorer .studylib-table td{padding:2px 2px;text-align:right;
  border-bottom:1px solid #ddd;white-space:nowrap}
.studylib-explorer .studylib-table th{background:#f3f5f7;position:sticky;top:0;white-space:normal;
  overflow-wrap:normal;word-break:normal;hyphens:none;font-size:10px;font-weight:normal;color:#333;line-height:1.25;
  vertical-align:bottom}
.studylib-explorer .studylib-table td.wrap{white-space:normal;overflow-wrap:anywhere}
.studylib-explorer .studylib-table tr.bad td{color:#b22}
.studylib-explorer .studylib-count{font-size:14px}
.studylib-explorer .studylib-error{color:#b22}
</style>"""


def _figure(height: float = 4.2):
    from matplotlib.figure import Figure
    import seaborn as sns

    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(8.2, height), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    return fig, ax


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def trial_figure(shown: pd.DataFrame, total: int, *, y: str, x: str | None, hue: str | None, kind: str,
                 runs: pd.DataFrame, curves: pd.DataFrame | None = None):
    """The main figure: ``y`` against ``x`` (strip, box or scatter, coloured by ``hue``), each
    study's best-so-far ``y`` (``kind="best-so-far"``, from ``runs``), or the trials' learning
    curves (``kind="curves"``, from ``curves``; the best ``y`` highlighted), over the ``shown`` trials."""
    fig, ax = _figure()
    ok = finite(shown, y)
    if kind == "curves":
        _learning_curves(ax, learning_curves(curves if curves is not None else pd.DataFrame(), shown, y), y)
        title = "learning curves"
    elif kind == "best-so-far":
        from matplotlib.ticker import MaxNLocator

        _best_so_far(ax, runs, shown, y, hue)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial (in the study's proposal order)")
        title = f"best-so-far {y}"
    elif not len(ok) or x not in ok:
        _empty(ax, "no trials match the filters" if not len(shown) else f"no finite {y}")
        ax.set_xlabel(x or "")
        title = f"{y} by {x}"
    else:
        _categorical(ax, ok, x, y, hue, kind)
        ax.set_xlabel(x)
        title = f"{y} by {x}" + (f", coloured by {hue}" if hue else "")
    if kind != "curves":
        ax.set_ylabel(METRIC_LABELS.get(y, y))
    fig.suptitle(f"{title} — {len(shown)} of {total} trials", fontsize="medium")
    if ax.get_legend() is not None:
        import seaborn as sns

        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small",
                        title_fontsize="small")
    return fig


def _categorical(ax, df, x, y, hue, kind) -> None:
    import seaborn as sns

    data = df.copy()
    hue_order = None
    if hue:
        data["_hue"] = data[hue].map(label)
        hue_order = [label(v) for v in sorted_values(data[hue])]
    hue_col = "_hue" if hue else None
    common = dict(y=y, hue=hue_col, hue_order=hue_order, ax=ax)
    if kind == "scatter" and is_numeric(data[x]):
        sns.scatterplot(data=data, x=x, s=45, alpha=0.85, edgecolor="white", **common)
        xs = data[x].astype(float)
        if (xs > 0).all() and xs.max() / xs.min() >= 50:
            ax.set_xscale("log")
    else:
        order = [label(v) for v in sorted_values(data[x])]
        data["_x"] = data[x].map(label)
        if kind == "box":
            sns.boxplot(data=data, x="_x", order=order, showfliers=False, fill=not hue,
                        color=None if hue else "#8fb8de", width=0.6, **common)
            with fixed_jitter():
                sns.stripplot(data=data, x="_x", order=order, dodge=bool(hue), color=None if hue else "0.15",
                              size=4, jitter=0.12, alpha=0.8, legend=False, **common)
        else:  # strip, or scatter of a categorical x
            with fixed_jitter():
                sns.stripplot(data=data, x="_x", order=order, size=6, jitter=0.2 if kind == "strip" else 0.0,
                              alpha=0.85, color=None if hue else "#1f77b4", **common)
    if ax.get_legend() is not None and hue:
        ax.get_legend().set_title(hue)


def _best_so_far(ax, runs, shown, y, hue) -> None:
    import seaborn as sns

    group = hue if hue in STUDY_LEVEL else "study"
    data = best_so_far(runs, shown, y, group)
    if not len(data):
        _empty(ax, "no study trials match the filters")
        return
    sns.lineplot(data=data, x="number", y="_best", hue="_group", hue_order=sorted(data["_group"].unique()),
                 units="study", estimator=None, drawstyle="steps-post", marker="o", markersize=4, ax=ax)
    if ax.get_legend() is not None:
        ax.get_legend().set_title(group)


def _learning_curves(ax, data: pd.DataFrame, y: str) -> None:
    """One validation-accuracy line per trial (training accuracy dashed, where recorded); the
    trial with the best ``y`` drawn thick and in colour."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy per epoch")
    if not len(data):
        _empty(ax, "no per-epoch curves recorded for these trials")
        return
    for best in (False, True):  # the best one last, on top
        for (_, key), g in data[data["_best"] == best].groupby(["ledger", "key"], sort=False):
            style = dict(color="#d62728", lw=2.4, zorder=3) if best else dict(color="0.55", lw=0.9, alpha=0.6)
            ax.plot(g["epoch"], g["val_accuracy"], marker="o" if best else None, ms=4,
                    label=f"best {y}: validation" if best else None, **style)
            if g["accuracy"].notna().any():
                ax.plot(g["epoch"], g["accuracy"], ls="--", label=f"best {y}: training" if best else None,
                        **{**style, "alpha": 0.9 if best else 0.3})
    ax.plot([], [], color="0.55", lw=0.9, label="other trials: validation (training dashed)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small")


def importance_figure(imp: pd.DataFrame, y: str, by: str):
    """Horizontal bars of ``imp[by]`` (``eta_sq`` or ``spread``) per hyperparameter (and per
    round, coloured, when ``imp`` holds several)."""
    import seaborn as sns

    fig, ax = _figure(height=0.6 + 0.32 * max(len(imp), 2))
    rounds = list(dict.fromkeys(imp["round"])) if "round" in imp else []
    if len(imp) and len(rounds) > 1:  # one bar per round and hyperparameter: never pooled
        sns.barplot(data=imp, y="hyperparameter", x=by, hue="round", hue_order=rounds, ax=ax, orient="h")
        sns.move_legend(ax, "lower right", frameon=False, fontsize="small", title_fontsize="small")
    elif len(imp):
        sns.barplot(data=imp, y="hyperparameter", x=by, ax=ax, color="#4c72b0", orient="h")
        ax.set_xlabel({"eta_sq": f"η² of {y} (share of its variance explained)",
                       "spread": f"spread of {y} (best − worst mean over the values)"}[by])
        if by == "eta_sq":
            ax.set_xlim(0, 1)
    else:
        _empty(ax, "needs trials with different values of a hyperparameter")
        ax.set_xlabel(by)
    ax.set_ylabel("")
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return html.escape(str(v))


def _breakable(name) -> str:
    """A column name that may wrap after its underscores only (``batch_<wbr>size``), never mid-word."""
    return html.escape(str(name)).replace("_", "_<wbr>")


def html_table(df: pd.DataFrame, *, highlight: str | None = None, descending: bool = True,
               index_name: str = "#", values: Iterable[str] = ()) -> str:
    """``df`` as an HTML table; columns in ``values`` (hyperparameters) print as their values do
    in the filters (0.01, not 0.0100); rows whose ``status`` is not ok are marked ``bad``."""
    values = set(values)
    head = "".join(f"<th>{_breakable(c)}{(' ▼' if descending else ' ▲') if c == highlight else ''}</th>"
                   for c in df.columns)
    rows = []
    for idx, r in df.iterrows():
        bad = " class='bad'" if "status" in df and r.get("status", "ok") != "ok" else ""
        cells = "".join(f"<td{' class=wrap' if isinstance(v, str) else ''}>"
                        f"{html.escape(label(v)) if c in values and pd.notna(v) else fmt(v)}</td>"
                        for c, v in zip(df.columns, r.values))
        rows.append(f"<tr{bad}><td>{fmt(idx)}</td>{cells}</tr>")
    return (f"<table><thead><tr><th>{html.escape(index_name)}</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
