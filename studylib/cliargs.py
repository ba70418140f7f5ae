"""Command-line options shared by the subcommands (and their number types), one meaning each:

* ``--seed S``: the (first) seed; ``--seeds N``: how many seeds, S..S+N-1 (``run``, ``bench``);
* ``--workers N``: N worker processes run trials (``search``: a local Dask cluster) or benchmark
  runs (``bench``) at once;
* ``--trials N``: distinct trials evaluated (charged) per study or benchmark run: configurations,
  and the memetic GA's replicate runs of its best (each a training of its own);
  ``--budget-epochs N``: epochs trained (charged) per study or learning-curve benchmark run;
* ``--no-progress``: no progress output (results are still printed);
* ``--out DIR``: the output folder.

Every bad value exits with code 2 and one line. Its own module so that :mod:`studylib.cli` and the
command plugins (:mod:`studylib.runner`, :mod:`studylib.bench_cli`) import it without importing each
other. Old spellings (``--repeats``, ``--quiet``, ``--budget``, export-table's ``--out``) still
work, with a one-line deprecation warning on stderr.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from .fidelity import MAX_SEED

#: The default windows --in-flight's help names (a test builds each strategy to check them).
IN_FLIGHT_HELP = "ga 20, memetic 10, memetic-sh 20"


def _number(kind, minimum: float, strict: bool, what: str, maximum: float = float("inf")):
    """An argparse type: ``kind`` (int or float) above (``strict``) or at least ``minimum``, and
    finite and at most ``maximum``."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (v > minimum if strict else v >= minimum) or v == float("inf") or v > maximum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


positive_int = _number(int, 0, True, "a positive integer")
nonneg_int = _number(int, 0, False, "a non-negative integer")
seed_value = _number(int, 0, False, f"a seed from 0 to {MAX_SEED} (2**31 - 1)", maximum=MAX_SEED)
positive_float = _number(float, 0, True, "a positive number")
nonneg_float = _number(float, 0, False, "a non-negative number")
port_number = _number(int, 1, False, "a port number (1-65535)", maximum=65535)
#: the most seeds a command runs (--seeds, a round's repeats, a comparison's bench_seeds): each is a
#: study or a run, and a billion would fill memory before the first
MAX_SEEDS = 10_000
seed_count = _number(int, 0, True, f"a number of seeds from 1 to {MAX_SEEDS:,}", maximum=MAX_SEEDS)


def path(text: str) -> str:
    """An argparse type: a path, not empty (an empty ``--out ""`` would mean the default silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def scheduler(text: str) -> str:
    """An argparse type: a Dask scheduler's address (``tcp://host:8786``, ``host:8786``) or an
    existing scheduler file; a path to no file is said to be one, not tried as an address."""
    text = path(text)
    if os.path.isfile(text):
        return text
    if "://" in text or host_port(text):
        problem = _bad_address(text)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem}")
        return text
    raise argparse.ArgumentTypeError(f"{text}: no such scheduler file, and not an address such as tcp://host:8786")


def host_port(address: str) -> tuple[str, int] | None:
    """The host and port of a TCP scheduler address (``tcp://host:port``, ``host:port``,
    ``[::1]:port``); None for another kind, or one without a port (Dask reads those)."""
    m = re.match(r"^(?:tcp://)?(?:\[([0-9A-Fa-f:]+)\]|([\w.\-]+)):(\d+)/?$", address)
    return (m.group(1) or m.group(2), int(m.group(3))) if m else None


def _bad_address(address: str) -> str | None:
    """What is wrong with a TCP ``address`` before anything is tried there: a port outside
    1-65535, a host name no name service knows (Dask would retry either for 30 s)."""
    import socket

    parts = host_port(address)
    if parts is None:
        return None
    host, port = parts
    if not 1 <= port <= 65535:
        return f"port {port}: a port number is 1-65535"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:  # an empty label (a..b), one over 63 characters
        return f"{host} is not a host name"
    except socket.gaierror as e:
        unknown = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}
        return f"unknown host {host}" if e.errno in unknown else None  # a failing name service: Dask retries
    return None


class _Deprecated(argparse.Action):
    """An old spelling of ``new``: stores like it (a flag when ``nargs=0``); :func:`check_deprecated`
    warns (or refuses) once parsing is done."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        value = True if self.nargs == 0 else values
        given = dict(getattr(namespace, "deprecated_given", {}))
        before = getattr(namespace, self.dest, None)
        if self.dest in given:  # this old flag again: its first value
            first, twice = given[self.dest][3], True
        else:  # the new flag's value if it came first, else this one
            first, twice = (before if before not in (None, parser.get_default(self.dest)) else value), False
        setattr(namespace, self.dest, value)
        given[self.dest] = (option_string, self.new, value, first, twice)
        namespace.deprecated_given = given


def check_deprecated(args, check=None) -> None:
    """An old flag and its new name given with two values (in either order), or the old flag twice
    with two values: one error line, and no warning; else one warning line per old flag used.
    ``check(args)``: a command's own conflicts of an old flag kept apart from its new names (bench's
    ``--budget``), raised before any warning too."""
    from .errors import StudyError

    given = getattr(args, "deprecated_given", {})
    for dest, (old, new, value, first, twice) in given.items():
        if twice and first != value:
            raise StudyError(f"{old} given twice ({first} and {value}): give {new} once")
        if getattr(args, dest, value) != value or first != value:
            raise StudyError(f"{old} is the old name of {new}, given with another value: give {new} only")
    if given and check is not None:
        check(args)
    for old, new, *_ in given.values():
        sys.stderr.write(f"studylib: warning: {old} is deprecated, use {new}\n")


def strategy_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is read as JSON where it is JSON (``3``,
    ``0.5``, ``true``, ``null``, ``"a"``; ``True``/``False``/``None`` in any case too), else kept
    as the text (``async``). A ``-`` in KEY is read as ``_``."""
    import json

    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. promote=async), got {text!r}")
    words = {"true": True, "false": False, "null": None, "none": None}
    if value.strip().lower() in words:  # True/False as Python writes them too (not the text "False")
        return key, words[value.strip().lower()]
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def same_value(a, b) -> bool:
    """Two values of an option given twice are one value: equal and of one type (``3`` and ``3.0``
    are two: a study's identity hashes the value as given)."""
    return a == b and type(a) is type(b)


def given_once(pairs, what: str) -> dict:
    """``(key, value)`` pairs as a dict; a key given twice with two values (:func:`same_value`) is
    an error naming it as ``what`` (``-p``), not the last one."""
    from .errors import StudyError

    out: dict = {}
    for key, value in pairs or []:
        if key in out and not same_value(out[key], value):
            raise StudyError(f"{what} {key} given twice ({out[key]!r} and {value!r}): give one")
        out[key] = value
    return out


def strategy_options(pairs) -> dict:
    """``--strategy-option`` pairs as a dict (:func:`given_once`)."""
    return given_once(pairs, "strategy option")


def add_strategy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy-option", dest="strategy_options", action="append", type=strategy_option,
                   metavar="KEY=VALUE",
                   help="an option of the strategy (repeatable; e.g. for memetic-sh on 4 workers: "
                        "--strategy-option promote=async --strategy-option fill=true --in-flight 4); a value "
                        "is read as JSON where it is (3, 0.5, true), else as text; part of the study's identity")


def add_deprecated(p: argparse.ArgumentParser, old: str, new: str, dest: str, flag: bool = False,
                   type=None) -> None:
    """``old`` as a hidden, warning alias of ``new`` (same ``dest``, no default of its own)."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, nargs=0 if flag else None, type=type,
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_no_progress(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--no-progress", action="store_true", help=f"no progress output ({what})")


def seeds_at_most(name: str, n: int) -> int:
    """``n`` seeds, at most :data:`MAX_SEEDS` (a notebook parameter's check); else one line."""
    from .errors import StudyError

    if n > MAX_SEEDS:
        raise StudyError(f"{name} {n}: at most {MAX_SEEDS:,} seeds")
    return n


def worker_count(text: str) -> int:
    """An argparse type for ``--workers``: 1 to 4 per CPU of this machine (each worker is a
    process; more only share the same cores and memory)."""
    import os

    most = 4 * (os.cpu_count() or 1)
    return _number(int, 0, True, f"a number of workers from 1 to {most} (4 per CPU here)", maximum=most)(text)


def add_seeds(p: argparse.ArgumentParser, default: int | None, what: str, dest: str = "seeds") -> None:
    """``--seeds N``: seeds S..S+N-1 where S is ``--seed``."""
    p.add_argument("--seeds", type=seed_count, default=default, metavar="N", dest=dest,
                   help=f"{what}: seeds SEED..SEED+N-1" + (f" (default: {default})" if default else ""))


def add_study_arguments(p: argparse.ArgumentParser, *, default_out: str | None = None,
                        execution: bool = True) -> None:
    """Options shared by ``search`` and ``run``: what to search, on which data, for how long;
    with ``execution``, also where trials run and how failures are handled."""
    from . import defaults as d
    from .data import DATASETS
    from .profiles import PROFILES
    from .strategies import available

    p.add_argument("--strategy", default=d.STRATEGY, choices=available(), metavar="NAME",
                   help=f"search strategy: {', '.join(available())} (default: {d.STRATEGY})")
    p.add_argument("--trials", type=positive_int,
                   help="distinct trials to evaluate (default: the profile's; with a budget: the space's size): "
                        "configurations, and the memetic GA's replicate runs of its best config (each a training); "
                        "with a multi-fidelity strategy (memetic-sh, tpe-hb, asha, dehb) N configs, each carried as "
                        "far as halving promotes it (the study ends with no promotion owed)")
    p.add_argument("--seed", type=seed_value, default=d.SEED,
                   help=f"seed of the strategy and of training (default: {d.SEED})")
    p.add_argument("--dataset", default=d.DATASET, choices=DATASETS, metavar="NAME",
                   help=f"one of {', '.join(DATASETS)} (default: {d.DATASET}, offline)")
    p.add_argument("--data-dir", type=path,
                   help="folder holding cifar-10-python.tar.gz or cifar-10-batches-py/, or Fashion-MNIST's IDX files "
                        "(default: data/ in the repository studylib runs from, whatever the current folder, "
                        "or $STUDYLIB_DATA)")
    p.add_argument("--profile", default=d.PROFILE, choices=list(PROFILES), metavar="NAME",
                   help=f"smoke (tiny, {PROFILES['smoke']['max_epochs']} epochs) or paper (full protocol, up to "
                        f"{PROFILES['paper']['max_epochs']} epochs) (default: {d.PROFILE})")
    p.add_argument("--max-epochs", type=positive_int, help="override the profile's epoch budget")
    p.add_argument("--patience", type=positive_int, help="override the early-stopping patience (paper: 4)")
    p.add_argument("--train-size", type=positive_int, help="train on a subset of this many images")
    holds = ("the ledger and trials.csv" if execution else
             "the reports, index.html, and each round's folder with its ledger and trials.csv")
    p.add_argument("--out", default=default_out, type=path,
                   help=f"output folder: {holds} (default: "
                        f"{default_out or 'reports/<dataset>-<profile>, plus a tag per other non-default setting'})")
    add_no_progress(p, "bars at a terminal, one line per finished trial in a log")
    if not execution:
        return
    p.add_argument("--budget-epochs", type=positive_int, metavar="N",
                   help="stop once N epochs are trained across all trials (a trial gets at most the epochs "
                        "left; a continued rung pays only its new epochs; a multi-fidelity strategy starts no "
                        "new config unless it fits with the promotions it and the others may still get)")
    p.add_argument("--budget-hours", type=positive_float, metavar="H",
                   help="stop once H hours of training are spent (checked before each trial starts; a "
                        "multi-fidelity strategy counts the hours left in epochs at the time per epoch so far)")
    g = p.add_argument_group("execution (where trials run; a killed study continues when the same command "
                             "is run again)")
    g.add_argument("--executor", choices=("serial", "dask", "inline"), default=None,
                   help="serial: one trial at a time in a reused child process (default); dask: on a Dask "
                        "cluster (--workers or --scheduler); inline: in this process")
    g.add_argument("--workers", type=worker_count, metavar="N",
                   help="N worker processes run trials at once: a local Dask cluster of N single-thread "
                        "workers (implies --executor dask)")
    g.add_argument("--scheduler", metavar="ADDRESS", type=scheduler,
                   help="join an existing Dask cluster: tcp://host:8786 or a scheduler file (implies dask)")
    g.add_argument("--in-flight", type=positive_int, metavar="N",
                   help="proposals a result-driven strategy (ga, memetic, tpe, ...) makes ahead of its results, "
                        f"i.e. its trials that can run at once (default: a GA's generation, {IN_FLIGHT_HELP}; "
                        "else 1); part of the study's identity")
    g.add_argument("--trial-timeout", type=positive_float, metavar="SECONDS",
                   help="record a trial still running after SECONDS as failed and go on")
    g.add_argument("--max-failures", type=nonneg_int, metavar="N",
                   help="stop (exit code 3) once more than N trials failed in this run (default: never; with "
                        f"--budget-epochs/--budget-hours, after {d.FAILED_IN_A_ROW} failures in a row, as failures "
                        "spend no budget)")
    g.add_argument("--allow-code-change", action="store_true",
                   help="continue a study although studylib, model.py/training.py/resumable.py or Keras changed since it "
                        "started (recorded in the ledger); without it such a study stops (exit 2)")
    g.add_argument("--retry-failed", action="store_true",
                   help="train the failed trials this run reaches again instead of serving them from the ledger")
    g.add_argument("--max-retries", type=nonneg_int, metavar="N",
                   help=f"times a trial whose process or Dask worker died is run again (default: {d.MAX_RETRIES})")
    g.add_argument("--recycle-after", type=positive_int, metavar="N",
                   help="replace a worker's trial process after N trials (default: only for memory)")
    g.add_argument("--max-worker-memory", type=nonneg_float, metavar="MIB",
                   help="replace a trial process whose resident memory exceeds MIB after a trial "
                        f"(default: {d.MAX_WORKER_MEMORY}; 0: never)")
