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

from .fidelity import Rungs, Spend, charged_epochs
from .strategies import Proposal, Strategy
from .strategies.base import default_in_flight, ignores_results  # noqa: F401 (the loop's window rules)
from .trial import Trial


@dataclass(eq=False)
class _Entry:
    """One proposal (a config or a :class:`Proposal`): its key, config key and (once known) trial."""

    key: str
    config: dict | Proposal
    trial: Trial | None = None
    dropped: bool = False  # over the trial cap or the budget: never evaluated nor told
    base: str = ""         # the config's key (a rung's or capped trial's key adds a suffix)
    pid: str = ""          # the proposal's key: ``base``, or the rung's key
    reserved: int = 0      # epochs reserved from the budget while it runs


@dataclass
class LoopCounts:
    evaluated: int = 0  # charged: run by the executor now
    served: int = 0     # distinct trials answered from the ledger
    repeats: int = 0    # proposals of configs the study already had


def _unpack(item) -> tuple[dict, int | None]:
    return (item.config, int(item.epochs)) if isinstance(item, Proposal) else (item, None)


def run_loop(strategy: Strategy, objective, executor, ledger, study_id: str, *, trials: int, space_size: int,
             window: int | None = None, key: Callable[[dict], str] | None = None,
             on_trial: Callable[[Trial], None] | None = None, on_served: Callable[[Trial], None] | None = None,
             max_idle: int | None = 10_000, max_repeats: int | None = None, spend: Spend | None = None,
             rungs: Rungs | None = None) -> LoopCounts:
    """Run ``strategy`` on ``objective`` through a started ``executor`` until done.

    ``window``: proposals ahead of their results for a result-driven strategy (default
    :func:`default_in_flight`). ``key(config)``: the trial key (default ``objective.key``).
    ``on_trial(trial)`` runs after each evaluated trial is recorded, ``on_served(trial)`` after
    each distinct trial served from the ledger. ``spend``: an epoch / hours budget
    (:class:`~studylib.fidelity.Spend`; trials then start only as the executor has room, each given
    at most the epochs left). ``rungs``: checkpoints of a multi-fidelity strategy's rungs."""
    key = key or objective.key
    score = objective.score
    rungs = rungs or Rungs(None, objective.max_epochs)
    counts = LoopCounts()
    seen: set[str] = set()                 # configs (their keys) this study has proposed
    asked: dict[str, str | None] = {}      # proposal (config or rung) -> the key it runs under
    running: dict[str, list[_Entry]] = {}  # key being evaluated -> the proposals waiting for it
    deferred: deque[_Entry] = deque()      # under a budget: proposals waiting for the executor

    def propose(n: int) -> list[_Entry]:
        entries = []
        for item in strategy.ask(n):
            config, epochs = _unpack(item)
            e = _Entry("", item, base=key(config))
            entries.append(e)
            pid = e.pid = e.base if epochs is None else rungs.key(e.base, epochs)
            e.key = asked.get(pid) or pid
            if e.key in running:
                running[e.key].append(e)
                continue
            if pid in asked or (e.base not in seen and len(seen) >= trials):
                counts.repeats += 1
                e.trial = ledger.get(e.key)  # a known result is told, as for any repeat
                e.dropped = e.trial is None
                continue
            seen.add(e.base)
            asked[pid] = None
            if spend is not None and (deferred or len(running) >= executor.capacity or not dispatch(e, pid)):
                deferred.append(e)
            elif spend is None:
                dispatch(e, pid)
        return entries

    def dispatch(e: _Entry, pid: str) -> bool:
        """Serve or submit ``e``; False: it must wait for running trials to free budget."""
        config, epochs = _unpack(e.config)
        start = (0, None, None) if epochs is None else rungs.start(e.base, epochs)
        need = objective.max_epochs if epochs is None else epochs - start[0]
        k, cap, cached = pid, None, ledger.get(pid)
        if spend is not None and epochs is None and cached is None and e.base in spend.capped:
            cached = spend.capped[e.base]  # an earlier run gave it the epochs then left
            k = cached.key
        if spend is not None and (cached is None or cached.key not in spend.charged):
            left = spend.left()
            if spend.stopped:
                spend.exhausted, e.dropped = True, True
                return True
            if left is not None and (charged_epochs(cached) if cached is not None else need) > left:
                if running:
                    return False
                if left <= 0 or epochs is not None:  # a rung is not shortened
                    spend.exhausted, e.dropped = True, True
                    return True
                need = left  # the last trial gets what is left
                k, cap = rungs.cap_key(e.base, left), left
                cached = ledger.get(k)
        asked[pid] = e.key = k
        ledger.add_to_study(study_id, k)
        if cached is not None:
            counts.served += 1
            if spend is not None:
                spend.charge(cached)
                spend.unserved.discard(cached.key)
            rungs.note(e.base, cached)
            e.trial = cached
            if on_served is not None:
                on_served(cached)
            return True
        running[k] = [e]
        if spend is not None:
            e.reserved = need
            spend.reserved += need
        executor.submit(k, rungs.submission(config, e.base, epochs, start, cap))
        return True

    def drain() -> None:
        while deferred and (not running or len(running) < executor.capacity):
            if not dispatch(deferred[0], deferred[0].pid):
                return
            deferred.popleft()

    def finish(trial: Trial) -> list[_Entry]:
        entries = running.pop(trial.key)
        ledger.record(trial)
        counts.evaluated += 1
        if spend is not None:
            spend.reserved -= entries[0].reserved
            spend.charge(trial)
        rungs.note(entries[0].base, trial)
        for e in entries:
            e.trial = trial
        if on_trial is not None:
            on_trial(trial)
        return entries

    def tell(e: _Entry) -> None:
        strategy.tell(e.config, score(e.trial))
        for config in strategy.retired():
            rungs.retire(key(config))

    def stalled(idle: int) -> bool:
        return ((max_idle is not None and idle > max_idle)
                or (max_repeats is not None and counts.repeats > max_repeats))

    if spend is not None and hasattr(ledger, "study_keys"):
        spend.preload(t for t in map(ledger.get, ledger.study_keys(study_id)) if t is not None)
    idle = 0
    if ignores_results(strategy) and spend is None:
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
                        tell(e)
                idle = 0 if len(seen) > before else idle + 1
            if not running:
                return counts
            for trial in executor.wait():
                for e in finish(trial):
                    tell(e)

    if not window:
        window = executor.capacity if ignores_results(strategy) else default_in_flight(strategy)
    queue: deque[_Entry] = deque()  # proposals not yet told, in proposal order

    def refill() -> None:
        k = min(window - len(queue), trials - len(seen))
        if k > 0 and not (spend is not None and spend.done):
            queue.extend(propose(k))

    refill()
    last = -1
    while True:
        if queue and (queue[0].trial is not None or queue[0].dropped):
            e = queue.popleft()
            if not e.dropped:
                tell(e)
            if max_repeats is not None and counts.repeats > max_repeats:
                return counts
            refill()
            continue
        if not queue:
            if (len(seen) >= trials or strategy.finished or len(seen) >= space_size or stalled(idle)
                    or (spend is not None and spend.done)):
                return counts
            idle = idle + 1 if len(seen) == last else 0
            last = len(seen)
            refill()
            if not queue and not running:
                return counts  # nothing asked, nothing pending: the strategy is done
            continue
        if not running and deferred:
            drain()  # a proposal waits while nothing runs: start it (or drop it: budget spent)
            continue
        for trial in executor.wait():
            finish(trial)
        drain()
