"""Neighbour-order policy: which untried neighbour a climb tries next.

Uniformly at random, or (``guided``) at random with a probability that grows with a TPE-like
density ratio of the changed value: a value common among the best ``top`` share of all evaluated
genomes and rare among the rest is tried earlier. The same ratios can steer mutations
(:meth:`NeighbourOrder.mutation_weights`). With a fitted ``model`` (a
:class:`~studylib.strategies.surrogate.Surrogate`) and ``screen`` > 1, that many neighbours are
drawn this way (without replacement) and the one the model ranks best is tried. All randomness
comes from the ``rng`` it is given.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .operators import Genome


def value_weights(known: Mapping[Genome, float], cardinalities: Sequence[int], top: float) -> list[np.ndarray]:
    """Per dimension and value: (share among the best ``top`` of ``known`` + prior) / (share among
    the rest + prior), with one pseudo-count per value as the prior; at least two genomes are top."""
    genomes = list(known)
    scores = np.fromiter(known.values(), float, len(genomes))
    n_top = max(2, int(np.ceil(top * len(genomes))))
    order = np.argsort(-scores, kind="stable")
    is_top = np.zeros(len(genomes), bool)
    is_top[order[:n_top]] = True
    G = np.asarray(genomes)
    out = []
    for i, c in enumerate(cardinalities):
        lt = np.bincount(G[is_top, i], minlength=c) + 1.0
        lb = np.bincount(G[~is_top, i], minlength=c) + 1.0
        out.append((lt / lt.sum()) / (lb / lb.sum()))
    return out


class NeighbourOrder:
    """``guided`` (True): weighted by ``value_weights(...) ** power`` once 4 genomes are known;
    otherwise (and always with ``guided=False``) uniform. ``model`` and ``screen``: see the module."""

    MIN_KNOWN = 4

    def __init__(self, rng: np.random.Generator, *, guided: bool = True, top: float = 0.25,
                 power: float = 1.0, model=None, screen: int = 1):
        if not 0.0 < top <= 1.0:
            raise ValueError("guide_top must be in (0, 1]")
        self.rng, self.guided, self.top, self.power = rng, bool(guided), float(top), float(power)
        self.model, self.screen = model, int(screen)

    def choose(self, centre: Genome, left: Sequence[Genome], known: Mapping[Genome, float],
               cardinalities: Sequence[int]) -> int:
        """The index in ``left`` (one-step neighbours of ``centre``) to try next."""
        p = None
        if self.guided and len(left) > 1 and len(known) >= self.MIN_KNOWN:
            w = value_weights(known, cardinalities, self.top)
            weights = np.empty(len(left))
            for k, g in enumerate(left):
                i = next(j for j in range(len(g)) if g[j] != centre[j])
                weights[k] = w[i][g[i]] ** self.power
            p = weights / weights.sum()
        if self.model is not None and self.model.ready and self.screen > 1 and len(left) > 1:
            drawn = self.rng.choice(len(left), size=min(self.screen, len(left)), replace=False, p=p)
            return int(drawn[self.model.rank([left[k] for k in drawn])[0]])
        if p is None:
            return int(self.rng.integers(len(left)))
        return int(self.rng.choice(len(left), p=p))

    def mutation_weights(self, known: Mapping[Genome, float], cardinalities: Sequence[int]) -> list | None:
        """``value_weights ** power`` for guided mutation, or ``None`` while fewer than 4 are known."""
        if len(known) < self.MIN_KNOWN:
            return None
        return [w ** self.power for w in value_weights(known, cardinalities, self.top)]
