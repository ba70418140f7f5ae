"""What a strategy has seen: the score of every genome told, and the genomes asked but not told.

Shared by the evolutionary and local strategies so that none of them proposes a genome twice by
accident. Randomness comes only from the ``rng`` passed to :meth:`Archive.random_new`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..space import SearchSpace
from .base import Strategy
from .operators import Genome, random_genome


class Archive:
    def __init__(self, cardinalities: Sequence[int]):
        self.cardinalities = list(cardinalities)
        self.size = math.prod(self.cardinalities)
        self.known: dict[Genome, float] = {}  # every genome told so far -> its score (its first, or
        # the mean of its runs where the strategy replicates it)
        self.pending: set[Genome] = set()  # asked, not told

    @property
    def evals(self) -> int:
        """Distinct genomes told."""
        return len(self.known)

    @property
    def exhausted(self) -> bool:
        """Every genome is known and none is pending."""
        return len(self.known) >= self.size and not self.pending

    def untried(self, g: Genome) -> bool:
        return g not in self.known and g not in self.pending

    def record(self, g: Genome, score: float) -> bool:
        """Note a told score (the first one counts); True when ``g`` was new."""
        self.pending.discard(g)
        if g in self.known:
            return False
        self.known[g] = float(score)
        return True

    def best(self) -> float:
        return max(self.known.values())

    def random_new(self, rng: np.random.Generator, tries: int = 200) -> Genome | None:
        """A uniformly drawn untried genome; once random draws keep hitting known genomes (a nearly
        exhausted space), the first untried one from a random start of the grid order. ``None``
        when no genome is untried."""
        for _ in range(tries):
            g = random_genome(rng=rng, cardinalities=self.cardinalities)
            if self.untried(g):
                return g
        start = int(rng.integers(self.size))
        for k in range(self.size):
            idx = (start + k) % self.size
            genome = []
            for c in reversed(self.cardinalities):
                idx, r = divmod(idx, c)
                genome.append(r)
            g = tuple(genome[::-1])
            if self.untried(g):
                return g
        return None

    def random_batch(self, rng: np.random.Generator, k: int) -> list[Genome]:
        """Up to ``k`` distinct untried genomes drawn uniformly (fewer on a nearly exhausted space)."""
        out: list[Genome] = []
        seen: set[Genome] = set()
        for _ in range(k):
            g = self.random_new(rng)
            if g is None:
                break
            for _ in range(50):
                if g not in seen:
                    break
                g = self.random_new(rng) or g
            if g in seen:
                break
            seen.add(g)
            out.append(g)
        return out


def generation_row(gen: int, archive: Archive, fitness: Sequence[float]) -> dict:
    """One row of a GA's ``log``: generation, evaluations so far, best score, population mean."""
    return {"gen": gen, "evals": archive.evals, "best": archive.best(), "mean": sum(fitness) / len(fitness)}


class ArchiveStrategy(Strategy):
    """A strategy that keeps an :class:`Archive` (``self.archive``) and the dimensions' kinds
    (``self.ordinal``: +-1 steps only on ordinal dimensions); finished once every genome is known."""

    def __init__(self, space: SearchSpace, seed: int | None = 0, **options):
        super().__init__(space, seed, **options)
        self.archive = Archive(space.cardinalities)
        self.ordinal = [d.ordinal for d in space.dimensions]

    known = property(lambda self: self.archive.known, doc="every genome told -> its score")
    evals = property(lambda self: self.archive.evals, doc="distinct genomes told")

    @property
    def finished(self) -> bool:
        return self.archive.exhausted
