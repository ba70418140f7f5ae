"""Ledgers with made-up results for the explorer's tests (written through ``Ledger.record``)."""
from __future__ import annotations

import itertools
from pathlib import Path


#: Every other hyperparameter of round 2 (with two values each): a ledger as wide as a real one.
WIDE = {"filters2": [64, 128], "filters3": [64, 128], "ksize1": [3, 5], "ksize2": [3, 5], "ksize3": [3, 5],
        "hidden1": [100, 125], "hidden2": [100, 125], "momentum": [0.9, 0.99], "activation": ["relu", "lrelu"],
        "optimizer": ["adam", "rmsprop"], "border_crop": [0, 2]}


def fake_ledger(folder: Path, n: int = 8, *, seed: int = 0, strategy: str = "random", space: str = "round1",
                wide: bool = False) -> Path:
    """``folder/ledger.sqlite`` with ``n`` (<= 8) made-up trials in one study: learning rate 0.001
    gives 0.80-0.83, 0.01 gives 0.14-0.17; trial 7 (1-based) diverged, trial 8 failed (no
    accuracy); each but the failed one has a 2-epoch curve (validation ``acc - 0.05``, ``acc``;
    training 0.1 lower). ``wide``: with the other hyperparameters of :data:`WIDE` too. Several calls on one
    folder add studies (other seeds/strategies) to one ledger. Returns the ledger's path."""
    from studylib.ledger import Ledger
    from studylib.trial import Trial

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ledger.sqlite"
    budget = {"max_epochs": 2, "patience": 4}
    study_id = f"{space}-{strategy}-s{seed}-fake"
    with Ledger(path) as led:
        led.open_study(study_id, {"space": space, "space_hash": "", "strategy": strategy, "strategy_options": {},
                                  "seed": seed, "dataset": "digits", "data_hash": "fake", "budget": budget},
                       {"data": {"train_size": 1000, "val_size": 300, "test_size": 300}})
        combos = list(itertools.product([0.001, 0.01], [32, 64], [16, 32]))[:n]
        for i, (lr, bs, f1) in enumerate(combos):
            acc = (0.8 if lr == 0.001 else 0.1) + 0.01 * i
            status = "failed" if i == 7 else "diverged" if i == 6 else "ok"
            nan = float("nan")
            metrics = {"best_acc": nan if status == "failed" else acc,
                       "test_acc": nan if status == "failed" else acc - 0.02,
                       "best_loss": nan if status == "failed" else 2.0 - acc, "best_train_acc": acc,
                       "best_train_loss": 2.0 - acc, "best_epoch": 2, "params": 1000 * (i + 1)}
            key = f"{space}-{strategy}-{seed}-{i}"
            config = {"learning_rate": lr, "batch_size": bs, "filters1": f1}
            if wide:
                config.update({k: v[(i + j) % 2] for j, (k, v) in enumerate(WIDE.items())})
            # per-epoch logs: validation acc - 0.05 then acc, training 0.1 below; none for the failed one
            curve = {} if status == "failed" else {"val_accuracy": [acc - 0.05, acc], "accuracy": [acc - 0.15, acc - 0.1]}
            led.record(Trial(key, config, status=status, metrics=metrics, curve=curve, epochs=2, wall_time=1.0 + i,
                             error="boom" if status == "failed" else "", seed=seed, dataset="digits", budget=budget))
            led.add_to_study(study_id, key)
    return path
