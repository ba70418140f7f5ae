"""A small deterministic slice of the benchmark matches the committed numbers exactly, so a silent
change of protocol or strategy fails here (regenerate with ``benchmarks/bench_slice.py`` only for an
intended change)."""
import pandas as pd

from _scripts import ROOT, load_script


def test_bench_slice_matches_committed_numbers_exactly():
    script = load_script("bench_slice")
    committed = pd.read_csv(ROOT / "benchmarks" / "results" / "bench_slice.csv")
    # the committed file covers the whole slice: every table x strategy x seed, every evaluation
    assert len(committed) == len(script.TABLES) * len(script.STRATEGIES) * script.SEEDS
    assert set(committed.table) == set(script.TABLES) and set(committed.strategy) == set(script.STRATEGIES)
    assert list(committed.columns[3:]) == [f"r{e}" for e in range(1, script.BUDGET + 1)]
    assert len(set(committed.iloc[:, 3:].to_numpy().ravel())) > 20  # real curves, not a constant
    rerun = script.run_slice(workers=1)
    pd.testing.assert_frame_equal(rerun, committed, check_exact=True, check_dtype=False)
