"""A Ctrl-C whose handler runs inside a garbage-collector callback (Dask's and JAX's register one):
Python drops the KeyboardInterrupt it raises there; :func:`interrupts_not_lost` raises it again."""
import gc
import signal
import sys
import time

import pytest

from studylib.interrupts import interrupts_not_lost, stop_handled, stop_if_asked, stopped_like_ctrl_c


#: A child process with SIGINT handled as at a terminal (a job started in the background, under
#: nohup or by some CI runners, ignores SIGINT from the start, and its children inherit that).
AS_AT_A_TERMINAL = dict(preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(autouse=True)
def sigint_as_at_a_terminal():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def collect_with_a_signal_inside(signum=signal.SIGINT) -> None:
    """A collection whose callback sends ``signum`` to this process: its handler runs inside the
    callback (registered for this collection alone: one at a time of the collector's choosing
    might come before the code that is to see it)."""
    sent = []

    def callback(phase, info):
        if phase == "start" and not sent:
            sent.append(phase)
            signal.raise_signal(signum)
            for _ in range(100):  # where the handler would run if raise_signal had not run it
                pass

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert sent


def run_after_a_collection(seconds=2.0, signum=signal.SIGINT):
    """A collection that gets a signal, then work for ``seconds`` (a study's next trials)."""
    collect_with_a_signal_inside(signum)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return "finished"


def test_without_it_python_drops_the_interrupt(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    assert run_after_a_collection(0.3) == "finished"  # the bug: the study went on
    assert dropped == [KeyboardInterrupt]


def test_the_interrupt_is_raised_again_after_the_callback(capsys):
    with pytest.raises(KeyboardInterrupt), interrupts_not_lost():
        run_after_a_collection()
    assert "Exception ignored" not in capsys.readouterr().err


def test_with_sigint_ignored_the_commands_sigterm_handler_raises_it_again():
    """Started in the background by a shell, SIGINT is ignored; a command's SIGTERM raises
    KeyboardInterrupt (:func:`stopped_like_ctrl_c`) and is the signal simulated again. Its handler
    is set back afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), stopped_like_ctrl_c():
            run_after_a_collection(signum=signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert signal.getsignal(signal.SIGTERM) is before


def test_other_unraisable_exceptions_go_to_the_hook_before(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))

    class Broken:
        def __del__(self):
            raise ValueError("in __del__")

    with interrupts_not_lost():
        Broken()
    assert seen == [ValueError]


def test_a_stop_still_owed_when_the_block_ends_is_raised_there_and_only_there():
    """The work ends before the timer fires (a notebook's study inside the command's block): the
    block's end raises it, and nothing interrupts what runs after."""
    with pytest.raises(KeyboardInterrupt):
        with interrupts_not_lost(delay=0.2):
            collect_with_a_signal_inside()  # dropped here
    time.sleep(0.4)


def test_nested_blocks_raise_it_once():
    with pytest.raises(KeyboardInterrupt):
        with interrupts_not_lost(delay=0.2):
            with interrupts_not_lost(delay=0.2):
                collect_with_a_signal_inside()
    with interrupts_not_lost():  # nothing owed after it was raised
        time.sleep(0.3)


def test_a_stop_a_library_swallowed_is_raised_after_the_trial(monkeypatch):
    """No "Exception ignored": a C library cleared the error. The handler remembered the stop, and
    :func:`stop_if_asked` (a study calls it after each trial) raises it; a block outside the main
    thread does nothing."""
    def swallowing_library():
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # as C code that clears whatever error is set
            pass

    with pytest.raises(KeyboardInterrupt), stopped_like_ctrl_c():
        swallowing_library()
        stop_if_asked()
        raise AssertionError("not stopped")
    stop_if_asked()  # nothing owed after it was raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_explorer_answering_a_dropped_ctrl_c_owes_no_stop():
    """``explore`` is not stoppable part way: its handlers stay Python's, but a dropped Ctrl-C is
    still remembered; the explorer answers it ("explorer stopped", exit 0), so its block ends
    without raising it again."""
    with stopped_like_ctrl_c(stoppable=False):
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        try:
            run_after_a_collection()
            raise AssertionError("not stopped")
        except KeyboardInterrupt:
            stop_handled()


def test_a_stop_raised_after_a_trial_is_raised_once_and_its_cleanup_runs_to_its_end():
    """A trial ends (:func:`stop_if_asked`) before a dropped Ctrl-C's timer fires: the timer is
    cancelled, not left to cut the cleanup short."""
    cleaned = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_not_lost():
            try:
                collect_with_a_signal_inside()
                stop_if_asked()
            finally:
                time.sleep(0.3)
                cleaned.append("to its end")
    assert cleaned == ["to its end"]


def test_a_stop_left_by_an_earlier_command_is_not_the_next_ones():
    """A signal that came after an earlier ``cli.main`` ended its block (tests call it in one
    process) does not stop the next command."""
    from studylib import interrupts

    interrupts._asked.append(signal.SIGINT)
    with stopped_like_ctrl_c():
        stop_if_asked()


def test_a_block_in_another_thread_leaves_the_hook_alone():
    import threading

    seen = []
    hook = sys.unraisablehook

    def in_a_thread():
        with interrupts_not_lost():
            seen.append(sys.unraisablehook is hook)

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    assert seen == [True]


def search_in_a_child(tmp_path, patch: str):
    """``studylib search`` of 20 smoke trials in a child process, after ``patch`` (Python run with
    ``signal``, ``cli`` and ``study`` imported); (its result, its study folder)."""
    import subprocess

    code = f"import signal, sys\nfrom studylib import cli, study\n{patch}sys.exit(cli.main(sys.argv[1:]))\n"
    out = tmp_path / "study"
    r = subprocess.run([sys.executable, "-c", code, "search", "round1", "--dataset", "digits", "--profile", "smoke",
                        "--trials", "20", "--out", str(out), "--no-progress"], capture_output=True, text=True,
                       timeout=300, **AS_AT_A_TERMINAL)
    return r, out


def test_the_command_stops_on_a_ctrl_c_that_lands_in_a_gc_callback(tmp_path):
    """The study's first garbage collection sends SIGINT from inside a gc callback: the command
    stops with its one line and exit 130, as on any Ctrl-C (it used to train all its trials)."""
    r, _ = search_in_a_child(tmp_path, "import gc\n"
                             "search = cli.cmd_search\n"
                             "def ctrl_c_in_a_callback(phase, info):\n"
                             "    gc.callbacks.remove(ctrl_c_in_a_callback)\n"
                             "    signal.raise_signal(signal.SIGINT)\n"
                             "def cmd_search(args):\n"
                             "    gc.callbacks.append(ctrl_c_in_a_callback)\n"
                             "    return search(args)\n"
                             "cli.cmd_search = cmd_search\n")
    assert r.returncode == 130, r.stderr
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1].startswith("studylib: interrupted")


def test_a_notebooks_study_stops_on_a_ctrl_c_that_lands_in_a_gc_callback(tmp_path):
    """``studylib.study.search`` (a notebook's call; Jupyter's interrupt is a SIGINT) raises the
    KeyboardInterrupt (it used to train all its trials)."""
    from studylib.study import prepare, run_study

    sent = []

    def ctrl_c_in_a_callback(phase, info):
        gc.callbacks.remove(ctrl_c_in_a_callback)
        sent.append(phase)
        signal.raise_signal(signal.SIGINT)

    def after_the_first_trial(trial):
        if not sent:
            gc.callbacks.append(ctrl_c_in_a_callback)
            gc.collect()  # as the collector would, at a time of its choosing

    try:
        with pytest.raises(KeyboardInterrupt):
            spec, data = prepare("round1", dataset="digits", profile="smoke", trials=20)
            run_study(spec, data, tmp_path, progress=False, on_trial=after_the_first_trial)
    finally:
        if ctrl_c_in_a_callback in gc.callbacks:
            gc.callbacks.remove(ctrl_c_in_a_callback)
    assert sent


def test_the_command_stops_after_the_trial_where_a_library_swallowed_its_ctrl_c(tmp_path):
    """A Ctrl-C that a library swallowed without a word while the second trial was written out:
    the command stops after that trial (exit 130, its one line), and the ledger keeps 2 trials."""
    import pandas as pd

    r, out = search_in_a_child(tmp_path, "export, calls = study.export_trials, []\n"
                               "def export_trials(*a, **k):\n"
                               "    calls.append(1)\n"
                               "    if len(calls) == 2:\n"
                               "        try:\n"
                               "            signal.raise_signal(signal.SIGINT)\n"
                               "        except KeyboardInterrupt:\n"
                               "            pass\n"
                               "    return export(*a, **k)\n"
                               "study.export_trials = export_trials\n")
    assert r.returncode == 130, r.stderr
    assert r.stderr.splitlines()[-1].startswith("studylib: interrupted; finished trials are in the ledger")
    assert len(pd.read_csv(out / "trials.csv")) == 2


def test_a_ctrl_c_dropped_while_a_stop_unwinds_is_not_raised_into_its_cleanup():
    """A second Ctrl-C (or a finalizer that re-raises the first) dropped in a gc callback while the
    first one's cleanup runs (an executor's shutdown): the cleanup runs to its end."""
    cleaned = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_not_lost():
            try:
                raise KeyboardInterrupt
            finally:
                collect_with_a_signal_inside()
                time.sleep(0.3)
                cleaned.append("to its end")
    assert cleaned == ["to its end"]


def test_a_stopped_runner_says_nothing_of_the_kernel_its_cleanup_shut_down(caplog):
    """``studylib run`` stopped: the cleanup shuts the kernel down under nbclient's waiting cell
    task, which logged "Kernel died while waiting for execute reply." and, collected, "Task
    exception was never retrieved" around the stop's one line (seen in a loaded suite). Before a
    stop both loggers still speak."""
    import logging

    from studylib.notebook_exec import _quiet_once_stopped

    with _quiet_once_stopped():
        logging.getLogger("papermill").error("a kernel that died by itself")
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
            logging.getLogger("asyncio").error("Task exception was never retrieved")
    assert [r.getMessage() for r in caplog.records] == ["a kernel that died by itself"]
    logging.getLogger("papermill").error("after")
    assert caplog.records[-1].getMessage() == "after"


def test_a_stopped_runner_collects_the_failed_cell_task_its_stop_held(tmp_path, monkeypatch, caplog):
    """nbclient's cell task can fail ("Kernel died") during the stop's cleanup while the stop's
    traceback still holds it (the interrupted ``run_until_complete`` frame); collected only once
    the command had printed its line, it said "Task exception was never retrieved" after it (a
    CI run). The runner lets go of that traceback and collects the task before it re-raises."""
    import asyncio

    import papermill

    from studylib import notebook_exec

    def stopped_with_a_failed_task(*args, **kwargs):
        loop = asyncio.new_event_loop()

        async def cell():
            raise RuntimeError("Kernel died")

        task = loop.create_task(cell())
        loop.run_until_complete(asyncio.sleep(0))  # the task fails; nothing retrieves its exception
        loop.close()
        assert task.done()
        raise KeyboardInterrupt  # this frame, so the task, held by the stop's traceback

    monkeypatch.setattr(papermill, "execute_notebook", stopped_with_a_failed_task)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        notebook_exec.execute("tiny", tmp_path / "tiny.ipynb", out, {}, progress=False)
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    assert [p.name for p in out.rglob("*")] == ["tiny"]  # no partial notebook, kernel log or progress feed


#: Code that sends a signal (``{signum}``) while Python shuts down after the command, at one of
#: three points: a thread the main thread waits for and an exit function a library registered
#: during the command (each then hangs: the signal must end the process), the teardown of modules
#: (TensorFlow's takes a second or two, after Python has put the default handlers back).
WHILE_PYTHON_SHUTS_DOWN = {
    "waiting for a thread": "import threading\n"
                            "def late():\n"
                            "    while threading.main_thread().is_alive():\n"
                            "        time.sleep(0.01)\n"
                            "    os.kill(os.getpid(), {signum}); time.sleep(600)\n"
                            "threading.Thread(target=late).start()\n",
    "in a library's exit function": "import atexit\n"
                                    "from studylib import cli\n"
                                    "space = cli.cmd_space\n"
                                    "def cmd_space(args):\n"
                                    "    atexit.register(lambda: (os.kill(os.getpid(), {signum}), time.sleep(600)))\n"
                                    "    return space(args)\n"
                                    "cli.cmd_space = cmd_space\n",
    "in the modules' teardown": "class Late:\n"
                                "    def __del__(self):\n"
                                "        os.kill(os.getpid(), {signum}); time.sleep(1)\n"
                                "late = Late()\n",
}


@pytest.mark.parametrize("when", WHILE_PYTHON_SHUTS_DOWN)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_while_python_shuts_down_after_the_command_keeps_its_exit_code(signum, when):
    """A Ctrl-C in the second or two of Python's shutdown after a command had finished ended the
    process as killed by it (130, nothing said after the command's "wrote ..." line); the
    command's own exit code stands, nothing is printed, and a shutdown that hangs still ends at
    the signal (``space`` stands in for the command)."""
    import subprocess

    code = ("import os, sys, time\n" + WHILE_PYTHON_SHUTS_DOWN[when].format(signum=int(signum)) +
            "from studylib import cli\n"
            "sys.argv[1:] = ['space', 'round1']\n"
            "cli.entry()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **AS_AT_A_TERMINAL)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines()[-1].startswith("combinations:")  # all of the command's output
