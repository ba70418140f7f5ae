from __future__ import annotations

from ..space import Config
from .base import Strategy


class RandomSearch(Strategy):
    """Uniform sampling with replacement; repeats are served by the ledger at no cost."""

    name = "random"

    def ask(self, n: int = 1) -> list[Config]:
        return [self.space.sample(self.rng) for _ in range(n)]
