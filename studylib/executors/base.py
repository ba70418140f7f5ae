"""The :class:`Executor` protocol every executor implements, and the epoch progress bar."""
from __future__ import annotations

import sys
from typing import Protocol, runtime_checkable

from ..progress import epoch as progress_epoch, interactive
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


class EpochBar:
    """A tqdm bar of one trial's epochs where bars render (or nothing, without ``progress`` or
    epochs, or in a log); each epoch also goes to the progress file (:mod:`studylib.progress`)."""

    def __init__(self, progress: bool, total: int):
        self.bar, self.total = None, total
        if progress and total and interactive(sys.stderr):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="  epochs", unit="ep", leave=False, position=1)

    def __call__(self, epoch, logs):
        progress_epoch(epoch, logs, self.total)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(val_acc=f"{logs.get('val_accuracy', float('nan')):.3f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
