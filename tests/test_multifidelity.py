"""Multi-fidelity studies on real (tiny) training: epoch budgets, rungs continued from checkpoints,
bounded checkpoints, one trials.csv row per config, resume after kill -9, and the new CLI flags."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from studylib.data import load_dataset
from studylib.fidelity import charged_epochs, collapse_rungs
from studylib.ledger import Ledger
from studylib.report.rounds import best_by_seed
from studylib.resumable import train_rung
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import Proposal, make_strategy, strategy_class
from studylib.strategies.halving import inner_seed, ladder
from studylib.study import StudyResult, search

from test_resume import kill_after, ledger_rows

CLI = [sys.executable, "-m", "studylib.cli"]
TINY = dict(dataset="synthetic", max_epochs=3, patience=2)


def study_trials(out):
    with Ledger(out / "ledger.sqlite") as ledger:
        (study,) = ledger.studies()
        return [ledger.get(k) for k in ledger.study_keys(study["study_id"])]


def test_random_search_never_exceeds_the_epoch_budget(tmp_path, capfd):
    r = search("round1", tmp_path / "r", executor="inline", progress=True, strategy="random", seed=1,
               budget_epochs=7, **TINY)
    assert "epochs 7/7" in capfd.readouterr().err  # progress counts epochs spent of the budget
    trials = study_trials(tmp_path / "r")
    spent = [charged_epochs(t) for t in trials]
    assert sum(spent) == 7 and all(1 <= e <= 3 for e in spent)
    # the last trial was given only the epochs left: its key says so (max_epochs capped)
    capped = [t for t in trials if "-m" in t.key]
    assert all(t.key.endswith(f"-m{t.epochs}") for t in capped) and len(capped) <= 1
    # re-running with a larger budget continues the same study (served, then new trials)
    r2 = search("round1", tmp_path / "r", executor="inline", progress=False, strategy="random", seed=1,
                budget_epochs=12, **TINY)
    assert r2.study_id == r.study_id and r2.served == len(trials)
    assert sum(charged_epochs(t) for t in study_trials(tmp_path / "r")) == 12
    # re-running the spent study serves all of it and trains nothing
    n = len(study_trials(tmp_path / "r"))
    r3 = search("round1", tmp_path / "r", executor="inline", progress=False, strategy="random", seed=1,
                budget_epochs=12, **TINY)
    assert (r3.trained, r3.served, len(r3.frame)) == (0, n, n)
    assert len(study_trials(tmp_path / "r")) == n


@pytest.mark.parametrize("strategy", ["memetic-sh", pytest.param("asha", marks=pytest.mark.slow),
                                      pytest.param("tpe-hb", marks=pytest.mark.slow)])
def test_multi_fidelity_study_charges_only_new_epochs_and_bounds_checkpoints(tmp_path, strategy):
    out = tmp_path / strategy
    search("round1", out, executor="inline", progress=False, strategy=strategy, seed=0, budget_epochs=16,
           strategy_options={"population_size": 4} if strategy == "memetic-sh" else None, **TINY)
    trials = study_trials(out)
    spent = sum(charged_epochs(t) for t in trials)
    # never over; no new config starts unless it fits with its promotions (at most 1 + 2 epochs)
    assert 16 - 3 < spent <= 16
    continued = [t for t in trials if t.metrics["resumed_from"]]
    assert continued, "no rung was continued from a checkpoint"
    for t in continued:
        assert t.metrics["new_epochs"] == t.epochs - t.metrics["resumed_from"]
        assert len(t.curve["loss"]) == t.epochs
    # checkpoints: only below max_epochs, at most one per config, none for configs at the top rung
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("*.keras"))
    by_config = [n.rsplit("-e", 1)[0] for n in ckpts]
    assert len(by_config) == len(set(by_config))
    assert not any(n.endswith("-e3.keras") for n in ckpts)
    top = {t.metrics["rung_of"] for t in trials if t.metrics["rung"] == 3}
    assert not top & set(by_config)
    # trials.csv: one row per config with its total epochs; rungs.csv: every rung
    rows = pd.read_csv(out / "trials.csv")
    rungs = pd.read_csv(out / "rungs.csv")
    assert len(rungs) == len(trials) and rows.rung_of.is_unique
    assert len(rows) == len({t.metrics["rung_of"] for t in trials})
    assert rows.charged_epochs.sum() == spent
    assert (rows.epochs == rows.rungs.map(lambda s: max(int(x.split(":")[0]) for x in s.split()))).all()
    # one number per config: rungs.csv's config_trial is the config's trials.csv number
    assert (rungs.config_trial == rungs.rung_of.map(rows.set_index("rung_of").trial)).all()


def test_search_counts_a_multi_fidelity_studys_configs_not_its_rung_trials(tmp_path, capsys):
    from studylib import cli

    out = tmp_path / "sh"
    assert cli.main(["search", "round1", "--strategy", "memetic-sh", "--budget-epochs", "8", "--dataset", "synthetic",
                     "--max-epochs", "3", "--patience", "2", "--executor", "inline", "--no-progress",
                     "--out", str(out)]) == 0
    configs, rungs = len(pd.read_csv(out / "trials.csv")), len(pd.read_csv(out / "rungs.csv"))
    assert configs < rungs  # some config was promoted
    assert f"{configs} configs in {rungs} rung trials ({rungs} trained, 0 from the ledger) in " in capsys.readouterr().out


def test_the_best_rung_is_named_by_its_configs_trials_csv_number():
    # config a: rungs 1 and 4 (its top rung is the best); config b: rungs 2 and 3
    frame = pd.DataFrame({"trial": [1, 2, 3, 4], "key": ["a-e1", "b-e1", "b-e3", "a-e3"],
                          "rung_of": ["a", "b", "b", "a"], "rung": [1, 1, 3, 3], "status": "ok",
                          "best_acc": [0.5, 0.6, 0.7, 0.9], "study_id": "s", "epochs": [1, 1, 3, 3],
                          "new_epochs": [1, 1, 2, 2]})
    result = StudyResult("s", None, frame, None, 4, 0, 0.0)
    assert result.best.trial == 1 and result.best.best_acc == 0.9  # trials.csv: config a is trial 1
    assert collapse_rungs(frame).set_index("rung_of").trial["a"] == 1
    assert StudyResult("s", None, frame.drop(columns=["rung", "rung_of"]), None, 4, 0, 0.0).best.trial == 4


def test_the_search_and_the_round_report_name_the_same_best_config():
    # config a's rung 3 trained from scratch (its checkpoint was gone) scored below its rung 1:
    # a config stands for its highest rung, in trials.csv, the report and the search's summary alike
    frame = pd.DataFrame({"trial": [1, 2, 3, 4], "key": ["a-e1", "b-e1", "a-e3", "b-e3"],
                          "rung_of": ["a", "b", "a", "b"], "rung": [1, 1, 3, 3], "status": "ok",
                          "best_acc": [0.95, 0.92, 0.90, 0.93], "test_acc": [0.94, 0.91, 0.89, 0.92],
                          "study_id": "s", "epochs": [1, 1, 3, 3], "new_epochs": [1, 1, 3, 2]})
    best = StudyResult("s", None, frame, None, 4, 0, 0.0).best
    assert (best.key, best.trial, best.best_acc, best.test_acc) == ("b-e3", 2, 0.93, 0.92)
    assert best_by_seed(collapse_rungs(frame).assign(seed=0)).key.tolist() == ["b-e3"]  # RoundRun.frame's rows
    # a config halving stopped at rung 1 (c, scored after 1 epoch) is not the best of configs trained to 3
    stopped = pd.concat([frame, pd.DataFrame({"trial": [5], "key": ["c-e1"], "rung_of": ["c"], "rung": [1],
                                              "status": "ok", "best_acc": [0.97], "test_acc": [0.96], "study_id": "s",
                                              "epochs": [1], "new_epochs": [1]})], ignore_index=True)
    assert StudyResult("s", None, stopped, None, 5, 0, 0.0).best.key == "b-e3"
    assert best_by_seed(collapse_rungs(stopped).assign(seed=0)).key.tolist() == ["b-e3"]


def test_a_failed_rung_counts_with_its_config_and_leaves_the_submission_out_of_its_config():
    from studylib.executors.process import failed_trial
    from studylib.fidelity import FIDELITY, config_column
    from studylib.objective import TableObjective
    from studylib.tables import load_table

    table = load_table("hpobench-car")
    objective = TableObjective(table, 0)
    config = table.space.config_at(0)
    t = failed_trial(objective, "a-e3", {**config, FIDELITY: {"epochs": 3, "from": 1, "rung_of": "a"}}, "killed")
    assert t.config == config and t.metrics["rung_of"] == "a" and "rung" not in t.metrics  # no checkpoint to resume
    # in trials.csv the promotion that failed is its config's, not a config of its own
    frame = pd.DataFrame({"trial": [1, 2, 3], "key": ["a-e1", "b-e1", "a-e3"], "rung_of": ["a", "b", "a"],
                          "rung": [1, 1, None], "status": ["ok", "ok", "failed"], "best_acc": [0.5, 0.6, None],
                          "study_id": "s", "epochs": [1, 1, 0], "new_epochs": [1, 1, None]})
    assert list(config_column(frame)) == ["a", "b", "a"]
    assert len(collapse_rungs(frame)) == 2
    assert collapse_rungs(frame).rungs.tolist() == ["1:0.5000 failed", "1:0.6000"]
    # every rung failed (no row has a rung): still one row per config, as trials.csv keeps them
    failed = frame.assign(rung=None, status="failed", best_acc=None, epochs=0, new_epochs=None).drop(columns="rung")
    collapsed = collapse_rungs(failed)
    assert collapsed.rung_of.tolist() == ["a", "b"] and collapsed.trial.tolist() == [1, 2]
    assert collapsed.rungs.tolist() == ["failed failed", "failed"] and collapsed.charged_epochs.tolist() == [0, 0]


@pytest.mark.slow
def test_a_continued_rung_equals_training_straight(tmp_path):
    out = tmp_path / "asha"
    search("round1", out, executor="inline", progress=False, strategy="asha", seed=2, budget_epochs=10, **TINY)
    t = next(t for t in study_trials(out) if t.metrics["resumed_from"])
    straight = train_rung(t.config, load_dataset("synthetic"), seed=2, epochs=t.epochs)
    assert t.curve["val_loss"] == pytest.approx(straight.history["val_loss"], rel=1e-5)
    assert t.metrics["best_acc"] == straight.best_acc


SCRIPT = [*CLI, "search", "round1", "--dataset", "synthetic", "--max-epochs", "3", "--patience", "2",
          "--strategy", "memetic-sh", "--budget-epochs", "14", "--seed", "4", "--executor", "inline",
          "--no-progress"]


@pytest.mark.slow
def test_killed_multi_fidelity_study_resumes_to_the_uninterrupted_state(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([*SCRIPT, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_after(proc, out / "ledger.sqlite", 9)  # 9 trials in: mid-study, with promotions owed
    before = ledger_rows(out / "ledger.sqlite")
    r = subprocess.run([*SCRIPT, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    after = ledger_rows(out / "ledger.sqlite")
    assert all(after[k] == v for k, v in before.items())  # finished rungs untouched
    ref = tmp_path / "ref"
    r = subprocess.run([*SCRIPT, "--out", str(ref)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    a, b = study_trials(out), study_trials(ref)
    assert [t.key for t in a] == [t.key for t in b]
    assert [t.metrics["best_acc"] for t in a] == pytest.approx([t.metrics["best_acc"] for t in b], abs=1e-6)
    assert sum(charged_epochs(t) for t in a) <= 14
    assert sorted(os.listdir(out / "checkpoints")) == sorted(os.listdir(ref / "checkpoints"))
    cols = ["key", "epochs", "charged_epochs", "rungs", "best_acc"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv")[cols], pd.read_csv(ref / "trials.csv")[cols])


BAD = {
    "zero epochs": (["--budget-epochs", "0"], "--budget-epochs"),
    "negative epochs": (["--budget-epochs", "-3"], "--budget-epochs"),
    "fractional epochs": (["--budget-epochs", "1.5"], "--budget-epochs"),
    "text epochs": (["--budget-epochs", "many"], "--budget-epochs"),
    "zero hours": (["--budget-hours", "0"], "--budget-hours"),
    "negative hours": (["--budget-hours", "-1"], "--budget-hours"),
    "infinite hours": (["--budget-hours", "inf"], "--budget-hours"),
    "nan hours": (["--budget-hours", "nan"], "--budget-hours"),
    "text hours": (["--budget-hours", "soon"], "--budget-hours"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_budget_flags_are_one_line_exit_2_and_write_nothing(tmp_path, case):
    args, flag = BAD[case]
    r = subprocess.run([*CLI, "search", "round1", "--dataset", "synthetic", "--out", str(tmp_path / "o"), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studylib: error:") and flag in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kwargs", [{"budget_epochs": 0}, {"budget_epochs": 2.5}, {"budget_epochs": True},
                                    {"budget_hours": -1.0}, {"budget_hours": float("nan")}, {"budget_hours": "1"}])
def test_bad_budgets_through_the_api_raise_before_writing(tmp_path, kwargs):
    from studylib.errors import StudyError

    with pytest.raises(StudyError, match="budget-"):
        search("round1", tmp_path / "o", executor="inline", progress=False, **TINY, **kwargs)
    assert not (tmp_path / "o").exists()


SPACE = SearchSpace(name="s", dimensions=(make_dimension("a", [1, 2, 3, 4, 5, 6]), make_dimension("b", [1, 2, 3])))


def test_ladder_and_successive_halving_promote_the_top_third():
    assert ladder(1, 3, 9) == [1, 3, 9] and ladder(1, 3, 4) == [1, 3, 4] and ladder(2, 2, 2) == [2]
    s = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, population_size=6, quorum=1, reconsider=False,
                      init="lhs")  # six distinct values of a: no tie at the cut
    first = s.ask(6)
    assert len(first) == 6 and all(isinstance(p, Proposal) and p.epochs == 1 for p in first)
    assert s.ask(1) == []  # the rung is decided when all of it is told
    for p in first:
        s.tell(p, SPACE.encode(p.config)[0] / 10)
    promoted = s.ask(6)
    assert [p.epochs for p in promoted] == [3, 3]  # ceil(6 / 3)
    best = sorted(first, key=lambda p: SPACE.encode(p.config)[0])[-2:]
    assert sorted(SPACE.key(p.config) for p in promoted) == sorted(SPACE.key(p.config) for p in best)
    assert len(s.retired()) == 4 and s.retired() == []


@pytest.mark.parametrize("options", [{}, {"eta": 2}, {"eta": 4}, {"quorum": None, "reconsider": None},
                                     {"quorum": 1}, {"reconsider": False}])
def test_memetic_sh_defaults_quorum_eta_squared_and_reconsider_as_its_identity_says(options):
    s = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=27, **options)
    ident = strategy_class("memetic-sh").identity_defaults(27, options)
    quorum = options.get("quorum") or {2: 4, 3: 9, 4: 16}[options.get("eta", 3)]
    reconsider = options.get("reconsider", True) is not False
    assert (s.quorum, s.reconsider) == (quorum, reconsider)
    assert ident.get("quorum", options.get("quorum")) == s.quorum
    assert ident.get("reconsider", options.get("reconsider")) == s.reconsider


@pytest.mark.parametrize("max_epochs,rungs,three", [(27, [1, 3, 9, 27], [3, 9, 27]), (9, [1, 3, 9], [1, 3, 9]),
                                                     (3, [1, 3], [1, 3]), (100, [1, 3, 9, 27, 81, 100], [12, 36, 100])])
def test_memetic_sh_defaults_to_rungs_from_one_epoch(max_epochs, rungs, three):
    """Round 6: rungs from 1 epoch; the three rungs of rounds 1-5 (max/9, max/3, max) when asked."""
    from studylib.strategies.rungs import three_rungs

    assert make_strategy("memetic-sh", SPACE, seed=0, max_epochs=max_epochs).levels.rungs == rungs
    m = three_rungs(max_epochs, 3)
    assert make_strategy("memetic-sh", SPACE, seed=0, max_epochs=max_epochs, min_epochs=m).levels.rungs == three


def test_a_changed_default_changes_the_study_identity():
    """A study begun under other defaults is not continued with today's: min_epochs (three rungs,
    recorded where they did not start at 1 epoch, max_epochs > 9; 1 again since round 6), quorum and
    reconsider (changed for every study that names neither)."""
    from studylib.study import StudySpec
    from studylib.training import Budget

    def ident(max_epochs, **options):
        spec = StudySpec(SPACE, strategy="memetic-sh", budget=Budget(max_epochs, 2), strategy_options=options)
        return spec.identity("h")

    # changed defaults of every memetic-sh study: one fidelity per comparison, the inner GA's model
    # and, since round 3's veto was applied to the default, a quorum of eta**2 and reconsidering;
    # since round 5 the inner GA's random start
    same = {"compare": "rung", "model": True, "quorum": 9, "reconsider": True, "init": "random",
            "population_size": 20, "inner_stream": 17}
    assert ident(9)["strategy_defaults"] == same and ident(27, min_epochs=3)["strategy_defaults"] == same
    assert ident(9, compare="score")["strategy_defaults"] == {"model": True, "quorum": 9, "reconsider": True,
                                                             "init": "random", "population_size": 20,
                                                             "inner_stream": 17}
    assert ident(9, eta=2)["strategy_defaults"]["quorum"] == 4
    # every option given: only the inner stream (round 5), which changed every study's draws
    assert ident(9, compare="score", model=False, quorum=9, reconsider=True, init="random",
                 population_size=20)["strategy_defaults"] == {"inner_stream": 17}
    # a study of another inner strategy, or with the earlier population given, is not continued either
    for options in ({"inner": "random"}, {"population_size": 10, "init": "lhs"}):
        assert ident(9, **options)["strategy_defaults"]["inner_stream"] == 17
    # a study begun under the previous defaults (quorum 1, retiring; no options) had these, so its id differs
    assert ident(9)["strategy_defaults"] != {"compare": "rung", "model": True}
    assert ident(9, quorum=1)["strategy_defaults"]["reconsider"] is True
    assert ident(9, reconsider=False)["strategy_defaults"]["quorum"] == 9
    # fill gained part (1), the inner GA's skip_wait, and a floor on part (2)'s promotions: a study
    # begun before is not continued with them, whatever the inner strategy
    for inner in ("memetic", "memetic-no-model", "ga"):
        assert ident(9, promote="async", fill=True, inner=inner)["strategy_defaults"]["fill_rule"] == 2
    assert ident(9, promote="async", fill=True)["strategy_defaults"]["fill_rule"] == 2
    assert "fill_rule" not in ident(9, promote="async", fill=False)["strategy_defaults"]
    assert "fill_rule" not in ident(9, promote="async")["strategy_defaults"]
    from studylib.strategies.halving import SuccessiveHalving

    # the inner GA keeps screening without the self-check (chosen for single-fidelity tables only)
    assert "check" not in ident(9)["strategy_defaults"] and ident(9, check=20)["strategy_defaults"] == same
    assert SuccessiveHalving(SPACE, 0, max_epochs=9).inner.check is None
    assert SuccessiveHalving(SPACE, 0, max_epochs=9, check=20).inner.check.window == 20
    assert ident(27)["strategy_defaults"] == same  # rungs from 1 epoch (round 6): not what three rungs recorded
    assert ident(27)["strategy_defaults"] != {**same, "min_epochs": 3}
    assert StudySpec(SPACE, strategy="memetic-sh", budget=Budget(27, 2)).study_id("h") != \
        StudySpec(SPACE, strategy="memetic-sh", budget=Budget(27, 2), strategy_options={"min_epochs": 1}).study_id("h")


@pytest.mark.parametrize("name", ["asha", "tpe-hb"])
def test_optuna_pruned_strategies_report_each_rung(name):
    s = make_strategy(name, SPACE, seed=3, max_epochs=9)
    seen_rungs, retired = set(), 0
    for _ in range(200):
        asked = s.ask(1)
        if not asked:
            break
        (p,) = asked
        seen_rungs.add(p.epochs)
        s.tell(p, SPACE.encode(p.config)[0] / 10 + p.epochs / 100)
        retired += len(s.retired())
    assert seen_rungs == {1, 3, 9} and retired > 0 and s.finished
    steps = [t.intermediate_values for t in s.study.trials if t.intermediate_values]
    assert all(set(v) <= {1, 3, 9} for v in steps)
    again = make_strategy(name, SPACE, seed=3, max_epochs=9)
    assert SPACE.key(again.ask(1)[0].config) == SPACE.key(make_strategy(name, SPACE, seed=3, max_epochs=9).ask(1)[0].config)


@pytest.mark.slow
def test_rungs_run_in_the_serial_trial_process_too(tmp_path):
    """The default executor (a child process) gets the rung through the submitted config."""
    search("round1", tmp_path / "s", progress=False, strategy="asha", seed=2, budget_epochs=10, **TINY)
    inline = tmp_path / "i"
    search("round1", inline, executor="inline", progress=False, strategy="asha", seed=2, budget_epochs=10, **TINY)
    a, b = study_trials(tmp_path / "s"), study_trials(inline)
    assert [t.key for t in a] == [t.key for t in b] and any(t.metrics["resumed_from"] for t in a)
    assert [t.metrics["best_acc"] for t in a] == pytest.approx([t.metrics["best_acc"] for t in b], abs=1e-6)


def test_memetic_sh_tells_its_ga_rung_first_so_no_comparison_mixes_fidelities():
    """One fidelity per comparison: a config retired at rung 1 with a high 1-epoch score ranks below
    every config that reached a higher rung; within a rung the scores decide. (Retiring: under
    ``reconsider`` a paused config promoted later keeps the fitness it was told when it paused.)"""
    told = {}
    s = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, population_size=6, reconsider=False)
    s.inner.tell = lambda config, value: told.__setitem__(SPACE.key(config), value)
    score = {1: lambda p: 0.5 + SPACE.encode(p.config)[0] / 20, 3: lambda p: 0.3 + SPACE.encode(p.config)[1] / 50,
             9: lambda p: 0.2}
    top = {}
    for _ in range(10):
        asked = s.ask(6)
        if not asked:
            break
        for p in asked:
            top[SPACE.key(p.config)] = p.epochs
            s.tell(p, score[p.epochs](p))
    assert set(top.values()) == {1, 3, 9} and set(told) == set(top)
    for a in told:
        for b in told:
            if top[a] < top[b]:
                assert told[a] < told[b]  # a 1-epoch 0.8 is not compared with a 9-epoch 0.2
    first = sorted((k for k in told if top[k] == 1), key=told.get)
    assert [told[k] for k in first] == sorted(told[k] for k in first)
    raw = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, population_size=6, compare="score", quorum=1,
                        init="lhs")  # six distinct values of a
    got = []
    raw.inner.tell = lambda config, value: got.append(value)
    first = raw.ask(6)
    for p in first:
        raw.tell(p, SPACE.encode(p.config)[0] / 10)
    assert sorted(got) == sorted(SPACE.encode(p.config)[0] / 10 for p in first)[:4]  # the raw 1-epoch scores
    with pytest.raises(ValueError, match="compare"):
        make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, compare="epochs")


def test_memetic_sh_identity_includes_its_inner_strategys_changed_defaults(monkeypatch):
    inner = strategy_class("memetic")
    monkeypatch.setattr(inner, "identity_defaults", classmethod(lambda cls, m, o: {} if "x" in o else {"x": 1}))
    sh = strategy_class("memetic-sh")
    assert sh.identity_defaults(9, {}) == {"x": 1, "population_size": 20, "init": "random", "compare": "rung",
                                           "quorum": 9, "reconsider": True, "inner_stream": 17}
    assert sh.identity_defaults(9, {"x": 2, "population_size": 10, "init": "lhs", "compare": "score", "quorum": 1,
                                    "reconsider": False}) == {"inner_stream": 17}  # the draws changed all the same
    assert sh.identity_defaults(9, {"inner": "random"})["inner_stream"] == 17


@pytest.mark.parametrize("options,init,size", [({}, "random", 20), ({"init": "lhs", "population_size": 10}, "lhs", 10),
                                               ({"inner": "memetic-no-model"}, "random", 20)])
def test_memetic_sh_inner_ga_has_a_random_population_of_20_unless_told(options, init, size):
    """Round 5: memetic-sh's inner GA has a population of 20, the first drawn uniformly (the plain
    memetic GA keeps 10 from its Latin-hypercube-like start); the first configs asked are the inner
    GA's first ones, and the study's window is the population."""
    s = make_strategy("memetic-sh", SPACE, seed=3, max_epochs=9, **options)
    assert (s.inner.evolution.init, s.inner.evolution.size, s.population_size) == (init, size, size)
    ident = strategy_class("memetic-sh").identity_defaults(9, options)
    given = {k: ident.get(k, options.get(k)) for k in ("init", "population_size")}
    assert given == {"init": init, "population_size": size}
    twin = make_strategy(options.get("inner", "memetic"), SPACE, seed=inner_seed(3), check=0, replicates=1,
                         init=init, population_size=size)
    assert [p.config for p in s.ask(size)] == twin.ask(size)
    assert make_strategy("memetic", SPACE, seed=3).evolution.init == "lhs"


def test_memetic_sh_does_not_replay_random_searchs_draws_of_the_same_seed():
    """A uniform random start seeded like random search would ask random search's first configs
    (the reference a study is read against); memetic-sh's inner GA has a stream of its own."""
    space = SearchSpace(name="w", dimensions=tuple(make_dimension(n, list(range(6))) for n in "abcd"))
    shared = 0
    for seed in range(20):
        sh = [space.key(p.config) for p in make_strategy("memetic-sh", space, seed=seed, max_epochs=9).ask(20)]
        rnd = [space.key(c) for c in make_strategy("random", space, seed=seed).ask(20)]
        same = [space.key(c) for c in make_strategy("memetic", space, seed=seed, init="random",
                                                     population_size=20).ask(20)]
        assert same[:10] == rnd[:10]  # what the plain GA's random start does: random search's draws, in order
        shared += len(set(sh) & set(rnd))
    assert shared <= 20  # 1,296 configs: about 6 shared by chance over 20 seeds, not 400
