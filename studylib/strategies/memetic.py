"""Memetic GA: a genetic algorithm hybridised with first-improvement hill climbing (the proposal).

Each generation has two phases:

* **global** -- a GA generation: tournament-selected parents, uniform crossover, and a mutation of
  one or two genes (one-step or uniform moves); only genomes never evaluated are proposed, and
  survival is (mu + lambda): the best ``population_size`` distinct genomes of parents and children;
* **local** -- first-improvement hill climbing: the untried one-step neighbours of the centre are
  evaluated one at a time in (weighted) random order; the first better one becomes the new centre
  and, with Lamarckian write-back (the default), replaces the climbing individual in the
  population (Baldwinian, ``lamarckian=False``: the individual keeps its genome and takes the
  better fitness). After a successful step along an ordinal dimension the next step in the same
  direction is tried first (``pattern``). A centre whose neighbours are all tried is a local
  optimum and the climb restarts from the best evaluated config whose neighbourhood is not
  exhausted (``restart="evaluated"``; ``"population"`` restricts restarts to the population), up
  to ``n_local`` climbs per generation.

How the evaluations are split:

* the local search gets a bounded share: a local proposal is made only while
  ``local + 1 <= local_share * (all + 1)`` (counting pending proposals), so whenever nothing is
  pending ``local_evals <= local_share * evals``; ``local_evals`` counts local-search evaluations;
* the share is an upper bound, not a quota: a generation's local phase ends early once its climbs
  are used up or every candidate centre is exhausted, handing the budget back to the GA, which
  supplies fresh starting points from other regions;
* neighbours are tried in random order, but (``guided=True``) weighted by a TPE-like density
  ratio: a move to a value that is common among the best ``guide_top`` of all evaluated configs and
  rare among the rest is tried earlier;
* the initial population is Latin-hypercube-like (every value of every dimension spread evenly);
* no genome is ever proposed twice (a set of tried genomes), so no ask is wasted on the cache;
* optionally (``adaptive=True``) the share moves within ``[min_share, local_share]`` according to
  which phase found the recent improvements of the best score.

Scores are single noisy draws; every comparison uses the observed value. All randomness comes
from ``self.rng``. ``moves`` lists the accepted local moves, ``log`` one row per generation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ga as ops
from ..space import Config, SearchSpace
from .ga import Genome, GeneticAlgorithm


class MemeticGA(GeneticAlgorithm):
    """GA + hill climbing.

    Options: ``population_size`` (10), ``local_share`` (upper bound on the share of evaluations
    spent on local search, 0.8), ``lamarckian`` (write improved genomes back into the population,
    True; False = Baldwinian: the individual keeps its genome but takes the improved fitness),
    ``n_local`` (climbs started per generation, 6), ``restart`` (``evaluated`` or
    ``population``: where a new climb starts), ``pattern`` (True),
    ``offspring`` (children per generation, default ``population_size``), ``crossover_rate``
    (0.7), ``two_gene_prob`` (chance a mutation changes two genes instead of one, 0.5),
    ``guided`` (density-ratio-weighted neighbour order, True), ``guide_top`` (0.25),
    ``guide_power`` (1.0), ``guided_mutation`` (use the same weights for mutated values, False),
    ``init`` (``lhs`` or ``random``), ``adaptive`` (False), ``min_share`` (0.3); plus the GA's
    ``selection``, ``tournsize``, ``crossover`` and ``n_elite``. Survival is (mu + lambda).
    """

    name = "memetic"

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, population_size: int = 10,
                 local_share: float = 0.8, lamarckian: bool = True, n_local: int = 6,
                 offspring: int | None = None, adaptive: bool = False, min_share: float = 0.3,
                 two_gene_prob: float = 0.5, crossover_rate: float = 0.7, n_elite: int = 2,
                 tournsize: int = 3, guided: bool = True, guide_top: float = 0.25,
                 guide_power: float = 1.0, guided_mutation: bool = False, init: str = "lhs",
                 pattern: bool = True, restart: str = "evaluated", **options: Any):
        super().__init__(space, seed, population_size=population_size, crossover_rate=crossover_rate,
                         n_elite=n_elite, tournsize=tournsize, **options)
        if not 0.0 <= local_share < 1.0:
            raise ValueError(f"{self.name}: local_share must be in [0, 1)")
        self.local_share = float(local_share)
        self.min_share = min(float(min_share), self.local_share)
        self.adaptive = bool(adaptive)
        self.lamarckian = bool(lamarckian)
        self.n_local = int(n_local)
        self.offspring = int(offspring) if offspring else self.population_size
        self.two_gene_prob = float(two_gene_prob)
        self.guided = bool(guided)
        self.guide_top = float(guide_top)
        self.guide_power = float(guide_power)
        self.guided_mutation = bool(guided_mutation)
        if init not in ("lhs", "random"):
            raise ValueError(f"{self.name}: init must be lhs or random")
        self.init = init
        self._mut_weights: list | None = None
        self.pattern = bool(pattern)
        if restart not in ("population", "evaluated"):
            raise ValueError(f"{self.name}: restart must be population or evaluated")
        self.restart = restart
        self._next_first: Genome | None = None  # pattern move: continue in the improving direction

        #: accepted local moves, ``(from genome, to genome, from score, to score)``
        self.moves: list[tuple[Genome, Genome, float, float]] = []
        self.local_evals = 0  # evaluations proposed by the local search and told
        self.local_moves = 0  # accepted improving moves
        self.optima: set[Genome] = set()  # genomes whose neighbourhood is exhausted
        self._phase = "global"  # the first generation is the random initial population
        self._center: Genome | None = None  # current hill-climbing centre
        self._center_slot: int | None = None  # population index of the climbing individual
        self._slot_genome: Genome | None = None  # the genome that individual has there
        self._climbs = 0  # climbs started in this local phase
        self._untried_nb: dict[Genome, list[Genome]] = {}  # centre -> shuffled neighbours left
        self._local_pending: set[Genome] = set()
        self._from: dict[Genome, Genome] = {}  # local proposal -> the centre it came from
        self._credit = {"local": 1.0, "global": 1.0}  # recent improvements of the best, by phase
        self._best = float("-inf")

    # -- share control -----------------------------------------------------------------------------
    @property
    def share(self) -> float:
        """The local-search share currently allowed (at most ``local_share``)."""
        if not self.adaptive:
            return self.local_share
        lo, hi = self.min_share, self.local_share
        frac = self._credit["local"] / (self._credit["local"] + self._credit["global"])
        return lo + (hi - lo) * frac

    def _local_allowed(self) -> bool:
        used = self.local_evals + len(self._local_pending)
        told_or_pending = self.evals + len(self._pending)
        return used + 1 <= self.share * (told_or_pending + 1)

    # -- the interface -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        guard = 0
        while len(out) < n and not self.finished and guard < 1000:
            guard += 1
            if self._phase == "local":
                g = self._local_proposal()
                if g is not None:
                    self._local_pending.add(g)
                    self._pending.add(g)
                    out.append(self.space.decode(g))
                    continue
                if self._local_pending:
                    break  # wait for the climb's results before deciding
                self._phase = "global"
                self._queue = self._next_batch()
                continue
            # global phase
            if self._queue:
                g = self._queue.pop(0)
                if self._untried(g):
                    self._pending.add(g)
                    out.append(self.space.decode(g))
                continue
            if self._pending:
                break  # wait for the rest of this generation
            if self._batch:
                self._complete_generation()
                self._start_local_phase()
                continue
            self._queue = self._next_batch()
            if not self._queue and not self._batch:
                break
        return out

    def tell(self, config: Config, score: float) -> None:
        g = self.space.encode(config)
        score = float(score)
        is_new = g not in self.known
        local = g in self._local_pending
        self._pending.discard(g)
        self._local_pending.discard(g)
        self._record(g, score)
        if is_new:
            if score > self._best:
                if self._best > float("-inf"):
                    self._decay_credit()
                    self._credit["local" if local else "global"] += 1.0
                self._best = score
        if local:
            if is_new:
                self.local_evals += 1
            self._local_result(g, score)

    # -- local search ------------------------------------------------------------------------------
    def _start_local_phase(self) -> None:
        self._phase = "local"
        self._climbs = 0
        self._center = None
        self._center_slot = None
        self._slot_genome = None

    def _decay_credit(self) -> None:
        for k in self._credit:
            self._credit[k] *= 0.8

    def _neighbours_left(self, c: Genome) -> list[Genome]:
        left = self._untried_nb.get(c)
        if left is None:
            left = ops.neighbours(c, cardinalities=self.cardinalities, ordinal=self.ordinal)
            order = self.rng.permutation(len(left))
            left = [left[i] for i in order]
            self._untried_nb[c] = left
        left[:] = [g for g in left if self._untried(g)]
        return left

    def _value_weights(self) -> list:
        """Per dimension and value: (share among the top ``guide_top`` of evaluated genomes + prior)
        / (share among the rest + prior), a TPE-like density ratio of where good configs lie."""
        genomes = list(self.known)
        scores = np.fromiter(self.known.values(), float, len(genomes))
        n_top = max(2, int(np.ceil(self.guide_top * len(genomes))))
        order = np.argsort(-scores, kind="stable")
        top = np.zeros(len(genomes), bool)
        top[order[:n_top]] = True
        G = np.asarray(genomes)
        out = []
        for i, c in enumerate(self.cardinalities):
            lt = np.bincount(G[top, i], minlength=c) + 1.0
            lb = np.bincount(G[~top, i], minlength=c) + 1.0
            out.append((lt / lt.sum()) / (lb / lb.sum()))
        return out

    def _choose(self, c: Genome, left: list[Genome]) -> int:
        """Which untried neighbour to try next: uniformly at random, or (``guided``) at random with
        probability growing with the density ratio of the changed value."""
        if not self.guided or len(left) == 1 or len(self.known) < 4:
            return int(self.rng.integers(len(left)))
        w = self._value_weights()
        weights = np.empty(len(left))
        for k, g in enumerate(left):
            i = next(j for j in range(len(g)) if g[j] != c[j])
            weights[k] = w[i][g[i]] ** self.guide_power
        return int(self.rng.choice(len(left), p=weights / weights.sum()))

    def _pick_center(self) -> bool:
        """The best population member whose neighbourhood is not exhausted (a new climb)."""
        if self._climbs >= self.n_local:
            return False
        order = sorted(range(len(self.population)), key=lambda i: -self.fitness[i])
        cands = [(self.population[i], i) for i in order]
        if self.restart == "evaluated":
            slots = {g: i for g, i in cands}
            ranked = sorted(self.known, key=lambda g: -self.known[g])
            cands = [(g, slots.get(g)) for g in ranked if g not in self.optima]
        for c, i in cands:
            if c in self.optima:
                continue
            if not self._neighbours_left(c):
                if not any(self._from.get(p) == c for p in self._local_pending):
                    self.optima.add(c)
                continue
            self._center, self._center_slot, self._slot_genome = c, i, c
            self._climbs += 1
            return True
        return False

    def _local_proposal(self) -> Genome | None:
        if not self._local_allowed():
            return None
        for _ in range(self.n_local + 2):
            if self._center is None:
                if self._local_pending or not self._pick_center():
                    return None
            left = self._neighbours_left(self._center)
            if left:
                nf = self._next_first
                self._next_first = None
                k = left.index(nf) if nf is not None and nf in left else self._choose(self._center, left)
                g = left.pop(k)
                self._from[g] = self._center
                return g
            if self._local_pending:
                return None  # wait: a pending neighbour may still improve
            self.optima.add(self._center)  # exhausted without improvement: a local optimum
            self._center = None
        return None

    def _local_result(self, g: Genome, score: float) -> None:
        c = self._from.pop(g, None)
        if c is None or c != self._center:
            return
        if score > self.known[c]:  # first improvement: move there
            self.local_moves += 1
            self.moves.append((c, g, self.known[c], score))
            slot = self._center_slot
            if slot is None and self.lamarckian and self.population:
                # a climb from outside the population: the improvement replaces the worst member
                worst = min(range(len(self.population)), key=lambda i: self.fitness[i])
                if score > self.fitness[worst] and g not in self.population:
                    self.population[worst], self.fitness[worst] = g, score
                    self._center_slot, self._slot_genome = worst, g
                    slot = None
            if (slot is not None and slot < len(self.population)
                    and self.population[slot] == self._slot_genome):
                if self.lamarckian:  # write the improved genome back
                    self.population[slot] = g
                    self._slot_genome = g
                self.fitness[slot] = max(self.fitness[slot], score)
            self._center = g
            if self.pattern:  # an ordinal step that paid off: try one more step the same way
                i = next(j for j in range(len(g)) if g[j] != c[j])
                if self.ordinal[i]:
                    step = g[i] + (g[i] - c[i])
                    if 0 <= step < self.cardinalities[i]:
                        self._next_first = g[:i] + (step,) + g[i + 1:]
        elif not self._neighbours_left(c) and not any(self._from.get(p) == c for p in self._local_pending):
            self.optima.add(c)
            self._center = None

    # -- global search -----------------------------------------------------------------------------
    def _complete_generation(self) -> None:
        """(mu + lambda) survival: the best ``population_size`` distinct genomes of parents and
        children (strong exploitation; the climbers' write-backs are parents)."""
        pool: dict[Genome, float] = {}
        for g, f in zip(self.population, self.fitness):
            pool[g] = max(f, pool.get(g, float("-inf")))
        for g in self._batch:
            if g in self.known and g not in pool:
                pool[g] = self.known[g]
        ranked = sorted(pool.items(), key=lambda gf: -gf[1])[: self.population_size]
        self.population = [g for g, _ in ranked]
        self.fitness = [f for _, f in ranked]
        self._batch = []
        self._log_generation()

    def _mutate(self, g: Genome) -> Genome:
        k = 2 if self.rng.random() < self.two_gene_prob else 1
        w = self._mut_weights
        if w is not None:
            g = list(g)
            free = [i for i, c in enumerate(self.cardinalities) if c > 1]
            for i in self.rng.choice(free, size=min(k, len(free)), replace=False):
                i = int(i)
                p = np.array(w[i], dtype=float) ** self.guide_power
                p[g[i]] = 0.0
                g[i] = int(self.rng.choice(len(p), p=p / p.sum()))
            return tuple(g)
        return ops.mutate_genes(g, rng=self.rng, cardinalities=self.cardinalities, ordinal=self.ordinal,
                                n_genes=k, step_prob=0.5)

    def _child(self) -> Genome:
        a, b = self._select(2)
        if self.rng.random() < self.crossover_rate:
            a, _ = ops.CROSSOVERS[self.crossover](a, b, rng=self.rng)
            if a in self.known or a in self._pending:
                a = self._mutate(a)
        else:
            a = self._mutate(a)
        return a

    def _offspring(self, k: int) -> list[Genome]:
        self._mut_weights = (self._value_weights() if self.guided_mutation and len(self.known) >= 4
                             else None)
        out: list[Genome] = []
        seen: set[Genome] = set()
        for _ in range(k):
            child = None
            for _ in range(30):
                c = self._child()
                if self._untried(c) and c not in seen:
                    child = c
                    break
            if child is None:
                child = self._random_new()
            if child is None:
                break
            seen.add(child)
            out.append(child)
        return out

    def _initial_batch(self) -> list[Genome]:
        """Latin-hypercube-like start: every dimension's values are spread evenly over the initial
        population (each value appears ``P/cardinality`` times, rounded), in random pairings."""
        if self.init == "random":
            return super()._initial_batch()
        P = self.population_size
        cols = []
        for c in self.cardinalities:
            reps = -(-P // c)
            col = [v for _ in range(reps) for v in self.rng.permutation(c).tolist()][:P]
            cols.append([col[i] for i in self.rng.permutation(P)])
        out: list[Genome] = []
        for j in range(P):
            g = tuple(int(col[j]) for col in cols)
            if not self._untried(g) or g in out:
                g = self._random_new()
                if g is None or g in out:
                    continue
            out.append(g)
        return out

    def _next_batch(self) -> list[Genome]:
        if not self.population:
            self._batch = self._initial_batch()
        else:
            self._batch = self._offspring(self.offspring)
        return [g for g in self._batch if self._untried(g)]
