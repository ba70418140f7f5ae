"""Neighbour-order policy: which untried neighbour a climb tries next.

Uniformly at random, or (``guided``) at random with a probability that grows with a TPE-like
density ratio of the changed value: a value common among the best ``top`` share of all evaluated
genomes and rare among the rest is tried earlier. The same ratios can steer mutations
(:meth:`NeighbourOrder.mutation_weights`). All randomness comes from the ``rng`` it is given.
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
    otherwise (and always with ``guided=False``) uniform."""

    MIN_KNOWN = 4

    def __init__(self, rng: np.random.Generator, *, guided: bool = True, top: float = 0.25,
                 power: float = 1.0):
        if not 0.0 < top <= 1.0:
            raise ValueError("guide_top must be in (0, 1]")
        self.rng, self.guided, self.top, self.power = rng, bool(guided), float(top), float(power)

    def choose(self, centre: Genome, left: Sequence[Genome], known: Mapping[Genome, float],
               cardinalities: Sequence[int]) -> int:
        """The index in ``left`` (one-step neighbours of ``centre``) to try next."""
        if not self.guided or len(left) == 1 or len(known) < self.MIN_KNOWN:
            return int(self.rng.integers(len(left)))
        w = value_weights(known, cardinalities, self.top)
        weights = np.empty(len(left))
        for k, g in enumerate(left):
            i = next(j for j in range(len(g)) if g[j] != centre[j])
            weights[k] = w[i][g[i]] ** self.power
        return int(self.rng.choice(len(left), p=weights / weights.sum()))

    def mutation_weights(self, known: Mapping[Genome, float], cardinalities: Sequence[int]) -> list | None:
        """``value_weights ** power`` for guided mutation, or ``None`` while fewer than 4 are known."""
        if len(known) < self.MIN_KNOWN:
            return None
        return [w ** self.power for w in value_weights(known, cardinalities, self.top)]
