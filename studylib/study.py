"""A CNN study: open its ledger, run the evaluation loop, export its trials (its inputs are
checked, and its identity defined, by :mod:`studylib.study_spec`).

``--trials N`` means N *distinct* trials: configurations, and the memetic GA's replicate runs of
its best config (see :mod:`studylib.loop`, which also explains why the same seed and
``in_flight`` give the same proposals, in the same order, on every executor and worker count).
Re-running a study with the same output folder replays its seeded strategy
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

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import defaults, paths, provenance, startup
from .data import Dataset, load_dataset
from .errors import StudyError, first_line
from .executors import Executor, make_executor
from .fidelity import Rungs, Spend, collapse_rungs
from .interrupts import interrupts_not_lost, stop_if_asked
from .ledger import CodeChanged, Ledger
from .loop import default_in_flight, ignores_results, run_loop
from .numbers import best_config
from .objective import DataSource, TrainingObjective, trainer_fingerprint
from .outdir import StudyLock, check_out_dir, export_trials, write_study_record
from .progress import StudyProgress, count
from .space import SearchSpace
from .strategies import make_strategy, strategy_kwargs
from .study_spec import StudySpec, check_folder, check_spec, identity_differences, prepare, study_space, whole_number  # noqa: F401 (the API: studylib.study.prepare)
from .trial import Trial

CHECKPOINTS = "checkpoints"  # OUT/checkpoints/<rung key>.keras (multi-fidelity rungs; see fidelity.py)
EXIT_TOO_MANY_FAILURES = 3  # the CLI's exit code when failures stop a study, or every trial failed
FAILED_IN_A_ROW = defaults.FAILED_IN_A_ROW


class TooManyFailures(StudyError):
    """More trials failed in this run than ``max_failures`` allows (CLI exit code 3)."""


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
    budget_spent: bool = False  # the epoch or hours budget ended it (nothing more fit in what was left)
    budget_ended_by: str | None = None  # which: "--budget-epochs" or "--budget-hours"

    @property
    def best(self) -> pd.Series | None:
        """The best config by validation accuracy (:func:`studylib.numbers.best_config`: once a
        config is replicated, the best mean less one standard error; its first run's row with the
        means over its runs). A multi-fidelity study's configs are ranked as ``trials.csv`` and the
        round report list them (:func:`~studylib.fidelity.collapse_rungs`): each by its highest
        rung, numbered as its first rung (``config_trial`` in ``rungs.csv``), so every output
        names the same config by one number. None: no trial succeeded."""
        return best_config(collapse_rungs(self.frame))


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
        built = make_executor(executor, progress=progress, **options)
        workers = options.get("workers")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if workers and workers > cores and not options.get("scheduler"):
            sys.stderr.write(f"studylib: note: {workers} workers share {cores} CPU cores (each trial runs slower, "
                             f"each worker holds its own copy of the data); --workers {cores} is usually as fast\n")
        return built
    return executor


def run_study(spec: StudySpec, data: Dataset, out_dir: str | Path | None = None, *,
              executor: str | Executor | None = None, progress: bool = True, max_failures: int | None = None,
              retry_failed: bool = False, allow_code_change: bool = False,
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
    startup.check_not_a_reimport()
    from .plugins import load_entry_points

    load_entry_points()  # a spec built by hand may name an installed package's strategy
    check_folder("out_dir", out_dir)
    check_spec(spec, data)  # a spec or data built by hand, checked as prepare checks its inputs
    executor = build_executor(executor, progress=progress, **executor_options)
    out = Path(out_dir) if out_dir else paths.REPORTS_DIR / "search"
    check_out_dir(out, study=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    study_id = spec.study_id(data.fingerprint)
    lock = StudyLock(out, study_id).acquire()
    try:
        objective = TrainingObjective(data, spec.budget, spec.seed, source=data_source(spec, data),
                                      dataset=spec.dataset)
        if (out / paths.LEDGER_NAME).exists():  # changed trainer code stops before any worker starts
            with Ledger(out / paths.LEDGER_NAME) as ledger:
                try:
                    ledger.open_study(study_id, {}, {}, trainer_fingerprint(), allow_code_change, check_only=True)
                except CodeChanged as e:
                    raise _other_backend(ledger, study_id, out) or e
        # start the executor first: an unreachable scheduler fails before the ledger is touched
        startup.note_no_scheduler_yet(getattr(executor, "scheduler", None))
        try:
            executor.start(objective)
        except RuntimeError as e:
            raise startup.workers_did_not_start(e) or e
        try:
            run = _Run(spec, out, study_id, objective, executor, progress, max_failures, on_trial, start)
            with interrupts_not_lost():  # a notebook's study too: Jupyter's interrupt is a SIGINT
                return _run_started(run, data, retry_failed, allow_code_change)
        finally:
            executor.shutdown()
    finally:
        lock.release()


def _check_keywords(options: dict) -> None:
    """A keyword :func:`search` passes to :func:`prepare` that it does not take: a TypeError naming
    ``search()`` and the keyword it likely misspells."""
    import difflib
    import inspect

    known = [k for k in inspect.signature(prepare).parameters if k != "round_or_space"]
    mine = [k for k, p in inspect.signature(search).parameters.items()
            if k != "round_or_space" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known + mine, n=1, cutoff=0.8)
            raise TypeError(f"search() got an unexpected keyword argument {key!r}"
                            + (f" (did you mean {close[0]!r}?)" if close else ""))


def _check_max_failures(max_failures) -> None:
    if max_failures is not None:
        whole_number("max-failures", max_failures, minimum=0)


@dataclass
class _Run:
    """One run of a study, its executor started: what its loop reads besides the ledger."""
    spec: StudySpec
    out: Path
    study_id: str
    objective: TrainingObjective
    executor: Executor
    progress: bool
    max_failures: int | None
    on_trial: Callable[[Trial], None] | None
    start: float  # perf_counter() when the run began


def split_trainer_fingerprint(fingerprint) -> tuple[str, str] | None:
    """``(code, backend)`` of a trainer fingerprint (:func:`~studylib.objective.trainer_fingerprint`:
    ``"<code hash> keras <version> <backend>"``); None for anything else."""
    import re

    m = re.fullmatch(r"(.* keras \S+) (\S+)", fingerprint or "")
    return (m.group(1), m.group(2)) if m else None


def _other_backend(ledger: Ledger, study_id: str, out: Path) -> CodeChanged | None:
    """The study's trainer (as recorded, or as a ``--allow-code-change`` run accepted it) differs
    from this code in its Keras backend alone (:func:`~studylib.objective.trainer_fingerprint`'s
    last word): say which backend continues it; None otherwise."""
    from .backend import BACKENDS

    split = split_trainer_fingerprint
    study = next((s for s in ledger.studies() if s["study_id"] == study_id), None)
    now = split(trainer_fingerprint())
    if study is None or now is None:
        return None
    accepted = [split(f) for f in (study["fingerprint"], *(c.get("to") for c in study["code_changes"]))]
    was = [b for f in accepted if f and f[0] == now[0] and (b := f[1]) != now[1] and b in BACKENDS]
    if not was:
        return None
    return CodeChanged(f"study {study_id} in {out} was trained on the Keras backend {was[-1]}, this run uses "
                       f"{now[1]}: set KERAS_BACKEND={was[-1]} to continue it, or give a new --out for a study on "
                       f"{now[1]} (--allow-code-change would mix two backends' trials in one study)")


def _run_started(run: _Run, data: Dataset, retry_failed: bool, allow_code_change: bool) -> StudyResult:
    spec, out, study_id = run.spec, run.out, run.study_id
    ledger = Ledger(out / paths.LEDGER_NAME)
    try:
        identity = spec.identity(data.fingerprint)
        code = trainer_fingerprint()
        prov = provenance.collect(data=data.describe(), seed=spec.seed, space_definition=spec.space.to_dict(),
                                  trainer=code)
        _note_new_study(ledger, study_id, identity, out)
        key_code = ledger.open_study(study_id, identity, prov, code, allow_code_change=allow_code_change)
        keys = {} if key_code == code else {"trial_keys_trainer": key_code}  # a change allowed by the user
        write_study_record(out, study_id, {"trials": spec.trials, "budget_epochs": spec.budget_epochs,
                                           "budget_hours": spec.budget_hours, **identity, "trainer": code, **keys,
                                           "provenance": prov})
        if retry_failed:
            failed = {k for k in ledger.study_keys(study_id) if (t := ledger.get(k)) is not None and not t.ok}
            return _loop(run, _Retrying(ledger, failed), key_code)
        return _loop(run, ledger, key_code)
    finally:
        ledger.close()


def _note_new_study(ledger: Ledger, study_id: str, identity: dict, out: Path) -> None:
    """A study new to a folder that holds one of the same space, strategy, seed and dataset: say what
    differs (a changed option or flag starts a new study, which a user may have meant to continue)."""
    studies = ledger.studies()
    if any(s["study_id"] == study_id for s in studies):
        return
    same = ("space", "strategy", "seed", "dataset")
    kin = [s for s in studies if all(s["spec"].get(k) == identity.get(k) for k in same)]
    if not kin:
        return
    closest = min(reversed(kin), key=lambda s: len(identity_differences(identity, s["spec"])))  # the latest of the nearest
    differ = identity_differences(identity, closest["spec"])
    # a trial's key holds its config, data, budget and seed: a study of another budget or data shares none
    shares = not any(d.split(".")[0] in ("budget", "data_hash") for d in differ)
    sys.stderr.write(f"studylib: note: a new study, {study_id}, beside {closest['study_id']} in {out} "
                     f"(they differ in {', '.join(differ) or 'nothing recorded'}); "
                     + ("trials they share are served from the ledger\n" if shares else "they share no trials\n"))


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


class _FailureStop:
    """Counts a run's failed trials and stops it (:class:`TooManyFailures`) after more than
    ``max_failures``, or, in a budgeted run without it, after ``FAILED_IN_A_ROW`` failures in a
    row (a failed trial spends none of the budget, so nothing else would end the run)."""

    def __init__(self, max_failures: int | None, budgeted: bool, ledger_path: Path):
        self.max_failures, self.budgeted, self.ledger_path = max_failures, budgeted, ledger_path
        self.failed = self.in_a_row = 0

    def count(self, trial: Trial) -> None:
        self.in_a_row = 0 if trial.ok else self.in_a_row + 1
        last = first_line(trial.error) or "unknown error"
        if self.budgeted and self.max_failures is None and self.in_a_row >= FAILED_IN_A_ROW:
            raise TooManyFailures(
                f"stopped: {self.in_a_row} trials in a row failed, and failed trials spend none of the budget "
                f"(last: {last}); give --max-failures N to decide yourself")
        if not trial.ok:
            self.failed += 1
            if self.max_failures is not None and self.failed > self.max_failures:
                raise TooManyFailures(
                    f"stopped: {count(self.failed, 'trial')} failed in this run, more than --max-failures "
                    f"{self.max_failures} (last: {last}); finished trials are in {self.ledger_path}, "
                    "re-run the same command to continue")


def _loop(run: _Run, ledger, key_code: str) -> StudyResult:
    spec, out, study_id, executor = run.spec, run.out, run.study_id, run.executor
    strategy = make_strategy(spec.strategy, spec.space, seed=spec.seed,
                             **strategy_kwargs(spec.strategy, spec.budget.max_epochs, spec.strategy_options))
    # a strategy that ignores results has no window: it keeps every worker busy (the loop's default)
    window = None if ignores_results(strategy) else spec.in_flight or default_in_flight(strategy)
    budgeted = spec.budget_epochs is not None or spec.budget_hours is not None
    spend = Spend(spec.budget_epochs, spec.budget_hours) if budgeted else None
    rungs = Rungs(out / CHECKPOINTS, spec.budget.max_epochs)
    open_ended = budgeted and spec.trials >= spec.space.size  # only the budget bounds it: no count to reach
    # replicate runs count as trials: past the space's size no count is certain
    replicating = getattr(strategy, "replicates", 1) > 1 and spec.trials > spec.space.size
    total = None if open_ended or replicating else min(spec.trials, spec.space.size)
    bar = StudyProgress(f"{spec.space.name} {spec.strategy} s{spec.seed}", total, run.progress,
                        budget_epochs=spec.budget_epochs, rungs=strategy.multi_fidelity)
    failures = _FailureStop(run.max_failures, budgeted, out / paths.LEDGER_NAME)
    reached: set[str] = set()  # a study continued with a smaller --trials reaches fewer

    def served(trial: Trial) -> None:
        reached.add(trial.key)
        bar.finished(trial, served=True, number=ledger.trial_number(study_id, trial.key))

    def trained(trial: Trial) -> None:
        reached.add(trial.key)
        bar.finished(trial, number=ledger.trial_number(study_id, trial.key))
        export_trials(ledger, out / paths.TRIALS_CSV)
        if run.on_trial is not None:
            run.on_trial(trial)
        failures.count(trial)
        stop_if_asked()  # a Ctrl-C that a library swallowed during the trial

    if window is not None and window < executor.capacity:
        sys.stderr.write(f"studylib: note: {spec.strategy} proposes {window} trial(s) ahead of its results "
                         f"(in-flight {window}), so at most {window} of {executor.capacity} workers are busy; "
                         "a larger --in-flight uses more (and changes the proposals)\n")
    try:
        counts = run_loop(strategy, run.objective, executor, ledger, study_id, trials=spec.trials,
                          space_size=spec.space.size, window=window, key=lambda c: run.objective.key(c, key_code),
                          on_trial=trained, on_served=served, spend=spend, rungs=rungs)
    finally:
        bar.close()
        frame = ledger.frame(study_id)
        export_trials(ledger, out / paths.TRIALS_CSV)
    if len(frame):
        frame = frame[frame.key.isin(reached)].reset_index(drop=True)
    ended_by = _budget_ended_by(spend, strategy.multi_fidelity, spec.budget.max_epochs)
    return StudyResult(study_id, out, frame, out / paths.TRIALS_CSV, counts.evaluated, counts.served,
                       time.perf_counter() - run.start, failed=failures.failed, retried=len(executor.retried),
                       budget_spent=ended_by is not None, budget_ended_by=ended_by)


def _budget_ended_by(spend: Spend | None, multi_fidelity: bool, max_epochs: int) -> str | None:
    """The flag of the budget that ended a finished run (``--budget-epochs`` or ``--budget-hours``,
    the one that fits less), or None: none was spent, nor found too small for a trial, nor (a
    multi-fidelity strategy, which starts no config whose rungs no longer fit and so ends with
    epochs left) left less than one full training."""
    if spend is None:
        return None
    fits, left = spend.fits(), spend.left()
    short = multi_fidelity and fits is not None and fits < max_epochs
    if not (spend.stopped or spend.exhausted or short):
        return None
    return "--budget-epochs" if left is not None and (fits is None or left <= fits) else "--budget-hours"


def search(round_or_space: str | SearchSpace, out_dir: str | Path | None = None, *, progress: bool = True,
           executor: str | Executor | None = None, workers: int | None = None, scheduler: str | None = None,
           trial_timeout: float | None = None, max_retries: int | None = None, recycle_after: int | None = None,
           max_worker_memory: float | None = None, max_failures: int | None = None, retry_failed: bool = False,
           allow_code_change: bool = False, **options: Any) -> StudyResult:
    """Validate, load data and run a study in one call (what ``studylib search`` uses; the round
    notebooks call :func:`studylib.report.rounds.run_round`).

    ``options`` go to :func:`prepare`; the rest to :func:`run_study`. Every option is checked
    before anything is written or trained."""
    _check_max_failures(max_failures)
    startup.check_not_a_reimport()
    _check_keywords(options)
    check_folder("out_dir", out_dir)
    check_out_dir(Path(out_dir) if out_dir else paths.REPORTS_DIR / "search", study=True)  # before data is loaded
    executor = build_executor(executor, progress=progress, workers=workers, scheduler=scheduler,
                              trial_timeout=trial_timeout, max_retries=max_retries, recycle_after=recycle_after,
                              max_worker_memory=max_worker_memory)
    spec, data = prepare(round_or_space, **options)
    return run_study(spec, data, out_dir, executor=executor, progress=progress, max_failures=max_failures,
                     retry_failed=retry_failed, allow_code_change=allow_code_change)
