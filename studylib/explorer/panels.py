"""Two panels of the explorer: the trial filters and "run more trials" (ipywidgets)."""
from __future__ import annotations

import html
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import ipywidgets as W
import pandas as pd

from .. import defaults
from ..errors import StudyError
from ..fidelity import MAX_SEED
from ..ledger import Ledger
from ..progress import count, count_text
from ..trial import STATUSES
from .analysis import filter_columns, label, mask, sorted_values
from .runmore import continue_study, in_kernel, stderr_to


class FilterPanel:
    """``status`` (a ``SelectMultiple`` of trial statuses) and ``values`` (column -> a
    ``SelectMultiple`` of its values; all selected means no restriction). ``on_change()`` is
    called when the user changes one."""

    def __init__(self, on_change: Callable[[], None]):
        self.on_change = on_change
        self.status = W.SelectMultiple(options=list(STATUSES), value=STATUSES, rows=3, description="status",
                                       layout=W.Layout(width="auto")).add_class("studylib-filter-status")
        self.status.observe(lambda _: self.on_change(), "value")
        self.values: dict[str, W.SelectMultiple] = {}
        self.box = W.VBox([self.status], layout=W.Layout(width="auto"))
        self.reset_button = W.Button(description="Show all trials", layout=W.Layout(width="150px"))
        self.reset_button.on_click(lambda _: self.reset())

    def rebuild(self, trials: pd.DataFrame, hyperparameters: list[str]) -> None:
        """One filter per column with 2+ values; keeps what the user picked, and a filter that
        showed everything keeps showing everything (new values included). Call it with the
        owner's redraws off: setting the widgets fires ``on_change``."""
        old = {n: (set(w.value), {v for _, v in w.options}) for n, w in self.values.items()}
        values = {}
        for c in filter_columns(trials, hyperparameters):
            vals = sorted_values(trials[c])
            picked, had = old.get(c, (None, None))
            restricted = picked is not None and not picked >= had
            w = self.values.get(c)
            if w is None:  # (observed once: the widget's own handlers of ``value`` must stay)
                w = W.SelectMultiple(description=c, layout=W.Layout(width="auto"),
                                     style={"description_width": "110px"}).add_class(f"studylib-filter-{c}")
                w.observe(lambda _: self.on_change(), "value")
            w.options = [(label(v), v) for v in vals]
            w.value = tuple(v for v in vals if not restricted or v in picked) or tuple(vals)
            w.rows = min(len(vals), 4)
            values[c] = w
        self.values = values
        self.box.children = [self.status, *values.values()]

    def reset(self) -> None:
        """Select every status and value, then ``on_change()`` once."""
        callback, self.on_change = self.on_change, lambda: None
        try:
            self.status.value = STATUSES
            for w in self.values.values():
                w.value = tuple(v for _, v in w.options)
        finally:
            self.on_change = callback
        self.on_change()

    def mask(self, trials: pd.DataFrame) -> pd.Series:
        picked = {c: w.value for c, w in self.values.items() if len(w.value) < len(w.options)}
        return mask(trials, self.status.value, picked)


class RunPanel:
    """Run more trials of a study: ``study`` (which one), ``strategy``, ``trials``, ``seed``,
    ``button`` -> ``progress`` and ``message``; ``on_done(result, study)`` after a successful run.
    ``last_result``/``last_error`` keep the outcome. ``executor``: where trials train (None: a
    child process; ``"inline"``: this process)."""

    def __init__(self, on_done: Callable, executor: str | None = None):
        from ..plugins import load_entry_points
        from ..strategies import available

        load_entry_points()  # an installed package's strategies continue their studies here too

        self.on_done, self.executor = on_done, executor
        self.studies: list[dict] = []
        self.last_result = None
        self.last_error: str | None = None
        #: where the trial processes' own output (TensorFlow's start-up lines) goes during a run
        self.trial_log = Path(tempfile.gettempdir()) / f"studylib-explore-{os.getpid()}.log"
        self.study = W.Dropdown(options=[], description="study", layout=W.Layout(width="auto"))
        self.strategy = W.Dropdown(options=available(), value=defaults.STRATEGY, description="strategy",
                                   layout=W.Layout(width="220px"))
        narrow = {"description_width": "70px"}  # both fit the sidebar's width side by side
        self.trials = W.BoundedIntText(value=2, min=1, max=10_000, description="new trials", style=narrow,
                                       layout=W.Layout(width="150px")).add_class("studylib-trials")
        self.seed = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="seed", style=narrow,
                                     layout=W.Layout(width="150px")).add_class("studylib-seed")
        self.button = W.Button(description="Run more trials", button_style="primary",
                               layout=W.Layout(width="180px")).add_class("studylib-run")
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="260px")).add_class(
            "studylib-progress")
        self.progress_label = W.HTML()
        self.log = W.Output()
        self.message = W.HTML()
        self.study.observe(self._study_changed, "value")
        self.button.on_click(lambda _: self.run())

    def widget(self, box: dict) -> W.Widget:
        return W.VBox([W.HTML("<b>Run more trials</b> <small>(into the study's ledger; the same data, epochs "
                              "and patience; no epoch or time budget)</small>"), self.study, self.strategy, W.HBox([self.trials, self.seed]),
                       self.button, W.HBox([self.progress, self.progress_label]), self.log, self.message],
                      layout=W.Layout(**box))

    def set_studies(self, studies: list[dict], select: tuple[str, Path] | None = None) -> None:
        """Offer ``studies``; keep the chosen one, or pick ``select`` (study id, ledger)."""
        self.studies = studies
        keep = self.study.value
        self.study.options = [(f"{s['label']} ({s['count']})", i) for i, s in enumerate(studies)]
        if select is not None:
            keep = next((i for i, s in enumerate(studies)
                         if s["study_id"] == select[0] and Path(s["ledger"]) == Path(select[1])), keep)
        self.button.disabled = not studies
        if studies:
            self.study.value = keep if keep is not None and keep < len(studies) else len(studies) - 1
            self._study_changed(None)

    def _study_changed(self, change) -> None:
        if self.study.value is None or self.study.value >= len(self.studies):
            return
        from ..strategies import available

        spec = self.studies[self.study.value]["spec"]
        name = spec.get("strategy")
        if name not in self.strategy.options and name in available():  # registered since the panel was built
            self.strategy.options = available()
        known = name in self.strategy.options
        if known:
            self.strategy.value = name
        self.seed.value = int(spec.get("seed", 0))
        # another strategy would start another study beside it, not continue this one
        self.button.disabled = not known
        unknown = html.escape(f"strategy {name} is not known here: register it (studylib.plugins.register_strategy) "
                              "or install its package, then open the explorer again to continue this study")
        if not known:
            self.message.value = unknown
        elif "is not known here" in self.message.value:  # said of another study
            self.message.value = ""

    def _clear_log(self) -> None:
        if in_kernel():  # elsewhere the log holds nothing, and clearing it prints a terminal escape
            self.log.clear_output()

    def _error(self, text: str) -> None:
        self.last_error = text
        self.progress.bar_style = "danger"
        self.message.value = f"<span class='studylib-error'>{html.escape(text)}</span>"

    def run(self) -> None:
        """Run ``trials`` more trials of the chosen study (the button)."""
        if self.study.value is None:
            return self._error("no study to extend")
        study, n = self.studies[self.study.value], int(self.trials.value)
        self.button.disabled = True
        self.progress.max, self.progress.value, self.progress.bar_style = n, 0, "info"
        self.progress_label.value = f"0 / {n} trials"
        self.message.value = f"running {count(n, 'trial')} into {html.escape(str(study['ledger']))} …"
        self.last_error, start = None, time.perf_counter()

        def on_trial():
            self.progress.value = min(self.progress.value + 1, n)
            self.progress_label.value = f"{self.progress.value} / {n} trials"

        self._clear_log()
        try:
            with self.log, stderr_to(self.trial_log):  # tqdm.auto epoch bars, live, in a notebook or Voila
                result = continue_study(study["ledger"], study, n, strategy=self.strategy.value,
                                        seed=int(self.seed.value), on_trial=on_trial, epoch_bars=in_kernel(),
                                        executor=self.executor)
        except Exception as e:  # shown in the page; the explorer keeps working
            self._error(str(e) if isinstance(e, StudyError) else f"{e.__class__.__name__}: {e}")
            return
        finally:
            self._clear_log()  # the epoch bars are closed: nothing left to show
            self.button.disabled = False
        self.last_result = result
        self.progress.value, self.progress.bar_style = n, "success"
        self.progress_label.value = f"{n} / {n} trials"
        best = result.best
        with Ledger(study["ledger"], read_only=True) as led:  # the study's every trial, as the list counts them
            held = led.frame(result.study_id)
        self.message.value = (f"{result.trained} trained, {result.served} from the ledger in "
                              f"{time.perf_counter() - start:.0f} s; study {html.escape(result.study_id)} has "
                              f"{count_text(held)}" + (f", best {best.best_acc:.4f}" if best is not None else ""))
        if getattr(result, "failed", 0):
            self.message.value += (f" <span class='studylib-error'>({result.failed} failed; the trial processes' "
                                   f"output is in {html.escape(str(self.trial_log))})</span>")
        self.on_done(result, study)
