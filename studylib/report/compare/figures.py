"""The comparison's figures and tables as a reader sees them: Fig. 10 (best-so-far curves),
Table V (bold: the best strategy), Fig. 11 and Table VI (tabular benchmarks), the fairness
protocol and the provenance block. Numbers come from :mod:`.numbers`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ... import paths
from ...progress import count
from ...provenance import now_iso
from ..figures import _finish, _new_figure
from ..keep import kept
from ..regret import regret_figure
from ..rounds import dataset_name
from ..display import Block, _fmt_time, code_rows, files_row, setting_rows, time_rows
from ..styles import PROPOSAL, SHORT, color, label, line_style
from . import numbers
from .numbers import best_strategies, coinciding, cost_bands, curve_bands, _frame, _strategy_order
from .run import INITIAL_DESIGN, BenchRun, CompareRun, bench_context

TABLE_FINAL = "Table V. Best Validation Accuracy and its Test Accuracy at Equal Budget"
TABLE_BENCH = "Table VI. Median Regret on Tabular Benchmarks at Equal Evaluations"
FIG_CURVES = "Fig. 10. Best Validation Accuracy vs Trials at Equal Budget"
FIG_COSTS = "Fig. 10b. Best Validation Accuracy vs Trials, Epochs and Training Time"
FIG_BENCH = "Fig. 11. Regret vs Evaluations on Tabular Benchmarks"


def _title_with(title: str, order: Sequence[str]) -> str:
    names = [SHORT.get(s, s) for s in ([PROPOSAL] if PROPOSAL in order else []) + [s for s in order
                                                                                   if s != PROPOSAL]]
    if not names:
        return title
    return f"{title}: " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}")


def _draw_bands(ax, bands, x: str, order, n_seeds: int, tail: float) -> int:
    """Step-wise median line and worst-to-best band per strategy against column ``x``; each line
    is held ``tail`` past its last point so its value is drawn too. Returns how many were drawn."""
    drawn = 0
    for i, s in enumerate(order):
        b = bands[bands["strategy"] == s].sort_values(x)
        if not len(b) or b["median"].isna().all():
            continue
        c = color(s, i)
        xs = np.append(b[x].to_numpy(dtype=float), b[x].iloc[-1] + tail)
        ext = b.iloc[list(range(len(b))) + [len(b) - 1]]
        ax.step(xs, ext["median"], where="post", color=c, label=label(s), marker="o", ms=4,
                markevery=list(range(len(b))), **line_style(s))
        if n_seeds > 1:
            ax.fill_between(xs, ext["low"], ext["high"], step="post", color=c, alpha=0.15, lw=0)
        drawn += 1
    return drawn


def _curves_setup(data, context: str | None, title: str | None, fig_title: str):
    """What Fig. 10 and 10b share: the trials, the strategies in order, the title, the number of
    seeds and the line under the title."""
    frame = _frame(data)
    order = _strategy_order(frame, data)
    n_seeds = frame["seed"].nunique() if "seed" in frame and len(frame) else 1
    if context is None and isinstance(data, CompareRun):
        context = data.context
    return frame, order, title or _title_with(fig_title, order), n_seeds, context


def _seeds_legend(ax, n_seeds: int) -> None:
    """The strategies' legend, titled with what a line and its band are; outside the axes, so it
    never covers a curve or its band."""
    spread = f"median over {n_seeds} seeds\nband: worst to best seed" if n_seeds > 1 else "one seed"
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False, title=spread,
              title_fontsize="small")


@kept()
def fig_best_so_far(data, *, context: str | None = None, title: str | None = None):
    """Fig. 10: best validation accuracy so far vs trial number, one line per strategy (median
    across seeds, step-wise) and a band from the worst to the best seed."""
    frame, order, title, n_seeds, context = _curves_setup(data, context, title, FIG_CURVES)
    bands = curve_bands(frame)
    fig, (ax,) = _new_figure(width=8.0, height=4.8)
    drawn = _draw_bands(ax, bands, "trial", order, n_seeds, tail=0.5)
    if not drawn:
        ax.text(0.5, 0.5, "no finished trials", transform=ax.transAxes, ha="center", color="0.4")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (distinct trials trained: configurations and replicates, in proposal order)")
    ax.set_ylabel("best validation accuracy so far")
    if drawn:
        _seeds_legend(ax, n_seeds)
    return _finish(fig, title, context, len(frame))


@kept()
def fig_best_so_far_by_cost(data, *, context: str | None = None, title: str | None = None):
    """Fig. 10 against three costs, side by side: best validation accuracy so far vs trials, vs
    cumulative epochs trained and vs cumulative training time (median over seeds and the
    worst-to-best band; against a cost, a seed whose study ended having spent less keeps its
    final best)."""
    frame, order, title, n_seeds, context = _curves_setup(data, context, title, FIG_COSTS)
    fig, axes = _new_figure(ncols=3, width=13.0, height=4.6)
    from matplotlib.ticker import MaxNLocator

    panels = [("trial", curve_bands(frame),
               "trial (distinct trials: configurations\nand replicates, in proposal order)")]
    panels += [("cost", cost_bands(frame, c), numbers.COSTS[c]) for c in numbers.COSTS]
    drawn = 0
    for ax, (x, bands, xlabel) in zip(axes, panels):
        span = float(bands[x].max()) if len(bands) else 1.0
        drawn = max(drawn, _draw_bands(ax, bands, x, order, n_seeds, tail=0.5 if x == "trial" else 0.02 * span))
        ax.set_xlabel(xlabel)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are whole
    axes[0].set_ylabel("best validation accuracy so far")
    if not drawn:
        axes[1].text(0.5, 0.5, "no finished trials", transform=axes[1].transAxes, ha="center", color="0.4")
    else:
        _seeds_legend(axes[-1], n_seeds)
    return _finish(fig, title, context, len(frame))


@kept()
def final_table(data, *, styled: bool = False):
    """Table V (:func:`.numbers.final_table`); ``styled=True``: a captioned Styler of the
    percent texts with the best strategy's row (highest mean best_acc) in bold."""
    table = numbers.final_table(data)
    if not styled:
        return table
    shown = table[["method", "seeds", "trials per seed", "best_acc (val, %) mean ± std",
                   "test_acc of that trial (%) mean ± std"]]
    frame = _frame(data)
    dataset = dataset_name(frame, data if isinstance(data, CompareRun) else None)
    best = best_strategies(table)
    caption = (f"{TABLE_FINAL}" + (f" ({dataset})" if dataset else "")
               + ": per seed, the trial with the best validation accuracy; mean ± sample std over seeds"
               + (f"; bold: the best ({', '.join(label(b) for b in best)})" if best else ""))

    def bold(row):
        return ["font-weight: bold" if row.name in best else "" for _ in row]

    return shown.style.set_caption(caption).apply(bold, axis=1)


# -- the tabular benchmark -------------------------------------------------------------------------

def _skipped(what: str) -> Block:
    return Block(what, notes=["The tabular benchmark was not run (bench_tables is off)."])


@kept()
def fig_bench_regret(bench: BenchRun | None, *, title: str = FIG_BENCH):
    """Fig. 11: :func:`studylib.report.regret.regret_figure` of the benchmark's curves."""
    if bench is None:
        return _skipped(title)
    return regret_figure(bench.curves, bench.strategies, title=title, context=bench_context(bench))


@kept()
def bench_table(bench: BenchRun | None, *, styled: bool = False):
    """Table VI (:func:`.numbers.bench_summary`); ``styled=True``: a captioned Styler with, per
    table, the strategy of lowest median regret at the budget in bold."""
    if bench is None:
        return _skipped(TABLE_BENCH)
    s = numbers.bench_summary(bench)
    if not styled:
        return s
    fmt = {c: "{:.3g}" for c in s.columns if c.startswith("median regret")}
    fmt.update({c: "{:.2g}" for c in s.columns if c.startswith("Wilcoxon")})
    fmt["evals for half the seeds to reach random's final median"] = lambda v: (f">{bench.budget}" if np.isinf(v) else f"{v:g}")
    caption = (f"{TABLE_BENCH}: {count(len(bench.seeds), 'seed')} x {bench.budget} evaluations"
               + ("; with fewer than 6 seeds no Wilcoxon p can fall below 0.05" if len(bench.seeds) < 6 else ""))

    final = [c for c in s.columns if c.startswith("median regret")][-1]
    best = {(t, st) for t, g in s[final].groupby(level="table") for (_, st), v in g.items()
            if np.isclose(v, g.min(), rtol=0, atol=1e-12)}

    def bold(row):
        return ["font-weight: bold" if row.name in best else "" for _ in row]

    return s.style.set_caption(caption).format(fmt, na_rep="-").apply(bold, axis=1)


# -- protocol, provenance, summary ------------------------------------------------------------------

class Markdown:
    """Markdown for a notebook output (``text/markdown`` and, rendered, ``text/html``)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        try:
            import mistune

            return mistune.html(self.text)
        except Exception:  # pragma: no cover - mistune ships with nbconvert
            import html

            return f"<pre>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return self.text


def _initial_design_note(run: CompareRun) -> str | None:
    slow = []
    opts = run.settings.get("strategy_options", {}) or {}
    for s in run.strategies:
        if s in INITIAL_DESIGN:
            key, default = INITIAL_DESIGN[s]
            size = int((opts.get(s) or {}).get(key, default))
            if run.settings["trials"] <= size:
                slow.append(f"{s} ({key} {size})")
    if not slow:
        return None
    return (f"**Read this run as a test of the pipeline, not of the strategies:** with "
            f"{run.settings['trials']} trials per study, {', '.join(slow)} never get past their initial "
            "design (random or space-filling proposals), so differences here are noise. "
            "The `paper` profile (or `trials` of a few hundred on small data) is the real comparison.")


def protocol(run: CompareRun) -> Markdown:
    """The fairness protocol of this comparison, with this run's numbers."""
    st = run.settings
    d = run.data
    seeds = ", ".join(map(str, run.seeds))
    lines = [
        "**Fairness protocol.**",
        "",
        f"* **Equal budget:** every strategy gets the same number of *distinct* trials — "
        f"{st['trials']} configurations of the {run.space.name} space ({run.space.size:,} combinations) "
        f"per study. A configuration a strategy proposes again is answered from its own ledger and "
        "**not charged**; a *replicate* (the memetic GA training its best configuration again with "
        "another seed, key `-r<n>`) is charged as a trial of its own, so a study that replicates "
        "tries fewer distinct configurations. The budget counts trained trials, not wall-clock time "
        f"(this run trained {run.trained} and served {run.served} finished in an earlier run of the same "
        "studies).",
        f"* **Same data:** one split for all — {d.get('dataset')} ({d.get('n_train')} train / "
        f"{d.get('n_val')} validation / {d.get('n_test')} test), data hash `{str(d.get('data_hash'))[:12]}`.",
        f"* **Same training budget:** every trial trains the same CNN code for at most {st['max_epochs']} "
        f"epochs with early-stopping patience {st['patience']} on validation accuracy.",
        f"* **Same seeds:** seeds {seeds}; seed *s* drives both the strategy and the training of its trials "
        "(weight initialisation, shuffling), for every strategy. Each strategy × seed study has its own "
        f"folder and ledger (`{run.out_dir.name}/<strategy>/seed-<s>/`), so no strategy reuses "
        "another's results.",
        "* **Selection on validation, test reported only:** strategies are told `best_acc` (the best "
        "validation accuracy of a trial); each study's result is its trial with the highest `best_acc` "
        "(once a configuration is replicated, the best mean `best_acc` less one standard error, reported "
        "at its mean), and its `test_acc` is reported — never used to choose.",
        "* **Default settings:** each strategy runs with its own defaults, the same for every seed "
        "(GA: population 20; memetic GA: population 10, at most 80% of evaluations on local search; "
        "TPE: 10 random start-up trials)"
        + (f"; changed here: {st['strategy_options']}." if st.get("strategy_options") else "."),
    ]
    if run.bench is not None:
        b = run.bench
        lines.append(
            f"* **Tabular benchmark:** the same rules on precomputed tables ({', '.join(b.tables)}): "
            f"{b.budget} charged evaluations, {count(len(b.seeds), 'seed')}; an evaluation returns one training "
            "seed of the config drawn at random (the same draws for every strategy of a run seed), a "
            "repeat is served from the cache and not charged; regret = best mean in the table − mean "
            "of the incumbent: the best *observed* config (once a config is replicated, the best mean "
            "less one standard error).")
    note = _initial_design_note(run)
    if note:
        lines += ["", note]
    for a, b in coinciding(run):
        lines += ["", f"**{label(a)} and {label(b)} proposed exactly the same configurations** in the same order "
                      "for every seed (a GA's first generation is a uniform random sample, drawn with the same "
                      "seed): their rows in Table V and their curves in Fig. 10 are equal by construction."]
    return Markdown("\n".join(lines))


def compare_provenance(run: CompareRun) -> Block:
    """What produced this report (as :func:`studylib.report.provenance_block` for a round)."""
    prov, st = run.provenance, run.settings
    frame = run.frame
    status = frame["status"].value_counts().to_dict() if "status" in frame else {}
    train_time = float(frame["wall_time"].sum()) if "wall_time" in frame else None
    same = setting_rows(run.space, run.data, run.profile, st["max_epochs"], st["patience"], run.seeds)
    rows = [
        ("Comparison", f"{', '.join(label(s) for s in run.strategies)} at equal budget"),
        ("Space", f"{run.space.name} — {same['Space']}"),
        ("Dataset", same["Dataset"]),
        ("Profile", same["Profile"]),
        ("Seeds", same["Seeds"]),
        ("Trials", f"{st['trials']} per study x {count(len(run.strategies), 'strategy', 'strategies')} x "
                   f"{count(len(run.seeds), 'seed')} = "
                   f"{len(frame)} ({run.trained} trained now, {run.served} served from the ledgers; "
                   f"{status.get('failed', 0)} failed, {status.get('diverged', 0)} diverged)"),
        ("Executor", run.executor),
    ]
    if run.bench is not None:
        b = run.bench
        rows.append(("Tabular benchmark", f"{', '.join(b.tables)}; {count(len(b.seeds), 'seed')} x {b.budget} evaluations "
                                          f"({_fmt_time(b.wall_time)}; {b.out_dir})"))
    rows += [
        *time_rows(train_time, run.wall_time, run.trained, run.served),
        *code_rows(prov),
        ("Trials stored in", f"{run.out_dir}/<strategy>/seed-<s>/ (ledger.sqlite, trials.csv, studies/<study_id>.json); "
                             f"all trials: {run.out_dir / paths.TRIALS_CSV}"),
        ("Figures and tables as files", files_row(run.out_dir)),
        ("Study ids", ", ".join(r.study_id for r in run.results.values())),
        ("Finished", now_iso()),
    ]
    return Block("What produced this report", rows)

