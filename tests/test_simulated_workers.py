"""Several trials in flight on simulated workers (benchmarks/parallel_workers.py), and memetic-sh's
``fill``: once no new config can start, a free slot goes to the best paused config's promotion, and
while the inner memetic GA's climb waits for results, to its next generation."""
import itertools

import numpy as np
import pandas as pd
import pytest

from studylib.curve_bench import CurveObjective, curve_table_from_frame, run_curve
from studylib.executors import SimulatedWorkers
from studylib.fidelity import FIDELITY
from studylib.strategies import make_strategy

EPOCHS = 9


@pytest.fixture(scope="module")
def table():
    """36 configs, one seed, 9 epochs of rising, noisy accuracy."""
    rng = np.random.default_rng(5)
    rows = []
    for a, b, c in itertools.product([1, 2, 3, 4, 5, 6], ["x", "y", "z"], [0, 1]):
        ceiling = rng.uniform(0.5, 0.95)
        for e in range(1, EPOCHS + 1):
            rows.append({"a": a, "b": b, "c": c, "seed": 0, "epoch": e,
                         "val_accuracy": ceiling * (1 - np.exp(-e / 3)) + rng.normal(0, 0.01)})
    return curve_table_from_frame(pd.DataFrame(rows), "curves", "val_accuracy", True)


def test_simulated_workers_run_each_trial_for_its_epochs_on_a_shared_clock(table):
    ex = SimulatedWorkers(2)
    ex.start(CurveObjective(table, 0))
    c = [table.space.config_at(i) for i in range(3)]
    ex.submit("full", c[0])                                   # 9 epochs: 0 -> 9
    ex.submit("rung", {**c[1], FIDELITY: {"epochs": 3}})      # 3 epochs: 0 -> 3
    with pytest.raises(RuntimeError, match="every worker was busy"):
        ex.submit("third", c[2])
    assert [t.key for t in ex.wait()] == ["rung"] and ex.now == 3
    ex.submit("resumed", {**c[1], FIDELITY: {"epochs": 9, "from": 3}})  # 6 new epochs: 3 -> 9
    assert [t.key for t in ex.wait()] == ["full"] and ex.now == 9  # a tie: the first submitted first
    assert [t.key for t in ex.wait()] == ["resumed"] and ex.now == 9
    assert ex.finished_at == {"rung": 3, "full": 9, "resumed": 9}
    assert ex.utilization() == pytest.approx((9 + 3 + 6) / (2 * 9))


@pytest.mark.parametrize("strategy", ["random", "memetic-sh", "asha", "dehb"])
def test_a_run_on_simulated_workers_spends_the_budget_in_the_order_results_come(table, strategy):
    one = run_curve(table, strategy, seed=1, budget=60)
    four = run_curve(table, strategy, seed=1, budget=60, workers=4)
    assert four["cost"][-1] <= 60
    assert four["time"][-1] >= four["cost"][-1] / 4 and 0 < four["utilization"] <= 1
    assert "time" not in one  # one worker: the curve bench as before
    if strategy == "random":  # its trials do not depend on the workers: the same ones, sooner
        assert sorted(t.key for t in four["trials"]) == sorted(t.key for t in one["trials"])
        assert four["time"][-1] < one["cost"][-1]


def test_fill_needs_asynchronous_promotion(table):
    with pytest.raises(ValueError, match="fill needs promote=async"):
        make_strategy("memetic-sh", table.space, seed=0, max_epochs=EPOCHS, fill=True)


def test_fill_changes_nothing_with_one_proposal_in_flight(table):
    """With one proposal in flight nothing is pending when memetic-sh is asked, so neither of
    fill's parts acts; with a quorum of 30 a rung's first results wait unjudged, so the inner GA's
    climb does wait there, and still nothing changes."""
    for seed in (0, 1, 2):
        default = [t.key for t in run_curve(table, "memetic-sh", seed, 90)["trials"]]
        for extra in ({}, {"quorum": 30}):
            runs = [run_curve(table, "memetic-sh", seed, 90, {**options, **extra}) for options in
                    ({"promote": "async"}, {"promote": "async", "fill": True})]
            keys = [[t.key for t in r["trials"]] for r in runs]
            assert keys[0] == keys[1] and (extra or keys[0] == default)


def test_fill_gives_the_epochs_left_to_paused_configs_on_every_free_worker(table):
    """Four workers, four proposals in flight, a budget larger than the space's first rungs need:
    once every config has started, the budget left goes to the best paused configs; without
    ``fill`` one at a time (the other workers idle), with it on every free worker. The inner
    strategy here is the plain GA, which has no climb to stop waiting for, so this is ``fill``'s
    promotions alone: the same new configs (none displaced), the same budget, the same trials
    again under the same seed, done sooner. With a budget too small for the space (90 epochs) no
    new config can be ruled out before the end, so they change nothing."""
    plain, filled = [], []
    ga = {"promote": "async", "inner": "ga"}
    for seed in range(4):
        a = run_curve(table, "memetic-sh", seed, 150, ga, workers=4, window=4)
        b = run_curve(table, "memetic-sh", seed, 150, {**ga, "fill": True}, workers=4, window=4)
        again = run_curve(table, "memetic-sh", seed, 150, {**ga, "fill": True}, workers=4, window=4)
        assert [t.key for t in again["trials"]] == [t.key for t in b["trials"]]
        first = [{t.metrics["index"] for t in r["trials"] if t.epochs == 1} for r in (a, b)]
        assert first[0] == first[1] and len(first[0]) == table.space.size
        assert b["cost"][-1] == a["cost"][-1] == 150 and b["time"][-1] < a["time"][-1]
        plain.append(a["utilization"])
        filled.append(b["utilization"])
        small = [run_curve(table, "memetic-sh", seed, 90, {**ga, **f}, workers=4, window=4)
                 for f in ({}, {"fill": True})]
        assert [t.key for t in small[0]["trials"]] == [t.key for t in small[1]["trials"]]
    assert np.mean(filled) > np.mean(plain) + 0.1


def test_fill_promotes_no_lower_than_the_promotions_in_flight(table, monkeypatch):
    """``fill``'s promotions (a free slot while results are pending, once no new config can
    start) go to no lower rung than the highest promotion in flight: a config paused at a lower
    rung waits until those results are in (then, with nothing pending, it may go as before). The
    floor acts in these runs (a lower-rung config was passed over) and the budget is still spent."""
    from studylib.strategies.halving import SuccessiveHalving

    calls = []
    unpause = SuccessiveHalving._unpause

    def spy(self, by_rule, floor=0):
        targets = [self.levels.next(p.epochs) for p, _ in self._paused]
        before = len(self._queue)
        queued = unpause(self, by_rule, floor)
        calls.append((by_rule, floor, targets, [q.epochs for q in self._queue[before:]]))
        return queued

    monkeypatch.setattr(SuccessiveHalving, "_unpause", spy)
    for seed in range(4):
        run = run_curve(table, "memetic-sh", seed, 150, {"promote": "async", "inner": "ga", "fill": True},
                        workers=4, window=4)
        assert run["cost"][-1] == 150
    floored = [c for c in calls if not c[0] and c[1] > 0]
    assert floored and all(e >= floor for _, floor, _, got in floored for e in got)
    assert any(min(targets) < floor for _, floor, targets, _ in floored if targets)
    assert any(not by_rule and floor == 0 and got for by_rule, floor, _, got in calls)


@pytest.fixture(scope="module")
def larger():
    """144 configs (the table above times a fourth dimension): the budget below starts about a
    third of them, so new configs keep coming."""
    rng = np.random.default_rng(5)
    rows = []
    for a, b, c, d in itertools.product([1, 2, 3, 4, 5, 6], ["x", "y", "z"], [0, 1], [0, 1, 2, 3]):
        ceiling = rng.uniform(0.5, 0.95)
        for e in range(1, EPOCHS + 1):
            rows.append({"a": a, "b": b, "c": c, "d": d, "seed": 0, "epoch": e,
                         "val_accuracy": ceiling * (1 - np.exp(-e / 3)) + rng.normal(0, 0.01)})
    return curve_table_from_frame(pd.DataFrame(rows), "larger", "val_accuracy", True)


def test_fill_starts_the_inner_gas_next_generation_while_its_climb_waits(larger):
    """With the memetic GA inside, ``fill`` also keeps workers busy while new configs can still
    start: a free slot takes the next generation's children instead of waiting for the climb's
    results. The budget spent (to within a rung's epochs: a rung that no longer fits is not
    started), the same trials again under the same seed, and the workers busier than without."""
    plain, filled = [], []
    for seed in range(4):
        a = run_curve(larger, "memetic-sh", seed, 150, {"promote": "async"}, workers=4, window=4)
        b = run_curve(larger, "memetic-sh", seed, 150, {"promote": "async", "fill": True}, workers=4, window=4)
        again = run_curve(larger, "memetic-sh", seed, 150, {"promote": "async", "fill": True}, workers=4, window=4)
        assert [t.key for t in again["trials"]] == [t.key for t in b["trials"]]
        assert 147 <= b["cost"][-1] <= 150 and 147 <= a["cost"][-1] <= 150
        assert len({t.metrics["index"] for t in b["trials"]}) < larger.space.size / 2
        plain.append(a["utilization"])
        filled.append(b["utilization"])
    assert np.mean(filled) > np.mean(plain) + 0.05, (plain, filled)


def test_parallel_workers_summary_reads_each_run_on_its_clock():
    """``benchmarks/parallel_workers.py``: regret at a time is that of the last result back by
    then (NaN before the first); the time ratio is the time to the reference's final regret / T;
    each row is paired with the default memetic-sh seed by seed (better/worse)."""
    from _scripts import load_script

    script = load_script("parallel_workers")
    run = {"time": np.array([2.0, 5.0, 9.0]), "regret": np.array([0.3, 0.1, 0.0])}
    assert np.isnan(script.regret_at(run, 1.9)) and script.regret_at(run, 5.0) == 0.1
    assert script.time_to(run, 0.1) == 5.0 and script.time_to(run, -1) == np.inf

    def fake(times, regrets, busy=0.5):
        return {"time": np.array(times, float), "regret": np.array(regrets, float), "utilization": busy}

    # budget 40 on 4 workers: T = 10
    base = [fake([5, 20], [0.2, 0.1]), fake([5, 20], [0.2, 0.1]), fake([5, 20], [0.2, 0.1])]
    other = [fake([4, 8, 12], [0.3, 0.05, 0.0]), fake([12, 30], [0.3, 0.2]), fake([9, 15], [0.2, 0.1])]
    runs = ([("t", "memetic-sh", s, r) for s, r in enumerate(base)]
            + [("t", "memetic-sh-fill", s, r) for s, r in enumerate(other)])
    targets = {("t", s): 0.1 for s in range(3)}
    out = script.summarize(runs, targets, {"t": 40}, 4).set_index("strategy")
    row = out.loc["memetic-sh-fill"]
    # at T = 10: 0.05, NaN (nothing back yet), 0.2 against 0.2 each; at the end: 0, 0.2, 0.1 against 0.1
    assert row["better_worse_at_T_than_memetic-sh"] == "1/0"
    assert row["better_worse_end_than_memetic-sh"] == "1/1"
    assert row["regret_at_T"] == pytest.approx(0.125) and row["regret_end"] == 0.1
    assert row["time_ratio"] == pytest.approx(1.5)  # 0.8, inf, 1.5: the median
    assert row.seeds_reaching == 2 and row.finish == pytest.approx(1.5)
    assert out.loc["memetic-sh", "time_ratio"] == pytest.approx(2.0)
