"""The study protocol: ask a strategy, serve repeats from the ledger, train the rest, tell back.

``--trials N`` means N *distinct* configurations: a config the study already proposed is answered
from the ledger and not counted again, and one another study trained under the same key (same
config, data, budget and seed) is reused without training. Re-running a study with the same
output folder replays its seeded strategy against the ledger, so it continues where it stopped
and ends exactly where an uninterrupted run would have.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths, profiles, provenance
from .data import Dataset, load_dataset
from .errors import StudyError
from .ledger import Ledger, paper_csv_frame, trial_key, write_csv_atomic
from .space import SearchSpace, load_space
from .strategies import make_strategy
from .training import Budget

FAILED_SCORE = 0.0  # what a strategy is told for a failed trial (accuracy is maximised)


@dataclass
class StudySpec:
    """Everything that defines a study (and its identity in the ledger)."""

    space: SearchSpace
    strategy: str = "random"
    trials: int = 6
    seed: int = 0
    dataset: str = "digits"
    budget: Budget = field(default_factory=Budget)
    data_options: dict = field(default_factory=dict)
    strategy_options: dict = field(default_factory=dict)

    def identity(self, data_hash: str) -> dict:
        return {"space": self.space.name, "space_hash": self.space.fingerprint(), "strategy": self.strategy,
                "strategy_options": self.strategy_options, "seed": self.seed, "dataset": self.dataset,
                "data_hash": data_hash, "budget": self.budget.to_dict()}

    def study_id(self, data_hash: str) -> str:
        blob = json.dumps(self.identity(data_hash), sort_keys=True, default=str)
        return f"{self.space.name}-{self.strategy}-s{self.seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


@dataclass
class StudyResult:
    study_id: str
    out_dir: Path
    frame: pd.DataFrame
    csv_path: Path
    trained: int
    served: int
    wall_time: float

    @property
    def best(self) -> pd.Series:
        ok = self.frame[self.frame.status != "failed"]
        return ok.loc[ok.best_acc.idxmax()] if len(ok) else None


def check_out_dir(out: Path) -> None:
    """Fail early (before any training, leaving nothing behind) if ``out`` cannot hold results."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise StudyError(f"output path {out} exists and is not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StudyError(f"cannot create output folder {out}: {parent} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".studylib-probe-"))
    except OSError as e:
        raise StudyError(f"output folder {out} is not writable ({e.strerror})") from None


def prepare(round_or_space: str | SearchSpace, *, strategy: str = "random", trials: int | None = None,
            seed: int = 0, dataset: str = "digits", profile: str = "smoke", max_epochs: int | None = None,
            patience: int | None = None, train_size: int | None = None, val_size: int | None = None,
            test_size: int | None = None, data_dir: str | None = None,
            strategy_options: dict | None = None) -> tuple[StudySpec, Dataset]:
    """Validate every input and load the data; raises :class:`StudyError` before anything is written."""
    space = round_or_space if isinstance(round_or_space, SearchSpace) else load_space(round_or_space)
    settings = profiles.resolve(profile, space.name, trials=trials, max_epochs=max_epochs, patience=patience,
                                train_size=train_size, val_size=val_size, test_size=test_size)
    for name in ("trials", "max_epochs", "patience"):
        v = settings[name]
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise StudyError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
    if not isinstance(seed, int) or seed < 0:
        raise StudyError(f"seed must be a non-negative integer, got {seed!r}")
    make_strategy(strategy, space, seed=seed, **(strategy_options or {}))  # validates name and options
    data_options = {k: settings[k] for k in ("train_size", "val_size", "test_size")}
    data = load_dataset(dataset, data_dir=data_dir, **data_options)
    spec = StudySpec(space=space, strategy=strategy, trials=settings["trials"], seed=seed, dataset=dataset,
                     budget=Budget(settings["max_epochs"], settings["patience"]), data_options=data_options,
                     strategy_options=dict(strategy_options or {}))
    return spec, data


def run_study(spec: StudySpec, data: Dataset, out_dir: str | Path | None = None, *, executor=None,
              progress: bool = True, csv_name: str = paths.TRIALS_CSV) -> StudyResult:
    """Run (or continue) the study; returns its trials in proposal order."""
    from .executor import SerialExecutor

    out = Path(out_dir) if out_dir else paths.REPORTS_DIR / "search"
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    study_id = spec.study_id(data.fingerprint)
    budget = spec.budget.to_dict()
    ledger = Ledger(out / paths.LEDGER_NAME)
    prov = provenance.collect(data=data.describe(), seed=spec.seed)
    ledger.open_study(study_id, spec.identity(data.fingerprint), prov)
    (out / "study.json").write_text(json.dumps({"study_id": study_id, "trials": spec.trials,
                                                **spec.identity(data.fingerprint), "provenance": prov},
                                               indent=2, default=str))
    strategy = make_strategy(spec.strategy, spec.space, seed=spec.seed, **spec.strategy_options)
    executor = executor or SerialExecutor(progress=progress)
    executor.start(data)

    seen: set[str] = set()          # keys this study has proposed (its trials)
    waiting: dict[str, list] = {}   # in-flight key -> configs to tell when it finishes
    trained = served = 0
    idle_asks = 0
    bar = _bar(spec.trials, progress, f"{spec.space.name}/{spec.strategy}")
    try:
        while True:
            free = executor.capacity - len(waiting)
            want = min(free, spec.trials - len(seen))
            proposals = strategy.ask(want) if want > 0 else []
            new = 0
            for config in proposals:
                key = trial_key(config, data.fingerprint, budget, spec.seed)
                if key in waiting:
                    waiting[key].append(config)
                    continue
                cached = ledger.get(key)
                if key not in seen and len(seen) < spec.trials:
                    seen.add(key)
                    new += 1
                    ledger.add_to_study(study_id, key)
                    if cached is None:
                        waiting[key] = [config]
                        executor.submit(key, config, spec.seed, spec.budget)
                        continue
                    served += 1
                    bar.update(1)
                if cached is not None:
                    strategy.tell(config, _score(cached))
            if not waiting:
                if len(seen) >= spec.trials or strategy.finished or len(seen) >= spec.space.size:
                    break
                idle_asks = 0 if new else idle_asks + 1
                if idle_asks > 10_000:
                    break  # the strategy only re-proposes known configs: nothing left to learn
                continue
            for key, result in executor.wait():
                configs = waiting.pop(key)
                ledger.record(key, configs[0], spec.seed, spec.dataset, budget, result,
                              host=result.get("host"), pid=result.get("pid"))
                trained += 1
                bar.update(1)
                bar.set_postfix(best=_best_text(ledger, study_id))
                for c in configs:
                    strategy.tell(c, _score(result))
                _export(ledger, study_id, spec.space, out / csv_name)
    finally:
        bar.close()
        executor.shutdown()
    frame = ledger.frame(study_id)
    _export(ledger, study_id, spec.space, out / csv_name)
    ledger.close()
    return StudyResult(study_id, out, frame, out / csv_name, trained, served, time.perf_counter() - start)


def _score(result: dict) -> float:
    acc = result.get("best_acc")
    if result.get("status") == "failed" or acc is None or not math.isfinite(acc):
        return FAILED_SCORE
    return float(acc)


def _best_text(ledger: Ledger, study_id: str) -> str:
    row = ledger.conn.execute("SELECT MAX(t.best_acc) FROM study_trials s JOIN trials t ON s.key = t.key "
                              "WHERE s.study_id = ?", (study_id,)).fetchone()
    return f"{row[0]:.4f}" if row and row[0] is not None else "-"


def _export(ledger: Ledger, study_id: str, space: SearchSpace, path: Path) -> None:
    write_csv_atomic(paper_csv_frame(ledger.frame(study_id), space.paper_names()), path)


class _NoBar:
    def update(self, *a, **k):
        pass

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass


def _bar(total: int, progress: bool, desc: str):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="trial", position=0)


def search(round_or_space: str | SearchSpace, out_dir: str | Path | None = None, *, progress: bool = True,
           executor=None, **options: Any) -> StudyResult:
    """Validate, load data and run a study in one call (what the CLI and notebooks use)."""
    spec, data = prepare(round_or_space, **options)
    return run_study(spec, data, out_dir, executor=executor, progress=progress)
