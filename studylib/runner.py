"""``studylib run ROUND``: execute a round's notebook with papermill and publish it as HTML.

For each round, into the output folder ``DIR`` (default ``reports/<dataset>-<profile>[-...]``):

* ``DIR/<round>.ipynb`` — the executed notebook (kept, partial, when a cell fails);
* ``DIR/<round>.html`` — the report: code hidden, figures embedded as base64 PNG (stands alone);
* ``DIR/<round>/`` — the round's own ledger, ``trials.csv`` (one row per trial, the ledger's
  column names), ``studies/<study_id>.json`` and ``summary.json`` (the notebook's ``out_dir`` parameter points here,
  so rounds run into one ``DIR`` never mix), and, after a failure, ``kernel.log`` (the kernel
  process's own output); while it runs, ``progress.feed`` (the trial lines the run relays to
  stderr; removed at the end, left by ``kill -9`` and overwritten by the next run);
* ``DIR/<round>/figures/`` and ``tables/`` — the report's figures (PDF, PNG) and tables (CSV, LaTeX)
  as files (:mod:`studylib.report.keep`; removed before the notebook runs, and with the report
  when it fails or is stopped);
* ``DIR/index.html`` — links to every report in ``DIR`` with a one-line summary each
  (:mod:`studylib.report.publish` writes the HTML).

Rounds are data: every ``notebooks/<name>.ipynb`` whose cell tagged ``parameters`` declares
``out_dir`` is a round (``round1``, ``round2``, ``round3``, ...; not ``explore.ipynb``).
``compare`` is the name of ``round4.ipynb``
(published as ``DIR/compare.*``); ``all`` runs round1, round2 and round3. The CLI's options are
passed as papermill parameters, each only to notebooks that declare it.

Bad input (unknown round, bad value, unusable folder, an ``index.html``, ``trials.csv``,
``<round>.ipynb`` or ``<round>.html`` studylib did not write, another run writing into ``DIR``:
``DIR/.run.lock``): one line, exit 2,
nothing written — all checked before any notebook runs. If stdout's reader goes away, the run
prints nothing more and finishes. A failing cell: one line naming the round, cell and error,
exit 1, the partial notebook kept. Ctrl-C: exit 130, the round's ledger kept (the same command
continues it), its partial notebook, kernel log and earlier report removed.

Heavy imports (papermill, nbconvert, keras) stay inside functions: ``studylib --help`` loads this.
"""
from __future__ import annotations

import difflib
import json
import re
import sys
import time
from pathlib import Path

from . import defaults, notebook_params, paths
from .cliargs import given_once
from .errors import StudyError, first_line
from .notebook_exec import RoundFailed, execute

#: Round name -> notebook stem, where they differ. ``compare`` (the memetic GA against GA, random
#: search, TPE, regularized evolution and local search by default:
#: :data:`studylib.report.compare.STRATEGIES`) lives in ``notebooks/round4.ipynb``.
ALIASES = {"compare": "round4"}
_ROUND_OF = {stem: name for name, stem in ALIASES.items()}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: CLI option -> notebook parameter, with the value that means "not given".
PARAMETERS = {"dataset": defaults.DATASET, "profile": defaults.PROFILE, "strategy": defaults.STRATEGY, "trials": None,
              "seed": defaults.SEED,
              "repeats": None, "max_epochs": None, "patience": None, "train_size": None, "data_dir": None}


def add_arguments(p) -> None:
    from .cliargs import add_deprecated, add_seeds, add_study_arguments, seed_count

    p.add_argument("round", metavar="ROUND",
                   help="round1, round2, round3, all (the three), compare, or NAME for any other "
                        "notebooks/NAME.ipynb whose parameters cell declares out_dir (or that file's path; "
                        "a notebook elsewhere runs with papermill)")
    # where trials run is not a notebook parameter: the notebooks use the default executor
    add_study_arguments(p, default_out=None, execution=False)
    add_seeds(p, None, "run each study once per seed and report mean ± std (default: the notebook's)",
              dest="repeats")
    add_deprecated(p, "--repeats", "--seeds", dest="repeats", type=seed_count)
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="set any other parameter the notebook declares (VALUE read as YAML), e.g. "
                        "-p bench_seeds=30 -p strategies=random,memetic")
    p.description = ("Execute the round's notebook with papermill into OUT/<round>.ipynb, publish "
                     "OUT/<round>.html and OUT/index.html; the round's trials go to OUT/<round>/trials.csv. "
                     "OUT defaults to reports/<dataset>-<profile>, plus a tag per other non-default "
                     "setting (e.g. reports/fashion_mnist-smoke-train10000).")


# -- rounds ------------------------------------------------------------------------------------

_OUT_DIR_PARAM = re.compile(r"^out_dir\s*[:=]", re.M)


def round_problem(path: Path) -> str | None:
    """Why ``path`` is not a round notebook (None: it is one). A round's cell tagged ``parameters``
    (the first cell so tagged, of any type, as papermill finds it) is code that declares
    ``out_dir``, where the runner tells it to keep its trials. Other notebooks (e.g.
    ``explore.ipynb``) are not rounds."""
    try:
        nb = json.loads(path.read_text())
        cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    except (OSError, ValueError, AttributeError) as e:
        return f"cannot read notebook {path}: {first_line(e) or type(e).__name__}"
    tagged = [c for c in cells if "parameters" in ((c.get("metadata") or {}).get("tags") or [])]
    if not tagged:
        return f"{path} is not a round: it has no cell tagged parameters"
    if tagged[0].get("cell_type") != "code":
        return (f"{path} is not a round: its first cell tagged parameters is a {tagged[0].get('cell_type')} cell "
                "(papermill sets the parameters of the first cell so tagged)")
    from .notebook_exec import cell_source

    if not _OUT_DIR_PARAM.search(cell_source(tagged[0])):
        return f"{path} is not a round: its parameters cell declares no out_dir"
    return None


def is_round_notebook(path: Path) -> bool:
    """:func:`round_problem` finds none."""
    return round_problem(path) is None


def available_rounds(notebooks_dir: Path | None = None) -> dict[str, Path]:
    """Round name -> notebook: every ``<name>.ipynb`` that :func:`is_round_notebook` (aliases applied)."""
    folder = Path(notebooks_dir or paths.NOTEBOOKS_DIR)
    found = {}
    for nb in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        if _NAME.match(nb.stem) and is_round_notebook(nb):
            found[_ROUND_OF.get(nb.stem, nb.stem)] = nb
    return found


def resolve_rounds(name: str, notebooks_dir: Path | None = None) -> list[tuple[str, Path]]:
    from .report.publish import round_order
    from .space_file import BUILTIN  # the paper's rounds: what ``all`` runs

    rounds = available_rounds(notebooks_dir)
    if name == "all":
        missing = [r for r in BUILTIN if r not in rounds]
        if missing:
            raise StudyError(f"notebook(s) missing for 'all': {', '.join(missing)} "
                             f"(looked in {notebooks_dir or paths.NOTEBOOKS_DIR})")
        return [(r, rounds[r]) for r in BUILTIN]
    name = _ROUND_OF.get(name, name)  # round4 -> compare
    if name not in rounds:
        nb = Path(notebooks_dir or paths.NOTEBOOKS_DIR) / f"{ALIASES.get(name, name)}.ipynb"
        if nb.is_file():
            hint = "; the explorer is `studylib explore`" if name == "explore" else ""
            raise StudyError((round_problem(nb) or f"{nb} is not a round") + hint)
        every = ["all"] if all(r in rounds for r in BUILTIN) else []  # what ``all`` would run is there
        known = ", ".join([*every, *sorted(rounds, key=round_order)]) or "none"
        raise StudyError(f"unknown round {name!r} (choose from: {known})")
    return [(name, rounds[name])]


def _round_name(given: str) -> str:
    """The round a ``ROUND`` argument names: a round notebook of ``notebooks/`` may be given by its
    file (``notebooks/round1.ipynb``, or ``round1.ipynb`` where no such file is here); another
    notebook file, or an odd name, is a StudyError."""
    if given.endswith(".ipynb"):
        nb = Path(given)
        ours = nb.resolve().parent == paths.NOTEBOOKS_DIR.resolve() if nb.exists() else nb.parent == Path(".")
        if not ours:
            raise StudyError(f"unknown round {given!r}: studylib run takes the name of a notebook in "
                             f"{paths.NOTEBOOKS_DIR} (e.g. round1; run a notebook elsewhere with papermill)")
        return nb.stem  # (resolve_rounds says why a notebook there is not a round, or that none has the name)
    if not _NAME.match(given):
        raise StudyError(f"unknown round {given!r}")
    return given


def default_out(args, declared: dict | None = None, names: list[str] | None = None) -> Path:
    """``reports/<dataset>-<profile>``, plus a tag for each setting that changes the results, given
    by its flag or by ``-p`` (a value of the wrong type is refused later, by the round's checks),
    else by the notebook's own default (``declared``: :func:`_declared_defaults`). ``names``: the
    rounds run; the comparison alone given its profile's number of seeds is not tagged for them
    (as :func:`~studylib.report.compare.plan_compare` names its folder)."""
    v = {k: getattr(args, k, None) for k in PARAMETERS}
    given = _given(args)
    for key, value in (declared or {}).items():
        flagged = _set_by_user(key, v[key], given)
        if not flagged and isinstance(value, (str, int)) and not isinstance(value, bool):
            v[key] = value
    options = None
    for _, key, value in _p_items(args):
        if key in PARAMETERS and isinstance(value, (str, int)) and not isinstance(value, bool):
            v[key] = value
        elif key == "strategy_options":
            options = value
    if names and set(names) == {"compare"}:
        from .report.compare.run import tagged_seeds

        v["repeats"] = tagged_seeds(v["profile"], v["repeats"])
    from .report.folders import default_out_dir

    return default_out_dir(v["dataset"], v["profile"], strategy=v["strategy"], train_size=v["train_size"],
                           max_epochs=v["max_epochs"], patience=v["patience"], seed=v["seed"], repeats=v["repeats"],
                           strategy_options=options)


# -- validation --------------------------------------------------------------------------------

def _given(args) -> set[str] | None:
    """The options ``studylib run``'s command line (``args.argv``) gave, at their default too;
    None without it."""
    argv = getattr(args, "argv", None)
    if not argv or "run" not in argv:
        return None
    import argparse
    import contextlib
    import io

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    with contextlib.redirect_stderr(io.StringIO()):  # a deprecated flag's warning was printed once already
        return set(vars(parser.parse_known_args(argv[argv.index("run") + 1:])[0]))


def _set_by_user(key: str, value, given: set[str] | None) -> bool:
    """The command line gave option ``key`` (:func:`_given`; without its words: a value other than
    the default)."""
    return key in given if given is not None else value != PARAMETERS[key]


def _parameters(args, name: str, nb: Path, out: Path) -> dict:
    """The papermill parameters for this notebook: the options it declares (an option it does not
    declare but the user set is an error), ``out_dir`` pointing at ``OUT/<round>``."""
    read = notebook_params.read(nb)
    declared, assigned = read.declared, read.missed()
    if "out_dir" in assigned:  # a round (its cell assigns out_dir) that papermill would not tell where to write
        raise notebook_params.unreadable(nb, name, "out_dir", assigned)
    settable = ", ".join(k for k in declared if k != "out_dir") or "nothing"
    values = {k: getattr(args, k, default) for k, default in PARAMETERS.items()}
    given = _given(args)  # a flag given too, even at its default: which one counts?
    params = {}
    for k, v in values.items():
        flagged = _set_by_user(k, v, given)  # even at its default: --strategy random asks for one strategy
        if k in declared:
            if flagged:  # else the notebook's own default
                params[k] = v
        elif flagged and k in assigned:
            raise notebook_params.unreadable(nb, name, k, assigned)
        elif flagged:
            hint = " (give -p strategies=a,b)" if k == "strategy" and "strategies" in declared else ""
            raise StudyError(f"notebook {nb.name} (round {name}) has no parameter {k!r} ({_flag(k)}){hint}; "
                             f"it takes: {settable}")
    for item, key, value in _p_items(args):
        if key in assigned:
            raise notebook_params.unreadable(nb, name, key, assigned)
        if key not in declared or key == "out_dir":
            close = difflib.get_close_matches(key, [k for k in declared if k != "out_dir"], n=1, cutoff=0.8)
            hint = (" (seeds is 'repeats' here, or the flag --seeds)" if key == "seeds" and "repeats" in declared
                    else " (the output folder is the flag --out)" if key in ("out_dir", "out")
                    else f" (did you mean {close[0]!r}?)" if close else "")
            raise StudyError(f"notebook {nb.name} (round {name}) has no settable parameter {key!r}{hint}; "
                             f"it takes: {settable}")
        if key in values and _set_by_user(key, values[key], given):
            raise StudyError(f"{key} given twice: {_flag(key)} {values[key]} and -p {item}; give one")
        text = item.partition("=")[2].strip()
        params[key] = notebook_params.as_declared(value, text, declared[key].get("inferred_type_name"))
    if params.get("data_dir") is not None and not isinstance(params["data_dir"], str):
        raise StudyError(f"-p data_dir must be a folder, got {params['data_dir']!r}")
    if params.get("data_dir"):  # the notebook runs in OUT: a relative folder means this one
        params["data_dir"] = str(Path(params["data_dir"]).resolve())
    if "out_dir" in declared:
        params["out_dir"] = str(out / name)
    return params


def _declared_defaults(nb: Path) -> dict:
    """The values a notebook's parameters cell gives the options of :data:`PARAMETERS` (those
    written as plain literals)."""
    import ast

    out = {}
    for k, d in notebook_params.read(nb).declared.items():
        if k in PARAMETERS:
            try:
                out[k] = ast.literal_eval(str(d.get("default")))
            except (ValueError, SyntaxError):
                pass
    return out


def _flag(parameter: str) -> str:
    return "--seeds" if parameter == "repeats" else "--" + parameter.replace("_", "-")


def _p_items(args) -> list[tuple[str, str, object]]:
    """The ``-p KEY=VALUE`` items as (item, key, value); a key given twice with two values is an error."""
    items = [(item, *notebook_params.key_value(item)) for item in getattr(args, "param", None) or []]
    given_once(((key, value) for _, key, value in items), "-p")
    return items


def planner(name: str):
    """The function that checks round ``name``'s inputs before its notebook runs
    (:func:`~studylib.report.rounds.plan_round`, :func:`~studylib.report.compare.plan_compare`),
    called with the notebook's parameters; None for another notebook."""
    from .report import compare, rounds
    from .space_file import BUILTIN

    if name in BUILTIN:
        return lambda **params: rounds.plan_round(name, **params)
    return compare.plan_compare if name == "compare" else None


def _validate(plans: list[tuple[str, Path, dict]]) -> None:
    """Everything a notebook would reject, checked here first with the values it will be given
    (its flags and ``-p``): the rounds' and the comparison's own checks, which load the data. Of
    another notebook, the profile and the data."""
    from . import profiles
    from .data import load_dataset

    for name, nb, params in plans:
        plan = planner(name)
        if plan is not None:
            try:
                plan(**params)
            except (TypeError, ValueError, AttributeError) as e:  # a -p value of a type the round cannot use
                raise StudyError(f"round {name}: a parameter's value has the wrong type ({e})") from None
            continue
        v = {**PARAMETERS, **_declared_defaults(nb), **params}
        s = profiles.resolve(v["profile"], name, trials=v["trials"], max_epochs=v["max_epochs"],
                             patience=v["patience"], train_size=v["train_size"])
        load_dataset(v["dataset"], train_size=s["train_size"], val_size=s["val_size"],
                     test_size=s["test_size"], data_dir=v["data_dir"])


# -- command -----------------------------------------------------------------------------------

def main(args) -> int:
    start = time.perf_counter()
    args.round = _round_name(args.round or "")
    rounds = resolve_rounds(args.round)
    declared = _declared_defaults(rounds[0][1]) if len(rounds) == 1 else None  # (the rounds': the CLI's own)
    out = Path(args.out) if args.out else default_out(args, declared, [name for name, _ in rounds])
    from .outdir import StudyLock, check_out_dir

    check_out_dir(out, index=True, study=True)  # before resolve(): a link to nowhere is refused, not followed
    out = out.resolve()
    args.resolved_out = out  # for the line a stop prints (cli._ledger_under): the folder chosen here
    plans = [(name, nb, _parameters(args, name, nb, out)) for name, nb in rounds]
    _validate(plans)
    out.mkdir(parents=True, exist_ok=True)
    # one run per folder: a second one would overwrite the notebooks and reports the first is writing
    lock = StudyLock(out, "run", what="a studylib run").acquire()
    try:
        # under the lock: no other run is writing these now (a notebook papermill is writing is half a file)
        check_out_dir(out, index=True, reports=[name for name, _ in rounds])
        return _run_rounds(plans, out, progress=not args.no_progress, start=start)
    finally:
        lock.release()


def _run_rounds(plans, out: Path, progress: bool, start: float) -> int:
    from .report import keep
    from .report.publish import render_html, summary_line, write_index
    from .report.folders import read_summary

    for name, nb, params in plans:
        _say(f"{name}: executing {_rel(nb)} ...")
        keep.clear(out / name)  # an earlier report's figure and table files: this run draws its own
        try:
            took = execute(name, nb, out, params, progress=progress)
            report = render_html(out / f"{name}.ipynb", out / f"{name}.html", title=f"{name} — {out.name}")
        except (RoundFailed, KeyboardInterrupt) as e:
            (out / f"{name}.html").unlink(missing_ok=True)  # an earlier run's: its notebook was overwritten
            keep.clear(out / name)  # and the files this run drew before it stopped
            write_index(out, if_empty=False)  # a first round stopped: no "no reports yet" page left behind
            if isinstance(e, KeyboardInterrupt):
                raise
            sys.stderr.write(f"studylib: error: {e}\n")
            return 1
        _say(f"{name}: {summary_line(read_summary(out / name))} -> {_rel(report)} ({took:.0f} s)")
    index = write_index(out)
    _say(f"done in {time.perf_counter() - start:.0f} s; reports:\n{index}")
    return 0


def _say(text: str) -> None:
    """Print a line of the run's own output; if its reader has gone (``studylib run all | head -1``),
    print nothing more and go on: the rounds still run and their reports are still written."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        from .progress import stdout_to_devnull

        stdout_to_devnull()


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)
