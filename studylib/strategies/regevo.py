"""Regularized evolution (``regevo``; Real et al. 2019, "aging evolution").

A queue of the last ``population_size`` (20) told genomes is the population. The first
``population_size`` proposals are distinct untried genomes drawn uniformly. After that each
proposal samples ``sample_size`` (5) members without replacement, takes the best of the sample as
parent and mutates one gene, as in the paper: the gene takes a uniformly drawn *different* value,
whatever the dimension's kind (``step_prob > 0`` instead moves ordinal genes +-1 with that
probability). Every told result joins the queue and pushes out the oldest member, whatever its
score (the "aging" that regularizes). A child may repeat a known genome; the study loop serves it
from its ledger at no cost, and it joins the queue like any result. All randomness comes from
``self.rng``.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from ..space import Config, SearchSpace
from . import operators as ops
from .archive import ArchiveStrategy


class RegularizedEvolution(ArchiveStrategy):
    """Options: ``population_size`` (20), ``sample_size`` (tournament size, 5), ``step_prob`` (0.0)."""

    name = "regevo"
    in_flight = 1  # the study loop's default window (not population_size)

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, population_size: int = 20,
                 sample_size: int = 5, step_prob: float = 0.0, **options: Any):
        super().__init__(space, seed, **options)
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise ValueError("regevo: need population_size >= 2 and 1 <= sample_size <= population_size")
        if not 0.0 <= step_prob <= 1.0:
            raise ValueError(f"regevo: step_prob must be in [0, 1], got {step_prob}")
        self.population_size, self.sample_size = int(population_size), int(sample_size)
        self.step_prob = float(step_prob)
        self.population: deque = deque(maxlen=self.population_size)  # (genome, score), oldest first
        self._started = 0  # initial random proposals made

    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        while len(out) < n and not self.finished:
            if self._started < self.population_size:
                g = self.archive.random_new(self.rng)
                if g is None:
                    break
                self._started += 1
            elif self.population:
                g = ops.mutate_genes(self._parent(), rng=self.rng, cardinalities=self.archive.cardinalities,
                                     ordinal=self.ordinal if self.step_prob > 0 else None,
                                     n_genes=1, step_prob=self.step_prob)
            else:
                break  # the initial population is still being evaluated
            self.archive.pending.add(g)
            out.append(self.space.decode(g))
        return out

    def _parent(self):
        members = list(self.population)
        picks = self.rng.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        return members[max(picks, key=lambda i: members[i][1])][0]  # first drawn wins ties

    def tell(self, config: Config, score: float) -> None:
        g = self.space.encode(config)
        self.archive.record(g, float(score))
        self.population.append((g, float(score)))
