"""Search strategies behind one ask/tell interface; ``make_strategy`` picks one by name."""
from __future__ import annotations

import importlib

from ..errors import StudyError
from ..space import SearchSpace
from .base import Strategy

# name -> "module:Class" (imported lazily so optional heavy dependencies load only when used)
REGISTRY = {
    "random": "studylib.strategies.random_search:RandomSearch",
    "grid": "studylib.strategies.grid:GridSearch",
    "ga": "studylib.strategies.ga:GeneticAlgorithm",
    "memetic": "studylib.strategies.memetic:MemeticGA",
    "tpe": "studylib.strategies.optuna_samplers:TPE",
    "optuna-ga": "studylib.strategies.optuna_samplers:OptunaGA",
}


def available() -> list[str]:
    return list(REGISTRY)


def make_strategy(name: str, space: SearchSpace, seed: int | None = 0, **options) -> Strategy:
    if name not in REGISTRY:
        raise StudyError(f"unknown strategy {name!r} (choose from: {', '.join(REGISTRY)})")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(space, seed=seed, **options)


__all__ = ["Strategy", "available", "make_strategy", "REGISTRY"]
