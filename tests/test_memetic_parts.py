"""The memetic GA's parts, each alone: GA core (Evolution), neighbour order, hill climber, share."""
import numpy as np
import pytest

from _scripted_rng import ScriptedRng
from studylib.strategies import operators as ops
from studylib.strategies.archive import Archive
from studylib.strategies.evolution import Evolution
from studylib.strategies.guidance import NeighbourOrder, value_weights
from studylib.strategies.local_search import HillClimber
from studylib.strategies.memetic import LocalShare

CARDS = [8, 8, 6, 4, 3]
ORDINAL = [True, True, True, False, True]


def evolution(seed=0, **kw):
    archive = Archive(CARDS)
    return archive, Evolution(archive, np.random.default_rng(seed), ordinal=ORDINAL, **kw)


def genes_changed(a, b):
    return sum(x != y for x, y in zip(a, b))


# -- GA core -------------------------------------------------------------------------------------
def test_lhs_start_spreads_every_value_evenly_random_start_does_not():
    uneven = 0
    for seed in range(10):
        _, evo = evolution(seed, population_size=10)
        first = evo.initial()
        assert len(first) == len(set(first)) == 10
        for i, c in enumerate(CARDS):
            counts = np.bincount([g[i] for g in first], minlength=c)
            assert set(counts) <= {10 // c, -(-10 // c)}, (seed, i, counts)
        archive, rnd = evolution(seed, population_size=10, init="random")
        start = rnd.initial()
        assert len(start) == len(set(start)) == 10 and all(archive.untried(g) for g in start)
        uneven += any(set(np.bincount([g[i] for g in start], minlength=c)) - {10 // c, -(-10 // c)}
                      for i, c in enumerate(CARDS))
    assert uneven >= 5


def test_breeding_gives_untried_distinct_children_one_or_two_genes_from_a_parent():
    for two, allowed in ((0.0, {1}), (1.0, {2})):
        archive, evo = evolution(1, crossover_rate=0.0, two_gene_prob=two)
        evo.population = [tuple(int(x) for x in np.random.default_rng(k).integers(CARDS)) for k in range(6)]
        evo.fitness = [float(k) for k in range(6)]
        archive.known.update(dict(zip(evo.population, evo.fitness)))
        children = evo.breed(12)
        assert len(children) == len(set(children)) == 12 and all(archive.untried(c) for c in children)
        assert all(min(genes_changed(c, p) for p in evo.population) in allowed for c in children)
    # with crossover every child still is new
    archive, evo = evolution(2, crossover_rate=1.0, selection="rank")
    evo.population, evo.fitness = [(0, 0, 0, 0, 0), (7, 7, 5, 3, 2)], [1.0, 2.0]
    archive.known.update(dict(zip(evo.population, evo.fitness)))
    assert all(archive.untried(c) for c in evo.breed(10))


def test_mutation_weights_steer_the_new_values():
    archive, evo = evolution(3, crossover_rate=0.0)
    evo.population, evo.fitness = [(0, 0, 0, 0, 0)], [1.0]
    archive.known[(0, 0, 0, 0, 0)] = 1.0
    weights = [np.eye(c)[c - 1] + 1e-12 for c in CARDS]  # all mass on the last value
    for child in evo.breed(8, weights):
        assert all(v in (0, c - 1) for v, c in zip(child, CARDS))


def test_survival_plus_versus_generational():
    archive, plus = evolution(0, population_size=3)
    _, gen = evolution(0, population_size=3, survival="generational", n_elite=1)
    parents = [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (2, 0, 0, 0, 0)]
    children = [(3, 0, 0, 0, 0), (4, 0, 0, 0, 0), (5, 0, 0, 0, 0)]
    for evo in (plus, gen):
        evo.archive = archive
        evo.population, evo.fitness = list(parents), [9.0, 8.0, 7.0]
    archive.known.update(dict(zip(parents + children, [9.0, 8.0, 7.0, 1.0, 2.0, 3.0])))
    plus.survive(children + [(6, 0, 0, 0, 0)])  # a child never told is left out
    gen.survive(children)
    assert plus.population == parents and plus.fitness == [9.0, 8.0, 7.0]
    assert gen.population == [(0, 0, 0, 0, 0), (5, 0, 0, 0, 0), (4, 0, 0, 0, 0)]
    assert [r["gen"] for r in plus.log] == [0] and plus.log[0]["best"] == 9.0


def test_replace_worst_only_with_a_better_newcomer():
    _, evo = evolution()
    evo.population, evo.fitness = [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0)], [5.0, 2.0]
    assert evo.replace_worst((2, 0, 0, 0, 0), 1.0) is None
    assert evo.replace_worst((0, 0, 0, 0, 0), 9.0) is None  # already a member
    assert evo.replace_worst((2, 0, 0, 0, 0), 3.0) == 1 and evo.population[1] == (2, 0, 0, 0, 0)


@pytest.mark.parametrize("bad", [{"init": "sobol"}, {"survival": "comma"}, {"selection": "roulette"},
                                 {"crossover": "pmx"}, {"population_size": 1}])
def test_bad_core_options(bad):
    with pytest.raises(ValueError):
        evolution(**bad)


# -- neighbour order -----------------------------------------------------------------------------
KNOWN = {(1, 0): 9.0, (1, 1): 8.0, (0, 1): 1.0, (0, 0): 0.0, (2, 1): 0.5}


def test_value_weights_are_the_density_ratio_of_top_and_rest():
    w = value_weights(KNOWN, [3, 2], top=0.25)  # top = the best two: (1, 0) and (1, 1)
    # dimension 0: top counts [0, 2, 0] + 1 -> [1, 3, 1] / 5; rest [2, 0, 1] + 1 -> [3, 1, 2] / 6
    assert w[0] == pytest.approx([0.4, 3.6, 0.6])
    # dimension 1: top [1, 1] + 1 -> 1/2 each; rest [1, 2] + 1 -> [2/5, 3/5]
    assert w[1] == pytest.approx([0.5 / 0.4, 0.5 / 0.6])


def test_guided_order_draws_by_weight_power_uniform_otherwise():
    left = [(0, 0), (1, 1), (2, 0)]  # neighbours of (1, 0): dimension 0 to 0 or 2, dimension 1 to 1
    r = ScriptedRng(choice=[2])
    assert NeighbourOrder(r, top=0.25, power=2.0).choose((1, 0), left, KNOWN, [3, 2]) == 2
    p = np.array([0.4 ** 2, (0.5 / 0.6) ** 2, 0.6 ** 2])
    assert r.calls[0][1]["p"] == pytest.approx(p / p.sum())
    r = ScriptedRng(integers=[1])
    assert NeighbourOrder(r, guided=False).choose((1, 0), left, KNOWN, [3, 2]) == 1
    r = ScriptedRng(integers=[0])  # guided, but fewer than 4 genomes known: uniform
    assert NeighbourOrder(r).choose((1, 0), left, dict(list(KNOWN.items())[:3]), [3, 2]) == 0
    order = NeighbourOrder(np.random.default_rng(0), power=3.0)
    assert order.mutation_weights(dict(list(KNOWN.items())[:3]), [3, 2]) is None
    assert order.mutation_weights(KNOWN, [3, 2])[0] == pytest.approx([0.4 ** 3, 3.6 ** 3, 0.6 ** 3])
    with pytest.raises(ValueError):
        NeighbourOrder(r, top=0.0)


# -- hill climber --------------------------------------------------------------------------------
def climber(pattern=True, seed=0):
    archive = Archive([5, 3])
    c = HillClimber(archive, np.random.default_rng(seed), NeighbourOrder(np.random.default_rng(seed), guided=False),
                    ordinal=[True, False], pattern=pattern)
    return archive, c


def test_climber_moves_to_the_first_better_neighbour_and_stops_at_an_optimum():
    archive, hc = climber(pattern=False)
    archive.known[(1, 0)] = 1.0
    assert hc.start([(1, 0)]) == (1, 0)
    nbrs = set(ops.neighbours((1, 0), cardinalities=[5, 3], ordinal=[True, False]))
    tried = []
    while hc.centre == (1, 0):
        g = hc.step()
        assert g in nbrs and g not in tried
        tried.append(g)
        hc.propose(g)
        archive.record(g, 5.0 if g == (2, 0) else 0.0)
        move = hc.result(g, archive.known[g], True)
        assert (move is not None) == (g == (2, 0))
    assert hc.centre == (2, 0) and hc.moves == [((1, 0), (2, 0), 1.0, 5.0)] and hc.evals == len(tried)
    while hc.centre is not None:  # everything else is worse: (2, 0) is a local optimum
        g = hc.step()
        if g is None:
            break
        hc.propose(g)
        archive.record(g, 0.0)
        assert hc.result(g, 0.0, True) is None
    assert hc.centre is None and (2, 0) in hc.optima
    assert hc.start([(2, 0)]) is None  # an optimum is not climbed again


def test_pattern_tries_the_next_step_in_the_improving_direction_first():
    for pattern in (True, False):
        hits = 0
        for seed in range(12):
            archive, hc = climber(pattern, seed)
            archive.known[(1, 0)] = 0.0
            hc.start([(1, 0)])
            while True:
                g = hc.step()
                hc.propose(g)
                archive.record(g, 1.0 if g == (2, 0) else -1.0)
                if hc.result(g, archive.known[g], True):
                    break
            hits += hc.step() == (3, 0)
        assert (hits == 12) if pattern else (hits < 12)


def test_results_from_an_earlier_centre_are_ignored_and_waiting_is_not_an_optimum():
    archive, hc = climber()
    archive.known[(0, 0)] = 0.0
    hc.start([(0, 0)])
    props = []
    while (g := hc.step()) is not None:  # (0, 0) has three neighbours; propose all at once
        hc.propose(g)
        props.append(g)
    assert len(props) == 3 and hc.centre == (0, 0)  # waiting for results, not an optimum
    archive.record(props[0], 2.0)
    assert hc.result(props[0], 2.0, True) == ((0, 0), props[0])
    archive.record(props[1], 9.0)
    assert hc.result(props[1], 9.0, True) is None  # from the old centre: the climb moved on
    assert hc.centre == props[0] and hc.evals == 2


# -- the local-search share ----------------------------------------------------------------------
def test_fixed_share_bounds_local_proposals():
    share = LocalShare(0.5)
    assert share.allows(0, 1) and not share.allows(1, 1) and share.allows(4, 9) and not share.allows(5, 9)
    assert not LocalShare(0.0).allows(0, 100)
    with pytest.raises(ValueError):
        LocalShare(1.0)


def test_adaptive_share_follows_the_phase_that_improves():
    share = LocalShare(0.8, min_share=0.2, adaptive=True)
    assert share.value == pytest.approx(0.5)  # equal credit
    share.observe(1.0, local=False)  # the first score sets the best, credits nobody
    assert share.value == pytest.approx(0.5)
    for k in range(2, 12):
        share.observe(float(k), local=True)
    high = share.value
    assert 0.7 < high <= 0.8
    share.observe(5.0, local=False)  # no improvement: nothing changes
    assert share.value == high
    for k in range(12, 30):
        share.observe(float(k), local=False)
    assert 0.2 <= share.value < 0.3
    assert LocalShare(0.8, min_share=0.2).value == 0.8  # not adaptive: fixed
    assert LocalShare(0.4, min_share=0.6, adaptive=True).low == 0.4  # min_share capped at local_share
