"""Unit tests of studylib.report on small hand-built ledger frames (no training)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from studylib import report  # noqa: E402
from studylib.report import publish  # noqa: E402
from studylib.space_file import load_space  # noqa: E402

APPENDIX_1 = ["batch_size", "best_acc", "best_loss", "filters_1", "filters_2", "full_hidd_1", "full_hidd_2",
              "ksize_1", "ksize_2", "learning_rate", "no_epochs"]
APPENDIX_2_SHOWN = ["activation", "batch_size", "best_acc", "best_loss", "best_train_acc", "best_train_loss",
                    "filters1", "filters2", "filters3", "full_hidd1", "full_hidd2", "ksize1", "ksize2", "ksize3",
                    "learning_rate"]


def _results(rng, n, status=None):
    acc = rng.uniform(0.1, 0.9, n)
    return {"best_acc": acc, "best_loss": 2 - 2 * acc, "best_train_acc": acc * 0.9, "best_train_loss": 2 - acc,
            "epochs": rng.integers(2, 30, n), "best_epoch": np.ones(n, int), "test_acc": acc - 0.01,
            "test_loss": 2 - acc, "params": np.full(n, 1000), "wall_time": np.full(n, 1.5),
            "status": status or ["ok"] * n, "error": [""] * n, "dataset": ["digits"] * n}


def round_frame(round_name: str, n: int = 8, seed: int = 0, seeds=None) -> pd.DataFrame:
    """A ledger-like frame: configs sampled from the round's space, made-up results."""
    space = load_space(round_name)
    rng = np.random.default_rng(seed)
    configs = [space.sample(rng) for _ in range(n)]
    df = pd.DataFrame(configs)
    df.insert(0, "trial", range(1, n + 1))
    for k, v in _results(rng, n).items():
        df[k] = v
    df["seed"] = seeds if seeds is not None else 0
    df["study_id"] = f"{round_name}-random-s0-abcdef12"
    return df


def title(fig) -> str:
    return " ".join(fig.get_suptitle().split())


def caption(fig) -> str:
    """The line(s) under the axes: what the points are, and the paper's own caption."""
    return " ".join(fig.get_supxlabel().split())


# -- appendix tables ---------------------------------------------------------------------------

def test_appendix_1_has_the_papers_columns_sorted_by_best_acc():
    df = round_frame("round1")
    table = report.appendix_table(df, "round1")
    assert list(table.columns) == APPENDIX_1 + ["test_acc"]
    assert table.index.name == "trial"
    assert table["best_acc"].is_monotonic_decreasing
    assert sorted(table.index) == list(range(1, 9))
    assert table["no_epochs"].tolist() == df.set_index("trial").loc[table.index, "epochs"].tolist()


def test_appendix_infers_the_round_from_the_study_id_and_puts_failed_trials_last():
    df = round_frame("round2", n=6)
    df.loc[2, ["best_acc", "best_loss", "test_acc"]] = np.nan
    df.loc[2, "status"] = "failed"
    table = report.appendix_table(df)
    assert list(table.columns[:len(APPENDIX_2_SHOWN)]) == APPENDIX_2_SHOWN
    assert list(table.columns[len(APPENDIX_2_SHOWN):]) == ["momentum", "no_epochs", "optimizer", "border_crop",
                                                         "test_acc"]
    assert "stride" not in table.columns
    assert table.index[-1] == df.loc[2, "trial"]
    assert table["best_acc"].iloc[:-1].is_monotonic_decreasing


def test_appendix_3_hides_round_constants_and_styled_has_caption():
    df = round_frame("round3", n=4)
    table = report.appendix_table(df, "round3")
    assert {"stride", "border_crop", "dropout"}.isdisjoint(table.columns)
    assert {"activation", "batch_size", "momentum", "learning_rate"} <= set(table.columns)
    styled = report.appendix_table(df, "round3", styled=True)
    html = styled.to_html()
    assert "Appendix 3" in html and "stride=1" in html
    # the PDF's appendix 3 header ends at learning_rate: the columns after it are named as such
    assert "the paper's printed table ends at learning_rate; momentum, no_epochs, optimizer follow" in styled.caption
    assert "printed table" not in report.appendix_table(round_frame("round1"), "round1", styled=True).caption
    assert "full_<wbr>hidd1" in html  # headers may wrap after an underscore (the table fits a 1,400 px page)


def test_appendix_without_a_space_keeps_studylib_names_and_adds_seed_with_several_seeds():
    df = round_frame("round1", n=6, seeds=[0, 0, 0, 1, 1, 1]).drop(columns=["study_id"])
    table = report.appendix_table(df)
    assert {"filters1", "hidden1", "best_acc", "no_epochs"} <= set(table.columns)
    assert list(table.index.names) == ["seed", "trial"]  # trial numbers restart with each seed
    assert "then ours (test_acc, seed)" in report.appendix_table(df, styled=True).caption


def test_group_summary_counts_per_value():
    df = round_frame("round1", n=12)
    g = report.group_summary(df, "learning_rate")
    assert g["trials"].sum() == 12
    assert set(g.columns) == {"trials", "mean best_acc", "median best_acc", "max best_acc"}


# -- Tables I-III: the space searched ------------------------------------------------------------

def test_the_papers_tables_i_to_iii_hold_the_values_they_print():
    import re

    for number, rows in report.PAPER_TABLES.items():
        for _, abbreviation, printed, values, name in rows:
            assert re.findall(r"[\w.]+", printed.lower()) == [str(v) for v in values], (number, abbreviation)
            assert name in load_space("round2").names or name in load_space("round3").names


def test_space_table_sets_each_round_beside_the_papers_tables():
    r1 = report.space_table("round1").set_index("Abbreviation")
    assert list(r1["Table"]) == ["I"] * 9 + ["II"] * 4 + ["-"]  # both tables' rows, then the text's constant
    assert r1.loc["Filter_3", "Searched here"] == "not in this round" and r1.loc["Filter_3", "Same"] == "no"
    assert r1.loc["activation", "Searched here"] == "fixed: relu"
    assert r1.loc["learning_rates", "Same"] == "yes"
    assert r1.loc["stride", "Searched here"] == "fixed: 2"
    assert "8 is outside Table I" in r1.loc["Filters_1", "Note"]
    r2 = report.space_table("round2").set_index("Abbreviation")
    assert r2.loc["learning_rates", "Searched here"] == "[0.001, 0.0015, 0.002, 0.003]"
    assert r2.loc["learning_rates", "Same"] == "no" and "Appendix 2" in r2.loc["learning_rates", "Note"]
    assert (r2.loc[r2["Table"] != "-", "Same"] == "yes").sum() == 12
    assert r2.loc["momentum", "Same"] == "yes" and "momentum_use: batchnorm" in r2.loc["momentum", "Note"]
    r3 = report.space_table("round3")
    assert (r3.loc[r3["Table"] == "III", "Same"] == "yes").all()  # the same values, one order changed
    assert list(r3.loc[r3["Table"] == "-", "Hyperparameter"]) == ["stride", "border_crop", "dropout"]
    caption = report.space_table("round3", styled=True).caption
    assert caption.startswith("Table III") and "3,072 combinations" in caption


def test_same_values_means_the_same_set_whatever_the_order():
    from studylib.report.tables import _same_values

    assert _same_values((0.001, 0.003, 0.002, 0.0015), (0.001, 0.0015, 0.002, 0.003))
    assert not _same_values((1, 1, 2), (1, 2, 3)) and not _same_values((1, 2, 3), (1, 1, 2))
    assert not _same_values((64,), (64, 96))


def test_space_table_of_another_space_lists_its_own_dimensions():
    from studylib.space import Dimension, SearchSpace

    space = SearchSpace("mine", (Dimension("filters1", (8, 16)), Dimension("learning_rate", (0.01,))))
    table = report.space_table(space)
    assert list(table.columns) == ["Hyperparameter", "Abbreviation", "Searched here", "Note"]
    assert list(table["Searched here"]) == ["[8, 16]", "fixed: 0.01"]
    assert "not one of the paper's rounds" in report.space_table(space, styled=True).caption


# -- Table IV and seeds ------------------------------------------------------------------------

def test_table_iv_uses_test_acc_of_the_best_by_validation_trial():
    df = round_frame("round3", n=3)
    df["best_acc"] = [0.9, 0.5, 0.7]
    df["test_acc"] = [0.8, 0.95, 0.6]   # the best TEST accuracy must not be picked
    t = report.table_iv(df)
    expected = [("ALL-CNN [37]", 92.00), ("Deeply-supervised [38]", 90.22), ("Network in Network [39]", 89.60),
                ("Maxout [40]", 88.32)]
    assert [(n, a) for n, a in zip(t["Network"][:4], t["Accuracy (%)"][:4])] == expected
    assert t["Accuracy (%)"].iloc[4] == 80.62
    ours = t.iloc[-1]
    assert "OUR" in ours["Network"]
    assert ours["Accuracy (%)"] == pytest.approx(80.0)
    assert "digits" in ours["Dataset"] and "best-by-validation" in ours["Source"]
    assert math.isnan(ours["± std"])
    html = report.table_iv(df, styled=True).to_html()
    assert "Table IV" in html and "NOT CIFAR-10" in html and "92.00" in html
    assert "± std" not in html  # one seed: no empty spread column


def test_table_iv_and_seed_summary_give_mean_and_spread_over_seeds():
    df = round_frame("round3", n=4, seeds=[0, 0, 1, 1])
    df["best_acc"] = [0.9, 0.5, 0.6, 0.7]
    df["test_acc"] = [0.8, 0.9, 0.1, 0.6]
    ours = report.table_iv(df).iloc[-1]
    assert ours["Accuracy (%)"] == pytest.approx(70.0)
    assert ours["± std"] == pytest.approx(np.std([80.0, 60.0], ddof=1))
    s = report.seed_summary(df)
    assert list(s.index) == ["0", "1", "mean ± std"]
    assert s.loc["mean ± std", "test_acc of that trial"] == "0.7000 ± 0.1414"
    assert s["trials"].tolist() == [2, 2, 2]  # the mean row's trials are per seed, as the rows above
    shown = report.seed_summary(df, styled=True)  # the report's: every number to 4 decimals
    assert shown.caption.startswith("The best trial of each seed") and ">0.8000<" in shown.to_html()
    uneven = report.seed_summary(round_frame("round3", n=5, seeds=[0, 0, 1, 1, 1]))  # a multi-fidelity round may
    assert uneven["trials"].tolist() == [2, 3, "2-3"]


def test_best_by_seed_skips_failed_trials():
    df = round_frame("round1", n=3)
    df["best_acc"] = [0.2, 0.95, 0.5]
    df.loc[1, "status"] = "failed"
    best = report.best_by_seed(df)
    assert best["best_acc"].tolist() == [0.5]


# -- figures -----------------------------------------------------------------------------------

def test_fig3_learning_rate_title_axes_and_paper_failing_rates():
    df = round_frame("round1", n=12)
    fig = report.fig3_learning_rate(df, space=load_space("round1"), chance=0.1)
    assert title(fig) == "Fig. 3. Best Validation Accuracy by Learning Rate"  # what is plotted
    assert "Test Accuracy on Fail Learning Rate by 0.01 and 0.03" in caption(fig)  # the paper's words, quoted
    ax = fig.axes[0]
    assert ax.get_xlabel() == "learning_rate"
    assert "best_acc" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.003", "0.01", "0.03"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("0.01, 0.03" in t for t in legend)


def test_a_figure_is_described_in_words_for_its_alt_text():
    from studylib.report.display import figure_alt

    fig = report.fig8_filters(round_frame("round2", n=10), space=load_space("round2"))
    alt = figure_alt(fig)
    assert alt.startswith("Fig. 8. Best Validation Accuracy vs")
    assert "best_acc (best validation accuracy) against filters1" in alt  # each panel's axes
    assert "by filters2" in alt and "by filters3" in alt
    assert figure_alt(matplotlib.figure.Figure()) == "figure"


@pytest.mark.parametrize("fn, column, caption", [
    (report.fig5_optimizer, "optimizer", "Fig. 5. Best Validation Accuracy vs Optimizer"),
    (report.fig6_activation, "activation", "Fig. 6. Best Validation Accuracy vs Activation Function"),
    (report.fig7_batch_size, "batch_size", "Fig. 7. Best Validation Accuracy vs Batch Size"),
])
def test_figs_5_to_7_title_and_axes(fn, column, caption):
    df = round_frame("round2", n=10)
    fig = fn(df, space=load_space("round2"))
    assert title(fig) == caption
    ax = fig.axes[0]
    assert ax.get_xlabel() == column
    assert "best_acc" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(v) for v in load_space("round2")[column].values]


def test_fig4_distribution():
    df = round_frame("round2", n=10)
    fig = report.fig4_distribution(df, chance=0.1)
    assert title(fig) == "Fig. 4. Distribution of Best Validation Accuracy over the Trials"
    assert "Test Accuracy of Small CNNs on GPU" in caption(fig)
    assert "best_acc" in fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel() == "trials"


@pytest.mark.parametrize("fn, prefix, word", [(report.fig8_filters, "filters", "(Filters)"),
                                              (report.fig9_kernels, "ksize", "(Kernel)")])
def test_figs_8_9_one_panel_per_conv_layer(fn, prefix, word):
    df = round_frame("round2", n=10)
    fig = fn(df, space=load_space("round2"))
    assert title(fig).startswith(f"Fig. {8 if prefix == 'filters' else 9}. Best Validation Accuracy vs")
    assert "Network Structure Hyperparameters" in caption(fig) and word in caption(fig)
    assert [ax.get_xlabel() for ax in fig.axes] == [f"{prefix}1", f"{prefix}2", f"{prefix}3"]
    two = fn(round_frame("round1", n=6))
    assert [ax.get_xlabel() for ax in two.axes] == [f"{prefix}1", f"{prefix}2"]


def test_a_kernel_panel_says_when_its_layer_sees_one_pixel_in_every_trial():
    df = round_frame("round2", n=10)
    titles = [ax.get_title() for ax in report.fig9_kernels(df, space=load_space("round2"), input_shape=(8, 8, 1)).axes]
    # digits' 8x8 images: the stride-2 first layer and two poolings leave layer 3 a 1x1 map, whatever the crop
    assert ["1x1" in t for t in titles] == [False, False, True]
    from studylib.report.display import figure_alt

    assert "conv layer 3: kernel size (a 1x1 input in every trial: no effect)" in figure_alt(
        report.fig9_kernels(df, space=load_space("round2"), input_shape=(8, 8, 1)))  # one line
    big = report.fig9_kernels(df, space=load_space("round2"), input_shape=(32, 32, 3))
    assert not any("1x1" in ax.get_title() for ax in big.axes)
    filters = report.fig8_filters(df, space=load_space("round2"), input_shape=(8, 8, 1))
    assert not any("1x1" in ax.get_title() for ax in filters.axes)  # the filters still count


@pytest.mark.parametrize("config, side", [
    ({"border_crop": 2, "stride": 2}, 8), ({"border_crop": 1, "stride": 2}, 8), ({"stride": 1}, 7),
    ({"stride": 2, "padding": "valid"}, 32), ({"stride": 2, "pooling": "none"}, 9)])
def test_the_reports_map_arithmetic_is_the_models(config, side):
    from studylib.model import build_model
    from studylib.report.figures import conv_input_sides

    config = {"filters1": 2, "ksize1": 3, "filters2": 2, "ksize2": 2, "filters3": 2, "ksize3": 1, "hidden1": 4,
              "hidden2": 4, "learning_rate": 0.01, **config}
    model = build_model(config, (side, side, 1), 10)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert conv_input_sides(config, side) == [layer.input.shape[1] for layer in convs]


def test_figures_survive_failed_trials_and_an_empty_category():
    df = round_frame("round1", n=3)
    df["best_acc"] = np.nan
    df["status"] = "failed"
    fig = report.fig3_learning_rate(df)
    assert title(fig).startswith("Fig. 3.")
    assert report.fig4_distribution(df).axes[0].get_xlabel().startswith("best_acc")


def test_fig3_legend_names_only_colours_shown_and_empty_slots_say_why():
    space = load_space("round1")
    df = round_frame("round1", n=8)
    df["learning_rate"] = [0.01, 0.03] * 4  # only the rates the paper saw fail
    df.loc[0, "batch_size"], df.loc[0, "best_acc"], df.loc[0, "status"] = 64, np.nan, "failed"
    df.loc[1:, "batch_size"] = 32
    fig = report.fig3_learning_rate(df, space=space)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["failed in the paper (0.01, 0.03)"]
    assert sorted(t.get_text() for t in ax.texts) == ["not sampled", "not sampled"]  # 0.001 and 0.003
    fig7 = report.fig7_batch_size(df, space=space)  # 64 was sampled once, and that trial failed
    slots = {t.get_text() for t in fig7.axes[0].texts}
    assert "none finished" in slots and "not sampled" in slots


def test_a_box_of_one_trial_still_shows_its_colour():
    from matplotlib.colors import same_color

    from studylib.report.figures import FAIL_COLOR, OK_COLOR

    df = round_frame("round1", n=5)
    df["learning_rate"] = [0.001, 0.001, 0.001, 0.01, 0.003]
    df["best_acc"] = [0.5, 0.7, 0.9, 0.1, 0.8]  # 0.01 and 0.003: one trial each, boxes of no height
    fig = report.fig3_learning_rate(df, space=load_space("round1"))
    bars = {}
    for lines in fig.axes[0].collections:
        if lines.__class__.__name__ == "LineCollection":
            for (x0, y0), _ in lines.get_segments():
                bars[round((x0 + 0.3), 6)] = (y0, lines.get_colors()[0])
    assert sorted(bars) == [1, 2]  # 0.003 and 0.01; 0.001's box has a height, so colour of its own
    assert bars[2][0] == pytest.approx(0.1) and same_color(bars[2][1], FAIL_COLOR)
    assert bars[1][0] == pytest.approx(0.8) and same_color(bars[1][1], OK_COLOR)


def test_table_iv_figure_never_ranks_another_dataset_among_cifar10():
    df = round_frame("round3", n=3)  # digits
    fig = report.table_iv_figure(df)
    paper, ours = fig.axes  # two panels, each with its own axis
    labels = [t.get_text() for t in paper.get_yticklabels()]
    assert labels[0] == "ALL-CNN [37]" and not any("OUR" in t for t in labels)
    (mine,) = [t.get_text() for t in ours.get_yticklabels()]
    assert "OUR run" in mine and "digits" in mine and "digits" in ours.get_title()
    assert title(fig).startswith("Table IV.") and "without Data Augmentation" in caption(fig)
    for ax in fig.axes:  # every value label inside the plot frame
        assert all(0 <= t.get_position()[0] <= ax.get_xlim()[1] for t in ax.texts)

    cifar = report.table_iv_figure(df.assign(dataset="cifar10"))
    (ax,) = cifar.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "ALL-CNN [37]" and "OUR run" in labels[-1] and "cifar10" in labels[-1]


# -- provenance and summary -------------------------------------------------------------------

def _fake_run(tmp_path: Path, seeds=(0,)):
    from studylib.study import StudyResult

    space = load_space("round1")
    results = []
    for s in seeds:
        f = round_frame("round1", n=4, seed=s, seeds=s)
        folder = tmp_path if len(seeds) == 1 else tmp_path / f"seed-{s}"  # as run_round lays them out
        results.append(StudyResult(f"round1-random-s{s}-abcdef12", folder, f, folder / "trials.csv",
                                   trained=3, served=1, wall_time=2.0))
    data = {"dataset": "digits", "source": "sklearn.datasets.load_digits", "data_hash": "daeec2de6180b9aa",
            "input_shape": [8, 8, 1], "n_classes": 10, "n_train": 1000, "n_val": 287, "n_test": 300}
    prov = {"git_commit": "abc1234", "python": "3.11.7", "host": "box", "platform": "Linux",
            "keras_backend": "tensorflow", "libraries": {"studylib": "0.1.0", "keras": "3.3.0"}}
    return report.RoundRun(round="round1", space=space, profile="smoke", strategy="random", seeds=list(seeds),
                           settings={"trials": 4, "max_epochs": 2, "patience": 4}, out_dir=tmp_path,
                           results=results, data=data, provenance=prov, wall_time=5.0)


def test_provenance_block_states_what_produced_the_report(tmp_path):
    run = _fake_run(tmp_path)
    html = report.provenance_block(run)._repr_html_()
    for text in ("digits", "daeec2de6180b9aa", "smoke", "random", "abc1234", "keras 3.3.0", "Seeds",
                 "4 (3 trained now, 1 served from the ledger", str(tmp_path)):
        assert text in html, text
    # the trials' training time (4 x 1.5 s, from the ledger) is kept apart from this run's 5 s
    rows = dict(report.provenance_block(run).rows)
    assert rows["Training time"].startswith("6.0 s") and rows["This run"].startswith("5.0 s wall time")
    md = report.provenance_block(run)._repr_markdown_()
    assert "| **Git commit** | abc1234 |" in md


def test_summary_and_results_block_with_several_seeds(tmp_path):
    run = _fake_run(tmp_path, seeds=(0, 1, 2))
    s = run.summary()
    best = [report.best_by_seed(r.frame)["test_acc"].iloc[0] for r in run.results]
    assert s["test_acc"] == pytest.approx(np.mean(best), abs=1e-6)
    assert s["test_acc_std"] == pytest.approx(np.std(best, ddof=1), abs=1e-6)
    assert s["rows"] == 12 and s["seeds"] == [0, 1, 2] and s["dataset"] == "digits"
    text = report.results_block(run, paper_best=0.6085)._repr_html_()
    assert "±" in text and "60.85%" in text and "not CIFAR-10" in text
    assert "A smoke run on digits" in text and "compare trends" not in text  # a smoke run shows no trend either
    stored = dict(report.provenance_block(run).rows)["Trials stored in"]  # the ledgers are in each seed's folder
    assert stored.endswith("each seed's ledger.sqlite, trials.csv and studies/<study_id>.json in seed-<seed>/)")
    run.profile = "paper"
    assert "compare trends" in report.results_block(run)._repr_html_()
    path = report.write_summary(tmp_path, s)
    assert report.read_summary(tmp_path)["study_ids"] == s["study_ids"] and path.name == "summary.json"


# -- run_round (a fake executor: no training) ------------------------------------------------------

class FakeExecutor:
    """Answers every trial at once with an accuracy made from its config (no Keras)."""

    capacity = 1
    retried = []

    def start(self, objective):
        self.queue, self.objective = [], objective

    def submit(self, key, config):
        self.queue.append((key, config))

    def wait(self):
        from studylib.trial import Trial

        key, config = self.queue.pop(0)
        acc = 0.5 + 0.1 * self.objective.seed + config["filters1"] / 1000
        metrics = {"best_acc": acc, "best_loss": 1 - acc, "best_train_acc": acc, "best_train_loss": 1 - acc,
                   "best_epoch": 2, "test_acc": acc - 0.02, "test_loss": 1.0, "params": 10}
        return [Trial(key, config, metrics=metrics, epochs=2, wall_time=0.1, **self.objective.trial_fields())]

    def shutdown(self):
        pass


def test_run_round_with_several_seeds_keeps_each_study_and_reports_the_spread(tmp_path):
    from studylib import paths

    out = tmp_path / "round1"
    run = report.run_round("round1", dataset="synthetic", trials=3, seed=4, repeats=2, out_dir=out,
                           executor=FakeExecutor())
    assert run.seeds == [4, 5]
    for s in (4, 5):
        assert (out / f"seed-{s}" / paths.LEDGER_NAME).exists()
        assert len(list((out / f"seed-{s}" / "studies").glob("*.json"))) == 1
    csv = pd.read_csv(out / "trials.csv")
    assert len(csv) == 6 and sorted(csv["seed"].unique()) == [4, 5]
    assert {"filters1", "hidden1", "epochs", "study_id"} <= set(csv.columns) and "filters_1" not in csv.columns
    summary = report.read_summary(out)
    assert summary["seeds"] == [4, 5] and summary["rows"] == 6 and summary["trained"] == 6
    assert summary["best_acc_std"] > 0
    table = report.appendix_table(run)  # trial numbers restart with each seed: (seed, trial) names a row
    assert list(table.index.names) == ["seed", "trial"] and table.index.is_unique and "seed" not in table.columns
    assert list(report.seed_summary(run).index) == ["4", "5", "mean ± std"]
    assert "2 seeds" in report.provenance_block(run)._repr_html_()
    # the same call again continues (serves) the studies instead of training anew
    again = report.run_round("round1", dataset="synthetic", trials=3, seed=4, repeats=2, out_dir=out,
                             executor=FakeExecutor())
    assert again.summary()["trained"] == 0 and again.summary()["served"] == 6


def test_a_round_run_again_with_another_number_of_seeds_continues_each_study_where_it_was_begun(tmp_path):
    from studylib import paths

    out = tmp_path / "round1"
    one = report.run_round("round1", dataset="synthetic", trials=2, out_dir=out, executor=FakeExecutor())
    assert one.summary()["trained"] == 2
    two = report.run_round("round1", dataset="synthetic", trials=2, repeats=2, out_dir=out, executor=FakeExecutor())
    assert two.summary()["trained"] == 2 and two.summary()["served"] == 2  # seed 0 served, seed 1 trained
    assert [r.out_dir for r in two.results] == [out, out / "seed-1"] and not (out / "seed-0").exists()
    assert len(pd.read_csv(out / paths.TRIALS_CSV)) == 4
    stored = dict(report.provenance_block(two).rows)["Trials stored in"]
    assert "seed 0: ./; seed 1: seed-1/" in stored
    back = report.run_round("round1", dataset="synthetic", trials=2, out_dir=out, executor=FakeExecutor())
    assert back.summary()["trained"] == 0 and back.summary()["served"] == 2
    # a round begun with several seeds: one seed of it later continues in seed-<s>/
    many = tmp_path / "many"
    report.run_round("round1", dataset="synthetic", trials=2, seed=3, repeats=2, out_dir=many, executor=FakeExecutor())
    alone = report.run_round("round1", dataset="synthetic", trials=2, seed=4, out_dir=many, executor=FakeExecutor())
    assert alone.summary()["trained"] == 0 and alone.results[0].out_dir == many / "seed-4"
    assert not (many / paths.LEDGER_NAME).exists()
    assert set(pd.read_csv(many / paths.TRIALS_CSV)["seed"]) == {4}  # the round's table: what it reports
    assert "seed 4: seed-4/" in dict(report.provenance_block(alone).rows)["Trials stored in"]


def test_a_multi_fidelity_round_reports_one_row_per_config_as_trials_csv(tmp_path):
    """memetic-sh's rung trials of one config are one row of the report, numbered as in trials.csv."""
    out = tmp_path / "mf"
    run = report.run_round("round1", dataset="synthetic", strategy="memetic-sh", trials=2, max_epochs=3,
                           out_dir=out, executor="inline")
    rungs, csv = pd.read_csv(out / "rungs.csv"), pd.read_csv(out / "trials.csv")
    assert len(rungs) > len(csv) == 2  # promoted: a config trained at two rungs
    assert run.frame["trial"].tolist() == csv["trial"].tolist() and run.frame["epochs"].tolist() == csv["epochs"].tolist()
    summary = report.read_summary(out)
    assert summary["rows"] == 2 and summary["rung_trials"] == len(rungs)
    assert summary["train_time"] == pytest.approx(rungs["wall_time"].sum(), abs=0.01)  # every rung's training
    assert "2 configs" in run.context and "rung trials trained now" in report.provenance_block(run)._repr_html_()
    assert f"· 2 configs in {len(rungs)} rung trials ·" in publish.summary_line(summary)
    assert len(report.appendix_table(run)) == 2


def test_run_round_single_seed_is_flat_and_bad_input_writes_nothing(tmp_path):
    from studylib.errors import StudyError

    run = report.run_round("round2", dataset="synthetic", trials=2, out_dir=tmp_path / "r2", executor=FakeExecutor())
    assert (tmp_path / "r2" / "ledger.sqlite").exists() and (tmp_path / "r2" / "summary.json").exists()
    assert len(pd.read_csv(tmp_path / "r2" / "trials.csv")) == 2 and run.chance == pytest.approx(1 / 3)
    for bad in ({"repeats": 0}, {"trials": 0}, {"dataset": "nope"}, {"profile": "huge"}):
        with pytest.raises(StudyError):
            report.run_round("round1", out_dir=tmp_path / "bad", executor=FakeExecutor(),
                             **{"dataset": "synthetic", **bad})
    assert not (tmp_path / "bad").exists()


def test_a_rounds_trials_csv_keeps_every_trial_its_ledgers_hold(tmp_path):
    """``run round1`` (3 trials), then ``--trials 2 --seeds 2`` into the same folder: the report
    shows 2 per seed, and the round's trials.csv, which was seed 0's ledger export, keeps its 3."""
    from studylib import paths

    report.run_round("round1", dataset="synthetic", trials=3, out_dir=tmp_path, executor=FakeExecutor())
    two = report.run_round("round1", dataset="synthetic", trials=2, repeats=2, out_dir=tmp_path,
                           executor=FakeExecutor())
    assert len(two.frame) == 4
    csv = pd.read_csv(tmp_path / paths.TRIALS_CSV)
    assert csv.groupby("seed").size().to_dict() == {0: 3, 1: 2}
    assert list(csv.columns) == list(pd.read_csv(tmp_path / "seed-1" / paths.TRIALS_CSV).columns)


def test_a_rounds_strategy_options_reach_its_study_and_its_report(tmp_path):
    from studylib.errors import StudyError

    plain = report.run_round("round1", dataset="synthetic", strategy="memetic", trials=4, out_dir=tmp_path,
                             executor=FakeExecutor())
    run = report.run_round("round1", dataset="synthetic", strategy="memetic", trials=4, out_dir=tmp_path,
                           executor=FakeExecutor(), strategy_options={"population_size": 4})
    assert run.results[0].study_id != plain.results[0].study_id and run.summary()["trained"] == 4
    assert report.read_summary(tmp_path)["strategy_options"] == {"population_size": 4}
    assert dict(report.provenance_block(run).rows)["Strategy"] == "memetic (options: population_size=4)"
    assert dict(report.provenance_block(plain).rows)["Strategy"] == "memetic"
    assert "strategy memetic (population_size=4)" in publish.summary_line(report.read_summary(tmp_path))
    with pytest.raises(StudyError, match="did you mean 'population_size'"):
        report.run_round("round1", dataset="synthetic", strategy="memetic", out_dir=tmp_path / "bad",
                         executor=FakeExecutor(), strategy_options={"population_sise": 4})
    assert not (tmp_path / "bad").exists()


def test_a_multi_fidelity_rounds_figures_and_group_table_tell_early_stopped_configs_apart(tmp_path):
    """asha stops most configs after 1 epoch: their scores are not pooled silently with the
    3-epoch ones (grey triangles in the figures, the context says how many, the group table adds
    each value's configs at the top rung and their mean)."""
    from matplotlib.collections import PathCollection

    run = report.run_round("round1", dataset="synthetic", strategy="asha", trials=6, max_epochs=3, out_dir=tmp_path,
                           executor="inline")
    frame = run.frame
    low = frame["rung"] < 3
    assert 0 < low.sum() < len(frame)
    assert f"({int(low.sum())} stopped by halving before 3 epochs and scored after fewer: ▼ where points are drawn)" \
        in run.context
    table = report.group_summary(run, "learning_rate")
    assert table["trials"].sum() == len(frame) and table["at 3 epochs"].sum() == int((~low).sum())
    full = frame[~low].groupby("learning_rate")["best_acc"].mean()
    assert table["mean best_acc at 3 epochs"].dropna().to_dict() == pytest.approx(full.to_dict())
    fig = report.fig3_learning_rate(run)
    points = [c for c in fig.axes[0].collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    grey = sum(len(c.get_offsets()) for c in points if abs(c.get_facecolor()[0][0] - 0.6) < 0.01)
    assert grey == int(low.sum())
    plain = report.group_summary(report.run_round("round1", dataset="synthetic", trials=2, max_epochs=1,
                                                  out_dir=tmp_path / "r", executor="inline"), "learning_rate")
    assert list(plain.columns) == ["trials", "mean best_acc", "median best_acc", "max best_acc"]


def test_stopped_early_needs_one_row_per_config():
    from studylib.report.rounds import stopped_early

    rungs = pd.DataFrame({"key": ["a-e1", "b-e1", "a-e3"], "rung_of": ["a", "b", "a"], "rung": [1, 1, 3],
                          "study_id": "s", "best_acc": [0.5, 0.6, 0.8]})
    with pytest.raises(ValueError, match="one row per config"):
        stopped_early(rungs)  # a's rung 1 is no config stopped early
    configs = rungs.iloc[[1, 2]]
    assert stopped_early(configs).tolist() == [True, False]
    two = pd.concat([configs, configs.assign(study_id="t")])  # trials.csv of two studies sharing configs
    assert stopped_early(two).tolist() == [True, False, True, False]
    assert not stopped_early(rungs.drop(columns=["rung", "rung_of"])).any()


def test_figures_and_tables_take_a_frame_of_every_rung_as_one_row_per_config(tmp_path):
    """A multi-fidelity study's own frame (one row per rung: StudyResult.frame, Ledger.frame,
    rungs.csv) is collapsed as trials.csv is, not refused; a config whose only rung failed is not
    counted at the top rung."""
    from studylib.fidelity import collapse_rungs
    from studylib.study import search

    result = search("round1", tmp_path, strategy="asha", trials=6, dataset="synthetic", max_epochs=3,
                    executor="inline", progress=False)
    assert len(result.frame) > 6  # a row per rung
    by_rung = report.group_summary(result.frame, "learning_rate")
    pd.testing.assert_frame_equal(by_rung, report.group_summary(collapse_rungs(result.frame), "learning_rate"))
    assert by_rung["trials"].sum() == 6
    assert report.seed_summary(result.frame)["trials"].tolist() == [6]  # configs, not rung trials
    report.fig3_learning_rate(result.frame)  # draws, as for trials.csv
    configs = pd.DataFrame({"key": ["a-e3", "b-e1", "c-e1"], "rung_of": ["a", "b", "c"], "rung": [3, 1, None],
                            "status": ["ok", "ok", "failed"], "best_acc": [0.8, 0.5, None], "learning_rate": 0.01})
    table = report.group_summary(configs, "learning_rate")
    assert table["at 3 epochs"].tolist() == [1] and table["mean best_acc at 3 epochs"].tolist() == [0.8]


def test_the_published_html_keeps_a_figures_alt_text_and_size(tmp_path):
    import base64
    import re

    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig")
    png = base64.b64encode(b"\x89PNG not drawn").decode()
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png},
                                           metadata={"image/png": {"alt": "Fig. 3. a <title>", "width": 300}})]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "r.ipynb")
    publish.render_html(tmp_path / "r.ipynb", tmp_path / "r.html", "r")
    [img] = re.findall(r"<img[^>]*>", (tmp_path / "r.html").read_text())
    assert "Fig. 3. a &lt;title&gt;" in img and 'width="300"' in img
