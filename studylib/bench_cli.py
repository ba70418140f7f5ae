"""``studylib bench``: its flags and what it runs (:mod:`studylib.bench` on tables,
:mod:`studylib.curve_bench` on learning-curve files with ``--fidelity epoch``).

Every flag is checked before any table is read or run: a bad value is one line and exit code 2.
Kept apart from the protocol so that the command line is no part of a result's code
(:func:`studylib.provenance.fingerprint`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import paths
from .bench import (BENCH_FILES, DEFAULT_BUDGET, DEFAULT_STRATEGIES, MAX_BUDGET, default_out_dir, format_summary, resolve_strategies,
                    run_bench, summarize, write_results, wrote_line)
from .cliargs import add_deprecated, add_no_progress, add_seeds, path, positive_int, seed_value, worker_count
from .errors import StudyError
from .fidelity import check_seeds
from .names import split_names
from .progress import count
from .provenance import CURVE_PROTOCOL, code_stamp
from .tables import table_listing


def add_arguments(parser) -> None:
    """Flags of ``studylib bench``."""
    parser.add_argument("--table", default=None,
                        help="table name(s), comma separated, or 'all' (see --list), or FILE.csv / FILE.parquet "
                             "(one row per config and seed; see --metric, --direction)")
    parser.add_argument("--metric", default=None, help="a table file's column to optimise")
    parser.add_argument("--direction", default=None, help="a table file's direction: maximize or minimize")
    parser.add_argument("--fidelity", default=None, choices=("epoch",),
                        help="epoch: the table file has one row per (config, seed, epoch); --budget-epochs counts epochs "
                             "and multi-fidelity strategies (memetic-sh, tpe-hb, asha, dehb) may run (studylib.curve_bench)")
    parser.add_argument("--list", action="store_true",
                        help="print the tables (size, metric, direction, source) and exit")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                        help=f"comma-separated strategies (default {','.join(DEFAULT_STRATEGIES)})")
    parser.add_argument("--seed", type=seed_value, default=0, help="the first run seed (default: 0)")
    add_seeds(parser, 30, "runs per strategy and table")
    parser.add_argument("--trials", type=positive_int, default=None, metavar="N",
                        help=f"distinct trials charged per run: configurations and the memetic GA's replicate "
                             f"runs (default {DEFAULT_BUDGET}; a repeat is free)")
    parser.add_argument("--budget-epochs", type=positive_int, default=None, metavar="N",
                        help=f"--fidelity epoch: epochs charged per run (default {DEFAULT_BUDGET})")
    add_deprecated(parser, "--budget", "--trials (or --budget-epochs with --fidelity epoch)", dest="budget",
                   type=positive_int)
    parser.add_argument("--out", default=None, type=path, help=f"output folder (default {default_out_dir()})")
    parser.add_argument("--workers", type=worker_count, default=2, metavar="N",
                        help="N worker processes run benchmark runs at once (default 2)")
    add_no_progress(parser, "the summary is still printed")
    add_deprecated(parser, "--quiet", "--no-progress", dest="no_progress", flag=True)


def budget_of(args) -> int:
    """The per-run budget of ``studylib bench``: ``--trials`` (plain tables) or ``--budget-epochs``
    (``--fidelity epoch``), the deprecated ``--budget`` for either; a flag of the other mode: error."""
    epoch = getattr(args, "fidelity", None) == "epoch"
    trials, epochs = getattr(args, "trials", None), getattr(args, "budget_epochs", None)
    if epoch and trials is not None:
        raise StudyError("--trials counts configurations of a plain table; with --fidelity epoch give --budget-epochs")
    if not epoch and epochs is not None:
        raise StudyError("--budget-epochs needs --fidelity epoch (a table of learning curves); "
                         "a plain table's budget is --trials")
    given = epochs if epoch else trials
    old = getattr(args, "budget", None)
    if given is not None and old is not None and int(old) != int(given):
        flag = "--budget-epochs" if epoch else "--trials"
        raise StudyError(f"--budget is the old name of {flag}, given with another value: give {flag} only")
    budget = given if given is not None else old
    if budget is not None and int(budget) > MAX_BUDGET:
        raise StudyError(f"{'--budget-epochs' if epoch else '--trials'} {budget}: at most {MAX_BUDGET} per run")
    return DEFAULT_BUDGET if budget is None else int(budget)


def check_old_flags(args) -> None:
    """``--budget`` given with ``--trials`` or ``--budget-epochs`` (:func:`budget_of`'s errors), for
    :func:`studylib.cliargs.check_deprecated`: a plugin's hook, run before the old flags' warnings."""
    budget_of(args)


def check_top_rungs(curves, strategies, budget: int, default: bool = False) -> None:
    """A multi-fidelity strategy starts a config only if the budget can carry it to its top rung
    (the table's last epoch): a smaller budget would train nothing (as ``studylib search``'s check)."""
    from .strategies import MULTI_FIDELITY

    for name in strategies:
        for table in curves if name in MULTI_FIDELITY else ():
            if budget < table.epochs:
                given = f"budget-epochs {budget}" + (" (the default)" if default else "")
                raise StudyError(f"{given} is below {name}'s top rung on {table.name} "
                                 f"({table.epochs} epochs, the table's last): give at least {table.epochs}")


def check_not_an_output(spec: str, out: Path) -> None:
    """A table file that is one of the files bench writes into ``out`` would be overwritten by its
    own result."""
    written = {(out / name).resolve() for name in BENCH_FILES}
    for item in split_names(spec, "--table"):
        if Path(item).resolve() in written:
            raise StudyError(f"--table {item} is the {Path(item).name} this benchmark writes into {out}: "
                             "give another --out, or move the table")


def check_not_a_study(spec: str) -> None:
    """A study folder, its ledger or its trials.csv / rungs.csv is not a table: say how to make
    one of it."""
    from .outdir import is_study_record

    for item in split_names(spec, "--table"):
        path = Path(item)
        ledger = path.is_file() and path.suffix.lower() in (".sqlite", ".db")
        record = path.is_file() and is_study_record(path)  # the study's own export, one row per trial
        if ledger or record or (path / paths.LEDGER_NAME).is_file():
            folder = path if path.is_dir() else path.parent
            what = path.name if record else "ledger" if ledger else "folder"
            raise StudyError(f"--table {item}: a study's {what}, not a table; "
                             f"make one with `studylib export-table {folder} --table FILE.csv`, then "
                             "bench --table FILE.csv --fidelity epoch")


def _columns(path: Path) -> list[str]:
    """A table file's column names, read from its header alone (none when unreadable: reading
    the whole file says why)."""
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return list(pd.read_csv(path, nrows=0).columns)
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001
        return []


def check_not_curves(spec: str) -> None:
    """A learning-curve table (an ``epoch`` column) run without ``--fidelity epoch`` would read its
    epochs as a hyperparameter: say which flag it needs."""
    from .table_files import is_table_file

    for item in split_names(spec, "--table"):
        if is_table_file(item) and Path(item).is_file() and "epoch" in _columns(Path(item)):
            raise StudyError(f"--table {item} has an epoch column, a learning-curve table: "
                             "run it with --fidelity epoch")


def _given_besides_list(args) -> list[str]:
    """The flags of ``args`` other than ``--list`` whose values differ from their defaults (an old
    spelling by its own name)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    flags: dict[str, str] = {}  # dest -> its flag (the first: the new spelling where an old one shares it)
    defaults: dict = {}
    for action in parser._actions:
        flags.setdefault(action.dest, action.option_strings[0] if action.option_strings else action.dest)
        if action.default is not argparse.SUPPRESS:
            defaults.setdefault(action.dest, action.default)
    return [flag for dest, flag in flags.items()
            if dest not in ("list", "help") and hasattr(args, dest) and getattr(args, dest) != defaults.get(dest)]


def main(args) -> int:
    if getattr(args, "list", False):
        unused = _given_besides_list(args)
        if unused:
            sys.stderr.write(f"studylib: note: --list prints the built-in tables and runs nothing: "
                             f"{', '.join(unused)} not used\n")
        sys.stdout.write(table_listing())  # one write: fine behind `| head`
        return 0
    if not getattr(args, "table", None):
        raise StudyError("bench needs --table NAME[,NAME..] or all (or --list)")
    from .table_files import resolve_table_spec

    check_not_a_study(args.table)
    fidelity = getattr(args, "fidelity", None)
    strategies = resolve_strategies(args.strategies, multi_fidelity=fidelity == "epoch")
    budget = budget_of(args)
    seeds = list(range(args.seed, args.seed + args.seeds))
    check_seeds(seeds)
    out = Path(args.out) if getattr(args, "out", None) else default_out_dir()
    from .outdir import check_out_dir

    check_not_an_output(args.table, out)
    check_out_dir(out, files=BENCH_FILES)  # before any table is read or run
    if fidelity == "epoch":
        return _run_curve_files(args, strategies, seeds, budget, out)
    check_not_curves(args.table)
    tables = resolve_table_spec(args.table, getattr(args, "metric", None), getattr(args, "direction", None))
    # the summary is the command's result, printed even with --no-progress
    run_bench(tables, strategies, seeds, budget, out, workers=args.workers, progress=not args.no_progress,
              report=True)
    return 0


def _run_curve_files(args, strategies: list[str], seeds: list[int], budget: int, out: Path) -> int:
    """``studylib bench --fidelity epoch``: the strategies on learning-curve table files
    (:mod:`studylib.curve_bench`), ``budget`` epochs charged per run; prints the summary and
    writes :data:`~studylib.bench.BENCH_FILES` into ``out``."""
    from .curve_bench import load_curve_file, run_curves
    from .table_files import check_file_names, is_table_file

    files = split_names(args.table, "--table")
    check_file_names(args.table, files)
    if not all(is_table_file(f) for f in files):
        raise StudyError("--fidelity epoch needs table files (FILE.csv or FILE.parquet, one row per config, "
                         "seed and epoch), not built-in tables")
    curves = [load_curve_file(f, getattr(args, "metric", None), getattr(args, "direction", None)) for f in files]
    if len({c.name for c in curves}) < len(curves):
        raise StudyError("two table files of one name: rename a file")
    default = getattr(args, "budget_epochs", None) is None and getattr(args, "budget", None) is None
    check_top_rungs(curves, strategies, budget, default=default)
    for c in curves:
        every = c.space.size * c.epochs
        if every < budget:
            sys.stderr.write(f"studylib: note: table {c.name} holds {count(c.space.size, 'config')} x {c.epochs} "
                             f"epochs = {every} epochs, fewer than --budget-epochs {budget}: a run ends once its "
                             f"strategy has trained what it will, and regret@{budget} holds its last regret\n")
    t0 = time.perf_counter()
    df, grid = run_curves(curves, strategies, seeds, budget, workers=args.workers, progress=not args.no_progress)
    stamp = code_stamp(strategies, protocol=CURVE_PROTOCOL, tables=[c.name for c in curves],
                       seeds=seeds, budget_epochs=budget)
    summary = summarize(grid, budget)  # on the epoch grid: regret after c epochs
    # bench.csv: one row per charged trial, with its cost
    written = write_results(out, df, stamp, summary, grid, title="Regret vs Epochs on Learning-Curve Tables",
                            xlabel="epochs trained (charged)")
    counted = "regret@N and evals->rand count" if summary["evals_to_random"].notna().any() else "regret@N counts"
    print(format_summary(summary, budget, unit="epochs") + f"(--fidelity epoch: {counted} epochs)")
    print(wrote_line(written, time.perf_counter() - t0))
    return 0
