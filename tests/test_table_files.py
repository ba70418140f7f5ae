"""Bring your own table: CSV/parquet files as benchmark tables (studylib.table_files + bench CLI)."""
import itertools

import numpy as np
import pandas as pd
import pytest

from studylib import bench, cli, tables
from studylib.errors import StudyError
from studylib.table_files import MAX_CONFIGS, resolve_table_spec, table_from_frame


def export(table, path, seed_column=True, rng=None):
    """Write a built-in table as a file: one row per (config, recorded seed), in grid order, or
    shuffled by ``rng``."""
    space = table.space
    idx = np.repeat(np.arange(space.size), table.counts)
    seed = np.arange(len(idx)) - np.repeat(np.cumsum(table.counts) - table.counts, table.counts)
    genomes = np.unravel_index(idx, space.cardinalities)
    cols = {d.name: np.asarray(d.values, dtype=object)[g] for d, g in zip(space.dimensions, genomes)}
    if seed_column:
        cols["seed"] = seed
    cols[table.metric] = table.values[idx, seed]
    frame = pd.DataFrame(cols)
    if rng is not None:
        frame = frame.iloc[rng.permutation(len(frame))]
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return frame


def run_cli(argv, capsys):
    rc = cli.main(["bench", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name,suffix,seed_column", [("hpobench-car", ".csv", True),
                                                     ("nb201-cifar10", ".parquet", False)])
def test_file_of_a_builtin_table_benchmarks_exactly_like_it(tmp_path, name, suffix, seed_column):
    builtin = tables.load_table(name)
    path = tmp_path / f"{name}{suffix}"
    # numbers-only table: rows shuffled (the seed column orders the seeds); categorical values keep
    # their order of first appearance, so that file stays in grid order
    export(builtin, path, seed_column, rng=np.random.default_rng(0) if seed_column else None)
    mine = resolve_table_spec(str(path), builtin.metric, "maximize" if builtin.maximize else "minimize")[0]
    assert mine.space.to_dict()["dimensions"] == builtin.space.to_dict()["dimensions"]
    np.testing.assert_array_equal(mine.counts, builtin.counts)
    np.testing.assert_array_equal(mine.values, builtin.values)
    runs = {}
    for key, t in (("builtin", name), ("file", mine)):
        runs[key] = bench.run_bench(t, "random,memetic,tpe", seeds=2, budget=30, out_dir=tmp_path / key,
                                    workers=1, progress=False, plot=False)
    a, b = (pd.read_csv(tmp_path / k / "bench.csv") for k in ("builtin", "file"))
    assert len(a) == 3 * 2 * 30 and a.regret.nunique() > 3
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(runs["builtin"], runs["file"], check_exact=True)


def grid_frame(drop=0, seeds=2):
    """A 3 x 2 x 2 grid (float, string, bool) with ``seeds`` rows per config; acc peaks at lr=0.01,
    relu, bn=True."""
    rows = []
    for lr, act, bn in itertools.product([0.1, 0.001, 0.01], ["tanh", "relu"], [False, True]):
        for s in range(seeds):
            acc = 0.5 + (0.2 if lr == 0.01 else 0) + (0.1 if act == "relu" else 0) + 0.05 * bn + 0.01 * s
            rows.append({"lr": lr, "act": act, "bn": bn, "seed": s, "acc": acc})
    return pd.DataFrame(rows[: len(rows) - drop])


def test_columns_become_dimensions_and_rows_seeds():
    frame = grid_frame().drop(columns="seed")
    frame = pd.concat([frame, frame.iloc[[0]].assign(acc=0.9)])  # a third seed for one config
    t = table_from_frame(frame, "grid", "acc", maximize=True)
    assert [(d.name, d.kind, d.values) for d in t.space.dimensions] == [
        ("lr", "ordinal", (0.001, 0.01, 0.1)), ("act", "categorical", ("tanh", "relu")),
        ("bn", "categorical", (False, True))]
    assert t.space.size == 12 and t.values.shape == (12, 3)
    first = t.space.index_of({"lr": 0.1, "act": "tanh", "bn": False})
    assert t.counts[first] == 3 and t.values[first].tolist() == [0.5, 0.51, 0.9]  # row order
    assert (np.delete(t.counts, first) == 2).all()
    best = t.space.index_of({"lr": 0.01, "act": "relu", "bn": True})
    assert t.means[best] == pytest.approx(0.855) and t.regret(best) == 0
    lo = table_from_frame(frame, "grid", "acc", maximize=False)
    worst = t.space.index_of({"lr": 0.001, "act": "tanh", "bn": False})
    assert lo.regret(worst) == 0 and lo.regret(best) == pytest.approx(0.35) and lo.regret(first) > 0.1
    # with a seed column, a config's seeds are in seed order whatever the row order
    seeded = grid_frame().iloc[::-1]
    t2 = table_from_frame(seeded, "grid", "acc", maximize=True)
    assert t2.values[t2.space.index_of({"lr": 0.1, "act": "tanh", "bn": False})].tolist() == [0.5, 0.51]


def test_cli_runs_a_file_and_names_it_by_its_stem(tmp_path, capsys):
    path = tmp_path / "my_grid.csv"
    grid_frame().to_csv(path, index=False)
    out = tmp_path / "out"
    rc, stdout, err = run_cli(["--table", str(path), "--metric", "acc", "--direction", "maximize",
                               "--strategies", "random,memetic", "--seeds", "3", "--trials", "8",
                               "--out", str(out), "--no-progress", "--workers", "2"], capsys)
    assert rc == 0, err
    df = pd.read_csv(out / "bench.csv")
    assert set(df.table) == {"my_grid"} and len(df) == 2 * 3 * 8 and (df.regret >= 0).all()
    assert df[df.evaluation == 8].regret.min() == 0  # someone finds the best of 12 configs in 8
    summary = pd.read_csv(out / "bench_summary.csv")
    assert list(summary.strategy) == ["random", "memetic"] and "== my_grid" in stdout
    assert (out / "bench_regret.png").stat().st_size > 1000
    assert "fewer than --trials" not in err


def test_a_budget_above_the_tables_size_is_said_in_one_line(tmp_path, capsys):
    path = tmp_path / "my_grid.csv"
    grid_frame().to_csv(path, index=False)
    rc, stdout, err = run_cli(["--table", str(path), "--metric", "acc", "--direction", "maximize",
                               "--strategies", "random", "--seeds", "2", "--trials", "20",
                               "--out", str(tmp_path / "out"), "--no-progress", "--workers", "1"], capsys)
    assert rc == 0, err
    notes = [line for line in err.splitlines() if "fewer than --trials" in line]
    assert notes == ["studylib: note: table my_grid has 12 configs, fewer than --trials 20: a run ends once all 12 "
                     "are evaluated, and regret@20 reports its regret after evaluation 12 (the curve is held flat)"]
    df = pd.read_csv(tmp_path / "out" / "bench.csv")
    assert (df[df.evaluation == 20].regret.to_numpy() == df[df.evaluation == 12].regret.to_numpy()).all()


def test_table_list_mixes_builtin_names_and_files(tmp_path):
    path = tmp_path / "g.parquet"
    grid_frame().to_parquet(path)
    got = resolve_table_spec(f"hpolib-naval, {path},hpolib-naval", "acc", "minimize")
    assert got[0] == "hpolib-naval" and len(got) == 2
    assert got[1].name == "g" and got[1].maximize is False and got[1].space.size == 12
    other = tmp_path / "sub"
    other.mkdir()
    grid_frame().to_csv(other / "g.csv", index=False)
    with pytest.raises(StudyError, match="two tables named 'g'"):
        resolve_table_spec(f"{path},{other / 'g.csv'}", "acc", "maximize")


def write_bad(tmp_path, case):
    """A file for each bad input; returns (file name, extra flags, expected message)."""
    flags = ["--metric", "acc", "--direction", "maximize"]
    p = tmp_path / "t.csv"
    if case == "missing combination":
        grid_frame(drop=2).to_csv(p, index=False)  # the last config's both seeds
        return p, flags, ("1 of 12 combinations missing, e.g. lr=0.01, act='relu', bn=True (hyperparameters read: "
                          "lr, act, bn; every column but 'acc' and 'seed' is one)")
    if case == "a column twice":
        p.write_text("lr,lr,seed,acc\n0.1,0.1,0,0.5\n")
        return p, flags, "column 'lr' appears twice in its header"
    if case == "a result column left in":  # read as a hyperparameter: the message lists it
        grid_frame().assign(loss=np.arange(24) / 10).to_csv(p, index=False)
        return p, flags, "(hyperparameters read: lr, act, bn, loss; every column but 'acc' and 'seed' is one)"
    if case == "non-numeric metric":
        grid_frame().assign(acc=["0.5"] * 23 + ["oops"]).to_csv(p, index=False)
        return p, flags, "metric column 'acc' is not numeric (data row 24: 'oops')"
    if case == "NaN metric":
        grid_frame().assign(acc=[0.5] * 5 + [np.nan] * 19).to_csv(p, index=False)
        return p, flags, "metric 'acc' is empty, NaN or infinite in 19 rows (first in data row 6)"
    if case == "unknown metric":
        grid_frame().to_csv(p, index=False)
        return p, ["--metric", "loss", "--direction", "maximize"], "no column 'loss' for --metric (columns: lr, act"
    if case == "no metric":
        grid_frame().to_csv(p, index=False)
        return p, ["--direction", "maximize"], "needs --metric COLUMN"
    if case == "no direction":
        grid_frame().to_csv(p, index=False)
        return p, ["--metric", "acc"], "needs --direction maximize or minimize"
    if case == "bad direction":
        grid_frame().to_csv(p, index=False)
        return p, ["--metric", "acc", "--direction", "up"], "maximize or minimize, not 'up'"
    if case == "absent file":
        return tmp_path / "nope.csv", flags, "nope.csv does not exist"
    if case == "absent file, no metric":  # the file is the first thing to fix
        return tmp_path / "nope.csv", [], "nope.csv does not exist"
    if case == "empty file":
        p.write_text("")
        return p, flags, "t.csv is empty"
    if case == "header only":
        p.write_text("lr,act,acc\n")
        return p, flags, "t.csv has no rows"
    if case == "a row with a cell too many":  # counted as pandas counts: blank lines skipped, empty cells not
        rows = grid_frame().to_csv(index=False).splitlines()
        rows[7] += ",0.9"
        p.write_text("\n".join(rows[:3] + ["", "   "] + rows[3:5] + [",,,,"] + rows[5:]) + "\n")
        return p, flags, "t.csv: data row 8 has 6 cells, its header 5"
    if case == "a cell too many in the first row":  # pandas would take the first column as an index
        rows = grid_frame().to_csv(index=False).splitlines()
        rows[1] += ",0.9"
        p.write_text("\n".join(rows) + "\n")
        return p, flags, "t.csv: data row 1 has 6 cells, its header 5"
    if case == "a trailing comma on every row":  # as a spreadsheet may export it
        rows = grid_frame().to_csv(index=False).splitlines()
        p.write_text("\n".join(rows[:1] + [r + "," for r in rows[1:]]) + "\n")
        return p, flags, "t.csv: data row 1 has 6 cells, its header 5"
    if case == "unreadable parquet":
        p = tmp_path / "t.parquet"
        p.write_text("lr,acc\n1,2\n")
        return p, flags, "cannot read table file"
    if case == "repeated seed":
        pd.concat([grid_frame(), grid_frame().iloc[[3]]]).to_csv(p, index=False)
        return p, flags, "config and seed repeated in data row 25 (seed 1;"
    if case == "empty hyperparameter":
        grid_frame().assign(lr=[np.nan] + [0.1] * 23).to_csv(p, index=False)
        return p, flags, "column 'lr' has 1 empty cell "
    if case == "too many combinations":
        rng = np.random.default_rng(0)
        pd.DataFrame({f"x{i}": rng.permutation(40) for i in range(5)} | {"acc": np.ones(40)}).to_csv(p, index=False)
        return p, flags, f"102,400,000 combinations (x0 40 x x1 40 x x2 40 x x3 40 x x4 40) is over the {MAX_CONFIGS:,} limit"
    if case == "no hyperparameter columns":
        grid_frame()[["seed", "acc"]].to_csv(p, index=False)
        return p, flags, "no hyperparameter columns"
    if case == "a folder":
        (tmp_path / "d.csv").mkdir()
        return tmp_path / "d.csv", flags, "d.csv is not a file"
    if case == "metric for a built-in table":
        return "nb201-cifar10", flags, "--metric and --direction are for table files"
    if case == "another suffix":
        grid_frame().to_csv(tmp_path / "t.txt", index=False)
        return tmp_path / "t.txt", flags, "t.txt: not a built-in table, and a table file must end in .csv or .parquet"
    if case == "no suffix":  # the file is there with one
        grid_frame().to_csv(tmp_path / "t.csv", index=False)
        return tmp_path / "t", flags, f"unknown table '{tmp_path / 't'}' (did you mean the file {tmp_path / 't.csv'}?)"
    if case == "unknown name with a file's flags":
        return "nb201-cifar1O", flags, "unknown table 'nb201-cifar1O' (did you mean 'nb201-cifar10'? studylib bench"
    if case == "a comma in the file name":
        grid_frame().to_csv(tmp_path / "a,b.csv", index=False)
        return tmp_path / "a,b.csv", flags, "a,b.csv: a table file's name may not contain a comma"
    if case == "file shadows a built-in table":
        grid_frame().to_csv(tmp_path / "hpolib-naval.csv", index=False)
        return f"hpolib-naval,{tmp_path / 'hpolib-naval.csv'}", flags, "two tables named 'hpolib-naval'"
    raise AssertionError(case)


BAD = ["missing combination", "a result column left in", "a column twice", "non-numeric metric", "NaN metric", "unknown metric", "no metric", "no direction",
       "bad direction", "absent file", "absent file, no metric", "empty file", "header only",
       "a row with a cell too many", "a cell too many in the first row", "a trailing comma on every row",
       "unreadable parquet", "repeated seed",
       "empty hyperparameter", "too many combinations", "no hyperparameter columns", "a folder", "metric for a built-in table",
       "file shadows a built-in table", "another suffix", "no suffix", "unknown name with a file's flags",
       "a comma in the file name"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    path, flags, message = write_bad(tmp_path, case)
    out = tmp_path / "out"
    rc, stdout, err = run_cli(["--table", str(path), *flags, "--seeds", "1", "--trials", "5",
                               "--out", str(out)], capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("studylib: error: ") and "Traceback" not in err
    assert message in err, err
    assert not out.exists() and stdout == ""


def test_all_may_stand_beside_other_names_and_files(tmp_path):
    """``--table all,nb201-cifar10`` is every built-in table once (an unknown name beside it is not)."""
    assert resolve_table_spec("all,nb201-cifar10") == list(tables.TABLES)
    assert resolve_table_spec("nb201-cifar10,all") == list(tables.TABLES)
    with pytest.raises(StudyError, match="unknown table 'nb201-cifar1O'"):
        resolve_table_spec("all,nb201-cifar1O")


def test_a_reader_error_without_a_message_is_still_one_line(tmp_path, capsys, monkeypatch):
    """pandas' parquet engine missing (an ImportError) or a parser failing with an empty message:
    the error names the exception's type, not an IndexError's traceback."""
    from studylib.errors import first_line

    assert first_line(ImportError("")) == "ImportError" and first_line("\x1b[31m\n  red\nmore") == "red"
    assert first_line(None) == "" and first_line(ValueError("  \n x ")) == "x"
    path = tmp_path / "runs.parquet"
    path.write_bytes(b"PAR1")
    for error in (ImportError(""), RuntimeError("")):
        def fail(*args, error=error, **kw):
            raise error
        monkeypatch.setattr(pd, "read_parquet", fail)
        rc, stdout, err = run_cli(["--table", str(path), "--metric", "acc", "--direction", "maximize",
                                   "--seeds", "1", "--trials", "5", "--out", str(tmp_path / "out")], capsys)
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err.strip().endswith(f"{path}: {type(error).__name__}"), err
    assert not (tmp_path / "out").exists()
