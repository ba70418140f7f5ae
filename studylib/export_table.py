"""``studylib export-table FOLDER --table FILE.csv``: a study folder's learning curves as a benchmark table.

Writes one row per (config, seed, epoch) of every finished trial in ``FOLDER/ledger.sqlite``: the
hyperparameter columns (by their studylib names), ``seed``, ``epoch`` (1-based) and one column per
recorded per-epoch metric (``val_accuracy``, ``val_loss``, ``accuracy``, ``loss``). A config
trained for one seed under several budgets (rungs of a multi-fidelity study, another
``--max-epochs``) contributes its longest history. Failed trials are left out. ``--study ID``
(repeatable) keeps only those studies' trials (a folder may hold several studies). The file reads
back with ``studylib bench --table FILE.csv --fidelity epoch --metric val_accuracy --direction
maximize`` (a finished grid study becomes a learning-curve benchmark).

No randomness here. Bad input (no ledger in FOLDER, an unknown ``--study``, nothing to export,
studies of several search spaces or data (other files, split or sizes) in FOLDER without ``--study``, an
unwritable ``--table``, a study's ``trials.csv`` or ``rungs.csv``, an existing ``--table`` it did
not write): one line, exit 2, nothing written. Beside the table, ``FILE.provenance.json`` records
what made it (and that export-table did: a later export replaces both).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .curve_bench import EPOCH  # the columns bench --fidelity epoch reads
from .errors import StudyError, first_line
from .table_files import SEED


def add_arguments(parser) -> None:
    from .cliargs import add_deprecated

    parser.add_argument("folder", metavar="FOLDER",
                        help="a study folder: the --out of studylib search (it holds ledger.sqlite)")
    parser.add_argument("--table", metavar="FILE.csv", help="(required) the table file to write (what studylib bench "
                                                           "--table FILE.csv --fidelity epoch reads)")
    add_deprecated(parser, "--out", "--table", dest="table")
    parser.add_argument("--study", action="append", default=None, metavar="ID", dest="studies",
                        help="export only this study's trials (a study_id of OUT/trials.csv; repeatable; "
                             "default: every study in FOLDER)")


def main(args) -> int:
    if not getattr(args, "table", None):
        raise StudyError("export-table needs --table FILE.csv (the table file to write)")
    from .outdir import check_out_file, first_few, study_folder, study_folders_below

    if Path(args.table).is_symlink():  # written where the link points, as a shell's > writes it
        try:
            target = Path(args.table).resolve(strict=False)
        except (RuntimeError, OSError):  # a loop of links (Python 3.11-3.12 raise; 3.13 returns a link)
            target = None
        if target is None or target.is_symlink():
            raise StudyError(f"--table {args.table} is a symbolic link that points, through links, back at "
                             "itself: give a file")
        args.table = str(target)
    check_out_file(args.table, ".csv", flag="--table")  # before reading the ledger
    check_not_study_file(args.table, args.folder)
    check_not_foreign(args.table)
    from .progress import count

    frame = learning_curves(args.folder, studies=args.studies)
    write_table(frame, args.table)
    lengths = frame.groupby(_key_columns(frame), dropna=False, sort=False)[EPOCH].max()
    print(f"wrote {args.table}: {len(frame)} rows ({count(len(lengths), 'learning curve')}, one per config and seed)")
    note = coverage_note(frame)
    if note:
        print(note, file=sys.stderr)
    nested = study_folders_below(study_folder(args.folder))
    if nested:
        print(f"studylib: note: the folder also holds study folders of their own "
              f"({first_few(nested)}, e.g. the seeds of a `run --seeds N` round): "
              "this table has none of their trials; export each of them too", file=sys.stderr)
    short = int((lengths < lengths.max()).sum())
    if short:
        print(f"studylib: note: {short} of {len(lengths)} curves end before epoch {int(lengths.max())} (early "
              "stopping, or rungs a multi-fidelity study did not promote); bench --fidelity epoch needs every curve "
              "to reach the same last epoch", file=sys.stderr)
    return 0


def _key_columns(frame) -> list[str]:
    """The columns naming a curve: the hyperparameters and ``seed`` (those before ``epoch``)."""
    cols = list(frame.columns)
    return cols[:cols.index(EPOCH)]


def check_not_study_file(table, folder) -> None:
    """``--table`` must not be one of the files a study writes in its folder: this study's, or
    another's (a ``trials.csv`` or ``rungs.csv`` beside a ledger)."""
    from . import paths
    from .outdir import RUNGS_CSV, is_study_record

    table = Path(table)
    if table.name not in (paths.TRIALS_CSV, RUNGS_CSV):
        return
    own = table.resolve().parent == Path(folder).resolve()
    if own or is_study_record(table):
        whose = "the study's own" if own else "a study's"
        raise StudyError(f"--table {table} is {whose} {table.name}: write the table elsewhere "
                         f"(e.g. {Path(folder) / 'curves.csv'})")


#: What export-table records in the sidecar of each table it writes (``FILE.provenance.json``,
#: with the source folder, the ``--study`` ids (null: every study), rows and git commit): how it
#: knows a table as its own, to be replaced by the next export.
GENERATOR = "studylib export-table"


def check_not_foreign(table) -> None:
    """An existing ``--table`` file is overwritten only if export-table wrote it (its sidecar,
    ``FILE.provenance.json``, says so) or it is empty, as ``search`` and ``run`` overwrite only
    their own files. A table made by hand has the same columns as an export, so the columns cannot
    tell them apart."""
    from .provenance import stamp_path

    table, side = Path(table), stamp_path(table)
    ours = _sidecar_is_ours(side)
    if side.exists() and not ours:
        raise StudyError(f"--table {table}: {side} exists and export-table did not write it (it would be "
                         "overwritten): give another file name, or move the file away")
    if table.is_file() and table.stat().st_size > 0 and not ours:  # (an empty file: a name made for it)
        raise StudyError(f"--table {table} exists and export-table did not write it (no {side.name} of its own "
                         "beside it; an export made before studylib wrote one has none either): give another file "
                         "name, or move the file away")


def _sidecar_is_ours(side: Path) -> bool:
    try:
        return json.loads(side.read_text(errors="replace")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def learning_curves(folder, studies: list[str] | None = None) -> "pd.DataFrame":  # noqa: F821
    """The per-epoch rows of every finished trial in ``folder``'s ledger (see the module doc), or
    only of the trials of the studies named in ``studies``."""
    import pandas as pd

    from .ledger import Ledger
    from .outdir import study_ledger

    path = study_ledger(folder)
    folder = path.parent

    with Ledger(path, read_only=True) as ledger:
        try:
            rows = ledger.histories(studies, ok_only=True)
            space = check_one_kind(ledger, studies, {r[0] for r in rows}, folder)
        except ValueError as e:  # a record that is not JSON: a ledger edited or damaged by hand
            raise StudyError(f"{path} holds a damaged record ({type(e).__name__}: {first_line(e)})") from None
    bad = next((curve for *_, curve in rows if curve is not None and not (
        isinstance(curve, dict) and all(isinstance(v, list) for v in curve.values()))), None)
    if bad is not None:  # JSON, but not a history's shape (metric -> values per epoch)
        raise StudyError(f"{path} holds a damaged record (a history that is not metric -> values: {str(bad)[:40]})")
    longest: dict[tuple[str, int], dict] = {}
    for _, config, seed, curve in rows:
        n = _length(curve)
        key = (json.dumps(config, sort_keys=True), seed)
        if n and n > _length(longest.get(key)):
            longest[key] = curve
    if not longest:
        which = f" in --study {', '.join(studies)}" if studies else ""
        raise StudyError(f"{path} has no finished trial with a per-epoch history{which}")
    records = []
    for (config, seed), curve in longest.items():
        hp = json.loads(config)
        for e in range(_length(curve)):
            records.append({**hp, SEED: seed, EPOCH: e + 1,
                            **{m: (v[e] if e < len(v) else None) for m, v in sorted(curve.items())}})
    frame = pd.DataFrame.from_records(records)
    names = list(json.loads(next(iter(longest))[0]))
    metrics = sorted({m for c in longest.values() for m in c}, key=_metric_order)
    frame = frame[names + [SEED, EPOCH] + metrics]
    frame = frame.sort_values(names + [SEED, EPOCH], kind="stable").reset_index(drop=True)
    frame.attrs["space"] = space
    frame.attrs["studies"] = list(studies) if studies else None  # None: every study of the folder
    frame.attrs["source"] = str(folder.resolve())
    return frame


def coverage_note(frame) -> str | None:
    """A note when the table holds fewer configs than the studies' search space: a benchmark on
    it then searches the smaller space its configs span (a partial grid can be a whole one)."""
    from .space import SearchSpace

    definition = frame.attrs.get("space")
    if not definition:
        return None
    space = SearchSpace.from_dict(definition)
    names = _key_columns(frame)[:-1]  # the hyperparameters (the last key column is the seed)
    have = len(frame[names].drop_duplicates())
    if have >= space.size:
        return None
    sizes = {d.name: len(d) for d in space.dimensions}
    fixed = [f"{n} only {frame[n].iloc[0]}" for n in names if frame[n].nunique() == 1 and sizes.get(n, 1) > 1]
    spans = f" ({', '.join(fixed)})" if fixed else ""
    product = 1
    for n in names:
        product *= frame[n].nunique(dropna=False)
    reads = (f"so a benchmark on it searches only the space they span{spans}" if have == product else
             f"and bench --fidelity epoch refuses it: {product - have} of the {product} combinations of the values "
             "it holds have no curve")
    return (f"studylib: note: the table holds {have} of the space's {space.size} configs, {reads}; a grid study "
            f"with --trials {space.size} covers it all (a config that failed has no curve: --retry-failed trains "
            "it again)")


def check_one_kind(ledger, studies: list[str] | None, keys: set[str], folder) -> dict | None:
    """The studies whose trials are exported (``keys``) share one search space and one dataset
    (the same data): a table is one space on one dataset. Else :class:`StudyError` naming them.
    Returns that space's definition (as the studies recorded it; None if none did)."""
    from .study_spec import kinds_named, study_kind

    kinds: dict[tuple, str] = {}
    definition = None
    for s in ledger.studies():
        spec = s["spec"]
        if (studies and s["study_id"] not in studies) or not keys & set(ledger.study_keys(s["study_id"])):
            continue
        kinds.setdefault(study_kind(spec), s["study_id"])
        definition = definition or s["provenance"].get("space_definition")
    if len(kinds) > 1:
        raise StudyError(f"{folder} holds studies of {len(kinds)} search spaces or data ({kinds_named(kinds)}): "
                         "a table is one space on one dataset; export one with --study ID")
    return definition


def _length(curve: dict | None) -> int:
    return max((len(v) for v in (curve or {}).values()), default=0)


def _metric_order(name: str):
    """Validation metrics first (``val_accuracy`` leads), then the rest alphabetically."""
    return (not name.startswith("val_"), name != "val_accuracy", name)


def write_table(frame, out) -> None:
    """Write ``frame`` to ``out`` (.csv) with its sidecar (``out`` less .csv + ``.provenance.json``:
    what made it, from which studies of which folder), both or neither
    (:func:`~studylib.provenance.write_result`): a table export-table wrote always has its sidecar."""
    from . import provenance
    from .outdir import check_out_file

    out = Path(out)
    check_out_file(out, ".csv", flag="--table")
    stamp = {"generator": GENERATOR, "git_commit": provenance.git_commit(), "source": frame.attrs.get("source"),
             "studies": frame.attrs.get("studies"), "rows": len(frame)}
    try:
        provenance.write_result(frame, out, stamp)
    except OSError as e:
        raise StudyError(f"cannot write {out}: {e.strerror or e}") from None
