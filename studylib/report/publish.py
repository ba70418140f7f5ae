"""Publishing executed notebooks: stand-alone HTML reports and the ``index.html`` that lists them.

A report is the executed notebook without code, stderr or anything fetched from the internet
(figures embedded as base64 PNG); the index gives one line per report from its ``summary.json``.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from .. import atomic, paths
from ..errors import first_line
from ..notebook_exec import error_output
from ..outdir import GENERATOR
from ..numbers import format_mean_spread
from ..provenance import now_iso
from ..space_file import BUILTIN

INDEX_HTML = "index.html"


def round_order(name: str):
    """Sort key of reports: the paper's rounds (:data:`~studylib.space_file.BUILTIN`) in order,
    listed first in an index, then the others by name."""
    return (0, BUILTIN.index(name)) if name in BUILTIN else (1, name)


def render_html(ipynb: Path, target: Path, title: str) -> Path:
    """The executed notebook as one stand-alone HTML file: code cells hidden, images embedded as
    base64 PNG, stderr streams (TensorFlow's start-up chatter, warnings) left out, nothing loaded
    from the internet (template ``studylib/jupyter/nbconvert/templates/studylib``)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True, template_name="studylib",
                            extra_template_basedirs=[str(paths.JUPYTER_DIR / "nbconvert" / "templates")])
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return atomic.write_text(target, body.replace("<head>", f"<head>\n{GENERATOR}", 1))


# -- index -------------------------------------------------------------------------------------

def percent(mean: float | None, std: float | None = None) -> str:
    """An accuracy (a fraction) in percent, with its spread where there is one: ``76.83% ± 3.20``,
    ``83.28%`` (no ``std``, or NaN), ``-`` (no ``mean``): the index's and a round's results block."""
    return format_mean_spread(mean, std, scale=100, digits=2, suffix="%")


def summary_line(summary: dict | None) -> str:
    """``best validation accuracy 81.88% (test 81.33%) · 6 trials · digits (data daeec2de) · ...``;
    a comparison's (``by_strategy``) names its best strategy and lists every strategy's value."""
    if not summary:
        return "no summary.json"
    seeds = summary.get("seeds") or []
    n = len(seeds) or 1
    best = summary.get("best_strategy") or []
    acc, test = (percent(summary.get(k), summary.get(f"{k}_std") if n > 1 else None)  # one seed: no spread
                 for k in ("best_acc", "test_acc"))
    parts = [f"best validation accuracy {acc}" + (f" (test {test})" if summary.get("test_acc") is not None else "")
             + (f" by {' and '.join(best)}" if best else "")]
    by = summary.get("by_strategy") or {}
    if by:
        parts.append("per strategy: " + ", ".join(f"{s} {percent(v.get('best_acc'))}" for s, v in by.items()))
    from ..progress import count

    trials = summary.get("rows", summary.get("trials"))
    if summary.get("rung_trials") is not None:  # a multi-fidelity round: one row per config
        parts.append(f"{count(trials, 'config')} in {count(summary['rung_trials'], 'rung trial')}")
    elif trials is not None:
        parts.append(count(trials, "trial"))
    if summary.get("dataset"):
        h = summary.get("data_hash")
        parts.append(f"{summary['dataset']}" + (f" (data {str(h)[:8]})" if h else ""))
    for key in ("profile", "strategy"):
        if summary.get(key) and not (key == "strategy" and by):
            parts.append(f"{key} {summary[key]}")
    options = summary.get("strategy_options")
    if options and not by:  # a round's: {option: value} (a comparison's, per strategy, is in its report)
        parts[-1] += " (" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"
    if seeds:
        parts.append(f"seed {seeds[0]}" if n == 1 else f"seeds {seeds[0]}-{seeds[-1]}")
    if summary.get("train_time") is not None:
        parts.append(f"training {summary['train_time']:.0f} s")
    if summary.get("wall_time") is not None:
        parts.append(f"this run {summary['wall_time']:.0f} s")
    return " · ".join(parts)


def write_index(out: Path, if_empty: bool = True) -> Path | None:
    """``out/index.html``: every report in ``out`` (executed notebooks, HTML reports), one line each.
    With nothing to list and not ``if_empty``, no index: an earlier one is removed and None returned."""
    from .folders import read_summary
    from .rounds import dataset_caveat

    names = {p.stem for p in out.glob("*.ipynb")} | {p.stem for p in out.glob("*.html") if p.name != INDEX_HTML}
    items, datasets, strategies = [], [], {}
    for name in sorted(names, key=round_order):
        summary = read_summary(out / name) or {}
        datasets.append((summary.get("dataset"), summary.get("profile")))
        strategies[name] = summary.get("strategy")
        ipynb, report = out / f"{name}.ipynb", out / f"{name}.html"
        failed = _notebook_failed(ipynb)
        e = html.escape
        if failed is not None:
            line = f"FAILED: {e(failed)} — <a href='{e(ipynb.name)}'>partial notebook</a>"
            items.append(f"<li><b>{e(name)}</b> — {line}</li>")
        elif report.exists():
            items.append(f"<li><a href='{e(report.name)}'><b>{e(name)}</b></a> — "
                         f"{e(summary_line(read_summary(out / name)))}"
                         + (f" — <a href='{e(ipynb.name)}'>notebook</a>" if ipynb.exists() else "")
                         + (f" — <a href='{e(name)}/trials.csv'>trials.csv</a>"
                            if (out / name / paths.TRIALS_CSV).exists() else "") + "</li>")
    if not items and not if_empty:
        (out / INDEX_HTML).unlink(missing_ok=True)
        return None
    stamp = now_iso()
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>studylib reports — "
            f"{html.escape(out.name)}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
            "li{margin:.5em 0}</style></head><body>"
            f"<h1>studylib reports: {html.escape(out.name)}</h1>"
            "<p>Reproductions of Aszemi &amp; Dominic (2019), hyperparameter search for small CNNs, one "
            f"report per round ({_kinds(names, strategies)}). Accuracy is the best validation accuracy of the best "
            "trial, and the test accuracy of that trial.</p>"
            + "".join(f"<p class='caveat'><b>{html.escape(c)}</b></p>"
                      for c in dict.fromkeys(filter(None, (dataset_caveat(*d) for d in datasets)))) +
            f"<ul>{''.join(items) or '<li>no reports yet</li>'}</ul>"
            f"<p><small>updated {html.escape(stamp)} in {html.escape(str(out))}</small></p></body></html>")
    return atomic.write_text(out / INDEX_HTML, page)


def _kinds(names, strategies: dict | None = None) -> str:
    """What the reports in the index are, naming only those that are there; a round searched with
    another strategy than the paper's random search (``strategies``: round -> its summary's) says so."""
    parts = []
    rounds = [n for n in BUILTIN if n in names]
    if rounds:
        used = {n: (strategies or {}).get(n) or "random" for n in rounds}
        other = [n for n in rounds if used[n] != "random"]
        listed = ", ".join(rounds)
        if not other:
            parts.append(f"{listed}: the paper's random search")
        elif len(other) < len(rounds):
            parts.append(f"{listed}: the paper's rounds, by random search as in the paper except "
                         + ", ".join(f"{n} ({used[n]})" for n in other))
        elif len(set(used.values())) == 1:
            parts.append(f"{listed}: the paper's rounds, searched with {used[rounds[0]]} (the paper used random search)")
        else:
            parts.append(f"{listed}: the paper's rounds, searched with "
                         + ", ".join(f"{used[n]} ({n})" for n in rounds) + " (the paper used random search)")
    if "compare" in names:
        parts.append("compare: the memetic GA against other strategies at equal budget, by default GA, random "
                     "search, TPE, regularized evolution and local search")
    others = sorted(set(names) - set(BUILTIN) - {"compare"})
    if others:
        parts.append(f"{', '.join(others)}: other notebooks")
    return "; ".join(parts) or "none yet"


def _notebook_failed(ipynb: Path) -> str | None:
    """The error of a notebook papermill marked as failed, else None."""
    if not ipynb.exists():
        return None
    try:
        nb = json.loads(ipynb.read_text())
    except (OSError, ValueError):
        return "unreadable notebook"
    if not nb.get("metadata", {}).get("papermill", {}).get("exception"):
        return None
    failed = error_output(nb)
    return f"{failed[1].get('ename')}: {first_line(failed[1].get('evalue'))}" if failed else "a cell failed"
