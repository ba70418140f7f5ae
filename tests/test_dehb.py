"""DEHB (PyPI ``dehb`` 0.1.2) as the ``dehb`` strategy: the space's round trip through ConfigSpace,
seeds, promotions continued from checkpoints, quiet construction, and a real study through the CLI."""
import glob
import itertools
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import pytest

from studylib.curve_bench import TableRungs, curve_table_from_frame, run_curve
from studylib.fidelity import Spend, charged_epochs
from studylib.ledger import Ledger
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import MULTI_FIDELITY, make_strategy
from studylib.strategies.dehb_adapter import config_space, to_config

from test_curve_bench import EPOCHS, curves

CLI = [sys.executable, "-m", "studylib.cli"]

SPACE = SearchSpace(name="mixed", dimensions=(
    make_dimension("n", [8, 16, 32]),                      # ordinal ints
    make_dimension("lr", [0.1, 0.01, 1e-3, 3e-4]),         # ordinal floats
    make_dimension("act", ["relu", "elu"]),                # categorical strings
    make_dimension("bn", [True, False]),                   # categorical booleans
    make_dimension("drop", [0.25], kind="ordinal"),        # one value
))


@pytest.fixture(scope="module")
def table():
    return curve_table_from_frame(curves(np.random.default_rng(7)), "curves", "val_accuracy", True)


def test_every_config_round_trips_through_configspace_with_its_exact_values():
    import ConfigSpace as CS

    cs = config_space(SPACE, seed=0)
    kinds = {hp.name: type(hp).__name__ for hp in cs.values()}
    assert kinds == {"n": "OrdinalHyperparameter", "lr": "OrdinalHyperparameter", "act": "CategoricalHyperparameter",
                     "bn": "CategoricalHyperparameter", "drop": "Constant"}
    for genome in itertools.product(*(range(len(d)) for d in SPACE.dimensions)):
        c = to_config(SPACE, CS.Configuration(cs, values=dict(zip(SPACE.names, genome))))
        want = SPACE.decode(genome)
        assert c == want and SPACE.key(c) == SPACE.key(want)
        assert [type(c[k]) for k in SPACE.names] == [type(want[k]) for k in SPACE.names]
    # what DEHB itself proposes are configs of the space (its vectors decoded by its own code)
    s = make_strategy("dehb", SPACE, seed=1, max_epochs=9)
    for p in s.ask(12):
        assert SPACE.decode(SPACE.encode(p.config)) == p.config and p.epochs in (1, 3, 9)
        s.tell(p, 0.5)


def test_rungs_are_whole_epochs_and_dehb_is_told_minus_the_score_and_the_epochs():
    assert sorted(set(make_strategy("dehb", SPACE, seed=0, max_epochs=27).rungs.values())) == [1, 3, 9, 27]
    assert sorted(set(make_strategy("dehb", SPACE, seed=0, max_epochs=100).rungs.values())) == [1, 4, 11, 33, 100]
    assert sorted(set(make_strategy("dehb", SPACE, seed=0, max_epochs=27, min_epochs=3).rungs.values())) == [3, 9, 27]
    s = make_strategy("dehb", SPACE, seed=0, max_epochs=9)
    (p,) = s.ask(1)
    s.tell(p, 0.8)
    config_id, vector, fitness, cost, fidelity, _ = s.dehb.history[-1]
    assert (fitness, cost, fidelity) == (-0.8, float(p.epochs), 1.0)
    with pytest.raises(Exception, match="min_epochs at least 1 and below --max-epochs"):
        make_strategy("dehb", SPACE, seed=0, max_epochs=1)
    with pytest.raises(TypeError, match="unknown options"):
        make_strategy("dehb", SPACE, seed=0, max_epochs=9, population_size=4)
    with pytest.raises(Exception, match="round to the same whole epochs"):  # 9 * 1.2**-k: 4, 4, 3, 2, ...
        make_strategy("dehb", SPACE, seed=0, max_epochs=9, eta=1.2)


@pytest.mark.parametrize("option, value, wanted", [
    ("strategy", "bogus", "one of rand1_bin, "), ("crossover_prob", 5, "a number from 0 to 1"),
    ("mutation_factor", -1, "a number above 0 up to 2"), ("max_age", "abc", "a number of at least 1"),
    ("boundary_fix_type", "bogus", "one of random, clip")])
def test_options_dehb_takes_as_they_are_are_checked_before_a_study(option, value, wanted):
    """DEHB reads them late (an IndexError mid-build for strategy=bogus) or never (crossover_prob=5)."""
    from studylib.errors import StudyError
    from studylib.study_spec import prepare

    with pytest.raises(StudyError, match=re.escape(f"strategy option {option}={value!r}: dehb's {option} must be "
                                                   f"{wanted}")):
        prepare("round1", strategy="dehb", dataset="synthetic", max_epochs=3, strategy_options={option: value})
    spec, _ = prepare("round1", strategy="dehb", dataset="synthetic", max_epochs=3,
                      strategy_options={"strategy": "best2_exp", "crossover_prob": 1, "max_age": 2.5})
    assert spec.strategy_options == {"strategy": "best2_exp", "crossover_prob": 1, "max_age": 2.5}


def test_a_seed_among_the_strategy_options_names_the_flag():
    from studylib.errors import StudyError
    from studylib.study_spec import prepare

    with pytest.raises(StudyError, match=r"strategy option seed: a strategy's seed is the study's \(--seed N"):
        prepare("round1", strategy="tpe", dataset="synthetic", strategy_options={"seed": 3})


@pytest.mark.parametrize("name", sorted(MULTI_FIDELITY))
def test_every_multi_fidelity_strategy_is_reproducible_from_its_seed(table, name):
    keys = lambda seed: [t.key for t in run_curve(table, name, seed=seed, budget=41)["trials"]]  # noqa: E731
    first = keys(3)
    assert len(first) >= 5 and keys(3) == first
    assert keys(4) != first


def test_dehb_promotes_configs_and_continues_them_on_a_learning_curve_table(table):
    r = run_curve(table, "dehb", seed=0, budget=6 * EPOCHS)
    trials = r["trials"]
    by_config = {}
    for t in trials:
        by_config.setdefault(t.metrics["index"], []).append(t.epochs)
    promoted = [e for e in by_config.values() if len(e) > 1]
    assert promoted and any(max(e) == EPOCHS for e in by_config.values())
    continued = [t for t in trials if t.metrics["new_epochs"] < t.epochs]  # a promotion pays only its new epochs
    assert continued and all(t.epochs - t.metrics["new_epochs"] in by_config[t.metrics["index"]] for t in continued)
    assert r["cost"][-1] <= 6 * EPOCHS


def test_dehb_writes_and_prints_nothing(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "studylib-dehb-*")))
    s = make_strategy("dehb", SPACE, seed=0, max_epochs=9)
    for _ in range(20):
        (p,) = s.ask(1)
        s.tell(p, float(SPACE.encode(p.config)[0]) / 3)  # new incumbents: DEHB's default would save files
    assert os.listdir(tmp_path) == []
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "studylib-dehb-*"))) == before
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_real_dehb_study_through_the_cli_promotes_from_its_checkpoint(tmp_path):
    """digits, rungs 1 and 3, three configs: the best at 1 epoch continues to 3 from its checkpoint."""
    out = tmp_path / "study"
    command = [*CLI, "search", "round1", "--strategy", "dehb", "--dataset", "digits", "--trials", "3",
               "--max-epochs", "3", "--patience", "3", "--seed", "1", "--out", str(out), "--no-progress"]
    r = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "3 configs in 4 rung trials (4 trained, 0 from the ledger)" in r.stdout, r.stdout
    assert not re.search(r"\| (DEBUG|INFO|WARNING|ERROR) +\|", r.stdout + r.stderr)  # no loguru lines
    assert not (tmp_path / "dehb.log").exists() and sorted(os.listdir(tmp_path)) == ["study"]
    with Ledger(out / "ledger.sqlite") as ledger:
        (study,) = ledger.studies()
        trials = [ledger.get(k) for k in ledger.study_keys(study["study_id"])]
    assert len({t.metrics["rung_of"] for t in trials}) == 3
    first = [t for t in trials if t.metrics["rung"] == 1]
    top = [t for t in trials if t.metrics["rung"] == 3]
    assert len(first) == 3 and len(top) == 1
    best = max(first, key=lambda t: t.metrics["best_acc"])  # validation accuracy decides the promotion
    assert top[0].metrics["rung_of"] == best.metrics["rung_of"]
    assert top[0].metrics["resumed_from"] == 1 and top[0].metrics["new_epochs"] == 2
    assert list((out / "checkpoints").glob("*.keras")) == []  # every config retired once nothing is owed
    rows = pd.read_csv(out / "trials.csv")
    assert len(rows) == 3 and rows.charged_epochs.sum() == 5
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)  # same proposals
    assert again.returncode == 0 and "3 configs in 4 rung trials (0 trained, 4 from the ledger)" in again.stdout, again.stderr


def test_dehb_with_too_few_epochs_is_one_line_exit_2(tmp_path):
    r = subprocess.run([*CLI, "search", "round1", "--strategy", "dehb", "--dataset", "synthetic", "--max-epochs", "1",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "min_epochs at least 1 and below --max-epochs" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("budget", [5, 9, 10, 12])
def test_a_budget_below_dehbs_first_bracket_ends_cleanly_with_nothing_owed(table, budget):
    """Bracket 0 (9 configs at 1 epoch, 3 at 3, 1 at 9) costs 13 epochs if every promotion is
    paid: a smaller budget starts fewer configs (a promotion of one config twice is a free repeat),
    and a rung whose every job was skipped is not promoted from (DEHB would fail on it)."""
    from test_multifidelity_stops import owed, study

    for seed in range(3):
        s, trials = study(table, "dehb", table.space.size, Spend(epochs=budget), seed=seed)
        assert sum(charged_epochs(t) for t in trials) <= budget and owed(s) == []
        assert (budget >= EPOCHS) == any(t.epochs == EPOCHS for t in trials)  # one config carried to the top


def test_a_trial_dehb_asks_twice_in_one_window_is_told_to_both_jobs(table):
    """In a window of 3 under a budget DEHB may promote one config twice while the first job still
    waits for the executor: the second job shares its trial and is told its result, so no bracket
    waits forever (before, the loop dropped the second job and the last promotion was never asked)."""
    from test_multifidelity_stops import Timed

    from studylib.executors import InlineExecutor
    from studylib.ledger import MemoryLedger
    from studylib.loop import run_loop

    for seed in range(4):
        s = make_strategy("dehb", table.space, seed=seed, max_epochs=EPOCHS)
        objective, ledger, executor = Timed(table, seed), MemoryLedger(), InlineExecutor(progress=False)
        executor.start(objective)
        run_loop(s, objective, executor, ledger, "s", trials=2, space_size=table.space.size, window=3,
                 spend=Spend(epochs=14), rungs=TableRungs(table.epochs))
        trials = ledger.study_trials("s")
        assert s._jobs == {} and s.owed() == [] and sum(charged_epochs(t) for t in trials) <= 14
        assert any(t.epochs == EPOCHS for t in trials)
