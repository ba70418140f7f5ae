"""What a CNN search-space file may hold, and reading one (YAML or JSON) into a
:class:`~studylib.space.SearchSpace`: the hyperparameters the CNN builder knows (``KNOWN``), the
built-in rounds (``BUILTIN``), and one-line errors for whatever else a file holds.

The paper's counts: round 3 (Table III) is 4*1*3*1*2**8 = 3,072. Tables I + II multiply to
5,038,848; the paper's 15,116,544 for round 2 is exactly three times that, i.e. the product once
the border crop of [0, 1, 2] pixels ("the border pixels [0, 1, 2] were removed") is counted as a
dimension of its own — which is how ``round2.yaml`` encodes it.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from .checks import closest
from .errors import StudyError, first_line
from .paths import SPACES_DIR
from .space import KINDS, Dimension, SearchSpace, _is_number

ACTIVATIONS = ("relu", "lrelu", "elu")
OPTIMIZERS = ("adam", "rmsprop", "nesterov")


def _pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _nonneg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pos_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v)


def _unit(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1


def _up_to(most: int):
    """A check and its description: a positive integer at most ``most``; a layer far larger than
    any small CNN's (a typo: 1e8 filters) would take the machine's memory before it failed."""
    return (lambda v: _pos_int(v) and v <= most), f"a positive integer up to {most:,}"


#: Hyperparameters the CNN builder understands: name -> (check, description of allowed values).
KNOWN = {
    **{f"filters{i}": _up_to(4096) for i in (1, 2, 3)},
    **{f"ksize{i}": _up_to(64) for i in (1, 2, 3)},
    "hidden1": _up_to(65536),
    "hidden2": _up_to(65536),
    "stride": _up_to(64),
    "learning_rate": (_pos_num, "a positive number"),
    "batch_size": _up_to(1 << 20),
    "momentum": (_unit, "a number in [0, 1)"),
    "dropout": (_unit, "a number in [0, 1)"),
    "border_crop": (_nonneg_int, "a non-negative integer"),
    "activation": (lambda v: v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
    "padding": (lambda v: v in ("same", "valid"), "one of same, valid"),
    "pooling": (lambda v: v in ("max", "avg", "none"), "one of max, avg, none"),
    "momentum_use": (lambda v: v in ("optimizer", "batchnorm"), "one of optimizer, batchnorm"),
}
REQUIRED = ("filters1", "ksize1", "hidden1", "hidden2", "learning_rate", "batch_size")
_NONE = object()


def _one_value(a, b) -> bool:
    """Values a config cannot tell apart (:meth:`Dimension.index`'s rule: equal, or floats close to
    each other): ``0`` and ``0.0`` would train one config twice under two keys."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return a == b or math.isclose(a, b)
    return a == b


SPACE_KEYS = ("name", "description", "source", "dimensions")
DIMENSION_KEYS = ("name", "values", "kind", "paper")


def _unknown_keys(mapping: dict, allowed: tuple[str, ...]) -> str:
    """The first key of ``mapping`` not ``allowed``, quoted, with the allowed key it most likely
    misspells; "" when every key is allowed."""
    for key in mapping:
        if key not in allowed:
            close = closest(key, allowed)
            return repr(key) + (f": did you mean {close!r}?" if close else "")
    return ""


def _dimension(d, i: int, seen: set[str], fail) -> Dimension:
    """Dimension #``i + 1`` of a space file, checked (its name added to ``seen``); ``fail(msg)``
    raises the file's one-line error."""
    if not isinstance(d, dict) or "name" not in d or "values" not in d:
        extra = _unknown_keys(d, DIMENSION_KEYS) if isinstance(d, dict) else ""
        ranged = isinstance(d, dict) and "values" not in d and bool({"low", "high", "min", "max", "log"} & set(d))
        fail(f"dimension #{i + 1} needs 'name' and 'values'" + (f" (unknown key {extra})" if extra else "")
             + ("; a range is given as its list of values, e.g. values: [0.0001, 0.001, 0.01]" if ranged else ""))
    name = d["name"]
    if not isinstance(name, str) or name not in KNOWN:
        close = closest(name, KNOWN) if isinstance(name, str) else None
        guess = f"did you mean {close!r}? " if close else ""
        fail(f"unknown hyperparameter {name!r} ({guess}known: {', '.join(sorted(KNOWN))})")
    extra = _unknown_keys(d, DIMENSION_KEYS)
    if extra:
        fail(f"{name!r}: unknown key {extra} (a hyperparameter takes: {', '.join(DIMENSION_KEYS)})")
    if name in seen:
        fail(f"hyperparameter {name!r} appears twice")
    seen.add(name)
    values = d["values"]
    if not isinstance(values, list) or not values:
        fail(f"{name!r}: 'values' must be a non-empty list")
    check, what = KNOWN[name]
    for v in values:
        if not check(v):
            fail(f"{name!r}: value {v!r} is not {what}")
    for j, v in enumerate(values):
        w = next((w for w in values[:j] if _one_value(w, v)), _NONE)
        if w is not _NONE:
            fail(f"{name!r}: values repeat" + (f" ({w!r} and {v!r} are one value)" if repr(w) != repr(v) else ""))
    kind = d.get("kind")
    if kind is not None and kind not in KINDS:
        fail(f"{name!r}: kind must be ordinal or categorical, not {kind!r}")
    return Dimension(name=name, values=tuple(values), paper=str(d.get("paper", name)), kind=kind)


def parse_space(data: Any, origin: str) -> SearchSpace:
    def fail(msg):
        raise StudyError(f"{origin}: {msg}")

    if not isinstance(data, dict):
        fail("expected a mapping with 'name' and 'dimensions'")
    dims = data.get("dimensions")
    if dims is None:
        known = sorted(set(data) & set(KNOWN))
        hint = (f" (hyperparameters such as {', '.join(map(repr, known[:3]))} go in it as "
                "{name: ..., values: [...]})") if known else ""
        extra = _unknown_keys({k: v for k, v in data.items() if k not in KNOWN}, SPACE_KEYS)
        if not hint and extra:
            hint = f" (unknown key {extra})"
        fail(f"expected a mapping with 'name' and 'dimensions', a list of hyperparameters{hint}")
    if not isinstance(dims, list) or not dims:
        fail("'dimensions' must be a non-empty list")
    extra = _unknown_keys(data, SPACE_KEYS)
    if extra:
        fail(f"unknown key {extra} (a space takes: {', '.join(SPACE_KEYS)})")
    if "name" in data and data["name"] is None:
        fail("'name' is empty (null): give the space a name, or leave 'name' out to name it after its file")
    seen: set[str] = set()
    out = [_dimension(d, i, seen, fail) for i, d in enumerate(dims)]
    names = {d.name for d in out}
    missing = [r for r in REQUIRED if r not in names]
    if missing:
        fail(f"required hyperparameter{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
             f"{'are' if len(missing) > 1 else 'is'} missing")
    for i in (1, 2, 3):
        if (f"filters{i}" in names) != (f"ksize{i}" in names):
            fail(f"filters{i} and ksize{i} must be given together")
    if "filters3" in names and "filters2" not in names:
        fail("filters3 needs filters2")
    for key in ("name", "description", "source"):
        if isinstance(data.get(key), (list, dict, bool)):  # a study's files are named after the name
            fail(f"{key} must be text, got {data[key]!r}")
    return SearchSpace(
        name=str(data.get("name", origin)),
        dimensions=tuple(out),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
    )


BUILTIN = ("round1", "round2", "round3")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a number as YAML 1.2 and JSON do (YAML 1.1, which
    PyYAML follows, needs a dot: ``1.0e-3``; a quoted ``'1e-3'`` stays text), and refusing a key
    written twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:  # plain keys as written (a merge key's values may be overridden)
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"found duplicate key {key_node.value!r}",
                                                            key_node.start_mark)
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


def _json_object(pairs: list) -> dict:
    """A JSON object, refusing a key written twice (``json`` keeps the last silently)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str):
    """``text`` read as YAML, with exponents written without a dot (``1e-3``) read as numbers."""
    return yaml.load(text, Loader=_Loader)


def _yaml_problem(e: "yaml.YAMLError") -> str:
    """PyYAML's error on one line, with its line and column (1-based, as PyYAML prints them)."""
    def at(mark) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if not problem:
        return first_line(e)
    text = f"{at(mark)}: {problem}" if mark is not None else problem
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context:
        text += f" ({context}" + (f" at {at(cmark)})" if cmark is not None else ")")
    return text


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A built-in round (``round1``..``round3``) or a YAML/JSON space file."""
    text_name = str(name_or_path)
    if not text_name.strip():
        raise StudyError(f"no space given: use {', '.join(BUILTIN)} or a path to a space file")
    if text_name in BUILTIN:
        path = SPACES_DIR / f"{text_name}.yaml"
    else:
        path = Path(text_name)
        if not path.suffix and not path.exists():
            if len(path.parts) > 1:  # meant as a file
                raise StudyError(f"space file not found: {path} (a space file is a .yaml or .json file)")
            close = closest(text_name, BUILTIN)
            raise StudyError(f"unknown round {text_name!r}: {f'did you mean {close!r}? ' if close else ''}use "
                             f"{', '.join(BUILTIN)} or a path to a space file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a byte-order mark, as some editors write, is skipped)
    except FileNotFoundError:
        raise StudyError(f"space file not found: {path}") from None
    except IsADirectoryError:
        raise StudyError(f"space file {path} is a folder (a space file is a .yaml or .json file)") from None
    except UnicodeDecodeError as e:
        raise StudyError(f"space file {path} is not UTF-8 text ({first_line(e)})") from None
    except OSError as e:
        raise StudyError(f"cannot read space file {path}: {e.strerror or first_line(e)}") from None
    try:
        data = json.loads(text, object_pairs_hook=_json_object) if path.suffix == ".json" else load_yaml(text)
    except yaml.YAMLError as e:
        raise StudyError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
    except ValueError as e:
        raise StudyError(f"{path}: not valid JSON ({first_line(e)})") from None
    return parse_space(data, str(path))
