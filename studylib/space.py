"""Search spaces as data: ordered lists of allowed values per hyperparameter.

A config is a plain ``dict`` ``{name: value}``. A genome is the tuple of value indices, one per
dimension, in the space's dimension order. Each dimension has a ``kind``: ``ordinal`` (the order
of its values means something; strategies step +-1) or ``categorical``; a space file may set it per
dimension (``kind: ordinal``), by default numbers are ordinal and strings/booleans categorical.
Randomness comes only from the ``numpy.random.Generator``
passed to :meth:`SearchSpace.sample`. What a space file may hold and how it is read (the CNN's
hyperparameters, ``load_space``) is :mod:`studylib.space_file`.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .errors import StudyError

Config = dict[str, Any]

KINDS = ("ordinal", "categorical")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def default_kind(values) -> str:
    """``ordinal`` when every value is a number, ``categorical`` otherwise (strings, booleans)."""
    return "ordinal" if all(_is_number(v) for v in values) else "categorical"


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: its allowed values and their ``kind``.

    ``ordinal`` dimensions have a meaningful order (the order of ``values``), so a one-step
    neighbour is the next value up or down; ``categorical`` ones have every other value as a
    neighbour. ``kind=None`` picks :func:`default_kind`; anything but the two kinds is a
    :class:`StudyError` naming the dimension.
    """

    name: str
    values: tuple
    paper: str = ""
    kind: str | None = None

    def __post_init__(self):
        kind = default_kind(self.values) if self.kind is None else self.kind
        if kind not in KINDS:
            raise StudyError(f"{self.name!r}: kind must be ordinal or categorical, not {kind!r}")
        object.__setattr__(self, "kind", kind)

    @property
    def ordinal(self) -> bool:
        return self.kind == "ordinal"

    def __len__(self) -> int:
        return len(self.values)

    def index(self, value) -> int:
        for i, v in enumerate(self.values):
            if v == value or (isinstance(v, float) and isinstance(value, (int, float)) and math.isclose(v, value)):
                return i
        raise StudyError(f"{self.name}={value!r} is not an allowed value (allowed: {list(self.values)})")

    def to_dict(self) -> dict:
        """Always names the kind (so a space's fingerprint covers it, defaults included)."""
        return {"name": self.name, "paper": self.paper or self.name, "values": list(self.values),
                "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> "Dimension":
        return cls(name=d["name"], values=tuple(d["values"]), paper=d.get("paper", d["name"]),
                   kind=d.get("kind"))


def make_dimension(name: str, values, kind: str | None = None) -> Dimension:
    """A dimension of any name (tabular benchmarks, tests); ``kind=None`` picks the default."""
    return Dimension(name=name, values=tuple(values), paper=name, kind=kind)


@dataclass(frozen=True)
class SearchSpace:
    name: str
    dimensions: tuple[Dimension, ...]
    description: str = ""
    source: str = ""
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {d.name: d for d in self.dimensions})

    # -- size and names -------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def size(self) -> int:
        return math.prod(len(d) for d in self.dimensions)

    @property
    def cardinalities(self) -> list[int]:
        return [len(d) for d in self.dimensions]

    def __getitem__(self, name: str) -> Dimension:
        return self._by_name[name]

    def paper_names(self) -> dict[str, str]:
        return {d.name: d.paper or d.name for d in self.dimensions}

    # -- sampling and enumeration ---------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Config:
        """A uniformly random config; all randomness comes from ``rng``."""
        return self.decode([int(rng.integers(len(d))) for d in self.dimensions])

    def config_at(self, index: int) -> Config:
        """The ``index``-th config of the grid (mixed radix, last dimension fastest)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        genome = []
        for n in reversed(self.cardinalities):
            index, r = divmod(index, n)
            genome.append(r)
        return self.decode(genome[::-1])

    def index_of(self, config: Config) -> int:
        index = 0
        for d, g in zip(self.dimensions, self.encode(config)):
            index = index * len(d) + g
        return index

    def grid(self) -> Iterator[Config]:
        """Every combination once, lazily, in grid order."""
        for i in range(self.size):
            yield self.config_at(i)

    # -- genomes ---------------------------------------------------------------------------
    def encode(self, config: Config) -> tuple[int, ...]:
        missing = [n for n in self.names if n not in config]
        if missing:
            raise StudyError(f"config lacks {', '.join(missing)} (space {self.name})")
        return tuple(d.index(config[d.name]) for d in self.dimensions)

    def decode(self, genome) -> Config:
        return {d.name: d.values[int(g)] for d, g in zip(self.dimensions, genome)}

    def neighbours(self, config: Config) -> list[Config]:
        """Configs one step away: ordinal dimensions +-1 index, categorical any other value."""
        genome = list(self.encode(config))
        out = []
        for i, d in enumerate(self.dimensions):
            if d.ordinal:
                steps = [genome[i] - 1, genome[i] + 1]
            else:
                steps = [j for j in range(len(d)) if j != genome[i]]
            for j in steps:
                if 0 <= j < len(d):
                    g = list(genome)
                    g[i] = j
                    out.append(self.decode(g))
        return out

    @staticmethod
    def key(config: Config) -> str:
        """A stable text key for a config (sorted JSON)."""
        return json.dumps(config, sort_keys=True, default=str)

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "dimensions": [d.to_dict() for d in self.dimensions],
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        """The space :meth:`to_dict` wrote (unchecked: :func:`studylib.space_file.parse_space`
        checks a CNN space file's content)."""
        return cls(name=str(data["name"]), dimensions=tuple(Dimension.from_dict(d) for d in data["dimensions"]),
                   description=str(data.get("description", "")), source=str(data.get("source", "")))

