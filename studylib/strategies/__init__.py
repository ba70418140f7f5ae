"""Search strategies behind one ask/tell interface; ``make_strategy`` picks one by name.

``ABLATIONS`` names variants of the memetic GA that switch off one part each; they are registered
as ``memetic-<variant>`` (e.g. ``studylib bench --strategies memetic,memetic-no-local``).
"""
from __future__ import annotations

import importlib

from ..errors import StudyError
from ..space import SearchSpace
from .base import Proposal, Replicate, Strategy, config_of

#: memetic GA variants, each with one part switched off (options passed to ``MemeticGA``)
ABLATIONS = {
    "random-init": {"init": "random"},  # start design: uniform draws instead of Latin hypercube
    "generational": {"survival": "generational"},  # survival: children replace parents (2 elite)
    "no-local": {"local_share": 0.0},  # no local search: the GA core alone
    "no-guidance": {"guided": False},  # neighbours tried in uniform random order
    "no-restart": {"restart": "none"},  # one climb per generation, no restart after an optimum
    "no-model": {"model": False},  # no surrogate pre-screening of offspring and neighbours
    "no-check": {"check": 0},  # the model screens always, without its online self-check
    "no-replicates": {"replicates": 1},  # the best config is trusted on one run (no replicates)
}

# name -> "module:Class" (imported lazily so optional heavy dependencies load only when used)
REGISTRY = {
    "random": "studylib.strategies.random_search:RandomSearch",
    "grid": "studylib.strategies.grid:GridSearch",
    "ga": "studylib.strategies.ga:GeneticAlgorithm",
    "memetic": "studylib.strategies.memetic:MemeticGA",
    "regevo": "studylib.strategies.regevo:RegularizedEvolution",
    "local": "studylib.strategies.local_search:LocalSearch",
    "tpe": "studylib.strategies.optuna_samplers:TPE",
    "optuna-ga": "studylib.strategies.optuna_samplers:OptunaGA",
    **{f"memetic-{v}": "studylib.strategies.memetic:MemeticGA" for v in ABLATIONS},
}
#: multi-fidelity strategies: ``ask`` returns ``Proposal(config, epochs)`` and the constructor
#: needs ``max_epochs`` (a CNN study passes its own; ``bench --fidelity epoch`` its table's epochs)
MULTI_FIDELITY = {
    "memetic-sh": "studylib.strategies.halving:SuccessiveHalving",
    "tpe-hb": "studylib.strategies.optuna_pruned:TPEHyperband",
    "asha": "studylib.strategies.optuna_pruned:ASHA",
    "dehb": "studylib.strategies.dehb_adapter:DEHBStrategy",
}


def available() -> list[str]:
    return list(REGISTRY) + list(MULTI_FIDELITY)


def make_strategy(name: str, space: SearchSpace, seed: int | None = 0, **options) -> Strategy:
    """A registered strategy; a ``memetic-<variant>`` name adds the variant's options (explicit
    ``options`` win)."""
    klass = strategy_class(name)
    ablation = name.startswith("memetic-") and name in REGISTRY
    variant = ABLATIONS.get(name.removeprefix("memetic-"), {}) if ablation else {}
    return klass(space, seed=seed, **{**variant, **options})


def strategy_kwargs(name: str, max_epochs: int, options: dict | None) -> dict:
    """A strategy's options; a multi-fidelity one also gets ``max_epochs`` (its top rung: a study's
    ``--max-epochs``, a learning-curve table's epochs) unless the options give it."""
    return {"max_epochs": max_epochs, **(options or {})} if name in MULTI_FIDELITY else dict(options or {})


def strategy_class(name: str) -> type[Strategy]:
    """The class behind a registered name (no instance: nothing is seeded or built)."""
    if name not in REGISTRY and name not in MULTI_FIDELITY:
        raise StudyError(f"unknown strategy {name!r} (choose from: {', '.join(available())})")
    module, cls = {**REGISTRY, **MULTI_FIDELITY}[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["Proposal", "Replicate", "Strategy", "config_of", "available", "make_strategy", "strategy_class", "strategy_kwargs", "REGISTRY", "MULTI_FIDELITY", "ABLATIONS"]
