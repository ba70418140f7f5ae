"""A cheap model of the results so far: which untried configs look best (one module for every
strategy that pre-screens candidates: the memetic GA, memetic-sh).

:class:`Surrogate` is a small extremely-randomised tree ensemble (scikit-learn's
``ExtraTreesRegressor``) on the encoded configs: an ordinal dimension is its value index (trees
split it by order), a categorical one is one-hot (no false order). It is fitted on the configs
told so far and their scores (maximised) and ranks candidates by the predicted score, optionally
plus ``kappa`` times the spread of the trees' predictions (an optimism bonus for configs the trees
disagree on). See ``docs/surrogate.md`` for why this model.

:class:`SkillCheck` is the model's online self-check: the Spearman correlation between the score
predicted for each proposal (before it was evaluated) and the score observed, over the last
``window`` evaluations; a caller screens only while it is :attr:`SkillCheck.trusted`.

Items are configs (dicts, as ``SearchSpace.decode`` gives) or genomes (tuples of value indices,
as ``SearchSpace.encode`` gives); both may be mixed. Randomness: only the trees' ``random_state``,
drawn from the ``rng`` given at each :meth:`Surrogate.fit`, so the same seed gives the same ranks.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..space import SearchSpace

Item = Any  # a config dict or a genome tuple


class Surrogate:
    """``Surrogate(space, rng=np.random.default_rng(seed))``; ``fit(items, scores)``, then
    ``predict``, ``rank`` (best first) and ``pick(items, k)``. Before a fit with at least
    ``min_points`` distinct finite scores the model is not :attr:`ready` and ranks keep the given
    order (so a caller can always call :meth:`pick`).

    Options: ``n_trees`` [8], ``min_samples_leaf`` [1], ``max_features`` (share of the encoded
    columns each split considers) [1.0], ``kappa`` (weight of the trees' spread) [0.0],
    ``min_points`` [10].
    """

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, n_trees: int = 8,
                 min_samples_leaf: int = 1, max_features: float = 1.0, kappa: float = 0.0,
                 min_points: int = 10):
        if n_trees < 1 or min_samples_leaf < 1 or min_points < 2:
            raise ValueError("surrogate: need n_trees >= 1, min_samples_leaf >= 1 and min_points >= 2")
        if not 0.0 < max_features <= 1.0:
            raise ValueError("surrogate: max_features must be in (0, 1]")
        self.space, self.rng = space, rng
        self.n_trees, self.min_samples_leaf, self.max_features = int(n_trees), int(min_samples_leaf), float(max_features)
        self.kappa, self.min_points = float(kappa), int(min_points)
        self.cardinalities = list(space.cardinalities)
        self.ordinal = [d.ordinal for d in space.dimensions]
        self._offsets = []  # first column of each dimension
        col = 0
        for c, o in zip(self.cardinalities, self.ordinal):
            self._offsets.append(col)
            col += 1 if o else c
        self.n_columns = col
        self._model = None
        self.fits = 0  # how many times a model was fitted
        self._fitted_on = 0  # items in the last fit (update)

    @property
    def ready(self) -> bool:
        return self._model is not None

    # -- encoding ----------------------------------------------------------------------------------
    def genome(self, item: Item) -> tuple[int, ...]:
        return self.space.encode(item) if isinstance(item, dict) else tuple(int(v) for v in item)

    def encode(self, items: Sequence[Item]) -> np.ndarray:
        """One row per item: ordinal value indices and categorical one-hot columns."""
        G = np.asarray([self.genome(x) for x in items], dtype=np.int64).reshape(len(items), len(self.cardinalities))
        X = np.zeros((len(items), self.n_columns), dtype=np.float32)
        rows = np.arange(len(items))
        for i, (off, o) in enumerate(zip(self._offsets, self.ordinal)):
            if o:
                X[:, off] = G[:, i]
            else:
                X[rows, off + G[:, i]] = 1.0
        return X

    # -- model ---------------------------------------------------------------------------------------
    def fit(self, items: Sequence[Item], scores: Sequence[float]) -> "Surrogate":
        """Fit on ``items`` and their scores (higher is better; non-finite scores count as the
        worst finite one). With fewer than ``min_points`` finite scores the model stays unfitted."""
        y = np.asarray(scores, dtype=float)
        if len(y) != len(items):
            raise ValueError("surrogate: one score per item")
        finite = np.isfinite(y)
        if finite.sum() < self.min_points:
            self._model = None
            return self
        y = np.where(finite, y, y[finite].min())
        from sklearn.ensemble import ExtraTreesRegressor

        self._model = ExtraTreesRegressor(
            n_estimators=self.n_trees, min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
            random_state=int(self.rng.integers(2**31 - 1)), n_jobs=None).fit(self.encode(items), y)
        self.fits += 1
        return self

    def update(self, known: Mapping[Item, float], every: int = 1) -> bool:
        """Refit on ``known`` (item -> score, e.g. an archive's) when it holds at least ``every``
        items more than at the last fit (or the model is not ready yet); True when it refitted."""
        if len(known) < self.min_points or (self.ready and len(known) - self._fitted_on < max(int(every), 1)):
            return False
        self.fit(list(known), list(known.values()))
        self._fitted_on = len(known)
        return self.ready

    def predict(self, items: Sequence[Item]) -> np.ndarray:
        """Predicted score (plus ``kappa`` times the trees' standard deviation) of each item; zeros
        while the model is not ready."""
        if not len(items):
            return np.zeros(0)
        if self._model is None:
            return np.zeros(len(items))
        X = self.encode(items)  # float32, as the trees want it: no per-call validation needed
        per_tree = np.stack([t.predict(X, check_input=False) for t in self._model.estimators_])
        if self.kappa == 0.0:
            return per_tree.mean(axis=0)
        return per_tree.mean(axis=0) + self.kappa * per_tree.std(axis=0)

    def rank(self, items: Sequence[Item]) -> list[int]:
        """Indices of ``items``, best predicted first (ties, and an unready model, keep the given order)."""
        return np.argsort(-self.predict(items), kind="stable").tolist()

    def pick(self, items: Sequence[Item], k: int) -> list[Item]:
        """The ``k`` best-ranked items, best first."""
        return [items[i] for i in self.rank(items)[: max(int(k), 0)]]


class SkillCheck:
    """``SkillCheck(window=20, min_skill=0.0)``: call :meth:`predicted` when an item is proposed
    (with the model's prediction for it) and :meth:`observed` when its score comes in. :attr:`skill`
    is the Spearman correlation of predicted vs observed over the last ``window`` observed pairs
    (NaN before ``window`` pairs; a constant side counts as 0); :attr:`trusted` while there are
    fewer than ``window`` pairs or the skill exceeds ``min_skill``. Deterministic (no randomness)."""

    def __init__(self, window: int = 20, min_skill: float = 0.0):
        if window < 3:
            raise ValueError("surrogate: the self-check window must be at least 3")
        self.window, self.min_skill = int(window), float(min_skill)
        self._pending: dict = {}
        self.pairs: list[tuple[float, float]] = []  # (predicted, observed), the last ``window``

    def predicted(self, item: Item, value: float) -> None:
        self._pending[item] = float(value)

    def observed(self, item: Item, score: float) -> None:
        if item in self._pending:
            self.pairs.append((self._pending.pop(item), float(score)))
            del self.pairs[: -self.window]

    @property
    def skill(self) -> float:
        if len(self.pairs) < self.window:
            return float("nan")
        from scipy.stats import rankdata

        p, y = np.asarray(self.pairs, dtype=float).T
        y = np.where(np.isfinite(y), y, np.nanmin(np.where(np.isfinite(y), y, np.nan)) if np.isfinite(y).any() else 0.0)
        rp, ry = rankdata(p), rankdata(y)
        if rp.std() == 0 or ry.std() == 0:
            return 0.0
        return float(np.corrcoef(rp, ry)[0, 1])

    @property
    def trusted(self) -> bool:
        return len(self.pairs) < self.window or self.skill > self.min_skill
