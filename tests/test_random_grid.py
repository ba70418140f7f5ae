import pytest

from studylib.errors import StudyError
from studylib.space import SearchSpace
from studylib.space_file import load_space
from studylib.strategies import make_strategy


def test_grid_visits_every_combination_once_in_a_seeded_order():
    space = load_space("round3")
    grid = make_strategy("grid", space, seed=4)
    seen = []
    while not grid.finished:
        seen += grid.ask(500)
    assert len(seen) == space.size == len({SearchSpace.key(c) for c in seen})
    assert grid.ask(1) == []
    natural = make_strategy("grid", space, seed=None).ask(3)
    assert natural == [space.config_at(i) for i in range(3)]
    # the shuffled order spreads a short study over the leading dimensions too
    first = make_strategy("grid", space, seed=4).ask(20)
    assert len({c["learning_rate"] for c in first}) > 1 and len({c["filters1"] for c in first}) > 1


def test_random_search_samples_the_space_uniformly():
    space = load_space("round1")
    configs = make_strategy("random", space, seed=0).ask(2000)
    counts = {v: sum(c["learning_rate"] == v for c in configs) for v in space["learning_rate"].values}
    assert all(400 < n < 600 for n in counts.values()), counts


def test_unknown_strategy_and_options():
    with pytest.raises(StudyError, match="unknown strategy 'hill'"):
        make_strategy("hill", load_space("round1"))
    with pytest.raises(TypeError, match="unknown options"):
        make_strategy("random", load_space("round1"), colour="red")
