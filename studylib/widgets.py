"""The interactive explorer: trial ledgers as filterable seaborn figures, tables and a "run more" control.

``Explorer(sources)`` is what ``notebooks/explore.ipynb`` shows and ``studylib explore`` serves
with Voilà. Every control is an attribute (an ipywidget), so code and tests drive it as a user
would: set ``explorer.status_filter.value = ("ok",)`` or ``explorer.kind.value = "box"``, call
``explorer.run_button.click()``; the views (``plot``, ``table``, ``importance_plot``, ``count``)
update at once and their data stay readable (``figure``, ``filtered``, ``table_frame``,
``importance_frame``).

Sources are ledger files or folders searched recursively for ``ledger.sqlite`` (a report
folder written by ``studylib run`` holds one per round). Figures are drawn without pyplot (a
:class:`matplotlib.figure.Figure` rendered to PNG into an ``Image`` widget): no global state, the
same bytes in a notebook, in Voilà and in tests.
"""
from __future__ import annotations

import html
import io
import math
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import ipywidgets as W
import numpy as np
import pandas as pd

from . import paths
from .errors import StudyError
from .ledger import RESULT_FIELDS, Ledger

#: Environment variable ``studylib explore`` passes its sources in (``os.pathsep``-separated).
ENV_SOURCES = "STUDYLIB_EXPLORE"
KINDS = ("strip", "box", "scatter", "best-so-far")
STATUSES = ("ok", "diverged", "failed")
#: What the y axis (and the importance view) can show; True where higher is better.
METRICS = {"best_acc": True, "test_acc": True, "best_train_acc": True, "best_loss": False,
           "test_loss": False, "best_train_loss": False}
METRIC_LABELS = {"best_acc": "best_acc (best validation accuracy)", "test_acc": "test_acc (test accuracy)"}
#: Columns of a ledger frame that are not hyperparameters.
NOT_HYPERPARAMETERS = {"trial", "seed", "dataset", "host", "pid", "key", "study_id", *RESULT_FIELDS}
#: Columns the explorer adds: which ledger, study and strategy a trial belongs to.
ADDED = ("ledger", "study", "strategy")
#: Result columns the x axis may show besides hyperparameters (numeric: scatter them).
X_EXTRAS = ("status", "strategy", "ledger", "seed", "epochs", "params", "wall_time")
TABLE_RESULTS = ("best_acc", "test_acc", "best_loss", "best_train_acc", "epochs", "params", "status")
SQLITE_MAGIC = b"SQLite format 3\x00"


# -- finding and reading ledgers --------------------------------------------------------------

def default_sources() -> list[str]:
    """``$STUDYLIB_EXPLORE`` (set by ``studylib explore``), else ``reports/``."""
    env = os.environ.get(ENV_SOURCES, "").strip()
    return [s for s in env.split(os.pathsep) if s] if env else [str(paths.REPORTS_DIR)]


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def find_ledgers(source: str | Path) -> list[Path]:
    """The ledgers in ``source``: the file itself, or every ``ledger.sqlite`` under a folder.
    Raises :class:`StudyError` (one line) when there is none or one is not a ledger."""
    path = Path(source).expanduser()
    if not path.exists():
        raise StudyError(f"no such file or folder: {path}")
    if path.is_dir():
        found = sorted(p for p in path.rglob(paths.LEDGER_NAME) if p.is_file())
        if not found:
            raise StudyError(f"no {paths.LEDGER_NAME} in {path} (run `studylib search` or `studylib run` "
                             "into it first)")
    else:
        found = [path]
    for p in found:
        check_ledger(p)
    return [p.resolve() for p in found]


def check_ledger(path: Path) -> int:
    """Number of trials in the ledger ``path``; :class:`StudyError` when it is not one."""
    if not _is_sqlite(path):
        raise StudyError(f"{path} is not a studylib ledger (not an SQLite file)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StudyError(f"{path} is not a studylib ledger ({e})") from None


def _labels(ledgers: Sequence[Path]) -> dict[Path, str]:
    """Short names for ledgers: their folder relative to the folders' common parent."""
    parents = [p.parent for p in ledgers]
    if len(parents) == 1:
        return {ledgers[0]: parents[0].name or str(parents[0])}
    root = Path(os.path.commonpath([str(p) for p in parents]))
    out = {}
    for p, parent in zip(ledgers, parents):
        rel = parent.relative_to(root).as_posix()
        out[p] = rel if rel != "." else (parent.name or str(parent))
    return out


def _plain(v):
    """numpy scalars -> Python values (widgets and JSON want those)."""
    return v.item() if isinstance(v, np.generic) else v


def load_ledgers(ledgers: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict], list[str]]:
    """Read ``ledgers`` into (trials, runs, studies, hyperparameters).

    ``trials``: one row per trial and ledger (``Ledger.frame()`` plus ``ledger``, ``study``,
    ``strategy`` — the first study that proposed it — and ``order``, finishing order in its
    ledger). ``runs``: one row per (study, trial) in proposal order (``number``), for the
    best-so-far curves. ``studies``: each study's ``spec`` with its ``ledger`` path and label.
    """
    labels = _labels(list(ledgers))
    trials, runs, studies, hparams = [], [], [], []
    for path in ledgers:
        with Ledger(path) as led:
            these = led.studies()
            frame = led.frame()
            per_study = [(s, led.frame(s["study_id"])) for s in these]
        for c in frame.columns:
            if c not in NOT_HYPERPARAMETERS and c not in hparams:
                hparams.append(c)
        label = labels[path]
        first: dict[str, tuple[str, str]] = {}
        for s, f in per_study:
            sid, strategy = s["study_id"], s["spec"].get("strategy", "")
            study_label = sid if len(ledgers) == 1 else f"{label}/{sid}"
            studies.append({**s, "ledger": path, "ledger_label": label, "label": study_label,
                            "trials": len(f)})
            for k in f["key"] if len(f) else []:
                first.setdefault(k, (study_label, strategy))
            if len(f):
                runs.append(f.rename(columns={"trial": "number"}).assign(
                    ledger=label, study=study_label, strategy=strategy))
        if len(frame):
            frame = frame.drop(columns=["study_id"]).assign(
                ledger=label,
                study=[first.get(k, ("", ""))[0] for k in frame["key"]],
                strategy=[first.get(k, ("", ""))[1] for k in frame["key"]],
                order=range(1, len(frame) + 1))
            trials.append(frame)
    trials_df = pd.concat(trials, ignore_index=True) if trials else pd.DataFrame(
        columns=["key", "status", *METRICS, *ADDED])
    runs_df = pd.concat(runs, ignore_index=True) if runs else pd.DataFrame(
        columns=["key", "number", "status", *METRICS, *ADDED])
    return trials_df, runs_df, studies, hparams


def _label(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _sorted_values(series: pd.Series) -> list:
    vals = [_plain(v) for v in series.dropna().unique()]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


# -- importance -------------------------------------------------------------------------------

def importance(frame: pd.DataFrame, columns: Iterable[str], metric: str = "best_acc") -> pd.DataFrame:
    """How much ``metric`` varies with each hyperparameter, over the trials of ``frame``.

    ``eta_sq`` (η²): the share of the metric's variance explained by the hyperparameter's values
    alone (between-group sum of squares / total); ``spread``: best group mean minus worst group
    mean. Both ignore the other hyperparameters (with few random trials they mix effects); only
    columns with at least two values among trials with a finite metric are listed.
    """
    higher = METRICS.get(metric, True)
    ok = frame[np.isfinite(pd.to_numeric(frame[metric], errors="coerce"))] if metric in frame else frame.iloc[0:0]
    rows = []
    for c in columns:
        if c not in ok or ok[c].nunique(dropna=True) < 2:
            continue
        sub = ok[ok[c].notna()]
        y = sub[metric].astype(float)
        total = float(((y - y.mean()) ** 2).sum())
        g = y.groupby(sub[c].map(_label)).agg(["mean", "count"])
        between = float((g["count"] * (g["mean"] - y.mean()) ** 2).sum())
        best = g["mean"].idxmax() if higher else g["mean"].idxmin()
        rows.append({"hyperparameter": c, "levels": len(g), "trials": int(g["count"].sum()),
                     "eta_sq": between / total if total > 0 else 0.0,
                     "spread": float(g["mean"].max() - g["mean"].min()),
                     "best_value": best, "best_mean": float(g["mean"][best])})
    out = pd.DataFrame(rows, columns=["hyperparameter", "levels", "trials", "eta_sq", "spread", "best_value",
                                      "best_mean"])
    return out.sort_values(["eta_sq", "spread"], ascending=False, kind="stable").reset_index(drop=True)


# -- running more trials ----------------------------------------------------------------------

def continue_study(ledger: str | Path, study: dict, more: int, *, strategy: str | None = None,
                   seed: int | None = None, on_trial=None, epoch_bars: bool = False, executor: str | None = None):
    """Run ``more`` new trials into the folder of ``ledger`` for the study ``study`` (an item of
    ``Ledger.studies()``): same space, dataset (checked by its hash), budget and data sizes;
    ``strategy``/``seed`` default to the study's. The same strategy and seed continue that study;
    others start (or continue) their own study in the same ledger. ``on_trial(result)`` is called
    after each trained trial; ``epoch_bars`` shows tqdm.auto epoch bars; ``executor`` names where
    trials run (default: the library's, a child process; ``"inline"``: this process). Returns the
    ``StudyResult``. The folder's ``trials.csv`` holds every study of the folder (``study_id``
    column) and each study has its own ``studies/<study_id>.json``.
    """
    from .executors import make_executor
    from .space import BUILTIN, SearchSpace, load_space
    from .study import prepare, run_study

    spec, prov = study["spec"], study.get("provenance") or {}
    if not isinstance(more, int) or isinstance(more, bool) or more <= 0:
        raise StudyError(f"the number of new trials must be a positive integer, got {more!r}")
    if spec.get("space") in BUILTIN:
        space = load_space(spec["space"])
    elif prov.get("space_definition"):  # a user's space file: its definition is in the ledger
        space = SearchSpace.from_dict(prov["space_definition"], origin=f"study {study['study_id']}")
    else:
        raise StudyError(f"study {study['study_id']} uses the search space {spec.get('space')!r}, which is not "
                         "a built-in round: its definition is not recorded in the ledger")
    if spec.get("space_hash") and space.fingerprint() != spec["space_hash"]:
        raise StudyError(f"the search space {space.name} changed since study {study['study_id']} ran "
                         f"(hash {space.fingerprint()} != {spec['space_hash']})")
    data_opts = prov.get("data") or {}
    if data_opts.get("split_seed", 0) not in (0, None):
        raise StudyError(f"study {study['study_id']} used split seed {data_opts['split_seed']}; only 0 is supported")
    budget = spec.get("budget") or {}
    same_strategy = strategy in (None, spec.get("strategy"))
    strategy = strategy or spec.get("strategy", "random")
    seed = spec.get("seed", 0) if seed is None else int(seed)
    # "paper" leaves every data size unset; the recorded sizes (None: the whole split) override it
    sizes = {k: data_opts.get(k) for k in ("train_size", "val_size", "test_size")}
    extra = {"in_flight": spec["in_flight"]} if same_strategy and spec.get("in_flight") else {}
    new_spec, data = prepare(space, strategy=strategy, trials=1, seed=seed, dataset=spec["dataset"],
                             profile="paper", max_epochs=budget.get("max_epochs"), patience=budget.get("patience"),
                             strategy_options=spec.get("strategy_options") if same_strategy else None,
                             **sizes, **extra)
    if spec.get("data_hash") and data.fingerprint != spec["data_hash"]:
        raise StudyError(f"cannot rebuild the data of study {study['study_id']}: {spec['dataset']} hashes to "
                         f"{data.fingerprint} here, the study used {spec['data_hash']} (other data files?)")
    folder = Path(ledger).parent
    study_id = new_spec.study_id(data.fingerprint)
    with Ledger(ledger) as led:
        new_spec.trials = len(led.study_keys(study_id)) + more
    return run_study(new_spec, data, folder, executor=make_executor(executor, progress=epoch_bars), progress=False,
                     on_trial=on_trial)


# -- the explorer -----------------------------------------------------------------------------

_CSS = """<style>
.studylib-explorer .studylib-table table{border-collapse:collapse;font-size:12px}
.studylib-explorer .studylib-table th,.studylib-explorer .studylib-table td{padding:2px 8px;text-align:right;
  border-bottom:1px solid #ddd;white-space:nowrap}
.studylib-explorer .studylib-table th{background:#f3f5f7;position:sticky;top:0}
.studylib-explorer .studylib-table tr.bad td{color:#b22}
.studylib-explorer .studylib-count{font-size:14px}
.studylib-explorer .studylib-error{color:#b22}
</style>"""


class Explorer:
    """Interactive view of one or more ledgers. Display it (it is the cell's value in a notebook).

    Data: ``ledger_select`` (which of the found ledgers; ``path_input`` + ``add_button`` add
    more), ``status_filter`` and ``filters`` (hyperparameter name -> ``SelectMultiple`` of its
    values; all selected means no restriction). Figure: ``y``, ``x``, ``hue``, ``kind``
    (strip/box/scatter/best-so-far) -> ``plot`` (PNG ``Image``) and ``figure``. Table:
    ``sort_by``, ``descending``, ``top_k`` -> ``table`` (HTML) and ``table_frame``. Importance:
    ``importance_by`` (eta_sq/spread) -> ``importance_plot`` and ``importance_frame``. More trials:
    ``run_study`` (which study to extend), ``run_strategy``, ``run_trials``, ``run_seed``,
    ``run_button`` -> ``progress`` and ``run_message``; the views reload when it is done.
    """

    def __init__(self, sources: str | Path | Sequence[str | Path] | None = None, *, metric: str = "best_acc",
                 top_k: int = 10, kind: str = "strip", executor: str | None = None):
        from .strategies import available

        self._quiet = False
        self.executor = executor  # where "run more" trains: None (a child process) or "inline"
        self.trials = pd.DataFrame()
        self.runs = pd.DataFrame()
        self.studies: list[dict] = []
        self.hyperparameters: list[str] = []
        self.filtered = pd.DataFrame()
        self.figure = None
        self.table_frame = pd.DataFrame()
        self.importance_frame = pd.DataFrame()
        self.last_result = None
        self.last_error: str | None = None
        #: where the trial processes' own output (TensorFlow's start-up lines) goes during "run more"
        self.trial_log = Path(tempfile.gettempdir()) / f"studylib-explore-{os.getpid()}.log"

        wide = W.Layout(width="100%")
        self.title = W.HTML(_CSS)
        self.count = W.HTML().add_class("studylib-count")
        # data
        self.path_input = W.Text(placeholder="ledger.sqlite or a folder of reports", layout=W.Layout(flex="1"))
        self.add_button = W.Button(description="Add", tooltip="add the ledgers found there", layout=W.Layout(width="60px"))
        self.ledger_select = W.SelectMultiple(options=[], rows=3, layout=wide).add_class("studylib-ledgers")
        self.source_message = W.HTML()
        self.reload_button = W.Button(description="Reload", tooltip="read the ledgers again",
                                      layout=W.Layout(width="100px"))
        self.status_filter = W.SelectMultiple(options=list(STATUSES), value=STATUSES, rows=3, description="status",
                                              layout=wide).add_class("studylib-filter-status")
        self.filters: dict[str, W.SelectMultiple] = {}
        self.filter_box = W.VBox(layout=wide)
        self.reset_button = W.Button(description="Show all trials", layout=W.Layout(width="150px"))
        # figure
        self.y = W.Dropdown(options=list(METRICS), value=metric if metric in METRICS else "best_acc", description="y",
                            layout=W.Layout(width="200px"))
        self.x = W.Dropdown(options=[], description="x", layout=W.Layout(width="200px"))
        self.hue = W.Dropdown(options=[("(none)", "")], value="", description="hue", layout=W.Layout(width="200px"))
        self.kind = W.ToggleButtons(options=list(KINDS), value=kind if kind in KINDS else "strip",
                                    style={"button_width": "90px"})
        self.plot = W.Image(format="png", layout=W.Layout(max_width="100%")).add_class("studylib-plot")
        # table
        self.sort_by = W.Dropdown(options=[], description="sort by", layout=W.Layout(width="220px"))
        self.descending = W.Checkbox(value=True, description="descending", indent=False, layout=W.Layout(width="110px"))
        self.top_k = W.BoundedIntText(value=top_k, min=1, max=100_000, description="top", layout=W.Layout(width="140px"))
        self.table = W.HTML().add_class("studylib-table")
        # importance
        self.importance_by = W.ToggleButtons(options=[("η² (variance explained)", "eta_sq"), ("spread of means", "spread")],
                                             value="eta_sq", style={"button_width": "170px"})
        self.importance_plot = W.Image(format="png", layout=W.Layout(max_width="100%")).add_class("studylib-importance")
        self.importance_table = W.HTML().add_class("studylib-table")
        # run more
        self.run_study = W.Dropdown(options=[], description="study", layout=wide)
        self.run_strategy = W.Dropdown(options=available(), value="random", description="strategy",
                                       layout=W.Layout(width="220px"))
        self.run_trials = W.BoundedIntText(value=2, min=1, max=10_000, description="new trials",
                                           layout=W.Layout(width="180px"))
        self.run_seed = W.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", layout=W.Layout(width="180px"))
        self.run_button = W.Button(description="Run more trials", button_style="primary",
                                   layout=W.Layout(width="180px")).add_class("studylib-run")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", bar_style="",
                                      layout=W.Layout(width="260px")).add_class("studylib-progress")
        self.progress_label = W.HTML()
        self.run_log = W.Output()
        self.run_message = W.HTML()

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
        box = dict(border="1px solid #e0e0e0", padding="6px", margin="0 0 8px 0")
        data = W.VBox([W.HTML("<b>Ledgers</b>"), W.HBox([self.path_input, self.add_button]), self.ledger_select,
                       self.source_message, W.HTML("<b>Filters</b> <small>(ctrl/⌘-click to pick several "
                                                   "values)</small>"),
                       self.status_filter, self.filter_box, W.HBox([self.reset_button, self.reload_button])],
                      layout=W.Layout(**box))
        run = W.VBox([W.HTML("<b>Run more trials</b> <small>(into the study's ledger; same data and "
                             "budget)</small>"), self.run_study, self.run_strategy,
                      W.HBox([self.run_trials, self.run_seed]), self.run_button,
                      W.HBox([self.progress, self.progress_label]), self.run_log, self.run_message],
                     layout=W.Layout(**box))
        side = W.VBox([data, run], layout=W.Layout(width="380px", min_width="320px", margin="0 12px 0 0"))
        figure = W.VBox([W.HBox([self.y, self.x, self.hue]), self.kind, self.plot], layout=W.Layout(**box))
        table = W.VBox([W.HTML("<b>Top trials</b>"), W.HBox([self.sort_by, self.descending, self.top_k]),
                        W.Box([self.table], layout=W.Layout(overflow="auto", max_height="420px"))],
                       layout=W.Layout(**box))
        imp = W.VBox([W.HTML("<b>Which hyperparameters matter</b> <small>(how much the y metric varies "
                             "with each; one at a time)</small>"), self.importance_by, self.importance_plot,
                      self.importance_table], layout=W.Layout(**box))
        main = W.VBox([self.count, figure, table, imp], layout=W.Layout(flex="1", min_width="0"))
        return W.VBox([self.title, W.HBox([side, main], layout=W.Layout(width="100%"))]).add_class(
            "studylib-explorer")

    def _wire(self) -> None:
        self.add_button.on_click(lambda _: self.add_sources([self.path_input.value]))
        self.path_input.continuous_update = False  # Enter (or leaving the box) adds the path too
        self.path_input.observe(lambda ch: ch["new"].strip() and self.add_sources([ch["new"]]), "value")
        self.reload_button.on_click(lambda _: self.reload())
        self.reset_button.on_click(lambda _: self.reset_filters())
        self.ledger_select.observe(lambda _: self.reload(), "value")
        self.status_filter.observe(lambda _: self.update(), "value")
        for w in (self.y, self.x, self.hue, self.kind):
            w.observe(lambda _: self._update_views(), "value")
        for w in (self.sort_by, self.descending, self.top_k):
            w.observe(lambda _: self.draw_table(), "value")
        self.y.observe(self._y_changed, "value")
        self.importance_by.observe(lambda _: self.draw_importance(), "value")
        self.run_study.observe(self._study_changed, "value")
        self.run_button.on_click(lambda _: self.run_more())

    # -- data ---------------------------------------------------------------------------------
    def add_sources(self, sources: Iterable[str | Path]) -> list[Path]:
        """Find the ledgers in ``sources`` and select them (errors go to ``source_message``)."""
        found, errors = [], []
        for s in sources:
            if not str(s).strip():
                continue
            try:
                found += find_ledgers(str(s).strip())
            except StudyError as e:
                errors.append(str(e))
        known = list(self.ledger_select.options)
        new = [p for p in dict.fromkeys(str(p) for p in found) if p not in [v for _, v in known]]
        self.source_message.value = "".join(f"<div class='studylib-error'>{html.escape(e)}</div>" for e in errors)
        if new or not known:
            opts = [v for _, v in known] + new
            labels = _labels([Path(p) for p in opts]) if opts else {}
            picked = list(self.ledger_select.value)
            self._quiet = True
            try:
                self.ledger_select.options = [(labels[Path(p)], p) for p in opts]
                self.ledger_select.rows = max(2, min(6, len(opts)))
            finally:
                self._quiet = False
            self.ledger_select.value = tuple(dict.fromkeys(picked + new))
            if not new:
                self.reload()
        return [Path(p) for p in new]

    @property
    def ledgers(self) -> list[Path]:
        return [Path(p) for p in self.ledger_select.value]

    def reload(self) -> None:
        """Read the selected ledgers again (new trials, other processes' trials included)."""
        if self._quiet:
            return
        try:
            self.trials, self.runs, self.studies, self.hyperparameters = load_ledgers(self.ledgers)
        except (StudyError, sqlite3.Error) as e:  # e.g. a ledger deleted or made unreadable meanwhile
            self.source_message.value = f"<div class='studylib-error'>{html.escape(str(e))}</div>"
            return
        self._quiet = True
        try:
            self._rebuild_controls()
        finally:
            self._quiet = False
        self.update()

    def _filter_columns(self) -> list[str]:
        cols = [c for c in self.hyperparameters if c in self.trials and self.trials[c].nunique() > 1]
        cols += [c for c in ("strategy", "seed", "dataset", "ledger") if c in self.trials
                 and self.trials[c].replace("", np.nan).nunique() > 1]
        return cols

    def _rebuild_controls(self) -> None:
        # hyperparameter filters: keep what the user picked; a filter showing everything keeps
        # showing everything (new values included)
        old = {n: (set(w.value), set(w.options[i][1] for i in range(len(w.options))))
               for n, w in self.filters.items()}
        filters = {}
        for c in self._filter_columns():
            values = _sorted_values(self.trials[c])
            opts = [(_label(v), v) for v in values]
            picked, had = old.get(c, (None, None))
            restricted = picked is not None and not picked >= had
            value = tuple(v for v in values if not restricted or v in picked) or tuple(values)
            w = self.filters.get(c) or W.SelectMultiple(description=c, layout=W.Layout(width="100%"),
                                                        style={"description_width": "110px"}).add_class(
                f"studylib-filter-{c}")
            w.options = opts
            w.value = value
            w.rows = min(len(opts), 4)
            if c not in self.filters:
                w.observe(lambda _: self.update(), "value")
            filters[c] = w
        self.filters = filters
        self.filter_box.children = list(filters.values())
        # axes and table choices
        hp = self.hyperparameters
        xs = hp + [c for c in X_EXTRAS if c in self.trials and c not in hp]
        self._set_options(self.x, xs, default=self._default_x(hp))
        hues = [("(none)", "")] + [(c, c) for c in hp + ["status", "strategy", "study", "ledger", "seed"]
                                   if c in self.trials]
        self._set_options(self.hue, hues, default="")
        sortable = list(METRICS) + [c for c in ("epochs", "params", "wall_time", "order") if c in self.trials] + hp
        self._set_options(self.sort_by, [c for c in sortable if c in self.trials or c in METRICS],
                          default=self.y.value)
        # studies to extend
        opts = [(f"{s['label']} ({s['trials']} trials)", i) for i, s in enumerate(self.studies)]
        keep = self.run_study.value
        self.run_study.options = opts
        if opts:
            self.run_study.value = keep if keep is not None and keep < len(opts) else len(opts) - 1
            self._study_changed(None)
        self.run_button.disabled = not opts

    def _default_x(self, hp: list[str]) -> str | None:
        for c in ("learning_rate", *hp):
            if c in self.trials and self.trials[c].nunique() > 1:
                return c
        return hp[0] if hp else "status"

    @staticmethod
    def _set_options(w: W.Dropdown, options, default) -> None:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        keep = w.value
        w.options = options
        w.value = keep if keep in values else (default if default in values else (values[0] if values else None))

    def reset_filters(self) -> None:
        self._quiet = True
        try:
            self.status_filter.value = STATUSES
            for w in self.filters.values():
                w.value = tuple(v for _, v in w.options)
        finally:
            self._quiet = False
        self.update()

    def mask(self) -> pd.Series:
        t = self.trials
        if not len(t):
            return pd.Series([], dtype=bool)
        m = t["status"].isin(self.status_filter.value)
        for c, w in self.filters.items():
            if len(w.value) < len(w.options):
                m &= t[c].isin(w.value)
        return m

    # -- views --------------------------------------------------------------------------------
    def update(self) -> None:
        """Filter, then redraw the figure, the table and the importance view."""
        if self._quiet:
            return
        self.filtered = self.trials[self.mask()] if len(self.trials) else self.trials
        n, total = len(self.filtered), len(self.trials)
        ledgers = len(self.ledgers)
        self.count.value = (f"<b>{n}</b> of {total} trials shown"
                            f" · {ledgers} ledger{'s' if ledgers != 1 else ''} · {len(self.studies)} "
                            f"stud{'ies' if len(self.studies) != 1 else 'y'}")
        self._update_views()

    def _update_views(self) -> None:
        if self._quiet:
            return
        self.draw_figure()
        self.draw_table()
        self.draw_importance()

    def _y_changed(self, change) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self.sort_by.value = self.y.value
            self.descending.value = METRICS[self.y.value]
        finally:
            self._quiet = False
        self.draw_table()

    def draw_figure(self) -> None:
        from matplotlib.figure import Figure
        import seaborn as sns

        df, y, x, hue, kind = self.filtered, self.y.value, self.x.value, self.hue.value or None, self.kind.value
        with sns.axes_style("whitegrid"):
            fig = Figure(figsize=(8.2, 4.2), dpi=100, layout="constrained")
            ax = fig.add_subplot()
        ylabel = METRIC_LABELS.get(y, y)
        finite = df[np.isfinite(pd.to_numeric(df[y], errors="coerce"))] if len(df) and y in df else df.iloc[0:0]
        if kind == "best-so-far":
            from matplotlib.ticker import MaxNLocator

            self._best_so_far(ax, y, hue)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("trial (in the study's proposal order)")
            title = f"best-so-far {y}"
        elif not len(finite) or x not in finite:
            ax.text(0.5, 0.5, "no trials match the filters" if not len(df) else f"no finite {y}",
                    transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_xlabel(x or "")
            title = f"{y} by {x}"
        else:
            self._categorical(ax, finite, x, y, hue, kind)
            ax.set_xlabel(x)
            title = f"{y} by {x}" + (f", coloured by {hue}" if hue else "")
        ax.set_ylabel(ylabel)
        fig.suptitle(f"{title} — {len(df)} of {len(self.trials)} trials", fontsize="medium")
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small",
                            title_fontsize="small")
        self.figure = fig
        self.plot.value = _png(fig)

    def _categorical(self, ax, df, x, y, hue, kind) -> None:
        import seaborn as sns

        data = df.copy()
        numeric_x = _is_numeric(data[x])
        hue_order = None
        if hue:
            hue_vals = _sorted_values(data[hue])
            data["_hue"] = data[hue].map(_label)
            hue_order = [_label(v) for v in hue_vals]
        hue_col = "_hue" if hue else None
        if kind == "scatter" and numeric_x:
            sns.scatterplot(data=data, x=x, y=y, hue=hue_col, hue_order=hue_order, ax=ax, s=45, alpha=0.85,
                            edgecolor="white")
            xs = data[x].astype(float)
            if (xs > 0).all() and xs.max() / xs.min() >= 50:
                ax.set_xscale("log")
        else:
            order = [_label(v) for v in _sorted_values(data[x])]
            data["_x"] = data[x].map(_label)
            if kind == "box":
                sns.boxplot(data=data, x="_x", y=y, order=order, hue=hue_col, hue_order=hue_order, ax=ax,
                            showfliers=False, fill=False if hue else True, color=None if hue else "#8fb8de",
                            width=0.6)
                sns.stripplot(data=data, x="_x", y=y, order=order, hue=hue_col, hue_order=hue_order, ax=ax,
                              dodge=bool(hue), color=None if hue else "0.15", size=4, jitter=0.12, alpha=0.8,
                              legend=False)
            else:  # strip, or scatter of a categorical x
                sns.stripplot(data=data, x="_x", y=y, order=order, hue=hue_col, hue_order=hue_order, ax=ax,
                              size=6, jitter=0.2 if kind == "strip" else 0.0, alpha=0.85,
                              color=None if hue else "#1f77b4")
        if ax.get_legend() is not None and hue:
            ax.get_legend().set_title(hue)

    def _best_so_far(self, ax, y, hue) -> None:
        import seaborn as sns

        keys = set(zip(self.filtered["ledger"], self.filtered["key"])) if len(self.filtered) else set()
        runs = self.runs
        if len(runs):
            runs = runs[[(lg, k) in keys for lg, k in zip(runs["ledger"], runs["key"])]]
        study_level = ("study", "strategy", "ledger", "seed", "dataset")
        group = hue if hue in study_level else "study"
        higher = METRICS.get(y, True)
        lines = []
        for sid, g in runs.groupby("study", sort=False) if len(runs) else []:
            g = g.sort_values("number")
            vals = pd.to_numeric(g[y], errors="coerce").astype(float)
            vals = vals.fillna(-np.inf if higher else np.inf)
            best = vals.cummax() if higher else vals.cummin()
            best = best.replace([np.inf, -np.inf], np.nan)
            lines.append(g.assign(_best=best.values, _group=g[group].map(_label)))
        if not lines:
            ax.text(0.5, 0.5, "no study trials match the filters", transform=ax.transAxes, ha="center",
                    va="center", color="0.4")
            return
        data = pd.concat(lines, ignore_index=True)
        order = sorted(data["_group"].unique())
        sns.lineplot(data=data, x="number", y="_best", hue="_group", hue_order=order, units="study",
                     estimator=None, drawstyle="steps-post", marker="o", markersize=4, ax=ax)
        if ax.get_legend() is not None:
            ax.get_legend().set_title(group)

    def draw_table(self) -> None:
        if self._quiet:
            return
        df = self.filtered
        by = self.sort_by.value
        cols = (["ledger"] if len(self.ledgers) > 1 else []) + \
               [c for c in self.hyperparameters if c in df and self.trials[c].nunique() > 1] + \
               [c for c in TABLE_RESULTS if c in df]
        if not len(df) or by not in df:
            self.table_frame = df.iloc[0:0].reindex(columns=cols)
            self.table.value = "<i>no trials match the filters</i>"
            return
        top = df.sort_values(by, ascending=not self.descending.value, na_position="last", kind="stable")
        self.table_frame = top.head(self.top_k.value)[cols].reset_index(drop=True)
        self.table_frame.index = range(1, len(self.table_frame) + 1)
        self.table.value = _html_table(self.table_frame, highlight=by, descending=self.descending.value,
                                       values=self.hyperparameters)

    def draw_importance(self) -> None:
        if self._quiet:
            return
        from matplotlib.figure import Figure
        import seaborn as sns

        y, by = self.y.value, self.importance_by.value
        cols = [c for c in self.hyperparameters if c in self.filtered]
        imp = importance(self.filtered, cols, y) if len(self.filtered) else importance(self.trials.iloc[0:0], [], y)
        imp = imp.sort_values(by, ascending=False, kind="stable").reset_index(drop=True)
        self.importance_frame = imp
        with sns.axes_style("whitegrid"):
            fig = Figure(figsize=(8.2, 0.6 + 0.32 * max(len(imp), 2)), dpi=100, layout="constrained")
            ax = fig.add_subplot()
        if len(imp):
            sns.barplot(data=imp, y="hyperparameter", x=by, ax=ax, color="#4c72b0", orient="h")
            ax.set_xlabel({"eta_sq": f"η² of {y} (share of its variance explained)",
                           "spread": f"spread of {y} (best − worst mean over the values)"}[by])
            if by == "eta_sq":
                ax.set_xlim(0, 1)
        else:
            ax.text(0.5, 0.5, "needs trials with different values of a hyperparameter", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
            ax.set_xlabel(by)
        ax.set_ylabel("")
        self.importance_plot.value = _png(fig)
        shown = imp.rename(columns={"eta_sq": "η²", "best_value": "best value", "best_mean": f"its mean {y}"})
        self.importance_table.value = _html_table(shown.set_index("hyperparameter"), index_name="hyperparameter") \
            if len(imp) else ""

    # -- run more -----------------------------------------------------------------------------
    def _study_changed(self, change) -> None:
        if self.run_study.value is None or self.run_study.value >= len(self.studies):
            return
        spec = self.studies[self.run_study.value]["spec"]
        if spec.get("strategy") in self.run_strategy.options:
            self.run_strategy.value = spec["strategy"]
        self.run_seed.value = int(spec.get("seed", 0))

    def run_more(self) -> None:
        """Run ``run_trials`` more trials for the chosen study, then reload (the run button)."""
        if self.run_study.value is None:
            self.run_message.value = "<span class='studylib-error'>no study to extend</span>"
            return
        study = self.studies[self.run_study.value]
        n = int(self.run_trials.value)
        self.run_button.disabled = True
        self.progress.max, self.progress.value, self.progress.bar_style = n, 0, "info"
        self.progress_label.value = f"0 / {n} trials"
        self.run_message.value = f"running {n} trial{'s' if n != 1 else ''} into {html.escape(str(study['ledger']))} …"
        self.last_error = None
        start = time.perf_counter()

        def on_trial(result):
            self.progress.value = min(self.progress.value + 1, n)
            self.progress_label.value = f"{self.progress.value} / {n} trials"

        self.run_log.clear_output()
        error = None
        with self.run_log, _stderr_to(self.trial_log):  # tqdm.auto epoch bars, live, in a notebook or Voila
            try:
                result = continue_study(study["ledger"], study, n, strategy=self.run_strategy.value,
                                        seed=int(self.run_seed.value), on_trial=on_trial, epoch_bars=_in_kernel(),
                                        executor=self.executor)
            except Exception as e:  # shown in the page; the explorer keeps working
                error = e
        self.run_log.clear_output()  # the epoch bars are closed: nothing left to show
        if error is not None:
            e = error
            self.last_error = f"{e.__class__.__name__}: {e}" if not isinstance(e, StudyError) else str(e)
            self.progress.bar_style = "danger"
            self.run_message.value = f"<span class='studylib-error'>{html.escape(self.last_error)}</span>"
            self.run_button.disabled = False
            return
        self.last_result = result
        self.progress.value, self.progress.bar_style = n, "success"
        self.progress_label.value = f"{n} / {n} trials"
        best = result.best
        self.run_message.value = (f"{result.trained} trained, {result.served} from the ledger in "
                                  f"{time.perf_counter() - start:.0f} s; study {html.escape(result.study_id)} has "
                                  f"{len(result.frame)} trials"
                                  + (f", best {best.best_acc:.4f}" if best is not None else ""))
        failed = getattr(result, "failed", 0)
        if failed:
            self.run_message.value += (f" <span class='studylib-error'>({failed} failed; the trial processes' "
                                       f"output is in {html.escape(str(self.trial_log))})</span>")
        self.run_button.disabled = False
        self.reload()
        here = [i for i, s in enumerate(self.studies)
                if s["study_id"] == result.study_id and Path(s["ledger"]) == Path(study["ledger"])]
        if here:
            self.run_study.value = here[0]


@contextmanager
def _stderr_to(path: Path):
    """Point file descriptor 2 at ``path`` (appending) for the block: child processes started in
    it (the trial processes) write their stderr there, not into the notebook or the page."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    try:
        with open(path, "ab") as f:
            os.dup2(f.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return html.escape(str(v))


def _html_table(df: pd.DataFrame, *, highlight: str | None = None, descending: bool = True,
                index_name: str = "#", values: Iterable[str] = ()) -> str:
    """``df`` as an HTML table; columns in ``values`` (hyperparameters) print as their values do
    in the filters (0.01, not 0.0100)."""
    values = set(values)
    head = "".join(f"<th>{html.escape(str(c))}{(' ▼' if descending else ' ▲') if c == highlight else ''}</th>"
                   for c in df.columns)
    rows = []
    for idx, r in df.iterrows():
        bad = " class='bad'" if r.get("status", "ok") not in ("ok",) and "status" in df else ""
        cells = "".join(f"<td>{html.escape(_label(v)) if c in values and pd.notna(v) else _fmt(v)}</td>"
                        for c, v in zip(df.columns, r.values))
        rows.append(f"<tr{bad}><td>{_fmt(idx)}</td>{cells}</tr>")
    return (f"<table><thead><tr><th>{html.escape(index_name)}</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
