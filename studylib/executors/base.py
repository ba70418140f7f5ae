"""The :class:`Executor` protocol every executor implements (the epoch bar is :class:`studylib.progress.EpochBar`)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..trial import Trial


@runtime_checkable
class Executor(Protocol):
    """Where trials run. ``start(objective)`` and ``shutdown()`` bracket a study; ``submit(key,
    config)`` queues one evaluation of the objective; ``wait()`` blocks until at least one
    finished and returns the finished :class:`~studylib.trial.Trial` s (``trial.key`` says which);
    ``capacity`` is how many trials run at once; ``retried`` lists ``(key, why)`` for every trial
    run again because its process or worker died."""

    retried: list

    @property
    def capacity(self) -> int: ...

    def start(self, objective) -> None: ...

    def submit(self, key: str, config: dict) -> None: ...

    def wait(self) -> list[Trial]: ...

    def shutdown(self) -> None: ...
