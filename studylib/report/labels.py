"""How a hyperparameter's value is printed: in the figures, the tables and the explorer alike."""
from __future__ import annotations


def value_label(v) -> str:
    """``0.01``, not ``0.0100``; anything not a float as its text."""
    return f"{v:g}" if isinstance(v, float) else str(v)
