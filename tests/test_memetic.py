import zlib

import pytest

from studylib.strategies import operators as ops
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import make_strategy
from studylib.strategies.memetic import MemeticGA

SPACE = SearchSpace(name="synthetic", dimensions=(
    make_dimension("a", list(range(8))),
    make_dimension("b", list(range(8))),
    make_dimension("c", list(range(6))),
    make_dimension("op", ["x", "y", "z", "w"]),
    make_dimension("d", [0.0, 0.5, 1.0]),
))
TARGET = (5, 2, 4, 1, 2)


def score(config) -> float:
    """A smooth bowl around TARGET plus a small deterministic per-config 'noise'."""
    g = SPACE.encode(config)
    bowl = -sum((x - t) ** 2 for x, t in zip(g[:3], TARGET[:3])) - 3 * (g[3] != TARGET[3]) - (g[4] - TARGET[4]) ** 2
    jitter = (zlib.crc32(SPACE.key(config).encode()) % 1000) / 1000.0
    return bowl + 0.5 * jitter


def drive(strategy, evaluations, batch=1, check=None):
    """ask/tell until `evaluations` distinct configs were told; returns the proposals."""
    proposals = []
    while strategy.evals < evaluations and not strategy.finished:
        configs = strategy.ask(batch)
        assert configs, "the memetic GA stalled"
        for c in configs:
            proposals.append(SPACE.key(c))
            strategy.tell(c, score(c))
        if check:
            check(strategy)
    return proposals


def test_local_search_only_moves_to_better_neighbours():
    m = make_strategy("memetic", SPACE, seed=3)
    drive(m, 200)
    assert m.local_moves == len(m.moves) > 5
    for src, dst, s_src, s_dst in m.moves:
        assert dst in ops.neighbours(src, cardinalities=SPACE.cardinalities, ordinal=[d.ordinal for d in SPACE.dimensions])
        assert s_dst > s_src
        assert m.known[dst] == s_dst and m.known[src] == s_src
    # the search finds the optimum of the bowl
    assert max(m.known, key=m.known.get)[:4] == TARGET[:4]


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 0.8])
@pytest.mark.parametrize("batch", [1, 4])
def test_local_search_respects_its_budget_share(share, batch):
    m = make_strategy("memetic", SPACE, seed=1, local_share=share)

    def bound(s):
        assert not s.archive.pending
        assert s.local_evals <= share * s.evals + 1e-9

    drive(m, 150, batch=batch, check=bound)
    if share == 0.0:
        assert m.local_evals == 0
    else:
        assert m.local_evals > 0.5 * share * m.evals  # the share is actually used
    assert m.evals >= 150


def test_never_proposes_a_known_config_and_covers_a_tiny_space():
    tiny = SearchSpace(name="tiny", dimensions=(make_dimension("a", [1, 2, 3]), make_dimension("op", ["x", "y"]),
                                                make_dimension("b", [0.1, 0.2, 0.3])))
    m = MemeticGA(tiny, seed=0, population_size=4)
    seen = []
    while not m.finished:
        configs = m.ask(2)
        assert configs
        for c in configs:
            seen.append(tiny.key(c))
            m.tell(c, float(sum(tiny.encode(c))))
    assert len(seen) == len(set(seen)) == tiny.size
    assert m.ask(1) == []
    p = drive(make_strategy("memetic", SPACE, seed=5), 300)
    assert len(p) == len(set(p))


def _first_local_step(lamarckian):
    m = MemeticGA(SPACE, seed=2, population_size=4, lamarckian=lamarckian)
    init = m.ask(4)
    assert len(init) == 4 and m.local_evals == 0
    scores = [1.0, 5.0, 2.0, 3.0]
    for c, s in zip(init, scores):
        m.tell(c, s)
    best = SPACE.encode(init[1])
    (probe,) = m.ask(1)  # generation done: the climb starts from the best individual
    g = SPACE.encode(probe)
    assert g in ops.neighbours(best, cardinalities=SPACE.cardinalities, ordinal=[d.ordinal for d in SPACE.dimensions])
    assert m.climber.pending == {g}
    m.tell(probe, 9.0)  # an improvement
    assert m.local_evals == 1 and m.moves == [(best, g, 5.0, 9.0)]
    return m, best, g


def test_lamarckian_write_back_replaces_the_individual():
    m, best, g = _first_local_step(lamarckian=True)
    assert g in m.population and best not in m.population
    assert m.fitness[m.population.index(g)] == 9.0
    # the next local proposal climbs on from the improved genome
    (nxt,) = m.ask(1)
    assert SPACE.encode(nxt) in ops.neighbours(g, cardinalities=SPACE.cardinalities,
                                               ordinal=[d.ordinal for d in SPACE.dimensions])


def test_baldwinian_keeps_the_genome_but_takes_the_fitness():
    m, best, g = _first_local_step(lamarckian=False)
    assert best in m.population and g not in m.population
    assert m.fitness[m.population.index(best)] == 9.0


def test_cached_and_unasked_tells_are_tolerated_and_logged():
    m = make_strategy("memetic", SPACE, seed=0)
    stranger = SPACE.config_at(123)
    m.tell(stranger, 0.5)  # never asked (e.g. served from a ledger)
    m.tell(stranger, 0.5)  # told twice
    assert m.evals == 1
    drive(m, 60)
    assert SPACE.key(stranger) not in {SPACE.key(c) for c in m.ask(5)}
    assert m.log and set(m.log[0]) == {"gen", "evals", "best", "mean"}
    assert [r["gen"] for r in m.log] == list(range(len(m.log)))
    assert all(r["best"] >= r["mean"] for r in m.log)
    with pytest.raises(ValueError):
        MemeticGA(SPACE, local_share=1.0)
    with pytest.raises(TypeError):
        MemeticGA(SPACE, colour="red")
