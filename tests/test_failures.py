"""Failing trials: recorded as ``failed`` with their error, the study goes on; a trial past
``--trial-timeout`` is killed and recorded failed; ``--max-failures`` stops the study (exit 3)."""
import functools
import subprocess
import sys

import pandas as pd

CLI = [sys.executable, "-m", "studylib.cli"]

# 8x8 synthetic images: border_crop 4 removes the whole image, so build_model raises
CROP_SPACE = """name: crops
dimensions:
  - {name: filters1, values: [4, 8]}
  - {name: ksize1, values: [3]}
  - {name: hidden1, values: [8]}
  - {name: hidden2, values: [8]}
  - {name: learning_rate, values: [0.01]}
  - {name: batch_size, values: [64]}
  - {name: border_crop, values: [0, 4]}
"""

# on digits (1,150 training images) batch size 512 runs 30 steps in 10 epochs (4-6 s with the
# model build and test pass); batch size 1 runs 11,500, far past a 10 s timeout (1.5-7 s an epoch).
# Grid order on 2 configs is the values' order.
SLOW_SPACE = """name: slow
dimensions:
  - {name: filters1, values: [4]}
  - {name: ksize1, values: [3]}
  - {name: hidden1, values: [8]}
  - {name: hidden2, values: [8]}
  - {name: learning_rate, values: [0.01]}
  - {name: batch_size, values: [512, 1]}
"""


def search(space_file, out, *extra, dataset="synthetic"):
    return subprocess.run([*CLI, "search", str(space_file), "--dataset", dataset, "--strategy", "grid",
                           "--out", str(out), "--no-progress", *map(str, extra)],
                          capture_output=True, text=True, timeout=300)


def search_here(capsys, space_file, out, *extra, dataset="synthetic"):
    """:func:`search` in this process (its trials still in the serial executor's worker process):
    no fresh interpreter, and TensorFlow, per command."""
    from types import SimpleNamespace

    from studylib import cli

    capsys.readouterr()
    code = cli.main(["search", str(space_file), "--dataset", dataset, "--strategy", "grid", "--out", str(out),
                     "--no-progress", *map(str, extra)])
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)


def test_failing_trials_are_recorded_and_skipped_and_max_failures_stops(tmp_path, capsys):
    space = tmp_path / "crops.yaml"
    space.write_text(CROP_SPACE)
    search = functools.partial(search_here, capsys)
    r = search(space, tmp_path / "stop", "--trials", "4", "--max-epochs", "1", "--max-failures", "0")
    assert r.returncode == 3, (r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith("studylib: error: stopped: 1 trial failed in this run, more than --max-failures 0")
    assert "removes the whole" in err
    stopped = pd.read_csv(tmp_path / "stop" / "trials.csv")
    assert (stopped.status == "failed").sum() == 1

    # without the limit the study goes on: every trial recorded, the failures with their error;
    # --retry-failed trains the recorded failure again instead of serving it from the ledger
    r = search(space, tmp_path / "stop", "--trials", "4", "--max-epochs", "1", "--retry-failed")
    assert r.returncode == 0, r.stderr
    ok_before = len(stopped) - 1
    assert f"4 trials ({4 - ok_before} trained, of which 2 failed; {ok_before} from the ledger)" in r.stdout
    frame = pd.read_csv(tmp_path / "stop" / "trials.csv")
    assert len(frame) == 4 and frame.key.is_unique
    failed = frame[frame.status == "failed"]
    assert len(failed) == 2 and set(failed.border_crop) == {4}
    assert failed.error.str.contains("removes the whole 8x8 image").all()
    assert (frame[frame.status != "failed"].best_acc > 0).all()

    # a smaller --trials retries only the failures it reaches; the later ones stay recorded
    r = search(space, tmp_path / "stop", "--trials", "2", "--max-epochs", "1", "--retry-failed")
    assert r.returncode == 0, r.stderr
    assert "2 trials (1 trained, of which 1 failed; 1 from the ledger)" in r.stdout
    again = pd.read_csv(tmp_path / "stop" / "trials.csv")
    assert len(again) == 4 and (again.status == "failed").sum() == 2
    assert list(frame.status.iloc[[1, 3]]) == ["failed", "failed"]
    retried, kept = (again.set_index("key").loc[frame.key.iloc[i]] for i in (1, 3))
    assert retried.pid != frame.pid.iloc[1]  # trained again in this run's worker
    assert kept.status == "failed" and (kept.pid, kept.wall_time) == (frame.pid.iloc[3], frame.wall_time.iloc[3])

    # without --retry-failed the ledger's failures are served, and the summary says they are an earlier run's
    r = search(space, tmp_path / "stop", "--trials", "4", "--max-epochs", "1")
    assert r.returncode == 0, r.stderr
    assert "4 trials (0 trained, 4 from the ledger, 2 failed in an earlier run)" in r.stdout
    assert r.stderr.splitlines()[-1] == ("studylib: note: 2 trials from the ledger failed in an earlier run; "
                                         "--retry-failed trains them again")


def test_a_budgeted_study_whose_trials_all_fail_stops(tmp_path):
    """Failed trials spend no epochs, so a budget alone would never stop such a study."""
    space = tmp_path / "allfail.yaml"
    space.write_text(CROP_SPACE.replace("values: [4, 8]", "values: [2, 3, 4, 5, 6, 7]").replace("values: [8]}",
                     "values: [6, 8]}").replace("border_crop, values: [0, 4]", "padding, values: [valid]")
                     .replace("ksize1, values: [3]", "ksize1, values: [9]"))  # 9x9 kernels on 8x8 images
    r = subprocess.run([*CLI, "search", str(space), "--dataset", "synthetic", "--strategy", "random",
                        "--budget-epochs", "5", "--max-epochs", "1", "--executor", "inline", "--out",
                        str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1].startswith("studylib: error: stopped: 10 trials in a row failed")
    frame = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert len(frame) == 10 and (frame.status == "failed").all()


def test_trial_past_the_timeout_is_killed_and_recorded_failed(tmp_path):
    space = tmp_path / "slow.yaml"
    space.write_text(SLOW_SPACE)
    r = search(space, tmp_path / "t", "--trials", "2", "--max-epochs", "10", "--patience", "10",
               "--trial-timeout", "10", dataset="digits")
    assert r.returncode == 0, r.stderr
    frame = pd.read_csv(tmp_path / "t" / "trials.csv").set_index("batch_size")
    assert frame.loc[1, "status"] == "failed" and "timed out after 10 s" in frame.loc[1, "error"]
    assert 10 <= frame.loc[1, "wall_time"] < 60
    assert frame.loc[512, "status"] == "ok" and frame.loc[512, "epochs"] == 10
    assert frame.loc[512, "trial"] == 1 and frame.loc[1, "trial"] == 2


def test_a_failure_with_a_message_of_several_lines_stops_with_one_line(tmp_path, capsys, monkeypatch):
    """A trial's error may span lines (TensorFlow's do): --max-failures' stop names its first."""
    from studylib import cli, training

    def fail(*args, **kw):
        raise ValueError("the first line\n  and a second one")

    monkeypatch.setattr(training, "evaluate", fail)
    rc = cli.main(["search", "round1", "--dataset", "synthetic", "--max-epochs", "1", "--executor", "inline",
                   "--trials", "2", "--max-failures", "0", "--no-progress", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1, err
    assert err.startswith("studylib: error: stopped: 1 trial failed in this run")
    assert "(last: ValueError: the first line);" in err
