"""Learning-curve tables (studylib bench --fidelity epoch): epoch budgets, rungs, the cost column, regret."""
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from studylib import cli, provenance
from studylib.curve_bench import curve_table_from_frame, run_curve

EPOCHS = 9


def curves(rng, seeds=2):
    """12 configs x ``seeds`` seeds x 9 epochs of rising, noisy accuracy; configs differ in their ceiling."""
    rows = []
    for a, b in itertools.product([1, 2, 3, 4], ["x", "y", "z"]):
        ceiling = rng.uniform(0.5, 0.95)
        for s in range(seeds):
            for e in range(1, EPOCHS + 1):
                rows.append({"a": a, "b": b, "seed": 10 + s, "epoch": e,
                             "val_accuracy": ceiling * (1 - np.exp(-e / 3)) + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def frame():
    return curves(np.random.default_rng(0))


@pytest.fixture(scope="module")
def table(frame):
    shuffled = frame.iloc[np.random.default_rng(1).permutation(len(frame))]  # row order must not matter
    return curve_table_from_frame(shuffled, "curves", "val_accuracy", True)


def value(frame, config, seed_rank, epoch):
    seeds = sorted(frame.seed.unique())
    row = frame[(frame.a == config["a"]) & (frame.b == config["b"]) & (frame.seed == seeds[seed_rank])
                & (frame.epoch == epoch)]
    return float(row.val_accuracy.iloc[0])


@pytest.mark.parametrize("strategy", ["random", "memetic", "memetic-sh", "tpe-hb", "asha", "dehb"])
@pytest.mark.parametrize("budget", [20, 41])
def test_epochs_are_charged_exactly_and_never_over_budget(frame, table, strategy, budget):
    r = run_curve(table, strategy, seed=3, budget=budget)
    trials = r["trials"]
    assert trials and r["cost"][-1] <= budget
    reached: dict[int, int] = {}
    drawn: dict[int, float] = {}
    for t, cost_before, cost in zip(trials, [0, *r["cost"][:-1]], r["cost"]):
        idx, e = t.metrics["index"], t.epochs
        before = reached.get(idx, 0)
        assert e > before
        if "rung" in t.metrics:  # continuing a config from its last rung costs only the new epochs
            assert cost - cost_before == e - before
        else:  # full fidelity: all epochs, or (the last trial) the epochs left
            assert e == EPOCHS or (t is trials[-1] and e == budget - cost_before)
            assert cost - cost_before == e
        reached[idx] = e
        # the value read is the table's at that epoch, for one seed per config for all its rungs
        ranks = [k for k in range(2) if value(frame, t.config, k, e) == pytest.approx(t.metrics["value"], abs=1e-12)]
        assert len(ranks) == 1
        assert drawn.setdefault(idx, ranks[0]) == ranks[0]
    if strategy in ("random", "memetic"):
        assert all("rung" not in t.metrics for t in trials)
    else:
        assert min(t.epochs for t in trials) < EPOCHS  # they do use low fidelities


def test_regret_is_the_incumbent_at_the_highest_fidelity_reached(frame, table):
    finals = frame[frame.epoch == EPOCHS].groupby(["a", "b"]).val_accuracy.mean()
    r = run_curve(table, "asha", seed=0, budget=60)
    top, best, incumbent = 0, -np.inf, None
    for t, regret in zip(r["trials"], r["regret"]):
        if t.epochs > top:
            top, best = t.epochs, -np.inf
        if t.epochs == top and t.metrics["value"] > best:
            best, incumbent = t.metrics["value"], (t.config["a"], t.config["b"])
        assert regret == pytest.approx(finals.max() - finals[incumbent], abs=1e-12)
    assert top == EPOCHS


def test_merge_ties_joins_means_within_a_part_in_a_million_of_a_runs_smallest():
    from studylib.tables import merge_ties

    means = np.array([0.5, 1.0 + 0.6e-6, 1.0, 1.0 + 1.2e-6, 0.98, np.nan])
    out = merge_ties(means, 1e-6)
    # 1.0 and 1.0000006 are one value (the larger); 1.0000012 is more than 1e-6 above the run's
    # smallest, so it starts a run of its own (no chaining); the rest are unchanged
    assert out[[0, 4]].tolist() == [0.5, 0.98] and np.isnan(out[5])
    assert out[1] == out[2] == 1.0 + 0.6e-6 and out[3] == 1.0 + 1.2e-6
    assert merge_ties(means, 0.0) is means


def test_float32_logged_curves_that_tie_in_images_right_have_equal_regret():
    # 287 validation images, two seeds: config p gets 285 and 281 right, q 283 and 283 (the same
    # mean accuracy); float32 logs make their means differ by 3e-8 (as curves-a's two best configs)
    rows = []
    for c, rights in {"p": (285, 281), "q": (283, 283), "r": (281, 281)}.items():
        for s, k in enumerate(rights):
            for e in (1, 2):
                rows.append({"c": c, "seed": s, "epoch": e, "val_accuracy": float(np.float32(k / 287)) - (e == 1) * 0.1})
    frame = pd.DataFrame(rows)
    plain = frame[frame.epoch == 2].groupby("c").val_accuracy.mean()
    assert plain["p"] != plain["q"] and abs(plain["p"] - plain["q"]) < 1e-7
    t = curve_table_from_frame(frame, "f32", "val_accuracy", True)
    i = {c: t.space.index_of({"c": c}) for c in "pqr"}
    assert t.final.regret(i["p"]) == t.final.regret(i["q"]) == 0.0
    assert t.final.regret(i["r"]) == pytest.approx(2 / 287)


def test_a_budget_above_the_whole_table_is_noted(tmp_path, capsys):
    path = tmp_path / "curves.csv"
    curves(np.random.default_rng(2)).to_csv(path, index=False)  # 12 configs x 9 epochs
    rc = cli.main(["bench", "--table", str(path), "--fidelity", "epoch", "--metric", "val_accuracy",
                   "--direction", "maximize", "--strategies", "random", "--seeds", "1", "--budget-epochs", "200",
                   "--workers", "1", "--no-progress", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 0 and err == ("studylib: note: table curves holds 12 configs x 9 epochs = 108 epochs, fewer than "
                               "--budget-epochs 200: a run ends once its strategy has trained what it will, and "
                               "regret@200 holds its last regret\n")


def test_bench_cli_writes_a_cost_column(tmp_path, capsys):
    path = tmp_path / "curves.csv"
    curves(np.random.default_rng(2)).to_csv(path, index=False)
    rc = cli.main(["bench", "--table", str(path), "--fidelity", "epoch", "--metric", "val_accuracy",
                   "--direction", "maximize", "--strategies", "random,memetic-sh,dehb", "--seeds", "2",
                   "--budget-epochs", "30", "--workers", "1", "--out", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "epochs by which half the seeds reach random's median regret at 30" in out and "evaluations" not in out
    df = pd.read_csv(tmp_path / "b" / "bench.csv")
    assert set(df.strategy) == {"random", "memetic-sh", "dehb"}
    assert list(df.columns) == ["table", "strategy", "seed", "evaluation", "cost", "regret"]
    for _, run in df.groupby(["strategy", "seed"]):
        assert run.evaluation.tolist() == list(range(1, len(run) + 1))
        assert (np.diff(run.cost) > 0).all() and run.cost.max() <= 30
    random = df[df.strategy == "random"]
    assert set(random.groupby("seed").cost.max()) == {30}  # 3 full trials of 9 epochs, then 3 epochs
    summary = pd.read_csv(tmp_path / "b" / "bench_summary.csv")
    assert "regret@30" in summary.columns
    stamp = json.loads((tmp_path / "b" / "bench.provenance.json").read_text())
    assert stamp["protocol_code"] == provenance.fingerprint(protocol=provenance.CURVE_PROTOCOL) != provenance.fingerprint()
    assert stamp["strategy_code"]["dehb"] == provenance.fingerprint("dehb", protocol=provenance.CURVE_PROTOCOL)


@pytest.mark.parametrize("case,message", [
    ("missing epoch", "lack epochs 1..9, e.g. a=1, b='x', seed=10: missing epoch 5"),
    ("no epoch column", "needs an 'epoch' column"),
    ("bad epoch", "column 'epoch' must hold whole numbers >= 1"),
    ("huge epoch", "column 'epoch' holds 1e+09, more than the file's 216 rows: every curve needs a row for each "
                   "epoch from 1 to its last"),  # not a set of a billion epochs to name the missing ones
    ("metric before epoch", "the --metric column 'val_accuracy' must come after 'epoch'"),
    ("built-in", "--fidelity epoch needs table files"),
    ("no fidelity", "need --fidelity epoch"),
    ("budget below the top rung", "budget-epochs 8 is below asha's top rung on c (9 epochs, the table's last)"),
    ("empty metric cell", "metric 'val_accuracy' is empty, NaN or infinite in 1 row (first in data row 21)"),
    ("empty hyperparameter cell", "column 'b' has 1 empty cell (first in data row 31)"),  # not "missing epoch"
    ("missing combination", "(hyperparameters read: a, b; every column left of 'epoch' but 'seed' is one)"),
    ("another suffix", "c.txt: not a built-in table, and a table file must end in .csv or .parquet"),  # not "needs table files"
])
def test_bad_inputs_are_one_line_exit_2_nothing_written(tmp_path, capsys, case, message):
    data = curves(np.random.default_rng(4))
    table, fidelity, strategies = str(tmp_path / "c.csv"), ["--fidelity", "epoch"], "random"
    if case == "missing epoch":
        data = data.drop(data.index[4])
    elif case == "no epoch column":
        data = data.drop(columns="epoch")
    elif case == "bad epoch":
        data.loc[3, "epoch"] = 0
    elif case == "huge epoch":
        data.loc[3, "epoch"] = 10 ** 9
    elif case == "metric before epoch":
        data = data[["a", "b", "seed", "val_accuracy", "epoch"]]
    elif case == "built-in":
        table = "hpobench-car"
    elif case == "empty metric cell":  # the file's row, not the curve's number
        data.loc[20, "val_accuracy"] = np.nan
    elif case == "empty hyperparameter cell":
        data.loc[30, "b"] = np.nan
    elif case == "missing combination":
        data = data[(data.a != data.a.iloc[0]) | (data.b != data.b.iloc[0])]
    elif case == "another suffix":
        pass  # written below, as c.txt
    elif case == "budget below the top rung":  # random would run; asha could start no config
        fidelity, strategies = [*fidelity, "--budget-epochs", "8"], "random,asha"
    else:
        fidelity, strategies = [], "memetic-sh"
    data.to_csv(tmp_path / "c.csv", index=False)
    if case == "another suffix":
        table = str(tmp_path / "c.txt")
        data.to_csv(table, index=False)
    argv = ["bench", "--table", table, *fidelity, "--strategies", strategies, "--seeds", "1",
            "--workers", "1", "--out", str(tmp_path / "out")]
    if case != "built-in":
        argv += ["--metric", "val_accuracy", "--direction", "maximize"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_no_regret_before_the_first_paid_trial_in_bench_and_curve_compare_alike(table):
    """One early-regret rule: ``bench --fidelity epoch`` and benchmarks/curve_compare.py read a
    run's regret after c epochs from the trials paid within c, and have none (NaN) before."""
    from _scripts import load_script

    from studylib.curve_bench import run_curves

    budget = 20 * EPOCHS  # curve_compare's budget: 20 full trainings
    _, grid = run_curves([table], ["random", "memetic-sh"], seeds=2, budget=budget, workers=1)
    random = grid[grid.strategy == "random"]
    assert random[random.evaluation < EPOCHS].regret.isna().all()  # its first trial costs 9 epochs
    assert random[random.evaluation >= EPOCHS].regret.notna().all()
    sh = grid[grid.strategy == "memetic-sh"]
    assert sh[sh.evaluation == 1].regret.notna().all()  # its first rung is paid after 1 epoch

    cc = load_script("curve_compare")
    jobs = [(table, s, s, seed, None) for s in ("random", "memetic-sh") for seed in range(2)]
    theirs = cc.run_all(jobs, workers=1).rename(columns={"epochs": "evaluation"})
    key = ["strategy", "seed", "evaluation"]
    ours = grid.sort_values(key).reset_index(drop=True)
    theirs = theirs.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[key + ["regret"]], theirs[key + ["regret"]], check_dtype=False)


def test_curve_compare_selection_rounds_run_with_the_options_they_ran_with():
    """quorum and reconsider became memetic-sh's defaults after round 3: a round re-run today gives
    every candidate that does not name them the values it had then (quorum 1, retiring)."""
    from _scripts import load_script

    cc = load_script("curve_compare")
    for n, (candidates, _) in cc.ROUNDS.items():
        raw = {1: cc.CANDIDATES, 2: cc.CANDIDATES_ROUND2, 3: cc.CANDIDATES_ROUND3, 4: cc.CANDIDATES_ROUND4,
               5: cc.CANDIDATES_ROUND5, 6: cc.CANDIDATES_ROUND6}[n]
        assert list(candidates) == list(raw)
        for label, options in candidates.items():
            assert options["quorum"] == raw[label].get("quorum", 1)
            assert options["reconsider"] == raw[label].get("reconsider", False)
            assert options["init"] == raw[label].get("init", "lhs")  # the population before round 5
            assert options["population_size"] == raw[label].get("population_size", 10)
    assert cc.ROUNDS[3][0]["eta3-3rungs-q9-reconsider"]["reconsider"] is True
    for n in (4, 5):
        assert all(o["quorum"] == 9 and o["reconsider"] is True for o in cc.ROUNDS[n][0].values())  # today's
    assert all(o["quorum"] == 9 and (o["population_size"], o["init"]) == (20, "random")
               for o in cc.ROUNDS[6][0].values())  # round 5's population in every round-6 candidate


def test_curve_compare_independent_reference_shares_no_draws_with_the_run(table):
    """``ratio_indep`` reads random search of another seed: a run that repeats random search's
    draws (random search itself) reaches random's final regret of its own seed by construction
    (its own last improvement), but not that of the independent reference."""
    from _scripts import load_script

    cc = load_script("curve_compare")
    seeds = range(6)
    jobs = [(table, "random", "random", s, None) for s in seeds] + cc.reference_jobs([table], seeds)
    grid, ref = cc.split_reference(cc.run_all(jobs, workers=1))
    assert set(grid.strategy) == {"random"} and sorted(ref.seed.unique()) == list(seeds)
    own = grid[grid.epochs == grid.epochs.max()].set_index("seed").regret
    other = ref[ref.epochs == ref.epochs.max()].set_index("seed").regret
    assert not np.allclose(own.to_numpy(), other.to_numpy())  # other configs, other noise
    row = cc.summarize(grid, grid, None, ref).iloc[0]
    assert row.seeds_reaching == len(seeds)  # against itself every seed gets there
    coupled, indep = cc.ratios(grid, grid), cc.ratios(grid, ref)
    assert (coupled <= 1).all() and not coupled.equals(indep)
    assert row.ratio == float(np.median(coupled)) and row.ratio_indep == float(np.median(indep))
    assert row.seeds_reaching_indep == int(np.isfinite(indep).sum())


def test_curve_compare_rule_from_round_6_reads_the_goal_first():
    """Rounds 1-5 choose the smallest ratio; from round 6, of the candidates that meet the goal's
    ratio, the smallest mean regret (then the ratio; a tie keeps the default; a vetoed candidate is
    out; if none meets the goal, the earlier rule)."""
    from _scripts import load_script

    cc = load_script("curve_compare")
    both = pd.DataFrame({"ratio": [0.18, 0.12, 0.25, 0.18], "mean_regret": [0.004, 0.006, 0.001, 0.004]},
                        index=pd.Index(["default", "fast", "slow-low-regret", "same"], name="strategy"))
    assert cc.choose(both, set(), "default") == "fast"
    assert cc.choose(both, set(), "default", goal_first=True) == "default"  # ties "same"; 0.25 misses the goal
    assert cc.choose(both, {"default"}, "default", goal_first=True) == "same"
    assert cc.choose(both.assign(ratio=both.ratio + 0.5), set(), "default", goal_first=True) == "fast"
    assert cc.choose(both, set(both.index), "default") is None


def test_curve_compare_regret_area_is_a_runs_mean_regret_from_a_ninth_of_the_budget(table):
    """``regret_area``: per seed the mean of the regret on the epoch grid from budget/9 to the
    budget, its median over seeds in the summary, compared paired with the proposal's."""
    from _scripts import load_script

    cc = load_script("curve_compare")
    jobs = [(table, s, s, seed, None) for s in ("random", "memetic-sh") for seed in range(4)]
    grid = cc.run_all(jobs, workers=1)
    budget = 20 * EPOCHS
    sh = grid[grid.strategy == "memetic-sh"]
    area = cc.regret_area(sh)
    for seed in range(4):
        run = sh[sh.seed == seed].set_index("epochs").regret
        assert area[seed] == pytest.approx(run.loc[budget // 9: budget].mean())
        assert area[seed] != pytest.approx(run.mean())  # the span starts at budget/9, not at epoch 1
    out = cc.summarize(grid, grid[grid.strategy == "random"], "memetic-sh").set_index("strategy")
    assert out.loc["memetic-sh", "regret_area"] == pytest.approx(float(np.median(area)))
    rnd = cc.regret_area(grid[grid.strategy == "random"])
    d = area - rnd
    assert out.loc["random", "sh_better/worse@area"] == f"{int((d < 0).sum())}/{int((d > 0).sum())}"
    from scipy.stats import wilcoxon

    assert out.loc["random", "p@area"] == pytest.approx(wilcoxon(area, rnd).pvalue)
    assert cc.compare_csv(["curves-a", "curves-b"]) == "curve_compare.csv"
    assert cc.compare_csv(["curves-c"]) == "curve_compare_c.csv"  # another table: another file
    late = sh.assign(regret=sh.regret.where((sh.seed != 0) | (sh.epochs > budget // 9)))
    assert np.isnan(cc.regret_area(late)[0])  # seed 0 has no regret yet at budget/9: none
    assert cc.regret_area(late).drop(0).equals(area.drop(0))
    before = sh.assign(regret=sh.regret.where(sh.epochs >= budget // 9))
    assert cc.regret_area(before).equals(area)  # what comes before the span does not count


def test_configs_started_counts_the_distinct_configs_a_run_trains(table):
    """``benchmarks/configs_started.py``: per table and strategy, the distinct configs among each
    run's trials (median, min, max over the seeds), at curve_compare's budget."""
    from _scripts import load_script

    script = load_script("configs_started")
    out = script.started([table], seeds=range(3)).set_index("strategy")
    assert list(out.index) == ["memetic-sh", "memetic-sh-no-model"]
    counts = [len({t.metrics["index"] for t in run_curve(table, "memetic-sh", s, 20 * EPOCHS)["trials"]})
              for s in range(3)]
    row = out.loc["memetic-sh"]
    assert (row.started_median, row.started_min, row.started_max) == (np.median(counts), min(counts), max(counts))
    assert row.configs == table.space.size == 12 and row.budget_epochs == 20 * EPOCHS
    assert row.started_max <= row.configs


def test_first_hits_counts_the_rung_of_each_runs_first_trial_at_randoms_final_regret(table):
    """``benchmarks/first_hits.py``: per strategy, the seeds whose first trial with regret <= the
    independent random search's final regret was at each rung, or never."""
    from _scripts import load_script

    cc, script = load_script("curve_compare"), load_script("first_hits")
    out = script.hits(table, ["memetic-sh", "asha"], seeds=range(4)).set_index("strategy")
    for strategy in ("memetic-sh", "asha"):
        expected = []
        for s in range(4):
            target = run_curve(table, "random", s + cc.REFERENCE_OFFSET, 20 * EPOCHS)["regret"][-1]
            run = run_curve(table, strategy, s, 20 * EPOCHS)
            at = [t.epochs for t, r in zip(run["trials"], run["regret"]) if r <= target + 1e-12]
            expected.append(at[0] if at else None)
        row = out.loc[strategy]
        counted = {int(c.rsplit("_", 1)[1]): row[c] for c in out.columns if c.startswith("hit_at_")}
        assert {r: n for r, n in counted.items() if n} == {r: expected.count(r) for r in set(expected) if r}
        assert row.never == expected.count(None) and row.seeds == 4
    assert out.loc["memetic-sh", "first_rung_trials_median"] >= 1


def test_a_budget_that_covers_the_space_trains_every_config_replicates_aside(table):
    """The memetic GA's replicate runs are trials too: they must not use up a count that ends the
    run before the budget does (a small table once ended with its best config never trained)."""
    for seed in range(4):
        r = run_curve(table, "memetic", seed=seed, budget=40 * EPOCHS)
        configs = {t.key.split("-r")[0] for t in r["trials"]}
        assert any("-r" in t.key for t in r["trials"])  # it replicated
        assert len(configs) == 12, seed
