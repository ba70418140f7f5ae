"""A report's figures and tables as files, for a paper: each figure drawn from a run is also
written to ``<run folder>/figures/<name>.pdf`` (vector, fonts embedded as TrueType) and ``<name>.png``
(300 dpi), without the report's title and caption lines (a paper sets its own; they stay in the
files' metadata), and each table to ``<run folder>/tables/<name>.csv`` (its numbers, unrounded) and
``<name>.tex`` (booktabs, as the report shows it: caption, bold rows, 4 significant digits).
``<name>`` is the function that drew it (``fig3_learning_rate``, ``appendix_table``;
``group_summary_learning_rate`` for one drawn by a column).

Only a report writes them: :func:`enable` (which a report notebook's
:func:`~studylib.report.notebook_setup` calls) turns writing on for this process; then a function
decorated with :func:`kept` writes when its first argument is a run that knows its folder (a
round's :class:`~studylib.report.rounds.RoundRun`, the comparison's ``CompareRun`` or ``BenchRun``).
Given a DataFrame, or with writing off (the default: scripts, the explorer, tests), a drawing
function writes nothing. Only the outermost decorated call writes (``fig5_optimizer`` draws
through ``accuracy_by``: one file, ``fig5_optimizer``). Each file is written whole (a temporary
file renamed), records what produced it in its metadata (title, caption, studylib version, git
commit, data hash) and no date, so the same trials give the same bytes. The files written are
listed in each folder's ``.written``; :func:`clear` (``studylib run``, before a round's notebook
runs and after it fails) removes those and nothing else. No randomness.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import math
import re
from pathlib import Path

FIGURES, TABLES = "figures", "tables"
FIGURE_FORMATS, TABLE_FORMATS = (".pdf", ".png"), (".csv", ".tex")
PNG_DPI = 300
MANIFEST = ".written"  # in each folder: the names of the files this module wrote there

_enabled = False
_drawing = contextvars.ContextVar("studylib_report_keep_drawing", default=False)


def enable(on: bool = True) -> None:
    """Write (or, ``on=False``, stop writing) the files of every figure and table drawn from a run
    in this process from now on."""
    global _enabled
    _enabled = bool(on)


def enabled() -> bool:
    return _enabled


def folder_of(run) -> Path | None:
    """The folder a run's figures and tables go below (its class's ``folder_for_files``: a round's
    or the comparison's folder), or None (not a run, such as a DataFrame; a run with no folder)."""
    method = getattr(type(run), "folder_for_files", None)  # (on the class: a frame's columns are no attributes)
    where = method(run) if callable(method) else None
    return Path(where) if where is not None else None


def kept(name: str | None = None, *, by: str | None = None):
    """Decorate a function drawing a figure or a table from a run (its first parameter): with
    writing on, its result is also written as files (module docstring). ``name``: the files'
    name (default the function's); ``by``: a parameter whose value is appended
    (``group_summary_learning_rate``). The function is called exactly as before."""
    def decorate(draw):
        stem = name or draw.__name__
        signature = inspect.signature(draw)
        first = next(iter(signature.parameters))

        @functools.wraps(draw)
        def drawn(*args, **kwargs):
            outer = not _drawing.get()
            token = _drawing.set(True)
            try:
                result = draw(*args, **kwargs)
            finally:
                _drawing.reset(token)
            if not (outer and _enabled):
                return result
            given = signature.bind(*args, **kwargs).arguments
            folder = folder_of(given.get(first))
            styled = "styled" in signature.parameters
            if folder is None or styled and not given.get("styled"):  # a table's numbers alone: not the report's
                return result
            label = f"{stem}_{given[by]}" if by is not None and given.get(by) is not None else stem
            plain = draw(*args, **{**kwargs, "styled": False}) if styled else None  # its numbers, for the CSV
            write(result, folder, label, provenance=_provenance(given.get(first)), numbers=plain)
            return result
        return drawn
    return decorate


def write(result, folder: Path, name: str, provenance: dict | None = None, numbers=None) -> list[Path]:
    """Write a Figure, a DataFrame or a pandas Styler as ``name``'s files below ``folder``
    (``numbers``: the table's plain DataFrame, for the CSV, when ``result`` is styled); anything
    else (a note that a part was not run) writes nothing. Returns the paths written."""
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler
    import pandas as pd

    if isinstance(result, Figure):
        return _figure(result, Path(folder) / FIGURES, name, provenance or {})
    if isinstance(result, (Styler, pd.DataFrame)):
        plain = numbers if isinstance(numbers, pd.DataFrame) else getattr(result, "data", result)
        return _table(result, plain, Path(folder) / TABLES, name)
    return []


def clear(folder: str | Path) -> None:
    """Remove the figure and table files this module wrote below ``folder`` (those its folders'
    ``.written`` lists; any other file stays), and the folders once empty."""
    for sub in (FIGURES, TABLES):
        d = Path(folder) / sub
        listed = d / MANIFEST
        if not listed.is_file():
            continue
        for line in listed.read_text(encoding="utf-8").splitlines():
            f = d / line
            if line and f.parent == d and f.is_file():
                f.unlink(missing_ok=True)
        listed.unlink(missing_ok=True)
        try:
            d.rmdir()
        except OSError:  # a file of the user's own: the folder stays
            pass


def files(folder: str | Path) -> dict[str, list[Path]]:
    """The figure and table files below ``folder`` that this module wrote, by kind, sorted."""
    out = {}
    for sub in (FIGURES, TABLES):
        listed = Path(folder) / sub / MANIFEST
        names = listed.read_text(encoding="utf-8").splitlines() if listed.is_file() else []
        out[sub] = sorted(Path(folder) / sub / n for n in set(names) if (Path(folder) / sub / n).is_file())
    return out


def _note_written(folder: Path, paths: list[Path]) -> None:
    from ..atomic import write_text

    listed = folder / MANIFEST
    names = set(listed.read_text(encoding="utf-8").splitlines()) if listed.is_file() else set()
    write_text(listed, "".join(f"{n}\n" for n in sorted((names | {p.name for p in paths}) - {""})))


def _provenance(run) -> dict:
    """What a file's metadata names: the code that draws it (this commit) and, of a run of
    studies, the commit its trials were trained at, its dataset and data hash."""
    from .. import __version__
    from ..provenance import git_commit

    prov = getattr(run, "provenance", None) or {}
    data = getattr(run, "data", None) or {}
    return {"studylib": __version__, "drawn at commit": git_commit(), "trials from commit": prov.get("git_commit"),
            "dataset": data.get("dataset"), "data": data.get("data_hash")}


def _figure(fig, folder: Path, name: str, prov: dict) -> list[Path]:
    """The figure without its title and the lines under its axes (kept in the metadata), as PDF
    and PNG; the figure itself is left as it was drawn (the report shows it whole)."""
    import matplotlib

    from ..atomic import write_with

    title = " ".join((fig.get_suptitle() or name).split())
    below = fig._supxlabel.get_text() if getattr(fig, "_supxlabel", None) is not None else ""
    caption = " ".join(below.split())
    made = f"studylib {prov.get('studylib') or ''}".strip() + "".join(
        f", {k} {prov[k]}" for k in ("drawn at commit", "trials from commit", "dataset", "data") if prov.get(k))
    texts = [t for t in (fig._suptitle, getattr(fig, "_supxlabel", None)) if t is not None]
    shown = [t.get_visible() for t in texts]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    try:
        for t in texts:
            t.set_visible(False)
        with matplotlib.rc_context({"pdf.fonttype": 42}):  # TrueType, not Type 3 (journals' checkers)
            for suffix in FIGURE_FORMATS:
                if suffix == ".pdf":
                    meta, extra = {"Title": title, "Subject": caption, "Creator": made, "CreationDate": None}, {}
                else:
                    meta, extra = {"Title": title, "Description": caption, "Software": made}, {"dpi": PNG_DPI}
                fmt, target = suffix[1:], folder / f"{name}{suffix}"
                _note_written(folder, [target])  # listed first: a run stopped mid-write leaves nothing unlisted
                out.append(write_with(target, lambda tmp: fig.savefig(
                    tmp, format=fmt, metadata=meta, bbox_inches="tight", **extra)))
    finally:
        for t, v in zip(texts, shown):
            t.set_visible(v)
    return out


def _table(shown, plain, folder: Path, name: str) -> list[Path]:
    """``plain`` (a DataFrame: its numbers) as CSV; ``shown`` (the DataFrame or Styler the report
    shows) as LaTeX, with its caption and bold rows."""
    import copy

    from pandas.io.formats.style import Styler

    from ..atomic import write_text, write_with

    folder.mkdir(parents=True, exist_ok=True)
    _note_written(folder, [folder / f"{name}{suffix}" for suffix in TABLE_FORMATS])  # listed first (as figures)
    flat = plain if _plain_index(plain) else plain.reset_index()
    csv = write_with(folder / f"{name}.csv", lambda tmp: flat.to_csv(tmp, index=False))

    if isinstance(shown, Styler):
        styler = copy.deepcopy(shown)
        styler.set_table_styles([], overwrite=True)  # HTML header alignment: no LaTeX of its own
        caption = shown.caption
    else:  # a table function's plain DataFrame: its caption, if it gives one, in attrs
        styler, caption = shown.style, shown.attrs.get("caption", "")
    # LaTeX numbers the table itself: "Table V. Final accuracy" would print "Table 1: Table V. ..."
    caption = latex_escape(re.sub(r"^Table [IVXLC\d]+[.:]\s*", "", _plain(caption)))
    if _plain_index(styler.data):
        styler = styler.hide(axis="index")

    def escaped(index):  # its level names (format_index escapes its values)
        return index.set_names([None if n is None else latex_escape(str(n)) for n in index.names])

    data = styler.data.copy(deep=False)  # the copy's own frame, its levels' names escaped
    data.index, data.columns = escaped(data.index), escaped(data.columns)
    styler.data, styler.index, styler.columns = data, data.index, data.columns
    formats = {c: column_number(data.iloc[:, i]) for i, c in enumerate(data.columns)}
    styler = (styler.format(formats, na_rep="-", escape="latex").format_index(escape="latex", axis=1)
              .format_index(lambda v: number(v) if isinstance(v, float) else latex_escape(str(v)), axis=0))
    hidden = set(styler.hidden_columns)
    shown = [i for i in range(data.shape[1]) if i not in hidden]
    letters, size = column_format(data.iloc[:, shown], levels=[not h for h in styler.hide_index_])
    latex = styler.to_latex(convert_css=True, hrules=True, caption=caption or None, label=f"tab:{name}",
                            sparse_index=False, position_float="centering", column_format=letters)
    if size:  # a table too wide for the page in the text's size (its caption in the text's)
        latex = latex.replace(f"\\label{{tab:{name}}}\n", f"\\label{{tab:{name}}}\n{size}\n", 1)
    tex = write_text(folder / f"{name}.tex", latex)
    return [csv, tex]


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def number(v):
    """A table cell as LaTeX: a float to 4 significant digits (``$5.637\\times10^{-5}$``, not
    ``5.637e-05``), ``-`` for NaN, ``$\\infty$`` for never reached; anything else as it is."""
    if not isinstance(v, float):
        return v
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return r"$\infty$" if v > 0 else r"$-\infty$"
    text = f"{v:.4g}"
    mantissa, e, exponent = text.partition("e")
    return f"${mantissa}\\times10^{{{int(exponent)}}}$" if e else text


def column_number(values):
    """How a column's cells are set: :func:`number`, except that a column of plain decimals gives
    each the decimals of its longest, 4 at most (``92.00`` above ``90.22``, not ``92``)."""
    texts = [f"{v:.4g}" for v in values if isinstance(v, float) and math.isfinite(v)]
    if not texts or any("e" in t for t in texts):
        return number
    decimals = min(4, max(len(t.partition(".")[2]) for t in texts))  # the report's 4 at most
    return lambda v: f"{v:.{decimals}f}" if isinstance(v, float) and math.isfinite(v) else number(v)


#: About how many characters of a table's text fit across a page (\linewidth, 10pt article), the
#: space between two columns (2 \tabcolsep) in characters, and the smaller type a table too wide
#: for the page is set in (with how many more characters fit).
PAGE_CHARACTERS, COLUMN_GAP = 68, 2.4
SMALLER = (("", 1.0), ("\\small", 1.1), ("\\footnotesize", 1.25))


def column_format(frame, levels: list[bool] | None = None) -> tuple[str, str]:
    """The tabular's column letters and its type size (``""``, ``\\small``, ``\\footnotesize``):
    ``l`` for the index levels shown (``levels``: one flag per level; None: all) and text, ``r``
    for numbers, as pandas sets them. A table
    wider than a page (by its longest cells) gives its long text columns ``p{...\\linewidth}``
    widths so their cells wrap: each at least its longest word, the page's rest shared out to
    the narrowest first (none wider than its longest cell), in the first type size where their
    longest words fit."""
    import pandas as pd

    shown = [i for i, on in enumerate(levels or [True] * frame.index.nlevels) if on]
    columns = [frame.index.get_level_values(i) for i in shown] + [frame.iloc[:, i] for i in range(frame.shape[1])]
    headers = [str(frame.index.names[i] or "") for i in shown] + [
        " ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    numeric = [i >= len(shown) and pd.api.types.is_numeric_dtype(c.dtype) for i, c in enumerate(columns)]
    texts = [[h] + [number(v) if isinstance(v, float) else str(v) for v in c] for h, c in zip(headers, columns)]
    widths = [max(map(len, t)) for t in texts]
    letters = ["r" if n else "l" for n in numeric]
    if sum(widths) + COLUMN_GAP * len(widths) <= PAGE_CHARACTERS:
        return "".join(letters), ""
    long = [i for i, (w, n) in enumerate(zip(widths, numeric)) if not n and w > 15]
    words = {i: max(len(word) for t in texts[i] for word in t.split() or [""]) for i in long}
    fixed = COLUMN_GAP * len(widths) + sum(w for i, w in enumerate(widths) if i not in words)
    size, page = next(((size, PAGE_CHARACTERS * more) for size, more in SMALLER
                       if fixed + sum(words.values()) <= PAGE_CHARACTERS * more),
                      (SMALLER[-1][0], PAGE_CHARACTERS * SMALLER[-1][1]))  # the smallest: as near as it gets
    rest, given = page - fixed - sum(words.values()), dict(words)
    for n, i in enumerate(sorted(long, key=lambda i: widths[i])):  # water-filling: the narrowest first
        more = max(0.0, min(widths[i] - given[i], rest / (len(long) - n)))
        given[i], rest = given[i] + more, rest - more
    for i in long:
        letters[i] = f"p{{{given[i] / page:.2f}\\linewidth}}"
    return "".join(letters), size


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

    if isinstance(caption, (tuple, list)):
        caption = caption[-1] if caption else ""
    return html.unescape(re.sub(r"<[^>]+>", "", str(caption or ""))).strip()
