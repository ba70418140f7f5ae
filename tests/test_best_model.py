"""``studylib best``: a study's best config trained again from its seed, checked against the
ledger, saved as a Keras model (real training on digits, 1-3 epochs)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studylib import best_model as B
from studylib import cli, paths
from studylib.fidelity import training_seed


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Two study folders: random search (3 trials, 2 epochs) and asha (4 configs, rungs 1 and 3)."""
    root = tmp_path_factory.mktemp("best")
    assert cli.main(["search", "round1", "--trials", "3", "--train-size", "300", "--out", str(root / "random"),
                     "--no-progress"]) == 0
    assert cli.main(["search", "round1", "--strategy", "asha", "--trials", "4", "--max-epochs", "3", "--train-size",
                     "300", "--out", str(root / "asha"), "--no-progress"]) == 0
    return root


def run_cli(argv, capsys):
    rc = cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, [ln for ln in out.err.splitlines() if ln.strip()]


def test_the_best_config_trained_again_is_the_ledgers_and_its_model_scores_it(studies, capsys):
    import keras

    from studylib.data import load_dataset

    folder = studies / "random"
    trials = pd.read_csv(folder / paths.TRIALS_CSV)
    best_row = trials.loc[trials["best_acc"].idxmax()]
    rc, out, err = run_cli(["best", str(folder), "--no-progress"], capsys)
    assert rc == 0 and err == []
    lines = out.splitlines()
    assert lines[0].startswith(f"best: trial {int(best_row['trial'])}  filters1=")
    assert f"validation accuracy {best_row['best_acc']:.4f}, test {best_row['test_acc']:.4f}" in lines[1]
    assert lines[2] == "the same as the ledger's"
    study_id = best_row["study_id"]
    model_file = folder / f"best-{study_id}.keras"
    record = json.loads((folder / f"best-{study_id}.keras.json").read_text())
    assert record["reproduced"] is True and record["trial"] == int(best_row["trial"])
    assert record["recorded"]["test_acc"] == pytest.approx(best_row["test_acc"], abs=1e-9)
    assert record["epochs"] == 2 and record["patience"] == 4 and record["seed"] == 0
    assert record["provenance"]["libraries"]["keras"] == keras.__version__ and record["provenance"]["cpus"] >= 1
    assert record["runs"] == 1 and record["changed_since_the_study"] == []
    sizes = {k: record["data"][k] for k in ("train_size", "val_size", "test_size")}
    assert record["data"]["dataset"] == "digits" and sizes == {"train_size": 300, "val_size": 300, "test_size": 300}
    # the saved model holds the best epoch's weights: it scores the recorded test accuracy
    data = load_dataset(record["data"]["dataset"], **sizes)  # as docs/cli.md says to
    assert data.fingerprint == record["data"]["data_hash"]
    model = keras.saving.load_model(model_file)
    _, acc = model.evaluate(data.x_test, data.y_test, batch_size=int(record["config"]["batch_size"]), verbose=0)
    assert acc == pytest.approx(best_row["test_acc"], abs=1e-6)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_multi_fidelity_studys_best_is_trained_to_its_rung_without_early_stopping(studies, tmp_path):
    folder = studies / "asha"
    best = B.best_model(folder, save=tmp_path / "m.keras")
    rungs = pd.read_csv(folder / paths.TRIALS_CSV)
    assert best.epochs == int(rungs.loc[rungs["trial"] == best.trial, "rung"].iloc[0]) and best.patience is None
    assert best.reproduced and (tmp_path / "m.keras").is_file() and (tmp_path / "m.keras.json").is_file()


def test_how_each_kind_of_trial_trained():
    budget = {"max_epochs": 9, "patience": 4}
    assert B.training_of(pd.Series({"seed": 3, "rung": 27.0, "key": "k-e27"}), budget) == (27, None, 3)
    assert B.training_of(pd.Series({"seed": 3, "rung": np.nan, "key": "abc-m5"}), budget) == (5, 4, 3)
    assert B.training_of(pd.Series({"seed": 3, "run": 2.0, "key": "abc-r2"}), budget) == (9, 4, training_seed(3, 2))
    assert B.training_of(pd.Series({"seed": 0, "key": "abc"}), budget) == (9, 4, 0)


def test_not_reproduced_is_said_and_the_model_still_written(studies, capsys, monkeypatch):
    real = B.best_model

    def elsewhere(*a, **k):  # as on other hardware: the ledger's numbers differ from this training's
        best = real(*a, **k)
        best.recorded = {"best_acc": 0.5, "test_acc": 0.25}
        return best

    monkeypatch.setattr(B, "best_model", elsewhere)
    rc, out, err = run_cli(["best", str(studies / "random"), "--no-progress"], capsys)
    assert rc == 0 and "the same as the ledger's" not in out
    assert err == ["studylib: note: the ledger has validation 0.5000, test 0.2500: not reproduced here (the same "
                   "libraries: other hardware, or a nondeterministic kernel?)"]


def test_what_changed_since_the_study_is_named(studies):
    from studylib.provenance import collect

    best = B.BestModel(study_id="s", trial=1, config={}, seed=0, epochs=1, patience=None, recorded={}, result=None,
                       model=None)
    now = collect()
    best.trained_with = {**now, "keras_backend": "torch", "libraries": {**now["libraries"], "keras": "3.0.0"}}
    assert best.differences() == [f"Keras backend torch -> {now['keras_backend']}",
                                  f"keras 3.0.0 -> {now['libraries']['keras']}"]
    best.trained_with = now
    assert best.differences() == []


def test_a_replicated_best_says_so_and_gives_the_studys_mean(studies, capsys, monkeypatch):
    real = B.best_model

    def replicated(*a, **k):
        best = real(*a, **k)
        best.runs, best.mean = 3, {"best_acc": 0.75, "test_acc": 0.7}
        return best

    monkeypatch.setattr(B, "best_model", replicated)
    rc, out, _ = run_cli(["best", str(studies / "random"), "--no-progress"], capsys)
    assert rc == 0 and out.splitlines()[1] == ("a config of 3 runs (the study's mean: validation 0.7500, test "
                                               "0.7000): its first run is trained again")


def test_another_keras_backend_is_refused_before_training(studies, capsys, monkeypatch):
    from studylib import objective

    recorded = objective.trainer_fingerprint()
    monkeypatch.setattr(objective, "trainer_fingerprint", lambda: recorded.rsplit(" ", 1)[0] + " jax")
    before = sorted(p.name for p in (studies / "random").iterdir())
    rc, _, err = run_cli(["best", str(studies / "random"), "--no-progress"], capsys)
    assert rc == 2 and len(err) == 1
    assert err[0].endswith(f"was trained on the Keras backend {recorded.rsplit(' ', 1)[1]}, this process uses jax: set "
                           f"KERAS_BACKEND={recorded.rsplit(' ', 1)[1]} to train it again (the .keras file it saves "
                           "loads on any backend)")
    assert sorted(p.name for p in (studies / "random").iterdir()) == before


def test_bad_input_one_line_exit_2_nothing_written(studies, tmp_path, capsys):
    shared = tmp_path / "two"
    for name in ("random", "asha"):  # a folder of two studies
        assert cli.main(["search", "round1", "--strategy", name, "--trials", "1", "--max-epochs", "1",
                         "--train-size", "100", "--out", str(shared), "--no-progress"]) == 0
    capsys.readouterr()
    before = sorted(p.name for p in shared.iterdir())
    cases = [
        (["best", str(tmp_path / "nowhere")], "no such folder"),
        (["best", str(tmp_path / "empty")], "no ledger in"),
        (["best", str(shared)], "holds 2 studies: give one with --study (round1-random-s0-"),
        (["best", str(shared), "--study", "nope"], "no study 'nope' in"),
        (["best", str(shared), "--study", "x", "--save", str(tmp_path / "m.h5")], "use a .keras file name"),
        (["best", str(studies / "random"), "--save", str(tmp_path / "missing" / "m.keras")], "does not exist"),
        (["best", str(studies / "random"), "--save", str(tmp_path / "blocked.keras")], "blocked.keras.json is a folder"),
    ]
    (tmp_path / "blocked.keras.json").mkdir()  # the record's name taken by a folder: refused before training
    (tmp_path / "empty").mkdir()
    for argv, message in cases:
        rc, out, err = run_cli(argv + ["--no-progress"], capsys)
        assert rc == 2 and len(err) == 1 and message in err[0] and err[0].startswith("studylib: error:"), (argv, err)
    assert sorted(p.name for p in shared.iterdir()) == before and not (tmp_path / "blocked.keras").exists()


def test_data_that_no_longer_hashes_as_the_studys_is_refused(studies, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(studies / "random", folder, ignore=shutil.ignore_patterns("best-*"))
    with sqlite3.connect(folder / paths.LEDGER_NAME) as conn:  # as if the data files had changed since
        (spec,) = conn.execute("SELECT spec FROM studies").fetchone()
        conn.execute("UPDATE studies SET spec = ?", (json.dumps({**json.loads(spec), "data_hash": "0" * 16}),))
    rc, _, err = run_cli(["best", str(folder), "--no-progress"], capsys)
    assert rc == 2 and len(err) == 1 and "cannot rebuild the data of study" in err[0]
    assert not list(folder.glob("best-*"))


def test_a_study_without_a_successful_trial_has_no_best():
    class Failed:
        def frame(self, study_id):
            return pd.DataFrame({"trial": [1], "key": ["k"], "status": ["failed"], "best_acc": [np.nan]})

    with pytest.raises(B.StudyError, match="has no successful trial to train again"):
        B.best_trial(Failed(), "s", "folder")


def test_refit_trains_on_training_and_validation_for_the_trials_best_epoch(studies, capsys):
    import keras

    from studylib.data import load_dataset

    folder = studies / "random"
    trials = pd.read_csv(folder / paths.TRIALS_CSV)
    row = trials.loc[trials["best_acc"].idxmax()]
    best_epoch = int(row["best_epoch"])
    rc, out, err = run_cli(["best", str(folder), "--refit", "--no-progress"], capsys)
    assert rc == 0 and err == []
    lines = out.splitlines()
    record = json.loads((folder / f"best-{row['study_id']}-refit.keras.json").read_text())
    images = record["data"]["n_train"] + record["data"]["n_val"]
    assert images > record["data"]["n_train"] == 300
    assert lines[1].startswith(f"refit on training + validation ({images} images): {best_epoch} epoch")
    assert f"(the trial's, trained on training alone: {row['test_acc']:.4f})" in lines[1]
    assert "the same as the ledger's" not in out
    model_file = folder / f"best-{row['study_id']}-refit.keras"
    assert record["refit"] == {"on": "training + validation", "images": images, "status": "ok"}
    assert record["reproduced"] is None and record["epochs"] == best_epoch and record["patience"] is None
    assert record["retrained"]["epochs"] == best_epoch and record["retrained"]["best_acc"] is None
    # the saved model is the last epoch's: it scores the recorded test accuracy
    sizes = {k: record["data"][k] for k in ("train_size", "val_size", "test_size")}
    data = load_dataset(record["data"]["dataset"], **sizes)
    _, acc = keras.saving.load_model(model_file).evaluate(data.x_test, data.y_test, verbose=0,
                                                          batch_size=int(record["config"]["batch_size"]))
    assert acc == pytest.approx(record["retrained"]["test_acc"], abs=1e-6)
    # seeded: the same refit again gives the same network
    _, again = B.train_refit(record["config"], data, best_epoch, record["seed"])
    assert again.test_acc == pytest.approx(record["retrained"]["test_acc"], abs=1e-9)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_a_refit_whose_loss_turns_nan_writes_no_model(studies, tmp_path, capsys, monkeypatch):
    real = B.train_refit

    def diverged(*a, **k):
        model, result = real(*a, **k)
        result.status = "diverged"
        return model, result

    monkeypatch.setattr(B, "train_refit", diverged)
    rc, _, err = run_cli(["best", str(studies / "random"), "--refit", "--save", str(tmp_path / "m.keras"),
                          "--no-progress"], capsys)
    assert rc == 2 and len(err) == 1 and "the refit's loss turned NaN at epoch" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_refit_epochs_are_the_trials_best_epoch():
    assert B.refit_epochs(pd.Series({"best_epoch": 3}), 9) == 3
    assert B.refit_epochs(pd.Series({"best_epoch": 0}), 9) == 9  # diverged before any epoch: the trial's epochs
    assert B.refit_epochs(pd.Series({"best_epoch": np.nan}), 27) == 27


def test_the_epoch_bar_shows_what_a_training_measures(monkeypatch):
    from studylib import progress

    monkeypatch.setattr(progress, "interactive", lambda stream: True)
    for metric, shown in (("val_accuracy", "val_acc=0.250"), ("accuracy", "acc=0.750")):
        bar = progress.EpochBar(True, 3, metric=metric)
        bar(1, {"accuracy": 0.75, "val_accuracy": 0.25})
        assert shown in str(bar.bar) and bar.bar.n == 1
        bar.close()


def test_a_folder_of_study_folders_gives_the_best_of_all_their_studies(tmp_path, capsys):
    parent = tmp_path / "round"
    for seed in (0, 1):  # as a --seeds 2 round keeps them: seed-<s>/
        assert cli.main(["search", "round1", "--trials", "2", "--max-epochs", "1", "--train-size", "100",
                         "--seed", str(seed), "--out", str(parent / f"seed-{seed}"), "--no-progress"]) == 0
    capsys.readouterr()
    trials = pd.concat([pd.read_csv(parent / f"seed-{s}" / paths.TRIALS_CSV).assign(folder=f"seed-{s}")
                        for s in (0, 1)], ignore_index=True)
    top = trials.loc[trials["best_acc"].idxmax()]
    rc, out, err = run_cli(["best", str(parent), "--no-progress"], capsys)
    assert rc == 0 and err == []
    lines = out.splitlines()
    assert lines[0] == f"the best of 2 studies: {top['study_id']} in {parent / top['folder']}"
    assert lines[1].startswith(f"best: trial {int(top['trial'])}  ") and lines[3] == "the same as the ledger's"
    record = json.loads((parent / f"best-{top['study_id']}.keras.json").read_text())  # in the folder given
    assert record["study_folder"] == str(parent / top["folder"]) and record["best_of_studies"] == 2
    other = trials.loc[trials["study_id"] != top["study_id"]]
    pick = other.loc[other["best_acc"].idxmax()]
    best = B.best_model(parent, study=pick["study_id"], save=tmp_path / "other.keras")
    assert (best.study_id, best.trial, best.among) == (pick["study_id"], int(pick["trial"]), 1)
    with pytest.raises(B.StudyError, match="no study 'nope' in the study folders below"):
        B.best_model(parent, study="nope")


def test_a_ledger_that_is_not_one_or_is_damaged_is_one_line(studies, tmp_path, capsys):
    import shutil

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / paths.LEDGER_NAME).write_bytes(b"")  # an empty file: SQLite opens it, with no tables
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / paths.LEDGER_NAME) as conn:
        conn.execute("CREATE TABLE notes (x)")
    broken = tmp_path / "broken"
    shutil.copytree(studies / "random", broken, ignore=shutil.ignore_patterns("best-*"))
    with sqlite3.connect(broken / paths.LEDGER_NAME) as conn:
        conn.execute("UPDATE studies SET spec = '{bad'")
    for folder, message in ((empty, "is not a studylib ledger (no such table"),
                            (other, "is not a studylib ledger (no such table"),
                            (broken, "holds a damaged record (JSONDecodeError: ")):
        before = sorted(p.name for p in folder.iterdir())
        rc, _, err = run_cli(["best", str(folder), "--no-progress"], capsys)
        assert rc == 2 and len(err) == 1 and message in err[0], (folder, err)
        assert sorted(p.name for p in folder.iterdir()) == before


def test_sigterm_stops_best_as_ctrl_c_does(studies, capsys, monkeypatch):
    """So ``_save``'s clean-up runs (a SIGTERM not turned into KeyboardInterrupt ends the process
    at once, its temporary file left)."""
    import os
    import signal

    def stopped(args):  # as a batch system's SIGTERM arriving mid-save
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    monkeypatch.setattr(B, "main", stopped)
    rc, _, err = run_cli(["best", str(studies / "random"), "--no-progress"], capsys)
    assert rc == 130 and err == ["studylib: interrupted"]


def test_a_model_file_the_user_did_not_name_is_not_called_save(studies, tmp_path, capsys, monkeypatch):
    from studylib import outdir

    real = outdir.check_out_file

    def read_only(out, suffix=None, flag="--out"):
        if Path(out).parent == studies / "random":
            raise B.StudyError(f"{flag} {out}: not writable (Read-only file system)")
        return real(out, suffix, flag)

    monkeypatch.setattr(outdir, "check_out_file", read_only)
    rc, _, err = run_cli(["best", str(studies / "random"), "--no-progress"], capsys)
    assert rc == 2 and err[0].startswith("studylib: error: the model file ") and "--save" not in err[0]
    (tmp_path / "afile").write_text("")
    rc, _, err = run_cli(["best", str(studies / "random"), "--save", str(tmp_path / "afile" / "m.keras")], capsys)
    assert rc == 2 and err[0].endswith(f"{tmp_path / 'afile'} is a file, not a folder")


def _ledger_of(folder, study_id, runs, *, dataset="digits", data_hash=None):
    """A study folder whose ledger holds ``runs``: config name -> its runs' best_acc (a replicated
    config's later runs as the memetic GA records them); no training."""
    from studylib.ledger import Ledger
    from studylib.trial import Trial

    folder.mkdir(parents=True)
    with Ledger(folder / paths.LEDGER_NAME) as ledger:
        ledger.open_study(study_id, {"space": "round1", "space_hash": "h", "dataset": dataset, "data_hash": data_hash or dataset},
                          {})
        for i, (name, accs) in enumerate(runs.items()):
            for run, acc in enumerate(accs):
                key = f"{study_id}-{name}" + (f"-r{run}" if run else "")
                extra = {"run": run, "run_of": f"{study_id}-{name}"} if run else {}
                ledger.record(Trial(key, {"filters1": 8 + i}, curve={"val_accuracy": [acc]}, epochs=1, seed=0,
                                    dataset=dataset, metrics={"best_acc": acc, "test_acc": acc, **extra}))
                ledger.add_to_study(study_id, key)


def test_the_best_of_several_studies_is_the_config_ranked_over_them_all(tmp_path):
    """With replicated configs the joint ranking's spread can name another config than a study's
    own: the one trained is the one the joint ranking names, not the study's own best."""
    from studylib.ledger import Ledger

    _ledger_of(tmp_path / "a", "A", {"c": [0.80, 0.92, 0.92], "d": [0.90]})
    _ledger_of(tmp_path / "b", "B", {"e": [0.5, 0.5, 0.5, 0.5, 0.5]})
    folder, study_id, row, among = B.best_below(tmp_path, None)
    with Ledger(tmp_path / "a" / paths.LEDGER_NAME, read_only=True) as ledger:
        alone, _ = B.best_trial(ledger, "A", tmp_path / "a")
        joint, raw = B.best_trial(ledger, "A", tmp_path / "a", best=row)
    assert (folder, study_id, among) == (tmp_path / "a", "A", 2)
    assert alone["key"] == "A-c"  # A alone: c's runs (0.80, 0.92, 0.92) beat d's one 0.90
    assert row["key"] == joint["key"] == raw["key"] == "A-d"  # beside B's five equal runs: d


def test_studies_of_other_data_are_not_compared(tmp_path):
    _ledger_of(tmp_path / "a", "A", {"c": [0.8]})
    _ledger_of(tmp_path / "b", "B", {"e": [0.9]}, dataset="fashion_mnist")
    with pytest.raises(B.StudyError, match=r"hold studies of 2 search spaces or data \(A \(round1 on digits\); "
                                           r"B \(round1 on fashion_mnist\)\): their accuracies do not compare"):
        B.best_below(tmp_path, None)
    assert B.best_below(tmp_path, "B")[1] == "B"  # one of them, named
    _ledger_of(tmp_path / "c", "C", {"f": [0.7]}, data_hash="9f8e7d6c5b4a")  # digits too, another split or size
    with pytest.raises(B.StudyError, match=r"hold studies of 3 search spaces or data \(A \(round1 on digits, "
                                           r"data digits\); B \(round1 on fashion_mnist\); C \(round1 on digits, "
                                           r"data 9f8e7d6c\)\)"):  # the names alike: the data's hash tells them apart
        B.best_below(tmp_path, None)


def test_only_what_a_damaged_ledger_raises_is_called_damaged():
    with pytest.raises(B.StudyError, match=r"^cannot read x: database is locked$"):
        with B.damaged("x"):
            raise sqlite3.OperationalError("database is locked")
    with pytest.raises(B.StudyError, match=r"^x is not a studylib ledger \(no such table: studies\)$"):
        with B.damaged("x"):
            raise sqlite3.OperationalError("no such table: studies")
    with pytest.raises(ValueError, match="a bug"):  # not a record's: not hidden as one
        with B.damaged("x"):
            raise ValueError("a bug")
