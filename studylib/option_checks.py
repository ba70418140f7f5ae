"""Strategy options checked before a study starts: the type each strategy declares for an
option (:func:`check_option_types`) and a dry run of the strategy on made-up results
(:func:`dry_run`); the strategies check their own ranges when built, and the options they hand
to a library unchecked are checked here (:data:`LIBRARY_OPTIONS`)."""
from __future__ import annotations

import inspect
import math
import numbers
import sys
import types
import typing

import numpy as np

from .checks import closest
from .errors import StudyError, first_line
from .strategies import MULTI_FIDELITY, REGISTRY, Strategy, strategy_class

DRY_RUN = 60  # made-up results a strategy with options given is tried on before a study starts
#: options that size a population, all of whose members are drawn before the first trial: at most
#: this (a billion would hang the study's start for hours, a typo's cost)
POPULATION_OPTIONS, MAX_POPULATION = ("population_size", "offspring"), 10_000


def dry_run(strategy: Strategy, name: str, options: dict) -> None:
    """Tell ``strategy`` (a probe, built with the user's ``options``, never used for the study)
    :data:`DRY_RUN` made-up scores (drawn from a stream of their own; nothing is trained or
    written), so that options that break it only mid-study (an Optuna sampler's option of the
    wrong type) are one line now."""
    made_up = np.random.default_rng(0)
    try:
        for _ in range(DRY_RUN):
            items = [] if strategy.finished else strategy.ask(1)
            if not items:
                return
            for item in items:
                strategy.tell(item, float(made_up.random()))
    except Exception as e:  # noqa: BLE001  whatever the strategy raises, said in one line
        what = f"strategy options {options}: {name}" if options else f"strategy {name} on this space"
        raise StudyError(f"{what} fails on made-up results: {first_line(e)}") from None


def inner_strategy(strategy: str, options: dict | None) -> str | None:
    """The strategy ``strategy`` builds inside itself by name (its ``inner`` option or that
    option's default), e.g. memetic-sh's inner GA; None if it has no such option."""
    param = inspect.signature(strategy_class(strategy).__init__).parameters.get("inner")
    if param is None:
        return None
    return (options or {}).get("inner", param.default)


def check_option_types(strategy: str, options: dict) -> None:
    """Each strategy option has the type its strategy declares (a multi-fidelity strategy's
    ``inner`` strategy's too): ``population_size=abc`` or ``2.5`` is one line, before any run."""
    hints = _declared(strategy)
    inner = inner_strategy(strategy, options)
    if isinstance(inner, str):
        if inner not in REGISTRY:
            raise StudyError(f"strategy option inner={inner!r}: {strategy}'s inner strategy is one of "
                             f"{', '.join(REGISTRY)}")
        hints = {**_declared(inner), **hints}
    for key, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise StudyError(f"strategy option {key}={value!r}: a number option must be finite")
        kind = _kind(value, hints[key]) if key in hints else None
        if kind is not None:
            raise StudyError(f"strategy option {key}={value!r}: {strategy}'s {key} must be {kind}")
        if key in POPULATION_OPTIONS and isinstance(value, numbers.Real) and value > MAX_POPULATION:
            raise StudyError(f"strategy option {key}={value!r}: at most {MAX_POPULATION:,} (each member is drawn "
                             "before the first trial)")
    check_library_options(strategy, options)


def _number_in(low: float, high: float, low_open: bool = False):
    def check(value) -> str | None:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (
            low < value <= high if low_open else low <= value <= high)
        return None if ok else f"a number {'above' if low_open else 'from'} {low:g} {'up ' if low_open else ''}to {high:g}"
    return check


def _one_of(*choices: str):
    return lambda value: None if value in choices else f"one of {', '.join(choices)}"


def _number_from(low: float):
    return lambda value: (None if isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= low
                          else f"a number of at least {low:g}")


#: Options a strategy hands to a library as they are (DEHB's differential evolution), which the
#: library checks late or not at all: what each must be. Others are checked by their strategy.
LIBRARY_OPTIONS = {"dehb": {
    "mutation_factor": _number_in(0, 2, low_open=True), "crossover_prob": _number_in(0, 1),
    "strategy": _one_of(*(f"{m}_{c}" for m in ("rand1", "rand2", "rand2dir", "best1", "best2", "currenttobest1",
                                                 "randtobest1") for c in ("bin", "exp"))),
    "boundary_fix_type": _one_of("random", "clip"), "max_age": _number_from(1)}}


def check_library_options(strategy: str, options: dict) -> None:
    """Each of :data:`LIBRARY_OPTIONS` given is what the library can use: one line otherwise."""
    for key, value in options.items():
        check = LIBRARY_OPTIONS.get(strategy, {}).get(key)
        wanted = check(value) if check else None
        if wanted:
            raise StudyError(f"strategy option {key}={value!r}: {strategy}'s {key} must be {wanted}")


def named_options(strategy: str, options: dict | None = None) -> list[str]:
    """The options ``strategy`` takes: those its signature names, its Optuna sampler's
    (``sampler_options``) and its ``inner`` strategy's."""
    def named(name):
        klass = strategy_class(name)
        params = list(inspect.signature(klass.__init__).parameters.values())[2:]  # after self and space
        return [p.name for p in params if p.name != "seed" and p.kind in (
            inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)] + list(
            getattr(klass, "sampler_options", ()))

    own = [k for k in named(strategy) if not (k == "max_epochs" and strategy in MULTI_FIDELITY)]  # --max-epochs
    out = own + [k for k in LIBRARY_OPTIONS.get(strategy, {}) if k not in own]
    inner = inner_strategy(strategy, options)
    return out + (named(inner) if isinstance(inner, str) and inner in REGISTRY else [])


def misspelt_option(strategy: str, options: dict) -> str:
    """``" ('popsize': did you mean 'population_size'?)"`` for the first option given that
    ``strategy`` does not take but one it takes resembles; else the options it takes."""
    names = named_options(strategy, options)
    for key in options:
        close = closest(key, names) if key not in names else None
        if close:
            return f" ({key!r}: did you mean {close!r}?)"
    return f" ({strategy} takes: {', '.join(dict.fromkeys(names)) or 'none'})"


def _declared(strategy: str) -> dict:
    """The option types ``strategy`` declares: its constructor's annotations and its Optuna
    sampler's options (``sampler_options``)."""
    klass = strategy_class(strategy)
    return {**getattr(klass, "sampler_options", {}), **_option_hints(klass.__init__)}


def _option_hints(function) -> dict:
    """The parameters' annotations that resolve in the function's module (others: none)."""
    module = vars(sys.modules[function.__module__])
    hints = {}
    for name, p in inspect.signature(function).parameters.items():
        hint = p.annotation
        if isinstance(hint, str):
            try:
                hint = eval(hint, module)  # noqa: S307  the package's own annotations
            except Exception:  # noqa: BLE001
                continue
        if hint is not inspect.Parameter.empty:
            hints[name] = hint
    return hints


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a name", type(None): "null"}


def _fits(value, kind) -> bool:
    """Also a whole float for an int (``eta=3.0``) and 0 or 1 for a flag (``model=0``), as they
    always worked."""
    if kind is str:
        return isinstance(value, str)
    if kind is bool:
        return isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1))
    if kind is int or kind is float:
        whole = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
        return (whole if kind is int else isinstance(value, numbers.Real)) and not isinstance(value, bool)
    return value is None


def _kind(value, hint) -> str | None:
    """None when ``value`` fits ``hint`` (or the hint is not a plain type), else what it must be."""
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if not all(a in _KINDS for a in allowed) or any(_fits(value, a) for a in allowed):
        return None
    return " or ".join(_KINDS[a] for a in allowed)
