"""The trial process: a long-lived child Python process that runs one objective's trials.

It calls the objective's ``prepare()`` once (a CNN objective loads its dataset), then evaluates
trials until told to stop, sending epoch events and each finished :class:`~studylib.trial.Trial`
back through a pipe. The serial executor and each Dask worker thread own one.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import StudyError
from ..trial import Trial

STARTUP_TIMEOUT = 600.0  # seconds a trial process may take to import Keras and load the data


class WorkerDied(RuntimeError):
    """The process running a trial died (killed, out of memory, machine lost): worth a retry."""


def failed_trial(objective, key: str, config: dict, error: str, wall_time: float = 0.0, host: str | None = None,
                 pid: int | None = None) -> Trial:
    """A trial of ``objective`` that could not run to its end (its process died, timed out...); a
    rung's names its config (:func:`~studylib.fidelity.failed_fields`)."""
    from ..fidelity import failed_fields, split

    config, fid = split(config)
    trial = Trial.failed(key, config, error, wall_time, host=host or socket.gethostname(), pid=pid or os.getpid(),
                         **objective.trial_fields())
    trial.metrics.update(failed_fields(fid))
    return trial


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


# -- the trial process ------------------------------------------------------------------------

class TrialProcess:
    """A long-lived child Python process that runs one objective's trials (its data loaded once).

    ``objective`` (see :mod:`studylib.objective`) is sent once, pickled, when the child starts
    (its ``for_worker()`` copy: a CNN objective with a data source leaves its arrays behind).
    The child is started on the first :meth:`run` and replaced after ``recycle_after`` trials,
    when its RSS after a trial exceeds ``max_memory_mb``, after a timeout, or when it died. It
    exits by itself when its parent dies.
    """

    def __init__(self, objective, *, recycle_after: int | None = None, max_memory_mb: float | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT):
        self.payload = objective.for_worker()
        self.recycle_after = recycle_after
        self.max_memory_mb = max_memory_mb
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.conn = None
        self.pid: int | None = None
        self.host = socket.gethostname()
        self.trials_run = 0        # by the current child
        self.started = 0           # children started so far
        self.recycled = 0          # children retired for their trial count or memory
        self.last_rss_mb: float | None = None
        self.running: str | None = None  # key of the trial the child is training now
        self._busy = False               # a trial was sent and its result not received

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self) -> None:
        import multiprocessing

        parent_conn, child_conn = multiprocessing.Pipe(duplex=True)  # a socketpair on POSIX
        fd = child_conn.fileno()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines, once per process
        root = str(Path(__file__).resolve().parents[2])  # last on sys.path: finds an uninstalled checkout
        code = ("import sys; sys.path.append(sys.argv[3]); from studylib.executors.process import _child_main; "
                "_child_main(int(sys.argv[1]), int(sys.argv[2]))")
        # its own session: a terminal's Ctrl-C goes to the study, which stops it, not to a process
        # still importing (a KeyboardInterrupt traceback); it exits when the study goes (_watch_parent)
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(fd), str(os.getpid()), root], pass_fds=[fd],
                                     env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        child_conn.close()
        self.conn = parent_conn
        self.pid = self.proc.pid
        self.trials_run = 0
        self.started += 1
        try:
            self.conn.send(("init", self.payload))
            deadline = time.monotonic() + self.startup_timeout
            while True:
                if self.conn.poll(0.2):
                    msg = self.conn.recv()
                    if msg[0] == "ready":
                        self.pid, self.host = msg[1], msg[2]
                        return
                    if msg[0] == "error":
                        self._kill()
                        raise StudyError(msg[1])
                elif self.proc.poll() is not None or time.monotonic() > deadline:
                    raise EOFError
        except (EOFError, OSError, BrokenPipeError):
            code = self.proc.poll()
            self._kill()
            raise WorkerDied(f"trial process {self.pid} failed to start ({_describe_exit(code)})") from None

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.running = None
        self._busy = False

    def close(self) -> None:
        """Stop the child: politely when idle, at once when it is training (Ctrl-C, shutdown)."""
        if self.proc is not None and self.proc.poll() is None and not self._busy:
            try:
                self.conn.send(("stop",))
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    # -- running ------------------------------------------------------------------------------
    def run(self, key: str, config: dict, *, timeout: float | None = None, on_epoch=None) -> Trial:
        """Evaluate one trial in the child; returns its Trial. Raises :class:`WorkerDied` if
        the child dies under it, :class:`StudyError` if the child cannot load the data."""
        if not self.alive:
            self._kill()
            self._spawn()
        pid = self.pid
        try:
            self._busy = True
            self.conn.send(("trial", key, config))
        except OSError:
            return self._died(pid)
        started = None
        while True:
            try:
                ready = self.conn.poll(0.2)
                msg = self.conn.recv() if ready else None
            except (EOFError, OSError):
                return self._died(pid)
            if msg is None:
                if self.proc.poll() is not None:
                    return self._died(pid)
                if timeout and started is not None and time.monotonic() - started > timeout:
                    self._kill()
                    return failed_trial(self.payload, key, config, f"timed out after {timeout:g} s (trial timeout)",
                                        time.monotonic() - started, self.host, pid)
                continue
            if msg[0] == "start":
                started = time.monotonic()
                self.running = key
            elif msg[0] == "epoch":
                if on_epoch is not None:
                    on_epoch(msg[2], msg[3])
            elif msg[0] == "result":
                self.running = None
                self._busy = False
                result = msg[2]
                self.trials_run += 1
                self.last_rss_mb = msg[3]
                if (self.recycle_after and self.trials_run >= self.recycle_after) or (
                        self.max_memory_mb and self.last_rss_mb and self.last_rss_mb > self.max_memory_mb):
                    self.recycled += 1
                    self.close()
                return result

    def _died(self, pid):
        code = self.proc.poll() if self.proc is not None else None
        if code is None and self.proc is not None:
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        raise WorkerDied(f"trial process {pid} on {self.host} died ({_describe_exit(code)})")


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(3)  # the study (or Dask worker) that owned us is gone


def _rss_mb() -> float | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return None


def _child_main(fd: int, ppid: int) -> None:
    """Entry point of a trial process: prepare the objective once, then run trials until told to stop."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study's to handle
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    try:
        _serve(Connection(fd))
    except (BrokenPipeError, ConnectionResetError):  # the study went (kill -9) before the watcher saw it
        os._exit(3)


def _serve(conn) -> None:
    """Prepare the objective, say ready, then train each trial sent until told to stop."""
    try:
        _, payload = conn.recv()
        objective = payload.prepare()
        import keras  # noqa: F401  (imported before the first trial's clock starts)
    except StudyError as e:
        conn.send(("error", str(e)))
        return
    except Exception as e:
        conn.send(("error", f"trial process could not load the data: {type(e).__name__}: {e}"))
        return
    conn.send(("ready", os.getpid(), socket.gethostname()))
    keep = ("loss", "accuracy", "val_loss", "val_accuracy")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "trial":
            return
        _, key, config = msg
        conn.send(("start", key))

        def on_epoch(epoch, logs, key=key):
            conn.send(("epoch", key, epoch, {k: float(logs[k]) for k in keep if k in logs}))

        trial = objective.evaluate(key, config, on_epoch=on_epoch)
        conn.send(("result", key, trial, _rss_mb()))


