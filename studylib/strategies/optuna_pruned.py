"""Optuna's multi-fidelity baselines through the study loop: ``tpe-hb`` (TPE + HyperbandPruner)
and ``asha`` (random sampler + SuccessiveHalvingPruner, i.e. asynchronous successive halving).

A config starts at the lowest rung (``min_epochs``); after each rung its validation accuracy is
reported with ``trial.report(value, step=epochs)`` and ``trial.should_prune()`` decides: pruned
(the trial is closed as PRUNED and its checkpoint deleted), promoted to the next rung, or, at
``max_epochs``, completed with that value. Rungs are ``min_epochs * eta**i`` then ``max_epochs``
(the pruners' own rung steps with the same ``min_resource`` / ``reduction_factor``).

Randomness: the sampler is seeded with the strategy's seed and the study has a fixed name
(Hyperband assigns trials to brackets by hashing it), so the same seed gives the same proposals.
"""
from __future__ import annotations

from ..space import Config, SearchSpace
from .base import Proposal, Retiring, quiet
from .rungs import ladder, new_allowed
from .optuna_samplers import OptunaStrategy, tpe_options


class PrunedOptuna(Retiring, OptunaStrategy):
    """Shared adapter: subclasses give the sampler and the pruner."""

    name = "optuna-pruned"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, max_epochs: int, eta: int = 3,
                 min_epochs: int = 1, **options):
        self.rungs = ladder(int(min_epochs), float(eta), int(max_epochs))
        self.eta, self.min_epochs, self.max_epochs = int(eta), int(min_epochs), int(max_epochs)
        super().__init__(space, seed, **options)  # builds the study (_make_study) with the pruner
        self._queue: list[Proposal] = []
        self._retired: list[Config] = []
        self._at: dict[str, int] = {}  # open config -> the rung last asked

    def _make_pruner(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_study(self):
        return self._optuna.create_study(direction="maximize", sampler=self.sampler, pruner=self._make_pruner(),
                                         study_name=f"studylib-{self.name}")

    def ask(self, n: int = 1) -> list[Proposal]:
        out = self._queue[:n]
        del self._queue[:n]
        if len(out) < n:
            k = new_allowed(n - len(out), list(self._at.values()), self.rungs, self.eta, self.new_left,
                            self.epochs_left)
            new = [Proposal(c, self.rungs[0]) for c in super().ask(k)] if k > 0 else []
            if self.new_left is not None:
                self.new_left -= len(new)
            out += new
        for p in out:
            self._at[self.space.key(p.config)] = p.epochs
        return out

    def tell(self, proposal: Proposal, score: float) -> None:
        if not isinstance(proposal, Proposal):
            return super().tell(proposal, score)
        g = self.space.encode(proposal.config)
        trial = self._open[g][0]
        trial.report(float(score), step=int(proposal.epochs))
        higher = [r for r in self.rungs if r > proposal.epochs]
        if higher and not trial.should_prune():
            self._queue.append(Proposal(proposal.config, higher[0]))
            return
        self._at.pop(self.space.key(proposal.config), None)
        if higher:  # pruned
            self._retired.append(proposal.config)
            self._pop_open(g)
            if g not in self.known:  # as OptunaStrategy.tell: a config's first score is kept
                self.known[g] = float(score)
                self.evals += 1
            with quiet():
                self.study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
            return
        super().tell(proposal.config, score)


class TPEHyperband(PrunedOptuna):
    """TPESampler (``n_startup_trials`` option) + HyperbandPruner(min_epochs, max_epochs, eta)."""

    name = "tpe-hb"
    sampler_options = {"n_startup_trials": int, "multivariate": bool}

    def _make_sampler(self, seed, **options):
        return self._optuna.samplers.TPESampler(seed=seed, **tpe_options(self.name, options))

    def _make_pruner(self):
        return self._optuna.pruners.HyperbandPruner(min_resource=self.min_epochs, max_resource=self.max_epochs,
                                                    reduction_factor=self.eta)


class ASHA(PrunedOptuna):
    """RandomSampler + SuccessiveHalvingPruner(min_epochs, eta): asynchronous successive halving."""

    name = "asha"

    def _make_sampler(self, seed, **options):
        return self._optuna.samplers.RandomSampler(seed=seed)

    def _make_pruner(self):
        return self._optuna.pruners.SuccessiveHalvingPruner(min_resource=self.min_epochs, reduction_factor=self.eta,
                                                            min_early_stopping_rate=0)
