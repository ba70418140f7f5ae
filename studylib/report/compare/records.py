"""What a comparison is made of: its space, strategies, benchmark tables, and the records of a run
(:class:`CompareRun`, :class:`BenchRun`) that :mod:`.run` fills and :mod:`.numbers` and
:mod:`.figures` read."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SPACE = "round3"
#: the fair baselines (as the round-4 notebook runs them): evolutionary, local, Bayesian and random
STRATEGIES = ("memetic", "ga", "random", "tpe", "regevo", "local")
BENCH_TABLES = ("nb201-cifar10", "hpolib-naval")


@dataclass
class BenchRun:
    """The tabular benchmark's curves (``table, strategy, seed, evaluation, regret``) and summary."""

    tables: list[str]
    strategies: list[str]
    seeds: list[int]
    budget: int
    curves: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    out_dir: Path | None = None
    wall_time: float = 0.0
    report_dir: Path | None = None   # where its figures and tables go (report.keep); None: out_dir

    def folder_for_files(self) -> Path | None:
        """Where its figures and tables go as files (:mod:`..keep`)."""
        return self.report_dir or self.out_dir


@dataclass
class CompareRun:
    """Every strategy x seed study of one comparison, and what produced them."""

    space: object                               # SearchSpace
    profile: str
    strategies: list[str]
    seeds: list[int]
    settings: dict                              # trials, max_epochs, patience, data sizes, bench_*
    out_dir: Path
    results: dict = field(repr=False)           # (strategy, seed) -> StudyResult
    data: dict = field(repr=False)              # Dataset.describe()
    provenance: dict = field(repr=False)
    executor: str = "serial"
    bench: BenchRun | None = field(default=None, repr=False)
    wall_time: float = 0.0

    def folder_for_files(self) -> Path:
        """Where its figures and tables go as files (:mod:`..keep`)."""
        return self.out_dir

    @property
    def frame(self) -> pd.DataFrame:
        """Every trial of every study, with ``strategy`` and ``seed`` columns."""
        frames = [r.frame.assign(strategy=s, seed=seed) for (s, seed), r in self.results.items() if len(r.frame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def context(self) -> str:
        seeds = f"seed {self.seeds[0]}" if len(self.seeds) == 1 else f"{len(self.seeds)} seeds"
        return (f"this run: {self.data.get('dataset')}, {self.space.name} space, "
                f"{self.settings['trials']} distinct trials per study, {seeds}, "
                f"at most {self.settings['max_epochs']} epochs per trial, profile {self.profile}")

    @property
    def trained(self) -> int:
        return int(sum(r.trained for r in self.results.values()))

    @property
    def served(self) -> int:
        return int(sum(r.served for r in self.results.values()))
