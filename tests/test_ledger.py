import math

import pandas as pd
import pytest

from studylib.ledger import Ledger, paper_csv_frame, write_csv_atomic
from studylib.objective import trial_key
from studylib.space import SearchSpace
from studylib.study import search
from studylib.trial import Trial

METRICS = {"best_acc": 0.5, "best_loss": 1.2, "best_train_acc": 0.6, "best_train_loss": 1.0, "best_epoch": 2,
           "test_acc": 0.48, "test_loss": 1.3, "params": 123}


def trial(key, config, seed=0, **changes):
    return Trial(**{"key": key, "config": config, "metrics": METRICS, "curve": {"val_accuracy": [0.4, 0.5, 0.45]},
                    "epochs": 3, "wall_time": 1.5, "seed": seed, "dataset": "digits", "budget": {"max_epochs": 2},
                    **changes})


def test_record_is_durable_and_keyed(tmp_path):
    path = tmp_path / "ledger.sqlite"
    config = {"filters1": 8, "learning_rate": 0.001}
    key = trial_key(config, "datahash", {"max_epochs": 2, "patience": 4}, 0)
    assert key == trial_key(dict(reversed(list(config.items()))), "datahash", {"patience": 4, "max_epochs": 2}, 0)
    assert key != trial_key(config, "datahash", {"max_epochs": 2, "patience": 4}, 1)
    assert key != trial_key(config, "otherdata", {"max_epochs": 2, "patience": 4}, 0)
    assert key != trial_key(config, "datahash", {"max_epochs": 2, "patience": 4}, 0, code="studylib 0.1.0 src x")
    ledger = Ledger(path)
    first = trial(key, config, host="h", pid=7)
    ledger.record(first)
    ledger.record(trial(key, config, metrics=dict(METRICS, best_acc=0.9)))  # kept once
    # no close(): a second connection (another process after a crash) sees the committed row
    row = Ledger(path).get(key)
    assert row == first  # a Trial round-trips through its ledger row
    assert row.metrics["best_acc"] == 0.5 and row.config == config and row.curve["val_accuracy"][1] == 0.5
    nan = Ledger(path)
    nan.record(trial("k2", config, 1, metrics=dict(METRICS, best_loss=float("nan")), status="diverged"))
    assert math.isnan(nan.get("k2").metrics["best_loss"]) and nan.get("k2").status == "diverged"
    # metrics outside the paper's fields (a benchmark table's value) travel in the row too
    nan.record(Trial("k3", {"x": 1}, metrics={"value": 0.25, "index": 4}, dataset="hand"))
    assert nan.get("k3").metrics["value"] == 0.25 and nan.get("k3").metrics["index"] == 4


def test_trial_round_trips_through_a_csv_row(tmp_path):
    t = trial("k", {"filters1": 8, "learning_rate": 0.001}, host="h", pid=3)
    pd.DataFrame([t.to_csv_row()]).to_csv(tmp_path / "t.csv", index=False)
    row = pd.read_csv(tmp_path / "t.csv").iloc[0].to_dict()
    back = Trial.from_csv_row(row, ["filters1", "learning_rate"], budget=t.budget)
    assert back == Trial(**{**t.__dict__, "curve": {}})  # the curve is not a CSV column
    assert back.cost == {"epochs": 3, "wall_time": 1.5}


def test_corrupt_ledger_is_a_clear_error(tmp_path):
    from studylib.errors import StudyError

    bad = tmp_path / "ledger.sqlite"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(StudyError, match="not a usable SQLite file"):
        Ledger(bad)


TINY = SearchSpace.from_dict({"name": "tiny", "dimensions": [
    {"name": "filters1", "values": [4, 8]}, {"name": "ksize1", "values": [3]},
    {"name": "hidden1", "values": [8]}, {"name": "hidden2", "values": [8]},
    {"name": "learning_rate", "values": [0.01, 0.003]}, {"name": "batch_size", "values": [64]}]})


def test_repeats_are_served_not_retrained_and_studies_continue(tmp_path):
    opts = dict(strategy="random", seed=1, dataset="synthetic", max_epochs=1, progress=False)
    first = search(TINY, tmp_path, trials=3, **opts)
    # random search on a 4-config space proposes repeats; they are not counted as trials
    assert len(first.frame) == 3 and first.frame.key.is_unique and first.trained == 3
    again = search(TINY, tmp_path, trials=3, **opts)  # same command, same folder: nothing to do
    assert again.trained == 0 and again.served == 3
    pd.testing.assert_frame_equal(first.frame, again.frame)
    more = search(TINY, tmp_path, trials=4, **opts)  # asking for more continues the same study
    assert more.trained == 1 and len(more.frame) == 4
    pd.testing.assert_frame_equal(more.frame.iloc[:3], first.frame)
    csv = pd.read_csv(tmp_path / "trials.csv")
    assert len(csv) == 4
    for col in ("trial", "best_acc", "best_loss", "best_train_acc", "best_train_loss", "epochs",
                "filters1", "learning_rate", "test_acc", "status"):
        assert col in csv.columns


def test_paper_column_names():
    df = pd.DataFrame([{"trial": 1, "filters1": 8, "hidden1": 60, "best_acc": 0.5, "epochs": 3, "test_acc": 0.4}])
    out = paper_csv_frame(df, {"filters1": "filters_1", "hidden1": "full_hidd_1"})
    assert list(out.columns) == ["trial", "best_acc", "filters_1", "full_hidd_1", "no_epochs", "test_acc"]


def test_concurrent_csv_writers_never_rename_each_others_temporary_file(tmp_path):
    """Studies sharing a folder export its trials.csv at the same time: each writer's temporary
    file is its own (one shared name made a writer rename another's file away), none is left."""
    import threading

    path, df = tmp_path / "trials.csv", pd.DataFrame({"a": range(2000), "b": range(2000)})
    errors = []

    def write():
        try:
            for _ in range(30):
                write_csv_atomic(df, path)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [p.name for p in tmp_path.iterdir()] == ["trials.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(path), df)


def test_a_ledger_whose_journal_cannot_be_made_is_read_as_it_is(tmp_path):
    """An archived study (a folder that cannot be written) is read read-only: SQLite cannot make
    the WAL reader's -shm/-wal beside it there (here: a folder stands in that file's place, which
    fails for root too), so the ledger is read as an unchanging file."""
    from studylib.explorer import Explorer

    path = tmp_path / "archive" / "ledger.sqlite"
    path.parent.mkdir()
    with Ledger(path) as led:
        led.record(trial("k1", {"filters1": 8}))
    (tmp_path / "archive" / "ledger.sqlite-wal").mkdir()
    with Ledger(path, read_only=True) as led:
        assert [t.key for t in map(led.get, ["k1"])] == ["k1"] and led.count() == 1 and len(led.histories()) == 1
    assert len(Explorer(tmp_path / "archive").data.trials) == 1


def test_a_ledger_of_an_older_version_reads_read_only(tmp_path):
    """Read-only, a ledger is not given the columns added since it was written (ADDED_COLUMNS):
    its readers get None there, not an SQL error."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.record(trial("k1", {"filters1": 8}))
        led.open_study("s1", {"space": "round1"}, {})
        led.add_to_study("s1", "k1")
        for table, column in (("trials", "extra"), ("studies", "fingerprint"), ("studies", "code_changes")):
            led.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    with Ledger(path, read_only=True) as old:
        (study,) = old.studies()
        assert study["study_id"] == "s1" and study["fingerprint"] is None and study["code_changes"] == []
        assert [k for k, *_ in old.histories(["s1"])] == ["k1"]


def test_a_reader_leaves_no_journal_files_beside_a_ledger_that_had_none(tmp_path):
    """``export-table`` and ``explore`` read a finished study's ledger read-only: SQLite's WAL
    reader makes ``-wal`` and ``-shm`` files, which are removed again when it closes, unless a
    writer still has the ledger open (its journal is then its own)."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.record(trial("k1", {"filters1": 8}))
    journal = lambda: sorted(p.name for p in tmp_path.iterdir() if p.name != "ledger.sqlite")  # noqa: E731
    assert journal() == []
    with Ledger(path, read_only=True) as led:
        assert led.count() == 1
    assert journal() == []
    with Ledger(path) as writer:
        with Ledger(path, read_only=True) as led:
            assert led.count() == 1
        assert journal() == ["ledger.sqlite-shm", "ledger.sqlite-wal"]
        writer.record(trial("k2", {"filters1": 16}))
    assert journal() == []
    with Ledger(path, read_only=True) as led:
        assert led.count() == 2
    led = Ledger(path, read_only=True)  # moved away while read: not created again on close
    path.rename(tmp_path / "moved.sqlite")
    led.close()
    assert not path.exists()


def test_reading_a_cut_off_ledger_is_one_line_and_leaves_no_journal_files(tmp_path):
    from studylib.errors import StudyError

    whole = tmp_path / "whole.sqlite"
    with Ledger(whole) as led:
        for i in range(40):
            led.record(trial(f"k{i}", {"filters1": 8 + i}))
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "ledger.sqlite").write_bytes(whole.read_bytes()[:5000])  # a copy that stopped part way
    with pytest.raises(StudyError, match=r"is not a usable SQLite file \(database disk image is malformed\)"):
        Ledger(cut / "ledger.sqlite", read_only=True)
    assert sorted(p.name for p in cut.iterdir()) == ["ledger.sqlite"]


def test_a_ledger_whose_path_holds_uri_characters_is_read(tmp_path):
    path = tmp_path / "a?b #c%20" / "ledger.sqlite"
    path.parent.mkdir()
    with Ledger(path) as led:
        led.record(trial("k1", {"filters1": 8}))
    with Ledger(path, read_only=True) as led:
        assert led.count() == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite"]
