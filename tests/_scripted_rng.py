"""A stand-in for ``numpy.random.Generator`` that hands out scripted draws, so a test can fix the
random numbers an operator sees and check the exact outcome (and the probabilities it asked for)."""
import numpy as np


class ScriptedRng:
    def __init__(self, **script):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls = []  # (method, arguments) in call order

    def _next(self, method, **args):
        self.calls.append((method, args))
        queue = self.script.get(method)
        assert queue, f"unscripted draw: {method}({args})"
        return queue.pop(0)

    def random(self, size=None):
        value = self._next("random", size=size)
        if size is not None:
            assert len(value) == size
            return np.asarray(value, dtype=float)
        return float(value)

    def integers(self, low, high=None, size=None):
        value = self._next("integers", low=low, high=high, size=size)
        lo, hi = (0, low) if high is None else (low, high)
        assert all(lo <= v < hi for v in np.atleast_1d(value)), (value, lo, hi)
        return np.asarray(value) if size is not None else int(value)

    def choice(self, a, size=None, replace=True, p=None):
        value = self._next("choice", a=a, size=size, replace=replace, p=None if p is None else list(p))
        return np.asarray(value) if size is not None else value

    def permutation(self, n):
        value = self._next("permutation", n=n)
        assert sorted(value) == list(range(n))
        return np.asarray(value)

    def done(self) -> bool:
        return not any(self.script.values())
