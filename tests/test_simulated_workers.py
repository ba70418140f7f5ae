"""Several trials in flight on simulated workers (benchmarks/parallel_workers.py), and memetic-sh's
``fill``: once no new config fits, a free slot goes to the best paused config's promotion."""
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
    assert four["cost"][-1] <= 60 and np.all(np.diff(four["time"]) >= 0)
    assert four["time"][-1] >= four["cost"][-1] / 4 and 0 < four["utilization"] <= 1
    assert "time" not in one  # one worker: the curve bench as before
    if strategy == "random":  # its trials do not depend on the workers: the same ones, sooner
        assert sorted(t.key for t in four["trials"]) == sorted(t.key for t in one["trials"])
        assert four["time"][-1] < one["cost"][-1]


def test_fill_needs_asynchronous_promotion(table):
    with pytest.raises(ValueError, match="fill needs promote=async"):
        make_strategy("memetic-sh", table.space, seed=0, max_epochs=EPOCHS, fill=True)


def test_fill_changes_nothing_with_one_proposal_in_flight(table):
    for seed in (0, 1, 2):
        runs = [run_curve(table, "memetic-sh", seed, 90, options) for options in
                ({"promote": "async"}, {"promote": "async", "fill": True}, None)]
        keys = [[t.key for t in r["trials"]] for r in runs]
        assert keys[0] == keys[1] == keys[2]


def test_fill_gives_the_epochs_left_to_paused_configs_on_every_free_worker(table):
    """Four workers, four proposals in flight: once no new config fits, the budget left goes to the
    best paused configs; without ``fill`` one at a time (the other workers idle), with it on every
    free worker. Same budget, the same trials again under the same seed, done sooner."""
    plain, filled = [], []
    for seed in range(4):
        a = run_curve(table, "memetic-sh", seed, 90, {"promote": "async"}, workers=4, window=4)
        b = run_curve(table, "memetic-sh", seed, 90, {"promote": "async", "fill": True}, workers=4, window=4)
        again = run_curve(table, "memetic-sh", seed, 90, {"promote": "async", "fill": True}, workers=4, window=4)
        assert [t.key for t in again["trials"]] == [t.key for t in b["trials"]]
        assert b["cost"][-1] <= 90 and b["time"][-1] < a["time"][-1]
        plain.append(a["utilization"])
        filled.append(b["utilization"])
    assert np.mean(filled) > np.mean(plain) + 0.1


def test_parallel_workers_summary_reads_each_run_on_its_clock(table):
    """``benchmarks/parallel_workers.py``: regret at a time is that of the last result back by
    then (NaN before the first), the time ratio counts from random search's final regret, and each
    row is paired with the default memetic-sh seed by seed."""
    from _scripts import load_script

    script = load_script("parallel_workers")
    run = {"time": np.array([2.0, 5.0, 9.0]), "regret": np.array([0.3, 0.1, 0.0])}
    assert np.isnan(script.regret_at(run, 1.9)) and script.regret_at(run, 5.0) == 0.1
    assert script.time_to(run, 0.1) == 5.0 and script.time_to(run, -1) == np.inf
    budget, seeds = 60, range(3)
    runs = []
    for label in ("memetic-sh", "memetic-sh-fill"):
        strategy, options = script.STRATEGIES[label]
        window = 4 if label in script.WINDOW_IS_WORKERS else None
        for s in seeds:
            r = run_curve(table, strategy, s, budget, options, workers=4, window=window)
            runs.append((table.name, label, s, {k: r[k] for k in ("time", "regret", "utilization")}))
    targets = {(table.name, s): 0.05 for s in seeds}
    out = script.summarize(runs, targets, {table.name: budget}, 4).set_index("strategy")
    T = budget / 4
    fill = [r for _, label, _, r in runs if label == "memetic-sh-fill"]
    assert out.loc["memetic-sh-fill", "regret_end"] == np.median([r["regret"][-1] for r in fill])
    assert out.loc["memetic-sh-fill", "finish"] == np.median([r["time"][-1] / T for r in fill])
    assert out.loc["memetic-sh", "better_worse_end_than_memetic-sh"] == "0/0"
    assert (out.seeds == 3).all() and (out.utilization <= 1).all()
