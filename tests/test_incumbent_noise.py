"""benchmarks/incumbent_noise.py: a run recorded for the diagnosis is the run ``bench.csv`` has
(recording what a strategy is told changes nothing), and its best evaluated config is what the
run evaluated."""
from _scripts import ROOT, load_script

from studylib import bench
from studylib.strategies import config_of
from studylib.tables import load_table


def test_a_recorded_run_is_the_bench_run_and_its_best_evaluated_is_what_it_saw(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the script imports its siblings
    noise = load_script("incumbent_noise")
    t = load_table("nb201-cifar10")
    for strategy in ("memetic", "random"):
        row = noise.one_run(("nb201-cifar10", strategy, 3, 40))
        plain = bench.run_one(t, strategy, 3, 40)
        assert row["incumbent"] == plain["regret"][-1]
        make, made = noise.recording(strategy)
        again = bench.run_one(t, make, 3, 40)
        assert list(again["regret"]) == list(plain["regret"])
        seen = {t.space.index_of(config_of(c)) for c, _ in made[0].told}
        assert row["configs"] == len(seen) and row["configs"] + row["replicates"] == 40
        assert (row["replicates"] > 0) == (strategy == "memetic")  # the memetic GA re-runs its best
        assert row["best_evaluated"] == min(t.regret(i) for i in seen) <= row["incumbent"]
        assert 0 <= row["drawn_above"] < 40
