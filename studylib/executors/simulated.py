"""Simulated workers: a table objective's trials run in this process, but each one *takes* its
epochs on a simulated clock shared by ``workers`` workers (the learning-curve benchmark with
several trials in flight: what a study on a cluster would see, without the cluster).

A trial submitted at time ``t`` to a free worker finishes at ``t + charged epochs``; :meth:`wait`
returns the one that finishes first (ties: the first submitted) and moves the clock there. The
loop submits only while a worker is free (a study under a budget does), so no trial queues here.
No randomness: the order of results depends only on the trials' epochs.
"""
from __future__ import annotations

import heapq

from ..fidelity import charged_epochs
from ..trial import Trial


class SimulatedWorkers:
    """``workers`` simulated workers: ``now`` (the clock, in epochs), ``busy`` (epochs of the trials
    done, all workers together) and ``finished_at`` (trial key -> the time its result came back)."""

    def __init__(self, workers: int):
        if not (isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1):
            raise ValueError("simulated workers: need a whole number of workers >= 1")
        self.capacity = workers
        self.retried: list[tuple[str, str]] = []
        self.now, self.busy = 0.0, 0.0
        self.finished_at: dict[str, float] = {}
        self._running: list[tuple[float, int, Trial]] = []
        self._submitted = 0
        self._objective = None

    def start(self, objective) -> None:
        self._objective = objective.prepare()

    def submit(self, key: str, config: dict) -> None:
        if len(self._running) >= self.capacity:
            raise RuntimeError("simulated workers: a trial was submitted while every worker was busy")
        trial = self._objective.evaluate(key, config)
        heapq.heappush(self._running, (self.now + charged_epochs(trial), self._submitted, trial))
        self._submitted += 1

    def wait(self) -> list[Trial]:
        end, _, trial = heapq.heappop(self._running)
        self.busy += charged_epochs(trial)  # counted once done: a run stopped early leaves none beyond now
        self.now = end
        self.finished_at[trial.key] = end
        return [trial]

    def utilization(self) -> float:
        """Epochs worked / (workers x the clock): 1 when no worker was ever idle."""
        return self.busy / (self.capacity * self.now) if self.now else 1.0

    def shutdown(self) -> None:
        self._running.clear()
