"""memetic-sh's model-guided promotion (``promote_model``) and best-first promotions (``best_first``)."""
import pytest

from studylib.curve_bench import TableRungs
from studylib.executors import InlineExecutor
from studylib.fidelity import Spend, charged_epochs
from studylib.ledger import MemoryLedger
from studylib.loop import run_loop
from studylib.strategies import make_strategy
from studylib.strategies.halving import RungScores

from test_curve_bench import EPOCHS
from test_multifidelity import SPACE
from test_multifidelity_stops import Timed, configs, owed, table  # noqa: F401 (table: a fixture)

CONFIGS = [SPACE.decode((a, b)) for a in range(6) for b in range(3)]


def test_a_claim_is_the_score_plus_the_gain_the_model_predicts_once_it_has_enough_pairs():
    """Configs with b = 2 gain 0.3 from rung 1 to rung 3, the others nothing: once 4 pairs are known
    the claim of a new b = 2 config at rung 1 carries the gain, and it beats a better-scored config
    with b = 0 that the plain rule would promote instead."""
    levels = RungScores([1, 3, 9], 3, SPACE, seed=0, model_min=4)
    plain = RungScores([1, 3, 9], 3)
    pairs = [c for c in CONFIGS if SPACE.encode(c)[0] < 2]  # a = 0, 1: measured at rungs 1 and 3
    for c in pairs:
        score = 0.7 + 0.01 * SPACE.encode(c)[1]
        for r in (levels, plain):
            r.add(1, score, c)
        levels.add(3, score + (0.3 if SPACE.encode(c)[1] == 2 else 0.0), c)
    late, early = SPACE.decode((5, 2)), SPACE.decode((5, 0))
    for r in (levels, plain):
        r.add(1, 0.55, late)
        r.add(1, 0.715, early)
    assert levels.claim(1, early, 0.715) == pytest.approx(0.715, abs=0.02)
    assert levels.claim(1, late, 0.55) == pytest.approx(0.85, abs=0.02)  # 0.55 + 0.3
    # 8 scores at rung 1, the top ceil(8 / 3) = 3 promoted: by score 0.72, 0.72 and early's 0.715;
    # by claim the two b = 2 pairs' 1.02 and late's 0.85
    assert levels.promoted(1, 0.55, late) and not levels.promoted(1, 0.715, early)
    assert plain.promoted(1, 0.715, early) and not plain.promoted(1, 0.55, late)
    # before model_min pairs, and for a non-finite score, the claim is the score
    few = RungScores([1, 3, 9], 3, SPACE, seed=0, model_min=10)
    for c in pairs:
        few.add(1, 0.5, c)
        few.add(3, 0.9, c)
    few.add(1, 0.55, late)
    assert few.claim(1, late, 0.55) == 0.55
    failed = SPACE.decode((4, 2))
    levels.add(1, float("-inf"), failed)
    assert levels.claim(1, failed, float("-inf")) == float("-inf")
    # a new pair (a config measured at rung 3 too) changes the claims at rung 1
    before = dict(levels.claims(1)[0])
    levels.add(3, 0.3, late)  # late turned out to lose at rung 3
    assert levels.claims(1)[0][SPACE.key(late)] < before[SPACE.key(late)]
    # the claims do not depend on when they are asked: the trees are seeded by (seed, rung, pairs)
    again = RungScores([1, 3, 9], 3, SPACE, seed=0, model_min=4)
    for c, s in levels._at[1]:
        again.add(1, s, c)
    for c, s in levels._at[3]:
        again.add(3, s, c)
    assert again.claims(1) == levels.claims(1)


def test_best_first_trains_the_best_promotion_first():
    """Results come in worst first: by default the promotions keep that order; best_first trains
    the same promotions best first."""
    told = {}
    for best_first in (False, True):
        s = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, population_size=6, quorum=1, reconsider=False,
                          best_first=best_first)
        first = sorted(s.ask(6), key=score_of)
        for p in first:
            s.tell(p, score_of(p))
        up = s.ask(6)
        told[best_first] = [score_of(p) for p in up]
    assert told[True] == sorted(told[True], reverse=True) and told[False] == sorted(told[False])
    assert told[True] == told[False][::-1] and len(told[True]) == 2


def score_of(p):
    a, b = SPACE.encode(p.config)
    return a / 10 + b / 100


def test_a_decision_counts_the_promotions_it_already_queued_against_the_budget():
    """The budget shrinks between ask and tell (as under --budget-hours): the promotions one
    decision queues, with those they may earn next, still fit what is left."""
    from studylib.strategies.halving import owed_epochs

    for budget in range(10, 40, 2):
        for options in ({}, {"promote_model": True, "best_first": True}):
            s = make_strategy("memetic-sh", SPACE, seed=0, max_epochs=9, population_size=9, **options)
            s.limit(None, 1000)
            asked = s.ask(9)
            s.limit(0, budget)
            for i, p in enumerate(asked):
                s.tell(p, i / 10)
            at, certain = s._owed()
            assert s._queue and certain + owed_epochs(at, s.levels.rungs, s.levels.eta, s._decided()) <= budget


def guided_study(table, trials, epochs, promote_model=True):  # noqa: F811
    s = make_strategy("memetic-sh", table.space, seed=0, max_epochs=EPOCHS, population_size=4,
                      promote_model=promote_model, promote_model_min=3, best_first=True)
    objective, ledger, executor = Timed(table, 0), MemoryLedger(), InlineExecutor(progress=False)
    executor.start(objective)
    spend = None if epochs is None else Spend(epochs=epochs)  # a Spend counts down: one per study
    run_loop(s, objective, executor, ledger, "s", trials=trials, space_size=table.space.size, spend=spend,
             rungs=TableRungs(table.epochs))
    return s, ledger.study_trials("s")


@pytest.mark.parametrize("stop", ["trials", "epochs"])
def test_a_guided_study_owes_nothing_at_its_end_and_repeats_under_its_seed(table, stop):  # noqa: F811
    trials_cap, spend = (12, None) if stop == "trials" else (table.space.size, 45)
    s, trials = guided_study(table, trials_cap, spend)
    again = guided_study(table, trials_cap, spend)[1]
    assert owed(s) == [] and s.ask(10) == []
    assert [(t.key, t.epochs, t.metrics["value"]) for t in trials] == [
        (t.key, t.epochs, t.metrics["value"]) for t in again]
    if stop == "trials":
        assert len(configs(trials)) == 12
    else:
        assert sum(charged_epochs(t) for t in trials) <= 45
    # the model was used: some claim at the first rung differs from its score, and the study
    # promoted otherwise than the plain rule does
    by_key, _ = s.levels.claims(s.levels.rungs[0])
    scores = {s.space.key(c): score for c, score in s.levels._at[s.levels.rungs[0]]}
    assert any(abs(by_key[k] - scores[k]) > 1e-9 for k in by_key)
    plain = guided_study(table, trials_cap, spend, promote_model=False)[1]
    assert {(t.key, t.epochs) for t in trials if t.epochs > s.levels.rungs[0]} != {
        (t.key, t.epochs) for t in plain if t.epochs > s.levels.rungs[0]}
