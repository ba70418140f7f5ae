import zlib

import numpy as np
import pytest

from studylib.strategies import operators as ops
from studylib.space import SearchSpace, make_dimension
from studylib.strategies import ABLATIONS, REGISTRY, Replicate, config_of, make_strategy
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
            proposals.append(SPACE.key(config_of(c)) + (f"-r{c.run}" if isinstance(c, Replicate) else ""))
            strategy.tell(c, score(config_of(c)))
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
            if not isinstance(c, Replicate):  # a replicate measures a known config again, on purpose
                seen.append(tiny.key(c))
            m.tell(c, float(sum(tiny.encode(config_of(c)))))
    assert len(seen) == len(set(seen)) == tiny.size
    assert m.ask(1) == []
    p = drive(make_strategy("memetic", SPACE, seed=5), 300)
    assert len(p) == len(set(p))


def _first_local_step(lamarckian):
    m = MemeticGA(SPACE, seed=2, population_size=4, lamarckian=lamarckian, replicates=1)  # the climb alone
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


# -- every option, through the strategy -----------------------------------------------------------
def _spy_climbs(m):
    """Record (generation, centre, in population?) for every climb the strategy starts."""
    starts = []
    original = m.climber.start

    def start(cands):
        c = original(cands)
        if c is not None:
            starts.append((m.evolution.gen, c, c in m.population))
        return c

    m.climber.start = start
    return starts


def test_restart_options_decide_where_and_how_often_climbs_start():
    found = {}
    for restart in ("evaluated", "population", "none"):
        m = make_strategy("memetic", SPACE, seed=4, restart=restart)
        starts = _spy_climbs(m)
        drive(m, 250)
        per_gen = {}
        for gen, _, _ in starts:
            per_gen[gen] = per_gen.get(gen, 0) + 1
        found[restart] = (starts, per_gen)
        assert max(per_gen.values()) <= (1 if restart == "none" else m.n_local)
    assert all(inside for _, _, inside in found["population"][0] + found["none"][0])
    assert not all(inside for _, _, inside in found["evaluated"][0])  # restarts outside the population
    assert max(found["population"][1].values()) > 1  # restarts within a generation
    with pytest.raises(ValueError):
        MemeticGA(SPACE, restart="anywhere")


def test_population_size_is_the_default_window_of_a_study():
    assert make_strategy("memetic", SPACE).population_size == 10
    m = make_strategy("memetic", SPACE, seed=0, population_size=6)
    assert m.population_size == 6 and len(m.ask(20)) == 6  # one generation, then it waits


def test_n_local_and_offspring_bound_each_generation():
    m = make_strategy("memetic-no-model", SPACE, seed=6, n_local=2, offspring=4)
    starts = _spy_climbs(m)
    sizes = []
    original = m.evolution.breed
    m.evolution.breed = lambda k, weights=None: sizes.append(k) or original(k, weights)
    drive(m, 150)
    assert sizes and set(sizes) == {4}
    per_gen = [sum(1 for g, _, _ in starts if g == gen) for gen in range(m.evolution.gen)]
    assert max(per_gen) == 2


def test_adaptive_share_stays_within_min_share_and_local_share():
    for min_share in (0.2, 0.5):
        m = make_strategy("memetic", SPACE, seed=2, adaptive=True, local_share=0.8, min_share=min_share)
        values = []

        def check(s):
            values.append(s.share.value)
            assert s.local_evals <= s.share.high * s.evals + 1e-9

        drive(m, 200, check=check)
        assert min(values) >= min_share and max(values) <= 0.8
        assert len(set(values)) > 3  # the share really moves
    fixed = make_strategy("memetic", SPACE, seed=2, min_share=0.2)
    drive(fixed, 50)
    assert fixed.share.value == 0.8


def test_guided_mutation_passes_the_density_ratios_to_breeding():
    seen = {}
    for guided_mutation in (False, True):
        m = make_strategy("memetic", SPACE, seed=1, guided_mutation=guided_mutation, guide_power=2.0)
        weights = []
        original = m.evolution.breed
        m.evolution.breed = lambda k, w=None: weights.append(w) or original(k, w)
        seen[guided_mutation] = drive(m, 80)
        if guided_mutation:
            assert weights and all(w is not None for w in weights)
        else:
            assert weights and all(w is None for w in weights)
    assert seen[True] != seen[False]


def test_guide_power_and_guided_reach_the_neighbour_order():
    m = make_strategy("memetic", SPACE, seed=0, guide_power=3.0, guide_top=0.5)
    assert (m.order.power, m.order.top, m.order.guided) == (3.0, 0.5, True)
    runs = {p: drive(make_strategy("memetic", SPACE, seed=0, guide_power=p), 120) for p in (1.0, 3.0)}
    assert runs[1.0] != runs[3.0]
    assert make_strategy("memetic", SPACE, seed=0, guided=False).order.guided is False


def test_init_option_picks_the_start_design():
    for init in ("lhs", "random"):
        m = make_strategy("memetic", SPACE, seed=5, init=init)
        first = [SPACE.encode(c) for c in m.ask(10)]
        assert len(set(first)) == 10
        balanced = all(set(np.bincount([g[i] for g in first], minlength=c)) <= {10 // c, -(-10 // c)}
                       for i, c in enumerate(SPACE.cardinalities))
        assert balanced == (init == "lhs")


def test_survival_plus_never_loses_ground_generational_replaces_the_parents():
    def generations(survival, seed):
        """The population after each of the first 8 generations (GA core alone)."""
        m = make_strategy("memetic", SPACE, seed=seed, survival=survival, n_elite=1, local_share=0.0)
        pops = []
        while m.evolution.gen < 8:
            for c in m.ask(1):
                m.tell(c, score(config_of(c)))
            if m.evolution.gen > len(pops):
                pops.append(dict(zip(m.population, m.fitness)))
        return pops

    worse = 0
    for seed in range(3):
        plus, gen = generations("plus", seed), generations("generational", seed)
        for a, b in zip(plus, plus[1:]):
            assert min(b.values()) >= min(a.values())  # (mu + lambda): the worst never gets worse
        for a, b in zip(gen, gen[1:]):
            assert len(set(a) & set(b)) <= 1  # only the elite carries over
        worse += any(min(b.values()) < min(a.values()) for a, b in zip(gen, gen[1:]))
    assert worse >= 1


@pytest.mark.parametrize("variant", sorted(ABLATIONS))
def test_every_ablation_variant_is_registered_and_switches_one_part_off(variant):
    name = f"memetic-{variant}"
    assert name in REGISTRY
    m = make_strategy(name, SPACE, seed=0)
    for key, value in ABLATIONS[variant].items():
        assert {"init": lambda: m.evolution.init, "survival": lambda: m.evolution.survival,
                "local_share": lambda: m.share.high, "guided": lambda: m.order.guided,
                "restart": lambda: m.restart, "model": lambda: m.model is not None,
                "check": lambda: 0 if m.check is None else m.check.window,
                "replicates": lambda: m.replicates}[key]() == value
    p = drive(m, 120)
    assert len(p) == len(set(p)) and m.evals >= 120
    assert (m.local_evals == 0) == (variant == "no-local")
    # explicit options win over the variant's
    assert make_strategy("memetic-no-local", SPACE, seed=0, local_share=0.3).share.high == 0.3


def test_pattern_option_reaches_the_climber_and_changes_the_climbs():
    assert make_strategy("memetic", SPACE, seed=0).climber.pattern is True
    off = make_strategy("memetic", SPACE, seed=0, pattern=False)
    assert off.climber.pattern is False
    assert drive(off, 150) != drive(make_strategy("memetic", SPACE, seed=0), 150)


def test_model_prescreens_offspring_and_neighbours():
    """Once ``model_min`` genomes are known, a generation breeds ``screen`` x ``offspring`` children
    and keeps the ``offspring`` the model ranks best; a climb ranks ``screen`` drawn neighbours."""
    m = make_strategy("memetic", SPACE, seed=6, offspring=4, screen=3, model_min=60, refit=5)
    bred, picks, ranked = [], [], []
    breed, pick, rank = m.evolution.breed, m.model.pick, m.model.rank
    m.evolution.breed = lambda k, weights=None: bred.append(k) or breed(k, weights)
    m.model.pick = lambda items, k: picks.append((list(items), k, pick(items, k))) or picks[-1][2]
    m.model.rank = lambda items: ranked.append(len(items)) or rank(items)
    drive(m, 150)
    assert m.model.fits >= (150 - 60) // 5 - 1
    assert set(bred) == {4, 12} and picks and ranked
    for items, k, out in picks:
        assert k == 4 and len(items) <= 12 and len(out) == min(4, len(items))
        assert set(out) <= set(items)
    screened = len(ranked) - len(picks)  # pick ranks too; every other rank is a neighbour screen
    assert screened > 5 and sorted(ranked)[:screened] == sorted(n for n in ranked if n <= 3)


def test_model_sends_evaluations_to_better_configs():
    """Real behaviour, the same seeds for both: once the model is fitted, the configs the GA and
    the climber evaluate (the 31st to 80th) score better on the bowl than without the model."""
    def mean_score(name, seed):
        m = make_strategy(name, SPACE, seed=seed)
        drive(m, 80)
        return np.mean(list(m.known.values())[30:80])
    with_model = [mean_score("memetic", s) for s in range(10)]
    without = [mean_score("memetic-no-model", s) for s in range(10)]
    assert np.mean(with_model) > np.mean(without) + 0.5
    assert sum(a > b for a, b in zip(with_model, without)) >= 8


def test_the_model_default_is_part_of_a_memetic_study_identity():
    """Studies begun before the model (or its self-check, or replicates) existed are not continued
    with it."""
    from studylib.study import StudySpec
    from studylib.training import Budget

    def ident(**options):
        return StudySpec(SPACE, strategy="memetic", budget=Budget(3, 2), strategy_options=options).identity("h")

    assert ident()["strategy_defaults"] == {"model": True, "check": 20, "replicates": 3}
    assert ident(model=True)["strategy_defaults"] == {"check": 20, "replicates": 3}  # nor with the self-check
    assert ident(model=True, check=20)["strategy_defaults"] == {"replicates": 3}  # nor with replicates
    assert "strategy_defaults" not in ident(model=False, replicates=1)
    assert "strategy_defaults" not in ident(model=True, check=0, replicates=3)


def test_explore_keeps_a_share_of_offspring_unscreened_and_screen_local_spares_the_climbs():
    """``explore=0.5``: a generation of 4 children breeds 2 x screen to pick 2 and 2 unscreened;
    ``screen_local=False``: the model ranks no neighbours (every rank is a pick's)."""
    m = make_strategy("memetic", SPACE, seed=6, offspring=4, screen=3, model_min=60, refit=5, explore=0.5,
                      screen_local=False)
    bred, picks, ranked = [], [], []
    breed, pick, rank = m.evolution.breed, m.model.pick, m.model.rank
    m.evolution.breed = lambda k, weights=None: bred.append(k) or breed(k, weights)
    m.model.pick = lambda items, k: picks.append(k) or pick(items, k)
    m.model.rank = lambda items: ranked.append(len(items)) or rank(items)
    drive(m, 150)
    assert picks and set(picks) == {2} and set(bred) == {4, 6, 2}
    assert len(ranked) == len(picks)  # no neighbour was screened
    assert m.order.screen == 1
    with pytest.raises(ValueError, match="explore"):
        make_strategy("memetic", SPACE, seed=0, explore=1.0)
    # the defaults (explore 0, screen_local) are the round-1 model: all children screened
    d = make_strategy("memetic", SPACE, seed=6, offspring=4, screen=3, model_min=60, refit=5)
    assert d.explore == 0.0 and d.order.screen == 3


def test_self_check_pauses_screening_while_the_model_has_no_skill():
    """``check``: every proposal's prediction is kept; on the bowl the model ranks well and keeps
    screening, while with an unreachable ``check_min`` screening stops once ``check`` evaluations
    were predicted: later generations breed only ``offspring`` children and nothing is ranked."""
    good = make_strategy("memetic", SPACE, seed=6, offspring=4, screen=3, model_min=30, refit=5)
    assert good.check.window == 20 and good.check.min_skill == 0.0  # the round-3 default
    drive(good, 150)
    assert good.check.skill > 0.3 and good.paused_asks < 10

    m = make_strategy("memetic", SPACE, seed=6, offspring=4, screen=3, model_min=30, refit=5, check=10,
                      check_min=1.0)
    log = []
    breed, rank = m.evolution.breed, m.model.rank
    m.evolution.breed = lambda k, weights=None: log.append(("breed", k, len(m.check.pairs))) or breed(k, weights)
    m.model.rank = lambda items: log.append(("rank", len(items), len(m.check.pairs))) or rank(items)
    drive(m, 150)
    assert m.check.window == 10 and len(m.check.pairs) == 10 and m.paused_asks > 50
    assert any(e[0] == "rank" for e in log)  # it screened before the window was full ...
    assert all(e[2] < 10 for e in log if e[0] == "rank")  # ... and never after
    assert all(e[1] == 4 for e in log if e[0] == "breed" and e[2] >= 10)
    assert m.order.model is None
    assert make_strategy("memetic", SPACE, seed=0, check=0).check is None
    assert make_strategy("memetic-no-model", SPACE, seed=0).check is None


def test_skip_wait_starts_the_next_generation_while_the_climb_waits():
    """A local share of 0.2 lets the first climb propose one neighbour, then the GA waits for it
    (``ask`` gives nothing); ``skip_wait`` starts the next generation: four new children, none of
    them the pending neighbour. The neighbour's result still moves the climb when it comes, and
    once the children are told the generation survives and a new climb proposes."""
    m = MemeticGA(SPACE, seed=2, population_size=4, local_share=0.2, model=False, replicates=1)
    assert not m.skip_wait()  # the global phase: nothing to skip
    init = m.ask(4)
    for c, s in zip(init, [1.0, 5.0, 2.0, 3.0]):
        m.tell(c, s)
    (probe,) = m.ask(4)
    assert m.ask(1) == [] and m.climber.pending == {SPACE.encode(probe)}
    assert m.skip_wait() and not m.skip_wait()  # once: the phase is global now
    children = m.ask(4)
    keys = {SPACE.key(c) for c in children}
    assert len(children) == 4 and SPACE.key(probe) not in keys and not keys & {SPACE.key(c) for c in init}
    m.tell(probe, 9.0)
    assert m.moves and m.moves[0][1] == SPACE.encode(probe) and SPACE.encode(probe) in m.population
    for c, s in zip(children, [0.5, 6.0, 4.0, 7.0]):
        m.tell(c, s)
    (neighbour,) = m.ask(1)  # the generation is in: survival, then a new climb proposes
    seen = {SPACE.key(c) for c in init + children + [probe]}
    assert m._phase == "local" and m.climber.pending == {SPACE.encode(neighbour)}
    assert SPACE.key(neighbour) not in seen
