"""The one evaluation loop: ask the strategy, serve a repeat from the ledger or charge it to the
executor, record the finished trial, tell the strategy. ``studylib search`` (a CNN objective,
SQLite ledger) and ``studylib bench`` (a table objective, in-memory ledger) both run it.

``trials`` caps the *distinct* configs the study charges or serves: a config the study already
proposed is answered from the ledger and not counted again, and one another study evaluated under
the same key is served without evaluating it.

Determinism across executors: the strategy sees the same sequence of ``ask``/``tell`` calls
whatever runs the trials and whether a result was evaluated now or served:

* a strategy that ignores results (it does not override ``Strategy.tell``: random, grid) is asked
  one config at a time, as workers free up; its proposals cannot depend on timing;
* any other strategy runs in a fixed *window* of ``window`` proposals: each result is told in
  proposal order (results that finish early are held back), each tell followed by an ask for as
  many configs as the window has room for.

The loop stops when ``trials`` distinct configs are done, when the space is exhausted, when the
strategy is finished or asks for nothing with nothing pending, or when it only re-proposes known
configs (``max_idle`` asks in a row, or ``max_repeats`` in all).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

from .strategies import Strategy
from .trial import Trial


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


@dataclass(eq=False)
class _Entry:
    """One proposal: its key, config and (once known) trial."""

    key: str
    config: dict
    trial: Trial | None = None
    dropped: bool = False  # over the trial cap: never evaluated nor told


@dataclass
class LoopCounts:
    evaluated: int = 0  # charged: run by the executor now
    served: int = 0     # distinct trials answered from the ledger
    repeats: int = 0    # proposals of configs the study already had


def run_loop(strategy: Strategy, objective, executor, ledger, study_id: str, *, trials: int, space_size: int,
             window: int | None = None, key: Callable[[dict], str] | None = None,
             on_trial: Callable[[Trial], None] | None = None, on_served: Callable[[Trial], None] | None = None,
             max_idle: int | None = 10_000, max_repeats: int | None = None) -> LoopCounts:
    """Run ``strategy`` on ``objective`` through a started ``executor`` until done.

    ``window``: proposals ahead of their results for a result-driven strategy (default
    :func:`default_in_flight`). ``key(config)``: the trial key (default ``objective.key``).
    ``on_trial(trial)`` runs after each evaluated trial is recorded, ``on_served(trial)`` after
    each distinct trial served from the ledger."""
    key = key or objective.key
    score = objective.score
    counts = LoopCounts()
    seen: set[str] = set()                 # keys this study has proposed (its trials)
    running: dict[str, list[_Entry]] = {}  # key being evaluated -> the proposals waiting for it

    def propose(n: int) -> list[_Entry]:
        entries = []
        for config in strategy.ask(n):
            e = _Entry(key(config), config)
            entries.append(e)
            if e.key in running:
                running[e.key].append(e)
                continue
            cached = ledger.get(e.key)
            if e.key not in seen and len(seen) < trials:
                seen.add(e.key)
                ledger.add_to_study(study_id, e.key)
                if cached is None:
                    running[e.key] = [e]
                    executor.submit(e.key, config)
                    continue
                counts.served += 1
                if on_served is not None:
                    on_served(cached)
            else:
                counts.repeats += 1
            if cached is not None:
                e.trial = cached
            else:
                e.dropped = True
        return entries

    def finish(trial: Trial) -> list[_Entry]:
        entries = running.pop(trial.key)
        ledger.record(trial)
        counts.evaluated += 1
        for e in entries:
            e.trial = trial
        if on_trial is not None:
            on_trial(trial)
        return entries

    def stalled(idle: int) -> bool:
        return ((max_idle is not None and idle > max_idle)
                or (max_repeats is not None and counts.repeats > max_repeats))

    idle = 0
    if ignores_results(strategy):
        while True:
            while len(running) < executor.capacity and len(seen) < trials:
                if strategy.finished or len(seen) >= space_size or stalled(idle):
                    break
                before = len(seen)
                entries = propose(1)
                if not entries and not running:
                    break  # nothing asked, nothing pending: the strategy is done
                for e in entries:
                    if e.trial is not None:
                        strategy.tell(e.config, score(e.trial))
                idle = 0 if len(seen) > before else idle + 1
            if not running:
                return counts
            for trial in executor.wait():
                for e in finish(trial):
                    strategy.tell(e.config, score(trial))

    window = window or default_in_flight(strategy)
    queue: deque[_Entry] = deque()  # proposals not yet told, in proposal order

    def refill() -> None:
        k = min(window - len(queue), trials - len(seen))
        if k > 0:
            queue.extend(propose(k))

    refill()
    last = -1
    while True:
        if queue and (queue[0].trial is not None or queue[0].dropped):
            e = queue.popleft()
            if not e.dropped:
                strategy.tell(e.config, score(e.trial))
            if max_repeats is not None and counts.repeats > max_repeats:
                return counts
            refill()
            continue
        if not queue:
            if len(seen) >= trials or strategy.finished or len(seen) >= space_size or stalled(idle):
                return counts
            idle = idle + 1 if len(seen) == last else 0
            last = len(seen)
            refill()
            if not queue and not running:
                return counts  # nothing asked, nothing pending: the strategy is done
            continue
        for trial in executor.wait():
            finish(trial)
