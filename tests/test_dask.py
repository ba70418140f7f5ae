"""Studies on a Dask LocalCluster of 2 worker processes: the same configs (and results) as a
serial run, rows from both workers, multi-fidelity rungs continued across workers, and a worker
killed mid-trial is survived; and, with no Dask,
proposals that do not depend on an executor's capacity or completion order. ``dask[distributed]``
is a dependency of studylib (pyproject.toml): nothing here is skipped."""
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from studylib.executors import DaskExecutor
from studylib.study import search

CLI = [sys.executable, "-m", "studylib.cli"]
DATA = dict(dataset="digits", train_size=200, max_epochs=1)


@pytest.fixture(scope="module")
def client():
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.slow
def test_cli_study_on_a_dask_cluster_matches_the_serial_one_and_uses_both_workers(tmp_path, client):
    out = tmp_path / "dask"
    r = subprocess.run([*CLI, "search", "round1", "--dataset", "digits", "--train-size", "200", "--max-epochs", "1",
                        "--trials", "6", "--seed", "1", "--scheduler", client.scheduler.address, "--out", str(out),
                        "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    frame = pd.read_csv(out / "trials.csv")
    assert len(frame) == 6 and frame.key.is_unique
    assert frame.pid.nunique() == 2 and frame.host.notna().all() and (frame.wall_time > 0).all()
    assert os.getpid() not in set(frame.pid)

    ref = search("round1", tmp_path / "ref", executor="inline", progress=False, trials=6, seed=1, **DATA)
    assert list(frame.key) == list(ref.frame.key)  # same proposals, same order
    assert frame.best_acc.tolist() == pytest.approx(ref.frame.best_acc.tolist(), abs=1e-6)


def test_workers_option_starts_a_local_cluster_and_ships_arrays_without_a_data_source():
    from studylib.data import load_dataset
    from studylib.training import Budget

    from studylib.objective import TrainingObjective

    ex = DaskExecutor(workers=2, progress=False)
    ex.start(TrainingObjective(load_dataset("synthetic"), Budget(1, 4), 0))  # no DataSource: arrays are scattered
    try:
        assert ex.capacity == 2 and ex.cluster is not None
        assert all(n == 1 for n in ex.client.nthreads().values())
        ignored = ex.client.run(lambda: __import__("signal").getsignal(2) == __import__("signal").SIG_IGN)
        assert list(ignored.values()) == [True, True]  # Ctrl-C is the study's (below)
        config = {"filters1": 4, "ksize1": 3, "hidden1": 8, "hidden2": 8, "learning_rate": 0.01, "batch_size": 64}
        ex.submit("k", config)
        [trial] = ex.wait()
        assert trial.key == "k" and trial.status == "ok"
    finally:
        ex.shutdown()
    assert ex.cluster is None and ex.client is None


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_on_a_local_cluster_is_one_line_and_the_study_resumes(tmp_path, sig):
    """A terminal sends Ctrl-C to the whole process group: the workers ignore it (no worker
    tracebacks, no 'workers died' errors), the study stops with its one line, exit 130. SIGTERM
    to the group (``timeout``, a batch system) kills the workers; the study stops as it does on
    Ctrl-C (the scheduler may still log their loss if it sees it before the study's handler runs)."""
    import signal

    from _interrupt import interrupt_when

    out = tmp_path / "study"
    cmd = [*CLI, "search", "round1", "--dataset", "digits", "--profile", "smoke", "--trials", "60",
           "--executor", "dask", "--workers", "2", "--out", str(out)]
    rc, lines = interrupt_when(cmd, "2/60", sig=getattr(signal, sig))  # two trials done: "trial 2/60", or "trial 1 (2/60 done)"
    assert rc == 130, "".join(lines)
    text = "".join(lines)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert sig == "SIGTERM" or "ERROR" not in text, text
    assert lines[-1].startswith("studylib: interrupted"), text
    again = [*cmd[:cmd.index("--trials")], "--trials", "2", "--out", str(out)]  # no Dask: the ledger serves both
    done = subprocess.run(again, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "2 trials (0 trained, 2 from the ledger)" in done.stdout, done.stdout


TPE = dict(strategy="tpe", strategy_options={"n_startup_trials": 2}, in_flight=3, trials=6, seed=2)


@pytest.mark.slow
def test_result_driven_strategy_gives_the_same_study_on_dask(tmp_path, client):
    """TPE asks depend on told results: a window of 3, told in proposal order, whatever finishes first."""
    dask_run = search("round1", tmp_path / "dask", executor=DaskExecutor(client=client, progress=False),
                      progress=False, **TPE, **DATA)
    ref = search("round1", tmp_path / "ref", executor="inline", progress=False, **TPE, **DATA)
    assert list(dask_run.frame.key) == list(ref.frame.key)
    assert dask_run.frame.best_acc.tolist() == pytest.approx(ref.frame.best_acc.tolist(), abs=1e-6)
    assert dask_run.frame.pid.nunique() == 2


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["memetic-sh", "asha", "dehb"])
def test_multi_fidelity_study_on_dask_matches_the_inline_one(tmp_path, client, strategy):
    """Rungs continue from checkpoints written by whichever worker trained the lower rung."""
    from test_multifidelity import TINY, study_trials

    opts = dict(strategy=strategy, seed=3, budget_epochs=14, dataset="digits", train_size=200, in_flight=2,
                max_epochs=TINY["max_epochs"], patience=TINY["patience"],
                strategy_options={"population_size": 4} if strategy == "memetic-sh" else None)
    search("round1", tmp_path / "dask", executor=DaskExecutor(client=client, progress=False), progress=False, **opts)
    search("round1", tmp_path / "ref", executor="inline", progress=False, **opts)
    a, b = study_trials(tmp_path / "dask"), study_trials(tmp_path / "ref")
    assert [t.key for t in a] == [t.key for t in b]
    assert any(t.metrics["resumed_from"] for t in a), "no rung was continued"
    assert [t.metrics["best_acc"] for t in a] == pytest.approx([t.metrics["best_acc"] for t in b], abs=1e-6)
    assert len({t.pid for t in a}) == 2


def _training():
    """On a worker: keys of the trials its trial processes are training now."""
    from studylib.executors.dask import _LOCAL_PROCESSES

    return [p.running for p in _LOCAL_PROCESSES.values() if p.running]


@pytest.mark.slow
def test_worker_killed_mid_trial_is_survived(tmp_path, client):
    import psutil

    ex = DaskExecutor(client=client, progress=False)
    killed = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            training = {w: keys for w, keys in client.run(_training).items() if keys}
            if training:  # a worker's trial process is training: kill the worker
                worker = next(iter(training))
                pid = client.run(os.getpid, workers=[worker])[worker]
                killed["children"] = [p.pid for p in psutil.Process(pid).children()]
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    t = threading.Thread(target=killer)
    t.start()
    opts = dict(dataset="digits", train_size=200, max_epochs=15, patience=15, trials=3, seed=7)
    result = search("round1", tmp_path / "killed", executor=ex, progress=False, **opts)
    t.join()
    assert killed, "no trial was running"
    assert len(result.frame) == 3 and (result.frame.status == "ok").all()
    assert len(ex.retried) >= 1 and result.retried >= 1
    # the killed worker's trial process went with it
    for pid in killed["children"]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    ref = search("round1", tmp_path / "ref", executor="inline", progress=False, **opts)
    assert list(result.frame.key) == list(ref.frame.key)
    assert result.frame.best_acc.tolist() == pytest.approx(ref.frame.best_acc.tolist(), abs=1e-6)


class ReversedExecutor:
    """No training: finishes the most recently submitted trial first, ``capacity`` at a time."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.retried = []

    def start(self, objective):
        self.queue = []

    def submit(self, key, config):
        self.queue.append((key, config))

    def wait(self):
        from studylib.trial import Trial

        key, config = self.queue.pop()
        acc = int(key[:6], 16) / 0xFFFFFF
        return [Trial(key, config, metrics={"best_acc": acc, "test_acc": acc}, epochs=1)]

    def shutdown(self):
        pass


@pytest.mark.parametrize("strategy,options", [("ga", {"population_size": 4}), ("memetic", {"population_size": 4}),
                                              ("tpe", {"n_startup_trials": 3}), ("random", {}),
                                              ("regevo", {"population_size": 4, "sample_size": 2}), ("local", {})])
def test_proposals_do_not_depend_on_capacity_or_completion_order(tmp_path, strategy, options):
    runs = [search("round1", tmp_path / str(cap), executor=ReversedExecutor(cap), progress=False, strategy=strategy,
                   strategy_options=options, in_flight=3 if strategy == "tpe" else None, trials=14, seed=4,
                   dataset="synthetic") for cap in (1, 3, 8)]
    assert [list(r.frame.key) for r in runs[1:]] == [list(runs[0].frame.key)] * 2


class Busy(ReversedExecutor):
    """Also counts the most trials it ever held at once."""

    most = 0

    def submit(self, key, config):
        super().submit(key, config)
        self.most = max(self.most, len(self.queue))


@pytest.mark.parametrize("strategy", ["random", "grid"])
def test_under_a_budget_a_strategy_that_ignores_results_keeps_every_worker_busy(tmp_path, strategy):
    """An epoch budget (each trial reserves the profile's 2 epochs) with room for 4 trials at once:
    4 workers run 4 (before: 1, the window of a result-driven strategy), and the trials are the
    same as on one worker."""
    runs = {}
    for cap in (1, 4):
        ex = Busy(cap)
        runs[cap] = search("round1", tmp_path / str(cap), executor=ex, progress=False, strategy=strategy,
                           budget_epochs=10, seed=4, dataset="synthetic")
        assert ex.most == cap
    assert list(runs[4].frame.key) == list(runs[1].frame.key) and len(runs[1].frame) == 10


def test_a_script_that_starts_a_study_without_a_main_guard_is_told_why(tmp_path):
    """Dask's worker processes import the script that started them: unguarded, it starts the study
    again in each. The workers refuse to (their message names the guard), and so does the study
    the script started (one StudyError, not distributed's 'Nanny failed to start')."""
    script = tmp_path / "unguarded.py"
    script.write_text("import studylib\n"
                      f"studylib.search('round1', {str(tmp_path / 'out')!r}, strategy='random', trials=2, "
                      "dataset='synthetic', progress=False, workers=2)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("studylib.errors.StudyError: Dask's local workers did not start"), r.stderr[-2000:]
    assert 'call studylib under `if __name__ == "__main__":`' in last
    worker = ('studylib: error: a worker process is re-running the script that started the study: call studylib '
              'under `if __name__ == "__main__":` (each worker process imports that script)')
    assert worker in r.stderr.splitlines()  # one line per worker, no traceback of its own
    assert "StudyError: a worker process" not in r.stderr  # (the script's own traceback is the study's error)
    assert "already running" not in r.stderr  # no worker got as far as the study's lock
    assert not list((tmp_path / "out").rglob("*"))  # nothing written


def test_only_a_call_from_outside_a_main_guard_is_told_to_add_one(tmp_path, monkeypatch):
    """Where the script called studylib: its top-level line outside ``if __name__ == ...``."""
    import runpy
    import types

    script = tmp_path / "script.py"
    for text, unguarded in (
            ("from studylib.startup import main_script_unguarded as check\nSEEN.append(check())\n", True),
            ('import os\nos.environ.setdefault("KERAS_BACKEND", "tensorflow")\n'  # code outside, call inside
             "from studylib.startup import main_script_unguarded as check\n"
             "def main():\n    SEEN.append(check())\n"
             'if __name__ == "__main__":\n    main()\n', False),
            ("from studylib.startup import main_script_unguarded as check\n"
             "if __name__ == '__main__':\n    SEEN.append(check())\n", False)):
        script.write_text(text)
        seen = []
        runpy.run_path(str(script), {"SEEN": seen}, run_name="__main__")
        assert seen == [unguarded], text
    from studylib.startup import main_script_unguarded

    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(
        __spec__=types.SimpleNamespace(name="studylib.__main__"), __file__=str(script)))
    assert main_script_unguarded() is False  # python -m studylib: spawn does not import it again
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace())  # a notebook, an interactive session
    assert main_script_unguarded() is False


def test_a_study_started_while_a_worker_imports_its_script_is_refused(tmp_path):
    """What a spawned worker sees: the script run as ``__mp_main__``; a call at its top level is
    refused, one in a function a worker runs later is not."""
    import runpy

    from studylib.errors import StudyError
    from studylib.startup import check_not_a_reimport

    script = tmp_path / "script.py"
    script.write_text("from studylib.startup import check_not_a_reimport\n"
                      "def later():\n    check_not_a_reimport()\n"
                      "if TOP:\n    check_not_a_reimport()\n")
    with pytest.raises(StudyError, match=r'a worker process is re-running the script .*if __name__ == "__main__"'):
        runpy.run_path(str(script), {"TOP": True}, run_name="__mp_main__")
    runpy.run_path(str(script), {"TOP": False}, run_name="__mp_main__")["later"]()  # a pool's task: allowed
    runpy.run_path(str(script), {"TOP": True}, run_name="__main__")  # the script itself
    check_not_a_reimport()
