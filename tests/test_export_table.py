"""studylib export-table: a real tiny grid study's learning curves as one row per (config, seed, epoch)."""
import json
import sqlite3

import pandas as pd
import pytest
import yaml

from studylib import cli

SPACE = {"name": "tiny", "dimensions": [
    {"name": "filters1", "values": [8, 16]}, {"name": "ksize1", "values": [3]},
    {"name": "hidden1", "values": [16]}, {"name": "hidden2", "values": [16]},
    {"name": "learning_rate", "values": [0.001, 0.01]}, {"name": "batch_size", "values": [32]}]}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished grid study of the 4-config space: 2 epochs each on the synthetic data."""
    root = tmp_path_factory.mktemp("study")
    space = root / "tiny.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = root / "out"
    rc = cli.main(["search", str(space), "--strategy", "grid", "--trials", "4", "--dataset", "synthetic",
                   "--max-epochs", "2", "--patience", "5", "--executor", "inline", "--no-progress",
                   "--out", str(out)])
    assert rc == 0
    return space, out


def test_export_writes_every_epoch_of_every_trial(study, tmp_path, capsys):
    _, out = study
    target = tmp_path / "curves.csv"
    assert cli.main(["export-table", str(out), "--table", str(target)]) == 0
    assert "8 rows (4 learning curves" in capsys.readouterr().out
    frame = pd.read_csv(target)
    assert list(frame.columns[-6:]) == ["seed", "epoch", "val_accuracy", "val_loss", "accuracy", "loss"]
    assert len(frame) == 8 and sorted(frame["epoch"].unique()) == [1, 2]
    assert len(frame.drop_duplicates(["filters1", "learning_rate"])) == 4
    with sqlite3.connect(out / "ledger.sqlite") as conn:
        rows = conn.execute("SELECT config, seed, history FROM trials").fetchall()
    assert len(rows) == 4
    for config, seed, history in rows:  # each ledger curve, value for value
        config, history = json.loads(config), json.loads(history)
        mine = frame[(frame.filters1 == config["filters1"]) & (frame.learning_rate == config["learning_rate"])
                     & (frame.seed == seed)].sort_values("epoch")
        for metric in ("val_accuracy", "val_loss", "accuracy", "loss"):
            assert mine[metric].tolist() == pytest.approx(history[metric], rel=1e-12)


@pytest.mark.parametrize("case", ["no ledger", "missing folder", "not csv", "is a folder"])
def test_bad_inputs_are_one_line_and_write_nothing(study, tmp_path, capsys, case):
    _, out = study
    source, target = str(out), tmp_path / "t.csv"
    if case == "no ledger":
        source = str(tmp_path)
    elif case == "missing folder":
        target = tmp_path / "nope" / "t.csv"
    elif case == "not csv":
        target = tmp_path / "t.txt"
    else:
        target = tmp_path / "dir.csv"
        target.mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli.main(["export-table", source, "--table", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("studylib: error: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_file_of_the_users_is_not_overwritten_an_earlier_export_is(study, tmp_path, capsys):
    _, out = study
    mine = tmp_path / "mydata.csv"
    for text in ("a,b\n1,2\n", "lr,units,seed,epoch,val_accuracy\n0.1,32,0,1,0.5\n"):  # a table made by hand too
        mine.write_text(text)
        assert cli.main(["export-table", str(out), "--table", str(mine)]) == 2
        err = capsys.readouterr().err
        assert err == (f"studylib: error: --table {mine} exists and export-table did not write it (no "
                       "mydata.provenance.json of its own beside it; an export made before studylib wrote one has "
                       "none either): give another file name, or move the file away\n")
        assert mine.read_text() == text and not (tmp_path / "mydata.provenance.json").exists()
    table = tmp_path / "curves.csv"
    table.touch()  # an empty file made for it (mktemp) is not the user's data
    assert cli.main(["export-table", str(out), "--table", str(table)]) == 0
    first = table.read_text()
    side = json.loads((tmp_path / "curves.provenance.json").read_text())
    assert side["generator"] == "studylib export-table" and side["source"] == str(out.resolve())
    assert side["rows"] == len(pd.read_csv(table)) and side["studies"] is None
    table.write_text(first[: len(first) // 2])  # an older, shorter export
    assert cli.main(["export-table", str(out), "--table", str(table)]) == 0 and table.read_text() == first
    other = tmp_path / "other.csv"  # the user's own sidecar is not written over either
    (tmp_path / "other.provenance.json").write_text('{"mine": 1}')
    assert cli.main(["export-table", str(out), "--table", str(other)]) == 2
    assert "other.provenance.json exists and export-table did not write it" in capsys.readouterr().err
    assert not other.exists() and (tmp_path / "other.provenance.json").read_text() == '{"mine": 1}'


def test_the_ledger_file_itself_or_a_folder_of_study_folders(study, tmp_path, capsys):
    _, out = study
    target = tmp_path / "t.csv"
    assert cli.main(["export-table", str(out / "ledger.sqlite"), "--table", str(target)]) == 0  # the ledger's folder
    assert len(pd.read_csv(target)) == 8
    assert json.loads((tmp_path / "t.provenance.json").read_text())["source"] == str(out.resolve())  # the folder
    capsys.readouterr()
    assert cli.main(["export-table", str(out.parent), "--table", str(tmp_path / "u.csv")]) == 2  # e.g. a run's OUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the study folders in it: {out}" in err and not (tmp_path / "u.csv").exists()
    assert cli.main(["export-table", str(out / "trials.csv"), "--table", str(tmp_path / "u.csv")]) == 2
    assert capsys.readouterr().err == (f"studylib: error: {out / 'trials.csv'} is a file: give a study folder (the "
                                       f"--out of studylib search); its study folder is {out}\n")
    assert cli.main(["export-table", str(tmp_path / "nope"), "--table", str(tmp_path / "u.csv")]) == 2
    assert capsys.readouterr().err == f"studylib: error: no such folder: {tmp_path / 'nope'}\n"
    # a study folder holding study folders of its own (a round's seeds): exported, and they are named
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copytree(out, mixed / "seed-1")
    assert cli.main(["export-table", str(mixed), "--table", str(tmp_path / "m.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "m.csv")) == 8
    assert (f"studylib: note: the folder also holds study folders of their own ({mixed / 'seed-1'}, e.g. the seeds "
            "of a `run --seeds N` round): this table has none of their trials") in capsys.readouterr().err


def test_the_studys_own_files_and_a_second_table_flag_are_refused(study, tmp_path, capsys):
    _, out = study
    own = (out / "trials.csv").read_bytes()
    assert cli.main(["export-table", str(out), "--table", str(out / "trials.csv")]) == 2
    assert "is the study's own trials.csv: write the table elsewhere" in capsys.readouterr().err
    assert (out / "trials.csv").read_bytes() == own
    for argv, message in ((["--out", "a.csv", "--table", "b.csv"], "--out is the old name of --table, given with "
                                                                     "another value: give --table only"),
                          (["--table", "b.csv", "--out", "a.csv"], "--out is the old name of --table"),
                          (["--out", "a.csv", "--out", "b.csv"], "--out given twice")):
        argv = [a if not a.endswith(".csv") else str(tmp_path / a) for a in argv]
        assert cli.main(["export-table", str(out), *argv]) == 2
        assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert cli.main(["export-table", str(out), "--out", str(tmp_path / "a.csv")]) == 0  # the old name alone still works
    assert (tmp_path / "a.csv").exists()


def test_another_studys_files_are_refused_and_short_curves_are_noted(study, tmp_path, capsys):
    import shutil

    _, src = study
    other = tmp_path / "other"
    shutil.copytree(src, other)
    before = (other / "trials.csv").read_bytes()
    assert cli.main(["export-table", str(src), "--table", str(other / "trials.csv")]) == 2
    assert "is a study's trials.csv: write the table elsewhere" in capsys.readouterr().err
    assert (other / "trials.csv").read_bytes() == before
    mf = tmp_path / "mf"
    assert cli.main(["search", "round1", "--strategy", "asha", "--trials", "4", "--dataset", "synthetic",
                     "--max-epochs", "3", "--executor", "inline", "--no-progress", "--out", str(mf)]) == 0
    capsys.readouterr()
    assert cli.main(["export-table", str(mf), "--table", str(tmp_path / "mf.csv")]) == 0
    table = pd.read_csv(tmp_path / "mf.csv")
    lengths = table.groupby(list(table.columns[:table.columns.get_loc("epoch")]))["epoch"].max()
    short = int((lengths < 3).sum())
    assert 0 < short < 4  # asha promoted some configs, not all
    assert f"studylib: note: {short} of 4 curves end before epoch 3" in capsys.readouterr().err


def test_study_option_exports_only_that_study(study, tmp_path, capsys):
    import shutil

    _, src = study
    out = tmp_path / "two"
    shutil.copytree(src, out)
    (grid_id,) = set(pd.read_csv(out / "trials.csv").study_id)
    assert cli.main(["search", "round1", "--strategy", "random", "--trials", "1", "--seed", "3", "--dataset",
                     "synthetic", "--max-epochs", "3", "--patience", "5", "--executor", "inline", "--no-progress",
                     "--out", str(out)]) == 0
    (random_id,) = set(pd.read_csv(out / "trials.csv").study_id) - {grid_id}
    both, only, other = tmp_path / "both.csv", tmp_path / "only.csv", tmp_path / "other.csv"
    capsys.readouterr()
    # two spaces (tiny, round1) in one table would give round1's configs tiny's columns
    assert cli.main(["export-table", str(out), "--table", str(both)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds studies of 2 search spaces or data" in err and "export one with --study" in err
    assert not both.exists()
    assert cli.main(["export-table", str(out), "--table", str(only), "--study", grid_id]) == 0
    assert cli.main(["export-table", str(out), "--table", str(other), "--study", random_id]) == 0
    assert len(pd.read_csv(only)) == 8 and len(pd.read_csv(other)) == 3
    assert "border_crop" not in pd.read_csv(other).columns and "filters2" in pd.read_csv(other).columns
    # early stopping off (patience 5): every curve reaches the last epoch, so no note
    assert "1 learning curve, one per config" in capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["export-table", str(out), "--table", str(tmp_path / "x.csv"), "--study", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--study nope: no such study" in err and grid_id in err
    assert not (tmp_path / "x.csv").exists()


def test_an_exported_grid_study_benchmarks_round_trip(study, tmp_path, capsys):
    """export-table then bench --fidelity epoch: regrets come from the study's own final-epoch values."""
    _, out = study
    table = tmp_path / "tiny-curves.csv"
    assert cli.main(["export-table", str(out), "--table", str(table)]) == 0
    rc = cli.main(["bench", "--table", str(table), "--fidelity", "epoch", "--metric", "val_loss",
                   "--direction", "minimize", "--strategies", "random,asha", "--seeds", "2", "--budget-epochs", "5",
                   "--workers", "1", "--out", str(tmp_path / "b")])
    assert rc == 0, capsys.readouterr().err
    bench = pd.read_csv(tmp_path / "b" / "bench.csv")
    final = pd.read_csv(table).query("epoch == 2").set_index(["filters1", "learning_rate"]).val_loss
    random = bench[bench.strategy == "random"]
    assert random.groupby("seed").cost.max().tolist() == [5, 5]  # 2 + 2 + a last trial capped to 1 epoch
    assert set(random.cost) == {2, 4, 5}
    # regrets are differences of the study's final losses (one seed per config: exact values)
    gaps = {round(v - final.min(), 9) for v in final}
    assert {round(v, 9) for v in bench.regret} <= gaps
    assert (bench.groupby(["strategy", "seed"]).cost.max() <= 5).all()


def test_an_interrupted_export_keeps_the_old_table_and_leaves_no_temporary_file(study, tmp_path, monkeypatch):
    _, out = study
    target = tmp_path / "curves.csv"
    assert cli.main(["export-table", str(out), "--table", str(target)]) == 0
    before, side = target.read_bytes(), (tmp_path / "curves.provenance.json").read_bytes()

    def interrupted(self, path, **kwargs):
        open(path, "w").write("half a tab")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    assert cli.main(["export-table", str(out), "--table", str(target)]) == 130  # Ctrl-C's code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "curves.provenance.json"]
    assert target.read_bytes() == before and (tmp_path / "curves.provenance.json").read_bytes() == side
    assert cli.main(["export-table", str(out), "--table", str(tmp_path / "new.csv")]) == 130  # a new name: nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "curves.provenance.json"]


def test_a_partial_grid_is_noted_with_the_values_it_misses(study, tmp_path, capsys):
    """Half a grid can be a whole grid of a smaller space (filters1 fixed): bench would not
    notice, so export-table says how many of the study's configs the table holds; configs that
    span no whole grid of their values bench refuses, and the note says that instead."""
    space, _ = study
    out = tmp_path / "half"
    assert cli.main(["search", str(space), "--strategy", "grid", "--trials", "2", "--dataset", "synthetic",
                     "--max-epochs", "2", "--patience", "5", "--executor", "inline", "--no-progress",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["export-table", str(out), "--table", str(tmp_path / "half.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    # grid order is shuffled: its first 2 configs differ in both filters1 and learning_rate
    assert ("studylib: note: the table holds 2 of the space's 4 configs, and bench --fidelity epoch refuses it: 2 of "
            "the 4 combinations of the values it holds have no curve") in err
    assert err.rstrip().endswith("a grid study with --trials 4 covers it all (a config that failed has no curve: "
                                 "--retry-failed trains it again)")
    # which values the table misses: here the half the grid with filters1 at 8
    from studylib.export_table import coverage_note, learning_curves

    whole = learning_curves(study[1])
    half = whole[whole.filters1 == 8].copy()
    half.attrs["space"] = whole.attrs["space"]
    assert "holds 2 of the space's 4 configs" in coverage_note(half) and "(filters1 only 8)" in coverage_note(half)
    assert coverage_note(whole) is None
    # configs that span no whole grid of their values: bench refuses such a table, and the note says so
    three = whole[(whole.filters1 == 8) | (whole.learning_rate == 0.001)].copy()
    three.attrs["space"] = whole.attrs["space"]
    assert ("holds 3 of the space's 4 configs, and bench --fidelity epoch refuses it: 1 of the 4 combinations of the "
            "values it holds have no curve") in coverage_note(three)
    three.to_csv(tmp_path / "three.csv", index=False)
    capsys.readouterr()
    assert cli.main(["bench", "--table", str(tmp_path / "three.csv"), "--fidelity", "epoch", "--metric",
                     "val_accuracy", "--direction", "maximize", "--seeds", "1", "--budget-epochs", "4",
                     "--out", str(tmp_path / "b")]) == 2
    assert "1 of 4 combinations missing" in capsys.readouterr().err


def test_a_ledger_record_damaged_by_hand_is_one_line(study, tmp_path, capsys):
    import shutil

    _, out = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with sqlite3.connect(copy / "ledger.sqlite") as conn:
        conn.execute("UPDATE trials SET config = '{bad' WHERE rowid = 1")
    conn.close()
    assert cli.main(["export-table", str(copy), "--table", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"studylib: error: {copy / 'ledger.sqlite'} holds a damaged record (JSONDecodeError: ")
    assert err.count("\n") == 1 and not (tmp_path / "t.csv").exists()
    from studylib.explorer import Explorer

    e = Explorer(copy)  # the explorer says it too, in the page
    assert "cannot read the ledgers: JSONDecodeError" in e.source_message.value
    with sqlite3.connect(copy / "ledger.sqlite") as conn:  # JSON, but not a history: a list, not metric -> values
        conn.execute("UPDATE trials SET config = (SELECT config FROM trials WHERE rowid = 2) WHERE rowid = 1")
        conn.execute("UPDATE trials SET history = '[1, 2]'")
    conn.close()
    assert cli.main(["export-table", str(copy), "--table", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "holds a damaged record (a history that is not metric -> values: [1, 2])" in err and err.count("\n") == 1
    with sqlite3.connect(copy / "ledger.sqlite") as conn:  # a metric without its list of values
        conn.execute("""UPDATE trials SET history = '{"loss": 5}'""")
    conn.close()
    assert cli.main(["export-table", str(copy), "--table", str(tmp_path / "t.csv")]) == 2
    assert "a history that is not metric -> values: {'loss': 5})" in capsys.readouterr().err


def test_a_table_given_as_a_link_is_written_where_it_points(study, tmp_path, capsys):
    _, out = study
    (tmp_path / "results").mkdir()
    link = tmp_path / "curves.csv"
    link.symlink_to(tmp_path / "results" / "curves.csv")  # dangling until the export writes it
    assert cli.main(["export-table", str(out), "--table", str(link)]) == 0
    assert link.is_symlink() and len(pd.read_csv(link)) == 8  # the link is kept, its file written
    assert (tmp_path / "results" / "curves.provenance.json").exists()
    assert cli.main(["export-table", str(out), "--table", str(link)]) == 0  # the export it points at is ours
    assert link.is_symlink()
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    capsys.readouterr()
    assert cli.main(["export-table", str(out), "--table", str(tmp_path / "a.csv")]) == 2
    assert capsys.readouterr().err == (f"studylib: error: --table {tmp_path / 'a.csv'} is a symbolic link that "
                                       "points, through links, back at itself: give a file\n")
