"""The explorer's widgets driven programmatically: set values, click buttons, read the views.

Ledgers are written straight through ``Ledger.record`` with made-up results (fast), except the
"run more trials" tests, which extend a real two-trial study on the synthetic dataset.
"""
import json
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest

from _ledgers import fake_ledger
from studylib import cli
from studylib.errors import StudyError
from studylib.ledger import Ledger
from studylib.explorer import Explorer, find_ledgers, importance
from studylib.explorer.views import importance_figure
from studylib.trial import Trial


def count(e: Explorer) -> tuple[int, int]:
    """(shown, total) read from the page's count line, e.g. "<b>6</b> of 8 trials shown ..."."""
    text = e.count.value.replace("<b>", "").replace("</b>", "")
    shown, _, total = text.split()[:3]
    return int(shown), int(total)


def xticks(e: Explorer) -> list[str]:
    return [t.get_text() for t in e.figure.axes[0].get_xticklabels()]


@pytest.fixture
def ledger(tmp_path):
    return fake_ledger(tmp_path / "study")


def test_filters_change_the_counts_and_every_view(ledger):
    e = Explorer(ledger.parent)
    assert count(e) == (8, 8) and len(e.filtered) == 8
    assert set(e.filter.values) == {"learning_rate", "batch_size", "filters1"}
    png = bytes(e.plot.value)
    assert png.startswith(b"\x89PNG")

    e.filter.status.value = ("ok",)
    assert count(e) == (6, 8)
    assert set(e.filtered.status) == {"ok"}
    assert bytes(e.plot.value) != png
    assert "6 of 8 trials" in e.figure._suptitle.get_text()

    e.filter.values["learning_rate"].value = (0.001,)
    assert count(e) == (4, 8)
    assert set(e.filtered.learning_rate) == {0.001}
    assert len(e.table_frame) == 4 and set(e.table_frame.learning_rate) == {0.001}
    assert xticks(e) == ["0.001"]

    e.filter.values["batch_size"].value = (64,)
    assert count(e) == (2, 8)
    e.filter.reset_button.click()
    assert count(e) == (8, 8)
    assert e.filter.status.value == ("ok", "diverged", "failed")

    e.filter.values["filters1"].value = ()  # nothing picked: nothing shown, and the views say so
    assert count(e) == (0, 8)
    assert len(e.table_frame) == 0 and "no trials" in e.table.value


def test_figure_follows_axis_hue_and_kind(ledger):
    e = Explorer(ledger)
    ax = e.figure.axes[0]
    assert ax.get_xlabel() == "learning_rate" and xticks(e) == ["0.001", "0.01"]
    assert ax.get_ylabel().startswith("best_acc")

    e.x.value = "batch_size"
    assert e.figure.axes[0].get_xlabel() == "batch_size" and xticks(e) == ["32", "64"]
    points = sum(len(c.get_offsets()) for c in e.figure.axes[0].collections)
    assert points == 7  # the failed trial has no accuracy

    e.hue.value = "status"
    legend = e.figure.axes[0].get_legend()
    assert legend.get_title().get_text() == "status"
    assert sorted(t.get_text() for t in legend.get_texts()) == ["diverged", "ok"]

    e.kind.value = "box"
    assert len(e.figure.axes[0].patches) > 0 or len(e.figure.axes[0].lines) > 0

    e.hue.value = ""
    e.kind.value = "scatter"
    e.x.value = "params"
    assert e.figure.axes[0].get_xlabel() == "params"

    e.y.value = "best_train_acc"
    assert e.figure.axes[0].get_ylabel().startswith("best_train_acc")

    e.kind.value = "best-so-far"
    ax = e.figure.axes[0]
    assert ax.get_xlabel().startswith("trial")
    (line,) = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert list(line.get_xdata()) == list(range(1, 9))
    assert np.all(np.diff(ys[np.isfinite(ys)]) >= 0)  # best so far never goes down


def test_learning_curves_view_highlights_the_best_trial(ledger):
    from studylib.explorer.analysis import learning_curves

    e = Explorer(ledger)
    data = learning_curves(e.data.curves, e.filtered)
    assert len(data) == 7 * 2  # 2 epochs of each trial but the failed one
    assert set(data[data._best].key) == {"round1-random-0-3"}  # best_acc 0.83
    e.kind.value = "curves"
    ax = e.figure.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy per epoch"
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    assert len(lines) == 7 * 2  # validation and training per trial
    thick = [ln for ln in lines if ln.get_linewidth() > 2]
    assert [list(ln.get_xdata()) for ln in thick] == [[1, 2], [1, 2]]
    assert [list(ln.get_ydata()) for ln in thick] == [pytest.approx([0.78, 0.83]), pytest.approx([0.68, 0.73])]
    assert "best best_acc: validation" in [t.get_text() for t in ax.get_legend().get_texts()]

    e.filter.values["learning_rate"].value = (0.01,)  # the filters apply: 3 curves, the best 0.16
    lines = [ln for ln in e.figure.axes[0].get_lines() if len(ln.get_xdata())]
    assert len(lines) == 3 * 2
    assert [list(ln.get_ydata()) for ln in lines if ln.get_linewidth() > 2][0] == pytest.approx([0.11, 0.16])
    e.filter.values["learning_rate"].value = ()
    assert "no per-epoch curves" in e.figure.axes[0].texts[0].get_text()


def test_table_sorts_and_keeps_top_k(ledger):
    e = Explorer(ledger)
    t = e.table_frame
    assert list(t.best_acc.head(4)) == sorted(t.best_acc.head(4), reverse=True)
    assert t.best_acc.iloc[0] == pytest.approx(0.83)
    assert "best_acc ▼" in e.table.value.replace("<wbr>", "")

    e.descending.value = False
    assert e.table_frame.best_acc.iloc[0] == pytest.approx(0.14)
    assert pd.isna(e.table_frame.best_acc.iloc[-1])  # no accuracy (failed) last either way
    assert "best_acc ▲" in e.table.value.replace("<wbr>", "")

    e.sort_by.value = "filters1"
    assert list(e.table_frame.filters1) == sorted(e.table_frame.filters1)

    e.top_k.value = 3
    assert len(e.table_frame) == 3 and e.table.value.count("<tr") == 4  # header + 3

    e.y.value = "best_loss"  # the table follows the metric (lower is better for a loss)
    assert e.sort_by.value == "best_loss" and e.descending.value is False
    assert list(e.table_frame.best_loss) == sorted(e.table_frame.best_loss)


def test_importance_ranks_the_hyperparameter_that_matters(ledger):
    e = Explorer(ledger)
    imp = e.importance_frame
    assert imp.hyperparameter.iloc[0] == "learning_rate"
    assert imp.eta_sq.iloc[0] > 0.95
    assert set(imp.hyperparameter) == {"learning_rate", "batch_size", "filters1"}
    assert "learning_rate" in e.importance_table.value.replace("<wbr>", "") and bytes(e.importance_plot.value).startswith(b"\x89PNG")

    e.importance_by.value = "spread"
    assert list(e.importance_frame.spread) == sorted(e.importance_frame.spread, reverse=True)

    e.filter.values["learning_rate"].value = (0.01,)  # one value left: it can no longer explain anything
    assert "learning_rate" not in set(e.importance_frame.hyperparameter)


def test_test_accuracy_is_reported_never_chosen_on(ledger):
    e = Explorer(ledger, metric="test_acc")
    assert e.y.value == "best_acc"  # the y axis drives the sort, the importance and the "best" curve
    assert not {"test_acc", "test_loss"} & set(e.y.options)
    assert not {"test_acc", "test_loss"} & {o[1] if isinstance(o, tuple) else o for o in e.sort_by.options}
    assert "test_acc" in e.table_frame.columns  # shown beside the validation accuracy it was chosen on
    e.kind.value = "curves"
    assert all("test" not in t.get_text() for t in e.figure.axes[0].get_legend().get_texts())


def _multi_fidelity_ledger(folder):
    """A memetic-sh-like ledger: bookkeeping metrics (rung, rung_of, new_epochs, resumed_from) that
    track best_acc closely, and one hyperparameter that matters less."""
    path = fake_ledger(folder, n=2)
    with Ledger(path) as led:
        led.open_study("round1-memetic-sh-s0-fake", {"space": "round1", "strategy": "memetic-sh", "seed": 0},
                       {"data": {}})
        for i in range(12):
            rung = (1, 3, 9)[i % 3]
            config = {"learning_rate": (0.001, 0.01)[i % 2], "batch_size": 32, "filters1": 16}
            key = f"mf-{i}"
            led.record(Trial(key, config, metrics={"best_acc": 0.1 * rung / 9 + 0.8 + 0.001 * (i % 2),
                                                   "test_acc": 0.5, "rung": rung, "rung_of": f"c{i // 3}",
                                                   "new_epochs": rung, "resumed_from": rung // 3},
                             epochs=rung, seed=0, dataset="digits"))
            led.add_to_study("round1-memetic-sh-s0-fake", key)
    return path


def test_bookkeeping_columns_are_not_hyperparameters(tmp_path):
    e = Explorer(_multi_fidelity_ledger(tmp_path / "mf"))
    assert sorted(e.data.hyperparameters) == ["batch_size", "filters1", "learning_rate"]
    assert set(e.importance_frame.hyperparameter) <= {"learning_rate", "batch_size", "filters1"}
    assert not {"rung", "rung_of", "new_epochs", "resumed_from"} & set(e.filter.values)
    assert not {"rung", "rung_of", "new_epochs", "resumed_from"} & set(e.table_frame.columns)


def test_rung_trials_are_scored_per_fidelity_and_counted_as_configs(tmp_path):
    e = Explorer(_multi_fidelity_ledger(tmp_path / "mf"))
    imp = e.importance_frame.set_index(["round", "hyperparameter"])
    # within a rung only the learning rate moves best_acc; pooled, the rung's epochs swamp it
    for group in ("round1 @ 1 epoch", "round1 @ 3 epochs", "round1 @ 9 epochs"):
        assert imp.eta_sq[(group, "learning_rate")] == pytest.approx(1.0)
    assert importance(e.filtered, ["learning_rate"], "best_acc").eta_sq[0] < 0.05
    assert "round1 @ 3 epochs" in e.importance_table.value
    assert "14 trials shown (6 configs)" in e.count.value  # 12 rung trials of 4 configs + 2 full trials


def test_importance_is_per_round_never_pooled(tmp_path):
    fake_ledger(tmp_path / "reports" / "round1")
    fake_ledger(tmp_path / "reports" / "round2", space="round2", wide=True)
    e = Explorer(tmp_path / "reports")
    imp = e.importance_frame
    assert list(dict.fromkeys(imp["round"])) == ["round1", "round2"]
    r1, r2 = imp[imp["round"] == "round1"], imp[imp["round"] == "round2"]
    assert "border_crop" in set(r2.hyperparameter) and "border_crop" not in set(r1.hyperparameter)
    assert list(r1.eta_sq) == sorted(r1.eta_sq, reverse=True) and r1.trials.max() == 7  # round 1's trials only
    alone = importance(e.filtered[e.filtered["round"] == "round1"], ["learning_rate"], "best_acc")
    assert r1.set_index("hyperparameter").eta_sq["learning_rate"] == pytest.approx(alone.eta_sq[0])
    assert "round" in e.importance_table.value
    legend = e.importance_plot and importance_figure(imp, "best_acc", "eta_sq").axes[0].get_legend()
    assert sorted(t.get_text() for t in legend.get_texts()) == ["round1", "round2"]


def test_importance_of_no_trials_of_a_multi_fidelity_ledger_is_an_empty_table():
    """A filter that matches none (no failed trials, say) leaves an empty frame with a rung column."""
    from studylib.explorer.analysis import importance_by_round

    f = pd.DataFrame({"round": "round1", "rung": [1.0, 1.0, 3.0, 3.0] * 2, "learning_rate": [0.1, 0.01] * 4,
                      "best_acc": [0.5, 0.7, 0.6, 0.8, 0.52, 0.71, 0.61, 0.83]})
    assert importance_by_round(f.iloc[:0], ["learning_rate"]).empty
    assert list(importance_by_round(f, ["learning_rate"])["round"]) == ["round1 @ 1 epoch", "round1 @ 3 epochs"]


def test_importance_numbers():
    f = pd.DataFrame({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "best_acc": [0.1, 0.3, 0.5, 0.7]})
    imp = importance(f, ["a", "b"], "best_acc").set_index("hyperparameter")
    # total SS = 0.2; between for a: 2*(0.2-0.4)^2 + 2*(0.6-0.4)^2 = 0.16; for b: 0.04
    assert imp.loc["a", "eta_sq"] == pytest.approx(0.8) and imp.loc["b", "eta_sq"] == pytest.approx(0.2)
    assert imp.loc["a", "spread"] == pytest.approx(0.4) and imp.loc["a", "best_value"] == "2"
    loss = importance(f.rename(columns={"best_acc": "best_loss"}), ["a"], "best_loss")
    assert loss.best_value.iloc[0] == "1"  # lower is better for a loss


def test_several_ledgers_found_recursively_and_added(tmp_path):
    fake_ledger(tmp_path / "reports" / "round1", n=8)
    fake_ledger(tmp_path / "reports" / "round2" / "seed-1", n=4, seed=1, strategy="ga")
    other = fake_ledger(tmp_path / "elsewhere", n=3, seed=2)
    e = Explorer(tmp_path / "reports")
    assert [lbl for lbl, _ in e.ledger_select.options] == ["round1", "round2/seed-1"]
    assert count(e) == (12, 12)
    assert len(e.studies) == 2 and "strategy" in e.filter.values

    e.filter.values["strategy"].value = ("ga",)
    assert count(e) == (4, 12)
    e.kind.value = "best-so-far"
    e.hue.value = "strategy"
    assert e.figure.axes[0].get_legend().get_title().get_text() == "strategy"

    e.path_input.value = str(other)
    e.add_button.click()
    assert len(e.ledger_select.value) == 3 and count(e) == (4, 15)  # the strategy filter still applies
    e.ledger_select.value = (str(other),)
    assert count(e) == (3, 3)

    e.path_input.value = str(tmp_path / "missing")
    e.add_button.click()
    assert "no such file or folder" in e.source_message.value and count(e) == (3, 3)


def test_several_studies_in_one_ledger_are_told_apart(tmp_path):
    """One --out folder, three studies (two strategies, two seeds): every view reads the ledger."""
    fake_ledger(tmp_path / "out", n=8, seed=0, strategy="random")
    fake_ledger(tmp_path / "out", n=4, seed=1, strategy="random")
    fake_ledger(tmp_path / "out", n=3, seed=0, strategy="ga")
    e = Explorer(tmp_path / "out")
    assert count(e) == (15, 15) and len(e.ledgers) == 1
    assert [s["trials"] for s in e.studies] == [8, 4, 3]
    assert set(e.filter.values) >= {"strategy", "seed"}
    e.filter.values["strategy"].value = ("ga",)
    assert count(e) == (3, 15) and set(e.filtered.study) == {"round1-ga-s0-fake"}
    e.filter.reset_button.click()
    e.kind.value = "best-so-far"
    e.hue.value = "study"
    lines = [ln for ln in e.figure.axes[0].get_lines() if len(ln.get_xdata()) > 1]
    assert sorted(len(ln.get_xdata()) for ln in lines) == [3, 4, 8]  # one curve per study
    assert len(e.run.study.options) == 3


def test_reload_shows_new_trials_and_keeps_filters(ledger):
    e = Explorer(ledger)
    e.filter.values["learning_rate"].value = (0.001,)
    assert count(e) == (4, 8)
    with Ledger(ledger) as led:
        led.record(Trial("new", {"learning_rate": 0.001, "batch_size": 32, "filters1": 64},
                         metrics={"best_acc": 0.9}, dataset="digits"))
    e.reload_button.click()
    assert count(e) == (5, 9)
    assert 64 in e.filter.values["filters1"].value  # a filter that showed everything shows the new value too
    assert e.table_frame.best_acc.iloc[0] == pytest.approx(0.9)
    # what the page shows (the widgets' synced ``index``) follows the values kept across the reload
    f1, lr = e.filter.values["filters1"], e.filter.values["learning_rate"]
    assert [f1.options[i][1] for i in f1.index] == [16, 32, 64] and [lr.options[i][1] for i in lr.index] == [0.001]
    e.reload_button.click()  # and once more: the filters keep working
    lr.value = (0.01,)
    assert lr.index == (1,) and count(e) == (4, 9)


def test_bad_sources_raise_one_line_errors(tmp_path):
    with pytest.raises(StudyError, match="no such file or folder"):
        find_ledgers(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyError, match="no ledger.sqlite in"):
        find_ledgers(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StudyError, match="not a studylib ledger"):
        find_ledgers(tmp_path / "notes.txt")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(StudyError, match="not a studylib ledger"):
        find_ledgers(other)


def test_a_damaged_ledger_in_a_folder_is_left_out_not_the_folder(tmp_path, capsys):
    fake_ledger(tmp_path / "reports" / "good", n=4)
    bad = tmp_path / "reports" / "bad" / "ledger.sqlite"
    bad.parent.mkdir()
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 40)  # a copy cut short
    skipped = []
    assert find_ledgers(tmp_path / "reports", skipped) == [(tmp_path / "reports" / "good" / "ledger.sqlite").resolve()]
    assert skipped == [f"left out: ledger {bad} is not a usable SQLite file (file is not a database)"]
    e = Explorer(tmp_path / "reports")
    assert count(e) == (4, 4) and "left out:" in e.source_message.value
    with pytest.raises(StudyError, match=str(bad)):  # a folder of damaged ledgers alone is still an error
        find_ledgers(bad.parent)
    from studylib.explorer.app import resolve_sources

    assert len(resolve_sources([str(tmp_path / "reports")])[1]) == 1  # what `studylib explore` serves
    assert capsys.readouterr().err == f"studylib: note: {skipped[0]}\n"


def test_the_explorer_reads_a_ledger_without_writing_it_and_an_old_one_gains_its_columns(tmp_path, monkeypatch):
    path = fake_ledger(tmp_path / "reports" / "good", n=4)
    bad = fake_ledger(tmp_path / "reports" / "bad", n=4)
    with sqlite3.connect(bad) as con:
        con.execute("DROP TABLE study_trials")  # damaged by hand: not re-created empty by a reader
    skipped = []
    assert find_ledgers(tmp_path / "reports", skipped) == [path.resolve()]
    assert skipped == [f"left out: ledger {bad} is damaged: it has no study_trials table (a study's ledger has "
                       "trials, studies, study_trials)"]
    with sqlite3.connect(bad) as con:
        assert not con.execute("SELECT name FROM sqlite_master WHERE name = 'study_trials'").fetchall()
    from studylib.explorer import ledgers

    opened = []

    class Spy(Ledger):
        def __init__(self, path, read_only=False):
            opened.append(read_only)
            super().__init__(path, read_only)

    monkeypatch.setattr(ledgers, "Ledger", Spy)
    before = path.read_bytes()
    assert count(Explorer(tmp_path / "reports" / "good")) == (4, 4) and path.read_bytes() == before
    assert opened and all(opened)  # every open read-only
    opened.clear()
    with sqlite3.connect(path) as con:  # a ledger of an older version: the columns this one reads are added
        con.execute("ALTER TABLE trials DROP COLUMN extra")
    assert count(Explorer(tmp_path / "reports" / "good")) == (4, 4)
    assert False in opened  # (opened as a study opens it, once)
    with sqlite3.connect(path) as con:
        assert "extra" in {r[1] for r in con.execute("PRAGMA table_info(trials)")}


def test_a_ledger_a_study_is_creating_is_waited_for_not_called_damaged(tmp_path):
    import threading
    import time

    from studylib.explorer.ledgers import check_ledger

    path = tmp_path / "ledger.sqlite"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")  # what a starting study does first: an SQLite file, no tables yet
    con.close()

    def create():
        time.sleep(0.1)
        Ledger(path).close()  # then its tables

    maker = threading.Thread(target=create)
    maker.start()
    try:
        assert check_ledger(path) == 0
    finally:
        maker.join()


def test_reload_finds_the_study_folders_that_appeared_in_a_folder_given(tmp_path):
    fake_ledger(tmp_path / "reports" / "a", n=4)
    e = Explorer(tmp_path / "reports")
    assert count(e) == (4, 4) and len(e.ledger_select.options) == 1
    fake_ledger(tmp_path / "reports" / "b", n=3, seed=1)  # a study started since
    e.reload_button.click()
    assert len(e.ledger_select.options) == 2 and count(e) == (7, 7)
    e.reload_button.click()  # nothing new: the same ledgers read again
    assert len(e.ledger_select.options) == 2 and count(e) == (7, 7)
    (tmp_path / "typo").mkdir()  # a folder typed in that holds no ledger: said once, not at every Reload
    e.add_sources([tmp_path / "typo"])
    assert "no ledger.sqlite in" in e.source_message.value
    e.reload_button.click()
    assert e.source_message.value == "" and count(e) == (7, 7)


# -- the command line (bad input only: the browser test starts the real server) -------------

def run_cli(capsys, *argv):
    code = cli.main(["explore", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_explore_command_rejects_bad_input(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(capsys, tmp_path / "nope")
    assert code == 2 and err.count("\n") == 1 and "no such file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, tmp_path / "empty")
    assert code == 2 and err.count("\n") == 1 and "no ledger.sqlite" in err
    (tmp_path / "x.txt").write_text("x")
    code, _, err = run_cli(capsys, tmp_path / "x.txt")
    assert code == 2 and "not a studylib ledger" in err

    good = fake_ledger(tmp_path / "good").parent
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    code, _, err = run_cli(capsys, good, "--lab")
    assert code == 2 and err.count("\n") == 1 and "--lab needs JupyterLab" in err and "pip install jupyterlab" in err
    monkeypatch.undo()

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, _, err = run_cli(capsys, good, "--port", s.getsockname()[1])
    assert code == 2 and "is in use" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["explore", str(good), "--port", "99999"])
    assert exc.value.code == 2


def test_explore_help_and_lazy_imports():
    import subprocess

    r = subprocess.run([sys.executable, "-c", "import sys; from studylib import cli; p = cli.build_parser(); "
                        "print(sorted(m for m in ('ipywidgets', 'voila', 'jupyter_server') if m in sys.modules))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    r = subprocess.run([sys.executable, "-m", "studylib.cli", "explore", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0
    for flag in ("--port", "--no-browser", "--lab", "DIR"):
        assert flag in r.stdout


def test_notebook_is_thin_and_committed_without_outputs():
    from studylib import paths

    nb = json.loads((paths.REPO_ROOT / "notebooks" / "explore.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "Explorer(sources)" in "".join(code[1]["source"])


# -- running more trials (real training: synthetic data, 1 epoch) -----------------------------

@pytest.fixture(scope="module")
def real_study(tmp_path_factory):
    from studylib.study import search

    out = tmp_path_factory.mktemp("real") / "study"
    search("round1", out, progress=False, strategy="random", trials=2, seed=0, dataset="synthetic", max_epochs=1,
           executor="inline")
    return out


def test_learning_curves_of_a_real_study(real_study):
    e = Explorer(real_study)
    curves = e.data.curves
    assert len(curves) == 2 and list(curves.epoch) == [1, 1]  # 2 trials x 1 epoch, from the ledger
    assert curves["accuracy"].notna().all()  # training accuracy is recorded too
    best = e.data.trials.set_index("key")["best_acc"]
    assert curves.set_index("key")["val_accuracy"].to_dict() == pytest.approx(best.to_dict())
    e.kind.value = "curves"
    assert len([ln for ln in e.figure.axes[0].get_lines() if len(ln.get_xdata())]) == 2 * 2


def test_run_more_extends_the_study_with_a_live_progress_bar(real_study, capfd):
    e = Explorer(real_study)
    assert count(e) == (2, 2)
    (study,) = e.studies
    seen = []
    e.run.progress.observe(lambda ch: seen.append(ch["new"]), "value")
    e.run.trials.value = 2
    e.run.button.click()
    assert e.run.last_error is None, e.run.last_error
    assert seen[:2] == [1, 2] and e.run.progress.value == e.run.progress.max == 2 and e.run.progress.bar_style == "success"
    assert "2 trained" in e.run.message.value
    assert count(e) == (4, 4)  # refreshed
    assert len(e.table_frame) == 4 and len(e.studies) == 1
    with Ledger(real_study / "ledger.sqlite") as led:
        assert len(led.frame()) == 4
        assert len(led.study_keys(study["study_id"])) == 4  # the same study, continued
    assert len(pd.read_csv(real_study / "trials.csv")) == 4
    assert "(4 trials)" in e.run.study.options[e.run.study.value][0]
    assert "\x1b" not in capfd.readouterr().out  # outside a kernel no terminal escape clears a log that is not there


def test_run_more_with_another_seed_starts_a_study_beside_it(real_study):
    e = Explorer(real_study, executor="inline")  # (the test above trains in the default child process)
    (before,) = [s["study_id"] for s in e.studies]
    n, had = count(e)[1], e.studies[0]["trials"]
    e.run.seed.value = 7
    e.run.trials.value = 1
    e.run.button.click()
    assert e.run.last_error is None, e.run.last_error
    new = e.run.last_result.study_id
    assert new != before and "-s7-" in new
    assert [s["study_id"] for s in e.studies] == [before, new] and count(e)[1] == n + 1
    assert e.run.study.options[e.run.study.value][0].startswith(new)  # the new study is picked
    with Ledger(real_study / "ledger.sqlite") as led:  # both studies kept, each with its own trials
        assert len(led.study_keys(before)) == had and len(led.study_keys(new)) == 1
    csv = pd.read_csv(real_study / "trials.csv")  # every study of the folder, grouped, with its id
    assert list(csv.study_id) == [before] * had + [new]


def test_run_more_refuses_to_continue_a_study_whose_strategy_defaults_changed(tmp_path, monkeypatch):
    """A study begun under other defaults of its strategy has another identity now: the same seed
    would start a second study, so Run more says why and trains nothing; another seed still runs."""
    from studylib.strategies import strategy_class
    from studylib.study import search

    search("round1", tmp_path, progress=False, strategy="random", trials=1, seed=0, dataset="synthetic", max_epochs=1,
           executor="inline")
    monkeypatch.setattr(strategy_class("random"), "identity_defaults", classmethod(lambda cls, m, o: {"spread": 2}))
    e = Explorer(tmp_path, executor="inline")
    e.run.trials.value = 1
    e.run.button.click()
    assert "random&#x27;s defaults (spread) changed since it ran" in e.run.message.value and e.run.last_error
    assert "\n" not in e.run.message.value.strip() and e.run.progress.bar_style == "danger"
    assert count(e) == (1, 1) and len(e.studies) == 1
    e.run.seed.value = 3
    e.run.button.click()
    assert e.run.last_error is None, e.run.last_error
    assert len(e.studies) == 2 and count(e) == (2, 2)


def test_run_more_names_a_default_that_changed_only_in_type(tmp_path, monkeypatch):
    """The study id hashes a default as JSON text, so 2 -> 2.0 is a new identity: named, as the
    search's new-study note names it, not "its settings"."""
    from studylib.explorer.runmore import continue_study
    from studylib.strategies import strategy_class
    from studylib.study import search

    random = strategy_class("random")
    monkeypatch.setattr(random, "identity_defaults", classmethod(lambda cls, m, o: {"spread": 2}))
    search("round1", tmp_path, progress=False, strategy="random", trials=1, dataset="synthetic", max_epochs=1,
           executor="inline")
    with Ledger(tmp_path / "ledger.sqlite") as led:
        (study,) = led.studies()
    monkeypatch.setattr(random, "identity_defaults", classmethod(lambda cls, m, o: {"spread": 2.0}))
    with pytest.raises(StudyError, match=r"cannot be continued: random's defaults \(spread\) changed since it ran"):
        continue_study(tmp_path / "ledger.sqlite", study, 1, executor="inline")
    monkeypatch.setattr(random, "identity_defaults", classmethod(lambda cls, m, o: {"spread": 2, "width": 1}))
    with pytest.raises(StudyError, match=r"random's defaults \(width\) changed"):
        continue_study(tmp_path / "ledger.sqlite", study, 1, executor="inline")
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 1


def test_run_more_of_a_study_whose_strategy_is_not_known_here_is_refused_not_switched(tmp_path):
    """Another strategy (the dropdown's last) would start another study beside it: say so instead."""
    import json
    import sqlite3

    from studylib.study import search

    for seed in (0, 1):
        search("round1", tmp_path, progress=False, strategy="random", trials=1, seed=seed, dataset="synthetic",
               max_epochs=1, executor="inline")
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    sid, spec = con.execute("SELECT study_id, spec FROM studies ORDER BY created_at LIMIT 1").fetchone()
    con.execute("UPDATE studies SET spec = ? WHERE study_id = ?", (json.dumps({**json.loads(spec),
                                                                              "strategy": "climbx"}), sid))
    con.commit()
    con.close()
    e = Explorer(tmp_path, executor="inline")
    first = next(i for i, s in enumerate(e.studies) if s["study_id"] == sid)
    e.run.study.value = first
    assert e.run.button.disabled and "strategy climbx is not known here" in e.run.message.value
    e.run.study.value = 1 - first  # the random study: continued as before
    assert not e.run.button.disabled and e.run.strategy.value == "random" and e.run.message.value == ""


def test_run_more_reports_what_it_cannot_do(tmp_path):
    ledger = fake_ledger(tmp_path / "custom", space="my-space")
    e = Explorer(ledger)
    e.run.button.click()
    assert "not a built-in round" in e.run.message.value and e.run.last_error
    assert e.run.progress.bar_style == "danger" and not e.run.button.disabled
    assert count(e) == (8, 8)


def test_run_more_continues_a_study_on_a_user_space_file(tmp_path):
    """A user's space file is recorded in the ledger, so its study can be continued from the explorer."""
    from studylib.space import SearchSpace
    from studylib.study import search

    space = SearchSpace.from_dict({"name": "my-space", "dimensions": [
        {"name": "filters1", "values": [4, 8]}, {"name": "ksize1", "values": [3]},
        {"name": "hidden1", "values": [8]}, {"name": "hidden2", "values": [8]},
        {"name": "learning_rate", "values": [0.01, 0.003]}, {"name": "batch_size", "values": [64]}]})
    search(space, tmp_path, progress=False, executor="inline", trials=1, dataset="synthetic", max_epochs=1)
    e = Explorer(tmp_path, executor="inline")
    e.run.trials.value = 1
    e.run.button.click()
    assert e.run.last_error is None, e.run.last_error
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 2
    e.run.strategy.value = "grid"  # a grid study of this 4-config space: all of it, then nothing left
    e.run.trials.value = 4
    e.run.button.click()
    assert e.run.last_error is None and "has 4 trials" in e.run.message.value
    e.run.trials.value = 1
    e.run.button.click()
    assert "has tried every config of its space (4): there is nothing more to run" in e.run.last_error
    assert e.run.progress.bar_style == "danger"


def test_run_more_on_a_multi_fidelity_study_adds_that_many_configs(tmp_path):
    """--trials counts configs for asha and memetic-sh, so "run 1 more" is one more config, carried
    through its rungs, not as many configs as the study had rung trials."""
    from studylib.explorer.runmore import continue_study
    from studylib.study import search

    search("round1", tmp_path, strategy="asha", progress=False, executor="inline", trials=3, dataset="synthetic",
           max_epochs=3, train_size=200)
    before = pd.read_csv(tmp_path / "trials.csv")
    assert len(before) == 3 and len(pd.read_csv(tmp_path / "rungs.csv")) > 3
    with Ledger(tmp_path / "ledger.sqlite") as led:
        (study,) = led.studies()
    continue_study(tmp_path / "ledger.sqlite", study, 1, executor="inline")
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 4
    e = Explorer(tmp_path, executor="inline")  # the run panel says configs, as the search does
    e.run.trials.value = 1
    e.run.button.click()
    assert e.run.last_error is None, e.run.last_error
    configs, rungs = len(pd.read_csv(tmp_path / "trials.csv")), len(pd.read_csv(tmp_path / "rungs.csv"))
    assert configs == 5 and f"has {configs} configs in {rungs} rung trials" in e.run.message.value
    assert f"({configs} configs in {rungs} rung trials)" in e.run.study.options[e.run.study.value][0]


def test_the_best_curve_of_rung_trials_is_at_the_highest_rung():
    from studylib.explorer.analysis import learning_curves

    curves = pd.DataFrame({"ledger": "l", "key": ["a-e1", "b-e3", "b-e3", "b-e3"], "epoch": [1, 1, 2, 3],
                           "val_accuracy": [0.9, 0.5, 0.6, 0.8], "accuracy": 0.5})
    shown = pd.DataFrame({"ledger": "l", "key": ["a-e1", "b-e3"], "study": "s", "rung": [1, 3],
                          "best_acc": [0.9, 0.8]})
    best = learning_curves(curves, shown)
    assert set(best[best["_best"]]["key"]) == {"b-e3"}  # not the 1-epoch score, as search names it
    assert set(learning_curves(curves, shown.drop(columns="rung")).query("_best")["key"]) == {"a-e1"}
