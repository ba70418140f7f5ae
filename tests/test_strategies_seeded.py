import pytest

from studylib.space import SearchSpace, make_dimension
from studylib.strategies import REGISTRY, config_of, make_strategy

SPACE = SearchSpace(name="small", dimensions=(
    make_dimension("a", [1, 2, 3, 4]),
    make_dimension("op", ["x", "y", "z"]),
    make_dimension("b", [0.1, 0.2, 0.3]),
    make_dimension("c", [8, 16]),
))


def _run(name, seed, steps=24):
    """A short ask/tell run (two proposals per ask); returns the proposals in order."""
    strategy = make_strategy(name, SPACE, seed=seed)
    told = {}
    proposals = []
    while len(proposals) < steps:
        configs = strategy.ask(2)
        if not configs:
            break
        for c in configs:
            proposals.append(repr(c))  # a replicate differs from its config's first run
            g = SPACE.encode(config_of(c))
            told.setdefault(SPACE.key(config_of(c)), g[0] * 1.5 - (g[1] - 1) ** 2 + g[2] * 0.3 + g[3])
            strategy.tell(c, told[SPACE.key(config_of(c))])
    return proposals


def test_every_registered_strategy_is_reproducible_from_its_seed():
    assert {"random", "grid", "ga", "memetic", "tpe", "optuna-ga", "regevo", "local"} <= set(REGISTRY)
    for name in REGISTRY:
        first = _run(name, seed=11)
        assert len(first) >= 12, name
        assert _run(name, seed=11) == first, f"{name}: same seed, different proposals"
        assert _run(name, seed=12) != first, f"{name}: different seeds, same proposals"


TINY = SearchSpace(name="tiny", dimensions=(make_dimension("a", [1, 2, 3]), make_dimension("op", ["x", "y"])))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_strategy_crashes_when_the_space_is_exhausted(name):
    """A study-loop stand-in: repeats are served from a cache; at most 200 asks."""
    strategy = make_strategy(name, TINY, seed=0)
    cache = {}
    for _ in range(200):
        configs = strategy.ask(2)
        if not configs:
            break
        for c in configs:
            key, g = TINY.key(config_of(c)), TINY.encode(config_of(c))
            cache.setdefault(key, float(g[0] - g[1]))
            strategy.tell(c, cache[key])
    if name != "random":  # random search samples with replacement and never finishes
        assert len(cache) == TINY.size and strategy.finished and strategy.ask(2) == []


def _bowl(config):
    g = SPACE.encode(config)
    return -abs(g[0] - 2) - (g[1] != 1) - abs(g[2] - 1) - abs(g[3] - 1)


def test_regularized_evolution_ages_its_population_and_mutates_one_gene():
    s = make_strategy("regevo", SPACE, seed=3, population_size=6, sample_size=3)
    first = [SPACE.encode(c) for c in s.ask(6)]
    assert len(set(first)) == 6  # a random start of distinct genomes
    assert s.ask(1) == []  # no parent before a result is told
    for g in first:
        s.tell(SPACE.decode(g), _bowl(SPACE.decode(g)))
    told = list(first)
    for _ in range(40):
        (c,) = s.ask(1)
        g = SPACE.encode(c)
        members = [m for m, _ in s.population]
        assert 1 in {sum(x != y for x, y in zip(g, m)) for m in members}  # one gene off a member
        s.tell(c, _bowl(c))
        told.append(g)
        assert [m for m, _ in s.population] == told[-6:]  # the oldest leaves, whatever its score
    assert max(s.archive.known.values()) == 0  # it finds the optimum of this small bowl
    with pytest.raises(ValueError):
        make_strategy("regevo", SPACE, population_size=4, sample_size=5)


def test_regevo_parent_is_the_best_of_the_sample():
    from _scripted_rng import ScriptedRng

    s = make_strategy("regevo", SPACE, seed=0, population_size=4, sample_size=2)
    for k, c in enumerate(s.ask(4)):
        s.tell(c, float(k))
    members = [m for m, _ in s.population]
    s.rng = ScriptedRng(choice=[[0, 2], [1]], integers=[0])
    (child,) = s.ask(1)  # sample members 0 and 2 (scores 0 and 2): parent is member 2
    expected = list(members[2])
    expected[1] = 0 if members[2][1] != 0 else 1
    assert SPACE.encode(child) == tuple(expected)


def test_local_search_climbs_and_restarts_at_local_optima():
    s = make_strategy("local", SPACE, seed=1)
    seen = []
    while s.evals < 60 and not s.finished:
        configs = s.ask(1)
        for c in configs:
            seen.append(SPACE.key(c))
            s.tell(c, _bowl(c))
    assert len(seen) == len(set(seen))  # never proposes a known config
    for src, dst, a, b in s.climber.moves:
        assert b > a and dst in [SPACE.encode(n) for n in SPACE.neighbours(SPACE.decode(src))]
    assert max(s.archive.known.values()) == 0 and s.restarts >= 2  # found the optimum, then restarted
    assert s.climber.optima


def test_new_baselines_run_through_the_bench_protocol_on_a_real_table():
    from studylib import bench

    table = bench.load_table("hpolib-naval")
    for name in ("regevo", "local", "memetic-no-local"):
        r = bench.run_one(table, name, 0, budget=60)
        assert r["charged"] == 60 and (r["regret"] >= 0).all() and r["regret"][-1] <= r["regret"][0]
