"""What a round's notebook shows besides figures and tables: the "what produced this report" and
"result of this run" blocks (:class:`Block`, rich text for HTML and Markdown) and the notebook's
display set-up. The round itself (:class:`~studylib.report.rounds.RoundRun`) and its numbers are
in :mod:`studylib.report.rounds`; the comparison's blocks reuse :func:`setting_rows`, :func:`time_rows` and
:func:`code_rows`."""
from __future__ import annotations

import html
import sys
from pathlib import Path

import pandas as pd

from ..progress import count
from .publish import percent
from .rounds import RoundRun, dataset_caveat, dataset_label

#: Libraries named in a report's provenance block (all are in the ledger's provenance).
SHOWN_LIBRARIES = ("studylib", "keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy", "pandas",
                   "scikit-learn", "seaborn", "matplotlib", "papermill")


class Block:
    """Rich text for a notebook output: HTML (what nbconvert publishes) and Markdown/plain text."""

    def __init__(self, title: str, rows: list[tuple[str, str]] | None = None, notes: list[str] | None = None,
                 level: int = 3):
        self.title, self.rows, self.notes, self.level = title, list(rows or []), list(notes or []), level

    def _repr_html_(self) -> str:
        h = f"<h{self.level}>{html.escape(self.title)}</h{self.level}>"
        if self.rows:
            h += "<table class='studylib-block'>" + "".join(
                f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                f"{html.escape(v)}</td></tr>" for k, v in self.rows) + "</table>"
        h += "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return h

    def _repr_markdown_(self) -> str:
        md = f"{'#' * self.level} {self.title}\n\n"
        if self.rows:
            md += "| | |\n|---|---|\n" + "".join(f"| **{k}** | {v.replace('|', '/')} |\n" for k, v in self.rows)
        return md + "".join(f"\n{n}\n" for n in self.notes)

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self.rows), default=0)
        return "\n".join([self.title] + [f"  {k:<{width}}  {v}" for k, v in self.rows] + self.notes)

    def __str__(self) -> str:
        return self.__repr__()


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def time_rows(train_time: float | None, wall_time: float, trained: int, served: int,
              unit: str = "trial") -> list[tuple[str, str]]:
    """The trials' own training time (kept in the ledger: a re-run does not lose it) and this
    run's wall time, apart; ``unit``: what ``trained`` and ``served`` count (``rung trial``)."""
    return [("Training time", f"{_fmt_time(train_time)}: the trials' own training, as the ledger recorded it"),
            ("This run", f"{_fmt_time(wall_time)} wall time ({count(trained, unit)} trained now, {served} served "
                         "from the ledger)")]


def code_rows(prov: dict) -> list[tuple[str, str]]:
    """Provenance rows shared by every report: git commit, libraries, interpreter, machine."""
    libs = prov.get("libraries", {})
    lib_text = ", ".join(f"{k} {libs[k]}" for k in SHOWN_LIBRARIES if k in libs)
    return [
        ("Git commit", str(prov.get("git_commit", "unknown"))),
        ("Libraries", lib_text or "-"),
        ("Python", f"{prov.get('python', sys.version.split()[0])} at {sys.executable} "
                   f"(keras backend {prov.get('keras_backend', '-')})"),
        ("Machine", f"{prov.get('host', '-')}, {prov.get('platform', '-')}"),
    ]


def setting_rows(space, data: dict, profile: str, max_epochs, patience, seeds) -> dict[str, str]:
    """What a round's and the comparison's provenance blocks say alike, by row: ``Space`` (the
    space's description, size and hash, after the round's or space's name), ``Dataset`` (its
    label, source and hash; ``data``: ``Dataset.describe()``), ``Profile`` and ``Seeds``."""
    return {
        "Space": f"{space.description} ({space.size:,} combinations, space hash {space.fingerprint()})",
        "Dataset": f"{dataset_label(data)}; source {data.get('source')}; data hash {data.get('data_hash')}",
        "Profile": f"{profile} (max_epochs {max_epochs}, early-stopping patience {patience})",
        "Seeds": ", ".join(map(str, seeds)),
    }


def provenance_block(run: RoundRun) -> Block:
    """What produced this report: data (and its hash), profile, strategy, seeds, trials, budget,
    library versions, git commit, interpreter, machine, wall time and where the trials are."""
    s = run.summary()
    same = setting_rows(run.space, run.data, run.profile, s["max_epochs"], s["patience"], run.seeds)
    counts = (f"{s['rows']} ({s['trained']} trained now, {s['served']} served from the ledger; "
              f"{s['failed']} failed, {s['diverged']} diverged)")
    if "rung_trials" in s:  # trained and served count rung trials; failed and diverged, configs (their top rung)
        counts = (f"{count(s['rows'], 'config')} in {count(s['rung_trials'], 'rung trial')} ({s['trained']} trained "
                  f"now, {s['served']} served from the ledger); {s['failed']} failed, {s['diverged']} diverged "
                  "at their highest rung")
    if len(run.seeds) > 1:
        counts = f"{s['trials']} per seed x {len(run.seeds)} seeds = " + counts
    rows = [
        ("Round", f"{run.round} — {same['Space']}"),
        ("Dataset", same["Dataset"]),
        ("Profile", same["Profile"]),
        ("Strategy", run.strategy + _options_text(run.settings.get("strategy_options"))),
        ("Seeds", same["Seeds"]),
        ("Trials", counts),
        *time_rows(s["train_time"], s["wall_time"], s["trained"], s["served"],
                   unit="trial" if run.rung_trials is None else "rung trial"),
        *code_rows(run.provenance),
        ("Trials stored in", _stored_in(run)),
        ("Figures and tables as files", files_row(run.out_dir)),
        ("Study ids", ", ".join(s["study_ids"])),
        ("Finished", s["finished_at"]),
    ]
    return Block("What produced this report", rows)


def _options_text(options) -> str:
    """`` (options: population_size=12)``, or ``""`` at the strategy's defaults."""
    return f" (options: {', '.join(f'{k}={v}' for k, v in options.items())})" if options else ""


def _stored_in(run: RoundRun) -> str:
    """Where the round's files are: one seed's in the round's folder; several seeds' each in
    ``seed-<s>/``, or, for a study begun with another number of seeds, where it was begun."""
    folders = [Path(r.out_dir) for r in run.results]
    out = Path(run.out_dir)
    if len(run.seeds) == 1 and folders[0] == out:
        return f"{out} (ledger.sqlite, trials.csv, studies/<study_id>.json, summary.json)"
    if len(run.seeds) > 1 and all(f == out / f"seed-{s}" for f, s in zip(folders, run.seeds)):
        return (f"{out} (trials.csv and summary.json of every seed; each seed's ledger.sqlite, trials.csv and "
                "studies/<study_id>.json in seed-<seed>/)")
    where = "; ".join(f"seed {s}: {f.relative_to(out) if f != out else '.'}/" for s, f in zip(run.seeds, folders))
    return (f"{out} (the round's trials.csv and summary.json, of every seed it reports); each seed's "
            f"ledger.sqlite and studies/<study_id>.json where its study was begun: {where}")


def files_row(folder) -> str:
    """Where the report's figures and tables are written as files (:mod:`.keep`)."""
    from .keep import FIGURES, PNG_DPI, TABLES

    return (f"{Path(folder) / FIGURES} (PDF, and PNG at {PNG_DPI} dpi) and {Path(folder) / TABLES} (CSV and "
            "LaTeX), each named after the function that drew it (<function>.pdf, <function>.tex)")


def results_block(run: RoundRun, paper_best: float | None = None) -> Block:
    """The round's result in one table: best validation accuracy and the test accuracy of that
    trial (mean ± std over seeds when there are several), beside the paper's best."""
    s = run.summary()
    spread = f" (mean ± std over {len(run.seeds)} seeds)" if len(run.seeds) > 1 else ""
    rows = [("Best validation accuracy (best_acc)" + spread, percent(s.get("best_acc"), s.get("best_acc_std"))),
            ("Test accuracy of that trial (test_acc)" + spread, percent(s.get("test_acc"), s.get("test_acc_std"))),
            ("Dataset", run.dataset_label)]
    if paper_best is not None:
        rows.append(("Paper's best_acc (CIFAR-10)", f"{100 * paper_best:.2f}%"))
    notes = [c for c in [dataset_caveat(run.data.get("dataset"), run.profile)] if c]
    return Block("Result of this run", rows, notes)


def figure_alt(fig) -> str:
    """A figure described in words, for the HTML image's alt text: its title, each panel's title
    and axes."""
    parts = [fig.get_suptitle()]
    for ax in fig.get_axes():
        y, x = ax.get_ylabel(), ax.get_xlabel()
        axes = f"{y} against {x}" if y and x else y or (x and f"by {x}")
        panel = ": ".join(t for t in (ax.get_title(), axes) if t)
        if panel:
            parts.append(panel)
    return "; ".join(dict.fromkeys(" ".join(p.split()) for p in parts if p.strip())) or "figure"


def notebook_setup(files: bool = True) -> None:
    """Call once at the top of a report's notebook: seaborn theme, figures shown as embedded PNG
    (so nbconvert's HTML stands alone), wide tables; with ``files``, each figure and table drawn
    from a run also written as files (:mod:`.keep`)."""
    import matplotlib

    from . import keep

    keep.enable(files)

    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "savefig.bbox": "tight"})
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.max_columns", 60)
    pd.set_option("display.width", 200)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    ip = get_ipython()
    if ip is None:
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.switch_backend(matplotlib.get_backend())  # the inline backend, once loaded, registers its own Figure formatter

    def png(fig):
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue(), {"alt": figure_alt(fig)}  # nbconvert writes it as the image's alt text

    ip.display_formatter.formatters["image/png"].for_type(Figure, png)
