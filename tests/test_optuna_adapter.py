import logging

import optuna
import pytest

from studylib.space import make_dimension
from studylib.space import SearchSpace
from studylib.strategies import make_strategy
from studylib.strategies.optuna_samplers import TPE, OptunaGA

SPACE = SearchSpace(name="small", dimensions=(
    make_dimension("lr", [1e-4, 3e-4, 1e-3, 3e-3]),
    make_dimension("act", ["relu", "tanh", "elu"]),
    make_dimension("units", [16, 32, 64]),
))


def f(config):
    g = SPACE.encode(config)
    return -abs(g[0] - 2) - (g[1] != 1) - abs(g[2] - 1) * 0.5


def complete(study):
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


@pytest.mark.parametrize("name", ["tpe", "optuna-ga"])
def test_ask_tell_roundtrip_with_values_and_index_distributions(name):
    s = make_strategy(name, SPACE, seed=0)
    assert isinstance(s, TPE if name == "tpe" else OptunaGA)
    assert all(isinstance(d, optuna.distributions.CategoricalDistribution) for d in s._dists.values())
    seen = set()
    for _ in range(15):
        (c,) = s.ask(1)
        assert set(c) == set(SPACE.names)
        assert all(c[d.name] in d.values for d in SPACE.dimensions)  # real values, floats exact
        seen.add(SPACE.key(c))
        s.tell(c, f(c))
    assert len(seen) == 15  # repeats are answered from the known scores, not proposed
    trials = complete(s.study)
    assert len(trials) >= 15
    assert s.study.best_value == max(f(SPACE.decode([t.params[n] for n in s._names])) for t in trials)
    assert s.evals == 15


@pytest.mark.parametrize("name", ["tpe", "optuna-ga"])
def test_tell_for_configs_optuna_did_not_ask(name):
    s = make_strategy(name, SPACE, seed=1)
    batch = s.ask(3)
    assert len({SPACE.key(c) for c in batch}) == 3
    for c in reversed(batch):  # told out of order
        s.tell(c, f(c))
    assert not s._open
    n = len(complete(s.study))
    stranger = SPACE.config_at(5)
    s.tell(stranger, 0.25)  # served from a cache / another study: never asked here
    s.tell(batch[0], f(batch[0]))  # a repeat told again
    trials = complete(s.study)
    assert len(trials) == n + 2
    added = trials[-2]
    assert added.value == 0.25 and SPACE.decode([added.params[k] for k in s._names]) == stranger
    # the sampler keeps working after the added trials
    for _ in range(5):
        for c in s.ask(2):
            s.tell(c, f(c))
    assert s.evals >= 8


def test_optuna_logging_is_silenced(caplog):
    with caplog.at_level(logging.INFO, logger="optuna"):
        s = make_strategy("tpe", SPACE, seed=0)
        for _ in range(12):
            for c in s.ask(1):
                s.tell(c, f(c))
    assert not [r for r in caplog.records if r.name.startswith("optuna") and r.levelno <= logging.INFO]
    assert optuna.logging.get_verbosity() >= optuna.logging.WARNING


def test_sampler_options_and_unknown_options():
    s = make_strategy("optuna-ga", SPACE, seed=0, population_size=6)
    assert s.sampler.population_size == 6
    with pytest.raises(TypeError):
        make_strategy("tpe", SPACE, seed=0, colour="red")


def test_exhausts_a_tiny_space():
    tiny = SearchSpace(name="tiny", dimensions=(make_dimension("a", [1, 2]), make_dimension("b", ["x", "y", "z"])))
    s = make_strategy("tpe", tiny, seed=0)
    seen = {}
    for _ in range(40):
        configs = s.ask(1)
        if not configs:
            break
        for c in configs:
            seen[tiny.key(c)] = seen.get(tiny.key(c), 0) + 1
            s.tell(c, float(tiny.encode(c)[1]))
    assert len(seen) == tiny.size and s.finished and s.ask(1) == []
