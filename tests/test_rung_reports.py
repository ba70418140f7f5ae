"""Rung trials report like full trials (one trainer, one seeding): a rung continued from a lower
rung's checkpoint gives exactly what full training for as many epochs (no early stopping) gives,
test accuracy of the best epoch's weights included."""
import pytest

from studylib.data import load_dataset
from studylib.resumable import train_rung
from studylib.training import Budget, evaluate

CONFIG = {"filters1": 8, "ksize1": 3, "filters2": 8, "ksize2": 3, "hidden1": 16, "hidden2": 16,
          "learning_rate": 0.1, "batch_size": 32, "activation": "relu", "optimizer": "adam"}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", train_size=300, val_size=100, test_size=300)


def fields(r):
    return (r.epochs, r.best_epoch, r.best_acc, r.status)


def test_a_rung_reports_what_full_training_reports(data, tmp_path):
    for lr in (0.1, 0.03, 0.3):  # a run whose best epoch is not its last (a fact of the seed and data)
        config = dict(CONFIG, learning_rate=lr)
        full = evaluate(config, data, Budget(max_epochs=5, patience=5), seed=1)
        if full.best_epoch < full.epochs:
            break
    else:
        pytest.fail("no run whose best epoch came before its last")
    low = train_rung(config, data, seed=1, epochs=2, save=tmp_path / "r2.keras")
    low_full = evaluate(config, data, Budget(max_epochs=2, patience=2), seed=1)
    assert fields(low) == fields(low_full)
    assert low.test_acc == pytest.approx(low_full.test_acc, abs=1e-6)
    earlier = {"best_epoch": low.best_epoch, "test_acc": low.test_acc, "test_loss": low.test_loss}
    high = train_rung(config, data, seed=1, epochs=5, resume=tmp_path / "r2.keras", history=low.history,
                      earlier=earlier)
    assert fields(high) == fields(full)
    assert high.history["val_loss"] == pytest.approx(full.history["val_loss"], rel=1e-5)
    # test accuracy of the best epoch's weights, not the last epoch's
    assert high.test_acc == pytest.approx(full.test_acc, abs=1e-6)
    assert high.test_loss == pytest.approx(full.test_loss, rel=1e-5)
    straight = train_rung(config, data, seed=1, epochs=5)
    assert fields(straight) == fields(full) and straight.test_acc == pytest.approx(full.test_acc, abs=1e-6)
