"""The interactive explorer of trial ledgers, in layers:

* :mod:`.ledgers` -- find ledgers, read their studies and trials (:class:`TrialData`);
* :mod:`.analysis` -- filtering, which hyperparameters matter (η²), best-so-far curves;
* :mod:`.views` -- figures and HTML tables from those frames;
* :mod:`.runmore` -- run more trials of a recorded study;
* :mod:`.panels`, :mod:`.widgets` -- the ipywidgets (``Explorer``);
* :mod:`.app` -- ``studylib explore``: the explorer notebook served by Voilà.

Names are imported lazily, so ``studylib --help`` loads no ipywidgets or pandas.
"""
from __future__ import annotations

import importlib

_WHERE = {"Explorer": "widgets", "FilterPanel": "panels", "RunPanel": "panels", "TrialData": "ledgers",
          "find_ledgers": "ledgers", "load_ledgers": "ledgers", "default_sources": "ledgers",
          "ENV_SOURCES": "ledgers", "importance": "analysis", "continue_study": "runmore"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
