"""The study loop at its edges (helper 63's review): a strategy that only repeats itself in a
window, a config that failed at a rung, a repeat asked while its first proposal waits for the
executor, failed trials finishing out of order, and an hours budget resumed."""
import dataclasses

import numpy as np
import pytest

from studylib.curve_bench import CurveObjective, TableRungs, curve_table_from_frame
from studylib.executors import InlineExecutor, SimulatedWorkers
from studylib.fidelity import Spend, charged_epochs, failed_fields, split
from studylib.ledger import Ledger, MemoryLedger
from studylib.loop import run_loop
from studylib.strategies import Proposal, make_strategy
from studylib.strategies.base import Strategy
from studylib.trial import Trial

from test_curve_bench import EPOCHS, curves
from test_multifidelity_stops import Wide, owed


@pytest.fixture(scope="module")
def table():
    return curve_table_from_frame(curves(np.random.default_rng(5)), "curves", "val_accuracy", True)


class Timed(CurveObjective):
    """One (pretend) second per epoch trained; the configs at the indices in ``fail`` fail."""

    fail: set = set()

    def evaluate(self, key, config, on_epoch=None):
        c, fid = split(config)
        if self.table.space.index_of(c) in self.fail:
            t = Trial.failed(key, c, "out of memory", 0.5)
            t.metrics.update(failed_fields(fid))
            return t
        t = super().evaluate(key, config, on_epoch)
        return dataclasses.replace(t, wall_time=float(t.metrics["new_epochs"]))

    def score(self, trial):
        return 0.0 if not trial.ok else super().score(trial)  # as the CNN objective's FAILED_SCORE


def failing(fail):
    return type("Failing", (Timed,), {"fail": set(fail)})


class Scripted(Strategy):
    """Result-driven (it overrides ``tell``): asks the configs at ``plan``'s indices in turn, then
    the last one forever; raises once asked ``limit`` times (a loop that does not stop)."""

    name = "scripted"

    def __init__(self, space, plan, limit=2_000):
        super().__init__(space, 0)
        self.plan, self.limit, self.asks, self.told = list(plan), limit, 0, []

    def ask(self, n=1):
        self.asks += 1
        if self.asks > self.limit:
            raise RuntimeError("the loop did not stop")
        out = []
        while len(out) < n:
            out.append(self.space.config_at(self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]))
        return out

    def tell(self, config, score):
        self.told.append(self.space.index_of(config))


@pytest.mark.parametrize("spend", [None, 60])
def test_a_strategy_that_only_repeats_itself_in_a_window_stops_after_max_idle_asks(table, spend):
    """Repeats are served at once, so the window never empties: the loop still counts the asks
    that start nothing new (before, it asked for ever)."""
    s = Scripted(table.space, [0, 1, 2])
    objective, ledger = Timed(table, 0), MemoryLedger()
    executor = InlineExecutor(progress=False)
    executor.start(objective)
    counts = run_loop(s, objective, executor, ledger, "s", trials=table.space.size, space_size=table.space.size,
                      window=4, max_idle=50, spend=None if spend is None else Spend(epochs=spend))
    assert counts.evaluated == 3 and 50 <= counts.repeats <= 50 + 4 and s.asks <= 60


@pytest.mark.parametrize("name", ["memetic-sh", "asha", "dehb"])
def test_a_config_that_failed_at_a_rung_is_not_trained_further_and_nothing_is_owed(table, name):
    """A failed rung trial tells the strategy a failure; if it promotes the config anyway, the
    promotion is answered with that failure, not trained from scratch beyond the epochs the
    strategy reserved (before: the budget check dropped it and the study ended owing it)."""
    options = {"population_size": 4} if name == "memetic-sh" else {}
    for budget in range(15, 41, 5):
        for seed in range(3):
            s = make_strategy(name, table.space, seed=seed, max_epochs=EPOCHS, **options)
            objective, ledger = failing({0, 5})(table, seed), MemoryLedger()
            executor = InlineExecutor(progress=False)
            executor.start(objective)
            run_loop(s, objective, executor, ledger, "s", trials=table.space.size, space_size=table.space.size,
                     spend=Spend(epochs=budget), rungs=TableRungs(table.epochs))
            trials = ledger.study_trials("s")
            failed = [t for t in trials if not t.ok]
            assert all(t.key.endswith("-e1") for t in failed), (budget, seed, [t.key for t in failed])
            assert not any(t.ok and table.space.index_of(t.config) in (0, 5) for t in trials)
            assert owed(s) == [], (budget, seed)
            assert sum(charged_epochs(t) for t in trials) <= budget


def test_a_repeat_asked_while_its_first_proposal_waits_is_told_whatever_the_executor(table):
    """Under a budget a proposal may wait for the executor; a repeat asked meanwhile follows it
    (before: one worker dropped it untold, several workers told it)."""
    told = []
    for executor in (InlineExecutor(progress=False), SimulatedWorkers(4)):
        s = Scripted(table.space, [0, 1, 1, 2, 3, 4, 5])
        objective = CurveObjective(table, 0)
        executor.start(objective)
        counts = run_loop(s, objective, executor, MemoryLedger(), "s", trials=5, space_size=table.space.size,
                          window=4, spend=Spend(epochs=1000), rungs=TableRungs(table.epochs))
        told.append((s.told, counts.repeats))
    assert told[0] == told[1] == ([0, 1, 1, 2, 3, 4], 1)


@pytest.mark.parametrize("name", ["memetic-sh", "asha"])
def test_the_budget_told_does_not_depend_on_when_failed_trials_finish(table, name):
    """A failed trial leaves epochs of its reservation unused; the strategy hears of them when it
    is told the failure, not when it finished (before: with 4 workers, memetic-sh at budget 12,
    seed 2 was told other budgets and proposed in another order)."""
    options = {"population_size": 4, "promote": "async"} if name == "memetic-sh" else {}
    for budget in range(12, 50, 2):
        for seed in range(3):
            runs = []
            for executor in (InlineExecutor(progress=False), Wide(), SimulatedWorkers(4)):
                s = make_strategy(name, table.space, seed=seed, max_epochs=EPOCHS, **options)
                limits = []
                s.limit = (lambda f: lambda new, epochs=None: limits.append(epochs) or f(new, epochs))(s.limit)
                objective, ledger = failing({0, 5})(table, seed), MemoryLedger()
                executor.start(objective)
                run_loop(s, objective, executor, ledger, "s", trials=table.space.size,
                         space_size=table.space.size, window=4, spend=Spend(epochs=budget),
                         rungs=TableRungs(table.epochs))
                while limits and limits[-1] is not None and limits[-1] <= 0:
                    limits.pop()  # asked again once nothing fits: how often depends on the executor
                runs.append(([t.key for t in ledger.study_trials("s")], limits))
            assert runs[0] == runs[1] == runs[2], (budget, seed)


class Killed(Exception):
    pass


@pytest.mark.parametrize("name", ["memetic-sh", "asha", "dehb"])
def test_an_hours_budget_resumed_asks_what_the_uninterrupted_study_asked(tmp_path, name):
    """The budget a resumed study tells its strategy leaves out the trials it has not replayed
    yet, their seconds as well as their epochs (before: only their epochs)."""
    one_seed = curve_table_from_frame(curves(np.random.default_rng(5), seeds=1), "c1", "val_accuracy", True)
    options = {"population_size": 4} if name == "memetic-sh" else {}

    def study(path, kill_after=None, seed=0, hours=20 / 3600):
        s = make_strategy(name, one_seed.space, seed=seed, max_epochs=one_seed.epochs, **options)
        objective, executor = Timed(one_seed, seed), InlineExecutor(progress=False)
        executor.start(objective)
        done = []

        def on_trial(t):
            done.append(t)
            if kill_after is not None and len(done) >= kill_after:
                raise Killed

        with Ledger(path) as ledger:
            try:
                run_loop(s, objective, executor, ledger, "s", trials=one_seed.space.size,
                         space_size=one_seed.space.size, spend=Spend(hours=hours),
                         rungs=TableRungs(one_seed.epochs), on_trial=on_trial)
            except Killed:
                pass
            return [k.split("/")[-1] for k in ledger.study_keys("s")]

    for seed in range(3):
        full = study(tmp_path / f"full{seed}.db", seed=seed)
        for k in (2, 4, 6):
            path = tmp_path / f"r{seed}-{k}.db"
            study(path, kill_after=k, seed=seed)
            assert study(path, seed=seed) == full, (seed, k)


@pytest.mark.parametrize("name", ["memetic-sh", "asha", "dehb"])
def test_a_small_hours_budget_still_promotes(table, name):
    """Under an hours budget alone the seconds per epoch are unknown until a trial finishes; the
    first window is then asked one proposal at a time (before: memetic-sh's window of 20 filled
    with first-rung configs that used up 12 pretend seconds, and none was promoted)."""
    for seed in range(3):
        s = make_strategy(name, table.space, seed=seed, max_epochs=EPOCHS)
        objective, ledger, executor = Timed(table, seed), MemoryLedger(), InlineExecutor(progress=False)
        executor.start(objective)
        run_loop(s, objective, executor, ledger, "s", trials=table.space.size, space_size=table.space.size,
                 spend=Spend(hours=12 / 3600), rungs=TableRungs(table.epochs))
        trials = ledger.study_trials("s")
        assert any(t.epochs > 1 for t in trials), (seed, [t.key for t in trials])
        assert owed(s) == []


class Rungs(Strategy):
    """Result-driven: asks the (config index, epochs) rungs of ``plan`` in turn."""

    name = "rungs"

    def __init__(self, space, plan):
        super().__init__(space, 0)
        self.plan, self.told = list(plan), []

    def ask(self, n=1):
        out = []
        while len(out) < n and self.plan:
            i, epochs = self.plan.pop(0)
            out.append(Proposal(self.space.config_at(i), epochs))
        return out

    def tell(self, proposal, score):
        self.told.append((self.space.index_of(proposal.config), proposal.epochs))


def test_a_repeat_of_a_proposal_the_budget_dropped_is_dropped_too(table):
    """A 9-epoch rung under a 5-epoch budget is dropped; its repeat in the same window finds no
    result either (before the fix it waited for ever: the loop asked an idle executor)."""
    for executor in (InlineExecutor(progress=False), SimulatedWorkers(2)):
        s = Rungs(table.space, [(0, 9), (0, 9), (1, 1)])
        objective = CurveObjective(table, 0)
        executor.start(objective)
        counts = run_loop(s, objective, executor, MemoryLedger(), "s", trials=10, space_size=table.space.size,
                          window=4, spend=Spend(epochs=5), rungs=TableRungs(table.epochs))
        assert counts.evaluated == 0 and counts.repeats == 1 and s.told == []


def test_an_hours_budget_with_an_epoch_budget_still_promotes(table):
    """The hours pace is unknown until a trial finishes, whatever else bounds the study."""
    for seed in range(3):
        s = make_strategy("memetic-sh", table.space, seed=seed, max_epochs=EPOCHS)
        objective, ledger, executor = Timed(table, seed), MemoryLedger(), InlineExecutor(progress=False)
        executor.start(objective)
        run_loop(s, objective, executor, ledger, "s", trials=table.space.size, space_size=table.space.size,
                 spend=Spend(epochs=10_000, hours=12 / 3600), rungs=TableRungs(table.epochs))
        assert any(t.epochs > 1 for t in ledger.study_trials("s")), seed
