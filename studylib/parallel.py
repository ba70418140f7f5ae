"""The one process pool of the benchmarks: ``run_jobs(fn, jobs, workers, shared)``.

``fn(job)`` runs for every job, in this process with one worker (or one job), else in
``workers`` forked processes (one job at a time each, so a slow job does not hold others back).
``shared`` (e.g. the run's tables) reaches the workers once, at their start, not once per job;
``fn`` reads it with :func:`shared`. Results come back in job order whatever order they finish
in; ``done(k, n)`` is called after each (the caller's progress, :class:`studylib.progress.RunCounter`).
No randomness here: each job carries its own seed.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
from typing import Any, Callable, Sequence

_SHARED: Any = None


def shared() -> Any:
    """What the running :func:`run_jobs` was given as ``shared`` (in its workers too)."""
    return _SHARED


def _set_shared(value) -> None:
    global _SHARED
    _SHARED = value


def _start_worker(value) -> None:
    """A pool worker: ``shared`` set, and Ctrl-C left to the parent (a terminal sends it to every
    process of the group; the parent stops the pool), so no worker prints an interrupted traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_shared(value)


def _call(args):
    fn, i, job = args
    return i, fn(job)


def run_jobs(fn: Callable, jobs: Sequence, workers: int = 2, shared: Any = None,
             done: Callable[[int, int], None] | None = None) -> list:
    """``[fn(job) for job in jobs]``, in parallel (see the module doc). ``workers`` >= 1."""
    jobs = list(jobs)
    results: list = [None] * len(jobs)
    _set_shared(shared)
    if int(workers) <= 1 or len(jobs) <= 1:
        for k, job in enumerate(jobs, 1):
            results[k - 1] = fn(job)
            if done:
                done(k, len(jobs))
        return results
    ctx = mp.get_context("fork") if sys.platform != "win32" else mp.get_context()
    with ctx.Pool(int(workers), initializer=_start_worker, initargs=(shared,)) as pool:
        for k, (i, r) in enumerate(pool.imap_unordered(_call, [(fn, i, j) for i, j in enumerate(jobs)],
                                                       chunksize=1), 1):
            results[i] = r
            if done:
                done(k, len(jobs))
    return results
