"""Bring your own table: a CSV or parquet file as a :class:`~studylib.tables.Table`.

The file has one row per (config, seed). The ``metric`` column holds the value; an optional
``seed`` column names the seed (rows of one config are its seeds, in ``seed`` order, or in file
order without the column); every other column is a hyperparameter. Number columns become ordinal
dimensions (values ascending), string and boolean columns categorical ones (values in order of
first appearance), both through :func:`studylib.space.make_dimension`. Every combination of the
columns' values must be present. The table is named after the file's stem, which also seeds its
draws (:func:`studylib.tables.noise_rng`), so a file named like a built-in table and holding its
values benchmarks exactly like it.

No randomness here. Every problem with a file is a one-line :class:`StudyError`.
:func:`table_from_frame` is the part that does not care where the rows came from (e.g. a later
per-epoch format can group its rows and call it).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .errors import StudyError, first_line
from .names import split_names
from .space import SearchSpace, make_dimension
from .tables import Table

SUFFIXES = (".csv", ".parquet")
SEED = "seed"
MAX_CONFIGS = 10_000_000  # a larger space is refused (its value matrix alone would be gigabytes)


def is_table_file(name: str) -> bool:
    """Whether a ``--table`` item names a file (by its suffix) rather than a built-in table."""
    return Path(name.strip()).suffix.lower() in SUFFIXES


def existing_file(path) -> Path:
    """``path`` as a Path, if it names a file; else a StudyError (absent, or a folder)."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"table file {path} " + ("is not a file" if path.exists() else "does not exist"))
    return path


def read_frame(path) -> "pd.DataFrame":  # noqa: F821
    """The rows of a CSV or parquet file; absent, unreadable or empty files are a StudyError."""
    import pandas as pd

    path = existing_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
            if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first column as an index
                raise StudyError(f"table file {path}: {_ragged_row(path) or 'a row has more cells than its header'}")
            with open(path, newline="", encoding="utf-8-sig") as f:
                header = next(csv.reader(f), [])
            twice = [c for i, c in enumerate(header) if c in header[:i]]
            if twice:  # pandas would have renamed the second one (lr.1)
                raise StudyError(f"table file {path}: column {twice[0]!r} appears twice in its header")
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise StudyError(f"table file {path}: use a .csv or .parquet file")
    except StudyError:
        raise
    except ImportError as e:  # pandas' parquet engine (pyarrow) missing
        raise StudyError(f"cannot read {path}: {first_line(e)}") from None
    except pd.errors.EmptyDataError:
        raise StudyError(f"table file {path} is empty") from None
    except pd.errors.ParserError as e:
        raise StudyError(f"table file {path}: {_ragged_row(path) or first_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - any parser/OS error is the file's problem
        raise StudyError(f"cannot read table file {path}: {first_line(e)}") from None
    if frame.empty:
        raise StudyError(f"table file {path} has no rows")
    return frame


def maximizes(path, metric: str | None, direction: str | None) -> bool:
    """Whether a table file's ``--metric`` is maximised; a missing metric or a ``--direction``
    other than maximize/minimize is a StudyError (an absent file first: it is the first thing to fix)."""
    existing_file(path)
    if not metric:
        raise StudyError(f"table file {path} needs --metric COLUMN (the value to optimise)")
    if direction not in ("maximize", "minimize"):
        raise StudyError(f"table file {path} needs --direction maximize or minimize"
                         + (f", not {direction!r}" if direction else ""))
    return direction == "maximize"


def load_table_file(path, metric: str | None, direction: str | None) -> Table:
    """The :class:`Table` of a file; ``direction`` is ``maximize`` or ``minimize``."""
    maximize = maximizes(path, metric, direction)
    return table_from_frame(read_frame(path), Path(path).stem, metric, maximize, source=str(path))


def table_from_frame(frame, name: str, metric: str, maximize: bool, source: str = "",
                     reserved: tuple[str, ...] = (SEED,), rule: str | None = None) -> Table:
    """A Table from rows of (hyperparameters..., [seed], metric): every column but ``metric`` and
    ``reserved`` is a hyperparameter; rows of one config are its seeds (in ``seed`` order when
    that column exists, else in row order). Checks: metric present, numeric, finite; hyperparameter
    values present; no repeated (config, seed); every combination present; space size limit.
    ``rule``: which columns are hyperparameters, as an error about them says it."""
    import pandas as pd

    where = source or name
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    if metric not in columns:
        raise StudyError(f"{where}: no column {metric!r} for --metric (columns: {', '.join(columns)})")
    if metric in reserved:
        raise StudyError(f"{where}: --metric cannot be the {metric!r} column")
    values = _metric_values(frame[metric], metric, where)
    hp = [c for c in columns if c != metric and c not in reserved]
    rule = rule or f"every column but {metric!r} and 'seed' is one"
    if not hp:
        raise StudyError(f"{where}: no hyperparameter columns ({rule})")
    dims, codes = [], []
    check_filled(frame, hp, where)
    for c in hp:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            uniques = np.sort(col.unique())
            code = np.searchsorted(uniques, col.to_numpy())
            dims.append(make_dimension(c, uniques.tolist(), kind="ordinal"))
        else:
            code, uniques = pd.factorize(col, sort=False)
            dims.append(make_dimension(c, [v.item() if hasattr(v, "item") else v for v in uniques],
                                       kind="categorical"))
        codes.append(np.asarray(code, dtype=np.int64))
    space = SearchSpace(name=name, dimensions=tuple(dims),
                        description=f"{Path(where).name} ({metric}, {'maximize' if maximize else 'minimize'})",
                        source=source)
    if space.size > MAX_CONFIGS:
        sizes = " x ".join(f"{d.name} {len(d)}" for d in dims)
        raise StudyError(f"{where}: {space.size:,} combinations ({sizes}) is over the {MAX_CONFIGS:,} limit "
                         "(is a non-hyperparameter column left in the file?)")
    index = np.zeros(len(frame), dtype=np.int64)
    for d, code in zip(dims, codes):
        index = index * len(d) + code
    present = np.zeros(space.size, dtype=bool)
    present[index] = True
    if not present.all():
        missing = int((~present).sum())
        example = space.config_at(int(np.argmin(present)))
        raise StudyError(f"{where}: {missing:,} of {space.size:,} combinations missing, e.g. "
                         + ", ".join(f"{k}={v!r}" for k, v in example.items())
                         + f" (hyperparameters read: {', '.join(hp)}; {rule})")
    if SEED in reserved and SEED in columns:
        if frame[SEED].isna().any():
            raise StudyError(f"{where}: column 'seed' has empty cells (first in data row {_row(frame[SEED].isna())})")
        try:
            seed_code = pd.factorize(frame[SEED], sort=True)[0]
        except TypeError:  # mixed types: seeds in order of first appearance
            seed_code = pd.factorize(frame[SEED])[0]
        order = np.lexsort((seed_code, index))
        dup = pd.DataFrame({"i": index, "s": seed_code}).duplicated()
        if dup.any():
            row = _row(dup)
            raise StudyError(f"{where}: config and seed repeated in data row {row} "
                             f"(seed {frame[SEED].iloc[row - 1]}; one row per config and seed)")
    else:
        order = np.argsort(index, kind="stable")
    return _build(name, space, index[order], values[order], maximize, metric)


def _build(name, space, index, values, maximize, metric) -> Table:
    """Table from rows sorted by config index (a config's seeds in order)."""
    counts = np.bincount(index, minlength=space.size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    column = np.arange(len(index)) - starts[index]
    matrix = np.full((space.size, int(counts.max())), np.nan)
    matrix[index, column] = values
    return Table(name=name, space=space, values=matrix, counts=counts, maximize=maximize, metric=metric)


def _metric_values(col, metric: str, where: str) -> np.ndarray:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
        example = f" (data row {_row(bad)}: {col[bad].iloc[0]!r})" if bad.any() else ""
        raise StudyError(f"{where}: metric column {metric!r} is not numeric{example}")
    values = col.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise StudyError(f"{where}: metric {metric!r} is empty, NaN or infinite in {int(bad.sum())} "
                         f"row{'' if bad.sum() == 1 else 's'} "
                         f"(first in data row {_row(bad)})")
    return values


def check_filled(frame, columns, where: str) -> None:
    """Every cell of ``columns`` holds a value; else a StudyError naming the first empty one's data row."""
    for c in columns:
        empty = frame[c].isna()
        if empty.any():
            n = int(empty.sum())
            raise StudyError(f"{where}: column {c!r} has {n} empty cell{'' if n == 1 else 's'} "
                             f"(first in data row {_row(empty)})")


def _ragged_row(path) -> str | None:
    """Which data row of a CSV has more cells than its header (counted as :func:`_row` counts: blank
    lines skipped, the header not counted), or None when none has."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = (r for r in csv.reader(f) if len(r) > 1 or r and r[0].strip())  # pandas skips blank lines
            header = next(rows, [])
            for n, r in enumerate(rows, 1):
                if len(r) > len(header):
                    return f"data row {n} has {len(r)} cells, its header {len(header)}"
    except (csv.Error, OSError, UnicodeError):  # pandas' own message then
        pass
    return None


def _row(mask) -> int:
    """The 1-based data row of the first True (a CSV's header is not counted)."""
    return int(np.argmax(np.asarray(mask))) + 1


def check_file_names(spec: str | None, items: list[str]) -> None:
    """A ``--table`` item that names an existing file not read as a table (another suffix), or a
    file whose name holds the comma that separates items: one clear line, not "unknown table"."""
    whole = (spec or "").strip()
    if "," in whole and Path(whole).is_file():
        raise StudyError(f"--table {whole}: a table file's name may not contain a comma (it separates tables); "
                         "rename the file")
    from .tables import TABLES

    for item in items:
        if is_table_file(item) or item in TABLES or item == "all":
            continue
        if Path(item).suffix:
            raise StudyError(f"--table {item}: not a built-in table, and a table file must end in "
                             f"{' or '.join(sorted(SUFFIXES))}")
        files = [f"{item}{s}" for s in SUFFIXES if Path(f"{item}{s}").is_file()]
        if files:
            raise StudyError(f"unknown table {item!r} (did you mean the file {files[0]}?)")


def resolve_table_spec(spec: str, metric: str | None = None, direction: str | None = None) -> list:
    """``--table``: comma-separated built-in names (or ``all``) and files, in order; files are read
    (and checked) now. Returns names and :class:`Table` objects; two different tables of one name
    (e.g. ``a/x.csv`` and ``b/x.csv``, or ``nb201-cifar10.csv`` next to ``nb201-cifar10``) are refused."""
    from .tables import resolve_tables

    items = split_names(spec or "", "--table")
    check_file_names(spec, items)
    names = [n for n in items if not is_table_file(n) and n != "all"]
    if names:
        resolve_tables(names)  # an unknown name is "unknown table", whatever else was given
    if (metric or direction) and not any(is_table_file(n) for n in items):
        raise StudyError("--metric and --direction are for table files (FILE.csv or FILE.parquet); "
                         "built-in tables have their own")
    out, seen = [], {}
    for item in items:
        if is_table_file(item):
            found = [(Path(item).stem, str(Path(item).resolve()), None)]
        else:
            found = [(n, n, n) for n in resolve_tables(item)]
        for name, key, table in found:
            if seen.get(name, key) != key:
                raise StudyError(f"two tables named {name!r} ({seen[name]} and {key}): rename a file")
            if name not in seen:
                seen[name] = key
                out.append(table if table is not None else load_table_file(item, metric, direction))
    if not out:
        resolve_tables(items)  # the usual "no table given" error
    return out
