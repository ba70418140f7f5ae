"""The paper's small CNN, built from a config with Keras 3's public API only (any backend).

Architecture (Fig. 2 style, [INPUT - (CONV - ACT - POOL) x n - FC - FC - softmax]):

* ``border_crop`` pixels removed from every side of the image ("the border pixels [0, 1, 2] were
  removed"; our reading: a ``Cropping2D`` of that many pixels, so the data is loaded once).
* ``n`` conv layers (``filters1``/``ksize1`` ... ``filters3``/``ksize3``; as many as the config
  names). ``stride`` applies to the first conv layer (2 in rounds 1-2, 1 in round 3 — "stride 1 on
  all layers"); the others use stride 1. ``padding`` (default ``same``) and 2x2 ``pooling`` (default
  ``max``, padded so tiny images never shrink to zero) follow each conv.
* two fully connected hidden layers (``hidden1``, ``hidden2``), each followed by ``dropout``.
* activations: ``relu``, ``elu``, ``lrelu`` (leaky ReLU with negative slope 0.2, TensorFlow's
  ``tf.nn.leaky_relu`` default, which the paper's TF code would have used).

``momentum`` — the paper's wording ("momentum for batch normalization") is ambiguous, so the
reading is the named hyperparameter ``momentum_use``:

* ``optimizer`` (default): Adam's ``beta_1``, RMSprop's ``momentum``, Nesterov SGD's ``momentum``;
* ``batchnorm``: the momentum of a ``BatchNormalization`` after each conv layer (optimizers keep
  their defaults).

Optimizers: ``adam``, ``rmsprop``, ``nesterov`` (SGD with Nesterov momentum, default 0.9).
"""
from __future__ import annotations

from typing import Any

from .backend import require_backend

require_backend()  # before Keras picks a backend: a missing one is a one-line StudyError

import keras  # noqa: E402
from keras import layers  # noqa: E402

LEAKY_SLOPE = 0.2
DEFAULTS = {
    "activation": "relu",
    "optimizer": "adam",
    "momentum": None,
    "momentum_use": "optimizer",
    "border_crop": 0,
    "stride": 1,
    "padding": "same",
    "pooling": "max",
    "dropout": 0.0,
}


def conv_layers(config: dict[str, Any]) -> int:
    n = 0
    while f"filters{n + 1}" in config:
        n += 1
    return n


def _activation(name: str):
    if name == "lrelu":
        return layers.LeakyReLU(negative_slope=LEAKY_SLOPE)
    if name in ("relu", "elu"):
        return layers.Activation(name)
    raise ValueError(f"unknown activation {name!r}")


def make_optimizer(name: str, learning_rate: float, momentum: float | None):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, **({"beta_1": momentum} if momentum is not None else {}))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=momentum or 0.0)
    if name == "nesterov":
        return keras.optimizers.SGD(learning_rate, momentum=0.9 if momentum is None else momentum, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}")


def build_model(config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """A compiled Keras model for ``config`` (sparse integer labels, accuracy metric).

    Pure function of its arguments; weight initialisation draws from Keras' global seed, which
    :func:`studylib.training.evaluate` sets per trial.
    """
    c = {**DEFAULTS, **config}
    n = conv_layers(c)
    if n == 0:
        raise ValueError("config needs at least filters1/ksize1")
    crop = int(c["border_crop"])
    h, w = input_shape[0], input_shape[1]
    if 2 * crop >= min(h, w):
        raise ValueError(f"border_crop={crop} removes the whole {h}x{w} image")
    bn_momentum = c["momentum"] if c["momentum_use"] == "batchnorm" else None

    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if crop:
        x = layers.Cropping2D(crop)(x)
    for i in range(1, n + 1):
        x = layers.Conv2D(int(c[f"filters{i}"]), int(c[f"ksize{i}"]),
                          strides=int(c["stride"]) if i == 1 else 1, padding=c["padding"])(x)
        if bn_momentum is not None:
            x = layers.BatchNormalization(momentum=float(bn_momentum))(x)
        x = _activation(c["activation"])(x)
        if c["pooling"] == "max":
            x = layers.MaxPooling2D(2, padding="same")(x)
        elif c["pooling"] == "avg":
            x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    for units in (c["hidden1"], c["hidden2"]):
        x = layers.Dense(int(units))(x)
        x = _activation(c["activation"])(x)
        if c["dropout"]:
            x = layers.Dropout(float(c["dropout"]))(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    opt_momentum = c["momentum"] if c["momentum_use"] == "optimizer" else None
    model.compile(optimizer=make_optimizer(c["optimizer"], float(c["learning_rate"]), opt_momentum),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
