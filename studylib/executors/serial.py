"""The serial executor (the default): one trial after another in a reused, recycled child
process (:class:`~studylib.executors.process.TrialProcess`), so memory TensorFlow keeps across
many models cannot take the study down. Epoch progress comes back through the pipe."""
from __future__ import annotations

from .. import defaults
from ..trial import Trial
from ..progress import EpochBar
from .process import TrialProcess, WorkerDied, failed_trial

DEFAULT_MAX_RETRIES = defaults.MAX_RETRIES
DEFAULT_MAX_WORKER_MEMORY = defaults.MAX_WORKER_MEMORY


class SerialExecutor:
    """One trial at a time in a child process; a trial whose process died is run again, at most
    ``max_retries`` times; one past ``trial_timeout`` seconds is killed and comes back failed."""

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

    def start(self, objective) -> None:
        self.retried = []
        self.objective = objective
        self.process = TrialProcess(objective, recycle_after=self.recycle_after,
                                    max_memory_mb=self.max_worker_memory)

    def submit(self, key: str, config: dict) -> None:
        self._queue.append((key, config))

    def wait(self) -> list[Trial]:
        key, config = self._queue.pop(0)
        attempt = 0
        while True:
            bar = EpochBar(self.progress, self.objective.max_epochs)
            try:
                return [self.process.run(key, config, timeout=self.trial_timeout, on_epoch=bar)]
            except WorkerDied as e:
                attempt += 1
                if attempt > self.max_retries:
                    return [failed_trial(self.objective, key, config, f"{e}; gave up after {attempt} attempts")]
                self.retried.append((key, str(e)))
            finally:
                bar.close()

    def shutdown(self) -> None:
        self._queue.clear()
        if self.process is not None:
            self.process.close()
