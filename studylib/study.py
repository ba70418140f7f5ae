"""A CNN study: validate its inputs, open its ledger, run the evaluation loop, export its trials.

``--trials N`` means N *distinct* configurations (see :mod:`studylib.loop`, which also explains
why the same seed and ``in_flight`` give the same proposals, in the same order, on every executor
and worker count). Re-running a study with the same output folder replays its seeded strategy
against the ledger, so it continues where it stopped (after a crash or ``kill -9`` too: trials
that were running are trained again, finished ones are served) and ends exactly where an
uninterrupted run would have; trial *results* are equal too as long as training itself is
deterministic for a fixed seed (it is on CPU with TensorFlow 2.21: checked by tests/test_dask.py).

A study's identity (its ``study_id``) is its space, strategy, seed, dataset, budget and window.
The trainer's code fingerprint (:func:`studylib.objective.trainer_fingerprint`) is recorded with
the study in the ledger and is part of every trial key: resuming a study whose fingerprint
changed stops (:class:`~studylib.ledger.CodeChanged`) unless ``allow_code_change``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import paths, profiles, provenance
from .data import Dataset, load_dataset
from .errors import StudyError
from .executors import Executor, make_executor
from .fidelity import Rungs, Spend, check_seeds, collapse_rungs
from .ledger import Ledger
from .loop import default_in_flight, ignores_results, run_loop
from .numbers import best_config
from .objective import DataSource, TrainingObjective, trainer_fingerprint
from .option_checks import check_option_types, dry_run
from .outdir import StudyLock, check_out_dir, export_trials, write_study_record
from .progress import StudyProgress
from .space import BUILTIN, SearchSpace, load_space
from .strategies import make_strategy, strategy_class, strategy_kwargs
from .trial import Trial
from .training import Budget

CHECKPOINTS = "checkpoints"  # OUT/checkpoints/<rung key>.keras (multi-fidelity rungs; see fidelity.py)
EXIT_TOO_MANY_FAILURES = 3  # the CLI's exit code when failures stop a study, or every trial failed
FAILED_IN_A_ROW = 10  # a budgeted study without --max-failures stops after this many failures in a row


class TooManyFailures(StudyError):
    """More trials failed in this run than ``max_failures`` allows (CLI exit code 3)."""


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
    data_dir: str | None = None      # where the data was loaded from (workers load it the same way)
    in_flight: int | None = None     # proposals ahead of their results (None: the strategy's default)
    budget_epochs: int | None = None  # stop once this many epochs are trained (not part of the identity)
    budget_hours: float | None = None  # ... or this many hours of training spent

    def identity(self, data_hash: str) -> dict:
        ident = {"space": self.space.name, "space_hash": self.space.fingerprint(), "strategy": self.strategy,
                 "strategy_options": self.strategy_options, "seed": self.seed, "dataset": self.dataset,
                 "data_hash": data_hash, "budget": self.budget.to_dict()}
        if self.in_flight is not None:  # only a non-default window changes the proposals
            ident["in_flight"] = self.in_flight
        resolved = strategy_class(self.strategy).identity_defaults(self.budget.max_epochs, self.strategy_options)
        if resolved:
            ident["strategy_defaults"] = resolved
        return ident

    def study_id(self, data_hash: str) -> str:
        blob = json.dumps(self.identity(data_hash), sort_keys=True, default=str)
        return f"{self.space.name}-{self.strategy}-s{self.seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


@dataclass
class StudyResult:
    study_id: str
    out_dir: Path
    frame: pd.DataFrame  # the trials this run reached (the ledger holds more after a larger run)
    csv_path: Path
    trained: int
    served: int
    wall_time: float
    failed: int = 0     # trials that failed in this run
    retried: int = 0    # trials run again because their process or worker died

    @property
    def best(self) -> pd.Series | None:
        """The best config by validation accuracy (:func:`studylib.numbers.best_config`: once a
        config is replicated, the best mean less one standard error; its first run's row with the
        means over its runs). A multi-fidelity study's configs are ranked as ``trials.csv`` and the
        round report list them (:func:`~studylib.fidelity.collapse_rungs`): each by its highest
        rung, numbered as its first rung (``config_trial`` in ``rungs.csv``), so every output
        names the same config by one number. None: no trial succeeded."""
        return best_config(collapse_rungs(self.frame))


def prepare(round_or_space: str | SearchSpace, *, strategy: str = "random", trials: int | None = None,
            seed: int = 0, dataset: str = "digits", profile: str = "smoke", max_epochs: int | None = None,
            patience: int | None = None, train_size: int | None = None, val_size: int | None = None,
            test_size: int | None = None, data_dir: str | None = None,
            strategy_options: dict | None = None, in_flight: int | None = None, budget_epochs: int | None = None,
            budget_hours: float | None = None) -> tuple[StudySpec, Dataset]:
    """Validate every input and load the data; raises :class:`StudyError` before anything is written.

    ``in_flight``: how many proposals a result-driven strategy (GA, memetic, TPE) makes ahead of
    its results, i.e. how many of its trials can run in parallel. Default: the strategy's
    population size, else 1. It fixes the proposals: same value, same configs on any executor."""
    if not isinstance(strategy, str):
        raise StudyError(f"strategy must be a name, got {strategy!r}")
    if isinstance(strategy_options, Mapping):
        strategy_options = dict(strategy_options)
    elif strategy_options is not None:
        raise StudyError(f"strategy_options must map an option to its value, e.g. {{'population_size': 12}}, "
                         f"got {strategy_options!r}")
    # a notebook's numpy integers are whole numbers too
    trials, seed, max_epochs, patience, train_size, val_size, test_size, in_flight, budget_epochs = (
        _plain(v) for v in (trials, seed, max_epochs, patience, train_size, val_size, test_size, in_flight,
                            budget_epochs))
    space = study_space(round_or_space)
    settings = profiles.resolve(profile, space.name, trials=trials, max_epochs=max_epochs, patience=patience,
                                train_size=train_size, val_size=val_size, test_size=test_size)
    for name in ("trials", "max_epochs", "patience"):
        whole_number(name.replace("_", "-"), settings[name])
    whole_number("seed", seed, minimum=0)
    check_seeds([seed], "seed")
    for name, v in (("in-flight", in_flight), ("budget-epochs", budget_epochs),
                    ("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        if v is not None:
            whole_number(name, v)
    if budget_hours is not None and (isinstance(budget_hours, bool) or not isinstance(budget_hours, (int, float))
                                     or not 0 < budget_hours < float("inf")):
        raise StudyError(f"budget-hours must be a positive number, got {budget_hours!r}")
    if trials is None and (budget_epochs or budget_hours):
        settings["trials"] = space.size  # the budget decides when to stop
    check_option_types(strategy, strategy_options or {})
    try:
        probe = make_strategy(strategy, space, seed=seed, **strategy_kwargs(strategy, settings["max_epochs"],
                                                                             strategy_options))
    except (TypeError, ValueError) as e:  # an unknown option or a bad value (--strategy-option)
        raise StudyError(f"strategy options {dict(strategy_options or {})}: {e}") from None
    top = getattr(probe, "max_epochs", settings["max_epochs"]) if probe.multi_fidelity else None
    lowest = (strategy_options or {}).get("min_epochs")
    if top is not None and isinstance(lowest, int) and lowest > top:
        raise StudyError(f"strategy option min_epochs={lowest} is above {strategy}'s top rung ({top} epochs, "
                         f"--max-epochs): give at most {top}")
    if top is not None and budget_epochs is not None and budget_epochs < top:
        raise StudyError(f"budget-epochs {budget_epochs} is below {strategy}'s top rung ({top} epochs): it starts "
                         f"a config only if the budget can carry it there ({top} epochs in all); give at least {top}")
    if in_flight is not None and (ignores_results(probe) or in_flight == default_in_flight(probe)):
        in_flight = None  # no effect on the proposals: keep the study's identity unchanged
    if strategy_options:
        dry_run(probe, strategy, strategy_options)  # the probe's last use
    data_options = {k: settings[k] for k in ("train_size", "val_size", "test_size")}
    data = load_dataset(dataset, data_dir=data_dir, **data_options)
    spec = StudySpec(space=space, strategy=strategy, trials=settings["trials"], seed=seed, dataset=dataset,
                     budget=Budget(settings["max_epochs"], settings["patience"]), data_options=data_options,
                     strategy_options=dict(strategy_options or {}), data_dir=data_dir, in_flight=in_flight,
                     budget_epochs=budget_epochs, budget_hours=budget_hours)
    return spec, data


_NOT_IN_A_FILE_NAME = re.compile(r"[/\x00]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SPACE_NAME = 100  # bytes: a study id (name, strategy, seed, hash) and its lock file stay under 255 bytes


def study_space(round_or_space: str | SearchSpace) -> SearchSpace:
    """The space a study runs. A study's files are named after its space, so a space file without a
    ``name`` given by a path with a folder (``spaces/mine.yaml``) is named after the file
    (``mine``; a bare ``mine.yaml`` keeps that name, as it always did); a name holding ``/`` is
    refused, and so is a file named like a built-in round."""
    if isinstance(round_or_space, SearchSpace):
        space = round_or_space
    else:
        space = load_space(round_or_space)
        if space.name == str(Path(str(round_or_space))) and _NOT_IN_A_FILE_NAME.search(space.name):
            stem = Path(space.name).stem
            if stem in BUILTIN:
                raise StudyError(f"{round_or_space}: a space file without a name is named after the file, and "
                                 f"{stem!r} is a built-in round's name: give the file a `name:` line")
            space = dataclasses.replace(space, name=stem)
    if _NOT_IN_A_FILE_NAME.search(space.name):
        raise StudyError(f"space name {space.name!r}: a study's files are named after it, so it cannot hold / "
                         "(give the space file a `name:` line)")
    if not space.name.strip() or _CONTROL.search(space.name) or len(space.name.encode()) > MAX_SPACE_NAME:
        raise StudyError(f"space name {space.name[:MAX_SPACE_NAME + 10]!r}: a study's files are named after it, so it "
                         f"must be 1 to {MAX_SPACE_NAME} bytes (UTF-8), none of them a line break or control character")
    return space


def _plain(value):
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


def whole_number(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` (a notebook's numpy integer too; never a bool); else
    :class:`StudyError`: ``<name> must be a positive integer`` (``minimum`` 1) or ``a
    non-negative integer`` (``minimum`` 0), naming the value given."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise StudyError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def data_source(spec: StudySpec, data: Dataset) -> DataSource | None:
    """How worker processes can load ``data`` themselves, or None when ``data`` did not come from
    ``load_dataset`` with the spec's arguments (then the arrays are sent to each worker once)."""
    try:
        same = load_dataset(spec.dataset, data_dir=spec.data_dir, **spec.data_options)  # cached by prepare()
    except StudyError:
        return None
    if same is not data and same.fingerprint != data.fingerprint:
        return None
    kwargs = dict(spec.data_options)
    if spec.data_dir:
        kwargs["data_dir"] = str(Path(spec.data_dir).resolve())
    return DataSource(spec.dataset, kwargs, data.fingerprint)


def build_executor(executor: str | Executor | None, *, progress: bool = True, **options) -> Executor:
    """The executor a study runs on: ``executor`` itself, or :func:`make_executor` of that name
    (None: the default, serial) with ``options`` (workers, scheduler, trial_timeout, ...)."""
    if executor is None or isinstance(executor, str):
        return make_executor(executor, progress=progress, **options)
    return executor


def run_study(spec: StudySpec, data: Dataset, out_dir: str | Path | None = None, *,
              executor: str | Executor | None = None, progress: bool = True, csv_name: str = paths.TRIALS_CSV,
              max_failures: int | None = None, retry_failed: bool = False, allow_code_change: bool = False,
              on_trial: Callable[[Trial], None] | None = None, **executor_options) -> StudyResult:
    """Run (or continue) the study; returns its trials in proposal order.

    ``executor``: ``"serial"`` (default: a reused, recycled child process), ``"dask"`` (with
    ``workers`` or ``scheduler``), ``"inline"`` (this process) or an :class:`Executor`; the
    ``executor_options`` configure a named one (see :func:`studylib.executors.make_executor`).
    ``max_failures``: stop with :class:`TooManyFailures` once more trials than this failed in this
    run. ``retry_failed``: train again the failed trials this run reaches (e.g. after an
    out-of-memory was fixed) instead of serving them from the ledger. ``allow_code_change``:
    continue a study whose trainer code changed (recorded in the ledger). ``on_trial(trial)``
    runs after each trained trial.
    """
    _check_max_failures(max_failures)
    executor = build_executor(executor, progress=progress, **executor_options)
    out = Path(out_dir) if out_dir else paths.REPORTS_DIR / "search"
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    study_id = spec.study_id(data.fingerprint)
    lock = StudyLock(out, study_id).acquire()
    objective = TrainingObjective(data, spec.budget, spec.seed, source=data_source(spec, data), dataset=spec.dataset)
    try:
        if (out / paths.LEDGER_NAME).exists():  # changed trainer code stops before any worker starts
            with Ledger(out / paths.LEDGER_NAME) as ledger:
                ledger.open_study(study_id, {}, {}, trainer_fingerprint(), allow_code_change, check_only=True)
        # start the executor first: an unreachable scheduler fails before the ledger is touched
        executor.start(objective)
        try:
            return _run_started(spec, data, out, study_id, objective, executor, progress, csv_name, max_failures,
                                retry_failed, allow_code_change, on_trial, start)
        finally:
            executor.shutdown()
    finally:
        lock.release()


def _check_max_failures(max_failures) -> None:
    if max_failures is not None:
        whole_number("max-failures", max_failures, minimum=0)


def _run_started(spec, data, out, study_id, objective, executor, progress, csv_name, max_failures, retry_failed,
                 allow_code_change, on_trial, start) -> StudyResult:
    ledger = Ledger(out / paths.LEDGER_NAME)
    try:
        identity = spec.identity(data.fingerprint)
        code = trainer_fingerprint()
        prov = provenance.collect(data=data.describe(), seed=spec.seed, space_definition=spec.space.to_dict(),
                                  trainer=code)
        key_code = ledger.open_study(study_id, identity, prov, code, allow_code_change=allow_code_change)
        keys = {} if key_code == code else {"trial_keys_trainer": key_code}  # a change allowed by the user
        write_study_record(out, study_id, {"trials": spec.trials, "budget_epochs": spec.budget_epochs,
                                           "budget_hours": spec.budget_hours, **identity, "trainer": code, **keys,
                                           "provenance": prov})
        if retry_failed:
            failed = {k for k in ledger.study_keys(study_id) if (t := ledger.get(k)) is not None and not t.ok}
            return _loop(spec, out, study_id, objective, executor, _Retrying(ledger, failed), key_code, progress,
                         csv_name, max_failures, on_trial, start)
        return _loop(spec, out, study_id, objective, executor, ledger, key_code, progress, csv_name, max_failures,
                     on_trial, start)
    finally:
        ledger.close()


class _Retrying:
    """The ledger, in which this study's ``failed`` trials look missing until trained again: only
    those the run reaches are replaced (a smaller ``--trials`` keeps the others as they were)."""

    def __init__(self, ledger: Ledger, failed: set[str]):
        self.ledger, self.failed = ledger, failed

    def get(self, key: str) -> Trial | None:
        return None if key in self.failed else self.ledger.get(key)

    def record(self, trial: Trial) -> None:
        if trial.key in self.failed:
            self.failed.discard(trial.key)
            self.ledger.delete(trial.key)
        self.ledger.record(trial)

    def __getattr__(self, name: str):
        return getattr(self.ledger, name)


def _loop(spec, out, study_id, objective, executor, ledger, key_code, progress, csv_name, max_failures, on_trial,
          start) -> StudyResult:
    strategy = make_strategy(spec.strategy, spec.space, seed=spec.seed,
                             **strategy_kwargs(spec.strategy, spec.budget.max_epochs, spec.strategy_options))
    # a strategy that ignores results has no window: it keeps every worker busy (the loop's default)
    window = None if ignores_results(strategy) else spec.in_flight or default_in_flight(strategy)
    budgeted = spec.budget_epochs is not None or spec.budget_hours is not None
    spend = Spend(spec.budget_epochs, spec.budget_hours) if budgeted else None
    rungs = Rungs(out / CHECKPOINTS, spec.budget.max_epochs)
    open_ended = budgeted and spec.trials >= spec.space.size  # only the budget bounds it: no count to reach
    total = None if open_ended else min(spec.trials, spec.space.size)
    bar = StudyProgress(f"{spec.space.name} {spec.strategy} s{spec.seed}", total, progress,
                        budget_epochs=spec.budget_epochs, rungs=strategy.multi_fidelity)
    failed = in_a_row = 0
    reached: set[str] = set()  # a study continued with a smaller --trials reaches fewer

    def served(trial: Trial) -> None:
        reached.add(trial.key)
        bar.finished(trial, served=True)

    def trained(trial: Trial) -> None:
        nonlocal failed, in_a_row
        reached.add(trial.key)
        bar.finished(trial)
        export_trials(ledger, out / csv_name)
        if on_trial is not None:
            on_trial(trial)
        in_a_row = 0 if trial.ok else in_a_row + 1
        if budgeted and max_failures is None and in_a_row >= FAILED_IN_A_ROW:
            raise TooManyFailures(
                f"stopped: {in_a_row} trials in a row failed, and failed trials spend none of the budget "
                f"(last: {trial.error or 'unknown error'}); give --max-failures N to decide yourself")
        if not trial.ok:
            failed += 1
            if max_failures is not None and failed > max_failures:
                raise TooManyFailures(
                    f"stopped: {failed} trials failed in this run, more than --max-failures {max_failures} "
                    f"(last: {trial.error or 'unknown error'}); finished trials are in "
                    f"{out / paths.LEDGER_NAME}, re-run the same command to continue")

    if window is not None and window < executor.capacity:
        sys.stderr.write(f"studylib: note: {spec.strategy} proposes {window} trial(s) ahead of its results "
                         f"(in-flight {window}), so at most {window} of {executor.capacity} workers are busy; "
                         "a larger --in-flight uses more (and changes the proposals)\n")
    try:
        counts = run_loop(strategy, objective, executor, ledger, study_id, trials=spec.trials,
                          space_size=spec.space.size, window=window, key=lambda c: objective.key(c, key_code),
                          on_trial=trained, on_served=served, spend=spend, rungs=rungs)
    finally:
        bar.close()
        frame = ledger.frame(study_id)
        export_trials(ledger, out / csv_name)
    if len(frame):
        frame = frame[frame.key.isin(reached)].reset_index(drop=True)
    return StudyResult(study_id, out, frame, out / csv_name, counts.evaluated, counts.served,
                       time.perf_counter() - start, failed=failed, retried=len(executor.retried))


def search(round_or_space: str | SearchSpace, out_dir: str | Path | None = None, *, progress: bool = True,
           executor: str | Executor | None = None, workers: int | None = None, scheduler: str | None = None,
           trial_timeout: float | None = None, max_retries: int | None = None, recycle_after: int | None = None,
           max_worker_memory: float | None = None, max_failures: int | None = None, retry_failed: bool = False,
           allow_code_change: bool = False, **options: Any) -> StudyResult:
    """Validate, load data and run a study in one call (what the CLI and notebooks use).

    ``options`` go to :func:`prepare`; the rest to :func:`run_study`. Every option is checked
    before anything is written or trained."""
    _check_max_failures(max_failures)
    check_out_dir(Path(out_dir) if out_dir else paths.REPORTS_DIR / "search")  # before the data is loaded
    executor = build_executor(executor, progress=progress, workers=workers, scheduler=scheduler,
                              trial_timeout=trial_timeout, max_retries=max_retries, recycle_after=recycle_after,
                              max_worker_memory=max_worker_memory)
    spec, data = prepare(round_or_space, **options)
    return run_study(spec, data, out_dir, executor=executor, progress=progress, max_failures=max_failures,
                     retry_failed=retry_failed, allow_code_change=allow_code_change)
