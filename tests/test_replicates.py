"""Replicates: run ``n`` of a config with a seed of its own, charged like a trial; the incumbent
scores the mean of its runs; the memetic GA's ``replicates`` option."""
import math

import numpy as np
import pytest

from studylib import bench
from studylib.executors import InlineExecutor
from studylib.ledger import MemoryLedger
from studylib.loop import run_loop
from studylib.numbers import incumbent_regrets
from studylib.objective import TableObjective, TrainingObjective
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import Replicate, make_strategy
from studylib.strategies.base import Strategy
from studylib.tables import load_table
from studylib.training import Budget

SPACE = SearchSpace(name="rep", dimensions=(make_dimension("x", [1, 2, 3]), make_dimension("op", ["a", "b"])))
SEEDS = {(0, 0): [1.0, 2.0, 3.0], (0, 1): [2.0], (1, 0): [5.0, 5.5], (1, 1): [6.0, 2.0, 1.0],
         (2, 0): [3.0], (2, 1): [4.0, 4.0, 4.0]}


def table():
    return bench.Table.from_dict("rep", SPACE, SEEDS)


def test_runs_of_a_config_draw_seeds_its_earlier_runs_did_not_use():
    t = table()
    for seed in range(20):
        obj = TableObjective(t, seed)
        plain = TableObjective(t, seed)
        c = SPACE.decode((0, 0))
        first = obj.evaluate("k", c).metrics["value"]
        assert first == plain.evaluate("k", c).metrics["value"]  # run 0 draws as before
        runs = [first] + [obj.evaluate("k", {**c, "_fidelity": {"run": r}}).metrics["value"] for r in (1, 2)]
        assert sorted(runs) == [1.0, 2.0, 3.0]  # three runs: the three recorded seeds
        assert obj.evaluate("k", {**c, "_fidelity": {"run": 3}}).metrics["run"] == 3


class Scripted(Strategy):
    """Asks a fixed list of items (configs or Replicates) one at a time and keeps what it is told."""
    name = "scripted"

    def __init__(self, space, seed=0, items=()):
        super().__init__(space, seed)
        self.items, self.told = list(items), []

    def ask(self, n=1):
        out, self.items = self.items[:n], self.items[n:]
        return out

    def tell(self, item, score):
        self.told.append((item, score))


def run(strategy, t, seed=0, trials=120):
    """A study of ``strategy`` on table ``t``, one trial at a time: (counts, its trials, the objective)."""
    obj, ex, ledger = TableObjective(t, seed), InlineExecutor(progress=False), MemoryLedger()
    ex.start(obj)
    counts = run_loop(strategy, obj, ex, ledger, "s", trials=trials, space_size=t.space.size, window=1,
                      max_idle=None)
    ex.shutdown()
    return counts, ledger.study_trials("s"), obj


def test_a_replicate_is_charged_counted_in_the_trial_cap_and_told_back():
    t = table()
    a, b, c = SPACE.decode((0, 0)), SPACE.decode((1, 1)), SPACE.decode((2, 1))
    s = Scripted(SPACE, items=[a, Replicate(a, 1), Replicate(a, 1), b, c])
    counts, trials, obj = run(s, t, trials=3)
    assert (counts.evaluated, counts.repeats) == (3, 1)  # the repeated replicate is served from the ledger
    assert [tr.key for tr in trials] == [obj.key(a), obj.key(a) + "-r1", obj.key(b)]
    assert s.items == [c]  # a, its replicate and b fill the cap of 3
    assert trials[1].metrics["run"] == 1 and trials[0].metrics["value"] != trials[1].metrics["value"]
    assert isinstance(s.told[1][0], Replicate) and s.told[1][1] == trials[1].metrics["value"]
    assert s.told[2] == (Replicate(a, 1), trials[1].metrics["value"])


def test_the_incumbent_scores_the_mean_of_its_runs():
    regret = {1: 0.1, 2: 0.2, 3: 0.3}.get
    # config 1 draws 0.9, then 0.5 (mean 0.7 < config 2's 0.8): config 2 takes over
    assert incumbent_regrets([(0, 0.9, 1), (0, 0.8, 2), (0, 0.5, 1)], regret) == [0.1, 0.1, 0.2]
    # without replicates: the best observed, ties to the first
    assert incumbent_regrets([(0, 0.5, 3), (0, 0.5, 1), (0, 0.7, 2)], regret) == [0.3, 0.3, 0.2]
    # equal means tie exactly (no rounding of 0.1 + 0.1 + 0.1); a non-finite run never wins
    assert incumbent_regrets([(0, 0.1, 1), (0, 0.1, 2), (0, 0.1, 2), (0, 0.1, 2)], regret) == [0.1] * 4
    assert incumbent_regrets([(1, 5.0, 1), (2, float("nan"), 2), (2, float("nan"), 2)], regret) == [0.1] * 3
    # before the first finite score there is no incumbent (not the table's last config): NaN
    nan_first = incumbent_regrets([(0, float("nan"), 2), (0, -math.inf, 3), (0, 0.5, 1)], regret)
    assert [math.isnan(v) for v in nan_first] == [True, True, False] and nan_first[2] == 0.1
    # a higher fidelity starts over; its runs are averaged among themselves only

    assert incumbent_regrets([(1, 0.9, 1), (3, 0.4, 3), (3, 0.6, 2), (3, 0.9, 3)], regret) == [0.1, 0.3, 0.2, 0.3]


def test_once_a_config_is_replicated_every_config_is_ranked_by_its_mean_less_one_standard_error():
    regret = {1: 0.3, 2: 0.2, 3: 0.1, 4: 0.4}.get
    # config 2 draws 0.9, 0.8, 0.85 (mean 0.85, sd 0.05); config 1 one lucky 0.86 > 0.85: ranked by
    # 0.86 - 0.05 = 0.81 against 0.85 - 0.05 / sqrt(3) = 0.821, config 2 stays (by means alone config
    # 1 would take over at trial 3). A single draw clearly better still wins: config 3's 0.875 - 0.05.
    trials = [(0, 0.9, 2), (0, 0.86, 1), (0, 0.8, 2), (0, 0.85, 2), (0, 0.875, 3), (0, 0.86, 4)]
    assert incumbent_regrets(trials, regret) == [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]
    # sigma pools the spread of all replicated configs: config 4's wild pair (0.9, 0.3) makes it 0.245,
    # so config 3's single 0.9 (0.655) no longer beats config 2's 0.86, 0.87 (0.865 - 0.173 = 0.692)
    trials = [(0, 0.85, 1), (0, 0.86, 1), (0, 0.86, 2), (0, 0.87, 2), (0, 0.9, 4), (0, 0.3, 4), (0, 0.9, 3)]
    assert incumbent_regrets(trials, regret)[-1] == 0.2
    assert incumbent_regrets(trials[:4] + trials[6:], regret)[-1] == 0.1  # without config 4: sigma 0.007

    # runs that are all equal give sigma 0: plain means, ties to the config observed first
    assert incumbent_regrets([(0, 0.1, 3), (0, 0.1, 2), (0, 0.1, 2), (0, 0.1, 2), (0, 0.1, 1)], regret) == [0.1] * 5
    # a failed run: that config never wins again, and the next finite draw takes over
    nan, inf = float("nan"), float("inf")
    assert incumbent_regrets([(0, 0.9, 1), (0, nan, 1), (0, 0.8, 2)], regret) == [0.3, 0.3, 0.2]
    assert incumbent_regrets([(0, 0.5, 1), (0, inf, 2), (0, 0.6, 1), (0, 0.1, 3)], regret) == [0.3] * 4


def test_memetic_replicates_the_best_by_mean_within_its_share():
    t = load_table("hpolib-naval")
    for seed in (0, 1):
        s = make_strategy("memetic", t.space, seed=seed, replicates=3, replicate_share=0.2)
        counts, trials, _ = run(s, t, seed)
        runs = [tr for tr in trials if tr.metrics.get("run")]
        assert 0 < len(runs) == s.replicated <= 0.2 * len(trials) + 1
        assert counts.evaluated == len(trials) == 120
        for g, scores in s.runs.items():
            assert len(scores) <= 3 and s.archive.known[g] == sum(scores) / len(scores)
        again = make_strategy("memetic", t.space, seed=seed, replicates=3, replicate_share=0.2)
        assert [tr.key for tr in run(again, t, seed)[1]] == [tr.key for tr in trials]
    default = run(make_strategy("memetic", t.space, seed=0), t, 0)[1]
    assert [tr.key for tr in default] == [tr.key for tr in run(
        make_strategy("memetic", t.space, seed=0, replicates=3, replicate_share=0.2), t, 0)[1]]
    off = run(make_strategy("memetic-no-replicates", t.space, seed=0), t, 0)[1]
    assert [tr.key for tr in off] == [tr.key for tr in run(
        make_strategy("memetic", t.space, seed=0, replicates=1), t, 0)[1]]
    assert not any("-r" in tr.key for tr in off) and any("-r" in tr.key for tr in default)


def test_a_cnn_replicate_trains_with_a_seed_of_its_own():
    from studylib.data import load_dataset
    from studylib.space_file import load_space

    data = load_dataset("synthetic")
    obj = TrainingObjective(data, Budget(1, 1), 5)
    config = load_space("round1").decode((0,) * len(load_space("round1").dimensions))
    first = obj.evaluate("k", config)
    rep = obj.evaluate("k-r1", {**config, "_fidelity": {"run": 1}})
    assert (first.seed, rep.seed, rep.metrics["run"]) == (5, 5, 1) and "run" not in first.metrics
    assert rep.curve != first.curve  # trained with another seed
    assert obj.evaluate("k", config).curve == first.curve


def curve_study(tmp_path, items, budget):
    """A budgeted study of scripted ``items`` on a 3-config, 4-epoch learning-curve table (SQLite
    ledger in ``tmp_path``): (counts, its keys' last parts, the spend, its trials frame)."""
    from studylib.curve_bench import CurveObjective, CurveTable, TableRungs
    from studylib.fidelity import Spend
    from studylib.ledger import Ledger
    from studylib.tables import Table

    space = SearchSpace(name="c", dimensions=(make_dimension("x", [1, 2, 3]),))
    values = np.random.default_rng(0).random((3, 3, 4)).cumsum(axis=2)
    curves = CurveTable("c", values, Table("c", space, values[:, :, -1], np.array([3, 3, 3])))
    ledger, obj, ex = Ledger(tmp_path / "l.db"), CurveObjective(curves, 0), InlineExecutor(progress=False)
    ex.start(obj)
    spend = Spend(epochs=budget)
    counts = run_loop(Scripted(space, items=[space.decode(g) if isinstance(g, tuple) else g for g in items]),
                      obj, ex, ledger, "st", trials=10, space_size=3, window=1, max_idle=None, spend=spend,
                      rungs=TableRungs(4))
    ex.shutdown()
    keys, frame = [k.split("/")[-1] for k in ledger.study_keys("st")], ledger.frame("st")
    ledger.close()
    return counts, keys, spend, frame


def test_a_capped_replicate_is_served_back_when_a_budgeted_study_resumes(tmp_path):
    """Run 1 gives a replicate the 2 epochs left; a re-run with a larger budget serves that capped
    trial (as for a plain config) instead of training the replicate again."""
    a = {"x": 1}
    items = [(0,), Replicate(a, 1), (1,)]
    assert curve_study(tmp_path, items, 6)[1] == ["0", "0-r1-m2"]
    counts, keys, spend, _ = curve_study(tmp_path, items, 12)
    assert keys == ["0", "0-r1-m2", "1"] and counts.evaluated == 1 and counts.served == 2
    assert spend.spent_epochs == 10 and not spend.unserved


def test_a_replicate_of_a_capped_first_run_names_that_run_and_trains_in_full(tmp_path):
    from studylib.numbers import runs_averaged

    b = {"x": 2}
    items = [(0,), b, Replicate(b, 1)]
    assert curve_study(tmp_path, items, 6)[1] == ["0", "1-m2"]
    counts, keys, spend, frame = curve_study(tmp_path, items, 12)
    assert keys == ["0", "1-m2", "1-r1"] and spend.spent_epochs == 10
    rep = frame[frame.key.str.endswith("1-r1")].iloc[0]
    assert rep["run_of"].endswith("/1-m2") and rep["epochs"] == 4
    folded = runs_averaged(frame.assign(best_acc=[0.5, 0.25, 0.75]))
    assert folded.key.str.endswith("1-m2").sum() == 1 and folded.runs.tolist() == [1, 2]
    assert folded.best_acc.tolist() == [0.5, 0.5]


def test_memetic_sh_refuses_a_replicating_inner_strategy():
    with pytest.raises(ValueError, match="cannot replicate"):
        make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, replicates=3)


def test_reports_count_a_replicated_config_once_by_the_benchmarks_rule():
    """A replicated config counts once, by its mean; the best config is the benchmark's incumbent:
    the best mean less one standard error, so one lucky run counts for less than a mean of three."""
    import pandas as pd

    from studylib.numbers import best_config, runs_averaged
    from studylib.report.rounds import best_by_seed

    frame = pd.DataFrame({
        "trial": [1, 2, 3, 4], "key": ["a", "b", "a-r1", "a-r2"], "seed": 0, "status": "ok",
        "best_acc": [0.80, 0.85, 0.95, 0.71], "test_acc": [0.78, 0.84, 0.90, 0.72],
        "run": [None, None, 1, 2], "run_of": [None, None, "a", "a"]})
    folded = runs_averaged(frame)
    assert list(folded.key) == ["a", "b"] and list(folded.runs) == [3, 1]
    assert folded.best_acc.tolist() == pytest.approx([(0.80 + 0.95 + 0.71) / 3, 0.85])
    sigma = np.std([0.80, 0.95, 0.71], ddof=1)  # pooled over the one replicated config: 0.121
    assert (0.82 - sigma / np.sqrt(3)) > (0.85 - sigma)  # a: 0.750, b: 0.729
    assert best_by_seed(frame).key.tolist() == ["a"]
    assert best_by_seed(frame.assign(best_acc=[0.80, 0.95, 0.95, 0.71])).key.tolist() == ["b"]  # 0.829 > 0.750
    assert best_by_seed(frame[frame.run.isna()]).key.tolist() == ["b"]  # no replicate: the best run
    two = pd.concat([frame, frame.assign(seed=1, best_acc=[0.9, 0.1, 0.9, 0.9])])
    assert best_by_seed(two)[["seed", "key"]].values.tolist() == [[0, "a"], [1, "a"]]
    # two studies in one frame (a folder's trials.csv): each config is its own study's
    both = pd.concat([frame.assign(study_id="s1"), frame.assign(study_id="s2", best_acc=[0.9, 0.1, 0.9, 0.9])])
    best = best_config(both)
    assert (best.study_id, best.key, best.runs) == ("s2", "a", 3) and best.best_acc == pytest.approx(0.9)
    # a config whose first run failed is not named, whatever its replicates scored
    assert best_config(frame.assign(status=["failed", "ok", "ok", "ok"])).key == "b"
    failed = frame.assign(status=["ok", "ok", "failed", "ok"])
    assert runs_averaged(failed).best_acc[0] == pytest.approx((0.80 + 0.71) / 2)
    plain = frame[frame.run.isna()].drop(columns=["run", "run_of"])
    assert runs_averaged(plain) is plain


def test_export_table_keeps_a_replicate_curve_under_the_seed_it_trained_with(tmp_path):
    from studylib.export_table import learning_curves
    from studylib.fidelity import training_seed
    from studylib.ledger import Ledger
    from studylib.trial import Trial

    curve = {"val_accuracy": [0.4, 0.5], "accuracy": [0.3, 0.6]}
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.record(Trial("k", {"x": 1}, curve=curve, epochs=2, seed=3, metrics={"best_acc": 0.5}))
        ledger.record(Trial("k-r1", {"x": 1}, curve={"val_accuracy": [0.6, 0.7], "accuracy": [0.5, 0.8]},
                            epochs=2, seed=3, metrics={"best_acc": 0.7, "run": 1, "run_of": "k"}))
    frame = learning_curves(tmp_path)
    assert sorted(frame.seed.unique()) == [3, training_seed(3, 1)] and len(frame) == 4
    assert frame[frame.seed == 3].val_accuracy.tolist() == [0.4, 0.5]


def test_the_cli_says_when_the_best_is_a_mean_of_runs():
    import pandas as pd

    from studylib.cli import best_text
    from studylib.numbers import runs_averaged
    from studylib.space_file import load_space

    round1 = load_space("round1")
    frame = pd.DataFrame({"trial": [1, 2, 3], "key": ["a", "b", "a-r1"], "seed": 0, "status": "ok",
                          "best_acc": [0.9, 0.5, 0.8], "test_acc": [0.7, 0.5, 0.9],
                          "run": [None, None, 1], "run_of": [None, None, "a"]})
    folded = runs_averaged(frame)
    assert best_text(folded.iloc[0], frame, round1).endswith(
        "best validation accuracy (mean of 2 runs): 0.8500 (test 0.8000)")
    assert best_text(folded.iloc[1], frame, round1).endswith("best validation accuracy: 0.5000 (test 0.5000)")
