"""Where trials run. An executor takes ``submit(key, config, seed, budget)`` and hands finished
results back from ``wait()`` (a list of ``(key, result dict)``, at least one); ``capacity`` is how
many trials it runs at once; ``start(data, source=None)`` and ``shutdown()`` bracket a study.

* :class:`SerialExecutor` (``"serial"``, the default) trains one trial after another in a
  long-lived child process (:class:`TrialProcess`) that loads the dataset once. The child is
  recycled after ``recycle_after`` trials or when its resident memory passes
  ``max_worker_memory`` MiB, so memory TensorFlow keeps across many models cannot take the study
  down. Epoch progress comes back through the pipe to the parent's progress bar.
* :class:`DaskExecutor` (``"dask"``) runs trials on a ``dask.distributed`` cluster: a
  ``LocalCluster`` of ``workers`` single-thread worker processes, or an existing cluster at
  ``scheduler``. Each Dask worker keeps one :class:`TrialProcess` per dataset (the dataset is
  loaded once per worker, from its load arguments).
* :class:`InlineExecutor` (``"inline"``) trains in this process (tests, notebooks, debugging):
  no isolation, no timeout.

Failures: a trial that raises comes back as a ``failed`` result with its error message; one that
runs longer than ``trial_timeout`` seconds is killed (its process is replaced) and comes back
``failed`` too. A trial whose process *dies* (killed, out of memory, lost machine) is run again,
in a fresh process or on another Dask worker, at most ``max_retries`` times; then it is ``failed``.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StudyError
from .training import Budget, TrialResult, evaluate

EXECUTORS = ("serial", "dask", "inline")
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_WORKER_MEMORY = 4096  # MiB; see benchmarks/worker_memory.py
STARTUP_TIMEOUT = 600.0  # seconds a trial process may take to import Keras and load the data


class WorkerDied(RuntimeError):
    """The process running a trial died (killed, out of memory, machine lost): worth a retry."""


@dataclass(frozen=True)
class DataSource:
    """How a worker loads the study's dataset itself: ``load_dataset(name, **kwargs)``, which must
    give the same bytes (``fingerprint``) the study keyed its trials on."""

    name: str
    kwargs: dict = field(default_factory=dict)
    fingerprint: str = ""

    def load(self):
        from .data import load_dataset

        data = load_dataset(self.name, **self.kwargs)
        if self.fingerprint and data.fingerprint != self.fingerprint:
            raise StudyError(f"dataset {self.name} on {socket.gethostname()} differs from the study's "
                             f"(hash {data.fingerprint} != {self.fingerprint}); give every machine the same "
                             "data files (--data-dir)")
        return data


def run_trial(config: dict, data, budget: Budget, seed: int, on_epoch=None) -> dict:
    """Evaluate one config and return a plain result dict (never raises)."""
    start = time.perf_counter()
    try:
        result = evaluate(config, data, budget, seed, on_epoch=on_epoch)
    except Exception as e:  # an invalid combination, out of memory...
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        result = TrialResult.failed(last, time.perf_counter() - start)
    out = result.to_dict()
    out.update(host=socket.gethostname(), pid=os.getpid())
    return out


def failed_result(error: str, wall_time: float = 0.0, host: str | None = None, pid: int | None = None) -> dict:
    out = TrialResult.failed(error, wall_time).to_dict()
    out.update(host=host or socket.gethostname(), pid=pid or os.getpid())
    return out


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
    """A long-lived child Python process that trains trials on a dataset it loads once.

    ``payload`` is a :class:`DataSource` (the child loads the data itself) or a ``Dataset`` (sent
    once, pickled, when the child starts). The child is started on the first :meth:`run` and
    replaced after ``recycle_after`` trials, when its RSS after a trial exceeds
    ``max_memory_mb``, after a timeout, or when it died. It exits by itself when its parent dies.
    """

    def __init__(self, payload, *, recycle_after: int | None = None, max_memory_mb: float | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT):
        self.payload = payload
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
        root = str(Path(__file__).resolve().parents[1])  # last on sys.path: finds an uninstalled checkout
        code = ("import sys; sys.path.append(sys.argv[3]); from studylib.executor import _child_main; "
                "_child_main(int(sys.argv[1]), int(sys.argv[2]))")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(fd), str(os.getpid()), root], pass_fds=[fd],
                                     env=env, stdin=subprocess.DEVNULL)
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
    def run(self, key: str, config: dict, seed: int, budget: Budget, *, timeout: float | None = None,
            on_epoch=None) -> dict:
        """Train one trial in the child; returns its result dict. Raises :class:`WorkerDied` if
        the child dies under it, :class:`StudyError` if the child cannot load the data."""
        if not self.alive:
            self._kill()
            self._spawn()
        pid = self.pid
        try:
            self._busy = True
            self.conn.send(("trial", key, config, int(seed), budget))
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
                    return failed_result(f"timed out after {timeout:g} s (trial timeout)",
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
                self.last_rss_mb = result.pop("rss_mb", None)
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
    """Entry point of a trial process: load the data once, then train trials until told to stop."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study's to handle
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    conn = Connection(fd)
    try:
        _, payload = conn.recv()
        data = payload.load() if isinstance(payload, DataSource) else payload
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
        _, key, config, seed, budget = msg
        conn.send(("start", key))

        def on_epoch(epoch, logs, key=key):
            conn.send(("epoch", key, epoch, {k: float(logs[k]) for k in keep if k in logs}))

        result = run_trial(config, data, budget, seed, on_epoch=on_epoch)
        result["rss_mb"] = _rss_mb()
        conn.send(("result", key, result))


# -- executors --------------------------------------------------------------------------------

class _EpochBar:
    def __init__(self, progress: bool, total: int):
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="  epochs", unit="ep", leave=False, position=1)

    def __call__(self, epoch, logs):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(val_acc=f"{logs.get('val_accuracy', float('nan')):.3f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


class InlineExecutor:
    """Trains in this process, one trial after another (no isolation, no timeout)."""

    capacity = 1

    def __init__(self, progress: bool = True):
        self.progress = progress
        self._queue: list = []
        self._data = None

    def start(self, data, source=None) -> None:
        self._data = data

    def submit(self, key: str, config: dict, seed: int, budget: Budget) -> None:
        self._queue.append((key, config, seed, budget))

    def wait(self) -> list[tuple[str, dict]]:
        key, config, seed, budget = self._queue.pop(0)
        bar = _EpochBar(self.progress, budget.max_epochs)
        try:
            return [(key, run_trial(config, self._data, budget, seed, on_epoch=bar))]
        finally:
            bar.close()

    def shutdown(self) -> None:
        self._queue.clear()


class SerialExecutor:
    """One trial after another in a reused, recycled child process (see :class:`TrialProcess`)."""

    capacity = 1

    def __init__(self, progress: bool = True, *, trial_timeout: float | None = None,
                 max_retries: int = DEFAULT_MAX_RETRIES, recycle_after: int | None = None,
                 max_worker_memory: float | None = DEFAULT_MAX_WORKER_MEMORY):
        self.progress = progress
        self.trial_timeout = trial_timeout
        self.max_retries = max_retries
        self.recycle_after = recycle_after
        self.max_worker_memory = max_worker_memory
        self._queue: list = []
        self.process: TrialProcess | None = None
        self.retried: list[tuple[str, str]] = []  # (key, why) for every re-run trial

    def start(self, data, source=None) -> None:
        self.retried = []
        self.process = TrialProcess(source if source is not None else data, recycle_after=self.recycle_after,
                                    max_memory_mb=self.max_worker_memory)

    def submit(self, key: str, config: dict, seed: int, budget: Budget) -> None:
        self._queue.append((key, config, seed, budget))

    def wait(self) -> list[tuple[str, dict]]:
        key, config, seed, budget = self._queue.pop(0)
        attempt = 0
        while True:
            bar = _EpochBar(self.progress, budget.max_epochs)
            try:
                return [(key, self.process.run(key, config, seed, budget, timeout=self.trial_timeout,
                                               on_epoch=bar))]
            except WorkerDied as e:
                attempt += 1
                if attempt > self.max_retries:
                    return [(key, failed_result(f"{e}; gave up after {attempt} attempts"))]
                self.retried.append((key, str(e)))
            finally:
                bar.close()

    def shutdown(self) -> None:
        self._queue.clear()
        if self.process is not None:
            self.process.close()


# -- Dask -------------------------------------------------------------------------------------

_LOCAL_PROCESSES: dict = {}
_LOCAL_LOCK = threading.Lock()


def _close_local_processes() -> None:
    for proc in list(_LOCAL_PROCESSES.values()):
        proc.close()
    _LOCAL_PROCESSES.clear()


def _dask_trial(key: str, config: dict, seed: int, budget: Budget, payload, options: dict) -> dict:
    """Runs on a Dask worker: train in this worker thread's trial process (started on first use,
    kept for the next trials of the same dataset)."""
    thread = threading.get_ident()
    cache_key = (thread, getattr(payload, "fingerprint", None), options.get("recycle_after"),
                 options.get("max_worker_memory"))
    with _LOCAL_LOCK:
        proc = _LOCAL_PROCESSES.get(cache_key)
        if proc is None:
            if not _LOCAL_PROCESSES:
                atexit.register(_close_local_processes)
            for old in [k for k in _LOCAL_PROCESSES if k[0] == thread]:  # one dataset at a time per thread
                _LOCAL_PROCESSES.pop(old).close()
            proc = _LOCAL_PROCESSES[cache_key] = TrialProcess(
                payload, recycle_after=options.get("recycle_after"), max_memory_mb=options.get("max_worker_memory"))
    return proc.run(key, config, seed, budget, timeout=options.get("trial_timeout"))


class DaskExecutor:
    """Trials on a ``dask.distributed`` cluster; ``capacity`` is its number of worker threads.

    Without ``scheduler`` a ``LocalCluster`` of ``workers`` single-thread processes is started
    (and closed by :meth:`shutdown`); with ``scheduler`` (``tcp://host:8786`` or a scheduler
    file path) the study joins that cluster, whose workers may come and go. ``client`` may be
    an existing ``distributed.Client`` to use instead.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *, progress: bool = True,
                 trial_timeout: float | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 recycle_after: int | None = None, max_worker_memory: float | None = DEFAULT_MAX_WORKER_MEMORY,
                 client=None):
        self.workers = workers
        self.scheduler = scheduler
        self.progress = progress
        self.max_retries = max_retries
        self.options = {"trial_timeout": trial_timeout, "recycle_after": recycle_after,
                        "max_worker_memory": max_worker_memory}
        self.client = client
        self._own_client = client is None
        self.cluster = None
        self._payload = None
        self._futures: dict = {}   # dask key -> (future, trial key, config, seed, budget, attempt)
        self._ac = None
        self._capacity = (0.0, 1)
        self.retried: list[tuple[str, str]] = []

    def start(self, data, source=None) -> None:
        import logging

        import dask
        import distributed

        self.retried = []
        self._futures = {}
        self._capacity = (0.0, 1)
        if self.client is None and self.scheduler:
            target = self.scheduler
            kw = {"scheduler_file": target} if os.path.isfile(target) else {"address": target}
            try:
                self.client = distributed.Client(timeout="30s", **kw)
            except (OSError, TimeoutError, ValueError) as e:
                raise StudyError(f"cannot connect to the Dask scheduler at {target} ({e})") from None
        elif self.client is None:
            n = self.workers or os.cpu_count() or 1
            settings = {
                # the study retries a trial whose worker died itself (bounded by max_retries)
                "distributed.scheduler.allowed-failures": 0,
                # one trial per single-thread worker: none waits behind another while a worker is free
                "distributed.scheduler.worker-saturation": 1.0,
            }
            with dask.config.set(settings):
                self.cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                        dashboard_address=":0", silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
        if self.progress:
            try:
                link = self.client.dashboard_link
            except Exception:
                link = None
            sys.stderr.write(f"studylib: Dask scheduler {self.client.scheduler.address}"
                             + (f", dashboard {link}" if link else "") + "\n")
        self._ac = distributed.as_completed()
        if source is not None:
            self._payload = source
        else:  # no load arguments: ship the arrays once to each worker that needs them
            self._payload = self.client.scatter(data, broadcast=True, hash=False)

    @property
    def capacity(self) -> int:
        t, n = self._capacity
        if time.monotonic() - t > 5:
            try:
                n = max(1, sum(self.client.nthreads().values()))
            except Exception:
                pass
            self._capacity = (time.monotonic(), n)
        return n

    def submit(self, key: str, config: dict, seed: int, budget: Budget, attempt: int = 0) -> None:
        fut = self.client.submit(_dask_trial, key, config, seed, budget, self._payload, self.options,
                                 key=f"studylib-trial-{key}-{attempt}-{uuid.uuid4().hex[:8]}", pure=False)
        self._futures[fut.key] = (fut, key, config, seed, budget, attempt)
        self._ac.add(fut)

    def wait(self) -> list[tuple[str, dict]]:
        from distributed import KilledWorker

        out: list[tuple[str, dict]] = []
        while not out:
            batch = [next(self._ac)]
            batch += self._ac.next_batch(block=False)
            for fut in batch:
                _, key, config, seed, budget, attempt = self._futures.pop(fut.key)
                if fut.status == "finished":
                    out.append((key, fut.result()))
                    continue
                if fut.status == "cancelled":
                    raise StudyError("Dask cancelled a trial (lost the scheduler?); finished trials are in the "
                                     "ledger, re-run the same command to continue")
                exc = fut.exception()
                if isinstance(exc, StudyError):
                    raise StudyError(str(exc))
                if isinstance(exc, (KilledWorker, WorkerDied)):
                    why = str(exc) if isinstance(exc, WorkerDied) else "its Dask worker died"
                    if attempt < self.max_retries:
                        self.retried.append((key, why))
                        self.submit(key, config, seed, budget, attempt + 1)
                    else:
                        out.append((key, failed_result(f"{why}; gave up after {attempt + 1} attempts")))
                    continue
                out.append((key, failed_result(f"{type(exc).__name__}: {exc}")))
        return out

    def shutdown(self) -> None:
        futures = [entry[0] for entry in self._futures.values()]
        self._futures.clear()
        try:
            if self.client is not None and futures:
                self.client.cancel(futures, force=True)
        except Exception:
            pass
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_executor(kind: str | None = None, *, progress: bool = True, workers: int | None = None,
                  scheduler: str | None = None, trial_timeout: float | None = None,
                  max_retries: int | None = None, recycle_after: int | None = None,
                  max_worker_memory: float | None = None):
    """Build an executor by name (``serial``, ``dask``, ``inline``) after validating its options;
    ``workers`` or ``scheduler`` without a name means ``dask``. Raises :class:`StudyError`."""
    if kind is None:
        kind = "dask" if (workers or scheduler) else "serial"
    if kind not in EXECUTORS:
        raise StudyError(f"unknown executor {kind!r} (choose from: {', '.join(EXECUTORS)})")
    for name, v in (("workers", workers), ("max-retries", max_retries), ("recycle-after", recycle_after)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "max-retries" else 1)):
            raise StudyError(f"{name} must be a {'non-negative' if name == 'max-retries' else 'positive'} "
                             f"integer, got {v!r}")
    for name, v in (("trial-timeout", trial_timeout), ("max-worker-memory", max_worker_memory)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
                              or (v == 0 and name == "trial-timeout")):
            raise StudyError(f"{name} must be a positive number, got {v!r}")
    if kind != "dask" and (workers not in (None, 1) or scheduler):
        raise StudyError(f"--workers/--scheduler need --executor dask (got --executor {kind})")
    if kind == "inline":
        if trial_timeout or recycle_after or max_worker_memory:  # (0: no memory limit)
            raise StudyError("the inline executor trains in this process: no trial timeout or recycling "
                             "(use --executor serial)")
        return InlineExecutor(progress=progress)
    opts = dict(trial_timeout=trial_timeout, recycle_after=recycle_after,
                max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
                max_worker_memory=DEFAULT_MAX_WORKER_MEMORY if max_worker_memory is None else max_worker_memory)
    if kind == "serial":
        return SerialExecutor(progress=progress, **opts)
    if workers and scheduler:
        raise StudyError("give --workers (start a local Dask cluster) or --scheduler (join one), not both")
    return DaskExecutor(workers=workers, scheduler=scheduler, progress=progress, **opts)
