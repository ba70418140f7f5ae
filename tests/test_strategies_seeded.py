from studylib.space import make_dimension
from studylib.space import SearchSpace
from studylib.strategies import REGISTRY, make_strategy

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
            proposals.append(SPACE.key(c))
            g = SPACE.encode(c)
            told.setdefault(SPACE.key(c), g[0] * 1.5 - (g[1] - 1) ** 2 + g[2] * 0.3 + g[3])
            strategy.tell(c, told[SPACE.key(c)])
    return proposals


def test_every_registered_strategy_is_reproducible_from_its_seed():
    assert {"random", "grid", "ga", "memetic", "tpe", "optuna-ga"} <= set(REGISTRY)
    for name in REGISTRY:
        first = _run(name, seed=11)
        assert len(first) >= 12, name
        assert _run(name, seed=11) == first, f"{name}: same seed, different proposals"
        assert _run(name, seed=12) != first, f"{name}: different seeds, same proposals"
