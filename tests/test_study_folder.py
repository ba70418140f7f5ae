"""One output folder, several studies: every study keeps its trials (trials.csv has them all, with
a study_id column, and each study has its own studies/<study_id>.json); a change of the trainer's
code stops a resumed study (exit 2) unless --allow-code-change, which the ledger records."""
import json
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from studylib import cli, study, study_spec
from studylib.errors import StudyError
from studylib.ledger import Ledger
from studylib.objective import trainer_fingerprint
from studylib.outdir import GENERATOR, read_study_record
from studylib.space_file import load_space

ARGS = ["search", "round1", "--dataset", "synthetic", "--max-epochs", "1", "--executor", "inline", "--no-progress"]


def search(out, *extra):
    return cli.main([*ARGS, "--out", str(out), *map(str, extra)])


def test_identity_differences_name_each_field_as_the_study_id_hashes_it():
    old = {"seed": 0, "budget": {"max_epochs": 9, "patience": 3}, "strategy_options": {}}
    new = {"seed": 0, "budget": {"max_epochs": 27, "patience": 3}, "strategy_options": {"eta": 3.0},
           "strategy_defaults": {"eta": 3}, "in_flight": 4}
    assert study_spec.identity_differences(new, old) == [
        "budget.max_epochs", "in_flight", "strategy_defaults.eta", "strategy_options.eta"]
    assert study_spec.identity_differences({**new, "strategy_options": {"eta": 3}}, new) == ["strategy_options.eta"]
    assert study_spec.identity_differences(new, json.loads(json.dumps(new))) == []
    assert study_spec.identity_differences({"seed": 0, "strategy_options": {}}, {"seed": 0}) == ["strategy_options"]


def test_two_studies_in_one_folder_each_keep_their_results(tmp_path, capsys):
    assert search(tmp_path, "--trials", "3", "--seed", "1") == 0
    assert search(tmp_path, "--trials", "2", "--seed", "2") == 0
    capsys.readouterr()
    csv = pd.read_csv(tmp_path / "trials.csv")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ids = [s["study_id"] for s in ledger.studies()]
    assert len(ids) == 2 and "-s1-" in ids[0] and "-s2-" in ids[1]
    # rows grouped by study, in the order the studies started, each numbered from 1
    assert list(csv.study_id) == [ids[0]] * 3 + [ids[1]] * 2
    assert list(csv.trial) == [1, 2, 3, 1, 2] and list(csv.seed) == [1, 1, 1, 2, 2]
    # a notebook or report that ran one study filters by its id
    again = study.search("round1", tmp_path, executor="inline", progress=False, dataset="synthetic", max_epochs=1,
                         trials=3, seed=1)
    assert again.trained == 0 and again.study_id == ids[0]
    mine = csv[csv.study_id == again.study_id]
    assert list(mine.key) == list(again.frame.key) and mine.best_acc.tolist() == again.frame.best_acc.tolist()
    # each study has its own record; no single study.json is overwritten
    assert not (tmp_path / "study.json").exists()
    for sid, seed, trials in ((ids[0], 1, 3), (ids[1], 2, 2)):
        rec = read_study_record(tmp_path, sid)
        assert rec["study_id"] == sid and rec["seed"] == seed and rec["trials"] == rec["most_trials"] == trials
        assert rec["trainer"] == trainer_fingerprint() and rec["provenance"]["data"]["dataset"] == "synthetic"
    # a smaller re-run serves its trials; the record says what it asked and that 3 were asked once
    def rerun(**kw):
        assert study.search("round1", tmp_path, executor="inline", progress=False, dataset="synthetic",
                            max_epochs=1, seed=1, **kw).trained == 0
        rec = read_study_record(tmp_path, ids[0])
        return rec["trials"], rec["budget_epochs"], rec["most_trials"]

    assert rerun(trials=2) == (2, None, 3)
    # a run under a budget asks for the space's size (the budget ends it): not counted as asked
    assert rerun(budget_epochs=2) == (load_space("round1").size, 2, 3)
    assert rerun(trials=1) == (1, None, 3)


def test_a_code_change_stops_a_resumed_study_unless_allowed(tmp_path, capsys, monkeypatch):
    assert search(tmp_path, "--trials", "2", "--seed", "3") == 0
    before = pd.read_csv(tmp_path / "trials.csv")
    old = trainer_fingerprint()
    new = old.replace("src ", "src changed-")
    monkeypatch.setattr(study, "trainer_fingerprint", lambda: new)
    capsys.readouterr()

    assert search(tmp_path, "--trials", "3", "--seed", "3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("studylib: error: study ")
    assert old in err[0] and new in err[0] and "--allow-code-change" in err[0] and "new --out" in err[0]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "trials.csv"), before)  # nothing trained or written

    # allowed: the old trials are served (the study keeps its keys), one more is trained, the change recorded
    assert search(tmp_path, "--trials", "3", "--seed", "3", "--allow-code-change") == 0
    assert "3 trials (1 trained, 2 from the ledger)" in capsys.readouterr().out
    after = pd.read_csv(tmp_path / "trials.csv")
    assert list(after.key[:2]) == list(before.key) and len(after) == 3
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        [s] = ledger.studies()
    assert s["fingerprint"] == old and [c["to"] for c in s["code_changes"]] == [new]
    rec = read_study_record(tmp_path, s["study_id"])
    assert rec["trainer"] == new and rec["trial_keys_trainer"] == old
    # the accepted code continues without the flag; another study never reuses the old code's trials
    assert search(tmp_path, "--trials", "3", "--seed", "3") == 0
    fresh = study.search("round1", tmp_path / "other", executor="inline", progress=False, dataset="synthetic",
                         max_epochs=1, trials=2, seed=3)
    assert fresh.trained == 2 and set(fresh.frame.key).isdisjoint(before.key)


def test_a_study_continued_on_another_keras_backend_names_the_one_that_continues_it(tmp_path, capsys, monkeypatch):
    assert search(tmp_path, "--trials", "1", "--seed", "5") == 0
    old = trainer_fingerprint()
    backend = old.rsplit(" ", 1)[1]
    monkeypatch.setattr(study, "trainer_fingerprint", lambda: old.rsplit(" ", 1)[0] + " jax")
    capsys.readouterr()
    assert search(tmp_path, "--trials", "2", "--seed", "5") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"was trained on the Keras backend {backend}, this run uses jax: set KERAS_BACKEND={backend}" in line
    assert "--allow-code-change would mix two backends' trials" in line
    # the backend and the code both changed: the plain message, which names both fingerprints
    changed = old.replace("src ", "src changed-")
    monkeypatch.setattr(study, "trainer_fingerprint", lambda: changed.rsplit(" ", 1)[0] + " jax")
    assert search(tmp_path, "--trials", "2", "--seed", "5") == 2
    assert "Keras backend" not in capsys.readouterr().err
    # a code change accepted on the study's backend, then that code on another: the backend is named
    monkeypatch.setattr(study, "trainer_fingerprint", lambda: changed)
    assert search(tmp_path, "--trials", "2", "--seed", "5", "--allow-code-change") == 0
    monkeypatch.setattr(study, "trainer_fingerprint", lambda: changed.rsplit(" ", 1)[0] + " jax")
    capsys.readouterr()
    assert search(tmp_path, "--trials", "2", "--seed", "5") == 2
    assert f"was trained on the Keras backend {backend}, this run uses jax" in capsys.readouterr().err


def test_a_ledger_from_before_fingerprints_needs_the_flag(tmp_path, capsys):
    assert search(tmp_path, "--trials", "1", "--seed", "4") == 0
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    con.execute("UPDATE studies SET fingerprint = NULL")
    con.commit()
    con.close()
    capsys.readouterr()
    assert search(tmp_path, "--trials", "1", "--seed", "4") == 2
    assert "unknown (before fingerprints)" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["model.py", "training.py", "resumable.py"])
def test_the_fingerprint_hashes_the_trainer_source(name, tmp_path, monkeypatch):
    import studylib.objective as objective

    real_fingerprint = trainer_fingerprint()
    fake = tmp_path / "studylib"
    fake.mkdir()
    real = objective.__file__.rsplit("/", 1)[0]
    for f in objective.TRAINER_SOURCES:
        (fake / f).write_text(open(f"{real}/{f}").read())
    monkeypatch.setattr(objective, "__file__", str(fake / "objective.py"))
    same = trainer_fingerprint()
    assert same == real_fingerprint  # the same source files: the same fingerprint
    (fake / name).write_text((fake / name).read_text() + "\n# changed\n")
    assert trainer_fingerprint() != same


class _InterruptedExecutor:
    """An executor that is stopped (Ctrl-C) before its first trial finishes."""
    capacity, retried = 1, []

    def start(self, objective):
        pass

    def submit(self, key, config):
        pass

    def wait(self):
        raise KeyboardInterrupt

    def shutdown(self):
        pass


def test_ctrl_c_before_the_first_trial_leaves_no_empty_trials_csv(tmp_path):
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        study.search("round1", out, executor=_InterruptedExecutor(), progress=False, dataset="synthetic",
                     trials=2, max_epochs=1)
    assert (out / "ledger.sqlite").exists() and not (out / "trials.csv").exists()
    # a re-run continues and writes a readable trials.csv
    study.search("round1", out, executor="inline", progress=False, dataset="synthetic", trials=2, max_epochs=1)
    assert len(pd.read_csv(out / "trials.csv")) == 2


def test_a_study_continued_with_fewer_trials_answers_for_those_alone(tmp_path, capsys):
    """The same command with a smaller --trials prints (and returns) what a new study of that
    size would: its first trials, served from the ledger, and the best of them."""
    kw = dict(executor="inline", progress=False, dataset="digits", train_size=200, max_epochs=1, seed=3)
    full = study.search("round1", tmp_path, trials=4, **kw)
    fewer = study.search("round1", tmp_path, trials=2, **kw)
    assert (fewer.trained, fewer.served, fewer.study_id) == (0, 2, full.study_id)
    assert list(fewer.frame.key) == list(full.frame.key[:2]) and list(fewer.frame.trial) == [1, 2]
    assert fewer.best.key == full.frame[:2].loc[full.frame.best_acc[:2].idxmax(), "key"]
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 4  # the ledger keeps every trial
    capsys.readouterr()
    assert search(tmp_path, "--trials", "2", "--seed", "3", "--dataset", "digits", "--train-size", "200") == 0
    assert capsys.readouterr().out.startswith("2 trials (0 trained, 2 from the ledger)")


def test_a_folder_with_files_studylib_did_not_write_is_refused(tmp_path):
    """trials.csv is studylib's by its header (a ledger export's, a comparison's with strategy and
    seed first), whatever lies beside it (a multi-seed round's folder has no ledger of its own)."""
    from studylib.outdir import check_out_dir

    for header in ("trial,filters1,best_acc,study_id", "strategy,seed,trial,filters1,best_acc,study_id",
                   '\ufeff"trial", "filters1", "study_id"'):  # as a spreadsheet saves it: quoted, a BOM, spaces
        folder = tmp_path / str(hash(header))
        folder.mkdir()
        (folder / "trials.csv").write_text(header + "\n")
        check_out_dir(folder)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "trials.csv").write_text("my,own,data\n1,2,3\n")
    with pytest.raises(StudyError, match="holds trials.csv that studylib did not write"):
        check_out_dir(mine)
    (mine / "trials.csv").unlink()
    (mine / "index.html").write_text("<html>my site</html>")
    check_out_dir(mine)  # search and bench write no index.html
    with pytest.raises(StudyError, match="holds index.html that studylib did not write"):
        check_out_dir(mine, index=True)
    (mine / "index.html").write_text("<!DOCTYPE html><html><head><title>studylib reports — mine</title>")
    check_out_dir(mine, index=True)
    # a run's notebooks and reports: papermill's executed notebook and a published report are studylib's
    (mine / "round1.ipynb").write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {}}}))
    (mine / "round1.html").write_text("<html>my export</html>")
    with pytest.raises(StudyError, match="holds round1.ipynb and round1.html that studylib did not write"):
        check_out_dir(mine, index=True, reports=["round1"])
    check_out_dir(mine, index=True, reports=["round2"])
    (mine / "round1.ipynb").write_text(json.dumps({"cells": [], "metadata": {"papermill": {}}}))
    check_out_dir(mine, index=True, reports=["round1"])  # a report beside the run's notebook: an earlier run's
    (mine / "round1.ipynb").unlink()
    with pytest.raises(StudyError, match="holds round1.html that"):
        check_out_dir(mine, index=True, reports=["round1"])
    (mine / "round1.html").write_text(f"<html><head>\n{GENERATOR}<title>round1</title>")
    check_out_dir(mine, index=True, reports=["round1"])


def test_an_output_folder_that_cannot_take_the_files_is_refused_before_any_work(tmp_path, monkeypatch):
    from studylib.outdir import check_out_dir

    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere" / "out")
    with pytest.raises(StudyError, match="is a link to .*nowhere/out, which does not exist"):
        check_out_dir(link)
    for name, kw in (("trials.csv", {}), ("ledger.sqlite", {}), ("index.html", {"index": True}),
                     ("round1.html", {"reports": ["round1"]}), ("bench.csv", {"files": ["bench.csv"]})):
        folder = tmp_path / name.split(".")[0]
        (folder / name).mkdir(parents=True)
        with pytest.raises(StudyError, match=f"holds a folder named {name}, where studylib writes a file"):
            check_out_dir(folder, **kw)
    folder = tmp_path / "ro"
    folder.mkdir()
    ledger = folder / "ledger.sqlite"
    ledger.write_bytes(b"")
    ledger.chmod(0o444)
    if os.access(ledger, os.W_OK):  # root may write a 0444 file: see it as another user would
        monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == ledger else True)
    with pytest.raises(StudyError, match="its ledger.sqlite is read-only"):
        check_out_dir(folder)
    assert [p.name for p in folder.iterdir()] == ["ledger.sqlite"]


def test_a_study_in_another_studys_record_folder_is_refused_before_any_work(tmp_path, capsys):
    """``--out r1/studies`` (or a folder in it) would put a study among another's records: one
    line, exit 2, nothing written; the study folder itself, or a folder in it or beside it, is fine."""
    assert search(tmp_path / "r1", "--trials", 1) == 0
    capsys.readouterr()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for inner in ("r1/studies", "r1/studies/deeper"):
        assert search(tmp_path / inner, "--trials", 1) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"studylib: error: output folder {tmp_path / inner} is in {tmp_path / 'r1/studies'}, the "
                       f"record folder of the study folder {tmp_path / 'r1'}: give {tmp_path / 'r1'} itself to add "
                       "this study there, or a folder beside it")
    assert cli.main(["run", "round1", "--out", str(tmp_path / "r1/studies/run")]) == 2  # its rounds' studies too
    assert capsys.readouterr().err.startswith(f"studylib: error: output folder {tmp_path / 'r1/studies/run'} is in ")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert search(tmp_path / "r2", "--trials", 1) == 0 and search(tmp_path / "r1" / "sub", "--trials", 1) == 0


def test_whole_numbers_accept_numpy_integers_and_refuse_booleans(tmp_path, monkeypatch):
    import numpy as np

    from studylib.report.rounds import plan_round

    assert study.whole_number("repeats", np.int64(2)) == 2 and type(study.whole_number("seed", np.int32(0), minimum=0)) is int
    for bad, minimum, message in ((True, 1, "train_size must be a positive integer, got True"),
                                  (0, 1, "train_size must be a positive integer, got 0"),
                                  (-1, 0, "train_size must be a non-negative integer, got -1"),
                                  (2.0, 1, "train_size must be a positive integer, got 2.0")):
        with pytest.raises(StudyError, match=message):
            study.whole_number("train_size", bad, minimum=minimum)
    with pytest.raises(StudyError, match="train_size must be a positive integer, got True"):  # was 1 image
        study.prepare("round1", train_size=True)
    _, _, runs = plan_round("round1", repeats=np.int64(2), seed=np.int64(3), out_dir=tmp_path / "never")  # a notebook's
    assert [seed for seed, _ in runs] == [3, 4]
    loaded = []
    monkeypatch.setattr(study_spec, "load_dataset", lambda *a, **k: loaded.append(a))
    with pytest.raises(StudyError, match="at most 2147483647 .*seed 2147483647 with 2 seeds runs seeds up to 2147483648"):
        plan_round("round1", repeats=2, seed=2**31 - 1, out_dir=tmp_path / "never")
    assert not loaded  # every seed is checked before any data is loaded


def test_a_size_above_the_data_is_noted_once_and_a_profiles_is_not(capsys, monkeypatch):
    import numpy as np

    from studylib.report.rounds import plan_round

    monkeypatch.setattr(study_spec, "_NOTED", set())
    plan_round("round1", train_size=100_000, repeats=3, trials=1)  # three seeds, one note
    err = capsys.readouterr().err
    assert err == "studylib: note: train_size 100000 is more than the 1151 training images of digits: all 1151 are used\n"
    study.prepare("round1", profile="paper", trials=1)  # the profile's sizes: whatever the data holds, no note
    assert capsys.readouterr().err == ""
    spec, _ = study.prepare("round1", trials=1, budget_hours=np.float32(0.5))  # a notebook's number, kept plain
    assert type(spec.budget_hours) is float and spec.budget_hours == 0.5
