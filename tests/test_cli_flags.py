"""One meaning per flag across subcommands, every bad value exits 2 with one line (nothing
written), and the old spellings still work with a one-line deprecation warning."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from studylib import cli

WORKERS = f"a number of workers from 1 to {4 * (os.cpu_count() or 1)} (4 per CPU here)"
SEEDS = "a number of seeds from 1 to 10,000"
SEED = "a seed from 0 to 2147483647 (2**31 - 1)"


def call(argv, capsys):
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's type errors exit from parse_args
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, [line for line in cap.err.splitlines() if line.strip()]


BENCH = ["bench", "--table", "hpobench-car", "--strategies", "random"]


@pytest.mark.parametrize("argv, message", [
    (BENCH + ["--workers", "0"], f"argument --workers: expected {WORKERS}, got '0'"),
    (BENCH + ["--workers", "two"], f"argument --workers: expected {WORKERS}, got 'two'"),
    (BENCH + ["--workers", "100000"], f"argument --workers: expected {WORKERS}, got '100000'"),
    (BENCH + ["--seeds", "0"], f"argument --seeds: expected {SEEDS}, got '0'"),
    (BENCH + ["--seeds", "2147483648"], f"argument --seeds: expected {SEEDS}, got '2147483648'"),
    (BENCH + ["--seed", "-1"], f"argument --seed: expected {SEED}, got '-1'"),
    (BENCH + ["--seed", "2147483648"], f"argument --seed: expected {SEED}, got '2147483648'"),
    (BENCH + ["--trials", "0"], "argument --trials: expected a positive integer, got '0'"),
    (BENCH + ["--budget-epochs", "0"], "argument --budget-epochs: expected a positive integer, got '0'"),
    (BENCH + ["--budget-epochs", "9"], "--budget-epochs needs --fidelity epoch"),
    (BENCH + ["--budget", "0"], "argument --budget: expected a positive integer, got '0'"),
    (["search", "round1", "--workers", "0"], f"argument --workers: expected {WORKERS}, got '0'"),
    (["search", "round1", "--strategy-option", "population_size=1000000000"],
     "strategy option population_size=1000000000: at most 10,000 (each member is drawn before the first trial)"),
    (["search", "round1", "--seed", "x"], f"argument --seed: expected {SEED}, got 'x'"),
    (["search", "round1", "--trials", "-3"], "argument --trials: expected a positive integer, got '-3'"),
    (["search", "round1", "--budget-epochs", "0"], "argument --budget-epochs: expected a positive integer"),
    (["run", "round1", "--seeds", "0"], f"argument --seeds: expected {SEEDS}, got '0'"),
    (["run", "round1", "--seeds", "2147483648"], f"argument --seeds: expected {SEEDS}, got '2147483648'"),
    (["run", "round1", "-p", "repeats=20000"], "repeats 20000: at most 10,000 seeds"),
    (["run", "compare", "-p", "bench_seeds=20000"], "bench_seeds 20000: at most 10,000 seeds"),
    (["run", "round1", "--repeats", "0"], f"argument --repeats: expected {SEEDS}, got '0'"),
    (["explore", "--port", "0"], "argument --port: expected a port number (1-65535), got '0'"),
    (["export-table", "somewhere"], "export-table needs --table FILE.csv"),
    (["search", "round1", "--out", ""], "argument --out: expected a path, got an empty string"),
    (BENCH + ["--trials", "100001"], "--trials 100001: at most 100000 per run"),
    (BENCH + ["--seed", "2147483647", "--seeds", "2"], "--seed: a seed must be at most 2147483647 (2**31 - 1): --seed 2147483647 with 2 seeds runs seeds up to "
     "2147483648"),
    (["search", "round1", "--seed", "4294967296"], f"argument --seed: expected {SEED}, got '4294967296'"),
    (["run", "round1", "--seed", "2147483648"], f"argument --seed: expected {SEED}, got '2147483648'"),
    (["run", "round1", "--seed", "2147483647", "--seeds", "2"],
     "a seed must be at most 2147483647 (2**31 - 1): seed 2147483647 with 2 seeds runs seeds up to 2147483648"),
])
def test_every_bad_value_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    if argv[0] in ("bench", "search", "run") and "--out" not in argv:
        argv = argv + ["--out", out]
    rc, _, err = call(argv, capsys)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("studylib: error:") and message in err[0], err
    assert not out.exists()


def test_version_and_a_bare_command(capsys):
    rc, out, err = call(["--version"], capsys)
    assert rc == 0 and out.strip().startswith("studylib ") and not err
    rc, out, _ = call([], capsys)
    assert rc == 2 and out.startswith("usage: studylib") and "search" in out  # the help, not just an error


def test_the_same_flag_means_the_same_in_every_subcommand(capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices

    def option(command, flag):
        return next(a for a in sub[command]._actions if flag in a.option_strings)

    for flag in ("--workers", "--seeds", "--trials", "--budget-epochs"):  # one type: a positive integer
        types = {option(c, flag).type for c in sub if any(flag in a.option_strings for a in sub[c]._actions)}
        assert len(types) == 1, flag
    assert "N worker processes run" in option("search", "--workers").help
    assert "N worker processes run" in option("bench", "--workers").help
    for command in ("run", "bench"):
        assert "seeds SEED..SEED+N-1" in option(command, "--seeds").help
    for command in ("search", "run", "bench"):
        assert option(command, "--no-progress")
    assert [a.metavar for a in sub["export-table"]._actions if not a.option_strings] == ["FOLDER"]


def test_bench_seed_and_seeds_choose_the_run_seeds(tmp_path, capsys):
    rc, _, err = call(BENCH + ["--seed", 5, "--seeds", 2, "--trials", 10, "--workers", 1, "--no-progress",
                               "--out", tmp_path], capsys)
    assert rc == 0 and not err
    df = pd.read_csv(tmp_path / "bench.csv")
    assert sorted(df.seed.unique()) == [5, 6] and df.evaluation.max() == 10


def test_old_spellings_warn_once_and_still_work(tmp_path, capsys):
    rc, out, err = call(BENCH + ["--seeds", 1, "--budget", 7, "--quiet", "--workers", 1, "--out", tmp_path / "a"],
                        capsys)
    assert rc == 0
    assert err == ["studylib: warning: --budget is deprecated, use --trials (or --budget-epochs with --fidelity epoch)",
                   "studylib: warning: --quiet is deprecated, use --no-progress"]
    assert pd.read_csv(tmp_path / "a" / "bench.csv").evaluation.max() == 7
    assert "runs" not in out and "random" in out  # quiet: no progress lines, the summary is printed
    # an old spelling with its new name and another value, or twice with two values: one error line (no
    # warning before it), nothing written
    for extra, message in ((["--budget", 7, "--trials", 5], "--budget is the old name of --trials, given with "
                                                          "another value: give --trials only"),
                           (["--trials", 5, "--budget", 7], "--budget is the old name of --trials"),
                           (["--budget", 7, "--budget", 5], "--budget given twice (7 and 5): give --trials "
                                                           "(or --budget-epochs with --fidelity epoch) once")):
        rc, _, err = call(BENCH + ["--seeds", 1, *extra, "--out", tmp_path / "b"], capsys)
        assert rc == 2 and len(err) == 1 and err[0].startswith("studylib: error: --budget ") and message in err[0], err
    assert not (tmp_path / "b").exists()
    rc, _, err = call(BENCH + ["--seeds", 1, "--budget", 5, "--trials", 5, "--workers", 1, "--no-progress",
                               "--out", tmp_path / "c"], capsys)
    assert rc == 0  # the same value twice is no conflict


def test_export_table_takes_a_folder_and_writes_table(tmp_path, capsys):
    from studylib.ledger import Ledger
    from studylib.trial import Trial

    folder = tmp_path / "study"
    folder.mkdir()
    with Ledger(folder / "ledger.sqlite") as led:
        led.record(Trial("k1", {"a": 1}, metrics={"best_acc": 0.5}, epochs=2, seed=0, dataset="d",
                         curve={"val_accuracy": [0.4, 0.5]}))
    target = tmp_path / "t.csv"
    rc, out, err = call(["export-table", folder, "--table", target], capsys)
    assert rc == 0 and not err and out.startswith(f"wrote {target}: 2 rows")
    rc, _, err = call(["export-table", folder, "--out", tmp_path / "old.csv"], capsys)
    assert rc == 0 and err == ["studylib: warning: --out is deprecated, use --table"]
    assert pd.read_csv(tmp_path / "old.csv").equals(pd.read_csv(target))
    assert np.allclose(pd.read_csv(target).val_accuracy, [0.4, 0.5])


def test_the_help_names_the_defaults_the_code_uses():
    """--in-flight's help names each GA's default window, as built; the other defaults come from
    studylib.defaults (the flags' values and their help alike)."""
    from studylib import defaults
    from studylib.cliargs import IN_FLIGHT_HELP
    from studylib.space_file import load_space
    from studylib.strategies import make_strategy, strategy_kwargs
    from studylib.strategies.base import default_in_flight

    space = load_space("round1")
    built = {name: default_in_flight(make_strategy(name, space, 0, **strategy_kwargs(name, 9, None)))
             for name in ("ga", "memetic", "memetic-sh")}
    assert IN_FLIGHT_HELP == ", ".join(f"{name} {n}" for name, n in built.items())
    search = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["search"]
    flags = {a.dest: a for a in search._actions}
    for dest, value in (("strategy", defaults.STRATEGY), ("dataset", defaults.DATASET),
                        ("profile", defaults.PROFILE), ("seed", defaults.SEED)):
        assert flags[dest].default == value and f"(default: {value}" in flags[dest].help
    assert f"after {defaults.FAILED_IN_A_ROW} failures in a row" in flags["max_failures"].help
    assert f"(default: {defaults.MAX_RETRIES})" in flags["max_retries"].help


def test_python_dash_m_studylib_is_the_command():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "studylib", "space", "round1"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("combinations: 20736"), r.stderr
    r = subprocess.run([sys.executable, "-m", "studylib", "space", "nope"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("studylib: error: ") and r.stderr.count("\n") == 1
