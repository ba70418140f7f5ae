"""The serial executor: one reused trial process (dataset loaded once), epoch events through the
pipe, a trial whose process is killed mid-training is run again, the process is recycled."""
import os
import signal
import threading
import time

import pytest

from studylib.data import load_dataset
from studylib.errors import StudyError
from studylib.executors import Executor, InlineExecutor, SerialExecutor, TrialProcess, make_executor
from studylib.objective import DataSource, TableObjective, TrainingObjective
from studylib.training import Budget

CONFIG = {"filters1": 4, "ksize1": 3, "hidden1": 8, "hidden2": 8, "learning_rate": 0.01, "batch_size": 64}


def test_serial_executor_reuses_its_process_survives_a_kill_and_recycles():
    data = load_dataset("synthetic")
    ex = SerialExecutor(progress=False, recycle_after=2)
    ex.start(TrainingObjective(data, Budget(12, 12), 0, source=DataSource("synthetic", {}, data.fingerprint)))
    try:
        # epoch events come through the pipe while the trial trains in the child
        epochs = []
        first = ex.process.run("k0", CONFIG, on_epoch=lambda e, logs: epochs.append((e, logs)))
        assert first.status == "ok" and first.pid != os.getpid() and first.key == "k0" and first.epochs == 12
        assert [e for e, _ in epochs] == list(range(1, 13))
        assert first.curve["val_accuracy"] == [logs["val_accuracy"] for _, logs in epochs]
        assert ex.process.last_rss_mb > 50
        assert os.getpgid(ex.process.pid) != os.getpgid(0)  # a terminal's Ctrl-C reaches the study alone

        # a long trial whose process is SIGKILLed while it trains is run again in a fresh process
        killed = []

        def killer():
            deadline = time.monotonic() + 120
            while ex.process.running is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
            killed.append(ex.process.pid)
            os.kill(ex.process.pid, signal.SIGKILL)

        t = threading.Thread(target=killer)
        t.start()
        ex.submit("long", CONFIG)
        [result] = ex.wait()
        t.join()
        assert result.key == "long" and result.status == "ok" and result.epochs == 12
        assert killed == [first.pid] and result.pid != first.pid
        assert len(ex.retried) == 1 and "killed by SIGKILL" in ex.retried[0][1]

        # the same process serves the next trial (data loaded once), then is retired: 2 trials each
        ex.submit("k1", dict(CONFIG, filters1=8))
        [again] = ex.wait()
        assert again.status == "ok" and again.pid == result.pid
        assert ex.process.proc is None and ex.process.recycled == 1 and ex.process.started == 2
    finally:
        ex.shutdown()


def test_a_worker_with_other_data_refuses_to_train():
    wrong = TrialProcess(TrainingObjective(None, Budget(1, 4), 0, source=DataSource("synthetic", {}, "0" * 16)))
    with pytest.raises(StudyError, match="differs from the study's"):
        wrong.run("k", CONFIG)


def test_make_executor_validates_options():
    assert isinstance(make_executor(), SerialExecutor) and isinstance(make_executor(), Executor)
    assert isinstance(make_executor("inline"), InlineExecutor)
    assert type(make_executor(workers=2)).__name__ == "DaskExecutor"  # --workers implies dask
    for kwargs, match in [({"kind": "threads"}, "unknown executor"),
                          ({"kind": "serial", "workers": 3}, "need --executor dask"),
                          ({"workers": 0}, "workers must be a positive integer"),
                          ({"trial_timeout": 0}, "trial-timeout must be a positive number"),
                          ({"max_retries": -1}, "max-retries must be a non-negative"),
                          ({"max_worker_memory": -1}, r"max-worker-memory must be a non-negative number, got -1$"),
                          ({"trial_timeout": float("inf")}, "trial-timeout must be a finite number, got inf"),
                          ({"kind": "inline", "trial_timeout": 5}, "inline executor"),
                          ({"workers": 2, "scheduler": "tcp://x:1"}, "not both")]:
        with pytest.raises(StudyError, match=match):
            make_executor(**kwargs)
    import numpy as np  # a notebook's numbers

    ex = make_executor("serial", max_retries=np.int64(0), trial_timeout=np.float32(30), max_worker_memory=np.int64(0))
    assert (ex.max_retries, ex.trial_timeout, ex.max_worker_memory) == (0, 30.0, 0)
    assert type(make_executor(workers=np.int64(2))).__name__ == "DaskExecutor"


def test_executors_run_a_table_objective_too():
    """An executor runs any objective: here a benchmark table, in this process and in a child
    process; both evaluate the same seed draws in the same order."""
    import numpy as np

    from studylib.space import SearchSpace, make_dimension
    from studylib.tables import Table

    space = SearchSpace(name="t", dimensions=(make_dimension("x", [1, 2, 3]),))
    table = Table("t", space, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([2, 2, 2]))
    configs = [space.config_at(i % 3) for i in range(8)]
    runs = []
    for ex in (InlineExecutor(progress=False), SerialExecutor(progress=False)):
        objective = TableObjective(table, seed=4)
        ex.start(objective)
        try:
            values = []
            for i, c in enumerate(configs):
                ex.submit(objective.key(c) + f"#{i}", c)
                [trial] = ex.wait()
                assert trial.key.endswith(f"#{i}") and trial.metrics["index"] == i % 3
                values.append(trial.metrics["value"])
        finally:
            ex.shutdown()
        runs.append(values)
    assert runs[0] == runs[1] and len(set(runs[0])) > 3
    assert all(v in table.values[i % 3] for i, v in enumerate(runs[0]))


def test_a_trial_process_whose_study_is_gone_exits_quietly():
    """The study was killed (kill -9) before the trial process's watcher noticed: the process's next
    message finds the pipe closed, and it exits with code 3 without a traceback on the user's terminal."""
    import multiprocessing
    import subprocess
    import sys

    ours, theirs = multiprocessing.Pipe()
    ours.close()  # the study is gone
    code = "import sys; from studylib.executors.process import _child_main; _child_main(int(sys.argv[1]), int(sys.argv[2]))"
    r = subprocess.run([sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid())], pass_fds=[theirs.fileno()],
                       capture_output=True, text=True, timeout=120)
    theirs.close()
    assert (r.returncode, r.stderr) == (3, "")


def test_more_workers_than_cores_is_noted(capsys):
    import os

    from studylib.study import build_executor

    cores = len(os.sched_getaffinity(0))
    build_executor(None, workers=cores + 1)  # built, not started
    assert capsys.readouterr().err == (f"studylib: note: {cores + 1} workers share {cores} CPU cores (each trial runs "
                                       f"slower, each worker holds its own copy of the data); --workers {cores} is "
                                       "usually as fast\n")
    build_executor(None, workers=cores)
    assert capsys.readouterr().err == ""
