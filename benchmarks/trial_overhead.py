"""Time per trial and the overhead of ``studylib.training.evaluate`` over a bare ``model.fit``.

    .venv/bin/python benchmarks/trial_overhead.py [--repeats 3]

Prints, per dataset profile: seconds per trial for random round-1 configs (the smoke profile's
2 epochs) and, for one fixed config, evaluate() against build_model() + model.fit() on the same data
and epochs (the overhead is session clearing, seeding, best-epoch weight copies and the test pass).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from studylib.data import load_dataset
from studylib.model import build_model
from studylib.space import load_space
from studylib.training import Budget, evaluate


def bare_fit(config, data, epochs, seed):
    import keras

    keras.utils.set_random_seed(seed)
    t = time.perf_counter()
    model = build_model(config, data.input_shape, data.n_classes)
    model.fit(data.x_train, data.y_train, batch_size=config["batch_size"], epochs=epochs,
              validation_data=(data.x_val, data.y_val), verbose=0)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    space = load_space("round1")
    budget = Budget(max_epochs=2, patience=4)
    cases = {
        "digits (smoke: 1000/300/300, 2 epochs)": load_dataset("digits", train_size=1000, val_size=300, test_size=300),
        "fashion_mnist 10k subset (10000/2000/2000, 2 epochs)": load_dataset(
            "fashion_mnist", train_size=10_000, val_size=2_000, test_size=2_000),
    }
    fixed = {"filters1": 32, "ksize1": 3, "filters2": 64, "ksize2": 3, "hidden1": 100, "hidden2": 100,
             "learning_rate": 0.001, "batch_size": 64, "activation": "relu", "optimizer": "adam", "stride": 2}
    for label, data in cases.items():
        rng = np.random.default_rng(0)
        evaluate(fixed, data, budget, 0)  # warm-up (graph tracing, thread pools)
        per_trial = [evaluate(space.sample(rng), data, budget, 0).wall_time for _ in range(args.repeats * 2)]
        ev = [evaluate(fixed, data, budget, 0).wall_time for _ in range(args.repeats)]
        bare = [bare_fit(fixed, data, budget.max_epochs, 0) for _ in range(args.repeats)]
        e, b = statistics.median(ev), statistics.median(bare)
        print(f"{label}")
        print(f"  random round-1 configs: {statistics.mean(per_trial):.2f} s/trial "
              f"(min {min(per_trial):.2f}, max {max(per_trial):.2f}, n={len(per_trial)})")
        print(f"  fixed config: evaluate {e:.2f} s vs bare build+fit {b:.2f} s -> overhead {e - b:+.2f} s "
              f"({(e / b - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
