"""Concurrent access with real processes: processes opening one new ledger at once all succeed;
two writers on one ledger keep it consistent; two different studies can share a ledger; the same
study twice at once is a clear error (exit 2)."""
import json
import sqlite3
import subprocess
import sys
import time

import pytest

from studylib.ledger import Ledger

CLI = [sys.executable, "-m", "studylib.cli"]

WRITER = """
import json, sys, time
from studylib.ledger import Ledger
from studylib.trial import Trial
path, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:  # both writers begin together, on a ledger that does not exist yet
    time.sleep(0.001)
ledger = Ledger(path)
keys = [f"k{i:03d}" for i in range(120)]
if name == "b":
    keys.reverse()
numbers = {}
for i, key in enumerate(keys):
    numbers[key] = ledger.add_to_study("shared-study", key)
    ledger.record(Trial(key, {"i": i, "writer": name}, metrics={"best_acc": 0.5}, dataset="synthetic"))
    ledger.add_to_study(f"study-{name}", key)
print(json.dumps(numbers))
"""


def test_two_processes_writing_one_ledger_keep_it_consistent(tmp_path):
    db = tmp_path / "ledger.sqlite"
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in "ab"]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    a, b = (json.loads(o[0]) for o in outs)
    assert a == b  # both got the same trial number for every key
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM trials").fetchone() == (120, 120)
    numbers = [r[0] for r in con.execute("SELECT number FROM study_trials WHERE study_id = 'shared-study' "
                                         "ORDER BY number")]
    assert numbers == list(range(1, 121))
    for s in ("study-a", "study-b"):
        assert con.execute("SELECT COUNT(DISTINCT key), MAX(number) FROM study_trials WHERE study_id = ?",
                           (s,)).fetchone() == (120, 120)
    con.close()


OPENER = """
import sys, time
from studylib.ledger import Ledger
folder, start = sys.argv[1], float(sys.argv[2])
for i in range(10):  # ten races: every process opens the same new file at the same instant
    while time.time() < start + 0.3 * i:
        pass
    with Ledger(f"{folder}/ledger-{i}.sqlite") as ledger:
        assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        ledger.add_to_study("s", sys.argv[3])
"""


def test_processes_opening_one_new_ledger_at_once_all_succeed(tmp_path):
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(tmp_path), str(start), f"k{n}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-300:] for o in outs]
    for i in range(10):
        con = sqlite3.connect(tmp_path / f"ledger-{i}.sqlite")
        assert sorted(r[0] for r in con.execute("SELECT number FROM study_trials")) == [1, 2, 3, 4]
        con.close()


def study_args(out, seed):
    return [*CLI, "search", "round1", "--dataset", "synthetic", "--max-epochs", "1", "--trials", "3",
            "--seed", str(seed), "--out", str(out), "--no-progress"]


@pytest.mark.slow
def test_two_studies_share_a_ledger_and_the_same_study_twice_is_refused(tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen(study_args(out, 1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(f.read_text().startswith(f"pid {first.pid}") for f in out.glob(".*.lock")):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    other = subprocess.Popen(study_args(out, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    again = subprocess.run(study_args(out, 1), capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert again.stderr.startswith("studylib: error: study ") and "is already running" in again.stderr
    assert f"pid {first.pid}" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    for p in (first, other):
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    with Ledger(out / "ledger.sqlite") as ledger:
        assert ledger.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        studies = ledger.studies()
        assert len(studies) == 2
        for s in studies:
            frame = ledger.frame(s["study_id"])
            assert len(frame) == 3 and frame.key.is_unique and list(frame.trial) == [1, 2, 3]
        n = ledger.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        assert n == len({k for s in studies for k in ledger.study_keys(s["study_id"])})
