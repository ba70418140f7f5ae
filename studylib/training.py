"""Train one config and report the paper's logged fields (Appendix 1-3) plus ours.

Model selection uses the validation split only: ``best_acc`` is the best *validation* accuracy
over epochs, and ``best_loss``/``best_train_acc``/``best_train_loss`` are read at that epoch.
Training stops after ``patience`` epochs without a better validation accuracy (the paper's 4) or
at ``max_epochs``. The weights of the best epoch are restored before the test set is scored once;
``test_acc`` is reported, never used to choose. A run whose loss turns NaN is stopped and recorded
with status ``diverged`` at the accuracy it really has (chance level), not raised.

Randomness: ``keras.utils.set_random_seed(seed)`` before building the model seeds weight
initialisation, dropout and the epoch shuffles.

Per-trial fixed costs are kept to what a plain ``fit`` with ``EarlyStopping`` pays
(``benchmarks/trial_overhead.py``): Keras' state is cleared without a forced full garbage
collection (0.3-0.5 s per trial with TensorFlow loaded; Python's own collector still runs), and the
best epoch's weights are copied only when a later epoch could still be worse, and the test set is
scored in batches of the trial's batch size.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .backend import require_backend
from .data import Dataset

require_backend()  # a missing Keras backend is one line (CLI exit 2) before a study writes anything


@dataclass(frozen=True)
class Budget:
    max_epochs: int = 500
    patience: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrialResult:
    best_acc: float
    best_loss: float
    best_train_acc: float
    best_train_loss: float
    epochs: int
    best_epoch: int
    test_acc: float
    test_loss: float
    params: int
    wall_time: float
    status: str = "ok"  # ok | diverged | failed
    error: str = ""
    history: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def failed(cls, error: str, wall_time: float = 0.0) -> "TrialResult":
        nan = float("nan")
        return cls(nan, nan, nan, nan, 0, 0, nan, nan, 0, wall_time, status="failed", error=error)


def _finite(v) -> float:
    v = float(v)
    return v if math.isfinite(v) else float("nan")


def evaluate(config: dict[str, Any], data: Dataset, budget: Budget, seed: int,
             on_epoch: Callable[[int, dict], None] | None = None) -> TrialResult:
    """Train ``config`` on ``data.x_train`` with early stopping on ``data.x_val``; score the test set."""
    import keras

    from .model import build_model

    start = time.perf_counter()
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(int(seed))
    model = build_model(config, data.input_shape, data.n_classes)

    class Tracker(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = -1.0
            self.best_epoch = 0
            self.best_logs: dict = {}
            self.best_weights = None
            self.wait = 0
            self.diverged = False
            self.epochs = 0

        # NaN is checked once per epoch, not per batch: a per-batch hook makes Keras sync every
        # step, which cost ~25% of a trial on a 10k-image subset.
        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            self.epochs = epoch + 1
            if on_epoch:
                on_epoch(epoch + 1, logs)
            if not math.isfinite(float(logs.get("loss", 0.0))):
                self.diverged = True
                self.model.stop_training = True
                return
            acc = float(logs.get("val_accuracy", float("nan")))
            if math.isfinite(acc) and acc > self.best:
                self.best, self.best_epoch, self.best_logs = acc, epoch + 1, logs
                self.wait = 0
                # the last epoch's weights are the model's own: no copy needed to restore them
                last = epoch + 1 >= budget.max_epochs
                self.best_weights = None if last else self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= budget.patience:
                    self.model.stop_training = True

    tracker = Tracker()
    hist = model.fit(
        data.x_train, data.y_train, batch_size=int(config["batch_size"]), epochs=int(budget.max_epochs),
        validation_data=(data.x_val, data.y_val), callbacks=[tracker], verbose=0, shuffle=True,
    )
    if tracker.best_epoch:
        if tracker.best_epoch != tracker.epochs:
            model.set_weights(tracker.best_weights)
        logs = tracker.best_logs
        best_acc, best_loss = float(logs["val_accuracy"]), _finite(logs["val_loss"])
        train_acc, train_loss = _finite(logs.get("accuracy", np.nan)), _finite(logs.get("loss", np.nan))
    else:  # diverged before any epoch finished: score what the model really does
        best_loss, best_acc = (_finite(v) for v in model.evaluate(data.x_val, data.y_val, verbose=0))
        best_acc = _nan_safe_accuracy(model, data.x_val, data.y_val) if not math.isfinite(best_acc) else best_acc
        train_acc, train_loss = float("nan"), float("nan")
    # the validation passes' batch size: fewer steps than Keras' default 32, same traced shapes
    batch = int(config["batch_size"])
    test_loss, test_acc = (_finite(v) for v in model.evaluate(data.x_test, data.y_test, batch_size=batch, verbose=0))
    if tracker.diverged and not math.isfinite(test_acc):
        test_acc = _nan_safe_accuracy(model, data.x_test, data.y_test)
    history = {k: [_finite(v) for v in vals] for k, vals in hist.history.items()}
    params = int(model.count_params())
    del model  # the next trial's clear_session() frees the graph
    return TrialResult(
        best_acc=best_acc, best_loss=best_loss, best_train_acc=train_acc, best_train_loss=train_loss,
        epochs=tracker.epochs, best_epoch=tracker.best_epoch, test_acc=test_acc, test_loss=test_loss,
        params=params, wall_time=time.perf_counter() - start,
        status="diverged" if tracker.diverged else "ok", history=history,
    )


def _nan_safe_accuracy(model, x, y) -> float:
    pred = np.nan_to_num(np.asarray(model.predict(x, verbose=0)), nan=0.0)
    return float(np.mean(pred.argmax(axis=1) == y))
