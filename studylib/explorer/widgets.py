"""The interactive explorer: trial ledgers as filterable seaborn figures, tables and a "run more" control.

``Explorer(sources)`` is what ``notebooks/explore.ipynb`` shows and ``studylib explore`` serves
with Voilà. Every control is an attribute (an ipywidget), so code and tests drive it as a user
would: ``explorer.filter.status.value = ("ok",)``, ``explorer.kind.value = "box"``,
``explorer.run.button.click()``; the views (``plot``, ``table``, ``importance_plot``, ``count``)
update at once and their data stay readable (``figure``, ``filtered``, ``table_frame``,
``importance_frame``). The data come from :mod:`.ledgers`, the numbers from :mod:`.analysis`,
the figures from :mod:`.views`.
"""
from __future__ import annotations

import html
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import ipywidgets as W
import pandas as pd

from ..errors import StudyError
from ..fidelity import config_column, has_rungs
from ..progress import count
from .analysis import KINDS, METRICS, TABLE_RESULTS, X_EXTRAS, importance_by_round
from .ledgers import TrialData, default_sources, find_ledgers, ledger_labels, load_ledgers
from .panels import FilterPanel, RunPanel
from .views import CSS, html_table, importance_figure, png, trial_figure

BOX = dict(border="1px solid #e0e0e0", padding="6px", margin="0 0 8px 0")


def _dropdown(description: str, width: str = "200px", **kw) -> W.Dropdown:
    return W.Dropdown(description=description, layout=W.Layout(width=width), **kw)


class Explorer:
    """Interactive view of one or more ledgers. Display it (it is the cell's value in a notebook).

    Data: ``ledger_select`` (which of the found ledgers; ``path_input`` + ``add_button`` add
    more), ``filter`` (a :class:`FilterPanel`). Figure: ``y``, ``x``, ``hue``, ``kind``
    (strip/box/scatter/best-so-far/curves: per-epoch learning curves) -> ``plot`` (PNG ``Image``) and ``figure``. Table:
    ``sort_by``, ``descending``, ``top_k`` -> ``table`` (HTML) and ``table_frame``. Importance:
    ``importance_by`` (eta_sq/spread) -> ``importance_plot`` and ``importance_frame``. More trials:
    ``run`` (a :class:`RunPanel`); the views reload when it is done.
    """

    def __init__(self, sources: str | Path | Sequence[str | Path] | None = None, *, metric: str = "best_acc",
                 top_k: int = 10, kind: str = "strip", executor: str | None = None):
        self._quiet = False
        self._folders: list[str] = []  # folders given: Reload looks in them again for new ledgers
        self.data = TrialData()
        self.filtered = self.data.trials
        self.figure = None
        self.table_frame = pd.DataFrame()
        self.importance_frame = pd.DataFrame()
        self.count = W.HTML().add_class("studylib-count")
        self.path_input = W.Text(placeholder="ledger.sqlite or a folder of reports", layout=W.Layout(flex="1"),
                                 continuous_update=False)  # Enter (or leaving the box) adds the path
        self.add_button = W.Button(description="Add", tooltip="add the ledgers found there", layout=W.Layout(width="60px"))
        self.ledger_select = W.SelectMultiple(options=[], rows=3, layout=W.Layout(width="auto")).add_class(
            "studylib-ledgers")
        self.source_message = W.HTML()
        self.reload_button = W.Button(description="Reload", tooltip="read the ledgers again, and find new ones in the "
                                                                    "folders given",
                                      layout=W.Layout(width="100px"))
        self.filter = FilterPanel(self.update)
        self.y = _dropdown("y", options=list(METRICS), value=metric if metric in METRICS else "best_acc")
        self.x = _dropdown("x", options=[])
        self.hue = _dropdown("hue", options=[("(none)", "")], value="")
        self.kind = W.ToggleButtons(options=list(KINDS), value=kind if kind in KINDS else "strip",
                                    style={"button_width": "90px"})
        self.plot = W.Image(format="png", layout=W.Layout(max_width="100%")).add_class("studylib-plot")
        self.sort_by = _dropdown("sort by", "220px", options=[])
        self.descending = W.Checkbox(value=True, description="descending", indent=False, layout=W.Layout(width="110px"))
        self.top_k = W.BoundedIntText(value=top_k, min=1, max=100_000, description="top", layout=W.Layout(width="140px"))
        self.table = W.HTML().add_class("studylib-table")
        self.importance_by = W.ToggleButtons(options=[("η² (variance explained)", "eta_sq"), ("spread of means", "spread")],
                                             value="eta_sq", style={"button_width": "170px"})
        self.importance_plot = W.Image(format="png", layout=W.Layout(max_width="100%")).add_class("studylib-importance")
        self.importance_table = W.HTML().add_class("studylib-table")
        self.run = RunPanel(self._ran, executor=executor)
        self.widget = self._layout()
        self._wire()
        if sources is None:
            sources = default_sources()
        elif isinstance(sources, (str, Path)):
            sources = [s for s in str(sources).split(os.pathsep) if s]
        self.add_sources(sources)

    # -- display ------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _layout(self) -> W.Widget:
        data = W.VBox([W.HTML("<b>Ledgers</b>"), W.HBox([self.path_input, self.add_button]), self.ledger_select,
                       self.source_message, W.HTML("<b>Filters</b> <small>(ctrl/⌘-click to pick several "
                                                   "values)</small>"),
                       self.filter.box, W.HBox([self.filter.reset_button, self.reload_button])], layout=W.Layout(**BOX))
        side = W.VBox([data, self.run.widget(BOX)], layout=W.Layout(width="340px", min_width="300px",
                                                                    margin="0 12px 0 0")).add_class("studylib-sidebar")
        figure = W.VBox([W.HBox([self.y, self.x, self.hue]), self.kind, self.plot], layout=W.Layout(**BOX))
        table = W.VBox([W.HTML("<b>Top trials</b>"), W.HBox([self.sort_by, self.descending, self.top_k]),
                        W.Box([self.table], layout=W.Layout(overflow="auto", max_height="420px"))],
                       layout=W.Layout(**BOX))
        imp = W.VBox([W.HTML("<b>Which hyperparameters matter</b> <small>(how much the y metric varies "
                             "with each; one at a time)</small>"), self.importance_by, self.importance_plot,
                      self.importance_table], layout=W.Layout(**BOX))
        main = W.VBox([self.count, figure, table, imp], layout=W.Layout(flex="1", min_width="0"))
        return W.VBox([W.HTML(CSS), W.HBox([side, main], layout=W.Layout(width="100%"))]).add_class(
            "studylib-explorer")

    def _wire(self) -> None:
        self.add_button.on_click(lambda _: self.add_sources([self.path_input.value]))
        self.path_input.observe(lambda ch: ch["new"].strip() and self.add_sources([ch["new"]]), "value")
        self.reload_button.on_click(lambda _: self.rescan())
        self.ledger_select.observe(lambda _: self.reload(), "value")
        for w in (self.x, self.hue, self.kind):
            w.observe(lambda _: self._redraw(), "value")
        for w in (self.sort_by, self.descending, self.top_k):
            w.observe(lambda _: self.draw_table(), "value")
        self.y.observe(self._y_changed, "value")
        self.importance_by.observe(lambda _: self.draw_importance(), "value")

    # -- data ---------------------------------------------------------------------------------
    @property
    def ledgers(self) -> list[Path]:
        return [Path(p) for p in self.ledger_select.value]

    @property
    def studies(self) -> list[dict]:
        return self.data.studies

    def add_sources(self, sources: Iterable[str | Path]) -> list[Path]:
        """Find the ledgers in ``sources`` and select them (errors go to ``source_message``)."""
        found, errors = [], []
        for s in (str(s).strip() for s in sources):
            try:
                here = find_ledgers(s, errors) if s else []
            except StudyError as e:
                errors.append(str(e))
                continue
            found += here
            if here and Path(s).expanduser().is_dir() and s not in self._folders:
                self._folders.append(s)  # a folder that held ledgers: Reload looks in it again
        known = [v for _, v in self.ledger_select.options]
        new = [p for p in dict.fromkeys(str(p) for p in found) if p not in known]
        self.source_message.value = "".join(f"<div class='studylib-error'>{html.escape(e)}</div>" for e in errors)
        if new or not known:
            opts = known + new
            labels = ledger_labels([Path(p) for p in opts]) if opts else {}
            picked = list(self.ledger_select.value)
            with self._silenced():
                self.ledger_select.options = [(labels[Path(p)], p) for p in opts]
                self.ledger_select.rows = max(2, min(6, len(opts)))
            self.ledger_select.value = tuple(dict.fromkeys(picked + new))
            if not new:
                self.reload()
        return [Path(p) for p in new]

    def rescan(self) -> None:
        """The Reload button: select the ledgers that appeared in the folders given (a study
        started since), and read every selected ledger again."""
        if not (self._folders and self.add_sources(self._folders)):
            self.reload()

    def reload(self, select: tuple[str, Path] | None = None) -> None:
        """Read the selected ledgers again (new trials, other processes' trials included)."""
        if self._quiet:
            return
        try:
            self.data = load_ledgers(self.ledgers)
        except (StudyError, sqlite3.Error, ValueError) as e:  # a ledger deleted or damaged meanwhile, a bad record
            what = str(e) if isinstance(e, StudyError) else f"cannot read the ledgers: {type(e).__name__}: {e}"
            self.source_message.value = f"<div class='studylib-error'>{html.escape(what)}</div>"
            return
        with self._silenced():
            self.filter.rebuild(self.data.trials, self.data.hyperparameters)
            self._rebuild_choices()
            self.run.set_studies(self.data.studies, select)
        self.update()

    @contextmanager
    def _silenced(self):
        """No redraws inside the block (controls are being set in bulk)."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _rebuild_choices(self) -> None:
        t, hp = self.data.trials, self.data.hyperparameters
        default_x = next((c for c in ("learning_rate", *hp) if c in t and t[c].nunique() > 1),
                         hp[0] if hp else "status")
        _set_options(self.x, hp + [c for c in X_EXTRAS if c in t and c not in hp], default_x)
        _set_options(self.hue, [("(none)", "")] + [(c, c) for c in hp + ["status", "strategy", "study", "ledger",
                                                                         "seed"] if c in t], "")
        sortable = list(METRICS) + [c for c in ("epochs", "params", "wall_time", "order") if c in t] + hp
        _set_options(self.sort_by, [c for c in sortable if c in t or c in METRICS], self.y.value)

    # -- views --------------------------------------------------------------------------------
    def update(self) -> None:
        """Filter, then redraw the figure, the table and the importance view."""
        if self._quiet:
            return
        t = self.data.trials
        self.filtered = t[self.filter.mask(t)] if len(t) else t
        n_l, n_s = len(self.ledgers), len(self.studies)
        self.count.value = (f"<b>{len(self.filtered)}</b> of {len(t)} trials shown{_configs_note(self.filtered)} · "
                            f"{n_l} ledger{'s' if n_l != 1 else ''} · {n_s} stud{'ies' if n_s != 1 else 'y'}")
        self._redraw()

    def _redraw(self) -> None:
        if self._quiet:
            return
        self.draw_figure()
        self.draw_table()
        self.draw_importance()

    def _y_changed(self, change) -> None:
        if self._quiet:
            return
        with self._silenced():
            self.sort_by.value = self.y.value
            self.descending.value = METRICS[self.y.value]
        self._redraw()

    def draw_figure(self) -> None:
        self.figure = trial_figure(self.filtered, len(self.data.trials), y=self.y.value, x=self.x.value,
                                   hue=self.hue.value or None, kind=self.kind.value, runs=self.data.runs,
                                   curves=self.data.curves)
        self.plot.value = png(self.figure)

    def draw_table(self) -> None:
        if self._quiet:
            return
        df, by, hp = self.filtered, self.sort_by.value, self.data.hyperparameters
        cols = (["ledger"] if len(self.ledgers) > 1 else []) + \
               [c for c in hp if c in df and self.data.trials[c].nunique() > 1] + [c for c in TABLE_RESULTS if c in df]
        if not len(df) or by not in df:
            self.table_frame = df.iloc[0:0].reindex(columns=cols)
            self.table.value = "<i>no trials match the filters</i>"
            return
        top = df.sort_values(by, ascending=not self.descending.value, na_position="last", kind="stable")
        self.table_frame = top.head(self.top_k.value)[cols].reset_index(drop=True)
        self.table_frame.index = range(1, len(self.table_frame) + 1)
        self.table.value = html_table(self.table_frame, highlight=by, descending=self.descending.value, values=hp)

    def draw_importance(self) -> None:
        if self._quiet:
            return
        y, by = self.y.value, self.importance_by.value
        imp = importance_by_round(self.filtered, [c for c in self.data.hyperparameters if c in self.filtered], y)
        order = {r: i for i, r in enumerate(dict.fromkeys(imp["round"]))}  # each round apart, by `by` within
        self.importance_frame = imp.sort_values(["round", by], ascending=[True, False], kind="stable",
                                                key=lambda c: c.map(order) if c.name == "round" else c
                                                ).reset_index(drop=True)
        self.importance_plot.value = png(importance_figure(self.importance_frame, y, by))
        shown = self.importance_frame.rename(columns={"eta_sq": "η²", "best_value": "best value",
                                                      "best_mean": f"its mean {y}"})
        if shown["round"].nunique() < 2:
            shown = shown.drop(columns="round")
        self.importance_table.value = html_table(shown.set_index("hyperparameter"), index_name="hyperparameter") \
            if len(shown) else ""

    def _ran(self, result, study: dict) -> None:
        self.reload(select=(result.study_id, Path(study["ledger"])))


def _configs_note(trials: pd.DataFrame) -> str:
    """`` (N configs)`` where some shown trials are rung trials of a multi-fidelity study (each
    rung of a config is a row), else nothing."""
    if not has_rungs(trials):
        return ""
    n = len(set(zip(trials["ledger"], config_column(trials))))
    return f" ({count(n, 'config')})"


def _set_options(w: W.Dropdown, options, default) -> None:
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    keep = w.value
    w.options = options
    w.value = keep if keep in values else (default if default in values else (values[0] if values else None))
