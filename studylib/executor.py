"""Where trials run. An executor takes ``submit(key, config, seed, budget)`` and hands finished
results back from ``wait()``; ``capacity`` is how many trials it runs at once.

``SerialExecutor`` trains in this process, one trial after another, on the dataset the study
loaded once. A trial that raises is returned as a ``failed`` result with its error message.
"""
from __future__ import annotations

import os
import socket
import time
import traceback

from .training import Budget, TrialResult, evaluate


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


class SerialExecutor:
    capacity = 1

    def __init__(self, progress: bool = True):
        self.progress = progress
        self._queue: list = []
        self._data = None

    def start(self, data) -> None:
        self._data = data

    def submit(self, key: str, config: dict, seed: int, budget: Budget) -> None:
        self._queue.append((key, config, seed, budget))

    def wait(self) -> list[tuple[str, dict]]:
        key, config, seed, budget = self._queue.pop(0)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=budget.max_epochs, desc="  epochs", unit="ep", leave=False, position=1)

        def on_epoch(epoch, logs):
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_acc=f"{logs.get('val_accuracy', float('nan')):.3f}")

        try:
            return [(key, run_trial(config, self._data, budget, seed, on_epoch=on_epoch))]
        finally:
            if bar is not None:
                bar.close()

    def shutdown(self) -> None:
        self._queue.clear()
