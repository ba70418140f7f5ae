"""Train one config and report the paper's logged fields (Appendix 1-3) plus ours.

Model selection uses the validation split only: ``best_acc`` is the best *validation* accuracy
over epochs, and ``best_loss``/``best_train_acc``/``best_train_loss`` are read at that epoch.
Training stops after ``patience`` epochs without a better validation accuracy (the paper's 4) or
at ``max_epochs``. The weights of the best epoch are restored before the test set is scored once;
``test_acc`` is reported, never used to choose. A run whose loss turns NaN is stopped and recorded
with status ``diverged`` at the accuracy it really has (chance level), not raised.

One trainer for full trials and rungs: :func:`train_epochs` runs the epochs (one ``fit`` each)
and :func:`score` reports them; ``resumable.train_rung`` uses both, so a rung reports exactly
what full training for as many epochs (no early stopping) reports.

Randomness: ``keras.utils.set_random_seed(seed)`` before building the model (initial weights);
each epoch trains on the order ``numpy.random.default_rng(epoch_seed(seed, epoch)).permutation``
and resets the dropout layers' seed generators to ``epoch_seed``, so an epoch's shuffle and
dropout depend only on (seed, epoch), never on how many ``fit`` calls came before (a rung
continued from a checkpoint trains as straight training).

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


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed set before epoch ``epoch`` (0-based) of a trial seeded ``seed``."""
    return (int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)) % (2**31 - 1)


def _reseed_layers(model, seed: int) -> None:
    """Set every layer's ``seed_generator`` (dropout) to a state that depends only on ``seed``."""
    import keras

    for layer in model.layers:
        gen = getattr(layer, "seed_generator", None)
        if gen is not None and hasattr(gen, "state"):
            gen.state.assign(keras.ops.convert_to_tensor(np.array([seed, 0]), dtype=gen.state.dtype))


@dataclass
class Run:
    """What :func:`train_epochs` leaves: the per-epoch logs (earlier rungs' included), the best
    epoch (1-based, by validation accuracy; 0: none finished), its weights when they are not the
    model's own, and whether the loss turned NaN."""

    history: dict
    best_epoch: int = 0
    best_weights: list | None = None
    diverged: bool = False

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))


def train_epochs(model, config: dict, data: Dataset, seed: int, run: Run, epochs: int, patience: int | None,
                 on_epoch: Callable[[int, dict], None] | None = None) -> Run:
    """Train ``model`` from epoch ``run.epochs`` up to ``epochs`` (fewer: ``patience`` epochs
    without a better validation accuracy, or a NaN loss), one ``fit`` per epoch seeded by
    :func:`epoch_seed` (shuffle and dropout depend only on the seed and the epoch)."""
    accs = [a for a in run.history.get("val_accuracy", []) if math.isfinite(a)]
    best, wait = (max(accs) if accs else -1.0), 0
    for epoch in range(run.epochs, epochs):
        # the epoch's order from its own generator: a global set_random_seed per epoch makes
        # TensorFlow retrace (0.3-0.5 s an epoch on digits), a permutation costs a copy
        order = np.random.default_rng(epoch_seed(seed, epoch)).permutation(len(data.y_train))
        _reseed_layers(model, epoch_seed(seed, epoch))
        h = model.fit(data.x_train[order], data.y_train[order], batch_size=int(config["batch_size"]),
                      epochs=epoch + 1, initial_epoch=epoch, validation_data=(data.x_val, data.y_val), verbose=0,
                      shuffle=False)
        logs = {k: _finite(v[-1]) for k, v in h.history.items()}
        for k, v in logs.items():
            run.history.setdefault(k, []).append(v)
        if on_epoch:
            on_epoch(epoch + 1, logs)
        if not math.isfinite(logs.get("loss", float("nan"))):
            run.diverged = True
            break
        acc = logs.get("val_accuracy", float("nan"))
        if math.isfinite(acc) and acc > best:
            best, run.best_epoch, wait = acc, epoch + 1, 0
            # the last epoch's weights are the model's own: no copy needed to restore them
            run.best_weights = None if epoch + 1 >= epochs else model.get_weights()
        else:
            wait += 1
            if patience is not None and wait >= patience:
                break
    return run


def score(model, config: dict, data: Dataset, run: Run, start: float, earlier: dict | None = None) -> TrialResult:
    """The result of ``run``: validation fields at the best epoch; the test set scored once with
    the best epoch's weights (restored). A best epoch of an earlier rung (before this call trained)
    takes that rung's test scores (``earlier``: its ``test_acc``, ``test_loss``, ``best_epoch``)."""
    history = run.history
    accs = np.asarray(history.get("val_accuracy", []), dtype=float)
    if run.diverged and accs.size:
        accs[-1] = np.nan  # the epoch whose loss turned NaN is nobody's best
    b = int(np.nanargmax(accs)) + 1 if accs.size and np.isfinite(accs).any() else 0
    if b:
        pick = {k: (v[b - 1] if b <= len(v) else float("nan")) for k, v in history.items()}
        best_acc, best_loss = float(accs[b - 1]), _finite(pick.get("val_loss", np.nan))
        train_acc, train_loss = _finite(pick.get("accuracy", np.nan)), _finite(pick.get("loss", np.nan))
    else:  # diverged before any epoch finished: score what the model really does
        best_loss, best_acc = (_finite(v) for v in model.evaluate(data.x_val, data.y_val, verbose=0))
        best_acc = _nan_safe_accuracy(model, data.x_val, data.y_val) if not math.isfinite(best_acc) else best_acc
        train_acc = train_loss = float("nan")
    if b and b != run.best_epoch and earlier is not None and int(earlier.get("best_epoch") or 0) == b:
        test_acc, test_loss = _finite(earlier["test_acc"]), _finite(earlier["test_loss"])
    else:
        if b and b == run.best_epoch and run.best_weights is not None:
            model.set_weights(run.best_weights)
        # the validation passes' batch size: fewer steps than Keras' default 32, same traced shapes
        test_loss, test_acc = (_finite(v) for v in model.evaluate(data.x_test, data.y_test,
                                                                  batch_size=int(config["batch_size"]), verbose=0))
        if run.diverged and not math.isfinite(test_acc):
            test_acc = _nan_safe_accuracy(model, data.x_test, data.y_test)
    return TrialResult(best_acc=best_acc, best_loss=best_loss, best_train_acc=train_acc, best_train_loss=train_loss,
                       epochs=run.epochs, best_epoch=b, test_acc=test_acc, test_loss=test_loss,
                       params=int(model.count_params()), wall_time=time.perf_counter() - start,
                       status="diverged" if run.diverged else "ok", history=history)


def evaluate(config: dict[str, Any], data: Dataset, budget: Budget, seed: int,
             on_epoch: Callable[[int, dict], None] | None = None) -> TrialResult:
    """Train ``config`` on ``data.x_train`` with early stopping on ``data.x_val``; score the test set
    with the best epoch's weights. The same epochs and seeds as a rung (:mod:`studylib.resumable`)."""
    import keras

    from .model import build_model

    start = time.perf_counter()
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(int(seed))
    model = build_model(config, data.input_shape, data.n_classes)
    run = train_epochs(model, config, data, seed, Run({}), int(budget.max_epochs), int(budget.patience), on_epoch)
    result = score(model, config, data, run, start)
    del model  # the next trial's clear_session() frees the graph
    return result


def _nan_safe_accuracy(model, x, y) -> float:
    pred = np.nan_to_num(np.asarray(model.predict(x, verbose=0)), nan=0.0)
    return float(np.mean(pred.argmax(axis=1) == y))
