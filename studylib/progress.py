"""Progress of a running study, for a person at a terminal or reading a log.

Every progress output of studylib is here: a study reports each finished trial through
:class:`StudyProgress` and the running trial's epochs through :class:`EpochBar`; a benchmark of
many runs counts them with :class:`RunCounter` (``  40/200 runs  (12s)`` on stderr, about 20 lines).

* at a terminal (``stderr.isatty()``) or in a notebook: tqdm bars, as before;
* to a file or CI log: one plain line per finished trial, e.g.
  ``round1 random s0  trial 3/29  best_acc 0.412  (12 s)  best so far 0.655`` (no escape codes,
  no epoch lines);
* to the *progress file* named by the environment variable ``STUDYLIB_PROGRESS`` (``studylib
  run`` sets it for the notebook's kernel): the same trial lines and one line per epoch, appended
  whatever ``progress`` says. :class:`Follower` reads that file in a thread of the runner while
  papermill executes and prints the lines (the epochs as one self-overwriting status line at a
  terminal, not at all in a log).

Only the study's own process writes the file (a serial trial's epochs come back through its
pipe), one short ``write`` per line. No randomness.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from .errors import first_line

ENV = "STUDYLIB_PROGRESS"


def clip(text: str, width: int = 80) -> str:
    """``text`` cut to at most ``width`` characters at a word's end, with ``...`` where cut."""
    if len(text) <= width:
        return text
    cut = text[: width - 3]
    return (cut.rsplit(" ", 1)[0] if " " in cut[width // 2:] else cut).rstrip(" ,;:") + "..."


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 trial``, ``2 trials`` (``plural``: where it is not ``word`` + s: ``2 strategies``)."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def count_text(frame) -> str:
    """How many trials a study holds; a multi-fidelity study's are configs (one row each in
    ``trials.csv``), with the rung trials they took said beside: ``2 configs in 3 rung trials``."""
    from .fidelity import collapse_rungs

    configs = collapse_rungs(frame)
    return count(len(frame), "trial") if configs is frame else \
        f"{count(len(configs), 'config')} in {count(len(frame), 'rung trial')}"


#: The running study, for epoch lines (set by :class:`StudyProgress`, read by :func:`epoch`).
_current = {"label": "", "trial": 0, "total": 0}


def interactive(stream) -> bool:
    """A terminal or a notebook kernel: where tqdm bars render (anything else gets plain lines)."""
    return terminal(stream) or "ipykernel" in sys.modules


def terminal(stream) -> bool:
    """``stream`` is a terminal with a width (a pseudo-terminal no one sized has none: tqdm and a
    rewritten status line draw nothing there)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    if tty:
        try:
            return os.get_terminal_size(stream.fileno()).columns > 0
        except (AttributeError, ValueError, OSError):
            pass  # no descriptor to ask (a wrapper's stream): its isatty() decides
    return tty


def _append(kind: str, text: str) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{kind}\t{text}\n".encode())
        finally:
            os.close(fd)
    except OSError:  # progress is a courtesy: never fail a study over it
        pass


def trial_line(label: str, done: int, total: int | None, trial, best: float, served: bool = False,
               epochs: tuple[int, int] | None = None, configs: int | None = None, number: int | None = None) -> str:
    """One finished trial (``total``: None when only a budget bounds the study); ``epochs``:
    (spent, budget) under an epoch budget; ``configs``: for a rung trial, the configs started so
    far (``total`` then counts configs, ``done`` rung trials); ``number``: the trial's number in
    the study (its row in ``trials.csv``; a rung trial's in ``rungs.csv``) where trials finish out
    of order (parallel workers)."""
    of = f"/{total}" if total and epochs is None else ""
    if configs is not None:
        at = f" at {trial.metrics['rung']} epochs" if trial.metrics.get("rung") is not None else ""
        head = f"{label}  trial {done}{at}  configs {configs}{of}" if number in (None, done) else \
            f"{label}  trial {number} ({done} done){at}  configs {configs}{of}"
    else:
        head = f"{label}  trial {done}{of}" if number in (None, done) else f"{label}  trial {number} ({done}{of} done)"
    if epochs is not None:
        head += f"  epochs {epochs[0]}/{epochs[1]}"
    where = "from the ledger" if served else f"{trial.wall_time:.0f} s"
    if not trial.ok:
        return f"{head}  failed: {clip(first_line(trial.error)) or 'unknown error'}  ({where})"
    acc = trial.metrics.get("best_acc", float("nan"))
    diverged = " (diverged)" if trial.status == "diverged" else ""
    so_far = f"{best:.3f}" if math.isfinite(best) else "-"
    return f"{head}  best_acc {acc:.3f}{diverged}  ({where})  best so far {so_far}"


class StudyProgress:
    """Reports a study's finished trials: a tqdm bar where one renders, plain lines on ``stream``
    otherwise (only with ``show``), and always to the progress file when ``STUDYLIB_PROGRESS`` is set.
    With ``budget_epochs`` the bar counts epochs spent (charged) of that budget instead of trials;
    ``total`` None: no count to reach (a budget alone bounds the study). A multi-fidelity study's
    rung trials are counted as the configs they belong to (``rungs``: ``total`` is a number of
    configs, so an epoch line names its trial without it)."""

    def __init__(self, label: str, total: int | None, show: bool = True, stream=None,
                 budget_epochs: int | None = None, rungs: bool = False):
        self.label, self.total, self.stream = label, total, stream or sys.stderr
        self.done, self.best, self.bar = 0, -math.inf, None
        self.configs: set[str] = set()  # the configs of the rung trials so far (their rung_of: the config's key)
        self.budget, self.spent = budget_epochs, 0
        self.plain = show and not interactive(self.stream)
        if show and not self.plain:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=budget_epochs or total, desc=label, unit="ep" if budget_epochs else "trial",
                            position=0)
        _current.update(label=label, trial=1, total=None if rungs else total)

    def finished(self, trial, served: bool = False, number: int | None = None) -> None:
        config = trial.metrics.get("rung_of") or (trial.key if trial.metrics.get("rung") is not None else None)
        rung = config is not None  # a rung trial (a failed one names its config too)
        new = not rung or config not in self.configs
        if rung:
            self.configs.add(config)
        self.done += 1
        _current.update(trial=self.done + 1, total=None if rung else self.total)
        acc = trial.metrics.get("best_acc") if trial.ok else None
        if acc is not None and not math.isnan(acc):
            self.best = max(self.best, acc)
        step = 1 if new else 0
        if self.budget:
            from .fidelity import charged_epochs

            step = charged_epochs(trial)
            self.spent += step
        line = trial_line(self.label, self.done, self.total, trial, self.best, served,
                          (self.spent, self.budget) if self.budget else None, len(self.configs) if rung else None,
                          number)
        _append("trial", line)
        if self.bar is not None:
            self.bar.update(step)
            self.bar.set_postfix(best=f"{self.best:.4f}" if self.best > -math.inf else "-")
        elif self.plain:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EpochBar:
    """A tqdm bar of one trial's epochs where bars render (or nothing, without ``progress`` or
    epochs, or in a log), showing ``metric`` (validation accuracy); each epoch also goes to the
    progress file."""

    def __init__(self, progress: bool, total: int, metric: str = "val_accuracy"):
        self.bar, self.total, self.metric = None, total, metric
        if progress and total and interactive(sys.stderr):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="  epochs", unit="ep", leave=False, position=1)

    def __call__(self, number, logs):
        epoch(number, logs, self.total)
        if self.bar is not None:
            self.bar.update(1)
            name = self.metric.replace("accuracy", "acc")
            self.bar.set_postfix({name: f"{logs.get(self.metric, float('nan')):.3f}"})

    def close(self):
        if self.bar is not None:
            self.bar.close()


class RunCounter:
    """``done(k, n)`` after each of ``n`` benchmark runs: a line ``  k/n runs  (12s)`` on
    ``stream`` at every twentieth of them and at the last (nothing when not ``show``)."""

    def __init__(self, show: bool = True, stream=None):
        self.show, self.stream, self.t0 = show, stream or sys.stderr, time.perf_counter()

    def __call__(self, k: int, n: int) -> None:
        if self.show and (k % max(1, n // 20) == 0 or k == n):
            print(f"  {k}/{n} runs  ({time.perf_counter() - self.t0:.0f}s)", file=self.stream, flush=True)


def epoch(number: int, logs: dict, max_epochs: int) -> None:
    """Epoch ``number`` (1-based, as ``training.evaluate`` reports it) of the running trial has
    finished: one line to the progress file (if any)."""
    c = _current
    acc = (logs or {}).get("val_accuracy", float("nan"))
    of = f"/{c['total']}" if c["total"] else ""
    _append("epoch", f"{c['label']}  trial {c['trial']}{of}  epoch {number}/{max_epochs}  val_acc {acc:.3f}")


def stdout_to_devnull() -> None:
    """Point stdout at /dev/null: its reader has gone (``studylib ... | head``), so what is still
    buffered, and anything printed later, goes nowhere instead of raising BrokenPipeError again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class Follower:
    """Prints the lines a kernel appends to a progress file while it runs (a thread polling every
    ``interval`` s): trial lines as they are; epoch lines as one status line rewritten in place
    at a terminal (``tty``), dropped otherwise. Use as a context manager."""

    def __init__(self, path: str | Path, stream=None, tty: bool | None = None, interval: float = 0.5):
        self.path, self.stream, self.interval = Path(path), stream or sys.stderr, interval
        self.tty = terminal(self.stream) if tty is None else tty
        self._offset, self._rest, self._status = 0, b"", False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="studylib-progress", daemon=True)

    def __enter__(self) -> "Follower":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()
        self._clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def _drain(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        self._offset += len(data)
        *lines, self._rest = (self._rest + data).split(b"\n")
        if self.stream is None:
            return
        try:
            for raw in lines:
                kind, _, text = raw.decode(errors="replace").partition("\t")
                if kind == "trial":
                    self._clear()
                    self.stream.write(text + "\n")
                elif kind == "epoch" and self.tty:
                    width = shutil.get_terminal_size((100, 20)).columns - 1
                    self.stream.write("\r" + text[:width] + "\x1b[K")
                    self._status = True
            self.stream.flush()
        except BrokenPipeError:  # `studylib run ... | head`: the reader stopped; the command says so itself
            self.stream = None

    def _clear(self) -> None:
        if self._status and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._status = False
