import re
from pathlib import Path

import keras
import numpy as np
import pytest

from studylib.model import LEAKY_SLOPE, build_model
from studylib.space_file import load_space

BASE = {"filters1": 8, "ksize1": 3, "filters2": 8, "ksize2": 3, "hidden1": 16, "hidden2": 12,
        "learning_rate": 0.001, "batch_size": 32}


@pytest.mark.parametrize("activation", ["relu", "lrelu", "elu"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "nesterov"])
def test_builds_every_activation_and_optimizer(activation, optimizer):
    config = dict(BASE, activation=activation, optimizer=optimizer, momentum=0.95)
    model = build_model(config, (8, 8, 1), 10)
    out = model.predict(np.zeros((2, 8, 8, 1), "float32"), verbose=0)
    assert out.shape == (2, 10) and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    opt = model.optimizer
    if optimizer == "adam":
        assert isinstance(opt, keras.optimizers.Adam) and opt.beta_1 == pytest.approx(0.95)
    elif optimizer == "rmsprop":
        assert isinstance(opt, keras.optimizers.RMSprop) and opt.momentum == pytest.approx(0.95)
    else:
        assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == pytest.approx(0.95)
    assert float(opt.learning_rate) == pytest.approx(0.001)
    names = [type(layer).__name__ for layer in model.layers]
    assert ("LeakyReLU" in names) == (activation == "lrelu")


def test_structure_follows_the_config():
    cfg3 = load_space("round3").config_at(0)
    model = build_model(cfg3, (32, 32, 3), 10)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [cfg3["filters1"], cfg3["filters2"], cfg3["filters3"]]
    assert [c.kernel_size for c in convs] == [(cfg3[f"ksize{i}"],) * 2 for i in (1, 2, 3)]
    assert all(c.strides == (1, 1) for c in convs)
    assert sum(isinstance(l, keras.layers.Dropout) for l in model.layers) == 2
    leaky = [l for l in model.layers if isinstance(l, keras.layers.LeakyReLU)]
    assert leaky and all(l.negative_slope == pytest.approx(LEAKY_SLOPE) for l in leaky)

    cropped = build_model(dict(BASE, border_crop=2, stride=2), (32, 32, 3), 10)
    crop = [l for l in cropped.layers if isinstance(l, keras.layers.Cropping2D)][0]
    assert crop.output.shape[1:3] == (28, 28)
    assert [l for l in cropped.layers if isinstance(l, keras.layers.Conv2D)][0].strides == (2, 2)
    more = build_model(dict(BASE, filters1=32), (8, 8, 1), 10)
    assert more.count_params() > build_model(BASE, (8, 8, 1), 10).count_params()


def test_batchnorm_reading_of_momentum():
    model = build_model(dict(BASE, momentum=0.9, momentum_use="batchnorm"), (8, 8, 1), 10)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 2 and all(b.momentum == pytest.approx(0.9) for b in bns)
    assert model.optimizer.beta_1 == pytest.approx(0.9)  # Adam default: momentum did not go there


def test_crop_that_removes_the_image_is_rejected():
    with pytest.raises(ValueError, match="removes the whole"):
        build_model(dict(BASE, border_crop=4), (8, 8, 1), 10)


def test_model_and_training_code_use_keras_public_api_only():
    """No tf.* in model/training code, so KERAS_BACKEND=jax or torch runs it unchanged."""
    pkg = Path(__file__).resolve().parents[1] / "studylib"
    for name in ("model.py", "training.py", "resumable.py"):
        text = (pkg / name).read_text()
        assert not re.search(r"^\s*(import|from)\s+tensorflow", text, re.M), name
        assert "tf." not in text.replace("tf.nn.leaky_relu", ""), name
