"""Genetic-algorithm operators as plain functions (DEAP style, but functional and seeded).

Families: selection (``select_*``), survival (``survive_*``: who forms the next population),
crossover (``crossover_*``), mutation (``mutate_*``), and genome helpers (``random_genome``,
``neighbours``). The individual comes first, the parameters are keywords,
and the random generator is always passed explicitly as ``rng`` (a ``numpy.random.Generator``), so
the same generator state gives the same result.

An individual is a genome: a tuple (or list) of value indices, one per dimension of a
:class:`~studylib.space.SearchSpace`. Operators never modify their arguments; they return new
tuples. Fitness is *maximised*.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

Genome = tuple[int, ...]


def _as_genome(g) -> Genome:
    return tuple(int(x) for x in g)


# -- selection ----------------------------------------------------------------------------------
def select_tournament(population: Sequence, fitnesses: Sequence[float], k: int, *,
                      rng: np.random.Generator, tournsize: int = 3) -> list:
    """``k`` winners of tournaments among ``tournsize`` individuals drawn with replacement.

    Ties go to the earlier contestant drawn.
    """
    n = len(population)
    if n == 0:
        raise ValueError("select_tournament: empty population")
    if len(fitnesses) != n:
        raise ValueError("select_tournament: population and fitnesses differ in length")
    out = []
    for _ in range(k):
        contestants = rng.integers(n, size=tournsize)
        best = max(contestants, key=lambda i: fitnesses[i])  # max keeps the first of equals
        out.append(population[int(best)])
    return out


def select_rank(population: Sequence, fitnesses: Sequence[float], k: int, *,
                rng: np.random.Generator, pressure: float = 1.5) -> list:
    """``k`` individuals by linear ranking selection (with replacement).

    The worst has weight ``2 - pressure``, the best ``pressure`` (``1 <= pressure <= 2``); only the
    order of fitnesses matters, not their scale.
    """
    n = len(population)
    if n == 0:
        raise ValueError("select_rank: empty population")
    if not 1.0 <= pressure <= 2.0:
        raise ValueError("select_rank: pressure must be in [1, 2]")
    order = np.argsort(np.asarray(fitnesses, dtype=float), kind="stable")  # worst first
    ranks = np.empty(n)
    ranks[order] = np.arange(n)
    weights = (2 - pressure) + 2 * (pressure - 1) * ranks / max(n - 1, 1)
    idx = rng.choice(n, size=k, p=weights / weights.sum())
    return [population[int(i)] for i in idx]


def select_best(population: Sequence, fitnesses: Sequence[float], k: int) -> list:
    """The ``k`` fittest, best first (ties keep population order). Deterministic."""
    return survive_best(population, fitnesses, k)[0]


# -- survival ----------------------------------------------------------------------------------
def survive_best(population: Sequence, fitnesses: Sequence[float], k: int) -> tuple[list, list]:
    """The ``k`` fittest individuals and their fitnesses, best first (ties keep order)."""
    order = sorted(range(len(population)), key=lambda i: -fitnesses[i])[:k]
    return [population[i] for i in order], [fitnesses[i] for i in order]


def survive_elitist(parents: Sequence, parent_fitnesses: Sequence[float], offspring: Sequence,
                    offspring_fitnesses: Sequence[float], *, n_elite: int) -> tuple[list, list]:
    """Generational survival: the offspring replace the parents, except that the ``n_elite`` best
    parents replace the worst offspring.

    The population size stays ``len(offspring)``; no genome appears twice among the carried-over
    elite and the offspring it keeps, so the best parent always survives.
    """
    size = len(offspring)
    if n_elite <= 0:
        return list(offspring), list(offspring_fitnesses)
    keep_p, keep_pf = survive_best(parents, parent_fitnesses, min(n_elite, size))
    seen = {_as_genome(g) for g in keep_p}
    rest = [(g, f) for g, f in zip(offspring, offspring_fitnesses) if _as_genome(g) not in seen]
    rest.sort(key=lambda gf: -gf[1])
    rest = rest[: max(size - len(keep_p), 0)]
    return keep_p + [g for g, _ in rest], keep_pf + [f for _, f in rest]


def survive_plus(parents: Sequence, parent_fitnesses: Sequence[float], offspring: Sequence,
                 offspring_fitnesses: Sequence[float], *, mu: int) -> tuple[list, list]:
    """(mu + lambda) survival: the ``mu`` best distinct genomes of parents and offspring, best
    first. A genome present twice keeps its best fitness (parents first on ties)."""
    pool: dict = {}
    for g, f in zip(parents, parent_fitnesses):
        pool[g] = max(f, pool.get(g, float("-inf")))
    for g, f in zip(offspring, offspring_fitnesses):
        if g not in pool:
            pool[g] = f
    ranked = sorted(pool.items(), key=lambda gf: -gf[1])[:mu]
    return [g for g, _ in ranked], [f for _, f in ranked]


# -- crossover ---------------------------------------------------------------------------------
def crossover_uniform(a, b, *, rng: np.random.Generator, indpb: float = 0.5) -> tuple[Genome, Genome]:
    """Swap each gene between the parents with probability ``indpb``."""
    a, b = list(_as_genome(a)), list(_as_genome(b))
    swap = rng.random(len(a)) < indpb
    for i in np.flatnonzero(swap):
        a[i], b[i] = b[i], a[i]
    return tuple(a), tuple(b)


def crossover_one_point(a, b, *, rng: np.random.Generator) -> tuple[Genome, Genome]:
    """Exchange the tails after a cut point in ``1..len-1``."""
    a, b = _as_genome(a), _as_genome(b)
    if len(a) < 2:
        return a, b
    cut = int(rng.integers(1, len(a)))
    return a[:cut] + b[cut:], b[:cut] + a[cut:]


def crossover_two_point(a, b, *, rng: np.random.Generator) -> tuple[Genome, Genome]:
    """Exchange the segment between two distinct cut points."""
    a, b = _as_genome(a), _as_genome(b)
    if len(a) < 3:
        return crossover_one_point(a, b, rng=rng)
    i, j = sorted(int(x) for x in rng.choice(np.arange(1, len(a)), size=2, replace=False))
    return a[:i] + b[i:j] + a[j:], b[:i] + a[i:j] + b[j:]


# -- mutation ----------------------------------------------------------------------------------
def _other_value(current: int, cardinality: int, rng: np.random.Generator) -> int:
    """A uniformly drawn index in ``range(cardinality)`` other than ``current``."""
    j = int(rng.integers(cardinality - 1))
    return j + 1 if j >= current else j


def mutate_reset(genome, *, rng: np.random.Generator, cardinalities: Sequence[int],
                 indpb: float) -> Genome:
    """Each gene, with probability ``indpb``, takes a different value drawn uniformly."""
    g = list(_as_genome(genome))
    hit = rng.random(len(g)) < indpb
    for i in np.flatnonzero(hit):
        if cardinalities[i] > 1:
            g[i] = _other_value(g[i], cardinalities[i], rng)
    return tuple(g)


def _step(value: int, cardinality: int, ordinal: bool, rng: np.random.Generator) -> int:
    if cardinality <= 1:
        return value
    if not ordinal:
        return _other_value(value, cardinality, rng)
    if value == 0:
        return 1
    if value == cardinality - 1:
        return value - 1
    return value + (1 if rng.random() < 0.5 else -1)


def mutate_step(genome, *, rng: np.random.Generator, cardinalities: Sequence[int],
                ordinal: Sequence[bool], indpb: float) -> Genome:
    """Each gene, with probability ``indpb``, moves one step: ordinal genes go +-1 (inwards at the
    ends), categorical genes take any other value (their one-step neighbourhood)."""
    g = list(_as_genome(genome))
    hit = rng.random(len(g)) < indpb
    for i in np.flatnonzero(hit):
        g[i] = _step(g[i], cardinalities[i], ordinal[i], rng)
    return tuple(g)


def mutate_genes(genome, *, rng: np.random.Generator, cardinalities: Sequence[int],
                 ordinal: Sequence[bool] | None = None, n_genes: int = 1,
                 step_prob: float = 0.5) -> Genome:
    """Mutate exactly ``n_genes`` distinct genes (those with more than one value).

    Each chosen gene takes a one-step move (see :func:`mutate_step`) with probability
    ``step_prob``, otherwise a uniformly drawn different value. Always returns a different genome
    when some gene can change.
    """
    g = list(_as_genome(genome))
    free = [i for i, c in enumerate(cardinalities) if c > 1]
    if not free:
        return tuple(g)
    chosen = rng.choice(free, size=min(n_genes, len(free)), replace=False)
    for i in chosen:
        i = int(i)
        if ordinal is not None and rng.random() < step_prob:
            g[i] = _step(g[i], cardinalities[i], ordinal[i], rng)
        else:
            g[i] = _other_value(g[i], cardinalities[i], rng)
    return tuple(g)


def mutate_weighted(genome, *, rng: np.random.Generator, weights: Sequence[Sequence[float]],
                    n_genes: int = 1, power: float = 1.0) -> Genome:
    """Mutate exactly ``n_genes`` distinct genes (those with more than one value); gene ``i`` takes
    another value ``v`` with probability proportional to ``weights[i][v] ** power``."""
    g = list(_as_genome(genome))
    free = [i for i, w in enumerate(weights) if len(w) > 1]
    for i in rng.choice(free, size=min(n_genes, len(free)), replace=False):
        i = int(i)
        p = np.array(weights[i], dtype=float) ** power
        p[g[i]] = 0.0
        g[i] = int(rng.choice(len(p), p=p / p.sum()))
    return tuple(g)


# -- genome helpers ----------------------------------------------------------------------------
def random_genome(*, rng: np.random.Generator, cardinalities: Sequence[int]) -> Genome:
    return tuple(int(rng.integers(c)) for c in cardinalities)


def neighbours(genome, *, cardinalities: Sequence[int], ordinal: Sequence[bool]) -> list[Genome]:
    """One-step neighbours (ordinal +-1, categorical any other value), in a fixed order."""
    g = _as_genome(genome)
    out = []
    for i, (c, o) in enumerate(zip(cardinalities, ordinal)):
        steps = [g[i] - 1, g[i] + 1] if o else [j for j in range(c) if j != g[i]]
        for j in steps:
            if 0 <= j < c:
                out.append(g[:i] + (j,) + g[i + 1:])
    return out


CROSSOVERS = {"uniform": crossover_uniform, "one_point": crossover_one_point, "two_point": crossover_two_point}

__all__ = [
    "select_tournament", "select_rank", "select_best",
    "survive_best", "survive_elitist", "survive_plus",
    "crossover_uniform", "crossover_one_point", "crossover_two_point",
    "mutate_reset", "mutate_step", "mutate_genes", "mutate_weighted",
    "random_genome", "neighbours", "CROSSOVERS",
]
