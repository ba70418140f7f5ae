"""The Dask executor: trials on a ``dask.distributed`` cluster, a ``LocalCluster`` of ``workers``
single-thread worker processes or an existing cluster at ``scheduler``. Each Dask worker thread
keeps one :class:`~studylib.executors.process.TrialProcess` per objective (a CNN objective's
dataset is loaded once per worker, from its load arguments)."""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import uuid

from ..errors import StudyError, first_line
from ..trial import Trial
from .process import TrialProcess, WorkerDied, failed_trial
from .serial import DEFAULT_MAX_RETRIES, DEFAULT_MAX_WORKER_MEMORY

_LOCAL_PROCESSES: dict = {}
_LOCAL_LOCK = threading.Lock()


def _close_local_processes() -> None:
    for proc in list(_LOCAL_PROCESSES.values()):
        proc.close()
    _LOCAL_PROCESSES.clear()


def _dask_trial(key: str, config: dict, objective, options: dict) -> Trial:
    """Runs on a Dask worker: evaluate in this worker thread's trial process (started on first
    use, kept for the next trials of the same objective)."""
    thread = threading.get_ident()
    cache_key = (thread, options["objective_id"], options.get("recycle_after"), options.get("max_worker_memory"))
    with _LOCAL_LOCK:
        proc = _LOCAL_PROCESSES.get(cache_key)
        if proc is None:
            if not _LOCAL_PROCESSES:
                atexit.register(_close_local_processes)
            for old in [k for k in _LOCAL_PROCESSES if k[0] == thread]:  # one objective at a time per thread
                _LOCAL_PROCESSES.pop(old).close()
            proc = _LOCAL_PROCESSES[cache_key] = TrialProcess(
                objective, recycle_after=options.get("recycle_after"), max_memory_mb=options.get("max_worker_memory"))
    return proc.run(key, config, timeout=options.get("trial_timeout"))


def check_scheduler_file(path: str) -> None:
    """A scheduler file is the JSON a Dask scheduler writes (``dask scheduler --scheduler-file``),
    holding its ``address``; anything else is one line."""
    import json

    for attempt in range(5):  # a scheduler that is starting may not have flushed it yet
        try:
            with open(path) as f:
                address = json.load(f).get("address")
        except (OSError, ValueError, AttributeError):
            address = None
        if isinstance(address, str):
            return
        time.sleep(0.5 * (attempt < 4))
    raise StudyError(f"--scheduler {path} is not a Dask scheduler file (the JSON file with an 'address' that "
                     "'dask scheduler --scheduler-file FILE' writes)")


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
        self.objective = None
        self._futures: dict = {}   # dask key -> (future, trial key, config, attempt)
        self._ac = None
        self._capacity = (0.0, 1)
        self.retried: list[tuple[str, str]] = []

    def start(self, objective) -> None:
        try:
            self._start(objective)
        except BaseException:  # Ctrl-C or a failure mid-start: close what was started
            self.shutdown()
            raise

    def _start(self, objective) -> None:
        import logging

        import dask
        import distributed

        self.retried = []
        self._futures = {}
        self._capacity = (0.0, 1)
        if self.client is None and self.scheduler:
            target = self.scheduler
            kw = {"scheduler_file": target} if os.path.isfile(target) else {"address": target}
            if "scheduler_file" in kw:
                check_scheduler_file(target)
            try:
                self.client = distributed.Client(timeout="30s", **kw)
            except Exception as e:  # noqa: BLE001  a file that is not a scheduler file fails an assert in distributed
                raise StudyError(f"cannot connect to the Dask scheduler at {target} "
                                 f"({first_line(e)})") from None
        elif self.client is None:
            n = self.workers or os.cpu_count() or 1
            settings = {
                # the study retries a trial whose worker died itself (bounded by max_retries)
                "distributed.scheduler.allowed-failures": 0,
                # one trial per single-thread worker: none waits behind another while a worker is free
                "distributed.scheduler.worker-saturation": 1.0,
            }
            from .dask_plugins import IgnoreInterrupt

            with dask.config.set(settings):
                self.cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                        dashboard_address=":0", silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
                # its workers ignore Ctrl-C from now on (also those started after one died)
                self.client.register_plugin(IgnoreInterrupt(), name="studylib-ignore-interrupt")
        if self.progress:
            try:
                link = self.client.dashboard_link
            except Exception:
                link = None
            sys.stderr.write(f"studylib: Dask scheduler {self.client.scheduler.address}"
                             + (f", dashboard {link}" if link else "") + "\n")
        self._ac = distributed.as_completed()
        self.objective = objective
        # one pickled copy per worker (a CNN objective without load arguments carries its arrays)
        self._payload = self.client.scatter(objective.for_worker(), broadcast=True, hash=False)
        self.options["objective_id"] = uuid.uuid4().hex

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

    def submit(self, key: str, config: dict, attempt: int = 0) -> None:
        fut = self.client.submit(_dask_trial, key, config, self._payload, self.options,
                                 key=f"studylib-trial-{key}-{attempt}-{uuid.uuid4().hex[:8]}", pure=False)
        self._futures[fut.key] = (fut, key, config, attempt)
        self._ac.add(fut)

    def wait(self) -> list[Trial]:
        from distributed import KilledWorker

        out: list[Trial] = []
        while not out:
            batch = [next(self._ac)]
            batch += self._ac.next_batch(block=False)
            for fut in batch:
                _, key, config, attempt = self._futures.pop(fut.key)
                if fut.status == "finished":
                    out.append(fut.result())
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
                        self.submit(key, config, attempt + 1)
                    else:
                        out.append(failed_trial(self.objective, key, config,
                                                f"{why}; gave up after {attempt + 1} attempts"))
                    continue
                out.append(failed_trial(self.objective, key, config, f"{type(exc).__name__}: {exc}"))
        return out

    def shutdown(self) -> None:
        futures = [entry[0] for entry in self._futures.values()]
        self._futures.clear()
        try:
            if self.client is not None and futures:
                self.client.cancel(futures, force=True)
        except Exception:
            pass
        if self.cluster is not None and self.client is not None:
            try:
                from .dask_plugins import quiet_shutdown

                self.client.run(quiet_shutdown, wait=True)
            except Exception:
                pass
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
