"""The memetic GA's global search: a population bred by selection, crossover and mutation.

:class:`Evolution` holds the population and its fitnesses and knows three things: the start
design (``init``), how to breed new untried genomes (``breed``) and who survives a generation
(``survive``). It proposes nothing by itself; :class:`~studylib.strategies.memetic.MemeticGA`
decides when a generation is asked and told. All randomness comes from the ``rng`` it is given.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import operators as ops
from .archive import Archive, generation_row
from .operators import Genome

INITS = ("lhs", "random")
SURVIVALS = ("plus", "generational")
SELECTIONS = ("tournament", "rank")


class Evolution:
    """Population, breeding and survival.

    ``init``: ``lhs`` (every value of every dimension spread evenly over the first population) or
    ``random`` (uniform draws). ``survival``: ``plus`` ((mu + lambda): the best
    ``population_size`` distinct genomes of parents and children) or ``generational`` (the
    children replace the parents except the ``n_elite`` best). A child is two tournament- (or
    rank-) selected parents crossed with probability ``crossover_rate`` and mutated in one gene,
    or two with probability ``two_gene_prob``: a one-step move (``+-1`` only on ordinal
    dimensions) or a uniformly drawn other value, half and half; with ``weights`` given to
    :meth:`breed`, the new value is drawn in proportion to them instead.
    """

    def __init__(self, archive: Archive, rng: np.random.Generator, *, ordinal: Sequence[bool],
                 population_size: int = 10, init: str = "lhs", survival: str = "plus",
                 selection: str = "tournament", tournsize: int = 3, crossover: str = "uniform",
                 crossover_rate: float = 0.7, two_gene_prob: float = 0.5, n_elite: int = 2):
        for what, value, allowed in (("init", init, INITS), ("survival", survival, SURVIVALS),
                                     ("selection", selection, SELECTIONS),
                                     ("crossover", crossover, tuple(ops.CROSSOVERS))):
            if value not in allowed:
                raise ValueError(f"memetic: {what} must be one of {', '.join(allowed)}")
        if population_size < 2:
            raise ValueError("memetic: population_size must be at least 2")
        for what, value in (("crossover_rate", crossover_rate), ("two_gene_prob", two_gene_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{what} must be in [0, 1], got {value}")
        if tournsize < 1 or not 0 <= n_elite <= population_size:
            raise ValueError(f"need tournsize >= 1 and 0 <= n_elite <= population_size (got tournsize {tournsize}, "
                             f"n_elite {n_elite}, population_size {population_size})")
        self.archive, self.rng = archive, rng
        self.cardinalities, self.ordinal = archive.cardinalities, list(ordinal)
        self.size, self.init, self.survival = int(population_size), init, survival
        self.selection, self.tournsize, self.crossover = selection, int(tournsize), crossover
        self.crossover_rate, self.two_gene_prob = float(crossover_rate), float(two_gene_prob)
        self.n_elite = int(n_elite)
        self.population: list[Genome] = []
        self.fitness: list[float] = []
        self.gen = 0
        self.log: list[dict] = []  # one row per completed generation: gen, evals, best, mean

    # -- start design ------------------------------------------------------------------------------
    def initial(self) -> list[Genome]:
        """The first population's genomes (untried, distinct; fewer on a nearly exhausted space)."""
        if self.init == "random":
            return self.archive.random_batch(self.rng, self.size)
        P = self.size
        cols = []  # Latin-hypercube-like: each value P/cardinality times (rounded), random pairings
        for c in self.cardinalities:
            reps = -(-P // c)
            col = [v for _ in range(reps) for v in self.rng.permutation(c).tolist()][:P]
            cols.append([col[i] for i in self.rng.permutation(P)])
        out: list[Genome] = []
        for j in range(P):
            g = tuple(int(col[j]) for col in cols)
            if not self.archive.untried(g) or g in out:
                g = self.archive.random_new(self.rng)
                if g is None or g in out:
                    continue
            out.append(g)
        return out

    # -- breeding ----------------------------------------------------------------------------------
    def breed(self, k: int, weights: list | None = None) -> list[Genome]:
        """Up to ``k`` children never evaluated nor pending (30 tries each, then a random untried
        genome). ``weights[i][v]``: how much to favour value ``v`` of gene ``i`` in mutations."""
        out: list[Genome] = []
        seen: set[Genome] = set()
        for _ in range(k):
            child = None
            for _ in range(30):
                c = self._child(weights)
                if self.archive.untried(c) and c not in seen:
                    child = c
                    break
            if child is None:
                child = self.archive.random_new(self.rng)
            if child is None:
                break
            seen.add(child)
            out.append(child)
        return out

    def select(self, k: int) -> list[Genome]:
        """``k`` parents from the population (with replacement), by ``selection``: rank or
        tournament (of ``tournsize``)."""
        if self.selection == "rank":
            return ops.select_rank(self.population, self.fitness, k, rng=self.rng)
        return ops.select_tournament(self.population, self.fitness, k, rng=self.rng, tournsize=self.tournsize)

    def _child(self, weights) -> Genome:
        a, b = self.select(2)
        if self.rng.random() < self.crossover_rate:
            a, _ = ops.CROSSOVERS[self.crossover](a, b, rng=self.rng)
            if not self.archive.untried(a):
                a = self.mutate(a, weights)
        else:
            a = self.mutate(a, weights)
        return a

    def mutate(self, g: Genome, weights=None) -> Genome:
        k = 2 if self.rng.random() < self.two_gene_prob else 1
        if weights is not None:
            return ops.mutate_weighted(g, rng=self.rng, weights=weights, n_genes=k)
        return ops.mutate_genes(g, rng=self.rng, cardinalities=self.cardinalities, ordinal=self.ordinal,
                                n_genes=k, step_prob=0.5)

    # -- survival ----------------------------------------------------------------------------------
    def survive(self, batch: Sequence[Genome]) -> None:
        """Form the next population from the parents and the evaluated genomes of ``batch``."""
        batch = [g for g in batch if g in self.archive.known]
        fit = [self.archive.known[g] for g in batch]
        if self.survival == "plus" or not self.population:
            self.population, self.fitness = ops.survive_plus(self.population, self.fitness, batch, fit,
                                                             mu=self.size)
        else:
            self.population, self.fitness = ops.survive_elitist(self.population, self.fitness, batch, fit,
                                                                n_elite=self.n_elite)
        if self.fitness:
            self.log.append(generation_row(self.gen, self.archive, self.fitness))
        self.gen += 1

    def replace_worst(self, g: Genome, score: float) -> int | None:
        """Put ``g`` in place of the worst member if it is better and not a member; its slot."""
        if not self.population or g in self.population:
            return None
        worst = min(range(len(self.population)), key=lambda i: self.fitness[i])
        if score <= self.fitness[worst]:
            return None
        self.population[worst], self.fitness[worst] = g, score
        return worst
