"""Round 4 (``studylib run compare``): the report functions on hand-built trials, the notebook's
parameters, and one real execution of ``studylib run compare`` with tiny settings."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _html import embedded_pngs

from studylib.errors import StudyError
from studylib.report import compare

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "round4.ipynb"
#: the notebook's default strategies (the fair baselines), which ``studylib run compare`` runs
ROUND4 = re.search(r'^strategies: .*?= "([^"]+)"', "".join(json.loads(NOTEBOOK.read_text())["cells"][1]["source"]),
                   re.M).group(1).split(",")
PARAMETERS = ("dataset", "profile", "strategies", "trials", "seed", "repeats", "max_epochs", "train_size",
              "data_dir", "bench_tables", "bench_seeds", "bench_budget", "strategy_options", "out_dir")


def hand_frame() -> pd.DataFrame:
    """2 strategies x 2 seeds x 4 trials; one failed trial; trials listed out of order."""
    acc = {("memetic", 0): [0.50, 0.70, 0.60, 0.80], ("memetic", 1): [0.55, 0.65, 0.90, 0.85],
           ("random", 0): [0.40, 0.60, 0.45, 0.58], ("random", 1): [0.62, 0.30, 0.64, 0.61]}
    rows = []
    for (s, seed), values in acc.items():
        for t, a in enumerate(values, 1):
            rows.append({"strategy": s, "seed": seed, "trial": t, "best_acc": a, "test_acc": a - 0.05,
                         "status": "ok", "dataset": "digits"})
    frame = pd.DataFrame(rows)
    frame.loc[(frame.strategy == "random") & (frame.seed == 1) & (frame.trial == 3), ["best_acc", "status"]] = \
        [np.nan, "failed"]
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


# -- the report functions ---------------------------------------------------------------------------

def test_best_so_far_is_monotone_and_starts_at_the_first_trial():
    bsf = compare.best_so_far(hand_frame())
    assert len(bsf) == 16
    for (s, seed), g in bsf.groupby(["strategy", "seed"]):
        assert g["trial"].tolist() == [1, 2, 3, 4]
        values = g["best_so_far"].to_numpy()
        assert (np.diff(values) >= 0).all(), (s, seed, values)
        assert values[0] == g["best_acc"].iloc[0]
        assert values[-1] == g["best_acc"].max()
    mem0 = bsf[(bsf.strategy == "memetic") & (bsf.seed == 0)]["best_so_far"].tolist()
    assert mem0 == [0.50, 0.70, 0.70, 0.80]
    rnd1 = bsf[(bsf.strategy == "random") & (bsf.seed == 1)]["best_so_far"].tolist()
    assert rnd1 == [0.62, 0.62, 0.62, 0.62]  # the failed trial does not count


def test_curve_bands_median_and_range_over_seeds():
    bands = compare.curve_bands(hand_frame())
    mem = bands[bands.strategy == "memetic"].set_index("trial")
    assert mem.loc[3, "median"] == pytest.approx((0.70 + 0.90) / 2)
    assert (mem.loc[3, "low"], mem.loc[3, "high"], mem.loc[3, "seeds"]) == (0.70, 0.90, 2)
    for _, g in bands.groupby("strategy"):
        assert (np.diff(g.sort_values("trial")["median"]) >= 0).all()


def test_final_table_has_mean_and_std_per_strategy():
    table = compare.final_table(hand_frame())
    assert list(table.index) == ["memetic", "random"]  # the paper's proposal first (STRATEGIES order)
    mem, rnd = table.loc["memetic"], table.loc["random"]
    assert mem["seeds"] == 2 and mem["trials per seed"] == "4"
    assert mem["best_acc mean"] == pytest.approx(0.85)
    assert mem["best_acc std"] == pytest.approx(np.std([0.80, 0.90], ddof=1))
    assert mem["test_acc mean"] == pytest.approx(0.80)  # test accuracy of the best-by-validation trials
    assert rnd["best_acc mean"] == pytest.approx((0.60 + 0.62) / 2)  # the failed trial (0.64) is ignored
    assert mem["best_acc (val, %) mean ± std"] == "85.00 ± 7.07"
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", rnd["test_acc of that trial (%) mean ± std"])
    html = compare.final_table(hand_frame(), styled=True).to_html()
    assert "Table V." in html and "85.00 ± 7.07" in html


def bold_rows(styler) -> set[int]:
    """Row numbers the Styler's CSS puts in bold."""
    css = styler.to_html()
    return {int(r) for r in re.findall(r"_row(\d+)_col\d+(?:, #T_\w+)* \{\s*font-weight: bold", css)}


def test_table_v_bolds_the_best_strategy_not_the_proposal():
    frame = hand_frame()
    assert bold_rows(compare.final_table(frame, styled=True)) == {0}  # memetic: 85.00 vs 61.00
    swapped = frame.assign(strategy=frame.strategy.map({"memetic": "random", "random": "memetic"}))
    table = compare.final_table(swapped)
    assert list(table.index) == ["memetic", "random"] and compare.best_strategies(table) == ["random"]
    styled = compare.final_table(swapped, styled=True)
    assert bold_rows(styled) == {1} and "bold: the best (random search)" in styled.to_html()


def legend_outside_every_axes(fig) -> bool:
    """The figure's legend(s) cover no data area (drawn, then compared in display pixels)."""
    fig.canvas.draw()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends
    return not any(leg.get_window_extent().overlaps(ax.get_window_extent()) for leg in legends
                   for ax in fig.axes if ax.get_visible() and ax.axison)


def test_figures_are_titled_like_a_paper():
    fig = compare.fig_best_so_far(hand_frame(), context="hand-made trials")
    assert fig._suptitle.get_text().replace("\n", " ").startswith("Fig. 10. Best Validation Accuracy vs Trials")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [compare.label("memetic"), compare.label("random")]
    assert legend_outside_every_axes(fig)  # never over a curve or its band


def costed_frame() -> pd.DataFrame:
    """hand_frame with known costs: trial t trains 2t epochs in t*1.5 + seed seconds."""
    frame = hand_frame()
    return frame.assign(epochs=2 * frame.trial, wall_time=1.5 * frame.trial + frame.seed)


def test_best_so_far_against_epochs_and_wall_time():
    bsf = compare.best_so_far_by_cost(costed_frame(), "epochs").sort_values(["strategy", "seed", "trial"])
    mem1 = bsf[(bsf.strategy == "memetic") & (bsf.seed == 1)]
    assert mem1["cost"].tolist() == [2, 6, 12, 20]
    assert mem1["best_so_far"].tolist() == [0.55, 0.65, 0.90, 0.90]
    rnd1 = bsf[(bsf.strategy == "random") & (bsf.seed == 1)]
    assert rnd1["cost"].tolist() == [2, 6, 12, 20]  # the failed trial 3 is charged too
    assert rnd1["best_so_far"].tolist() == [0.62, 0.62, 0.62, 0.62]  # 0.64 was the failed one
    bands = compare.cost_bands(costed_frame(), "wall_time")
    mem = bands[bands.strategy == "memetic"].set_index("cost")
    # seed 0 spends 1.5, 4.5, 9, 15 s; seed 1 spends 2.5, 6.5, 12, 19 s
    assert mem.index.tolist() == [1.5, 2.5, 4.5, 6.5, 9.0, 12.0, 15.0, 19.0]
    assert mem.loc[1.5, ["median", "seeds"]].tolist() == [0.50, 1]
    assert mem.loc[15.0, ["median", "low", "high", "seeds"]].tolist() == pytest.approx([0.85, 0.80, 0.90, 2])
    # seed 0 never spent 19 s: it keeps its final best (no line falls), and is not counted as spending
    assert mem.loc[19.0, ["median", "low", "high", "seeds"]].tolist() == pytest.approx([0.85, 0.80, 0.90, 1])
    assert (mem["median"].diff().dropna() >= 0).all() and (mem["low"].diff().dropna() >= 0).all()
    with pytest.raises(ValueError, match="cost must be one of"):
        compare.best_so_far_by_cost(costed_frame(), "gpu_hours")


def test_best_so_far_by_cost_figure_has_three_labelled_panels():
    fig = compare.fig_best_so_far_by_cost(costed_frame().rename(columns={"epochs": "no_epochs"}),
                                          context="hand-made trials")
    assert fig._suptitle.get_text().replace("\n", " ").startswith(compare.FIG_COSTS)
    xlabels = [ax.get_xlabel() for ax in fig.axes[:3]]
    assert xlabels[0].startswith("trial") and xlabels[1:] == list(compare.COSTS.values())
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes[:3])
    assert legend_outside_every_axes(fig)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    few = costed_frame()
    for fig in (fig, compare.fig_best_so_far_by_cost(few[few.trial <= 2])):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        boxes = [ax.xaxis.label.get_window_extent(canvas.get_renderer()) for ax in fig.axes[:3]]
        assert boxes[0].x0 >= 0 and all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))  # within, apart
        assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())  # whole trials


def test_bench_part_on_a_hand_made_table(tmp_path):
    from studylib.space import make_dimension
    from studylib.tables import Table
    from studylib.space import SearchSpace

    space = SearchSpace(name="toy", dimensions=(make_dimension("a", range(6)), make_dimension("b", range(6))))
    rng = np.random.default_rng(0)
    values = np.array([[-(a - 2) ** 2 - (b - 4) ** 2 + rng.normal(0, 0.1) for _ in range(3)]
                       for a in range(6) for b in range(6)])
    table = Table("toy", space, values, np.full(36, 3))
    bench = compare.run_bench_curves([table], ["memetic", "random"], 3, 15, tmp_path, workers=1)
    assert (tmp_path / "bench_regret.png").exists() and (tmp_path / "bench.csv").exists()
    summary = compare.bench_table(bench)
    assert {"median regret @15", "Wilcoxon p (memetic vs this)"} <= set(summary.columns)
    assert summary.loc[("toy", "memetic"), "median regret @15"] >= 0
    assert "Table VI." in compare.bench_table(bench, styled=True).to_html()
    fig = compare.fig_bench_regret(bench)
    assert fig._suptitle.get_text().startswith("Fig. 11.")
    assert legend_outside_every_axes(fig)
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert [t.get_text() for t in legend.get_texts()] == [compare.label("memetic"), compare.label("random")]


def test_one_regret_figure_for_bench_and_the_report(tmp_path):
    """``studylib.report.regret``: the figure of ``bench.csv`` curves, saved by ``plot_regret``."""
    from studylib.report.regret import plot_regret, regret_figure

    rows = [{"table": t, "strategy": s, "seed": sd, "evaluation": e, "regret": max(0, 20 - 3 * e - sd) / 20}
            for t in ("t1", "t2") for s in ("random", "memetic") for sd in range(3) for e in range(1, 8)]
    curves = pd.DataFrame(rows)
    fig = regret_figure(curves, ["memetic", "random"])
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["t1", "t2"] and all(ax.get_yscale() == "log" for ax in panels)
    (median,) = [ln for ln in panels[0].get_lines() if ln.get_label() == compare.label("random")]
    assert list(median.get_xdata()) == list(range(1, 8))
    # half the smallest positive value drawn: the lower quartile of (0, 0.05, 0.1) at 7 evaluations, 0.025
    floor = 0.025 / 2  # a zero regret is drawn there
    expected = [max((20 - 3 * e - 1) / 20, floor) for e in range(1, 8)]  # the median is seed 1's
    assert np.allclose(median.get_ydata(), expected) and median.get_ydata()[-1] == floor
    assert "3 seeds x 7 evaluations" in fig.get_supxlabel()
    zero = [ln for ln in panels[0].get_lines() if ln.get_linestyle() == ":" and set(ln.get_ydata()) == {floor}]
    assert len(zero) == 1 and [t.get_text() for t in panels[0].texts] == ["0"]  # where zero regret is drawn
    assert regret_figure(curves[curves.seed == 0]).get_supxlabel().startswith("1 seed x 7 evaluations")
    path = plot_regret(curves, tmp_path / "sub" / "bench_regret.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    # two seeds, regrets 0 and p: the median p / 2 is drawn above a median of 0, not on it
    two = pd.DataFrame([{"table": "t", "strategy": s, "seed": sd, "evaluation": 1, "regret": r}
                        for s, rs in (("random", (0.0, 0.0)), ("memetic", (0.0, 0.0314))) for sd, r in enumerate(rs)])
    fig = regret_figure(two, xlabel="epochs trained (charged)")
    (ax,) = [a for a in fig.axes if a.axison]
    y = {ln.get_label(): ln.get_ydata()[-1] for ln in ax.get_lines()}
    assert y[compare.label("memetic")] == pytest.approx(0.0157) and y[compare.label("random")] < 0.0157
    assert ax.get_xlabel() == "epochs trained (charged)" and "2 seeds x 1 epochs trained" in fig.get_supxlabel()


@pytest.mark.parametrize("tables", [1, 2, 3, 4])
def test_the_regret_legend_never_covers_the_title(tables):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from studylib.report.regret import regret_figure

    rows = [{"table": f"t{t}", "strategy": s, "seed": sd, "evaluation": e, "regret": 1 / e + sd / 100}
            for t in range(tables) for s in ("random", "ga", "memetic", "tpe", "optuna-ga") for sd in range(3)
            for e in range(1, 21)]
    fig = regret_figure(pd.DataFrame(rows))
    FigureCanvasAgg(fig).draw()
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    box, title = legend.get_window_extent(), fig._suptitle.get_window_extent()
    assert not box.overlaps(title), (box, title)
    assert legend_outside_every_axes(fig)


def test_settings_and_bad_input():
    assert compare.settings("smoke") == compare.DEFAULTS["smoke"]
    assert compare.settings("smoke", repeats=None)["repeats"] == 2  # not given: the profile's
    assert compare.settings("smoke", repeats=1)["repeats"] == 1
    assert compare.settings("smoke", repeats=3, trials=4)["repeats"] == 3
    assert compare.resolve_strategies(" tpe, ga,tpe ") == ["tpe", "ga"]
    assert compare.resolve_strategies(None) == list(compare.STRATEGIES)
    for empty in ("", " , ", []):
        with pytest.raises(StudyError, match="strategies: none given"):
            compare.resolve_strategies(empty)
    assert compare.resolve_tables("") == [] and compare.resolve_tables("none") == []
    with pytest.raises(StudyError, match="unknown strategy 'bogus'"):
        compare.resolve_strategies("ga,bogus")
    with pytest.raises(StudyError, match="trials must be a positive integer"):
        compare.settings("smoke", trials=0)
    with pytest.raises(StudyError, match="bench_budget 100001: at most 100000 evaluations per run"):
        compare.settings("smoke", bench_budget=100001)
    with pytest.raises(StudyError, match="unknown table"):
        compare.run_compare(bench_tables="no-such-table", out_dir="/nonexistent/never-written")


def test_strategy_options_reach_each_study_of_their_strategy_only(tmp_path):
    out = tmp_path / "compare"
    common = dict(dataset="synthetic", strategies="random,memetic", trials=2, repeats=2, bench_tables="", out_dir=out)
    plan = compare.plan_compare(strategy_options={"memetic": {"population_size": 3}}, **common)
    default = compare.plan_compare(**common)
    assert sorted(plan.studies) == [("memetic", 0), ("memetic", 1), ("random", 0), ("random", 1)]
    for (strategy, seed), (spec, _) in plan.studies.items():
        before = default.studies[(strategy, seed)][0]
        if strategy == "memetic":
            assert spec.strategy_options == {"population_size": 3} and spec.study_id("h") != before.study_id("h")
        else:
            assert spec.strategy_options == {} and spec.study_id("h") == before.study_id("h")
    assert not out.exists()  # planning writes nothing
    for options, message in [(3, "must map a strategy to its options"),
                             ({"memetic": 12}, "must map a strategy to its options"),
                             ({"asha": {"eta": 2}}, "names asha, not among the strategies compared"),
                             ({"memetic": {"population_size": 0}}, "population_size must be at least 2"),
                             ({"memetic": {"bogus": 1}}, "unknown options"),
                             ({"memetic": {"population_size:0": None}}, "reads as one name; YAML needs a space")]:
        with pytest.raises(StudyError, match=message):
            compare.plan_compare(strategy_options=options, **common)
    assert not out.exists()


# -- the notebook ----------------------------------------------------------------------------------

def test_committed_notebook_is_clean_and_thin():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    for c in code:
        assert c["outputs"] == [] and c["execution_count"] is None, "commit the notebook without outputs"
    for c in code[1:]:
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class|for|while|if)\b", src, re.M), src
        assert len([ln for ln in src.splitlines() if ln.strip()]) <= 8, src
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_papermill_help_notebook_lists_the_parameters():
    papermill = Path(sys.executable).parent / "papermill"
    cmd = [str(papermill)] if papermill.exists() else [sys.executable, "-m", "papermill"]
    proc = subprocess.run(cmd + ["--help-notebook", str(NOTEBOOK)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Parameters inferred for notebook" in proc.stdout
    for p in PARAMETERS:
        assert re.search(rf"^\s*{p}: \w", proc.stdout, re.M), p


# -- one real run -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """``studylib run compare`` with tiny settings: every strategy x 2 seeds x 2 trials of 1 epoch on
    digits; the benchmark cut down through ``-p`` (notebook parameters the CLI has no flag for)."""
    out = tmp_path_factory.mktemp("reports") / "digits-smoke"
    env = {**os.environ, "STUDYLIB_REPORTS": str(out.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "studylib.cli", "run", "compare", "--dataset", "digits", "--profile", "smoke",
         "--trials", "2", "--max-epochs", "1", "--train-size", "300", "--seeds", "2", "-p", "bench_seeds=3", "-p", "bench_budget=20",
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc


@pytest.mark.slow
def test_run_compare_publishes_the_comparison(published):
    out, proc = published
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "Table V. Best Validation Accuracy" in page
    assert "Table VI. Median Regret" in page
    assert "Fairness protocol" in page
    assert len(embedded_pngs(page)) >= 3  # Fig. 10, Fig. 10b and Fig. 11, embedded
    assert "Fig. 10b" in page and "Traceback" not in page
    assert {"memetic", "ga", "random", "tpe", "regevo", "local"} <= set(ROUND4)  # the fair baselines
    for s in ROUND4:
        assert compare.label(s) in page
    assert re.search(r"\d+\.\d\d ± \d+\.\d\d", page)
    assert "Traceback" not in page
    # every strategy x seed study in its own folder; every trial in trials.csv
    for s in ROUND4:
        for seed in (0, 1):
            assert (out / "compare" / s / f"seed-{seed}" / "ledger.sqlite").exists()
    trials = pd.read_csv(out / "compare" / "trials.csv")
    assert len(trials) == len(ROUND4) * 2 * 2
    assert trials.groupby(["strategy", "seed"]).size().eq(2).all()
    summary = json.loads((out / "compare" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["rows"] == len(ROUND4) * 2 * 2
    assert set(summary["by_strategy"]) == set(ROUND4)
    # its figures and tables also as files, the benchmark's beside the comparison's own
    assert sorted(p.name for p in (out / "compare" / "figures").glob("*.pdf")) == [
        "fig_bench_regret.pdf", "fig_best_so_far.pdf", "fig_best_so_far_by_cost.pdf"]
    assert sorted(p.name for p in (out / "compare" / "tables").glob("*.csv")) == ["bench_table.csv", "final_table.csv"]
    best = max(v["best_acc"] for v in summary["by_strategy"].values())
    assert summary["best_acc"] == best and summary["best_strategy"]
    assert all(summary["by_strategy"][s]["best_acc"] == best for s in summary["best_strategy"])
    index = (out / "index.html").read_text()
    assert "compare.html" in index and f"by {' and '.join(summary['best_strategy'])}" in index
