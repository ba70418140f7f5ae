"""Where trials run: every executor follows the :class:`Executor` protocol and runs an objective
(:mod:`studylib.objective`), a CNN trainer or a benchmark table alike. :func:`make_executor`
is the one place that builds them.

* ``serial`` (the default, :mod:`.serial`): one trial after another in a reused, recycled child
  process (:mod:`.process`);
* ``dask`` (:mod:`.dask`): on a ``dask.distributed`` cluster, local (``workers``) or joined
  (``scheduler``);
* ``inline`` (:mod:`.inline`): in this process, no isolation, no timeout;
* simulated workers (:mod:`.simulated`, benchmarks only): a table's trials on a simulated clock.

Failures: a trial that raises comes back as a ``failed`` Trial with its error message; one that
runs longer than ``trial_timeout`` seconds is killed (its process is replaced) and comes back
``failed`` too. A trial whose process *dies* (killed, out of memory, lost machine) is run again,
in a fresh process or on another Dask worker, at most ``max_retries`` times; then it is ``failed``.
"""
from __future__ import annotations

from ..checks import real_number, whole_number
from ..errors import StudyError
from ..progress import EpochBar
from .base import Executor
from .dask import DaskExecutor
from .inline import InlineExecutor
from .process import TrialProcess, WorkerDied, failed_trial
from .simulated import SimulatedWorkers
from .serial import DEFAULT_MAX_RETRIES, DEFAULT_MAX_WORKER_MEMORY, SerialExecutor

EXECUTORS = ("serial", "dask", "inline")


def make_executor(kind: str | None = None, *, progress: bool = True, workers: int | None = None,
                  scheduler: str | None = None, trial_timeout: float | None = None,
                  max_retries: int | None = None, recycle_after: int | None = None,
                  max_worker_memory: float | None = None) -> Executor:
    """Build an executor by name (``serial``, ``dask``, ``inline``) after validating its options;
    ``workers`` or ``scheduler`` without a name means ``dask``. Raises :class:`StudyError`."""
    if kind is None:
        kind = "dask" if (workers or scheduler) else "serial"
    if kind not in EXECUTORS:
        raise StudyError(f"unknown executor {kind!r} (choose from: {', '.join(EXECUTORS)})")
    # a notebook's numpy numbers are numbers too
    workers, recycle_after = (None if v is None else whole_number(n, v) for n, v in
                              (("workers", workers), ("recycle-after", recycle_after)))
    max_retries = None if max_retries is None else whole_number("max-retries", max_retries, minimum=0)
    trial_timeout = None if trial_timeout is None else real_number("trial-timeout", trial_timeout)
    max_worker_memory = (None if max_worker_memory is None  # 0: no memory limit
                         else real_number("max-worker-memory", max_worker_memory, zero=True))
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


__all__ = ["EXECUTORS", "DEFAULT_MAX_RETRIES", "DEFAULT_MAX_WORKER_MEMORY", "DaskExecutor", "EpochBar", "Executor",
           "InlineExecutor", "SerialExecutor", "SimulatedWorkers", "TrialProcess", "WorkerDied", "failed_trial", "make_executor"]
