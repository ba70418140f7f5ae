"""Optuna baselines behind the ask/tell interface: TPE and NSGA-II used as a single-objective GA.

Each dimension is sampled as its value *index* (so floats and strings round-trip exactly), as the
samplers' authors recommend for its kind: an ordinal dimension as an integer
(``IntDistribution(0, n - 1)``, so the sampler sees that neighbouring values are close), a
categorical one as a ``CategoricalDistribution`` over the indices. The sampler is seeded from the
strategy's seed. Optuna's ask-and-tell
API drives it: ``ask`` opens trials with ``study.ask(distributions)``, ``tell`` closes the matching
one with ``study.tell``. A score for a config optuna did not ask (served from a cache, or told
twice) is added as a finished trial with ``study.add_trial``, so the sampler still learns from it.

A proposal optuna repeats is answered at once from the scores already told (the trial is closed
with the known score and optuna is asked again), up to ``max_retries`` times per proposal; only
then is the repeat handed out (the study loop serves it from its ledger).
"""
from __future__ import annotations

import logging
from typing import Any

from ..space import Config, SearchSpace
from .base import Strategy, quiet

Genome = tuple[int, ...]


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    logging.getLogger("optuna").setLevel(logging.ERROR)
    return optuna


def _distribution(optuna, dim):
    """An ordinal dimension's index as an integer, a categorical one's as a category."""
    if dim.ordinal:
        return optuna.distributions.IntDistribution(0, len(dim) - 1)
    return optuna.distributions.CategoricalDistribution(list(range(len(dim))))


class OptunaStrategy(Strategy):
    """Shared adapter; subclasses build the sampler in :meth:`_make_sampler`."""

    name = "optuna"

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, max_retries: int = 20,
                 **options: Any):
        # as declared (the checks let a whole float pass for an int, 0 and 1 for a flag)
        sampler_options = {k: self.sampler_options[k](options.pop(k)) for k in list(options)
                           if k in self.sampler_options}
        super().__init__(space, seed, **options)
        optuna = _optuna()
        self._optuna = optuna
        self.max_retries = int(max_retries)
        self._names = [f"p{i}" for i in range(len(space.dimensions))]  # safe parameter names
        self._dists = {n: _distribution(optuna, d) for n, d in zip(self._names, space.dimensions)}
        sampler_seed = None if seed is None else int(seed)
        with quiet():
            self.sampler = self._make_sampler(sampler_seed, **sampler_options)
            self.study = self._make_study()
        self.known: dict[Genome, float] = {}
        self._open: dict[Genome, list[Any]] = {}  # asked genome -> open optuna trials
        self.evals = 0
        self.repeats = 0  # proposals optuna repeated (answered from known scores)

    #: the sampler's options a study may set, with their types (checked before the study runs)
    sampler_options: dict[str, type] = {}

    def _make_sampler(self, seed, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_study(self):
        return self._optuna.create_study(direction="maximize", sampler=self.sampler)

    # -- helpers ---------------------------------------------------------------------------------
    def _genome(self, trial) -> Genome:
        return tuple(int(trial.params[n]) for n in self._names)

    def _new_trial(self):
        with quiet():
            return self.study.ask(self._dists)

    def _close(self, trial, score: float) -> None:
        with quiet():
            self.study.tell(trial, score)

    def _add_finished(self, g: Genome, score: float) -> None:
        optuna = self._optuna
        with quiet():
            self.study.add_trial(optuna.trial.create_trial(
                params={n: int(v) for n, v in zip(self._names, g)},
                distributions=self._dists,
                value=float(score),
            ))

    # -- the interface ----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        for _ in range(n):
            if len(self.known) >= self.space.size:
                break
            trial = self._new_trial()
            g = self._genome(trial)
            retries = 0
            while (g in self.known or g in self._open) and retries < self.max_retries:
                retries += 1
                self.repeats += 1
                if g in self.known:
                    self._close(trial, self.known[g])
                else:  # asked but not told yet: leave this duplicate out
                    self._close_failed(trial)
                trial = self._new_trial()
                g = self._genome(trial)
            self._open.setdefault(g, []).append(trial)
            out.append(self.space.decode(g))
        return out

    def _pop_open(self, g: Genome):
        """The oldest open optuna trial of ``g`` (None: none open), no longer open."""
        trials = self._open.get(g)
        if not trials:
            return None
        trial = trials.pop(0)
        if not trials:
            del self._open[g]
        return trial

    def _close_failed(self, trial) -> None:
        with quiet():
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)

    def tell(self, config: Config, score: float) -> None:
        g = self.space.encode(config)
        score = float(score)
        if g not in self.known:
            self.known[g] = score
            self.evals += 1
        trial = self._pop_open(g)
        if trial is not None:
            self._close(trial, score)
        else:
            self._add_finished(g, score)

    @property
    def finished(self) -> bool:
        return len(self.known) >= self.space.size and not self._open


def tpe_options(name: str, options: dict) -> dict:
    """TPESampler's ``options`` with their ranges checked (Optuna takes a negative
    ``n_startup_trials`` and fails on ``n_ei_candidates=0`` only mid-study)."""
    if options.get("n_startup_trials", 0) < 0:
        raise ValueError(f"{name}: n_startup_trials must be at least 0")
    if options.get("n_ei_candidates", 1) < 1:
        raise ValueError(f"{name}: n_ei_candidates must be at least 1")
    return options


class TPE(OptunaStrategy):
    """Optuna's TPESampler (defaults, ``n_startup_trials`` option, 10 by default)."""

    name = "tpe"
    sampler_options = {"n_startup_trials": int, "multivariate": bool, "n_ei_candidates": int}

    def _make_sampler(self, seed, **options):
        return self._optuna.samplers.TPESampler(seed=seed, **tpe_options(self.name, options))


class OptunaGA(OptunaStrategy):
    """Optuna's NSGAIISampler on one objective: a GA with uniform crossover and elitist survival;
    a population of 20 unless ``population_size`` is given (Optuna's own default is 50)."""

    name = "optuna-ga"
    sampler_options = {"population_size": int, "mutation_prob": float, "crossover_prob": float,
                       "swapping_prob": float}

    def _make_sampler(self, seed, **options):
        options.setdefault("population_size", 20)
        return self._optuna.samplers.NSGAIISampler(seed=seed, **options)
