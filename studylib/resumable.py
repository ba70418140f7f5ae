"""Resumable training: train a config to ``epochs`` epochs, continuing from a checkpoint of fewer.

A *rung* trains a config for exactly ``epochs`` epochs (no early stopping: the strategy decides
which configs go on) and saves a Keras ``.keras`` checkpoint (weights, optimizer state, the
dropout seed generators' state) that a later rung of the same config continues from. Training
``e`` epochs, saving, and continuing to ``e' > e`` gives the same weights and metrics as training
``e'`` epochs straight (same seed; deterministic on CPU; ``tests/test_multifidelity.py``).

Randomness and reporting are full training's (``training.train_epochs`` and ``training.score``):
each epoch's order is drawn from ``epoch_seed(seed, epoch)`` and dropout's ``seed_generator``
(whose state a ``.keras`` file does not keep) reset to ``[epoch_seed, 0]``.

Only Keras 3 public API is used (any backend). A rung reports as full training for ``epochs``
epochs without early stopping: ``best_acc`` is the best validation accuracy over all epochs so far
(the lower rungs' included) and ``test_acc`` the test accuracy of that best epoch's weights (the
checkpoint keeps the last epoch's, which the next rung continues; a best epoch of a lower rung
reports that rung's test scores).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from .backend import require_backend
from .training import Run, TrialResult, epoch_seed, score, train_epochs  # noqa: F401 (epoch_seed: its seeding)

require_backend()


def train_rung(config: dict, data, seed: int, epochs: int, *, resume: str | Path | None = None,
               history: dict | None = None, save: str | Path | None = None,
               on_epoch: Callable[[int, dict], None] | None = None, earlier: dict | None = None) -> TrialResult:
    """Train ``config`` to ``epochs`` epochs in all and return its result.

    ``resume``: a checkpoint of the same config and seed after ``len(history['loss'])`` epochs
    (``history``: that rung's per-epoch logs; ``earlier``: its ``best_epoch``, ``test_acc`` and
    ``test_loss``, reported again when its best epoch stays the best); without it training starts
    from scratch.
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
    run = train_epochs(model, config, data, seed, Run(history), int(epochs), None, on_epoch)
    if save is not None and not run.diverged:  # the last epoch's weights: the next rung continues them
        save = Path(save)
        save.parent.mkdir(parents=True, exist_ok=True)
        tmp = save.with_name(save.stem + ".tmp.keras")
        model.save(tmp)
        os.replace(tmp, save)
    result = score(model, config, data, run, start, earlier if resume else None)
    del model
    return result
