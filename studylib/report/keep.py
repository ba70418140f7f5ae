"""A report's figures and tables as files, for a paper: each figure drawn from a run is also
written to ``<run folder>/figures/<name>.pdf`` (vector, for LaTeX) and ``<name>.png`` (300 dpi), and
each table to ``<run folder>/tables/<name>.csv`` (the numbers, unrounded) and ``<name>.tex``
(booktabs, with the report's caption). ``<name>`` is the function that drew it (``fig3_learning_rate``,
``appendix_table``; ``group_summary_learning_rate`` for one drawn by a column).

A function decorated with :func:`kept` writes only when its first argument is a run that knows its
folder (a round's :class:`~studylib.report.rounds.RoundRun`, the comparison's ``CompareRun`` or
``BenchRun``); given a DataFrame it writes nothing. Only the outermost decorated call writes
(``fig5_optimizer`` draws through ``accuracy_by``: one file, ``fig5_optimizer``). Each file is
written whole (a temporary file renamed) and carries what produced it in its metadata (title,
studylib version, git commit, data hash), without a date, so the same run gives the same bytes.
The folders belong to the report: :func:`clear` empties them when the run is made again or its
report fails. No randomness.
"""
from __future__ import annotations

import contextvars
import functools
from pathlib import Path

FIGURES, TABLES = "figures", "tables"
FIGURE_FORMATS, TABLE_FORMATS = (".pdf", ".png"), (".csv", ".tex")
PNG_DPI = 300

_drawing = contextvars.ContextVar("studylib_report_keep_drawing", default=False)


def folder_of(run) -> Path | None:
    """The folder a run's figures and tables go below, or None (not a run; a run with no folder)."""
    from .compare.records import BenchRun, CompareRun
    from .rounds import RoundRun

    if isinstance(run, BenchRun):
        where = run.report_dir or run.out_dir
    elif isinstance(run, (RoundRun, CompareRun)):
        where = run.out_dir
    else:
        return None
    return Path(where) if where is not None else None


def kept(name: str | None = None, *, by: str | None = None):
    """Decorate a function drawing a figure or a table from a run (its first argument): its result
    is also written as files (module docstring). ``name``: the files' name (default the
    function's); ``by``: a parameter whose value is appended (``group_summary_learning_rate``)."""
    def decorate(draw):
        stem = name or draw.__name__

        @functools.wraps(draw)
        def drawn(data, *args, **kwargs):
            outer = not _drawing.get()
            token = _drawing.set(True)
            try:
                result = draw(data, *args, **kwargs)
            finally:
                _drawing.reset(token)
            folder = folder_of(data) if outer else None
            if folder is not None:
                label = stem
                if by is not None:
                    value = kwargs[by] if by in kwargs else args[0] if args else None
                    label = f"{stem}_{value}" if value is not None else stem
                write(result, folder, label, provenance=_provenance(data))
            return result
        return drawn
    return decorate


def write(result, folder: Path, name: str, provenance: dict | None = None) -> list[Path]:
    """Write a Figure, a DataFrame or a pandas Styler as ``name``'s files below ``folder``;
    anything else (a note that a part was not run) writes nothing. Returns the paths written."""
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler
    import pandas as pd

    if isinstance(result, Figure):
        return _figure(result, Path(folder) / FIGURES, name, provenance or {})
    if isinstance(result, Styler):
        return _table(result.data, Path(folder) / TABLES, name, result.caption)
    if isinstance(result, pd.DataFrame):
        return _table(result, Path(folder) / TABLES, name, None)
    return []


def clear(folder: str | Path) -> None:
    """Remove the figure and table files of ``folder``'s report (the formats this module writes,
    nothing else), and their folders once empty."""
    for sub, formats in ((FIGURES, FIGURE_FORMATS), (TABLES, TABLE_FORMATS)):
        d = Path(folder) / sub
        if not d.is_dir():
            continue
        for f in d.iterdir():
            if f.suffix in formats and f.is_file():
                f.unlink(missing_ok=True)
        try:
            d.rmdir()
        except OSError:  # a file of the user's own: the folder stays
            pass


def files(folder: str | Path) -> dict[str, list[Path]]:
    """The figure and table files below ``folder``, by kind, sorted."""
    return {sub: sorted(p for p in (Path(folder) / sub).glob("*") if p.suffix in formats)
            for sub, formats in ((FIGURES, FIGURE_FORMATS), (TABLES, TABLE_FORMATS))}


def _provenance(run) -> dict:
    prov = getattr(run, "provenance", None) or {}
    data = getattr(run, "data", None) or {}
    return {"commit": prov.get("git_commit"), "studylib": (prov.get("libraries") or {}).get("studylib"),
            "data": data.get("data_hash"), "dataset": data.get("dataset")}


def _figure(fig, folder: Path, name: str, prov: dict) -> list[Path]:
    from ..atomic import write_with

    title = " ".join((fig.get_suptitle() or name).split())
    made = f"studylib {prov.get('studylib') or ''}".strip() + "".join(
        f", {k} {prov[k]}" for k in ("commit", "dataset", "data") if prov.get(k))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in FIGURE_FORMATS:
        if suffix == ".pdf":
            meta, extra = {"Title": title, "Creator": made, "CreationDate": None}, {}
        else:
            meta, extra = {"Title": title, "Software": made}, {"dpi": PNG_DPI}
        fmt = suffix[1:]
        out.append(write_with(folder / f"{name}{suffix}",
                              lambda tmp: fig.savefig(tmp, format=fmt, metadata=meta, bbox_inches="tight", **extra)))
    return out


def _table(frame, folder: Path, name: str, caption) -> list[Path]:
    import math

    from ..atomic import write_text, write_with

    folder.mkdir(parents=True, exist_ok=True)
    index = not _plain_index(frame)
    csv = write_with(folder / f"{name}.csv", lambda tmp: frame.to_csv(tmp, index=index))

    def number(v):
        return "-" if isinstance(v, float) and math.isnan(v) else f"{v:.4g}"

    latex = frame.to_latex(index=index, escape=True, na_rep="-", float_format=number,
                           caption=latex_escape(_plain(caption)) or None, label=f"tab:{name}")
    return [csv, write_text(folder / f"{name}.tex", latex)]


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (pandas escapes a table's cells, not its
    caption)."""
    return "".join(_LATEX.get(c, c) for c in text)


def _plain_index(frame) -> bool:
    """A default 0..n-1 index with no name: not worth a column."""
    import pandas as pd

    return (frame.index.nlevels == 1 and frame.index.name is None and isinstance(frame.index, pd.RangeIndex)
            and frame.index.start == 0 and frame.index.step == 1)


def _plain(caption) -> str:
    """A Styler caption as text (a caption may be a tuple, or hold HTML line breaks)."""
    import html
    import re

    if isinstance(caption, (tuple, list)):
        caption = caption[-1] if caption else ""
    return html.unescape(re.sub(r"<[^>]+>", "", str(caption or ""))).strip()
