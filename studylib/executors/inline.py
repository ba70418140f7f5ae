"""The inline executor: trials run in this process, one after another (tests, notebooks,
debugging, the tabular benchmark): no isolation, no timeout."""
from __future__ import annotations

from ..trial import Trial
from ..progress import EpochBar


class InlineExecutor:
    """Runs the objective in this process, one trial per :meth:`wait`."""

    capacity = 1

    def __init__(self, progress: bool = True):
        self.progress = progress
        self.retried: list[tuple[str, str]] = []
        self._queue: list = []
        self._objective = None

    def start(self, objective) -> None:
        self._objective = objective.prepare()

    def submit(self, key: str, config: dict) -> None:
        self._queue.append((key, config))

    def wait(self) -> list[Trial]:
        key, config = self._queue.pop(0)
        bar = EpochBar(self.progress, self._objective.max_epochs)
        try:
            return [self._objective.evaluate(key, config, on_epoch=bar)]
        finally:
            bar.close()

    def shutdown(self) -> None:
        self._queue.clear()
