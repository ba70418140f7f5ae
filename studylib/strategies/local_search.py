"""First-improvement hill climbing over one-step neighbours, and the ``local`` strategy.

A one-step neighbour changes one gene: ``+-1`` on an ordinal dimension, any other value on a
categorical one. :class:`HillClimber` is the local-search component the memetic GA composes; it
climbs from one centre at a time: the centre's untried neighbours are proposed in the order a
:class:`~studylib.strategies.guidance.NeighbourOrder` picks, and the first one scoring better than
the centre becomes the new centre. A centre whose neighbours are all tried without improvement is
a local optimum. :class:`LocalSearch` restarts the climber from a random untried genome at every
local optimum. All randomness comes from the ``rng`` given (the strategy's ``self.rng``).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..space import Config, SearchSpace
from . import operators as ops
from .archive import Archive, ArchiveStrategy
from .guidance import NeighbourOrder
from .operators import Genome


class HillClimber:
    """Climbs from ``centre``; ``pending`` holds its proposals not yet told, ``evals`` counts the
    new genomes it proposed and got told, ``moves`` the accepted moves
    ``(from genome, to genome, from score, to score)``, ``optima`` the exhausted centres.

    ``pattern``: after a successful step along an ordinal dimension, the next step in the same
    direction is tried first.
    """

    def __init__(self, archive: Archive, rng: np.random.Generator, order: NeighbourOrder, *,
                 ordinal: Sequence[bool], pattern: bool = True):
        self.archive, self.rng, self.order = archive, rng, order
        self.ordinal, self.pattern = list(ordinal), bool(pattern)
        self.centre: Genome | None = None
        self.pending: set[Genome] = set()
        self.evals = 0
        self.moves: list[tuple[Genome, Genome, float, float]] = []
        self.optima: set[Genome] = set()
        self._left: dict[Genome, list[Genome]] = {}  # centre -> its shuffled untried neighbours
        self._from: dict[Genome, Genome] = {}  # pending proposal -> the centre it came from
        self._next_first: Genome | None = None  # pattern move: continue in the improving direction

    def neighbours_left(self, c: Genome) -> list[Genome]:
        """``c``'s untried one-step neighbours (shuffled by ``rng`` when ``c`` is first seen)."""
        left = self._left.get(c)
        if left is None:
            left = ops.neighbours(c, cardinalities=self.archive.cardinalities, ordinal=self.ordinal)
            order = self.rng.permutation(len(left))
            left = [left[i] for i in order]
            self._left[c] = left
        left[:] = [g for g in left if self.archive.untried(g)]
        return left

    def _waiting_on(self, c: Genome) -> bool:
        return any(self._from.get(p) == c for p in self.pending)

    def start(self, candidates: Iterable[Genome]) -> Genome | None:
        """Climb from the first candidate that is no known optimum and has untried neighbours."""
        for c in candidates:
            if c in self.optima:
                continue
            if not self.neighbours_left(c):
                if not self._waiting_on(c):
                    self.optima.add(c)
                continue
            self.centre = c
            return c
        return None

    def step(self) -> Genome | None:
        """The next neighbour of ``centre`` to evaluate, or ``None``: then ``centre`` is ``None``
        when it was exhausted (a local optimum), or still set when its pending results may move it."""
        left = self.neighbours_left(self.centre)
        if left:
            nf, self._next_first = self._next_first, None
            k = left.index(nf) if nf is not None and nf in left else self.order.choose(
                self.centre, left, self.archive.known, self.archive.cardinalities)
            g = left.pop(k)
            self._from[g] = self.centre
            return g
        if not self.pending:
            self.optima.add(self.centre)
            self.centre = None
        return None

    def propose(self, g: Genome) -> None:
        self.pending.add(g)
        self.archive.pending.add(g)

    def result(self, g: Genome, score: float, is_new: bool) -> tuple[Genome, Genome] | None:
        """Take the told score of a proposal; ``(old centre, new centre)`` on an accepted move."""
        self.pending.discard(g)
        self.evals += is_new
        c = self._from.pop(g, None)
        if c is None or c != self.centre:
            return None  # a result from an earlier centre: the climb has moved on
        known = self.archive.known
        if score > known[c]:  # first improvement: move there
            self.moves.append((c, g, known[c], score))
            self.centre = g
            if self.pattern:  # an ordinal step that paid off: try one more step the same way
                i = next(j for j in range(len(g)) if g[j] != c[j])
                if self.ordinal[i]:
                    step = g[i] + (g[i] - c[i])
                    if 0 <= step < self.archive.cardinalities[i]:
                        self._next_first = g[:i] + (step,) + g[i + 1:]
            return c, g
        if not self.neighbours_left(c) and not self._waiting_on(c):
            self.optima.add(c)
            self.centre = None
        return None


class LocalSearch(ArchiveStrategy):
    """First-improvement local search with random restarts (``local``).

    Start at a uniformly drawn untried genome; evaluate its untried one-step neighbours in random
    order and move to the first one that is better; at a local optimum (every neighbour tried, none
    better) restart at a new random untried genome. Options: ``pattern`` [False; True: after an
    improving step along an ordinal dimension, try the next step the same way first].
    ``restarts`` counts the climbs started.
    """

    name = "local"

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, pattern: bool = False, **options: Any):
        super().__init__(space, seed, **options)
        self.climber = HillClimber(self.archive, self.rng, NeighbourOrder(self.rng, guided=False),
                                   ordinal=self.ordinal, pattern=pattern)
        self.restarts = 0
        self._start: Genome | None = None  # a restart point asked but not told

    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        while len(out) < n and not self.finished:
            if self.climber.centre is None:
                if self._start is not None or self.climber.pending:
                    break  # wait for the restart point's (or the last climb's) results
                g = self.archive.random_new(self.rng)
                if g is None:
                    break
                self._start = g
                self.archive.pending.add(g)
                self.restarts += 1
            else:
                g = self.climber.step()
                if g is None:
                    if self.climber.centre is not None:
                        break  # pending neighbours may still move the centre
                    continue  # a local optimum: restart
                self.climber.propose(g)
            out.append(self.space.decode(g))
        return out

    def tell(self, config: Config, score: float) -> None:
        g = self.space.encode(config)
        is_new = self.archive.record(g, float(score))
        if g == self._start:
            self._start = None
            self.climber.start([g])
        elif g in self.climber.pending:
            self.climber.result(g, float(score), is_new)
