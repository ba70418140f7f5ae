"""The one evaluation loop: ask the strategy, serve a repeat from the ledger or charge it to the
executor, record the finished trial, tell the strategy. ``studylib search`` (a CNN objective,
SQLite ledger) and ``studylib bench`` (a table objective, in-memory ledger) both run it.

A :class:`Scheduler` keeps one :class:`~studylib.loop_state.Entry` per proposal, in one named
state (:mod:`studylib.loop_state`).

``trials`` caps the *distinct* trials the study charges or serves: a config the study already
proposed is answered from the ledger and not counted again, and one another study evaluated under
the same key is served without evaluating it. A :class:`~studylib.strategies.Replicate` (run ``n``
of a config, with a seed of its own: ledger key ``<config>-r<n>``) is a trial of its own and
counts towards ``trials``.

Determinism across executors: the strategy sees the same sequence of ``ask``/``tell`` calls
whatever runs the trials and whether a result was evaluated now or served:

* a strategy that ignores results (it does not override ``Strategy.tell``: random, grid) is asked
  one config at a time, as workers free up (under a budget: in a window of the executor's
  capacity); its proposals cannot depend on timing;
* any other strategy runs in a fixed *window* of ``window`` proposals: each result is told in
  proposal order (results that finish early are held back), each tell followed by an ask for as
  many configs as the window has room for.

A repeat asked while its first proposal runs or waits for the executor follows that proposal's
trial. The loop stops asking when ``trials`` distinct trials (configs and replicates) are done,
when the space is exhausted, when the strategy is finished, when the budget is spent, or when it
only re-proposes what it has (more than ``max_idle`` asks in a row that start nothing new, or
more than ``max_repeats`` repeats in all); it ends once what it asked is told (or dropped), or when
the strategy asks for nothing with nothing pending. A multi-fidelity strategy is told the cap instead
(``Strategy.limit``: at most ``trials`` distinct configs, and under a budget no new config whose
expected promotions do not fit): each config is carried as far as halving promotes it, so a study
does not end with promotions owed. The budget it is told leaves
out the epochs of proposals waiting for the executor, as it does those of running ones, and a
finished trial's unused epochs (failed, or stopped early) count only once it is told, so it does
not depend on the executor's capacity.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from .fidelity import Rungs, Spend, TrialId, charged_epochs
from .loop_state import READY, Entry, LoopCounts, State, wanted_of
from .strategies import Strategy
from .strategies.base import default_in_flight, ignores_results  # the loop's window rules (study imports them here)
from .trial import Trial


class Scheduler:
    """The state of one run of the loop (see the module); :func:`run_loop` builds and runs it."""

    def __init__(self, strategy: Strategy, objective, executor, ledger, study_id: str, *, trials: int,
                 space_size: int, window: int | None, key: Callable[[dict], str], on_trial, on_served,
                 max_idle: int | None, max_repeats: int | None, spend: Spend | None, rungs: Rungs):
        self.strategy, self.objective, self.executor, self.ledger = strategy, objective, executor, ledger
        self.study_id, self.trials, self.space_size, self.window = study_id, trials, space_size, window
        self.key, self.on_trial, self.on_served = key, on_trial, on_served
        self.max_idle, self.max_repeats, self.spend, self.rungs = max_idle, max_repeats, spend, rungs
        self.counts = LoopCounts()
        self.seen: set[str] = set()                      # configs (their keys) this study has proposed
        self.replicas: set[str] = set()                  # replicates (their keys) this study has proposed
        self.asked: dict[TrialId, str | None] = {}       # proposal -> the key answering it (None: not started)
        self.running: dict[str, list[Entry]] = {}        # key being evaluated -> the entries waiting for it
        self.waiting: deque[Entry] = deque()             # under a budget: PROPOSED, waiting for the executor
        self.followers: dict[TrialId, list[Entry]] = {}  # a waiting proposal -> its repeats asked meanwhile
        self.failed: dict[str, Trial] = {}               # config key -> its failed rung trial (not trained further)
        self.saved: dict[int, int] = {}                  # id of a finished entry not told yet -> reserved epochs unused
        self.fresh = 0                                   # proposals that started something new
        self.idle = 0                                    # asks in a row that started nothing new

    @property
    def distinct(self) -> int:
        """What counts towards ``trials``: the configs proposed and their replicates."""
        return len(self.seen) + len(self.replicas)

    # -- one entry through its states ------------------------------------------------------
    def propose(self, n: int) -> list[Entry]:
        """Ask for ``n`` proposals; each becomes an entry that is started, served, or dropped."""
        entries = []
        if self.strategy.multi_fidelity:  # new configs up to the cap, promotions always
            self.strategy.limit(max(0, min(self.trials, self.space_size) - len(self.seen)), self.fits())
        for item in self.strategy.ask(n):
            wanted = wanted_of(item, self.key)
            e = Entry(item, wanted, self.asked.get(wanted) or wanted.key)
            entries.append(e)
            new = wanted.key not in self.replicas if wanted.run else wanted.config not in self.seen
            if wanted in self.asked or (new and self.distinct >= self.trials):
                self.counts.repeats += 1
                self._repeat(e)
                continue
            if wanted.run:
                self.replicas.add(wanted.key)
            else:
                self.seen.add(wanted.config)
            self.asked[wanted] = None
            self.fresh += 1
            if self.spend is None:
                self.dispatch(e)
            elif self.waiting or len(self.running) >= self.executor.capacity or not self.dispatch(e):
                self.waiting.append(e)
        return entries

    def _repeat(self, e: Entry) -> None:
        """Answer a proposal asked before (or one over the trial cap): it follows the first
        proposal's trial while that runs or waits for the executor, else the ledger's result is
        told (none: it is dropped)."""
        if e.key in self.running:
            self.running[e.key].append(e)
            e.state = State.RUNNING
        elif e.wanted in self.asked and self.asked[e.wanted] is None:
            self.followers.setdefault(e.wanted, []).append(e)
        else:
            e.trial = self.ledger.get(e.key)
            e.state = State.DROPPED if e.trial is None else State.SERVED

    def fits(self) -> float | None:
        """What the budget still fits (:meth:`Spend.fits`) less the epochs of proposals waiting for
        the executor, and less the epochs a finished trial did not use until it is told: the same
        whatever the executor's capacity (a running trial is reserved, a waiting one would not be)."""
        fits = None if self.spend is None else self.spend.fits()
        if fits is None:
            return None
        for e in self.waiting:
            fits -= self._start_of(e)[1]
        return fits - sum(self.saved.values())

    def _start_of(self, e: Entry) -> tuple[tuple, int]:
        """Where ``e`` would continue from (:meth:`Rungs.start`; a plain trial: from scratch) and the
        epochs it would train: a plain trial ``max_epochs``, a rung those beyond its start."""
        epochs = e.epochs
        if epochs is None:
            return (0, None, None), self.objective.max_epochs
        if e.wanted.config in self.failed:
            return (0, None, None), 0  # answered by the failure (dispatch)
        start = self.rungs.start(e.wanted.config, epochs)
        return start, epochs - start[0]

    def dispatch(self, e: Entry) -> bool:
        """Serve or submit ``e`` (and the repeats that follow it); False: it must wait for running
        trials to free budget."""
        failed = self.failed.get(e.wanted.config) if e.epochs is not None else None
        if failed is not None:  # a config that failed at a rung is not trained further
            self.asked[e.wanted] = e.key = failed.key
            e.trial, e.state = failed, State.SERVED
            return self._follow(e)
        start, need = self._start_of(e)
        k, cached = self._cached(e)
        cap = None
        if self.spend is not None and (cached is None or cached.key not in self.spend.charged):
            verdict, left = self._verdict(e, cached, need)
            if verdict == "wait":
                return False
            if verdict == "drop":
                self.spend.exhausted, e.state = True, State.DROPPED
                self.asked[e.wanted] = e.key  # a later repeat finds no result either: dropped too
                return self._follow(e)
            if verdict == "cap":
                need = left  # the last trial gets what is left
                k, cap = e.wanted.capped(left).key, left
                cached = self.ledger.get(k)
        self.asked[e.wanted] = e.key = k
        self.ledger.add_to_study(self.study_id, k)
        if cached is not None:
            self.serve(e, cached)
        else:
            self._submit(e, k, start, need, cap)
        return self._follow(e)

    def _follow(self, e: Entry) -> bool:
        """The repeats of ``e`` asked while it waited share what became of it."""
        for f in self.followers.pop(e.wanted, []):
            f.key, f.trial, f.state = e.key, e.trial, e.state
            if e.state is State.RUNNING:
                self.running[e.key].append(f)
        return True

    def _cached(self, e: Entry) -> tuple[str, Trial | None]:
        """(the key of the trial answering ``e``, that trial if the ledger has it): ``e``'s own, or
        under a budget a plain config's capped trial (an earlier run gave it the epochs then left)."""
        k, cached = e.wanted.key, self.ledger.get(e.wanted.key)
        spend = self.spend
        if spend is not None and e.epochs is None and cached is None and e.wanted.key in spend.capped:
            cached = spend.capped[e.wanted.key]
            k = cached.key
        return k, cached

    def _verdict(self, e: Entry, cached: Trial | None, need: int) -> tuple[str, int | None]:
        """What the budget says of ``e`` (it trains ``need`` epochs, or is ``cached``, a trial the
        budget has not paid for yet): ``("go", None)``; ``("wait", None)``: for running trials to
        free budget; ``("drop", None)``: the budget is spent; ``("cap", left)``: the last trial
        gets the ``left`` epochs left."""
        spend = self.spend
        left = spend.left()
        if spend.stopped:
            return "drop", None
        if left is not None and (charged_epochs(cached) if cached is not None else need) > left:
            if self.running:
                return "wait", None
            if left <= 0 or e.epochs is not None:  # a rung is not shortened
                return "drop", None
            return "cap", left
        return "go", None

    def _submit(self, e: Entry, k: str, start: tuple, need: int, cap: int | None) -> None:
        """Run trial ``k`` for ``e`` (from ``start``, ``need`` epochs reserved under a budget)."""
        self.running[k] = [e]
        e.state = State.RUNNING
        if self.spend is not None:
            e.reserved = need
            self.spend.reserved += need
        first = self.asked.get(TrialId(e.wanted.config)) if e.wanted.run else None  # its first run's key
        self.executor.submit(k, self.rungs.submission(e.config, e.wanted.config, e.epochs, start, cap,
                                                      e.wanted.run, first))

    def serve(self, e: Entry, cached: Trial) -> None:
        self.counts.served += 1
        if self.spend is not None:
            self.spend.charge(cached)
            self.spend.unserved.discard(cached.key)
        self._note(e, cached)
        e.trial, e.state = cached, State.SERVED
        if self.on_served is not None:
            self.on_served(cached)

    def _note(self, e: Entry, trial: Trial) -> None:
        """Keep a rung trial's checkpoint (or, failed, that its config trains no further)."""
        self.rungs.note(e.wanted.config, trial)
        if e.epochs is not None and not trial.ok:
            self.failed.setdefault(e.wanted.config, trial)

    def drain(self) -> None:
        """Start waiting entries while the executor has room (and the budget covers them)."""
        while self.waiting and (not self.running or len(self.running) < self.executor.capacity):
            if not self.dispatch(self.waiting[0]):
                return
            self.waiting.popleft()

    def finish(self, trial: Trial) -> list[Entry]:
        entries = self.running.pop(trial.key)
        self.ledger.record(trial)
        self.counts.evaluated += 1
        if self.spend is not None:
            self.spend.reserved -= entries[0].reserved
            self.spend.charge(trial)
            unused = entries[0].reserved - charged_epochs(trial)
            if unused > 0:  # (failed, or stopped early): the strategy learns it when it is told
                self.saved[id(entries[0])] = unused
        self._note(entries[0], trial)
        for e in entries:
            e.trial, e.state = trial, State.FINISHED
        if self.on_trial is not None:
            self.on_trial(trial)
        return entries

    def tell(self, e: Entry) -> None:
        self.saved.pop(id(e), None)
        self.strategy.tell(e.item, self.objective.score(e.trial))
        e.state = State.TOLD
        for config in self.strategy.retired():
            self.rungs.retire(self.key(config))

    def pace_unknown(self) -> bool:
        """An hours budget whose seconds per epoch are not known yet: what it fits is unknown, so
        a multi-fidelity strategy's first window would fill with new configs."""
        return self.spend is not None and self.spend.pace_unknown

    # -- when to stop asking ------------------------------------------------------------------
    def ask(self, n: int) -> list[Entry]:
        """:meth:`propose`, counting the asks in a row that start nothing new (``idle``)."""
        before = self.fresh
        entries = self.propose(n)
        self.idle = 0 if self.fresh > before else self.idle + 1
        return entries

    def stalled(self) -> bool:
        """The strategy only re-proposes what it has: more than ``max_idle`` asks in a row, or more
        than ``max_repeats`` repeats in all."""
        return ((self.max_idle is not None and self.idle > self.max_idle)
                or (self.max_repeats is not None and self.counts.repeats > self.max_repeats))

    def capped(self) -> bool:
        """The trial cap or the space is used up (a multi-fidelity strategy is told the cap instead)."""
        return not self.strategy.multi_fidelity and (self.distinct >= self.trials or len(self.seen) >= self.space_size)

    def ended(self) -> bool:
        """Nothing more is asked: capped, the strategy finished, stalled, or the budget spent."""
        return (self.capped() or self.strategy.finished or self.stalled()
                or (self.spend is not None and self.spend.done))

    # -- the two ways of running -----------------------------------------------------------
    def run(self) -> LoopCounts:
        spend, ledger = self.spend, self.ledger
        if spend is not None and hasattr(ledger, "study_keys"):
            spend.preload((t for t in map(ledger.get, ledger.study_keys(self.study_id)) if t is not None), self.key)
        if ignores_results(self.strategy) and spend is None:
            return self.run_as_workers_free()
        return self.run_windowed()

    def run_as_workers_free(self) -> LoopCounts:
        """A strategy that ignores results: one ask per free worker, each result told as it comes."""
        while True:
            while len(self.running) < self.executor.capacity and not self.ended():
                entries = self.ask(1)
                if not entries and not self.running:
                    break  # nothing asked, nothing pending: the strategy is done
                for e in entries:
                    if e.trial is not None:
                        self.tell(e)
            if not self.running:
                return self.counts
            for trial in self.executor.wait():
                for e in self.finish(trial):
                    self.tell(e)

    def run_windowed(self) -> LoopCounts:
        """Up to ``window`` entries not yet told, told in proposal order; after each tell the window
        is refilled (once the loop has ended asking, what is in it is still run and told)."""
        window = self.window or (self.executor.capacity if ignores_results(self.strategy)
                                 else default_in_flight(self.strategy))
        queue: deque[Entry] = deque()

        def refill() -> None:
            room = window - len(queue)
            if self.strategy.multi_fidelity and self.pace_unknown():
                room = min(room, 1 - len(queue))  # one at a time until the first trial is told
            k = room if self.strategy.multi_fidelity else min(room, self.trials - self.distinct)
            if k > 0 and not self.stalled() and not (self.spend is not None and self.spend.done):
                queue.extend(self.ask(k))

        refill()
        while True:
            if queue and queue[0].state in READY:
                e = queue.popleft()
                if e.state is not State.DROPPED:
                    self.tell(e)
                refill()
            elif not queue:
                if self.ended():
                    return self.counts
                refill()
                if not queue and not self.running:
                    return self.counts  # nothing asked, nothing pending: the strategy is done
            elif not self.running and self.waiting:
                self.drain()  # a proposal waits while nothing runs: start it (or drop it: budget spent)
            else:
                for trial in self.executor.wait():
                    self.finish(trial)
                self.drain()


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
    return Scheduler(strategy, objective, executor, ledger, study_id, trials=trials, space_size=space_size,
                     window=window, key=key or objective.key, on_trial=on_trial, on_served=on_served,
                     max_idle=max_idle, max_repeats=max_repeats, spend=spend,
                     rungs=rungs or Rungs(None, objective.max_epochs)).run()
