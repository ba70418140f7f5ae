"""benchmarks/incumbent_rule.py: its candidates are the rules they name, and the one the protocol
implements (``studylib.numbers.incumbent_regrets``) is the candidate it says, on real runs."""
import numpy as np
import pytest
from _scripts import load_script

from studylib.numbers import incumbent_regrets


def test_the_pooled_candidate_is_the_protocols_rule_and_mean_is_the_best_mean():
    rule = load_script("incumbent_rule")
    assert rule.PROTOCOL_RULE == "pooled"
    rng = np.random.default_rng(0)
    regret = {i: i / 10 for i in range(8)}.get
    for _ in range(500):  # sequences with repeats, ties and the odd failed run
        trials = [(0, float(rng.choice([rng.random(), round(rng.random(), 1), np.nan], p=[0.6, 0.35, 0.05])),
                   int(rng.integers(8))) for _ in range(int(rng.integers(1, 25)))]
        ours, protocol = rule.regrets(trials, regret, rule.spread_pooled), incumbent_regrets(trials, regret)
        assert np.array_equal(np.asarray(ours, float), np.asarray(protocol, float), equal_nan=True)  # NaN: none yet
        means = rule.regrets(trials, regret, rule.CANDIDATES["mean"])
        runs: dict = {}
        for n, (_, score, index) in enumerate(trials):
            runs.setdefault(index, []).append(score)
            finite = {i: np.mean(v) for i, v in runs.items() if np.all(np.isfinite(v))}
            if finite:  # the best mean (exact ties aside) -- a single draw counts as much as a mean of three
                incumbent = next(i for i in runs if regret(i) == means[n])
                assert incumbent in finite and np.isclose(finite[incumbent], max(finite.values()))


def test_a_run_checks_that_its_protocol_row_is_the_protocols_regrets(monkeypatch):
    rule = load_script("incumbent_rule")
    row = rule.one_run(("hpolib-naval", 3, 60))  # raises unless the pooled row is the protocol's, run for run
    assert row["pooled"] != row["mean"]  # the memetic GA replicated within 60, and the rules differ there
    monkeypatch.setattr(rule, "PROTOCOL_RULE", "mean")
    with pytest.raises(SystemExit, match="differs from the protocol"):
        rule.one_run(("hpolib-naval", 3, 60))
