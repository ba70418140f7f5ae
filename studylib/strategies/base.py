"""The ask/tell interface every search strategy implements.

A strategy owns one seeded ``numpy.random.Generator`` (``self.rng``) and draws all its randomness
from it, so the same seed gives the same proposals. Scores are *maximised* (validation accuracy in
a CNN study; a sign-adjusted metric in the tabular benchmark).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..space import Config, SearchSpace


@dataclass(frozen=True)
class Proposal:
    """A config to train to exactly ``epochs`` epochs in all (a *rung*): what a multi-fidelity
    strategy's ``ask`` returns instead of a bare config. The loop continues it from the config's
    highest lower rung that still has a checkpoint and tells the strategy this same object."""

    config: Config
    epochs: int


@dataclass(frozen=True)
class Replicate:
    """Evaluate ``config`` once more, as its run number ``run`` (1, 2, ...; run 0 is its first
    evaluation), with a training seed of its own: what a strategy's ``ask`` returns to measure a
    config's noise. The loop charges it like a new trial (it counts towards ``--trials``) and tells
    the strategy this same object; the study's score of the config is then the mean of its runs."""

    config: Config
    run: int


def config_of(item: Config | Proposal | Replicate) -> Config:
    """The config a proposal is about (a bare config, a rung's or a replicate's)."""
    return item.config if isinstance(item, (Proposal, Replicate)) else item


class Strategy:
    """``multi_fidelity``: ``ask`` returns :class:`Proposal` s (the study then passes the
    constructor ``max_epochs``); ``retired()`` lists configs that will never be promoted again
    (the loop deletes their checkpoints)."""

    name = "base"
    multi_fidelity = False
    new_left: int | None = None       # see :meth:`limit`
    epochs_left: float | None = None

    def __init__(self, space: SearchSpace, seed: int | None = 0, **options):
        if options:
            raise TypeError(f"{self.name}: unknown options {sorted(options)}")
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @classmethod
    def identity_defaults(cls, max_epochs: int, options: dict) -> dict:
        """Resolved defaults that a study's identity must include beside the given ``options``
        (a default that changed, so that an older study is not continued with new behaviour)."""
        return {}

    def ask(self, n: int = 1) -> list[Config]:
        """Up to ``n`` configs to evaluate next. ``[]`` means: nothing until more results are told
        (or, with nothing pending, that the strategy is finished)."""
        raise NotImplementedError

    def tell(self, config: Config, score: float) -> None:
        """Report the score of a config previously asked (or served from the ledger)."""

    def limit(self, new: int | None, epochs: float | None = None) -> None:
        """What the loop allows the next ``ask`` (multi-fidelity strategies honour it): at most
        ``new`` configs not proposed before (None: any), and none whose rungs, with the promotions
        still owed to configs already proposed, would not fit in ``epochs`` (the budget left, None:
        unlimited). Promotions of configs already proposed are always asked for."""
        self.new_left, self.epochs_left = new, epochs

    def retired(self) -> list[Config]:
        """Configs (of proposals told so far) that will never be asked at a higher rung; each
        is returned once. Single-fidelity strategies keep no checkpoints: ``[]``."""
        return []

    @property
    def finished(self) -> bool:
        return False


class Retiring:
    """Mixin (before :class:`Strategy` in the bases) of a multi-fidelity strategy that appends the
    configs it retires to ``self._retired`` (a list its ``__init__`` creates): ``retired()`` returns
    them, each once."""

    _retired: list[Config]

    def retired(self) -> list[Config]:
        out, self._retired = self._retired, []
        return out


@contextmanager
def quiet():
    """Ignore warnings inside (those of optuna and DEHB: experimental features and the like)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def ignores_results(strategy: Strategy) -> bool:
    """True if ``strategy`` keeps ``Strategy.tell`` (a no-op): its proposals cannot depend on results."""
    return type(strategy).tell is Strategy.tell


def default_in_flight(strategy: Strategy) -> int:
    """The window a result-driven strategy gets by default: its ``in_flight`` or
    ``population_size`` attribute (a GA's generation runs in parallel), else 1."""
    for attr in ("in_flight", "population_size"):
        v = getattr(strategy, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return 1
