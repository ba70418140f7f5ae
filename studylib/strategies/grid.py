from __future__ import annotations

import math

from ..space import Config, SearchSpace
from .base import Strategy


class GridSearch(Strategy):
    """Every combination exactly once, lazily, in an order shuffled by the seed.

    The order is the affine permutation ``i -> (a*i + b) mod N`` with ``gcd(a, N) = 1``, where
    ``a`` and ``b`` come from ``self.rng``: a short study over a huge grid still spreads over all
    dimensions instead of varying only the last one. ``seed=None`` keeps plain grid order.
    """

    name = "grid"

    def __init__(self, space: SearchSpace, seed: int | None = 0, **options):
        super().__init__(space, seed, **options)
        n = space.size
        self._pos = 0
        if seed is None or n <= 2:
            self._a, self._b = 1, 0
        else:
            a = int(self.rng.integers(1, n))
            while math.gcd(a, n) != 1:
                a = int(self.rng.integers(1, n))
            self._a, self._b = a, int(self.rng.integers(n))

    def ask(self, n: int = 1) -> list[Config]:
        out = []
        size = self.space.size
        while len(out) < n and self._pos < size:
            out.append(self.space.config_at((self._a * self._pos + self._b) % size))
            self._pos += 1
        return out

    @property
    def finished(self) -> bool:
        return self._pos >= self.space.size
