"""A report's figures and tables as files for a paper (``studylib.report.keep``): drawn from a run,
each is also written below the run's folder; drawn from a DataFrame, nothing is written."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from studylib import report  # noqa: E402
from studylib.report import keep  # noqa: E402
from test_report import FakeExecutor, _fake_run  # noqa: E402


def names(folder) -> dict[str, list[str]]:
    return {kind: [p.name for p in ps] for kind, ps in keep.files(folder).items()}


def test_a_figure_drawn_from_a_run_is_written_as_pdf_and_png_with_what_made_it(tmp_path):
    run = _fake_run(tmp_path)
    fig = report.fig3_learning_rate(run)
    assert names(tmp_path) == {"figures": ["fig3_learning_rate.pdf", "fig3_learning_rate.png"], "tables": []}
    pdf = (tmp_path / "figures" / "fig3_learning_rate.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"Fig. 3. Best Validation Accuracy by Learning Rate" in pdf
    assert b"abc1234" in pdf and b"CreationDate" not in pdf  # the commit; no date: same run, same bytes
    png = Image.open(tmp_path / "figures" / "fig3_learning_rate.png")
    assert round(png.info["dpi"][0]) == keep.PNG_DPI
    assert png.size[0] >= 0.8 * fig.get_figwidth() * keep.PNG_DPI  # (bbox: tight trims the margins)
    assert "commit abc1234" in png.info["Software"] and "data daeec2de6180b9aa" in png.info["Software"]
    assert png.info["Title"] == fig.get_suptitle()
    again = tmp_path / "again"
    report.fig3_learning_rate(_fake_run(again))
    for suffix in keep.FIGURE_FORMATS:
        assert (again / "figures" / f"fig3_learning_rate{suffix}").read_bytes() == \
            (tmp_path / "figures" / f"fig3_learning_rate{suffix}").read_bytes(), suffix


def test_drawn_from_a_frame_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = _fake_run(tmp_path / "run")
    report.fig3_learning_rate(run.frame)
    report.appendix_table(run.frame, "round1", styled=True)
    report.space_table("round1", styled=True)
    assert list(tmp_path.rglob("*")) == []


def test_one_file_per_figure_the_notebook_shows_named_after_its_function(tmp_path):
    run = _fake_run(tmp_path)
    report.fig5_optimizer(run)  # drawn through accuracy_by: one figure, one name
    report.accuracy_by(run, "batch_size", "by batch size")
    report.fig8_filters(run)
    report.per_layer(run, "ksize", "kernels")
    assert names(tmp_path)["figures"] == [f"{n}{s}" for n in ("accuracy_by_batch_size", "fig5_optimizer",
                                                                "fig8_filters", "per_layer_ksize")
                                          for s in (".pdf", ".png")]


def test_a_table_is_written_as_csv_with_its_numbers_and_as_latex_with_its_caption(tmp_path):
    run = _fake_run(tmp_path)
    styled = report.appendix_table(run, styled=True)
    csv = pd.read_csv(tmp_path / "tables" / "appendix_table.csv")
    shown = styled.data.reset_index()
    assert list(csv.columns) == list(shown.columns) and len(csv) == len(shown) == 4
    assert np.allclose(csv["best_acc"], shown["best_acc"])  # unrounded: the report shows 4 decimals
    tex = (tmp_path / "tables" / "appendix_table.tex").read_text()
    assert "\\toprule" in tex and "\\label{tab:appendix_table}" in tex
    caption = re.search(r"\\caption\{(.*)\}", tex).group(1)
    assert caption.startswith("Appendix 1: trials sorted by best\\_acc")
    assert not re.search(r"(?<!\\)[_%&#]", caption)  # LaTeX's special characters escaped
    assert "best\\_acc" in tex.split("\\midrule")[0]  # the columns too
    report.group_summary(run, "learning_rate")
    report.group_summary(run, column="batch_size")
    report.table_iv(run, styled=True)
    report.table_iv_figure(run)  # draws Table IV's numbers again: a figure only
    assert names(tmp_path)["tables"] == [f"{n}{s}" for n in ("appendix_table", "group_summary_batch_size",
                                                               "group_summary_learning_rate", "table_iv")
                                         for s in (".csv", ".tex")]
    group = pd.read_csv(tmp_path / "tables" / "group_summary_learning_rate.csv")
    assert group.columns[0] == "learning_rate" and group["trials"].sum() == 4  # the index is a column
    tex = (tmp_path / "tables" / "table_iv.tex").read_text()
    assert "Accuracy (\\%)" in tex and "NOT CIFAR-10" in tex


def test_clear_removes_the_reports_files_and_keeps_anything_else(tmp_path):
    run = _fake_run(tmp_path)
    report.fig4_distribution(run)
    report.space_table(run, styled=True)
    (tmp_path / "tables" / "my notes.txt").write_text("mine")
    keep.clear(tmp_path)
    assert not (tmp_path / "figures").exists()
    assert [p.name for p in (tmp_path / "tables").iterdir()] == ["my notes.txt"]
    keep.clear(tmp_path / "never-made")  # nothing to clear: no error


def test_a_round_run_again_drops_the_earlier_reports_files(tmp_path):
    out = tmp_path / "round1"
    run = report.run_round("round1", dataset="synthetic", trials=2, out_dir=out, executor=FakeExecutor())
    report.fig3_learning_rate(run)
    report.fig4_distribution(run)
    assert len(names(out)["figures"]) == 4
    run = report.run_round("round1", dataset="synthetic", trials=3, out_dir=out, executor=FakeExecutor())
    assert names(out) == {"figures": [], "tables": []}  # not yet drawn from the 3 trials
    report.fig3_learning_rate(run)
    assert names(out)["figures"] == ["fig3_learning_rate.pdf", "fig3_learning_rate.png"]
    row = dict(report.provenance_block(run).rows)["Figures and tables as files"]
    assert str(out / "figures") in row and str(out / "tables") in row and "LaTeX" in row


def test_the_comparisons_figures_and_its_benchmarks_go_to_the_comparisons_folder(tmp_path):
    from studylib.report import compare
    from studylib.space import SearchSpace, make_dimension
    from studylib.tables import Table

    space = SearchSpace(name="toy", dimensions=(make_dimension("a", range(4)), make_dimension("b", range(4))))
    values = np.array([[-(a - 2) ** 2 - (b - 1) ** 2 + 0.1 * s for s in range(2)] for a in range(4) for b in range(4)])
    bench = compare.run_bench_curves([Table("toy", space, values, np.full(16, 2))], ["memetic", "random"], 2, 8,
                                     tmp_path / "bench", workers=1)
    compare.fig_bench_regret(bench)
    assert names(tmp_path / "bench")["figures"] == ["fig_bench_regret.pdf", "fig_bench_regret.png"]
    bench.report_dir = tmp_path  # as run_compare sets it: beside the comparison's own
    compare.bench_table(bench, styled=True)
    assert names(tmp_path)["tables"] == ["bench_table.csv", "bench_table.tex"]
    table = pd.read_csv(tmp_path / "tables" / "bench_table.csv")
    assert list(table.columns[:2]) == ["table", "strategy"] and len(table) == 2


def test_strip_plots_jitter_the_same_way_every_time_and_leave_numpys_generator_alone(tmp_path):
    from studylib.explorer import views

    frame = _fake_run(tmp_path).frame
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    pngs = {kind: [views.png(views.trial_figure(frame, len(frame), y="best_acc", x="learning_rate", hue=None,
                                                 kind=kind, runs=frame)) for _ in range(2)]
            for kind in ("strip", "box")}
    assert all(a == b for a, b in pngs.values())
    assert (np.random.get_state()[1] == before).all()
