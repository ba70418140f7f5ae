"""A plain generational genetic algorithm behind the ask/tell interface.

Genomes are tuples of value indices (``SearchSpace.encode``). Each generation is evaluated as a
batch: ``ask`` hands out the generation's new genomes, and the next generation is bred once all of
them have been told. Offspring whose genome was evaluated before take the known fitness and are
never proposed again (a repeat costs nothing); if a whole generation brings nothing new, random
immigrants replace the duplicates so the search keeps moving.

The population, its start design (uniform draws), survival (generational with ``n_elite``) and
the log are the memetic GA's core (:class:`~studylib.strategies.evolution.Evolution`); this module
adds only the plain GA's breeding: parent pairs, crossover, per-gene mutation of both children.
All randomness comes from ``self.rng``.

``strategy.log`` holds one tidy row per completed generation: ``gen, evals, best, mean``.
"""
from __future__ import annotations

from typing import Any

from ..space import Config, SearchSpace
from . import operators as ops
from .archive import ArchiveStrategy
from .evolution import Evolution
from .operators import Genome


class GeneticAlgorithm(ArchiveStrategy):
    """Generational GA: tournament (or rank) selection, crossover, per-gene mutation, elitism.

    Options: ``population_size`` (20), ``crossover`` (``uniform``, ``one_point``, ``two_point``),
    ``crossover_rate`` (0.9), ``mutation`` (``reset``: uniform new value, or ``step``: one-step
    move), ``mutation_rate`` (per-gene probability, default ``1/len(genome)``), ``n_elite`` (2),
    ``selection`` (``tournament`` or ``rank``), ``tournsize`` (3).
    """

    name = "ga"

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, population_size: int = 20,
                 crossover: str = "uniform", crossover_rate: float = 0.9, mutation: str = "reset",
                 mutation_rate: float | None = None, n_elite: int = 2, selection: str = "tournament",
                 tournsize: int = 3, **options: Any):
        super().__init__(space, seed, **options)
        if population_size < 2:
            raise ValueError(f"{self.name}: population_size must be at least 2")
        if crossover not in ops.CROSSOVERS:
            raise ValueError(f"{self.name}: crossover must be one of {', '.join(ops.CROSSOVERS)}")
        if mutation not in ("reset", "step"):
            raise ValueError(f"{self.name}: mutation must be reset or step")
        if selection not in ("tournament", "rank"):
            raise ValueError(f"{self.name}: selection must be tournament or rank")
        if mutation_rate is not None and not 0.0 <= mutation_rate <= 1.0:
            raise ValueError(f"{self.name}: mutation_rate must be in [0, 1], got {mutation_rate}")
        self.evolution = Evolution(self.archive, self.rng, ordinal=self.ordinal, population_size=population_size,
                                   init="random", survival="generational", selection=selection,
                                   tournsize=tournsize, crossover=crossover, crossover_rate=crossover_rate,
                                   n_elite=n_elite)
        self.population_size = self.evolution.size
        self.crossover_rate = float(crossover_rate)
        self.mutation = mutation
        n = len(space.dimensions)
        self.mutation_rate = float(mutation_rate) if mutation_rate is not None else 1.0 / max(n, 1)
        self.cardinalities = list(space.cardinalities)
        self._pending = self.archive.pending  # asked, not told
        self._batch: list[Genome] = []  # the generation being evaluated (with duplicates)
        self._queue: list[Genome] = []  # its new genomes not yet asked

    population = property(lambda self: self.evolution.population, doc="current (evaluated) parents")
    fitness = property(lambda self: self.evolution.fitness)
    log = property(lambda self: self.evolution.log)

    # -- the interface ----------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        guard = 0
        while len(out) < n and not self.finished:
            if not self._queue:
                if self._pending:
                    break  # wait for the rest of this generation
                if self._batch:
                    self._complete_generation()
                self._queue = self._next_batch()
                guard += 1
                if guard > 1000:  # pathological: nothing new to propose
                    break
                continue
            g = self._queue.pop(0)
            if g in self.known or g in self._pending:
                continue
            self._pending.add(g)
            out.append(self.space.decode(g))
        return out

    def tell(self, config: Config, score: float) -> None:
        self.archive.record(self.space.encode(config), float(score))

    # -- generations ---------------------------------------------------------------------------
    def _complete_generation(self) -> None:
        self.evolution.survive(self._batch)  # the first generation: its best (fewer on a tiny space)
        self._batch = []

    # -- breeding ------------------------------------------------------------------------------
    def _mutate(self, g: Genome) -> Genome:
        if self.mutation == "step":
            return ops.mutate_step(g, rng=self.rng, cardinalities=self.cardinalities,
                                   ordinal=self.ordinal, indpb=self.mutation_rate)
        return ops.mutate_reset(g, rng=self.rng, cardinalities=self.cardinalities,
                                indpb=self.mutation_rate)

    def _offspring(self, k: int) -> list[Genome]:
        parents = self.evolution.select(k + (k % 2))  # draws from self.rng (the evolution's)
        cx = ops.CROSSOVERS[self.evolution.crossover]
        out: list[Genome] = []
        for a, b in zip(parents[0::2], parents[1::2]):
            if self.rng.random() < self.crossover_rate:
                a, b = cx(a, b, rng=self.rng)
            out.append(self._mutate(a))
            out.append(self._mutate(b))
        return out[:k]

    def _next_batch(self) -> list[Genome]:
        """The next generation's genomes; returns the genomes still to be asked."""
        if not self.population:
            self._batch = self.evolution.initial()
        else:
            self._batch = self._offspring(self.population_size)
            new = {g for g in self._batch if self.archive.untried(g)}
            if not new:
                # every child is known: swap the duplicates for random immigrants
                draws = (self.archive.random_new(self.rng) for _ in range(self.population_size // 2 or 1))
                immigrants = [g for g in draws if g is not None]
                self._batch = self._batch[: self.population_size - len(immigrants)] + immigrants
        queue, seen = [], set()
        for g in self._batch:
            if self.archive.untried(g) and g not in seen:
                seen.add(g)
                queue.append(g)
        return queue
