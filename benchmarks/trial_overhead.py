"""Overhead of ``studylib.training.evaluate`` over what a user would write anyway.

    .venv/bin/python benchmarks/trial_overhead.py [--repeats 3] [--random 0]

The baseline is a plain Keras trial: seed, ``build_model``, ``model.fit`` with
``keras.callbacks.EarlyStopping(monitor="val_accuracy", patience, restore_best_weights=True)`` and
one ``model.evaluate`` on the test set. For one fixed round-1 config per dataset profile (digits
smoke and the 10k Fashion-MNIST subset, 2 epochs), both run alternately ``--repeats`` times after
one warm-up each; medians are compared, so a busy machine slows both alike. ``--random N`` also
times N random round-1 configs per profile. The last line reads
``overhead: digits +X% fashion_mnist +Y%``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from studylib.data import load_dataset
from studylib.model import build_model
from studylib.space_file import load_space
from studylib.training import Budget, evaluate

FIXED = {"filters1": 32, "ksize1": 3, "filters2": 64, "ksize2": 3, "hidden1": 100, "hidden2": 100,
         "learning_rate": 0.001, "batch_size": 64, "activation": "relu", "optimizer": "adam", "stride": 2}


def plain_keras_trial(config, data, budget, seed) -> float:
    """Seconds for the trial a user writes by hand: build, fit with early stopping, test once."""
    import keras

    t = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_model(config, data.input_shape, data.n_classes)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=budget.patience,
                                         restore_best_weights=True)
    model.fit(data.x_train, data.y_train, batch_size=config["batch_size"], epochs=budget.max_epochs,
              validation_data=(data.x_val, data.y_val), callbacks=[stop], verbose=0)
    model.evaluate(data.x_test, data.y_test, verbose=0)
    return time.perf_counter() - t


def timed_evaluate(config, data, budget, seed) -> float:
    t = time.perf_counter()
    evaluate(config, data, budget, seed)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--random", type=int, default=0, help="also time N random round-1 configs per profile")
    args = ap.parse_args()
    budget = Budget(max_epochs=2, patience=4)
    cases = {
        "digits": ("smoke: 1000/300/300, 2 epochs",
                   load_dataset("digits", train_size=1000, val_size=300, test_size=300)),
        "fashion_mnist": ("10k subset: 10000/2000/2000, 2 epochs", load_dataset(
            "fashion_mnist", train_size=10_000, val_size=2_000, test_size=2_000)),
    }
    overhead = {}
    for name, (label, data) in cases.items():
        timed_evaluate(FIXED, data, budget, 0)  # warm-up: thread pools, first tracing
        plain_keras_trial(FIXED, data, budget, 0)
        ev, base = [], []
        for _ in range(args.repeats):  # alternate, so background load hits both alike
            ev.append(timed_evaluate(FIXED, data, budget, 0))
            base.append(plain_keras_trial(FIXED, data, budget, 0))
        e, b = statistics.median(ev), statistics.median(base)
        overhead[name] = (e / b - 1) * 100
        print(f"{name} ({label})")
        print(f"  evaluate  {e:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in ev)})")
        print(f"  plain     {b:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in base)})")
        print(f"  overhead  {e - b:+6.2f} s  ({overhead[name]:+.1f}%)")
        if args.random:
            rng = np.random.default_rng(0)
            space = load_space("round1")
            walls = [timed_evaluate(space.sample(rng), data, budget, 0) for _ in range(args.random)]
            print(f"  random round-1 configs: {statistics.mean(walls):.2f} s/trial "
                  f"(min {min(walls):.2f}, max {max(walls):.2f}, n={len(walls)})")
    print(f"overhead: digits {overhead['digits']:+.1f}% fashion_mnist {overhead['fashion_mnist']:+.1f}%")


if __name__ == "__main__":
    main()
