"""A report's figures and tables as files for a paper (``studylib.report.keep``): drawn from a run,
each is also written below the run's folder; drawn from a DataFrame, nothing is written."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from studylib import report  # noqa: E402
from studylib.report import keep  # noqa: E402
from test_report import FakeExecutor, _fake_run  # noqa: E402


@pytest.fixture(autouse=True)
def writing():
    """As in a report's notebook (``notebook_setup``); off again after each test."""
    keep.enable()
    yield
    keep.enable(False)


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
    from studylib.provenance import git_commit

    made = png.info["Software"]
    assert "trials from commit abc1234" in made and "data daeec2de6180b9aa" in made
    assert f"drawn at commit {git_commit()}" in made  # this code drew it
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
    report.group_summary(run, "learning_rate", styled=True)
    report.group_summary(run, column="batch_size", styled=True)
    report.table_iv(run, styled=True)
    report.table_iv_figure(run)  # draws Table IV's numbers again: a figure only
    assert names(tmp_path)["tables"] == [f"{n}{s}" for n in ("appendix_table", "group_summary_batch_size",
                                                               "group_summary_learning_rate", "table_iv")
                                         for s in (".csv", ".tex")]
    group = pd.read_csv(tmp_path / "tables" / "group_summary_learning_rate.csv")
    assert group.columns[0] == "learning_rate" and group["trials"].sum() == 4  # the index is a column
    tex = (tmp_path / "tables" / "table_iv.tex").read_text()
    assert "Accuracy (\\%)" in tex and "NOT CIFAR-10" in tex


def test_clear_removes_the_files_it_wrote_and_keeps_anything_else(tmp_path):
    run = _fake_run(tmp_path)
    report.fig4_distribution(run)
    report.space_table(run, styled=True)
    (tmp_path / "tables" / "space_table_edited.tex").write_text("mine")  # a copy edited by hand
    keep.clear(tmp_path)
    assert not (tmp_path / "figures").exists()
    assert [p.name for p in (tmp_path / "tables").iterdir()] == ["space_table_edited.tex"]
    keep.clear(tmp_path / "never-made")  # nothing to clear: no error


def test_only_a_report_writes_files_a_script_draws_without(tmp_path):
    keep.enable(False)  # the default, outside a report's notebook
    run = report.run_round("round1", dataset="synthetic", trials=2, out_dir=tmp_path, executor=FakeExecutor())
    report.fig3_learning_rate(run)
    report.appendix_table(run, styled=True)
    assert not (tmp_path / "figures").exists() and not (tmp_path / "tables").exists()
    with matplotlib.rc_context(), pd.option_context("display.max_columns", 20, "display.width", 80):
        report.notebook_setup()  # a report's notebook: on (its theme and display options not kept here)
    assert keep.enabled()
    report.fig3_learning_rate(run)
    assert names(tmp_path)["figures"] == ["fig3_learning_rate.pdf", "fig3_learning_rate.png"]
    row = dict(report.provenance_block(run).rows)["Figures and tables as files"]
    assert str(tmp_path / "figures") in row and str(tmp_path / "tables") in row and "LaTeX" in row


def test_a_figure_file_leaves_its_title_and_caption_to_the_paper_and_the_report_keeps_them(tmp_path):
    run = _fake_run(tmp_path)
    fig = report.fig5_optimizer(run)
    assert fig._suptitle.get_visible() and fig._supxlabel.get_visible()  # the report shows them
    pdf = (tmp_path / "figures" / "fig5_optimizer.pdf").read_bytes()
    assert b"/Type3" not in pdf and b"/FontFile2" in pdf  # TrueType fonts embedded, as journals ask
    png = Image.open(tmp_path / "figures" / "fig5_optimizer.png")
    assert png.info["Title"] == "Fig. 5. Best Validation Accuracy vs Optimizer"
    assert "the paper's caption: \u201cFig. 5. Accuracy vs Optimizer\u201d" in png.info["Description"]
    import io
    import zlib

    def drawn_text(pdf: bytes) -> bytes:
        """The characters a PDF draws (TrueType: two bytes each), its content streams inflated."""
        streams = b"".join(zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
                           if m.startswith(b"x"))
        return b"".join(re.findall(rb"\x00([!-~])", streams))

    whole = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(whole, format="pdf")  # the figure as the report shows it
    assert b"Fig.5.BestValidationAccuracyvsOptimizer" in drawn_text(whole.getvalue())
    text = drawn_text(pdf)
    assert b"optimizer" in text and b"bestvalidationaccuracy" in text  # the axes' labels
    assert b"Fig.5." not in text and b"caption" not in text and b"thisrun" not in text


def test_the_first_argument_by_keyword_and_a_tables_numbers_beside_what_the_report_shows(tmp_path):
    from studylib.report import compare

    assert type(compare.bench_table(bench=None)).__name__ == "Block"  # as before the decorator
    run = _fake_run(tmp_path)
    report.fig3_learning_rate(data=run)
    assert names(tmp_path)["figures"] == ["fig3_learning_rate.pdf", "fig3_learning_rate.png"]
    shown = report.table_iv(data=run, styled=True)  # one seed: the report drops the empty spread column
    assert "± std" not in shown.data.columns
    csv = pd.read_csv(tmp_path / "tables" / "table_iv.csv")
    assert "± std" in csv.columns and csv["Accuracy (%)"].iloc[-1] == pytest.approx(
        report.table_iv(run)["Accuracy (%)"].iloc[-1], abs=0)  # the plain table's numbers
    tex = (tmp_path / "tables" / "table_iv.tex").read_text()
    assert "std" not in tex.split("\\midrule")[0] and "\\bfseries 3Conv" in tex  # OUR row in bold, as shown


def test_several_seeds_make_a_flat_latex_table_any_latex_reads(tmp_path):
    run = _fake_run(tmp_path, seeds=(0, 1))
    report.appendix_table(run, styled=True)
    report.group_summary(run, "learning_rate", styled=True)
    tex = (tmp_path / "tables" / "appendix_table.tex").read_text()
    assert "multirow" not in tex and "cline" not in tex and "\\begin{tabular}" in tex
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == 8 and all(re.match(r"[01] & [1-4] & ", row) for row in body)  # seed and trial on every row
    csv = pd.read_csv(tmp_path / "tables" / "appendix_table.csv")
    assert list(csv.columns[:2]) == ["seed", "trial"] and len(csv) == 8
    group = (tmp_path / "tables" / "group_summary_learning_rate.tex").read_text()
    assert "\n0.001 & " in group and "0.001000" not in group  # the index as the cells: 4 significant digits


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


def test_a_file_whose_writing_was_stopped_is_still_cleared(tmp_path, monkeypatch):
    """Ctrl-C between a figure's PDF and its PNG (or a table's CSV and LaTeX): the files written
    so far are listed, so the runner's clear removes them."""
    from matplotlib.figure import Figure

    run = _fake_run(tmp_path)
    real = Figure.savefig

    def stopped(self, fname, *a, **k):
        if k.get("format") == "png":
            raise KeyboardInterrupt
        return real(self, fname, *a, **k)

    monkeypatch.setattr(Figure, "savefig", stopped)
    with pytest.raises(KeyboardInterrupt):
        report.fig3_learning_rate(run)
    assert sorted(p.name for p in (tmp_path / "figures").glob("fig3*")) == ["fig3_learning_rate.pdf"]
    keep.clear(tmp_path)
    assert not (tmp_path / "figures").exists()


def test_a_value_never_reached_is_infinity_in_latex_and_names_with_spaces_are_listed(tmp_path):
    frame = pd.DataFrame({"strategy": ["memetic", "random"], "evals to reach": [37.0, float("inf")]})
    keep.write(frame.style.set_caption("reached by"), tmp_path, "with a space")
    tex = (tmp_path / "tables" / "with a space.tex").read_text()
    assert "random & $\\infty$" in tex and "memetic & 37" in tex
    assert pd.read_csv(tmp_path / "tables" / "with a space.csv")["evals to reach"].iloc[1] == float("inf")
    assert [p.name for p in keep.files(tmp_path)["tables"]] == ["with a space.csv", "with a space.tex"]
    keep.clear(tmp_path)
    assert not (tmp_path / "tables").exists()


def test_every_latex_table_has_a_caption_latex_can_number_and_small_numbers_in_math(tmp_path):
    run = _fake_run(tmp_path, seeds=(0, 1))
    report.seed_summary(run, styled=True)
    report.group_summary(run, "learning_rate", styled=True)
    for name, start in (("seed_summary", "The best trial of each seed"),
                        ("group_summary_learning_rate", "Validation accuracy (best\\_acc) of the trials by "
                                                        "learning\\_rate")):
        caption = re.search(r"\\caption\{(.*)\}", (tmp_path / "tables" / f"{name}.tex").read_text())
        assert caption and caption.group(1).startswith(start), name
    frame = pd.DataFrame({"learning rate": [5.637e-05, 0.01]}, index=pd.Index([1e-05, 0.5], name="lr"))
    keep.write(frame.style.set_caption("Table V. Final accuracy"), tmp_path, "numbers")
    tex = (tmp_path / "tables" / "numbers.tex").read_text()
    assert "\\caption{Final accuracy}" in tex  # LaTeX numbers it: no "Table 1: Table V."
    assert "$1\\times10^{-5}$ & $5.637\\times10^{-5}$" in tex and "0.5 & 0.01" in tex and "e-0" not in tex


def test_a_column_of_decimals_keeps_its_decimals_in_latex_and_text_reads_left_in_table_iv(tmp_path):
    frame = pd.DataFrame({"network": ["a", "b"], "accuracy": [92.0, 90.22]})
    keep.write(frame.style, tmp_path, "decimals")
    tex = (tmp_path / "tables" / "decimals.tex").read_text()
    assert "a & 92.00 \\\\" in tex and "b & 90.22 \\\\" in tex
    html = report.table_iv(_fake_run(tmp_path), styled=True).to_html()
    left = " ".join(re.findall(r"([^{}]*)\{\s*text-align: left", html))
    assert all(f"row0_col{c}" in left for c in (0, 2, 3)) and "row0_col1" not in left  # not Accuracy (%)


def test_a_table_wider_than_the_page_wraps_its_long_text_and_a_narrow_one_is_left_alone(tmp_path):
    note = "the text: regularization is applied which is the dropout layers (Section V.C); the rate is not given"
    wide = pd.DataFrame({"name": ["dropout", "stride"], "searched": [0.5, 1.0], "note": [note, "stride 1"],
                         "source": ["Section V.C of the paper, Table IV", "-"]})
    keep.write(wide.style.set_caption("wide"), tmp_path, "wide")
    keep.write(wide[["name", "searched"]].style.set_caption("narrow"), tmp_path, "narrow")
    tex = (tmp_path / "tables" / "wide.tex").read_text()
    letters = re.search(r"\\begin\{tabular\}\{(.*)\}\n", tex).group(1)
    shares = [float(s) for s in re.findall(r"p\{([\d.]+)\\linewidth\}", letters)]
    assert letters.startswith("lr") and len(shares) == 2 and shares[0] > shares[1]  # the note gets more
    assert sum(shares) < 1 and "\\centering\n\\caption" in tex  # the page's rest, in the text's type
    assert "\\begin{tabular}{lr}" in (tmp_path / "tables" / "narrow.tex").read_text()
    for name, columns, size in (("small", 3, "\\small"), ("smallest", 6, "\\footnotesize")):
        words = pd.DataFrame({f"column {i}": ["a-twenty-two-letter-wd more"] for i in range(columns)})
        keep.write(words.style.set_caption(name), tmp_path, name)  # its longest words need a smaller type
        tex = (tmp_path / "tables" / f"{name}.tex").read_text()
        assert f"\\label{{tab:{name}}}\n{size}\n\\begin{{tabular}}" in tex  # the caption in the text's
        shares = [float(s) for s in re.findall(r"p\{([\d.]+)\\linewidth\}", tex)]
        assert len(shares) == columns and (sum(shares) <= 1) == (name == "small")  # 6 fit in no size


def test_a_hidden_index_level_or_column_is_no_column_of_the_latex_table(tmp_path):
    index = pd.MultiIndex.from_tuples([("x", "row")], names=["outer", "inner"])
    frame = pd.DataFrame({"network": ["a"], "note": ["b"], "accuracy": [92.0]}, index=index)
    for name, styler, letters in (("shown", frame.style, "llllr"), ("no index", frame.style.hide(axis="index"), "llr"),
                                  ("no outer", frame.style.hide(axis="index", level=0), "lllr"),
                                  ("no note", frame.style.hide(subset=["note"], axis="columns"), "lllr")):
        keep.write(styler, tmp_path, name)
        assert f"\\begin{{tabular}}{{{letters}}}" in (tmp_path / "tables" / f"{name}.tex").read_text(), name
