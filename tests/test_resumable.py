"""Resumable training: continuing a checkpoint equals training straight (same seed, CPU)."""
import numpy as np
import pytest

from studylib.data import load_dataset
from studylib.resumable import train_rung

CONFIG = {"filters1": 8, "ksize1": 3, "filters2": 8, "ksize2": 3, "hidden1": 16, "hidden2": 16, "dropout": 0.3,
          "learning_rate": 0.003, "batch_size": 32, "activation": "relu", "optimizer": "adam"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", train_size=300, val_size=100, test_size=100)


def test_continue_equals_straight(digits, tmp_path):
    straight = train_rung(CONFIG, digits, seed=5, epochs=3)
    first = train_rung(CONFIG, digits, seed=5, epochs=1, save=tmp_path / "c.keras")
    assert (tmp_path / "c.keras").exists() and first.epochs == 1
    cont = train_rung(CONFIG, digits, seed=5, epochs=3, resume=tmp_path / "c.keras", history=first.history)
    assert cont.epochs == 3 and len(cont.history["loss"]) == 3
    for k in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(cont.history[k], straight.history[k], rtol=1e-6, atol=1e-7)
    assert cont.best_acc == straight.best_acc and cont.test_acc == straight.test_acc
    assert cont.history["loss"][0] == first.history["loss"][0]


def test_other_seed_differs(digits):
    a = train_rung(CONFIG, digits, seed=1, epochs=1)
    b = train_rung(CONFIG, digits, seed=2, epochs=1)
    assert a.history["loss"] != b.history["loss"]
