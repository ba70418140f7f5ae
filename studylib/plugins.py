"""Strategies of your own beside studylib's, known by name everywhere a built-in one is.

* From Python: :func:`register_strategy` (``register_strategy("hill", HillClimb)``), before
  ``studylib.search``, ``run_bench`` or a notebook's ``run_round`` names it.
* From an installed package: an entry point in the group ``studylib.strategies``
  (``hill = "mypkg.hill:HillClimb"``), which the command line (``search --strategy``, ``bench
  --strategies``, ``run compare -p strategies=``, notebooks' studies) loads by itself
  (:func:`load_entry_points`).

A strategy is a :class:`~studylib.strategies.Strategy` subclass whose constructor takes
``(space, seed=..., **options)``; see docs/extending.md.
"""
from __future__ import annotations

import re
import sys

from .errors import StudyError, first_line
from .strategies import MULTI_FIDELITY, REGISTRY, Strategy

GROUP = "studylib.strategies"
#: studylib's own strategies: a registered one may not take their names
BUILTIN = frozenset(REGISTRY) | frozenset(MULTI_FIDELITY)
#: names a comparison's folders use beside its strategies' (``OUT/<strategy>/``, ``OUT/bench/``)
RESERVED = frozenset({"bench", "all", "none"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # no comma (lists of names), colon or space
_loaded = False


def register_strategy(name: str, strategy: type[Strategy] | str, *, replace: bool = False) -> None:
    """Make ``strategy`` (a :class:`Strategy` subclass, or ``"module:Class"``) known as ``name``.
    A multi-fidelity one (``multi_fidelity = True``) joins memetic-sh, tpe-hb, asha and dehb.
    Raises :class:`StudyError` for a built-in's name, a name of another strategy (unless
    ``replace``), a class that is no Strategy or that cannot be imported by its name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StudyError(f"strategy name {name!r}: letters, digits, '_', '.' and '-' only (no comma or colon)")
    if name in BUILTIN:
        raise StudyError(f"strategy name {name!r} is one of studylib's own: choose another")
    if name.lower() in RESERVED:
        raise StudyError(f"strategy name {name!r} is a folder or word studylib uses beside strategies: choose another")
    klass = _class_of(strategy)
    target = _target(klass)
    before = REGISTRY.get(name) or MULTI_FIDELITY.get(name)
    if before not in (None, target) and not replace:
        raise StudyError(f"strategy {name!r} is registered already ({before}): give replace=True to replace it")
    REGISTRY.pop(name, None)
    MULTI_FIDELITY.pop(name, None)
    (MULTI_FIDELITY if getattr(klass, "multi_fidelity", False) else REGISTRY)[name] = target


def _resolve(target: str):
    import importlib

    module, _, qualname = target.partition(":")
    try:
        found = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception as e:  # noqa: BLE001  a plugin's import error, said in one line
        raise StudyError(f"strategy {target!r} cannot be imported ({type(e).__name__}: {first_line(e)})") from None
    return found


def _target(klass) -> str:
    """``"module:Class"``, where the class is defined: how the registry names it."""
    return f"{klass.__module__}:{klass.__qualname__}"


def _class_of(strategy) -> type[Strategy]:
    """The class, checked to be found again by ``module:qualname`` (how the registry names it)."""
    klass = _resolve(strategy) if isinstance(strategy, str) else strategy
    if not (isinstance(klass, type) and issubclass(klass, Strategy)):
        raise StudyError(f"{klass!r} is not a studylib.strategies.Strategy subclass")
    if "." in klass.__qualname__:
        raise StudyError(f"{klass.__qualname__}: a class defined inside a function or another class cannot be "
                         "registered; define it at the top level of a module")
    target = _target(klass)
    if _resolve(target) is not klass:
        raise StudyError(f"{target} names another object than the class given: register the class its module defines")
    return klass


def load_entry_points() -> None:
    """Register the strategies of installed packages (entry point group ``studylib.strategies``),
    once per process; one that fails to load is a note on stderr and left out."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib import metadata

    for ep in metadata.entry_points(group=GROUP):
        before = REGISTRY.get(ep.name) or MULTI_FIDELITY.get(ep.name)
        try:
            if before is not None and ep.name not in BUILTIN:  # register_strategy'd in this process
                if before != _target(_class_of(ep.value)):  # (a package may re-export the class)
                    raise StudyError(f"{ep.name!r} is registered in this process already ({before}), which stays")
            register_strategy(ep.name, ep.value)
        except StudyError as e:
            sys.stderr.write(f"studylib: note: strategy plugin {ep.name} ({ep.value}) left out: {e}\n")


def origin(name: str) -> str | None:
    """``"module:Class"`` of a registered strategy that is not studylib's own, else None."""
    return None if name in BUILTIN else REGISTRY.get(name) or MULTI_FIDELITY.get(name)
