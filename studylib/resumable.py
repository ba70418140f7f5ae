"""Resumable training: train a config to ``epochs`` epochs, continuing from a checkpoint of fewer.

A *rung* trains a config for exactly ``epochs`` epochs (no early stopping: the strategy decides
which configs go on) and saves a Keras ``.keras`` checkpoint (weights, optimizer state, the
dropout seed generators' state) that a later rung of the same config continues from. Training
``e`` epochs, saving, and continuing to ``e' > e`` gives the same weights and metrics as training
``e'`` epochs straight (same seed; deterministic on CPU; ``tests/test_multifidelity.py``).

Randomness: ``keras.utils.set_random_seed(seed)`` before building the model (initial weights),
then ``keras.utils.set_random_seed(epoch_seed(seed, epoch))`` before each epoch's ``fit``, so the
epoch's shuffle draws depend only on (seed, epoch), never on how many ``fit`` calls came before.
Dropout draws from its layer's ``seed_generator``, whose state a ``.keras`` file does not keep:
it is reset to ``[epoch_seed, 0]`` before each epoch too.

Only Keras 3 public API is used (any backend). ``best_acc`` is the best validation accuracy over
all epochs so far (the curve of the lower rungs included); the test set is scored once per rung
with the last epoch's weights (a rung keeps training, so the best epoch's weights are not restored).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .backend import require_backend
from .training import TrialResult, _finite, _nan_safe_accuracy

require_backend()


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


def train_rung(config: dict, data, seed: int, epochs: int, *, resume: str | Path | None = None,
               history: dict | None = None, save: str | Path | None = None,
               on_epoch: Callable[[int, dict], None] | None = None) -> TrialResult:
    """Train ``config`` to ``epochs`` epochs in all and return its result.

    ``resume``: a checkpoint of the same config and seed after ``len(history['loss'])`` epochs
    (``history``: that rung's per-epoch logs); without it training starts from scratch.
    ``save``: where to write this rung's checkpoint (atomically). ``result.epochs`` is the total
    (``epochs``); the epochs trained now are ``epochs - done``."""
    import keras

    from .model import build_model

    start = time.perf_counter()
    history = {k: list(v) for k, v in (history or {}).items()} if resume else {}
    done = len(history.get("loss", [])) if resume else 0
    if done > epochs:
        raise ValueError(f"checkpoint has {done} epochs, more than the {epochs} asked")
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(int(seed))
    if resume:
        model = keras.models.load_model(resume, compile=True)
    else:
        model = build_model(config, data.input_shape, data.n_classes)
    diverged = False
    for epoch in range(done, epochs):
        keras.utils.set_random_seed(epoch_seed(seed, epoch))
        _reseed_layers(model, epoch_seed(seed, epoch))
        h = model.fit(data.x_train, data.y_train, batch_size=int(config["batch_size"]), epochs=epoch + 1,
                      initial_epoch=epoch, validation_data=(data.x_val, data.y_val), verbose=0, shuffle=True)
        logs = {k: _finite(v[-1]) for k, v in h.history.items()}
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        if on_epoch:
            on_epoch(epoch + 1, logs)
        if not math.isfinite(logs.get("loss", float("nan"))):
            diverged = True
            break
    trained = len(history.get("loss", []))
    if save is not None and not diverged:
        save = Path(save)
        save.parent.mkdir(parents=True, exist_ok=True)
        tmp = save.with_name(save.stem + ".tmp.keras")
        model.save(tmp)
        os.replace(tmp, save)
    accs = np.asarray(history.get("val_accuracy", []), dtype=float)
    if accs.size and np.isfinite(accs).any():
        b = int(np.nanargmax(accs))
        pick = {k: (v[b] if b < len(v) else float("nan")) for k, v in history.items()}
        best_acc, best_loss = float(accs[b]), _finite(pick.get("val_loss", np.nan))
        train_acc, train_loss, best_epoch = _finite(pick.get("accuracy", np.nan)), _finite(pick.get("loss", np.nan)), b + 1
    else:
        best_loss, best_acc = (_finite(v) for v in model.evaluate(data.x_val, data.y_val, verbose=0))
        best_acc = _nan_safe_accuracy(model, data.x_val, data.y_val) if not math.isfinite(best_acc) else best_acc
        train_acc = train_loss = float("nan")
        best_epoch = 0
    test_loss, test_acc = (_finite(v) for v in model.evaluate(data.x_test, data.y_test, verbose=0))
    if diverged and not math.isfinite(test_acc):
        test_acc = _nan_safe_accuracy(model, data.x_test, data.y_test)
    params = int(model.count_params())
    del model
    return TrialResult(best_acc=best_acc, best_loss=best_loss, best_train_acc=train_acc, best_train_loss=train_loss,
                       epochs=trained, best_epoch=best_epoch, test_acc=test_acc, test_loss=test_loss, params=params,
                       wall_time=time.perf_counter() - start, status="diverged" if diverged else "ok",
                       history=history)
