"""The surrogate ranks untried configs by a tree ensemble fitted on the results so far."""
import numpy as np
import pytest

from studylib.space import SearchSpace, make_dimension
from studylib.strategies.surrogate import Surrogate

SPACE = SearchSpace(name="synthetic", dimensions=(
    make_dimension("a", list(range(8))),
    make_dimension("op", ["x", "y", "z", "w"]),
    make_dimension("b", list(range(6))),
))


def score(g) -> float:
    """Best at a=5, op=y, b=2; an interaction: op=y only pays when a is large."""
    return -(g[0] - 5) ** 2 - (g[2] - 2) ** 2 + (4.0 if g[1] == 1 and g[0] >= 4 else 0.0)


def all_genomes():
    return [SPACE.encode(c) for c in SPACE.grid()]


def test_encoding_is_ordinal_index_and_categorical_one_hot():
    s = Surrogate(SPACE, rng=np.random.default_rng(0))
    assert s.n_columns == 1 + 4 + 1
    X = s.encode([(3, 2, 5), SPACE.decode((0, 0, 1))])
    assert X.tolist() == [[3, 0, 0, 1, 0, 5], [0, 1, 0, 0, 0, 1]]


def test_fitted_model_ranks_unseen_configs_better_than_chance():
    rng = np.random.default_rng(1)
    pool = all_genomes()
    seen = [pool[i] for i in rng.choice(len(pool), 40, replace=False)]
    unseen = [g for g in pool if g not in set(seen)]
    s = Surrogate(SPACE, rng=np.random.default_rng(2)).fit(seen, [score(g) for g in seen])
    assert s.ready and s.fits == 1
    top = s.pick(unseen, 10)
    truth = np.array([score(g) for g in unseen])
    # the 10 picked are all in the true top 10% of the unseen configs; a random 10 would not be
    assert np.mean([score(g) for g in top]) > np.quantile(truth, 0.9)
    order = s.rank(unseen)
    assert sorted(order) == list(range(len(unseen)))
    pred = s.predict(unseen)
    assert np.all(np.diff(pred[order]) <= 0)


def test_same_rng_seed_gives_the_same_ranks_and_configs_equal_genomes():
    seen = all_genomes()[::7]
    ys = [score(g) for g in seen]
    cands = all_genomes()[3::5]
    a = Surrogate(SPACE, rng=np.random.default_rng(5), kappa=1.0).fit(seen, ys)
    b = Surrogate(SPACE, rng=np.random.default_rng(5), kappa=1.0).fit([SPACE.decode(g) for g in seen], ys)
    assert a.rank(cands) == b.rank([SPACE.decode(g) for g in cands])
    assert np.array_equal(a.predict(cands), b.predict(cands))


def test_unready_model_keeps_the_given_order_and_bad_scores_count_as_worst():
    s = Surrogate(SPACE, rng=np.random.default_rng(0), min_points=4)
    cands = all_genomes()[:6]
    assert not s.ready and s.pick(cands, 3) == cands[:3]
    s.fit(cands[:3], [1.0, 2.0, 3.0])  # too few points: still unready
    assert not s.ready and s.rank(cands) == list(range(6))
    s.fit(cands, [1.0, float("nan"), 3.0, -np.inf, 5.0, 6.0])
    assert s.ready and np.all(np.isfinite(s.predict(cands)))
    assert s.predict(cands[3:4])[0] <= s.predict(cands[5:6])[0]  # -inf was fitted as the worst (1.0)


@pytest.mark.parametrize("bad", [{"n_trees": 0}, {"max_features": 0.0}, {"min_points": 1}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError):
        Surrogate(SPACE, rng=np.random.default_rng(0), **bad)


def test_skill_check_measures_rank_correlation_on_the_last_window_of_evaluations():
    """Spearman of predicted vs observed over the last ``window`` told pairs; trusted until the
    window is full, then only while the skill exceeds ``min_skill``."""
    from studylib.strategies.surrogate import SkillCheck

    c = SkillCheck(window=5, min_skill=0.0)
    genomes = all_genomes()
    for g in genomes[:4]:  # a good model: predicted = true score
        c.predicted(g, score(g))
        c.observed(g, score(g))
    assert c.trusted and np.isnan(c.skill)  # fewer than window pairs: trusted, skill unknown
    c.observed(genomes[10], 1.0)  # never predicted: ignored
    assert len(c.pairs) == 4
    c.predicted(genomes[4], score(genomes[4])), c.observed(genomes[4], score(genomes[4]))
    assert c.skill == pytest.approx(1.0) and c.trusted
    ranked = sorted(genomes[20:40], key=score)
    for k, g in enumerate(ranked[:5]):  # now a model that ranks backwards: the window forgets the good pairs
        c.predicted(g, -k), c.observed(g, score(g))
    assert len(c.pairs) == 5 and c.skill < -0.9 and not c.trusted  # (two observed scores tie)
    for g in ranked[5:10]:  # a constant prediction is no skill
        c.predicted(g, 0.0), c.observed(g, score(g))
    assert c.skill == 0.0 and not c.trusted
    assert SkillCheck(window=5, min_skill=-0.5).min_skill == -0.5
    with pytest.raises(ValueError, match="window"):
        SkillCheck(window=2)
