"""A strip plot's jitter as a fixed draw: seaborn jitters points with numpy's global generator, so
the same trials would draw a different figure each time (and a report's files would differ byte
for byte). :func:`fixed_jitter` seeds that generator for the drawing and restores it after."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np


@contextmanager
def fixed_jitter(seed: int = 0):
    """Inside: numpy's global generator seeded with ``seed``; outside, its state as before."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
