import math

import pytest

from studylib.data import load_dataset
from studylib.training import Budget, evaluate

CONFIG = {"filters1": 16, "ksize1": 3, "filters2": 16, "ksize2": 3, "hidden1": 32, "hidden2": 32,
          "learning_rate": 0.003, "batch_size": 32, "activation": "relu", "optimizer": "adam"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_real_training_on_digits_learns(digits):
    r = evaluate(CONFIG, digits, Budget(max_epochs=2, patience=4), seed=0)
    assert r.status == "ok" and r.epochs == 2
    assert r.best_acc > 0.5  # chance is 0.1
    assert 0 < r.test_acc <= 1 and r.params > 0 and r.wall_time > 0
    assert r.best_acc == pytest.approx(max(r.history["val_accuracy"]))
    assert r.best_train_acc == pytest.approx(r.history["accuracy"][r.best_epoch - 1])


def test_same_seed_same_result(digits):
    a = evaluate(CONFIG, digits, Budget(max_epochs=1), seed=3)
    b = evaluate(CONFIG, digits, Budget(max_epochs=1), seed=3)
    assert a.best_acc == b.best_acc and a.best_loss == pytest.approx(b.best_loss, rel=1e-5)


def test_early_stopping_uses_patience():
    data = load_dataset("synthetic")
    # a learning rate of 0 never improves after the first epoch: stops after 1 + patience epochs
    r = evaluate(dict(CONFIG, learning_rate=1e-12), data, Budget(max_epochs=50, patience=2), seed=0)
    assert r.epochs == 3 and r.best_epoch == 1


def test_divergence_is_recorded_not_raised(digits):
    # 1e30 overflows the weights to inf/NaN on every backend (at 1e6 JAX's clipped cross-entropy
    # saturates at a finite loss with zero gradients instead)
    r = evaluate(dict(CONFIG, optimizer="nesterov", learning_rate=1e30, momentum=0.99), digits,
                 Budget(max_epochs=3), seed=0)
    assert r.status == "diverged"
    assert 0.0 <= r.best_acc < 0.25 and 0.0 <= r.test_acc < 0.25  # chance level, a real number
    assert math.isfinite(r.best_acc)


def test_test_set_is_scored_with_the_best_epochs_weights():
    """A run that goes on past its best epoch scores the test set exactly as a run stopped there."""
    data = load_dataset("digits", train_size=300, val_size=100, test_size=300)
    for lr in (0.03, 0.1, 0.01):  # a run whose last epoch is not its best (a fact of the seed and data)
        longer = evaluate(dict(CONFIG, learning_rate=lr), data, Budget(max_epochs=6, patience=6), seed=0)
        if longer.best_epoch < longer.epochs:
            break
    else:
        pytest.fail("no run whose best epoch came before its last")
    stopped = evaluate(dict(CONFIG, learning_rate=lr), data, Budget(max_epochs=longer.best_epoch), seed=0)
    assert stopped.epochs == stopped.best_epoch == longer.best_epoch
    assert stopped.test_acc == longer.test_acc
    assert stopped.test_loss == pytest.approx(longer.test_loss, rel=1e-6)
