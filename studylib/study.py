"""The study protocol: ask a strategy, serve repeats from the ledger, train the rest, tell back.

``--trials N`` means N *distinct* configurations: a config the study already proposed is answered
from the ledger and not counted again, and one another study trained under the same key (same
config, data, budget and seed) is reused without training. Re-running a study with the same
output folder replays its seeded strategy against the ledger, so it continues where it stopped
(after a crash or ``kill -9`` too: trials that were running are trained again, finished ones are
served) and ends exactly where an uninterrupted run would have.

Determinism across executors: the strategy sees the same sequence of ``ask``/``tell`` calls
whatever runs the trials (this process, a child process, 1 or 100 Dask workers) and whether a
result was trained now or served from the ledger:

* a strategy that ignores results (it does not override ``Strategy.tell``: random, grid) is asked
  one config at a time, as workers free up; its proposals cannot depend on timing;
* any other strategy (GA, memetic, TPE, ...) runs in a fixed *window* of ``in_flight`` proposals:
  it is asked for ``in_flight`` configs, and each result is told *in proposal order* (results that
  finish early are held back), each tell followed by an ask for as many configs as the window has
  room for. ``in_flight`` defaults to the strategy's ``in_flight`` or ``population_size``
  attribute (a GA evaluates a whole generation in parallel), else 1; it never depends on the
  number of workers. It is part of the study's identity when set to a non-default value.

So the same seed (and ``in_flight``) gives the same proposals and the same ledger configs, in the
same order, with every executor and worker count; trial *results* are equal too as long as
training itself is deterministic for a fixed seed (it is on CPU with TensorFlow 2.21: checked by
tests/test_dask.py, which compares serial and 2-worker Dask runs).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths, profiles, provenance
from .data import Dataset, load_dataset
from .errors import StudyError
from .ledger import Ledger, trial_key, write_csv_atomic
from .space import SearchSpace, load_space
from .strategies import Strategy, make_strategy
from .training import Budget

FAILED_SCORE = 0.0  # what a strategy is told for a failed trial (accuracy is maximised)
EXIT_TOO_MANY_FAILURES = 3  # the CLI's exit code when --max-failures stops a study


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

    def identity(self, data_hash: str) -> dict:
        ident = {"space": self.space.name, "space_hash": self.space.fingerprint(), "strategy": self.strategy,
                 "strategy_options": self.strategy_options, "seed": self.seed, "dataset": self.dataset,
                 "data_hash": data_hash, "budget": self.budget.to_dict()}
        if self.in_flight is not None:  # only a non-default window changes the proposals
            ident["in_flight"] = self.in_flight
        return ident

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
    failed: int = 0     # trials that failed in this run
    retried: int = 0    # trials run again because their process or worker died

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
            strategy_options: dict | None = None, in_flight: int | None = None) -> tuple[StudySpec, Dataset]:
    """Validate every input and load the data; raises :class:`StudyError` before anything is written.

    ``in_flight``: how many proposals a result-driven strategy (GA, memetic, TPE) makes ahead of
    its results, i.e. how many of its trials can run in parallel. Default: the strategy's
    population size, else 1. It fixes the proposals: same value, same configs on any executor."""
    space = round_or_space if isinstance(round_or_space, SearchSpace) else load_space(round_or_space)
    settings = profiles.resolve(profile, space.name, trials=trials, max_epochs=max_epochs, patience=patience,
                                train_size=train_size, val_size=val_size, test_size=test_size)
    for name in ("trials", "max_epochs", "patience"):
        v = settings[name]
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise StudyError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
    if not isinstance(seed, int) or seed < 0:
        raise StudyError(f"seed must be a non-negative integer, got {seed!r}")
    if in_flight is not None and (not isinstance(in_flight, int) or isinstance(in_flight, bool) or in_flight <= 0):
        raise StudyError(f"in-flight must be a positive integer, got {in_flight!r}")
    probe = make_strategy(strategy, space, seed=seed, **(strategy_options or {}))  # validates name and options
    if in_flight is not None and (ignores_results(probe) or in_flight == default_in_flight(probe)):
        in_flight = None  # no effect on the proposals: keep the study's identity unchanged
    data_options = {k: settings[k] for k in ("train_size", "val_size", "test_size")}
    data = load_dataset(dataset, data_dir=data_dir, **data_options)
    spec = StudySpec(space=space, strategy=strategy, trials=settings["trials"], seed=seed, dataset=dataset,
                     budget=Budget(settings["max_epochs"], settings["patience"]), data_options=data_options,
                     strategy_options=dict(strategy_options or {}), data_dir=data_dir, in_flight=in_flight)
    return spec, data


def ignores_results(strategy: Strategy) -> bool:
    """True if ``strategy`` keeps ``Strategy.tell`` (a no-op): its proposals cannot depend on results."""
    return type(strategy).tell is Strategy.tell


def default_in_flight(strategy: Strategy) -> int:
    """The window a result-driven strategy gets by default: its ``in_flight`` or
    ``population_size`` attribute (a GA's generation runs in parallel), else 1."""
    for attr in ("in_flight", "population_size"):
        v = getattr(strategy, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return 1


def data_source(spec: StudySpec, data: Dataset):
    """How worker processes can load ``data`` themselves (a :class:`~studylib.executor.DataSource`),
    or None when ``data`` did not come from ``load_dataset`` with the spec's arguments (then the
    arrays are sent to each worker once)."""
    from .executor import DataSource

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


class StudyLock:
    """One process at a time per study and output folder: an exclusive ``flock`` on
    ``OUT/.<study_id>.lock``, released by the kernel when the process ends (``kill -9`` too)."""

    def __init__(self, out: Path, study_id: str):
        self.path = out / f".{study_id}.lock"
        self.study_id = study_id
        self.fd = None

    def acquire(self) -> "StudyLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StudyError(f"study {self.study_id} is already running in {self.path.parent} ({holder}); "
                             "wait for it to finish or stop it, then re-run to continue") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # drops the flock
            self.fd = None


@dataclass(eq=False)
class _Entry:
    """One proposal: its key, config and (once known) result."""

    key: str
    config: dict
    result: dict | None = None
    dropped: bool = False  # over the trial cap: never trained nor told


def run_study(spec: StudySpec, data: Dataset, out_dir: str | Path | None = None, *, executor=None,
              progress: bool = True, csv_name: str = paths.TRIALS_CSV, workers: int | None = None,
              scheduler: str | None = None, trial_timeout: float | None = None, max_retries: int | None = None,
              recycle_after: int | None = None, max_worker_memory: float | None = None,
              max_failures: int | None = None, retry_failed: bool = False) -> StudyResult:
    """Run (or continue) the study; returns its trials in proposal order.

    ``executor``: ``"serial"`` (default: a reused, recycled child process), ``"dask"`` (with
    ``workers`` or ``scheduler``), ``"inline"`` (this process) or an executor object; the other
    keywords configure a named executor (see :func:`studylib.executor.make_executor`).
    ``max_failures``: stop with :class:`TooManyFailures` once more trials than this failed in this
    run. ``retry_failed``: train again this study's trials recorded as failed (e.g. after an
    out-of-memory was fixed) instead of serving them from the ledger.
    """
    from .executor import make_executor

    _check_max_failures(max_failures)
    if executor is None or isinstance(executor, str):
        executor = make_executor(executor, progress=progress, workers=workers, scheduler=scheduler,
                                 trial_timeout=trial_timeout, max_retries=max_retries, recycle_after=recycle_after,
                                 max_worker_memory=max_worker_memory)
    out = Path(out_dir) if out_dir else paths.REPORTS_DIR / "search"
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    study_id = spec.study_id(data.fingerprint)
    lock = StudyLock(out, study_id).acquire()
    try:
        return _run_locked(spec, data, out, study_id, executor, progress, csv_name, max_failures, retry_failed,
                           start)
    finally:
        lock.release()


def _check_max_failures(max_failures) -> None:
    if max_failures is not None and (not isinstance(max_failures, int) or isinstance(max_failures, bool)
                                     or max_failures < 0):
        raise StudyError(f"max-failures must be a non-negative integer, got {max_failures!r}")


def _run_locked(spec, data, out, study_id, executor, progress, csv_name, max_failures, retry_failed,
                start) -> StudyResult:
    # start the executor first: an unreachable scheduler fails before the ledger is touched
    if "source" in inspect.signature(executor.start).parameters:
        executor.start(data, source=data_source(spec, data))
    else:  # a user-supplied executor with the original interface
        executor.start(data)
    try:
        return _run_started(spec, data, out, study_id, executor, progress, csv_name, max_failures,
                            retry_failed, start)
    finally:
        executor.shutdown()


def _run_started(spec, data, out, study_id, executor, progress, csv_name, max_failures, retry_failed,
                 start) -> StudyResult:
    budget = spec.budget.to_dict()
    ledger = Ledger(out / paths.LEDGER_NAME)
    prov = provenance.collect(data=data.describe(), seed=spec.seed, space_definition=spec.space.to_dict())
    ledger.open_study(study_id, spec.identity(data.fingerprint), prov)
    (out / "study.json").write_text(json.dumps({"study_id": study_id, "trials": spec.trials,
                                                **spec.identity(data.fingerprint), "provenance": prov},
                                               indent=2, default=str))
    if retry_failed:
        for key in ledger.study_keys(study_id):
            row = ledger.get(key)
            if row is not None and row["status"] == "failed":
                ledger.delete(key)
    strategy = make_strategy(spec.strategy, spec.space, seed=spec.seed, **spec.strategy_options)
    streaming = ignores_results(strategy)
    window = spec.in_flight or default_in_flight(strategy)

    seen: set[str] = set()                 # keys this study has proposed (its trials)
    running: dict[str, list[_Entry]] = {}  # key being trained -> the proposals waiting for it
    queue: deque[_Entry] = deque()         # window mode: proposals not yet told, in proposal order
    trained = served = failed = 0
    bar = _bar(spec.trials, progress, f"{spec.space.name}/{spec.strategy}")

    def propose(n: int) -> list[_Entry]:
        nonlocal served
        entries = []
        for config in strategy.ask(n):
            e = _Entry(trial_key(config, data.fingerprint, budget, spec.seed), config)
            entries.append(e)
            if e.key in running:
                running[e.key].append(e)
                continue
            cached = ledger.get(e.key)
            if e.key not in seen and len(seen) < spec.trials:
                seen.add(e.key)
                ledger.add_to_study(study_id, e.key)
                if cached is None:
                    running[e.key] = [e]
                    executor.submit(e.key, config, spec.seed, spec.budget)
                    continue
                served += 1
                bar.update(1)
            if cached is not None:
                e.result = cached
            else:
                e.dropped = True
        return entries

    def finish(key: str, result: dict) -> list[_Entry]:
        nonlocal trained, failed
        entries = running.pop(key)
        ledger.record(key, entries[0].config, spec.seed, spec.dataset, budget, result,
                      host=result.get("host"), pid=result.get("pid"))
        trained += 1
        bar.update(1)
        bar.set_postfix(best=_best_text(ledger, study_id))
        for e in entries:
            e.result = result
        _export(ledger, study_id, spec.space, out / csv_name)
        if result.get("status") == "failed":
            failed += 1
            if max_failures is not None and failed > max_failures:
                raise TooManyFailures(
                    f"stopped: {failed} trials failed in this run, more than --max-failures {max_failures} "
                    f"(last: {result.get('error') or 'unknown error'}); finished trials are in "
                    f"{out / paths.LEDGER_NAME}, re-run the same command to continue")
        return entries

    try:
        if not streaming and window < executor.capacity:
            sys.stderr.write(f"studylib: note: {spec.strategy} proposes {window} trial(s) ahead of its results "
                             f"(in-flight {window}), so at most {window} of {executor.capacity} workers are busy; "
                             "a larger --in-flight uses more (and changes the proposals)\n")
        idle = 0
        if streaming:
            while True:
                while len(running) < executor.capacity and len(seen) < spec.trials:
                    if strategy.finished or len(seen) >= spec.space.size or idle > 10_000:
                        break
                    before = len(seen)
                    for e in propose(1):
                        if e.result is not None:
                            strategy.tell(e.config, _score(e.result))
                    idle = 0 if len(seen) > before else idle + 1
                if not running:
                    break
                for key, result in executor.wait():
                    for e in finish(key, result):
                        strategy.tell(e.config, _score(result))
        else:
            def refill():
                k = min(window - len(queue), spec.trials - len(seen))
                if k > 0:
                    queue.extend(propose(k))

            refill()
            last = -1
            while True:
                if queue and (queue[0].result is not None or queue[0].dropped):
                    e = queue.popleft()
                    if not e.dropped:
                        strategy.tell(e.config, _score(e.result))
                    refill()
                    continue
                if not queue:
                    if len(seen) >= spec.trials or strategy.finished or len(seen) >= spec.space.size:
                        break
                    idle = idle + 1 if len(seen) == last else 0
                    last = len(seen)
                    if idle > 10_000:
                        break  # the strategy only re-proposes known configs: nothing left to learn
                    refill()
                    continue
                for key, result in executor.wait():
                    finish(key, result)
    finally:
        bar.close()
        frame = ledger.frame(study_id)
        _export(ledger, study_id, spec.space, out / csv_name)
        ledger.close()
    return StudyResult(study_id, out, frame, out / csv_name, trained, served, time.perf_counter() - start,
                       failed=failed, retried=len(getattr(executor, "retried", ())))


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
    write_csv_atomic(ledger.frame(study_id), path)  # one name per hyperparameter (the ledger's), every round


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
           executor=None, workers: int | None = None, scheduler: str | None = None,
           trial_timeout: float | None = None, max_retries: int | None = None, recycle_after: int | None = None,
           max_worker_memory: float | None = None, max_failures: int | None = None, retry_failed: bool = False,
           **options: Any) -> StudyResult:
    """Validate, load data and run a study in one call (what the CLI and notebooks use).

    ``options`` go to :func:`prepare`; the rest to :func:`run_study`. Every option is checked
    before anything is written or trained."""
    from .executor import make_executor

    _check_max_failures(max_failures)
    if executor is None or isinstance(executor, str):
        executor = make_executor(executor, progress=progress, workers=workers, scheduler=scheduler,
                                 trial_timeout=trial_timeout, max_retries=max_retries, recycle_after=recycle_after,
                                 max_worker_memory=max_worker_memory)
    spec, data = prepare(round_or_space, **options)
    return run_study(spec, data, out_dir, executor=executor, progress=progress, max_failures=max_failures,
                     retry_failed=retry_failed)
