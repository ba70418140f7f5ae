"""The ask/tell interface every search strategy implements.

A strategy owns one seeded ``numpy.random.Generator`` (``self.rng``) and draws all its randomness
from it, so the same seed gives the same proposals. Scores are *maximised* (validation accuracy in
a CNN study; a sign-adjusted metric in the tabular benchmark).
"""
from __future__ import annotations

import numpy as np

from ..space import Config, SearchSpace


class Strategy:
    name = "base"

    def __init__(self, space: SearchSpace, seed: int | None = 0, **options):
        if options:
            raise TypeError(f"{self.name}: unknown options {sorted(options)}")
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int = 1) -> list[Config]:
        """Up to ``n`` configs to evaluate next. ``[]`` means: nothing until more results are told
        (or, with nothing pending, that the strategy is finished)."""
        raise NotImplementedError

    def tell(self, config: Config, score: float) -> None:
        """Report the score of a config previously asked (or served from the ledger)."""

    @property
    def finished(self) -> bool:
        return False
