"""Crash-safe resume: a study killed with SIGKILL continues when the same command runs again, and
ends exactly where an uninterrupted run ends (same trials, same order, same results)."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from studylib.study import search

CLI = [sys.executable, "-m", "studylib.cli"]
DATA = dict(dataset="digits", train_size=200, max_epochs=1)


def ledger_rows(db) -> dict:
    """Finished trials by key (read with plain sqlite3, as another process would)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(db, timeout=30)
    try:
        cur = con.execute("SELECT * FROM trials")
        cols = [c[0] for c in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        con.close()


def kill_after(proc, db, n_rows, timeout=180):
    """SIGKILL ``proc`` as soon as ``n_rows`` trials are in its ledger."""
    deadline = time.monotonic() + timeout
    while len(ledger_rows(db)) < n_rows:
        assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "no trials finished"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def gone(pid, timeout=10) -> bool:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_cli_study_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    out = tmp_path / "study"
    db = out / "ledger.sqlite"
    args = [*CLI, "search", "round1", "--dataset", "digits", "--train-size", "200", "--max-epochs", "1",
            "--trials", "6", "--seed", "3", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_after(proc, db, 2)
    before = ledger_rows(db)
    assert 2 <= len(before) < 6
    # the trial process of the killed study notices its parent is gone and exits
    assert gone(next(iter(before.values()))["pid"])

    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"6 trials ({6 - len(before)} trained, {len(before)} from the ledger)" in r.stdout
    after = ledger_rows(db)
    assert len(after) == 6
    for key, row in before.items():  # finished trials untouched (not retrained, not rewritten)
        assert after[key] == row
    frame = pd.read_csv(out / "trials.csv")
    assert frame.key.is_unique and list(frame.trial) == list(range(1, 7))

    # an uninterrupted run (in this process) gives the same trials in the same order, same results
    ref = search("round1", tmp_path / "ref", executor="inline", progress=False, trials=6, seed=3, **DATA)
    assert list(frame.key) == list(ref.frame.key)
    assert frame.best_acc.tolist() == pytest.approx(ref.frame.best_acc.tolist(), abs=1e-6)
    assert frame.test_acc.tolist() == pytest.approx(ref.frame.test_acc.tolist(), abs=1e-6)


GA_SCRIPT = """
import sys
from studylib.study import search
search("round1", sys.argv[1], progress=False, strategy="ga", strategy_options={"population_size": 2},
       trials=5, seed=5, dataset="digits", train_size=200, max_epochs=1)
"""
GA = dict(strategy="ga", strategy_options={"population_size": 2}, trials=5, seed=5, **DATA)


@pytest.mark.slow
def test_result_driven_strategy_resumes_mid_generation(tmp_path):
    """The GA (a window of 2 proposals, told in order) killed in its second generation, resumed
    here with the inline executor: the same study as an uninterrupted run."""
    out = tmp_path / "ga"
    db = out / "ledger.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", GA_SCRIPT, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    kill_after(proc, db, 3)
    before = ledger_rows(db)
    resumed = search("round1", out, executor="inline", progress=False, **GA)
    assert resumed.trained == 5 - len(before) and resumed.served == len(before)
    after = ledger_rows(db)
    assert len(after) == 5 and all(after[k] == v for k, v in before.items())

    ref = search("round1", tmp_path / "ref", executor="inline", progress=False, **GA)
    assert list(resumed.frame.key) == list(ref.frame.key)
    assert resumed.frame.best_acc.tolist() == pytest.approx(ref.frame.best_acc.tolist(), abs=1e-6)
