"""``studylib run``: round discovery, validation before execution, a failing cell, the index."""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from studylib import cli, notebook_exec, notebook_params, paths, runner
from studylib.errors import StudyError
from studylib.outdir import GENERATOR
from studylib.report import publish

REPO = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, cells: list[str], parameters: str | None = 'dataset: str = "digits"  # data\n'
                   'out_dir: str = None  # folder', markdown: str = "# a round") -> Path:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    nb.cells = [new_markdown_cell(markdown)]
    if parameters is not None:
        p = new_code_cell(parameters)
        p.metadata["tags"] = ["parameters"]
        nb.cells.append(p)
    nb.cells += [new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """A notebooks folder of our own: round1 (copied), a failing round4 (= ``compare``), a scratch
    notebook without a parameters cell, an explorer whose parameters have no ``out_dir``."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "round1.ipynb").write_text((REPO / "notebooks" / "round1.ipynb").read_text())
    write_notebook(folder / "round4.ipynb", ['print("before the failure")',
                                             'raise ValueError("boom: compare broke\\nsecond line")',
                                             'print("never reached")'])
    write_notebook(folder / "scratch.ipynb", ["1 + 1"], parameters=None)
    write_notebook(folder / "explore.ipynb", ["sources"], parameters="sources = None  # ledgers to show")
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", folder)
    return folder


def run_cli(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse's errors
        rc = e.code
    captured = capsys.readouterr()
    return rc, captured.out, [ln for ln in captured.err.splitlines() if ln.strip()]


# -- rounds are data -----------------------------------------------------------------------------

def test_rounds_are_the_notebooks_whose_parameters_take_an_out_dir(notebooks):
    rounds = runner.available_rounds()
    assert set(rounds) == {"round1", "compare"}
    assert rounds["compare"].name == "round4.ipynb"
    assert runner.resolve_rounds("round4") == [("compare", notebooks / "round4.ipynb")]
    assert runner.resolve_rounds("compare") == [("compare", notebooks / "round4.ipynb")]
    with pytest.raises(StudyError, match="missing for 'all': round2, round3"):
        runner.resolve_rounds("all")
    with pytest.raises(StudyError, match="scratch.ipynb is not a round: it has no cell tagged parameters$"):
        runner.resolve_rounds("scratch")  # a notebook there, but no round: said so, and why
    with pytest.raises(StudyError, match="explore.ipynb is not a round: its parameters cell declares no out_dir; "
                                         "the explorer is `studylib explore`"):
        runner.resolve_rounds("explore")
    # papermill sets the first cell tagged parameters, of any type: a markdown one would leave out_dir unset
    nb = nbformat.read(str(notebooks / "round4.ipynb"), as_version=4)
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(notebooks / "titled.ipynb"))
    assert "titled" not in runner.available_rounds()
    with pytest.raises(StudyError, match="titled.ipynb is not a round: its first cell tagged parameters is a "
                                         "markdown cell"):
        runner.resolve_rounds("titled")
    # 'all' is offered only where its three rounds are (this folder has round1 alone)
    with pytest.raises(StudyError, match=r"unknown round 'nothere' \(choose from: round1, compare\)"):
        runner.resolve_rounds("nothere")
    (notebooks / "broken.ipynb").write_text("{not json")
    with pytest.raises(StudyError, match="cannot read notebook .*broken.ipynb: Expecting property name"):
        runner.resolve_rounds("broken")


def test_the_repository_rounds():
    rounds = runner.available_rounds(REPO / "notebooks")
    assert {"round1", "round2", "round3"} <= set(rounds)
    assert [r for r, _ in runner.resolve_rounds("all", REPO / "notebooks")] == ["round1", "round2", "round3"]
    with pytest.raises(StudyError, match=r"unknown round 'round9' \(choose from: all, round1, round2, round3, "):
        runner.resolve_rounds("round9", REPO / "notebooks")


def test_default_out_dir_names_the_settings(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path)
    args = cli.build_parser().parse_args(["run", "round1"])
    assert runner.default_out(args) == tmp_path / "digits-smoke"
    args = cli.build_parser().parse_args(["run", "round1", "--dataset", "fashion_mnist", "--train-size", "10000",
                                          "--seed", "3", "--seeds", "2"])
    assert runner.default_out(args) == tmp_path / "fashion_mnist-smoke-train10000-s3-x2"
    # given with -p, the same settings name the same folder (not the default one's report)
    args = cli.build_parser().parse_args(["run", "round1", "-p", "dataset=fashion_mnist", "-p", "train_size=10000",
                                          "-p", "seed=3", "-p", "repeats=2", "-p", "bench_seeds=3"])
    assert runner.default_out(args) == tmp_path / "fashion_mnist-smoke-train10000-s3-x2"
    args = cli.build_parser().parse_args(["run", "round1", "-p", "strategy=memetic", "-p", "strategy_options={}"])
    assert runner.default_out(args) == tmp_path / "digits-smoke-memetic"
    # a strategy's options change its results: they name the folder too (sorted; a long set by a hash)
    args = cli.build_parser().parse_args(["run", "round1", "--strategy", "memetic", "-p",
                                          "strategy_options={population_size: 12, mutation_rate: 0.2}"])
    assert runner.default_out(args) == tmp_path / "digits-smoke-memetic-mutation_rate0.2-population_size12"
    args = cli.build_parser().parse_args(["run", "compare", "-p", "strategy_options={memetic: {init: lhs}}"])
    assert runner.default_out(args) == tmp_path / "digits-smoke-memetic.initlhs"
    args = cli.build_parser().parse_args(["run", "round1", "-p", "strategy_options={promote: async, fill: true, "
                                          "quorum: 3, population_size: 30, reconsider: false}", "--strategy", "memetic-sh"])
    assert re.fullmatch(r"digits-smoke-memetic-sh-o[0-9a-f]{8}", runner.default_out(args).name)


def test_a_notebook_run_without_out_dir_writes_where_studylib_run_would(monkeypatch, tmp_path):
    """papermill with ``-p train_size 300`` and ``studylib run --train-size 300`` share a folder."""
    from studylib.report.compare.run import plan_compare
    from studylib.report.rounds import plan_round

    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path)
    args = cli.build_parser().parse_args(["run", "round1", "--train-size", "300", "--seed", "2", "--seeds", "2",
                                          "--strategy", "memetic"])
    _, out, _ = plan_round("round1", train_size=300, seed=2, repeats=2, strategy="memetic")
    assert out == runner.default_out(args) / "round1" == tmp_path / "digits-smoke-memetic-train300-s2-x2" / "round1"
    args = cli.build_parser().parse_args(["run", "compare", "--max-epochs", "3"])
    assert plan_compare(max_epochs=3, bench_tables="").out == runner.default_out(args) / "compare"
    # the comparison's own number of seeds (smoke: 2), given or not, is one folder; another is tagged
    for seeds, folder in ((2, "digits-smoke"), (3, "digits-smoke-x3")):
        args = cli.build_parser().parse_args(["run", "compare", "--seeds", str(seeds)])
        out = runner.default_out(args, names=["compare"])
        assert plan_compare(repeats=seeds, bench_tables="").out == out / "compare" == tmp_path / folder / "compare"
    args = cli.build_parser().parse_args(["run", "round1", "--strategy", "memetic", "-p",
                                          "strategy_options={population_size: 4}"])
    _, out, _ = plan_round("round1", strategy="memetic", strategy_options={"population_size": 4})
    assert out == runner.default_out(args) / "round1"
    args = cli.build_parser().parse_args(["run", "compare", "-p", "strategy_options={ga: {population_size: 4}}"])
    plan = plan_compare(bench_tables="", strategy_options={"ga": {"population_size": 4}})
    assert plan.out == runner.default_out(args) / "compare" == tmp_path / "digits-smoke-ga.population_size4" / "compare"


def test_kernel_runs_this_interpreter_whatever_the_kernelspec():
    km = notebook_exec.kernel_manager_class()(kernel_name="python3")
    assert km.kernel_spec.argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]
    assert km.kernel_spec.language == "python"


def test_a_notebook_of_the_package_may_be_given_by_its_file_name_or_path():
    from studylib import paths
    from studylib.runner import _round_name

    assert _round_name("round1") == "round1"
    assert _round_name("round2.ipynb") == "round2"
    assert _round_name(str(paths.NOTEBOOKS_DIR / "round4.ipynb")) == "round4"


def test_a_notebook_file_of_ones_own_or_one_that_is_no_round_is_refused(tmp_path, monkeypatch):
    from studylib import paths
    from studylib.errors import StudyError
    from studylib.runner import _round_name

    monkeypatch.chdir(tmp_path)
    (tmp_path / "round1.ipynb").write_text("{}")  # the user's own copy, here
    with pytest.raises(StudyError, match="run a notebook elsewhere with papermill"):
        _round_name("round1.ipynb")
    from studylib.runner import resolve_rounds

    with pytest.raises(StudyError, match="explore.ipynb is not a round: its parameters cell declares no out_dir"):
        resolve_rounds(_round_name(str(paths.NOTEBOOKS_DIR / "explore.ipynb")))


def test_help_does_not_import_heavy_libraries():
    code = ("import sys, studylib.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'seaborn', 'papermill', 'nbconvert', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- bad input: one line, exit 2, nothing written ----------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["run", "round9"], "unknown round 'round9'"),
    (["run", "round1", "--data-dir", "/no/such/folder"], "data directory not found"),
    (["run", "compare", "--seeds", "2"], "has no parameter 'repeats'"),
    (["run", "round1", "--trials", "0"], "--trials"),
    (["run", "round1", "--strategy", "nope"], "--strategy"),
    (["run", "../etc/passwd"], "unknown round"),
    (["run", "elsewhere/round1.ipynb"], "studylib run takes the name of a notebook in"),
    (["run", "round9.ipynb"], "unknown round 'round9' (choose from: round1"),
    (["run", "round1", "-p", "colour=red"], "has no settable parameter 'colour'; it takes: dataset"),
    (["run", "round1", "-p", "trails=2"], "has no settable parameter 'trails' (did you mean 'trials'?); it takes: "),
    (["run", "round1", "-p", "seeds=2"], "no settable parameter 'seeds' (seeds is 'repeats' here, or the flag --seeds)"),
    (["run", "round1", "-p", "out_dir=/tmp/x"], "has no settable parameter 'out_dir' (the output folder is the flag "
                                                "--out); it takes: "),
    (["run", "round1", "-p", "strategy_option=x"], "has no settable parameter 'strategy_option' (did you mean "
                                                   "'strategy_options'?); it takes: "),
    (["run", "round1", "--strategy", "memetic", "--strategy-option", "population_size=4"],
     "studylib run has no --strategy-option: give a round's strategy options as -p 'strategy_options={KEY: VALUE}'"),
    (["run", "round1", "--strategy", "memetic", "-p", "strategy_options={population_sise: 4}"],
     "memetic: unknown options ['population_sise'] ('population_sise': did you mean 'population_size'?)"),
    (["run", "round1", "-p", "trials"], "-p expects KEY=VALUE"),
    (["run", "round1", "-p", "seed=2001-02-30"], "-p seed: cannot read value '2001-02-30'"),  # YAML: a date
    (["run", "compare", "-p", "strategies="], "-p strategies= has no value: give one (null for None)"),
    (["run", "round1", "--trials", "2", "-p", "trials=3"], "trials given twice: --trials 2 and -p trials=3; give one"),
    (["run", "round1", "--seeds", "1", "-p", "repeats=2"], "repeats given twice: --seeds 1 and -p repeats=2"),
    (["run", "round1", "--seed", "0", "-p", "seed=3"], "seed given twice: --seed 0 and -p seed=3"),  # the default
    (["run", "round1", "--dataset=digits", "-p", "dataset=synthetic"], "dataset given twice: --dataset digits"),
    (["run", "round1", "-p", "max_epochs=1", "-p", "max_epochs=2"], "-p max_epochs given twice (1 and 2): give one"),
    (["run", "round1", "-p", "max_epochs=1", "-p", "max_epochs=1.0"], "-p max_epochs given twice (1 and 1.0): give one"),
])
def test_bad_input_one_line_exit_2_nothing_written(notebooks, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    rc, _, err = run_cli(argv + ["--out", str(out), "--no-progress"], capsys)
    assert rc == 2
    assert len(err) == 1 and message in err[0] and err[0].startswith("studylib: error:")
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "round1", "-p", "trials=-3"], "trials must be a positive integer, got -3"),
    (["run", "round2", "-p", "max_epochs=x"], "max-epochs must be a positive integer, got 'x'"),
    (["run", "round1", "-p", "repeats=0"], "repeats must be a positive integer, got 0"),
    (["run", "round1", "-p", "train_size=true"], "train_size must be a positive integer, got True"),  # not 1 image
    (["run", "compare", "-p", "strategies=nope"], "unknown strategy 'nope'"),
    # a flag the round does not take is refused at its default too: --strategy random would have run six
    (["run", "compare", "--strategy", "random"], "notebook round4.ipynb (round compare) has no parameter 'strategy' "
                                                 "(--strategy) (give -p strategies=a,b); it takes: "),
    (["run", "compare", "-p", "strategies=[]"], "strategies: none given"),
    (["run", "compare", "-p", "bench_seeds=0"], "bench_seeds must be a positive integer"),
    (["run", "compare", "-p", "bench_tables=nosuch"], "unknown table 'nosuch' (studylib bench --list shows the 15"),
    (["run", "compare", "-p", "strategies=random,memetic-sh"], "strategy 'memetic-sh' is multi-fidelity"),
    (["run", "compare", "-p", "strategy_options=3"], "strategy_options must map a strategy to its options"),
    (["run", "compare", "-p", "strategy_options={memetic: {population_size: 0}}"], "population_size must be at least 2"),
    # values of a type the round cannot use (YAML reads them as numbers, lists, booleans)
    # (a parameter annotated as text keeps a number as the text given: a folder, a strategy of that name)
    (["run", "round1", "-p", "data_dir=5"], "data directory not found"),
    (["run", "compare", "-p", "strategies=5"], "unknown strategy '5'"),
    (["run", "compare", "-p", "strategies={a: 1}"], "strategies must be names separated by commas (or a list), got {'a': 1}"),
    (["run", "round1", "-p", "strategy=[a, b]"], "strategy must be a name, got ['a', 'b']"),
    (["run", "round1", "-p", "profile=[a]"], "round round1: a parameter's value has the wrong type"),
])
def test_values_given_with_p_are_checked_before_any_notebook_runs(tmp_path, capsys, argv, message):
    """The repository's notebooks: a bad ``-p`` value is the same one-line error, exit 2, as a bad
    flag, and nothing is written (no partial notebook, no index)."""
    out = tmp_path / "out"
    rc, _, err = run_cli(argv + ["--out", str(out), "--no-progress"], capsys)
    assert rc == 2
    assert len(err) == 1 and message in err[0] and err[0].startswith("studylib: error:"), err
    assert not out.exists()


def test_p_reads_exponents_without_a_dot_as_numbers():
    assert notebook_params.key_value("learning_rate=1e-3") == ("learning_rate", 0.001)
    assert notebook_params.key_value("name='1e-3'") == ("name", "1e-3")


def test_every_parameter_a_round_declares_is_checked_by_its_planner():
    """``studylib run`` checks a notebook's parameters with its round's planner (``plan_round``,
    ``plan_compare``): a parameter the planner does not take would go unchecked."""
    import inspect

    from studylib.report import compare, rounds

    for name, nb in runner.available_rounds(REPO / "notebooks").items():
        fn = compare.plan_compare if name == "compare" else rounds.plan_round
        assert runner.planner(name) is not None, name
        missing = set(notebook_params.read(nb).declared) - set(inspect.signature(fn).parameters)
        assert not missing, (name, missing)


def test_bench_tables_off_means_no_benchmark():
    from studylib.report import compare

    assert compare.resolve_tables(False) == [] and compare.resolve_tables("off") == []  # YAML: off -> False


def test_a_relative_data_dir_given_with_p_means_the_callers_folder(notebooks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(["run", "round1", "-p", "data_dir=mydata"])
    params = runner._parameters(args, "round1", notebooks / "round1.ipynb", tmp_path / "out")
    assert params["data_dir"] == str(tmp_path / "mydata")  # the notebook runs in OUT, not here


def test_output_folder_that_is_a_file(notebooks, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    rc, _, err = run_cli(["run", "round1", "--out", str(target)], capsys)
    assert rc == 2 and len(err) == 1 and "not a folder" in err[0]


def test_a_second_run_into_the_same_folder_is_refused_and_touches_nothing(notebooks, tmp_path, capsys):
    from studylib.outdir import StudyLock

    out = tmp_path / "out"
    out.mkdir()
    (out / "round1.html").write_text(f"<html><head>{GENERATOR}</head>the first run's report")
    (out / "index.html").write_text("<html><head><title>studylib reports — out</title></head></html>")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    lock = StudyLock(out, "run").acquire()  # a run in progress (another open file: flock conflicts)
    try:
        rc, _, err = run_cli(["run", "round1", "--out", str(out), "--no-progress"], capsys)
    finally:
        lock.release()
    assert rc == 2 and len(err) == 1 and "a studylib run is already running in" in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("command, name", [("run", "index.html"), ("run", "round1.ipynb"), ("search", "trials.csv")])
def test_files_studylib_did_not_write_are_not_overwritten(notebooks, tmp_path, capsys, command, name):
    """A folder of the user's own: an index.html that is not a reports index, a round's notebook
    that papermill did not execute (``--out notebooks`` would overwrite the round's own), a
    trials.csv with no ledger beside it."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("my own file")
    argv = ["run", "round1"] if command == "run" else ["search", "round1", "--dataset", "synthetic"]
    rc, _, err = run_cli(argv + ["--trials", "1", "--out", str(out), "--no-progress"], capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"holds {name} that studylib did not write (it would be overwritten)" in err[0]
    assert [p.name for p in out.iterdir()] == [name] and (out / name).read_text() == "my own file"


def test_a_reader_that_stops_early_stops_the_output_not_the_run(notebooks, tmp_path):
    """`studylib run ... | head -1`: stdout is closed before the run prints; it prints nothing more,
    finishes every round and writes every report, and exits 0 with nothing on stderr."""
    write_notebook(notebooks / "tiny.ipynb", ["print('a cell ran')"])
    out = tmp_path / "out"
    code = ("import sys; from pathlib import Path; from studylib import cli, paths; "
            "paths.NOTEBOOKS_DIR = Path(sys.argv[1]); sys.exit(cli.main(['run', 'tiny', '--out', sys.argv[2]]))")
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([sys.executable, "-c", code, str(notebooks), str(out)], stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (0, "")
    assert (out / "tiny.html").exists() and (out / "index.html").exists() and not (out / ".run.lock").exists()


def test_a_notebooks_own_defaults_stand_where_no_flag_sets_them(notebooks, tmp_path, capsys, monkeypatch):
    write_notebook(notebooks / "mine.ipynb", ["print(strategy, dataset, seed)"],
                   parameters='strategy: str = "grid"  # its own default\ndataset: str = "synthetic"  # data\n'
                              'seed: int = 0  # seed\nout_dir: str = None  # folder')

    def printed(*flags):
        out = tmp_path / "out"
        rc, _, err = run_cli(["run", "mine", *flags, "--out", str(out), "--no-progress"], capsys)
        assert rc == 0, err
        ran = nbformat.read(str(out / "mine.ipynb"), as_version=4)
        return "".join(o.get("text", "") for c in ran.cells if c.cell_type == "code"
                       for o in c.get("outputs", [])).split()

    assert printed() == ["grid", "synthetic", "0"]  # `studylib run`'s defaults (random, digits) did replace them
    assert printed("--strategy", "random", "--seed", "0") == ["random", "synthetic", "0"]  # given: even at its default
    assert printed("-p", "dataset=digits") == ["grid", "digits", "0"]
    # without --out: the folder named by the settings the notebook runs with (its synthetic, not digits)
    import studylib.paths as studylib_paths

    monkeypatch.setattr(studylib_paths, "REPORTS_DIR", tmp_path / "reports")
    rc, _, err = run_cli(["run", "mine", "--no-progress"], capsys)
    assert rc == 0, err
    assert (tmp_path / "reports" / "synthetic-smoke-grid" / "mine.ipynb").exists()


def test_a_notebook_without_a_kernelspec_runs_and_a_text_parameter_keeps_the_text_given(notebooks, tmp_path, capsys):
    """A notebook made with nbformat or jupytext may have no kernelspec: it runs on the kernel every
    round runs on. A -p value of a parameter annotated str stays the text given (YAML reads yes as
    true and 1e3 as a number); an int parameter still gets the number."""
    nb = write_notebook(notebooks / "mine.ipynb", ["print(repr(msg), repr(tag), repr(n))"],
                        parameters='from typing import Optional\n\nmsg: str = "hi"  # text\n'
                                   'tag: Optional[str] = None  # text or None\n'
                                   'n: int = 1  # a number\nout_dir: str = None  # folder')
    node = nbformat.read(str(nb), as_version=4)
    del node.metadata["kernelspec"]
    nbformat.write(node, str(nb))
    out = tmp_path / "out"
    rc, _, err = run_cli(["run", "mine", "-p", "msg=yes", "-p", "tag=1e3", "-p", "n=7", "--out", str(out),
                          "--no-progress"], capsys)
    assert rc == 0, err
    ran = nbformat.read(str(out / "mine.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in ran.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "'yes' '1e3' 7" in printed
    # a declaration papermill cannot read (it reads a line at a time) is named as such, not as missing
    write_notebook(notebooks / "piped.ipynb", ["print(tag)"],
                   parameters='tag: str | None = None  # text or None\nout_dir: str = None  # folder')
    rc, _, err = run_cli(["run", "piped", "-p", "tag=a", "--out", str(tmp_path / "piped")], capsys)
    assert rc == 2 and err == ["studylib: error: notebook piped.ipynb (round piped): papermill cannot read the "
                               "declaration of 'tag' in its parameters cell (write `tag: Optional[str] = ...`; "
                               "from typing import Optional, Union)"]
    write_notebook(notebooks / "piped.ipynb", ["print(n)"],  # the spelling named is the annotation's own
                   parameters='n: int | None = None  # a number\nout_dir: str = None  # folder')
    rc, _, err = run_cli(["run", "piped", "-p", "n=3", "--out", str(tmp_path / "piped")], capsys)
    assert rc == 2 and "write `n: Optional[int] = ...`" in err[0]
    # a round whose out_dir papermill cannot read would write elsewhere than OUT/<round>: refused, even without -p
    write_notebook(notebooks / "piped.ipynb", ["print(1)"], parameters='out_dir: str | None = None  # folder')
    rc, _, err = run_cli(["run", "piped", "--out", str(tmp_path / "piped")], capsys)
    assert rc == 2 and "cannot read the declaration of 'out_dir'" in err[0] and not (tmp_path / "piped").exists()


# -- a failing cell -----------------------------------------------------------------------------

def test_failing_cell_exits_nonzero_with_one_line_and_keeps_the_partial_notebook(notebooks, tmp_path, capsys):
    out = tmp_path / "out"
    earlier = out / "compare" / "figures"  # an earlier report's figure file, and a file of the user's
    earlier.mkdir(parents=True)
    (earlier / "fig_best_so_far.pdf").write_text("an earlier report's")
    (earlier / ".written").write_text("fig_best_so_far.pdf\n")
    (earlier / "mine.pdf").write_text("mine")
    rc, stdout, err = run_cli(["run", "compare", "--out", str(out), "--no-progress"], capsys)
    assert rc == 1
    assert len(err) == 1, err
    line = err[0]
    # the third code cell of the notebook as its author counts them (papermill's injected one not counted)
    assert line.startswith("studylib: error: round compare failed in cell 3, In [4] (raise ValueError(")
    assert "ValueError: boom: compare broke (partial notebook:" in line  # the message's first line only
    partial = out / "compare.ipynb"
    assert str(partial) in line
    nb = json.loads(partial.read_text())
    assert nb["metadata"]["papermill"]["exception"] is True
    texts = json.dumps(nb["cells"])
    assert "before the failure" in texts and "ValueError" in texts
    assert not (out / "compare.html").exists()
    assert (out / "compare" / "kernel.log").exists()  # kept after a failure
    assert [p.name for p in earlier.iterdir()] == ["mine.pdf"]  # the failed report's files go with it
    index = (out / "index.html").read_text()
    assert "FAILED" in index and "compare.ipynb" in index
    # the compare notebook got its out_dir: OUT/compare
    assert nb["metadata"]["papermill"]["parameters"]["out_dir"] == str(out / "compare")


def test_a_cell_stopped_by_a_full_disk_says_how_to_go_on(notebooks, tmp_path, capsys):
    write_notebook(notebooks / "full.ipynb", ['import errno\nraise OSError(errno.ENOSPC, "No space left on device")'])
    rc, _, err = run_cli(["run", "full", "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert rc == 1 and len(err) == 1
    assert err[0].endswith("; the disk is full: free some space, then re-run the same command to continue from "
                           "the ledger")


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])  # Ctrl-C, or a batch system's stop
def test_ctrl_c_keeps_the_ledger_and_leaves_no_partial_or_stale_report(tmp_path, signal_name):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "tiny.ipynb", [
        "from pathlib import Path\nimport os, signal, time\n"
        "Path(out_dir, 'ledger.sqlite').write_text('kept')\n"
        "from studylib.report import keep\n"
        "import pandas as pd\n"
        "keep.write(pd.DataFrame({'a': [1]}), Path(out_dir), 'drawn_before_the_stop')\n"
        f"os.kill(os.getppid(), signal.{signal_name})  # reaches the runner, whose child this kernel is\n"
        "time.sleep(60)"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.html").write_text(f"<html><head>{GENERATOR}</head>an earlier run's report")
    env = {**os.environ, "STUDYLIB_NOTEBOOKS": str(folder)}
    r = subprocess.run([sys.executable, "-m", "studylib.cli", "run", "tiny", "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=120,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a job in the background
    # (make test under nohup, some CI runners) starts with SIGINT ignored; a terminal's does not
    assert r.returncode == 130, (r.stdout, r.stderr)
    assert r.stderr.splitlines() == ["studylib: interrupted; finished trials are in the ledger, re-run the same "
                                     "command to continue"], r.stderr
    assert (out / "tiny" / "ledger.sqlite").read_text() == "kept"
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == ["tiny", "tiny/ledger.sqlite"]  # no notebook, report, kernel log or empty index


# -- index --------------------------------------------------------------------------------------

def test_index_lists_every_report_with_its_summary(tmp_path):
    (tmp_path / "round1.html").write_text("<html></html>")
    (tmp_path / "round1.ipynb").write_text(json.dumps({"metadata": {"papermill": {"exception": None}}, "cells": []}))
    (tmp_path / "round1").mkdir()
    (tmp_path / "round1" / "summary.json").write_text(json.dumps(
        {"best_acc": 0.8188, "test_acc": 0.8133, "rows": 6, "dataset": "digits", "data_hash": "daeec2de6180b9aa",
         "profile": "smoke", "strategy": "random", "seeds": [0], "wall_time": 1.2, "train_time": 23.4}))
    (tmp_path / "compare.html").write_text("<html></html>")  # another notebook's report, no summary
    index = publish.write_index(tmp_path).read_text()
    assert ("best validation accuracy 81.88% (test 81.33%) · 6 trials · digits (data daeec2de) · profile smoke"
            in index)
    assert "training 23 s · this run 1 s" in index  # a re-run keeps the trials' training time
    assert "href='round1.html'" in index and "href='compare.html'" in index
    assert index.index("round1.html") < index.index("compare.html")
    assert "round1: the paper's random search; compare: the memetic GA" in index
    # the caveat each smoke report carries, once, on the index too: a smoke run shows no trend either
    assert index.count("A smoke run on digits, not CIFAR-10 (the smoke profile: few trials, few epochs") == 1
    assert "compare trends" not in index
    summary = json.loads((tmp_path / "round1" / "summary.json").read_text())
    (tmp_path / "round1" / "summary.json").write_text(json.dumps({**summary, "profile": "paper"}))
    assert publish.write_index(tmp_path).read_text().count("These numbers are on digits, not CIFAR-10: compare "
                                                            "trends") == 1
    (tmp_path / "compare.html").unlink()
    assert "compare: the memetic" not in publish.write_index(tmp_path).read_text()  # the intro names only what is there
    (tmp_path / "round1" / "summary.json").write_text(json.dumps({**summary, "strategy": "memetic"}))
    index = publish.write_index(tmp_path).read_text()  # a round searched another way than the paper's
    assert "round1: the paper's rounds, searched with memetic (the paper used random search)" in index
    assert "the paper's random search" not in index
    used = {"round1": "random", "round2": "memetic", "round3": "tpe"}
    assert publish._kinds(set(used), used) == ("round1, round2, round3: the paper's rounds, by random search as in "
                                               "the paper except round2 (memetic), round3 (tpe)")
    assert publish._kinds({"round2", "round3"}, used) == ("round2, round3: the paper's rounds, searched with "
                                                          "memetic (round2), tpe (round3) (the paper used random search)")


def test_summary_line_with_several_seeds():
    line = publish.summary_line({"best_acc": 0.5, "best_acc_std": 0.1, "test_acc": 0.4, "test_acc_std": 0.05,
                                "rows": 12, "dataset": "digits", "seeds": [0, 1, 2]})
    assert line.startswith("best validation accuracy 50.00% ± 10.00 (test 40.00% ± 5.00) · 12 trials")
    assert "seeds 0-2" in line


def test_summary_line_of_a_comparison_names_the_best_strategy_and_lists_each():
    line = publish.summary_line({"best_acc": 0.8136, "test_acc": 0.80, "best_strategy": ["ga", "random"],
                                "by_strategy": {"ga": {"best_acc": 0.8136}, "memetic": {"best_acc": 0.7944},
                                                "random": {"best_acc": 0.8136}},
                                "strategy": "ga, memetic, random", "rows": 12, "seeds": [0]})
    assert line.startswith("best validation accuracy 81.36% (test 80.00%) by ga and random · "
                           "per strategy: ga 81.36%, memetic 79.44%, random 81.36% · 12 trials")
    assert "strategy ga, memetic" not in line


# -- the published HTML ------------------------------------------------------------------------

def test_render_html_embeds_figures_hides_code_and_stderr_and_fetches_nothing(tmp_path):
    import base64

    from nbformat.v4 import new_output

    from _html import embedded_pngs, fetched_urls

    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a") + b"made-up image").decode()
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    cell = new_code_cell("secret_code_line = 1")
    cell.outputs = [new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                    new_output("stream", name="stderr", text="TensorFlow chatter\n"),
                    new_output("stream", name="stdout", text="a printed line\n")]
    nb.cells = [new_markdown_cell("# Round *x*"), cell]
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    page = publish.render_html(tmp_path / "x.ipynb", tmp_path / "x.html", title="x").read_text(encoding="utf-8")
    assert embedded_pngs(page) == [f"data:image/png;base64,{png}"]
    assert "a printed line" in page and "TensorFlow chatter" not in page and "secret_code_line" not in page
    assert "<title>x</title>" in page
    assert GENERATOR in page.split("</head>")[0]  # a later run into this folder knows the report is studylib's
    assert fetched_urls(page) == [f"data:image/png;base64,{png}"]  # no script or stylesheet from a CDN


def test_a_stopped_run_looks_for_its_ledger_in_the_folder_it_chose(monkeypatch, tmp_path):
    """``run compare --seeds 2`` writes to the untagged folder (the comparison's own seeds): a stop
    there says to re-run, looking where the run wrote, not where the flags alone would point."""
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path)
    args = cli.build_parser().parse_args(["run", "compare", "--seeds", "2"])
    chosen = runner.default_out(args, names=["compare"])
    (chosen / "compare" / "memetic" / "seed-0").mkdir(parents=True)
    (chosen / "compare" / "memetic" / "seed-0" / paths.LEDGER_NAME).write_bytes(b"")
    assert not cli._ledger_under(args)  # the flags alone name digits-smoke-x2
    args.resolved_out = chosen  # as runner.main records it
    assert cli._ledger_under(args)
