"""A strategy of a user's own (studylib.plugins): registered from Python or by an installed
package's entry point, then named as a built-in one is, by search, bench and the command line."""
from __future__ import annotations

import importlib
import re
import sys
from importlib import metadata

import pandas as pd
import pytest

from studylib import cli, plugins, provenance, study
from studylib.errors import StudyError
from studylib.strategies import MULTI_FIDELITY, REGISTRY, Strategy

CLIMB = '''
from studylib.strategies import Strategy


class Climb(Strategy):
    """Random configs, then one-step neighbours of the best told so far (a user's own strategy)."""

    name = "climb"

    def __init__(self, space, seed=0, restarts: int = 2):
        super().__init__(space, seed)
        if restarts < 1:
            raise ValueError("restarts must be at least 1")
        self.restarts, self.best, self.best_score = restarts, None, float("-inf")

    def ask(self, n=1):
        if self.best is None or self.rng.random() < 1 / (self.restarts + 1):
            return [self.space.sample(self.rng) for _ in range(n)]
        near = self.space.neighbours(self.best)
        return [near[int(self.rng.integers(len(near)))] for _ in range(n)]

    def tell(self, config, score):
        if score > self.best_score:
            self.best, self.best_score = config, score
'''


@pytest.fixture
def climb(tmp_path, monkeypatch):
    """The module ``userclimb`` (a file of the user's, importable), registered as ``climb``; the
    registry as it was afterwards."""
    (tmp_path / "userclimb.py").write_text(CLIMB)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = dict(REGISTRY), dict(MULTI_FIDELITY)
    module = importlib.import_module("userclimb")
    plugins.register_strategy("climb", module.Climb)
    yield module
    REGISTRY.clear(), REGISTRY.update(saved[0])
    MULTI_FIDELITY.clear(), MULTI_FIDELITY.update(saved[1])
    sys.modules.pop("userclimb", None)


def test_a_registered_strategy_runs_a_study_that_resumes_and_reproduces(climb, tmp_path):
    def run(out, trials, seed=0):
        return study.search("round1", tmp_path / out, strategy="climb", trials=trials, seed=seed,
                            dataset="synthetic", max_epochs=1, executor="inline", progress=False)

    first = run("a", 4)
    assert first.trained == 4 and len(first.frame) == 4
    again = run("a", 4)  # served from the ledger
    assert again.trained == 0 and list(again.frame.key) == list(first.frame.key)
    part, whole = run("b", 2), run("b", 4)  # stopped at 2, continued to 4: as one run of 4
    assert part.trained == 2 and whole.trained == 2 and list(whole.frame.key) == list(first.frame.key)
    assert list(run("c", 4, seed=1).frame.key) != list(first.frame.key)
    record = pd.read_json(tmp_path / "a" / "studies" / f"{first.study_id}.json", typ="series")
    assert record["strategy_class"] == "userclimb:Climb"  # another class of the name is another study


def test_its_options_are_checked_and_a_misspelt_one_is_named(climb, tmp_path):
    def prepare(**options):
        return study.prepare("round1", strategy="climb", dataset="synthetic", strategy_options=options)

    with pytest.raises(StudyError, match=r"^strategy options \{'restart': 3\}: climb: unknown options \['restart'\] "
                                         r"\('restart': did you mean 'restarts'\?\)$"):  # as a built-in's are
        prepare(restart=3)
    with pytest.raises(StudyError, match=r": climb: unknown options \['re-starts'\] \('re-starts': did you mean "
                                         r"'restarts'\?\)$"):
        prepare(**{"re-starts": 3})
    with pytest.raises(StudyError, match=r"climb's restarts must be an integer"):
        prepare(restarts="many")
    with pytest.raises(StudyError, match="restarts must be at least 1"):
        prepare(restarts=0)


def test_the_benchmark_fingerprint_follows_the_strategys_own_source(climb, tmp_path):
    from studylib.bench import run_bench

    summary = run_bench("hpobench-car", ["random", "climb"], 2, 10, tmp_path / "b", workers=1, progress=False)
    assert list(summary.strategy) == ["random", "climb"]
    before = provenance.fingerprint("climb")
    path = tmp_path / "userclimb.py"
    path.write_text(path.read_text().replace("1 / (self.restarts + 1)", "0.5"))
    assert provenance.fingerprint("climb") != before  # a chunk of the old code is never served for the new


def test_the_fingerprint_follows_the_plugins_own_package_and_a_class_without_a_file(tmp_path, monkeypatch):
    import types

    saved = dict(REGISTRY)
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("STEP = 1\n")
    (pkg / "walk.py").write_text("from . import helpers\nfrom studylib.strategies import Strategy\n\n\n"
                                 "class Walk(Strategy):\n    def ask(self, n=1):\n"
                                 "        return [self.space.sample(self.rng) for _ in range(n)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    typed = types.ModuleType("typed_in")  # a class typed into a session: no file, no source
    exec("from studylib.strategies import Strategy\nclass Typed(Strategy):\n    def ask(self, n=1):\n"
         "        return []\n", typed.__dict__)
    monkeypatch.setitem(sys.modules, "typed_in", typed)
    try:
        plugins.register_strategy("walk", "mypkg.walk:Walk")
        plugins.register_strategy("typed", typed.Typed)
        walk, typed_before = provenance.fingerprint("walk"), provenance.fingerprint("typed")
        (pkg / "helpers.py").write_text("STEP = 2\n")  # a module of its package that it imports
        assert provenance.fingerprint("walk") != walk
        exec("class Typed(Typed):\n    def ask(self, n=1):\n        return [None]\n", typed.__dict__)
        plugins.register_strategy("typed", typed.Typed, replace=True)
        assert provenance.fingerprint("typed") != typed_before
    finally:
        REGISTRY.clear(), REGISTRY.update(saved)
        for m in ("mypkg", "mypkg.walk", "mypkg.helpers"):
            sys.modules.pop(m, None)


def test_a_multi_fidelity_strategy_joins_the_others_and_another_class_of_a_name_is_another_study(climb, tmp_path):
    from studylib.strategies.halving import SuccessiveHalving

    class Halving(SuccessiveHalving):
        pass

    Halving.__qualname__, Halving.__module__ = "Halving", "userclimb"
    climb.Halving = Halving
    plugins.register_strategy("my-sh", Halving)
    assert "my-sh" in MULTI_FIDELITY and "my-sh" not in REGISTRY
    spec, data = study.prepare("round1", strategy="my-sh", dataset="synthetic", max_epochs=3)
    assert spec.strategy == "my-sh"  # given max_epochs as memetic-sh is
    assert spec.identity(data.fingerprint)["strategy_class"] == "userclimb:Halving"
    before = spec.study_id(data.fingerprint)
    climb.Other = type("Other", (SuccessiveHalving,), {"__module__": "userclimb"})
    plugins.register_strategy("my-sh", climb.Other, replace=True)
    assert spec.study_id(data.fingerprint) != before


def test_registering_refuses_what_would_be_ambiguous(climb):
    with pytest.raises(StudyError, match="one of studylib's own"):
        plugins.register_strategy("memetic", climb.Climb)
    with pytest.raises(StudyError, match="no comma or colon"):
        plugins.register_strategy("a,b", climb.Climb)
    with pytest.raises(StudyError, match="not a studylib.strategies.Strategy subclass"):
        plugins.register_strategy("other", dict)

    def inside():
        class Local(Strategy):
            pass
        return Local

    with pytest.raises(StudyError, match="defined inside a function or another class"):
        plugins.register_strategy("local2", inside())
    with pytest.raises(StudyError, match="a folder or word studylib uses"):
        plugins.register_strategy("bench", climb.Climb)  # a comparison writes OUT/bench/ beside OUT/<strategy>/

    class Another(climb.Climb):
        pass

    Another.__qualname__, Another.__module__ = "Another", "userclimb"
    with pytest.raises(StudyError, match="cannot be imported"):
        plugins.register_strategy("climb", Another)  # userclimb has no Another yet
    climb.Another = climb.Climb
    with pytest.raises(StudyError, match="names another object"):
        plugins.register_strategy("climb", Another)
    climb.Another = Another
    with pytest.raises(StudyError, match=r"registered already \(userclimb:Climb\)"):
        plugins.register_strategy("climb", Another)
    plugins.register_strategy("climb", Another, replace=True)
    assert REGISTRY["climb"] == "userclimb:Another"
    plugins.register_strategy("climb", "userclimb:Another")  # the same again: nothing to replace
    with pytest.raises(StudyError, match="cannot be imported"):
        plugins.register_strategy("gone", "userclimb:Nowhere")


def test_an_installed_packages_strategy_is_known_in_a_fresh_process_as_a_notebook_kernel_is(tmp_path):
    """``run compare``'s kernel checks its strategies before any study: the entry points load there."""
    import subprocess

    (tmp_path / "climbpkg.py").write_text(CLIMB)
    dist = tmp_path / "climbpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: climbpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[studylib.strategies]\nclimb = climbpkg:Climb\n")
    code = ("from studylib.report.compare.run import resolve_strategies\n"
            "print(resolve_strategies('random,climb'))")
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{':'.join(sys.path)}"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['random', 'climb']"


def test_an_installed_packages_entry_point_is_a_choice_of_the_command_line(climb, tmp_path, capsys, monkeypatch):
    del REGISTRY["climb"]  # known only through the entry point now
    points = [metadata.EntryPoint("climb", "userclimb:Climb", plugins.GROUP),
              metadata.EntryPoint("broken", "nowhere_at_all:Thing", plugins.GROUP)]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [p for p in points if p.group == group])
    monkeypatch.setattr(plugins, "_loaded", False)
    rc = cli.main(["search", "round1", "--strategy", "climb", "--trials", "2", "--dataset", "synthetic",
                   "--max-epochs", "1", "--executor", "inline", "--no-progress", "--out", str(tmp_path / "cli")])
    out, err = capsys.readouterr()
    assert rc == 0 and "2 trials (2 trained, 0 from the ledger)" in out
    assert err.startswith("studylib: note: strategy plugin broken (nowhere_at_all:Thing) left out: ")
    assert "broken" not in REGISTRY


def test_a_name_registered_in_the_process_keeps_its_class_over_an_installed_plugin(climb, tmp_path, capsys,
                                                                                     monkeypatch):
    (tmp_path / "otherclimb.py").write_text(CLIMB)  # another class under the name: the user's own version
    monkeypatch.setitem(sys.modules, "otherclimb", importlib.import_module("otherclimb"))
    plugins.register_strategy("climb", "otherclimb:Climb", replace=True)
    points = [metadata.EntryPoint("climb", "userclimb:Climb", plugins.GROUP)]  # the installed package's
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [p for p in points if p.group == group])
    monkeypatch.setattr(plugins, "_loaded", False)
    plugins.load_entry_points()
    assert REGISTRY["climb"] == "otherclimb:Climb"
    assert capsys.readouterr().err == ("studylib: note: strategy plugin climb (userclimb:Climb) left out: 'climb' is "
                                       "registered in this process already (otherclimb:Climb), which stays\n")
    # the same class, its entry point naming it where a package re-exports it: no note
    (tmp_path / "reexport.py").write_text("from otherclimb import Climb\n")
    points[:] = [metadata.EntryPoint("climb", "reexport:Climb", plugins.GROUP)]
    monkeypatch.setattr(plugins, "_loaded", False)
    plugins.load_entry_points()
    assert REGISTRY["climb"] == "otherclimb:Climb" and capsys.readouterr().err == ""


def test_a_type_error_inside_a_strategys_constructor_is_not_called_an_unknown_option(climb, tmp_path):
    """Only an option the user gave is 'unknown': a call inside the constructor with a keyword its
    callee lacks is the strategy's own error, said as Python says it."""
    (tmp_path / "userbroken.py").write_text(CLIMB.replace("super().__init__(space, seed)",
                                                          "super().__init__(space, seed)\n        (lambda: 0)(sead=1)"))
    plugins.register_strategy("broken", "userbroken:Climb")
    try:
        with pytest.raises(StudyError, match=r"restarts': 3\}: Climb.__init__.<locals>.<lambda>\(\) got an "
                                             r"unexpected keyword argument 'sead'$"):
            study.prepare("round1", strategy="broken", dataset="synthetic", strategy_options={"restarts": 3})
    finally:
        sys.modules.pop("userbroken", None)  # (the fixture puts the registry back)


def test_a_space_object_and_a_dataset_object_are_checked_as_their_names_are(tmp_path):
    from studylib.space import Dimension, SearchSpace
    from studylib.space_file import load_space

    odd = SearchSpace("odd", (*load_space("round1").dimensions, Dimension("weight_decay", (0.0, 0.1))))
    with pytest.raises(StudyError, match="weight_decay"):
        study.prepare(odd, dataset="synthetic")  # it was trained as if absent: two configs alike
    _, data = study.prepare("round1", dataset="synthetic")
    with pytest.raises(StudyError) as e:
        study.search("round1", tmp_path / "s", dataset=data, executor="inline", progress=False)
    assert "\n" not in str(e.value) and "dataset must be a name, got a Dataset" in str(e.value)


def test_data_of_ones_own_runs_through_run_study_as_docs_extending_shows(tmp_path):
    from studylib.data import Dataset
    from studylib.space_file import load_space
    from studylib.study import run_study
    from studylib.study_spec import StudySpec
    from studylib.training import Budget

    _, syn = study.prepare("round1", dataset="synthetic")
    data = Dataset("mine", syn.x_train, syn.y_train, syn.x_val, syn.y_val, syn.x_test, syn.y_test, n_classes=syn.n_classes)
    spec = StudySpec(space=load_space("round1"), strategy="random", trials=2, seed=0, dataset="mine",
                     budget=Budget(max_epochs=1, patience=4))
    first = run_study(spec, data, tmp_path / "mine", executor="inline", progress=False)
    again = run_study(spec, data, tmp_path / "mine", executor="inline", progress=False)
    assert first.trained == 2 and again.trained == 0 and (tmp_path / "mine" / "trials.csv").exists()
    assert set(pd.read_csv(tmp_path / "mine" / "trials.csv")["dataset"]) == {"mine"}
    # built by hand, checked as prepare checks its inputs, before anything is written
    from dataclasses import replace

    from studylib.space import Dimension, SearchSpace

    odd = SearchSpace("odd", (*load_space("round1").dimensions, Dimension("weight_decay", (0.0, 0.1))))
    bad = {"unknown hyperparameter": (replace(spec, space=odd), data),
           "did you mean 'population_size'": (replace(spec, strategy="memetic", strategy_options={"popsize": 4}), data),
           "must be an integer": (replace(spec, strategy="memetic", strategy_options={"population_size": "x"}), data),
           "outside 0..1 (n_classes)": (spec, replace(data, n_classes=2)),
           "x_val's images are": (spec, replace(data, x_val=data.x_val[:, :4])),
           "one integer label per image": (spec, replace(data, y_test=data.y_test.astype(float)))}
    for text, (s, d) in bad.items():
        with pytest.raises(StudyError, match=re.escape(text)):
            run_study(s, d, tmp_path / "bad", executor="inline", progress=False)
    assert not (tmp_path / "bad").exists()
