import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from studylib import cli

STUDYLIB = [sys.executable, "-m", "studylib.cli"]
REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    return subprocess.run([*STUDYLIB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


class Ran:
    """A command run in this process (:func:`inline`): what a subprocess run gives."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def inline(capsys, *args) -> Ran:
    """``studylib ARGS`` in this process, its trials too (``--executor inline``): for tests of
    what a command says, without a fresh interpreter (and TensorFlow) per command and trial."""
    capsys.readouterr()
    code = cli.main([*map(str, args), "--executor", "inline"])
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def test_bench_on_two_workers_prints_nothing_on_stderr(tmp_path):
    """Its pool workers are forked and stopped with SIGTERM: they must not inherit a handler that
    turns it into a KeyboardInterrupt traceback each."""
    r = run("bench", "--table", "hpobench-car", "--strategies", "random", "--seeds", "4", "--trials", "5",
            "--workers", "2", "--no-progress", "--out", tmp_path / "b")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "hpobench-car" in r.stdout


def test_an_interrupted_bench_says_what_it_left(tmp_path):
    """Ctrl-C reaches the whole process group (a terminal's): one line, exit 130, no file written."""
    from _interrupt import interrupt_when

    out = tmp_path / "b"
    rc, lines = interrupt_when([*STUDYLIB, "bench", "--table", "nb201-cifar10", "--strategies", "random,memetic",
                                "--seeds", "30", "--trials", "200", "--out", str(out)], " runs")
    assert rc == 130, "".join(lines)
    assert lines[-1] == ("studylib: interrupted; bench writes its files once every run is done: this one wrote none "
                         "(a re-run starts over)\n"), "".join(lines)
    assert "Traceback" not in "".join(lines) and not any(out.glob("bench*"))


def test_a_bench_stopped_by_kill_stops_its_pool_workers_quietly(tmp_path):
    """SIGTERM to bench alone (``kill PID``): as Ctrl-C, one line and exit 130; its pool workers
    stop with it (they had gone on, then printed BrokenPipe tracebacks)."""
    import signal

    from _interrupt import interrupt_when

    out = tmp_path / "b"
    rc, lines = interrupt_when([*STUDYLIB, "bench", "--table", "nb201-cifar10", "--strategies", "random,memetic",
                                "--seeds", "30", "--trials", "200", "--out", str(out)], " runs",
                               sig=signal.SIGTERM, group=False)
    assert rc == 130, "".join(lines)
    assert lines[-1] == ("studylib: interrupted; bench writes its files once every run is done: this one wrote none "
                         "(a re-run starts over)\n"), "".join(lines)
    assert "Traceback" not in "".join(lines) and not any(out.glob("bench*"))


def test_ctrl_c_before_a_ledger_exists_is_one_plain_line(tmp_path, monkeypatch, capsys):
    from studylib import cli, study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)  # Python still importing what the options need
    assert cli.main(["search", "round1"]) == 130
    assert capsys.readouterr().err == "studylib: interrupted\n"
    monkeypatch.undo()
    monkeypatch.setattr(study, "search", interrupted)  # the data loading, say: no ledger yet
    assert cli.main(["search", "round1", "--out", str(tmp_path / "s")]) == 130
    assert capsys.readouterr().err == "studylib: interrupted\n" and not (tmp_path / "s").exists()
    from studylib import paths, runner

    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(runner, "main", interrupted)  # run's own checks: its default folder has no ledger yet
    assert cli.main(["run", "round1"]) == 130
    assert capsys.readouterr().err == "studylib: interrupted\n"
    (tmp_path / "reports" / "digits-smoke" / "round1").mkdir(parents=True)
    (tmp_path / "reports" / "digits-smoke" / "round1" / "ledger.sqlite").write_bytes(b"")
    assert cli.main(["run", "round1"]) == 130  # a ledger there: the line says so
    assert capsys.readouterr().err.startswith("studylib: interrupted; finished trials are in the ledger")


def test_space_command_prints_values_and_count():
    r = run("space", "round3")
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "combinations: 3072"
    assert any(l.startswith("learning_rate") and "0.0015" in l for l in lines)
    assert run("space", "round2").stdout.strip().splitlines()[-1] == "combinations: 15116544"


def test_space_command_names_and_refuses_a_file_as_search_does(tmp_path):
    (tmp_path / "x").mkdir()
    text = (REPO / "studylib" / "spaces" / "round1.yaml").read_text().replace("name: round1\n", "")
    (tmp_path / "x" / "mine.yaml").write_text(text)
    (tmp_path / "x" / "round1.yaml").write_text(text)
    assert run("space", tmp_path / "x" / "mine.yaml").stdout.startswith("# mine: ")
    r = run("space", tmp_path / "x" / "round1.yaml")
    assert r.returncode == 2 and "name" in r.stderr and r.stdout == ""


def test_a_budget_that_ends_the_study_before_trials_says_so(tmp_path):
    r = run("search", "round1", "--dataset", "synthetic", "--trials", "3", "--max-epochs", "1", "--budget-epochs", "2",
            "--out", tmp_path / "s", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert ("the budget ended the study after 2 of 3 trials (--budget-epochs); a larger budget continues it"
            in r.stdout.splitlines())  # two whole trials: none was cut short
    r = run("search", "round1", "--dataset", "synthetic", "--trials", "2", "--max-epochs", "1", "--budget-epochs", "2",
            "--out", tmp_path / "s", "--no-progress")
    assert "budget ended" not in r.stdout


def test_a_budget_that_ends_a_multi_fidelity_study_says_so_though_epochs_are_left(tmp_path, capsys):
    # asha starts no config whose rungs no longer fit: the study ends with epochs unspent
    args = ("search", "round1", "--dataset", "synthetic", "--strategy", "asha", "--max-epochs", "3", "--no-progress")
    r = inline(capsys, *args, "--trials", "4", "--budget-epochs", "7", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    note = [ln for ln in r.stdout.splitlines() if "budget ended" in ln]
    assert len(note) == 1 and re.fullmatch(r"the budget ended the study after [123] of 4 configs \(--budget-epochs\); "
                                           r"a larger budget continues it", note[0]), r.stdout
    r = inline(capsys, *args, "--trials", "2", "--budget-epochs", "100", "--out", tmp_path / "t")
    assert r.returncode == 0 and "budget ended" not in r.stdout


def test_a_flag_that_starts_a_new_study_beside_one_of_its_kind_says_what_differs(tmp_path, capsys):
    args = ("search", "round1", "--dataset", "synthetic", "--strategy", "memetic", "--trials", "2", "--max-epochs", "1",
            "--no-progress", "--out", tmp_path / "s")
    first = inline(capsys, *args)
    assert first.returncode == 0 and "new study" not in first.stderr
    r = inline(capsys, *args, "--in-flight", "3")
    assert r.returncode == 0, r.stderr
    note = [ln for ln in r.stderr.splitlines() if "new study" in ln]
    assert len(note) == 1 and re.fullmatch(r"studylib: note: a new study, round1-memetic-s0-\w{8}, beside "
                                           r"round1-memetic-s0-\w{8} in .* \(they differ in in_flight\); trials "
                                           r"they share are served from the ledger", note[0]), note
    assert "2 trials (0 trained, 2 from the ledger)" in r.stdout  # the same first proposals, served
    for same in (args, (*args[:-2], "--seed", "1", "--out", tmp_path / "s")):  # continued, or another seed
        assert "new study" not in inline(capsys, *same).stderr
    r = inline(capsys, *[a if a != "1" else "2" for a in args])  # --max-epochs 2: other trial keys
    assert r.returncode == 0 and "(they differ in budget.max_epochs); they share no trials" in r.stderr


def test_help_documents_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("space", "search"):
        assert cmd in r.stdout
    assert "``" not in r.stdout  # plain text, not reStructuredText
    r = run("search", "--help")
    for flag in ("--strategy", "--trials", "--seed", "--dataset", "--profile", "--out"):
        assert flag in r.stdout
    assert " ".join(r.stdout.split()).count("(default: ") >= 10
    assert "reports/search)" in r.stdout.replace("\n", "").replace(" ", "")  # --out's default
    for command in ("run", "bench", "space"):
        assert "``" not in run(command, "--help").stdout


def test_search_writes_trials_csv(tmp_path):
    out = tmp_path / "study"
    r = run("search", "round1", "--dataset", "synthetic", "--trials", "2", "--max-epochs", "1", "--out", out,
            "--no-progress")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out / "trials.csv")
    assert len(df) == 2
    assert {"filters1", "ksize1", "hidden1", "learning_rate", "best_acc", "epochs"} <= set(df.columns)
    assert not {"filters_1", "full_hidd_1", "no_epochs"} & set(df.columns)  # the paper's spellings: reports only
    assert "wrote" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["ledger.sqlite", "studies", "trials.csv"]  # no .lock, no -wal
    best = df.loc[df.best_acc.idxmax()]
    config = "  ".join(f"{c}={best[c]}" for c in ("filters1", "ksize1", "stride", "filters2", "ksize2", "hidden1",
                                                     "hidden2", "activation", "optimizer", "learning_rate",
                                                     "batch_size") if c in df.columns)
    assert f"best: trial {best.trial}  " in r.stdout
    winner = r.stdout.split(f"best: trial {best.trial}  ")[1].splitlines()[0].split("  ")
    assert sorted(winner) == sorted(config.split("  ")) and len(winner) == 11
    assert f"best validation accuracy: {best.best_acc:.4f} (test {best.test_acc:.4f})" in r.stdout


def _corrupt_cifar(tmp_path):
    d = tmp_path / "cifar"
    d.mkdir()
    (d / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b truncated")
    return d


def _options(strategy: str, *options: str) -> list[str]:
    """``studylib search round1`` with ``strategy`` and each ``KEY=VALUE`` as a --strategy-option."""
    return ["search", "round1", "--dataset", "synthetic", "--strategy", strategy,
            *[arg for o in options for arg in ("--strategy-option", o)]]


BAD = {
    "unknown round": (["search", "round9"], "unknown round 'round9'"),
    "unknown strategy": (["search", "round1", "--strategy", "annealing"], "--strategy"),
    "unknown dataset": (["search", "round1", "--dataset", "mnist"], "--dataset"),
    "zero trials": (["search", "round1", "--trials", "0"], "expected a positive integer"),
    "negative trials": (["search", "round1", "--trials", "-4"], "expected a positive integer"),
    "text trials": (["search", "round1", "--trials", "many"], "expected a positive integer"),
    "negative seed": (["search", "round1", "--seed", "-1"], "expected a seed from 0 to 2147483647"),
    "unknown profile": (["search", "round1", "--profile", "huge"], "--profile"),
    "strategy option without =": (["search", "round1", "--strategy-option", "fill"], "expected KEY=VALUE"),
    "missing scheduler file": (["search", "round1", "--scheduler", "cluster/scheduler.json", "--out", "{tmp}/new/sub"],
                               "cluster/scheduler.json: no such scheduler file, and not an address such as "
                               "tcp://host:8786"),
    "unknown strategy option": (["search", "round1", "--dataset", "synthetic", "--strategy", "memetic-sh",
                                 "--strategy-option", "colour=red"],
                                "memetic-sh: unknown options ['colour'] (neither memetic-sh's nor its inner strategy memetic's)"),
    "misspelt strategy option": (["search", "round1", "--dataset", "synthetic", "--strategy", "memetic-sh",
                                  "--strategy-option", "popsize=4"],
                                 "unknown options ['popsize'] (neither memetic-sh's nor its inner strategy memetic's) "
                                 "('popsize': did you mean 'population_size'?)"),
    "unknown option, none like it": (["search", "round1", "--dataset", "synthetic", "--strategy", "tpe",
                                      "--strategy-option", "colour=red"],
                                     "tpe: unknown options ['colour'] (tpe takes: max_retries, n_startup_trials, "),
    "misspelt sampler option": (["search", "round1", "--dataset", "synthetic", "--strategy", "tpe",
                                 "--strategy-option", "n_startup_trial=3"],
                                "tpe: unknown options ['n_startup_trial'] ('n_startup_trial': did you mean "
                                "'n_startup_trials'?)"),
    "bad strategy option value": (["search", "round1", "--dataset", "synthetic", "--strategy", "memetic-sh",
                                   "--strategy-option", "quorum=0"], "quorum must be a whole number >= 1"),
    "strategy option given twice": (_options("ga", "population_size=4", "population_size=6"),
                                    "strategy option population_size given twice (4 and 6): give one"),
    "strategy option given twice as 3 and 3.0": (_options("memetic-sh", "eta=3", "eta=3.0"),
                                                 "strategy option eta given twice (3 and 3.0): give one"),
    "strategy option of the wrong type": (_options("memetic-sh", "population_size=abc"),
                                          "population_size='abc': memetic-sh's population_size must be an integer"),
    "strategy option not a whole number": (_options("ga", "population_size=2.5"),
                                           "ga's population_size must be an integer"),
    "strategy option not a flag": (_options("memetic", "model=3"), "memetic's model must be true or false"),
    "strategy option out of range": (_options("ga", "crossover_rate=5"), "crossover_rate must be in [0, 1], got 5"),
    # an Optuna sampler's options: their types and ranges (Optuna would fail only mid-study, or not at all)
    "sampler option not a whole number": (_options("optuna-ga", "population_size=2.5"),
                                          "strategy option population_size=2.5: optuna-ga's population_size must be "
                                          "an integer"),
    "sampler option of the wrong type": (_options("tpe", "n_startup_trials=abc"),
                                         "tpe's n_startup_trials must be an integer"),
    "sampler option not a flag": (_options("tpe", "multivariate=abc"), "tpe's multivariate must be true or false"),
    "sampler option out of range": (_options("tpe-hb", "n_startup_trials=-1"),
                                    "tpe-hb: n_startup_trials must be at least 0"),
    "sampler option at zero": (_options("tpe", "n_ei_candidates=0"), "tpe: n_ei_candidates must be at least 1"),
    "inner strategy's sampler option": (_options("memetic-sh", "inner=tpe", "multivariate=abc"),
                                        "memetic-sh's multivariate must be true or false"),
    "unknown inner strategy": (_options("memetic-sh", "inner=bogus"),
                               "strategy option inner='bogus': memetic-sh's inner strategy is one of random, grid"),
    "top rung as a strategy option": (_options("memetic-sh", "max_epochs=27"),  # it had overridden --max-epochs
                                      "strategy option max_epochs: memetic-sh's top rung is the study's --max-epochs"),
    "unknown option of a multi-fidelity strategy": (_options("asha", "zzz=1"),
                                                    "asha: unknown options ['zzz'] (asha takes: eta, min_epochs)"),
    "lowest rung above the top": (_options("asha", "min_epochs=5") + ["--max-epochs", "3"],
                                  "min_epochs=5 is above asha's top rung (3 epochs, --max-epochs): give at most 3"),
    "space name that is a path": (["search", "{tmp}/slash.yaml", "--dataset", "synthetic"],
                                  "space name 'a/b': a study's files are named after it, so it cannot hold / "
                                  "(give it a name without one)"),
    "unknown flag": (["search", "round1", "--colour", "red"], "unrecognized arguments"),
    "missing space file": (["search", "{tmp}/nope.yaml"], "space file not found"),
    "bad yaml": (["search", "{tmp}/bad.yaml"],
                 "not valid YAML: line 1, column 22: expected ',' or ']', but got '<stream end>' "
                 "(while parsing a flow sequence at line 1, column 13)"),
    "bad space": (["space", "{tmp}/wrong.yaml"], "unknown hyperparameter 'colour'"),
    "space key misspelt": (["space", "{tmp}/typo.yaml"],
                           "'filters1': unknown key 'knd': did you mean 'kind'? (a hyperparameter takes: name, values"),
    "missing data dir": (["search", "round1", "--dataset", "cifar10", "--data-dir", "{tmp}/nodata"],
                         "data directory not found"),
    "corrupt archive": (["search", "round1", "--dataset", "cifar10", "--data-dir", "{tmp}/cifar"],
                        "corrupt archive"),
    "out is a file": (["search", "round1", "--dataset", "synthetic", "--out", "{tmp}/afile/sub"], "is not a folder"),
    "out unwritable": (["search", "round1", "--dataset", "synthetic", "--out", "/proc/studylib-out"],
                       "not writable"),
    # found after the output folder was made: the folders this call made are taken back
    "unknown scheduler": (["search", "round1", "--dataset", "synthetic", "--scheduler", "BAD", "--out",
                           "{tmp}/new/sub"], "BAD: no such scheduler file, and not an address such as tcp://"),
    "a scheduler file that is not one": (["search", "round1", "--dataset", "synthetic", "--scheduler",
                                          "{tmp}/wrong.yaml", "--out", "{tmp}/new/sub"],
                                         "--scheduler {tmp}/wrong.yaml is not a Dask scheduler file"),
    "empty scheduler": (["search", "round1", "--dataset", "synthetic", "--scheduler", ""],
                        "argument --scheduler: expected a path, got an empty string"),
    "space name too long": (["search", "{tmp}/long.yaml", "--dataset", "synthetic"], "must be 1 to 100 bytes"),
    # every command that writes checks its output before any work
    "bench out is a file": (["bench", "--table", "hpobench-car", "--seeds", "1", "--trials", "3", "--out",
                             "{tmp}/afile"], "exists and is not a folder"),
    "bench on a ledger": (["bench", "--table", "{tmp}/study/ledger.sqlite", "--metric", "best_acc"],
                          "a study's ledger, not a table; make one with `studylib export-table {tmp}/study"),
    "bench on a study's trials.csv": (["bench", "--table", "{tmp}/study/trials.csv", "--metric", "best_acc",
                                       "--direction", "maximize"],
                                      "a study's trials.csv, not a table; make one with `studylib export-table"),
    "bench on a study folder": (["bench", "--table", "hpobench-car,{tmp}/study"], "a study's folder, not a table"),
    "bench on learning curves without --fidelity epoch": (["bench", "--table", "{tmp}/curves.csv", "--metric",
                                                           "val_accuracy", "--direction", "maximize"],
                                                          "has an epoch column, a learning-curve table: run it with "
                                                          "--fidelity epoch"),
    "bench out unwritable": (["bench", "--table", "hpobench-car", "--seeds", "1", "--trials", "3", "--out",
                              "/proc/studylib-bench"], "not writable"),
    "export-table out unwritable": (["export-table", "{tmp}", "--table", "/proc/studylib.csv"], "not writable"),
    "run out is a file": (["run", "round1", "--dataset", "synthetic", "--out", "{tmp}/afile"],
                          "exists and is not a folder"),
    "empty out": (["search", "round1", "--dataset", "synthetic", "--out", ""], "expected a path, got an empty string"),
    "data dir is a file": (["search", "round1", "--dataset", "cifar10", "--data-dir", "{tmp}/afile"], "is a file"),
    # a multi-fidelity study starts a config only if the budget carries it to the top rung
    "budget below one config's rungs": (["search", "round1", "--dataset", "synthetic", "--strategy", "memetic-sh",
                                         "--max-epochs", "9", "--budget-epochs", "4"],
                                        "budget-epochs 4 is below memetic-sh's top rung (9 epochs)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, case):
    (tmp_path / "bad.yaml").write_text("dimensions: [unclosed")
    (tmp_path / "wrong.yaml").write_text("dimensions:\n  - {name: colour, values: [1]}\n")
    (tmp_path / "slash.yaml").write_text("name: a/b\ndimensions:\n" + "".join(
        f"  - {{name: {n}, values: [{v}]}}\n" for n, v in [("filters1", 4), ("ksize1", 3), ("hidden1", 8),
                                                          ("hidden2", 8), ("learning_rate", 0.01), ("batch_size", 32)]))
    (tmp_path / "long.yaml").write_text((tmp_path / "slash.yaml").read_text().replace("a/b", "x" * 300))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "typo.yaml").write_text("dimensions:\n  - {name: filters1, knd: categorical, values: [4, 8]}\n")
    (tmp_path / "study").mkdir()
    (tmp_path / "curves.csv").write_text("lr,seed,epoch,val_accuracy\n" + "".join(
        f"{lr},0,{e},{0.5 + e / 10}\n" for lr in (0.1, 0.01) for e in (1, 2)))
    (tmp_path / "study" / "ledger.sqlite").write_bytes(b"")
    (tmp_path / "study" / "trials.csv").write_text("trial,study_id,key,filters1,best_acc,error\n1,s,k,8,0.9,\n")
    _corrupt_cifar(tmp_path)
    args, message = BAD[case]
    message = message.replace("{tmp}", str(tmp_path))
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args and args[0] == "search":
        args += ["--out", str(out)]
    before = sorted(os.listdir(tmp_path))
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studylib: error:"), r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr
    assert sorted(os.listdir(tmp_path)) == before  # nothing half-written


def test_a_study_whose_every_trial_failed_says_so_and_exits_3(tmp_path):
    r = run("search", "round1", "--dataset", "synthetic", "--trials", "2", "--trial-timeout", "0.01",
            "--no-progress", "--out", tmp_path / "out")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "2 trials (2 trained, of which 2 failed; 0 from the ledger)" in r.stdout and "best:" not in r.stdout
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("studylib: error: every trial failed (last: timed out after 0.01 s") and "trials.csv" in line
    assert (tmp_path / "out" / "trials.csv").exists()  # the failures are kept, with their errors


def test_a_full_disk_is_one_line_and_the_same_command_continues_once_there_is_room(tmp_path, capsys, monkeypatch):
    import errno
    import sqlite3

    from studylib import bench, ledger

    record = ledger.Ledger.record
    calls = []

    def fills_up(self, trial):  # the disk fills while the second trial is recorded
        calls.append(trial.key)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        record(self, trial)

    monkeypatch.setattr(ledger.Ledger, "record", fills_up)
    args = ("search", "round1", "--dataset", "synthetic", "--trials", "3", "--no-progress", "--out", tmp_path / "s")
    r = inline(capsys, *args)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == ("studylib: error: no space left on the device; free some space, then re-run the same "
                        "command to continue from the ledger\n")
    monkeypatch.setattr(ledger.Ledger, "record", record)
    again = inline(capsys, *args)
    assert again.returncode == 0 and "3 trials (2 trained, 1 from the ledger)" in again.stdout

    def no_room(out_dir, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "bench.csv"))

    monkeypatch.setattr(bench, "write_results", no_room)
    bench_args = ["bench", "--table", "hpobench-car", "--strategies", "random", "--seeds", "1", "--trials", "2",
                  "--workers", "1", "--no-progress", "--out", str(tmp_path / "b")]
    capsys.readouterr()
    assert cli.main(bench_args) == 1
    assert capsys.readouterr().err == (f"studylib: error: no space left on the device (writing {tmp_path / 'b'}"
                                              "/bench.csv); bench wrote none of its files: free some space and run "
                                              "it again\n")

    # a ledger that cannot be created on the full disk: a StudyError the check made of SQLite's error
    monkeypatch.setattr(ledger.Ledger, "_set_up", lambda self: (_ for _ in ()).throw(
        sqlite3.OperationalError("database or disk is full")))
    r = inline(capsys, "search", "round1", "--dataset", "synthetic", "--trials", "1", "--no-progress",
               "--out", tmp_path / "new")
    assert r.returncode == 1 and r.stderr.startswith("studylib: error: no space left on the device")
    monkeypatch.undo()

    def denied(*a, **k):  # any other error of the system is not hidden
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(bench, "write_results", denied)
    with pytest.raises(PermissionError):
        cli.main(bench_args)


def test_more_trials_than_the_space_holds_is_noted(tmp_path):
    space = tmp_path / "tiny.yaml"
    fixed = "".join(f"  - {{name: {n}, values: [{v}]}}\n" for n, v in
                    [("ksize1", 3), ("hidden1", 8), ("hidden2", 8), ("learning_rate", 0.01), ("batch_size", 32)])
    space.write_text("name: tiny\ndimensions:\n  - {name: filters1, values: [4, 8]}\n" + fixed)
    r = run("search", space, "--dataset", "synthetic", "--trials", "5", "--no-progress", "--executor", "inline",
            "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "studylib: note: the space has 2 configs, fewer than --trials 5: the study ends once they are tried" in r.stderr
    assert r.stdout.startswith("2 trials (2 trained")
    r = run("search", space, "--dataset", "synthetic", "--no-progress", "--executor", "inline", "--out", tmp_path / "out")
    assert r.returncode == 0 and "note" not in r.stderr  # the profile's count (6) was not asked for


def test_a_bad_value_never_removes_a_folder_that_existed(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "held").mkdir()
    for out in (tmp_path / "empty", tmp_path / "held" / "new"):
        r = run("search", "round1", "--dataset", "synthetic", "--scheduler", "tcp://BAD", "--out", out)
        assert r.returncode == 2 and "Dask scheduler" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["empty", "held"]


def test_a_scheduler_address_of_an_unknown_host_or_port_is_one_line_at_once(tmp_path, capsys, monkeypatch):
    """Said when the command line is read (Dask itself would retry such an address for 30 s); a
    name service that fails for now is left to Dask's retries."""
    import socket

    from studylib.cliargs import scheduler

    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # the name service's answers, without a network
        if host == "nosuchhost.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host == "dns-down.example":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for address, why in (("tcp://nosuchhost.invalid:8786", "unknown host nosuchhost.invalid"),
                         ("tcp://a..b:8786", "a..b is not a host name"),
                         ("localhost:99999", "port 99999: a port number is 1-65535"),
                         ("tcp://127.0.0.1:0", "port 0: a port number is 1-65535")):
        with pytest.raises(SystemExit) as e:
            cli.main(["search", "round1", "--dataset", "synthetic", "--scheduler", address, "--out", str(tmp_path / "s")])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and f"--scheduler: {address}: {why}" in err, err
    assert not (tmp_path / "s").exists()
    assert scheduler("tcp://dns-down.example:8786") == "tcp://dns-down.example:8786"  # Dask retries that


def test_a_scheduler_that_is_not_listening_yet_is_noted_and_waited_for(capsys, monkeypatch):
    """A scheduler may still be starting (a job script starts both): nothing listening is a note,
    and Dask's wait decides."""
    import socket

    from studylib import startup

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    startup.note_no_scheduler_yet(f"tcp://127.0.0.1:{port}")
    assert capsys.readouterr().err == (f"studylib: note: nothing listens at tcp://127.0.0.1:{port} (connection "
                                       "refused); Dask waits 30 s for a scheduler to start there (is it started, at "
                                       "that port?)\n")
    with socket.socket() as server:  # something listens: no note
        server.bind(("127.0.0.1", 0))
        server.listen()
        startup.note_no_scheduler_yet(f"127.0.0.1:{server.getsockname()[1]}")
    startup.note_no_scheduler_yet(None)
    assert capsys.readouterr().err == ""


def test_commands_print_no_tensorflow_log_noise(tmp_path):
    # a user's environment: none of TensorFlow's variables set (pytest's own process has set them)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    r = subprocess.run([*STUDYLIB, "search", "round1", "--dataset", "synthetic", "--trials", "1", "--max-epochs",
                        "1", "--out", str(tmp_path / "s"), "--no-progress"],  # training in a trial process
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    for noise in ("absl::InitializeLog", "oneDNN", "port.cc"):
        assert noise not in r.stderr + r.stdout


def test_strategy_options_from_the_command_line_are_json_where_they_can_be():
    from studylib.cli import build_parser

    args = build_parser().parse_args(["search", "round1", "--strategy", "memetic-sh", "--strategy-option",
                                      "promote=async", "--strategy-option", "fill=true", "--strategy-option",
                                      "quorum=3", "--strategy-option", "best-first=false", "--strategy-option",
                                      "reconsider=False"])
    assert dict(args.strategy_options) == {"promote": "async", "fill": True, "quorum": 3, "best_first": False,
                                           "reconsider": False}
    assert build_parser().parse_args(["search", "round1"]).strategy_options is None


def test_the_python_api_checks_its_arguments_as_the_command_line_does():
    import numpy as np

    from studylib.errors import StudyError
    from studylib.study import prepare

    with pytest.raises(StudyError, match="strategy_options must map an option to its value"):
        prepare("round1", strategy="ga", dataset="synthetic", strategy_options=[("population_size", 4)])
    with pytest.raises(StudyError, match="seed must be a non-negative integer, got True"):
        prepare("round1", dataset="synthetic", seed=True)
    from studylib import search

    with pytest.raises(TypeError, match=r"^search\(\) got an unexpected keyword argument 'trialz' \(did you mean 'trials'\?\)$"):
        search("round1", "never", dataset="synthetic", trialz=2)
    with pytest.raises(TypeError, match=r"'retry_faild' \(did you mean 'retry_failed'\?\)$"):  # search's own too
        search("round1", "never", dataset="synthetic", retry_faild=True)
    with pytest.raises(TypeError, match=r"'outdir' \(did you mean 'out_dir'\?\)$"):
        search("round1", dataset="synthetic", outdir="x")
    with pytest.raises(TypeError, match=r"'zzz'$"):  # nothing close enough: no guess
        search("round1", "never", dataset="synthetic", zzz="x")
    for folder in ({"out_dir": 5}, {"data_dir": 5}):
        with pytest.raises(StudyError, match=f"^{next(iter(folder))} must be a folder \\(a str or Path\\), got 5$"):
            search("round1", **{"out_dir": "never", **folder}, dataset="synthetic")
    assert not Path("never").exists()
    spec, _ = prepare("round1", dataset="synthetic", seed=np.int64(1), trials=np.int64(2))  # a notebook's numbers
    assert (spec.seed, spec.trials) == (1, 2) and type(spec.seed) is int and type(spec.trials) is int
    # numpy numbers as strategy options are the study the command line's --strategy-option starts
    spec, data = prepare("round1", strategy="memetic", dataset="synthetic",
                         strategy_options={"population_size": np.array(4), "kappa": np.float32(0.1),
                                           "model": np.bool_(True)})
    from studylib.cliargs import strategy_options

    given = cli.build_parser().parse_args(["search", "round1", "--strategy-option", "population_size=4",
                                           "--strategy-option", "kappa=0.1", "--strategy-option", "model=true"])
    cli_spec, _ = prepare("round1", strategy="memetic", dataset="synthetic",
                          strategy_options=strategy_options(given.strategy_options))
    assert spec.study_id(data.fingerprint) == cli_spec.study_id(data.fingerprint)
    assert [type(v) for v in spec.strategy_options.values()] == [int, float, bool]
    # values that always worked still do: a whole float for an integer, 0/1 for a flag
    for strategy, options in [("asha", {"eta": 3.0}), ("memetic", {"model": 0})]:
        assert prepare("round1", strategy=strategy, dataset="synthetic", strategy_options=options)[0].strategy_options == options
    with pytest.raises(StudyError, match=r"strategy option kappa=inf: a number option must be finite"):
        prepare("round1", strategy="memetic", dataset="synthetic", strategy_options={"kappa": float("inf")})
    with pytest.raises(StudyError, match="asha's eta must be an integer"):
        prepare("round1", strategy="asha", dataset="synthetic", strategy_options={"eta": 2.5})


def test_an_unnamed_space_file_named_like_a_built_in_round_is_refused(tmp_path):
    from studylib.errors import StudyError
    from studylib.study import study_space

    (tmp_path / "round1.yaml").write_text((REPO / "studylib" / "spaces" / "round1.yaml").read_text()
                                          .replace("name: round1\n", ""))
    with pytest.raises(StudyError, match="'round1' is a built-in round's name: give the file a `name:` line"):
        study_space(str(tmp_path / "round1.yaml"))


def test_a_space_name_that_cannot_name_files_is_refused(tmp_path):
    from studylib.errors import StudyError
    from studylib.study import study_space

    text = (REPO / "studylib" / "spaces" / "round1.yaml").read_text()
    for name, message in (("x" * 300, "must be 1 to 100 bytes"), ('"a\\nb"', "line break"),
                          ('""', "must be 1 to 100 bytes"), ("数" * 40, "must be 1 to 100 bytes")):
        (tmp_path / "s.yaml").write_text(text.replace("name: round1\n", f"name: {name}\n"))
        with pytest.raises(StudyError, match=message):
            study_space(str(tmp_path / "s.yaml"))
    (tmp_path / "s.yaml").write_text(text.replace("- {name: filters1,", "- {name: [filters1],", 1))
    with pytest.raises(StudyError, match=r"unknown hyperparameter \['filters1'\]"):
        study_space(str(tmp_path / "s.yaml"))


def test_a_space_file_without_a_name_is_named_after_the_file(tmp_path):
    """A study's files are named after its space; an unnamed space given by a path crashed on the '/'."""
    (tmp_path / "spaces").mkdir()
    space = tmp_path / "spaces" / "mine.yaml"
    space.write_text("dimensions:\n" + "".join(f"  - {{name: {n}, values: [{v}]}}\n" for n, v in [
        ("filters1", 4), ("ksize1", 3), ("hidden1", 8), ("hidden2", 8), ("learning_rate", 0.01), ("batch_size", 32)]))
    r = run("search", str(space), "--dataset", "synthetic", "--trials", "1", "--max-epochs", "1", "--executor",
            "inline", "--out", str(tmp_path / "out"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert [p.name.split("-random-s0-")[0] for p in (tmp_path / "out" / "studies").iterdir()] == ["mine"]


def test_a_crop_larger_than_the_images_is_refused_before_any_trial(tmp_path, capsys, monkeypatch):
    """Every trial of it would fail (exit 3, a ledger and trials.csv left): one line, exit 2, nothing
    written; a space with other values too runs, its note naming the crops whose trials fail."""
    from studylib import study_spec

    monkeypatch.setattr(study_spec, "_NOTED", set())  # the note is said once per process
    space = tmp_path / "crop.yaml"
    space.write_text("name: crop\ndimensions:\n" + "".join(f"  - {{name: {n}, values: [{v}]}}\n" for n, v in [
        ("filters1", 4), ("ksize1", 3), ("hidden1", 8), ("hidden2", 8), ("learning_rate", 0.01), ("batch_size", 32),
        ("border_crop", "4, 100")]))
    r = inline(capsys, "search", space, "--dataset", "digits", "--trials", "1", "--max-epochs", "1", "--out",
               tmp_path / "out", "--no-progress")
    assert (r.returncode, r.stderr) == (2, "studylib: error: border_crop 4, 100 removes the whole 8x8 image of "
                                           "dataset 'digits': at most 3 there\n")
    assert not (tmp_path / "out").exists()
    space.write_text(space.read_text().replace("4, 100", "3, 100"))  # 3 leaves 2x2 pixels
    r = inline(capsys, "search", space, "--dataset", "digits", "--strategy", "grid", "--trials", "2",
               "--max-epochs", "1", "--out", tmp_path / "out", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == ("studylib: note: border_crop 100 removes the whole 8x8 image of dataset "
                                        "'digits': its trials will fail (at most 3 there)")
    assert list(pd.read_csv(tmp_path / "out" / "trials.csv").status) == ["ok", "failed"]


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("argv", [["space", "round1"], ["bench", "--list"]])
def test_a_reader_that_stops_early_gets_no_traceback(argv, unbuffered):
    """`studylib bench --list | head -1`: the pipe closes under the writer (whether Python writes
    each line at once or at the end)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)  # closed before anything is written: the first write fails, every time
    try:
        r = subprocess.run([*STUDYLIB, *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (141, "")


def test_options_that_break_a_strategy_only_mid_study_are_found_on_a_dry_run():
    """What a strategy raises on made-up results (nothing trained or written) is one line."""
    from studylib.errors import StudyError
    from studylib.option_checks import dry_run
    from studylib.space_file import load_space
    from studylib.strategies import make_strategy

    probe = make_strategy("random", load_space("round1"), 0)
    told = []

    def tell(config, score):
        told.append(score)
        if len(told) == 3:
            raise IndexError("index 0 is out of bounds")

    probe.tell = tell
    with pytest.raises(StudyError, match=r"^strategy options \{'x': 1\}: random fails on made-up results: index 0 is "
                                         r"out of bounds$"):
        dry_run(probe, "random", {"x": 1})
    assert len(told) == 3 and all(0 <= s < 1 for s in told)
    told.clear()  # no options given: the space is what it fails on (grid on a space past int64, say)
    with pytest.raises(StudyError, match=r"^strategy random on this space fails on made-up results: index 0 is"):
        dry_run(probe, "random", {})


def test_a_samplers_whole_float_and_0_or_1_run_as_the_types_declared():
    """The checks let ``24.0`` pass for an integer and ``1`` for a flag (as a strategy's own options
    always did): the sampler gets them as ``24`` and ``True``, not a failure on made-up results."""
    from studylib.space_file import load_space
    from studylib.strategies import make_strategy
    from studylib.study_spec import prepare

    spec, _ = prepare("round1", dataset="synthetic", strategy="tpe",
                      strategy_options={"n_ei_candidates": 24.0, "multivariate": 1})
    assert spec.strategy_options == {"n_ei_candidates": 24.0, "multivariate": 1}  # its identity: as given
    tpe = make_strategy("tpe", load_space("round1"), 0, n_ei_candidates=24.0, multivariate=1)
    assert tpe.sampler._n_ei_candidates == 24 and tpe.sampler._multivariate is True
    spec, _ = prepare("round1", dataset="synthetic", strategy="optuna-ga", strategy_options={"population_size": 20.0})
    assert spec.strategy == "optuna-ga"


def test_sigterm_stops_a_search_as_ctrl_c_does_with_dask_quiet_meanwhile(tmp_path, capsys, monkeypatch):
    """A batch system's SIGTERM to the process group also kills a study's local Dask workers: the
    handler silences the scheduler's logger before stopping like Ctrl-C (exit 130, one line), and
    the logger's level is set back when the command returns."""
    import logging
    import signal
    import time

    import distributed  # noqa: F401  (the handler only silences a Dask that is loaded)

    from studylib import cli

    seen = []

    def search_killed(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            seen.append(logging.getLogger("distributed").level)
        return 0

    monkeypatch.setattr(cli, "cmd_search", search_killed)
    before = logging.getLogger("distributed").level
    assert cli.main(["search", "round1", "--out", str(tmp_path / "out")]) == 130
    assert seen == [logging.CRITICAL] and logging.getLogger("distributed").level == before != logging.CRITICAL
    assert capsys.readouterr().err == "studylib: interrupted\n"  # no ledger there: nothing to continue
