"""Which Keras backend trains, checked before Keras is imported.

TensorFlow, JAX and PyTorch are optional extras (``pip install -e ".[tensorflow]"``, ``".[jax]"``,
``".[torch]"``). Keras picks its backend from ``KERAS_BACKEND``, else ``~/.keras/keras.json``, else
TensorFlow. When none is named and TensorFlow is absent, the first installed of JAX and PyTorch is
used, so a ``[jax]``-only install trains without further set-up. A named backend that is not
installed is a one-line :class:`StudyError` naming the extra to install.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from .errors import StudyError

# Keras backend name -> (module it needs, studylib extra that installs it)
BACKENDS = {"tensorflow": ("tensorflow", "tensorflow"), "jax": ("jax", "jax"), "torch": ("torch", "torch")}


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _configured() -> str | None:
    """The backend the user named: ``KERAS_BACKEND``, else ``keras.json``'s, else None."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        return json.loads(_keras_json().read_text()).get("backend") or None
    except (OSError, ValueError, AttributeError):
        return None


def _keras_json() -> Path:
    """Keras' settings file: ``$KERAS_HOME/keras.json``, else ``~/.keras/keras.json``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"


def choose_backend(configured: str | None, installed=_installed) -> str:
    """The backend to use: ``configured`` if given, else the first installed one (TensorFlow first).

    Raises :class:`StudyError` naming the extra to install when that backend is missing."""
    name = configured or next((b for b in BACKENDS if installed(BACKENDS[b][0])), "tensorflow")
    if name not in BACKENDS:  # Keras' numpy and openvino backends cannot train; a typo fails in Keras' import
        where = "KERAS_BACKEND" if os.environ.get("KERAS_BACKEND") else str(_keras_json())
        raise StudyError(f"Keras backend {name!r} ({where}) cannot train here: use one of {', '.join(BACKENDS)}")
    module, extra = BACKENDS[name]
    if not installed(module):
        raise StudyError(f"Keras backend {name!r} is not installed: pip install -e \".[{extra}]\"")
    return name


def require_backend() -> str:
    """Check (and if none is named, choose) the backend before Keras is imported; return its name."""
    if "keras" in sys.modules:  # already chosen and imported
        return sys.modules["keras"].backend.backend()
    configured = _configured()
    name = choose_backend(configured)
    if configured is None and name != "tensorflow":
        os.environ["KERAS_BACKEND"] = name  # Keras would default to the absent TensorFlow
    return name
