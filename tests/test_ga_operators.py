import numpy as np
import pytest

from _scripted_rng import ScriptedRng
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import operators as ga

A = (0, 1, 2, 3, 4, 0, 1)
B = (4, 3, 2, 1, 0, 4, 3)
CARDS = [5, 5, 5, 5, 5, 5, 5]


def rng(seed=0):
    return np.random.default_rng(seed)


def test_tournament_selection_picks_the_best_of_the_drawn_contestants():
    pop = ["a", "b", "c", "d", "e"]
    fit = [3.0, 1.0, 5.0, 2.0, 4.0]
    winners = ga.select_tournament(pop, fit, 6, rng=rng(7), tournsize=3)
    # replay the same draws: each winner is the fittest of its three contestants
    replay = rng(7)
    expected = []
    for _ in range(6):
        idx = replay.integers(5, size=3)
        expected.append(pop[max(idx, key=lambda i: fit[i])])
    assert winners == expected
    # a huge tournament always finds the best; a tournament of one is a uniform draw
    assert set(ga.select_tournament(pop, fit, 20, rng=rng(1), tournsize=60)) == {"c"}
    assert len(set(ga.select_tournament(pop, fit, 200, rng=rng(1), tournsize=1))) == 5
    with pytest.raises(ValueError):
        ga.select_tournament([], [], 1, rng=rng())


def test_rank_selection_favours_rank_not_scale():
    pop = list(range(5))
    fit = [0.0, 1.0, 2.0, 3.0, 1000.0]  # the outlier's scale must not matter
    picks = ga.select_rank(pop, fit, 5000, rng=rng(3), pressure=2.0)
    counts = np.bincount(picks, minlength=5)
    assert counts[0] == 0  # pressure 2: the worst has weight 0
    assert list(counts) == sorted(counts)  # more picks for better ranks
    assert counts[4] / counts.sum() == pytest.approx(0.4, abs=0.03)  # 2/n for the best
    assert ga.select_rank(pop, fit, 7, rng=rng(5)) == ga.select_rank(pop, fit, 7, rng=rng(5))


def test_elitism_keeps_the_best():
    pop = [(0,), (1,), (2,), (3,)]
    fit = [0.5, 2.0, 1.0, 3.0]
    assert ga.select_best(pop, fit, 2) == [(3,), (1,)]
    assert ga.survive_best(pop, fit, 2) == ([(3,), (1,)], [3.0, 2.0])
    offspring = [(4,), (5,), (6,), (7,)]
    off_fit = [0.1, 0.2, 0.3, 0.4]  # all worse than the parents' best two
    nxt, nfit = ga.survive_elitist(pop, fit, offspring, off_fit, n_elite=2)
    assert len(nxt) == 4 and nxt[:2] == [(3,), (1,)] and nfit[:2] == [3.0, 2.0]
    assert set(nxt[2:]) == {(7,), (6,)}  # the best offspring fill the rest
    # an elite that is also an offspring is not duplicated
    nxt, _ = ga.survive_elitist(pop, fit, [(3,), (5,), (6,), (7,)], [3.0, 0.2, 0.3, 0.4], n_elite=1)
    assert nxt.count((3,)) == 1 and len(nxt) == 4


def test_uniform_crossover_takes_each_gene_from_one_parent():
    c1, c2 = ga.crossover_uniform(A, B, rng=rng(0))
    for i in range(len(A)):
        assert {c1[i], c2[i]} == {A[i], B[i]}
    assert (c1, c2) == ga.crossover_uniform(A, B, rng=rng(0))  # same draws, same children
    assert c1 != A and c1 != B
    assert ga.crossover_uniform(A, B, rng=rng(0), indpb=0.0) == (A, B)
    assert ga.crossover_uniform(A, B, rng=rng(0), indpb=1.0) == (B, A)
    # parents are not modified, children are tuples
    a, b = list(A), list(B)
    out = ga.crossover_uniform(a, b, rng=rng(2))
    assert a == list(A) and b == list(B) and all(isinstance(c, tuple) for c in out)


def test_one_and_two_point_crossover_exchange_segments():
    c1, c2 = ga.crossover_one_point(A, B, rng=rng(4))
    cut = next(k for k in range(1, len(A)) if c1 == A[:k] + B[k:])
    assert c2 == B[:cut] + A[cut:]
    c1, c2 = ga.crossover_two_point(A, B, rng=rng(4))
    found = [(i, j) for i in range(1, len(A)) for j in range(i + 1, len(A))
             if c1 == A[:i] + B[i:j] + A[j:] and c2 == B[:i] + A[i:j] + B[j:]]
    assert found
    # exact outcome for a fixed draw
    r = rng(11)
    i, j = sorted(int(x) for x in r.choice(np.arange(1, len(A)), size=2, replace=False))
    assert ga.crossover_two_point(A, B, rng=rng(11))[0] == A[:i] + B[i:j] + A[j:]


def test_reset_mutation_changes_genes_to_other_allowed_values():
    cards = [2, 3, 4, 5, 6, 7, 8]
    g = (1, 2, 3, 4, 5, 6, 7)
    assert ga.mutate_reset(g, rng=rng(), cardinalities=cards, indpb=0.0) == g
    m = ga.mutate_reset(g, rng=rng(), cardinalities=cards, indpb=1.0)
    assert all(a != b and 0 <= b < c for a, b, c in zip(g, m, cards))
    m = ga.mutate_reset(g, rng=rng(9), cardinalities=cards, indpb=0.3)
    assert m == ga.mutate_reset(g, rng=rng(9), cardinalities=cards, indpb=0.3)
    assert all(0 <= b < c for b, c in zip(m, cards))
    # a gene with a single value cannot change
    assert ga.mutate_reset((0, 0), rng=rng(), cardinalities=[1, 1], indpb=1.0) == (0, 0)


def test_step_mutation_moves_ordinal_genes_one_step():
    cards = [5, 5, 5, 3]
    ordinal = [True, True, True, False]
    for seed in range(20):
        g = (0, 2, 4, 1)
        m = ga.mutate_step(g, rng=rng(seed), cardinalities=cards, ordinal=ordinal, indpb=1.0)
        assert m[0] == 1 and m[2] == 3  # ends move inwards
        assert abs(m[1] - 2) == 1  # inner ordinal genes move +-1
        assert m[3] in (0, 2)  # categorical: any other value
    ups = {ga.mutate_step((0, 2, 4, 1), rng=rng(s), cardinalities=cards, ordinal=ordinal, indpb=1.0)[1]
           for s in range(20)}
    assert ups == {1, 3}
    assert ga.mutate_step((0, 2, 4, 1), rng=rng(), cardinalities=cards, ordinal=ordinal, indpb=0.0) == (0, 2, 4, 1)


def test_mutate_genes_changes_exactly_n_genes():
    for n in (1, 2, 3):
        for seed in range(10):
            m = ga.mutate_genes(A, rng=rng(seed), cardinalities=CARDS, ordinal=[True] * 7, n_genes=n)
            assert sum(a != b for a, b in zip(A, m)) == n


def test_neighbours_match_the_search_space():
    space = SearchSpace(name="t", dimensions=(
        make_dimension("x", [1, 2, 3, 4]), make_dimension("op", ["a", "b", "c"]), make_dimension("y", [0.1, 0.2])))
    ordinal = [d.ordinal for d in space.dimensions]
    assert ordinal == [True, False, True]
    for i in range(space.size):
        config = space.config_at(i)
        mine = ga.neighbours(space.encode(config), cardinalities=space.cardinalities, ordinal=ordinal)
        theirs = [space.encode(c) for c in space.neighbours(config)]
        assert mine == theirs
    g = ga.random_genome(rng=rng(1), cardinalities=space.cardinalities)
    assert g == ga.random_genome(rng=rng(1), cardinalities=space.cardinalities)


# -- each operator with its random draws fixed --------------------------------------------------
def test_tournament_with_fixed_draws():
    r = ScriptedRng(integers=[[0, 1, 3], [4, 4, 1], [2, 0, 2]])
    assert ga.select_tournament(["a", "b", "c", "d", "e"], [3, 1, 5, 3, 4], 3, rng=r, tournsize=3) == ["a", "e", "c"]
    assert r.done() and r.calls[0][1] == {"low": 5, "high": None, "size": 3}
    # equal fitness: the contestant drawn first wins
    r = ScriptedRng(integers=[[3, 0]])
    assert ga.select_tournament(["a", "b", "c", "d"], [1, 0, 0, 1], 1, rng=r, tournsize=2) == ["d"]


def test_rank_selection_with_fixed_draws():
    r = ScriptedRng(choice=[[2, 0]])
    assert ga.select_rank(["a", "b", "c"], [1.0, 30.0, 2.0], 2, rng=r, pressure=1.5) == ["c", "a"]
    # ranks a=0, c=1, b=2 -> weights 0.5, 1.0, 1.5 in population order a, b, c = 0.5, 1.5, 1.0
    assert r.calls[0][1]["p"] == pytest.approx([0.5 / 3, 1.5 / 3, 1.0 / 3])
    with pytest.raises(ValueError):
        ga.select_rank(["a"], [1.0], 1, rng=r, pressure=2.5)


def test_survival_plus_keeps_the_best_distinct_of_parents_and_children():
    parents, pf = [(0,), (1,), (2,)], [1.0, 5.0, 3.0]
    children, cf = [(3,), (1,), (4,)], [4.0, 0.5, 2.0]  # (1,) again: it keeps the parent's 5.0
    assert ga.survive_plus(parents, pf, children, cf, mu=3) == ([(1,), (3,), (2,)], [5.0, 4.0, 3.0])
    assert ga.survive_plus([], [], children, cf, mu=5) == ([(3,), (4,), (1,)], [4.0, 2.0, 0.5])
    # generational: the children replace the parents but for the elite
    assert ga.survive_elitist(parents, pf, children, cf, n_elite=0) == (children, cf)
    assert ga.survive_elitist(parents, pf, children, cf, n_elite=1) == ([(1,), (3,), (4,)], [5.0, 4.0, 2.0])


def test_uniform_crossover_with_fixed_draws():
    r = ScriptedRng(random=[[0.1, 0.7, 0.4, 0.5, 0.9, 0.0, 0.6]])
    c1, c2 = ga.crossover_uniform(A, B, rng=r, indpb=0.5)
    # genes 0, 2 and 5 (draws below 0.5) are swapped
    assert c1 == (4, 1, 2, 3, 4, 4, 1) and c2 == (0, 3, 2, 1, 0, 0, 3)


def test_point_crossovers_with_fixed_draws():
    r = ScriptedRng(integers=[3])
    assert ga.crossover_one_point(A, B, rng=r) == (A[:3] + B[3:], B[:3] + A[3:])
    assert r.calls[0][1] == {"low": 1, "high": 7, "size": None}
    r = ScriptedRng(choice=[[5, 2]])
    assert ga.crossover_two_point(A, B, rng=r) == (A[:2] + B[2:5] + A[5:], B[:2] + A[2:5] + B[5:])
    assert list(r.calls[0][1]["a"]) == [1, 2, 3, 4, 5, 6] and r.calls[0][1]["replace"] is False


def test_reset_mutation_with_fixed_draws():
    r = ScriptedRng(random=[[0.05, 0.9, 0.2, 0.5]], integers=[2, 0])
    # genes 0 and 2 are hit; gene 0 (value 1 of 4): draw 2 -> skip the current value -> 3;
    # gene 2 (value 0 of 3): draw 0 -> 1
    assert ga.mutate_reset((1, 1, 0, 2), rng=r, cardinalities=[4, 4, 3, 3], indpb=0.3) == (3, 1, 1, 2)
    assert r.done() and [c[1]["low"] for c in r.calls[1:]] == [3, 2]


def test_step_mutation_with_fixed_draws():
    r = ScriptedRng(random=[[0.0, 0.0, 0.0, 0.9], 0.7], integers=[1])
    # gene 0 at the top end moves down, gene 1 (inner, draw 0.7 >= 0.5) moves down,
    # gene 2 is categorical: value 0 with draw 1 -> 2; gene 3 is not hit
    out = ga.mutate_step((4, 2, 0, 1), rng=r, cardinalities=[5, 5, 3, 3], ordinal=[True, True, False, True],
                         indpb=0.5)
    assert out == (3, 1, 2, 1) and r.done()


def test_mutate_genes_with_fixed_draws():
    r = ScriptedRng(choice=[[2, 0]], random=[0.3, 0.8], integers=[0])
    # genes 2 then 0: gene 2 steps (0.3 < step_prob) from 4 to 3 (top end), gene 0 resets 1 -> 0
    out = ga.mutate_genes((1, 1, 4, 0), rng=r, cardinalities=[3, 3, 5, 1], ordinal=[True] * 4, n_genes=2)
    assert out == (0, 1, 3, 0) and r.done()
    assert list(r.calls[0][1]["a"]) == [0, 1, 2]  # the one-valued gene is never chosen
    # without kinds every chosen gene takes a uniformly drawn other value
    r = ScriptedRng(choice=[[1]], integers=[1])
    assert ga.mutate_genes((0, 1), rng=r, cardinalities=[2, 3], n_genes=1) == (0, 2)


def test_weighted_mutation_with_fixed_draws():
    weights = [np.array([1.0, 2.0, 4.0]), np.array([5.0]), np.array([1.0, 1.0, 3.0, 0.0])]
    r = ScriptedRng(choice=[[2], 2])
    out = ga.mutate_weighted((0, 0, 1), rng=r, weights=weights, n_genes=1, power=2.0)
    assert out == (0, 0, 2)
    assert list(r.calls[0][1]["a"]) == [0, 2]
    # the current value gets weight 0, the others weight ** power
    assert r.calls[1][1]["p"] == pytest.approx([1 / 10, 0.0, 9 / 10, 0.0])


def test_random_genome_with_fixed_draws():
    r = ScriptedRng(integers=[2, 0, 1])
    assert ga.random_genome(rng=r, cardinalities=[3, 1, 2]) == (2, 0, 1)
