"""Rungs of successive halving: the ladder of epochs, the epochs promotions may still cost, and
the promotion rule (:class:`RungScores`, with the model's claims under ``promote_model``), shared
by memetic-sh (:mod:`studylib.strategies.halving`) and the Optuna pruners' budget.

Randomness: none but :class:`RungScores`' trees, seeded from ``(seed, rung, pairs)``.
"""
from __future__ import annotations

import math

import numpy as np

from ..space import Config, SearchSpace


def ladder(min_epochs: int, eta: float, max_epochs: int) -> list[int]:
    """The rungs' epochs: ``min_epochs * eta**i`` below ``max_epochs``, then ``max_epochs``."""
    if not (isinstance(min_epochs, int) and min_epochs > 0 and max_epochs >= 1 and eta > 1):
        raise ValueError(f"need min_epochs >= 1, eta > 1 and max_epochs >= 1 (got min_epochs {min_epochs}, eta {eta}, "
                         f"max_epochs {max_epochs})")
    out, e = [], min_epochs
    while e < max_epochs:
        out.append(int(e))
        e = int(round(e * eta)) if round(e * eta) > e else e + 1
    return out + [int(max_epochs)]


def three_rungs(max_epochs: int, eta: float) -> int:
    """memetic-sh's default ``min_epochs``: rungs ``max/eta**2``, ``max/eta``, ``max`` (at least 1)."""
    return max(1, math.ceil(float(max_epochs) / float(eta) ** 2))


def owed_epochs(at: list[int], rungs: list[int], eta: float, seen: dict[int, int] | None = None) -> float:
    """Epochs the promotions of configs whose result at rung ``at[i]`` is not decided yet may cost.
    Of ``n`` such configs at a rung, ``ceil(n / eta)`` go on to the next; with ``seen`` (decided
    scores per rung) at most ``min(n, ceil((seen + n) / eta))``, the most the rule can promote."""
    counts = {r: sum(1 for a in at if a == r) for r in rungs}
    owed = 0.0
    for r, nxt in zip(rungs, rungs[1:]):
        top = counts[r] if seen is None else counts[r] + seen.get(r, 0)
        up = min(counts[r], math.ceil(top / eta)) if counts[r] else 0
        owed += up * (nxt - r)
        counts[nxt] += up
    return owed


def new_allowed(n: int, owed_now: list[int], rungs: list[int], eta: float, new_left: int | None,
                epochs_left: float | None, certain: float = 0.0, seen: dict[int, int] | None = None) -> int:
    """How many of ``n`` new configs (starting at ``rungs[0]``) may start: at most ``new_left``,
    and only as many as fit in ``epochs_left`` with the promotions already decided (``certain``
    epochs) and every promotion expected for them and for the undecided configs at rungs
    ``owed_now``. No new config at all once the owed promotions fill the budget."""
    m = n if new_left is None else max(0, min(n, int(new_left)))
    if epochs_left is None:
        return m
    while m > 0 and certain + m * rungs[0] + owed_epochs(owed_now + [rungs[0]] * m, rungs, eta, seen) > epochs_left:
        m -= 1
    return m


def highest_best(epochs: list[int], claims: list[float]) -> list[int]:
    """Indices of ``epochs``/``claims`` (one pair per config), highest rung first, then best claim,
    then the order given (the sort key ``(-epochs, -claim, i)``; a NaN claim compares as Python's
    ``sorted`` makes it)."""
    return sorted(range(len(claims)), key=lambda i: (-epochs[i], -claims[i], i))


def default_quorum(eta: float) -> int:
    """memetic-sh's default ``quorum``: ``ceil(eta**2)`` scores, a three-rung bracket's first rung
    (9 for eta 3)."""
    return max(1, math.ceil(float(eta) ** 2))


def rung_fitness(level: int, score: float) -> float:
    """What the inner strategy is told for a config whose highest rung is ``rungs[level]``: ordered
    by rung first, then by the score at that rung (``level + atan(score) / pi + 1/2``, inside
    ``(level, level + 1)``). So the GA's survival, tournaments and hill climbing compare scores only
    when measured at the same rung; a config that got further ranks above one retired below it."""
    return float(level) + math.atan(float(score)) / math.pi + 0.5


class RungScores:
    """Validation accuracies observed at each rung, and the promotion rule.

    With a ``space`` (``guided``) a config's claim to promotion from rung ``r`` is its score there
    plus the gain to the next rung that a :class:`~studylib.strategies.surrogate.Surrogate` predicts
    for it, fitted on the configs measured at both rungs (``next score - score``); before
    ``model_min`` such pairs (and for a non-finite score) the claim is the score alone, the plain
    rule. Randomness: each fit's trees are seeded from ``(seed, rung, pairs)``, so a claim does not
    depend on when it was asked for."""

    def __init__(self, rungs: list[int], eta: float, space: SearchSpace | None = None, *,
                 seed: int | None = 0, model_min: int = 10):
        self.rungs, self.eta = rungs, eta
        self._below = {nxt: r for r, nxt in zip(rungs, rungs[1:])}  # rung -> the rung below it
        self.scores: dict[int, list[float]] = {r: [] for r in rungs}
        self.space, self.model_min = space, int(model_min)
        self.seed = np.random.SeedSequence().entropy if seed is None else int(seed)  # fixed for the whole study
        self._at: dict[int, list[tuple[Config, float]]] = {r: [] for r in rungs}  # guided: (config, score)
        self._by_key: dict[str, dict[int, float]] = {}  # guided: config key -> rung -> score
        self._claims: dict[int, tuple[int, dict[str, float], list[float]]] = {}  # rung -> (version, by key, sorted)
        self._version: dict[int, int] = {}  # rung -> changes to its configs or to its pairs with the next rung

    @property
    def guided(self) -> bool:
        return self.space is not None

    def add(self, epochs: int, score: float, config: Config | None = None) -> None:
        self.scores.setdefault(epochs, []).append(float(score))
        if self.guided and config is not None:
            self._at.setdefault(epochs, []).append((config, float(score)))
            self._by_key.setdefault(self.space.key(config), {})[epochs] = float(score)
            below = [r for r in self.rungs if r < epochs]
            for r in [epochs] + below[-1:]:  # this rung's claims, and the rung below's pairs
                self._version[r] = self._version.get(r, 0) + 1

    def _pairs(self, epochs: int) -> tuple[list[Config], list[float]]:
        """Configs measured at ``epochs`` and at the next rung (finite scores), and their gains."""
        nxt = self.next(epochs)
        configs, gains = [], []
        for config, score in self._at.get(epochs, []):
            later = self._by_key[self.space.key(config)].get(nxt)
            if later is not None and math.isfinite(score) and math.isfinite(later):
                configs.append(config)
                gains.append(later - score)
        return configs, gains

    def claims(self, epochs: int) -> tuple[dict[str, float], list[float]]:
        """(config key -> claim, every claim at the rung best first) for the configs at ``epochs``."""
        cached = self._claims.get(epochs)
        if cached is not None and cached[0] == self._version.get(epochs, 0):
            return cached[1], cached[2]
        at = self._at.get(epochs, [])
        configs, gains = self._pairs(epochs) if self.next(epochs) is not None else ([], [])
        gain = np.zeros(len(at))
        if len(gains) >= self.model_min and at:
            from .surrogate import Surrogate

            rng = np.random.default_rng([self.seed, int(epochs), len(gains)])
            model = Surrogate(self.space, rng, min_points=max(2, self.model_min)).fit(configs, gains)
            gain = model.predict([c for c, _ in at])
        values = [s + float(g) if math.isfinite(s) else s for (_, s), g in zip(at, gain)]
        by_key = {self.space.key(c): v for (c, _), v in zip(at, values)}
        ranked = sorted(values, reverse=True)
        self._claims[epochs] = (self._version.get(epochs, 0), by_key, ranked)
        return by_key, ranked

    def claim(self, epochs: int, config: Config, score: float) -> float:
        """``config``'s claim to promotion from ``epochs`` (its ``score`` there when not guided)."""
        if not self.guided:
            return float(score)
        return self.claims(epochs)[0].get(self.space.key(config), float(score))

    def promoted(self, epochs: int, score: float, config: Config | None = None) -> bool:
        """Whether ``config`` (with ``score`` at rung ``epochs``) is among the top ``ceil(n / eta)``
        of the ``n`` configs the rung has seen, by score (guided: by claim)."""
        if self.guided and config is not None:
            _, seen = self.claims(epochs)
            value = self.claim(epochs, config, score)
        else:
            seen, value = sorted(self.scores.get(epochs, []), reverse=True), score
        k = max(1, math.ceil(len(seen) / self.eta))
        return bool(seen) and value >= seen[k - 1]

    def next(self, epochs: int) -> int | None:
        higher = [r for r in self.rungs if r > epochs]
        return higher[0] if higher else None

    def below(self, epochs: int) -> int:
        """The rung below rung ``epochs`` (a KeyError for the lowest rung, or epochs that are no rung)."""
        return self._below[epochs]

    def level(self, epochs: int) -> int:
        """How many rungs lie below ``epochs`` (``i`` for ``rungs[i]``)."""
        return sum(1 for r in self.rungs if r < epochs)
