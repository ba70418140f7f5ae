"""Progress while a study runs: a line per finished trial in a log (no escape codes), the epochs of
the running trial at a terminal, and the same lines from inside a notebook that ``studylib run``
executes (the kernel appends them to a progress file the runner follows)."""
from __future__ import annotations

import io
import re
import subprocess
import time
import sys

import pytest

from studylib import cli, paths, progress
from studylib.trial import Trial

from test_runner import write_notebook

ESCAPES = re.compile(r"\x1b|\r")
TRIAL_LINE = re.compile(r"^(?P<label>.+?)  trial (?P<i>\d+)/(?P<n>\d+)  best_acc (?P<acc>\d\.\d{3})  "
                        r"\((?:\d+ s|from the ledger)\)  best so far (?P<best>\d\.\d{3})$")


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def _trial(acc, ok=True):
    if not ok:
        return Trial.failed("k", {}, "ResourceExhaustedError: OOM\nmore", wall_time=3.2)
    return Trial("k", {}, metrics={"best_acc": acc}, wall_time=12.4)


def test_a_terminal_no_one_sized_gets_plain_lines(monkeypatch):
    """A pseudo-terminal of 0 columns (``script``, some CI runners): tqdm would draw nothing there."""
    import fcntl
    import os
    import struct
    import termios

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    leader, follower = os.openpty()
    with open(follower, "w") as stream, open(leader, "rb", buffering=0):
        assert stream.isatty() and os.get_terminal_size(stream.fileno()).columns == 0
        assert not progress.interactive(stream) and not progress.Follower("feed", stream=stream).tty
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        assert progress.interactive(stream) and progress.Follower("feed", stream=stream).tty


def test_plain_lines_in_a_log_with_the_best_so_far(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    out = _Stream(tty=False)
    p = progress.StudyProgress("round1 random s0", 3, show=True, stream=out)
    for t in (_trial(0.655), _trial(0.412), _trial(None, ok=False)):
        p.finished(t)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["round1 random s0  trial 1/3  best_acc 0.655  (12 s)  best so far 0.655",
                         "round1 random s0  trial 2/3  best_acc 0.412  (12 s)  best so far 0.655"]
    assert lines[2] == "round1 random s0  trial 3/3  failed: ResourceExhaustedError: OOM  (3 s)"
    assert not ESCAPES.search(out.getvalue())
    assert progress.trial_line("r", 1, 2, _trial(float("nan")), float("-inf")).endswith(
        "best_acc nan  (12 s)  best so far -")  # a diverged first trial: no best yet
    failed = _trial(None, ok=False)
    assert progress.trial_line("r", 1, 2, failed, 0.5, served=True).endswith("failed: ResourceExhaustedError: OOM  "
                                                                            "(from the ledger)")
    long = Trial("k", {}, wall_time=1.0, status="failed", error="ValueError: Received `inputs` shape (None, 0, 0, 4) "
                 "which is not compatible with the expected input shape\nsecond line")
    assert progress.trial_line("r", 1, 2, long, 0.5).endswith(  # cut at a word, and said to be cut
        "failed: ValueError: Received `inputs` shape (None, 0, 0, 4) which is not compatible...  (1 s)")
    diverged = Trial("k", {}, metrics={"best_acc": 0.101}, wall_time=2.0, status="diverged")
    assert progress.trial_line("r", 2, 2, diverged, 0.5).endswith("best_acc 0.101 (diverged)  (2 s)  best so far 0.500")
    quiet = _Stream(tty=False)
    progress.StudyProgress("x", 1, show=False, stream=quiet).finished(_trial(0.5))
    assert quiet.getvalue() == ""


def test_rung_trials_count_configs_and_a_budget_alone_has_no_total(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    def rung(key, epochs, acc):
        return Trial(f"{key}-e{epochs}", {}, metrics={"best_acc": acc, "rung": epochs, "rung_of": key}, epochs=epochs)

    out = _Stream(tty=False)
    p = progress.StudyProgress("round1 asha s0", 2, show=True, stream=out)
    failed = Trial.failed("a-e3", {}, "OOM")
    failed.metrics["rung_of"] = "a"  # a failed promotion names its config (fidelity.failed_fields)
    for t in (rung("a", 1, 0.2), rung("b", 1, 0.3), rung("b", 3, 0.5), rung("b", 9, 0.7), failed):
        p.finished(t)
    lines = [ln.split("  best_acc")[0] for ln in out.getvalue().splitlines()]
    assert lines == ["round1 asha s0  trial 1 at 1 epochs  configs 1/2", "round1 asha s0  trial 2 at 1 epochs  configs 2/2",
                     "round1 asha s0  trial 3 at 3 epochs  configs 2/2", "round1 asha s0  trial 4 at 9 epochs  configs 2/2",
                     "round1 asha s0  trial 5  configs 2/2  failed: OOM  (0 s)"]
    bar = progress.StudyProgress("round1 asha s0", 2, show=True, stream=_Stream(tty=True))
    for t in (rung("a", 1, 0.2), rung("a", 3, 0.3), rung("b", 1, 0.3), failed):
        bar.finished(t)
    assert bar.bar.n == 2  # the bar counts configs, not rung trials
    bar.close()
    out = _Stream(tty=False)
    p = progress.StudyProgress("round1 random s0", None, show=True, stream=out)  # --budget-hours alone
    p.finished(_trial(0.5))
    assert out.getvalue().startswith("round1 random s0  trial 1  best_acc 0.500")


def test_a_trial_finishing_out_of_order_names_its_number_in_the_study(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    out = _Stream(tty=False)
    p = progress.StudyProgress("round1 random s0", 3, show=True, stream=out)
    for number in (2, 1, 3):  # two workers: trial 2 ends first
        p.finished(_trial(0.5), number=number)
    rung = Trial("a-e3", {}, metrics={"best_acc": 0.5, "rung": 3, "rung_of": "a"})
    assert progress.trial_line("r", 4, 2, rung, 0.5, configs=2, number=6).startswith(
        "r  trial 6 (4 done) at 3 epochs  configs 2/2  best_acc")
    assert [ln.split("  best_acc")[0] for ln in out.getvalue().splitlines()] == [
        "round1 random s0  trial 2 (1/3 done)", "round1 random s0  trial 1 (2/3 done)", "round1 random s0  trial 3/3"]


def test_follower_prints_trials_and_shows_epochs_only_at_a_terminal(tmp_path, monkeypatch):
    feed = tmp_path / "feed"
    monkeypatch.setenv(progress.ENV, str(feed))
    p = progress.StudyProgress("r s0", 2, show=False)
    progress.epoch(1, {"val_accuracy": 0.3}, 4)
    progress.epoch(2, {"val_accuracy": 0.5}, 4)
    p.finished(_trial(0.5))
    progress.epoch(1, {"val_accuracy": 0.2}, 4)
    with open(feed, "ab") as f:
        f.write(b"trial\tunfinished li")  # a line still being written is not printed
    for tty in (True, False):
        out = _Stream(tty)
        with progress.Follower(feed, stream=out, interval=0.01):
            pass
        text = out.getvalue()
        assert "r s0  trial 1/2  best_acc 0.500  (12 s)  best so far 0.500\n" in text
        assert "unfinished" not in text
        if tty:
            assert "\rr s0  trial 1/2  epoch 2/4  val_acc 0.500\x1b[K" in text
            assert "\rr s0  trial 2/2  epoch 1/4  val_acc 0.200\x1b[K" in text
            assert text.endswith("\r\x1b[K")  # the status line is cleared at the end
        else:
            assert text == "r s0  trial 1/2  best_acc 0.500  (12 s)  best so far 0.500\n"


def test_follower_stops_writing_when_its_reader_is_gone(tmp_path, monkeypatch):
    """`studylib run ... | head -1`: the relay thread must not die with a traceback."""
    import os
    import threading

    feed = tmp_path / "feed"
    monkeypatch.setenv(progress.ENV, str(feed))
    progress.StudyProgress("r s0", 2, show=False).finished(_trial(0.5))
    read, write = os.pipe()
    os.close(read)
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    closed = open(write, "w")
    follower = progress.Follower(feed, stream=closed, tty=False, interval=0.01)
    with follower:
        time.sleep(0.1)  # the thread drains the feed into the closed pipe
    assert follower.stream is None and errors == []
    with pytest.raises(BrokenPipeError):  # what it could not write is still buffered: the CLI's handler's part
        closed.close()


def test_search_prints_a_plain_line_per_trial_when_stderr_is_a_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studylib.cli", "search", "round1", "--dataset", "synthetic",
                        "--trials", "3", "--max-epochs", "1", "--out", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [m for m in map(TRIAL_LINE.match, r.stderr.splitlines()) if m]
    assert [(m["label"], m["i"], m["n"]) for m in lines] == [("round1 random s0", str(i), "3") for i in (1, 2, 3)]
    assert lines[-1]["best"] == f"{max(float(m['acc']) for m in lines):.3f}"
    assert not ESCAPES.search(r.stderr + r.stdout)


@pytest.mark.slow
def test_run_shows_each_trial_while_the_notebook_executes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "tiny.ipynb", [
        "from studylib.study import search\n"
        "r = search('round1', out_dir, dataset=dataset, trials=2, max_epochs=2, executor='serial', progress=False)\n"
        "print(len(r.frame))"])
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", folder)
    monkeypatch.delenv(progress.ENV, raising=False)
    rc = cli.main(["run", "tiny", "--dataset", "synthetic", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = [m for m in map(TRIAL_LINE.match, err.splitlines()) if m]  # progress on stderr, as search's
    assert [(m["label"], m["i"], m["n"]) for m in lines] == [("round1 random s0", "1", "2"), ("round1 random s0", "2", "2")]
    assert "tiny: executing" in out and "done in" in out and "trial 1/2" not in out
    assert not ESCAPES.search(out + err)
    assert not list((tmp_path / "out").rglob("progress.feed"))  # the progress file is gone
    assert not list((tmp_path / "out").glob("**/kernel.log"))


def test_epoch_lines_of_a_multi_fidelity_study_count_no_trials_against_its_configs(tmp_path, monkeypatch):
    feed = tmp_path / "feed"
    monkeypatch.setenv(progress.ENV, str(feed))
    bar = progress.StudyProgress("round1 asha s0", 6, show=False, rungs=True)  # total: 6 configs
    progress.epoch(1, {"val_accuracy": 0.3}, 1)
    bar.finished(Trial("a-e1", {}, metrics={"best_acc": 0.3, "rung": 1, "rung_of": "a"}, epochs=1))
    progress.epoch(1, {"val_accuracy": 0.4}, 1)
    epochs = [text for kind, text in (line.split("\t") for line in feed.read_text().splitlines()) if kind == "epoch"]
    assert epochs == ["round1 asha s0  trial 1  epoch 1/1  val_acc 0.300", "round1 asha s0  trial 2  epoch 1/1  val_acc 0.400"]


def test_a_study_writes_its_epochs_and_trials_to_the_progress_file(tmp_path, monkeypatch):
    from studylib.study import search

    feed = tmp_path / "feed"
    monkeypatch.setenv(progress.ENV, str(feed))
    search("round1", tmp_path / "out", dataset="synthetic", trials=2, max_epochs=2, executor="serial", progress=False)
    kinds = [line.split("\t") for line in feed.read_text().splitlines()]
    assert [k for k, _ in kinds] == ["epoch", "epoch", "trial"] * 2
    epochs = [re.fullmatch(r"round1 random s0  trial (\d)/2  epoch (\d)/2  val_acc \d\.\d{3}", text)
              for k, text in kinds if k == "epoch"]
    assert [(m[1], m[2]) for m in epochs] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    assert [TRIAL_LINE.match(text)["i"] for k, text in kinds if k == "trial"] == ["1", "2"]


def test_a_study_hands_each_finished_trial_its_number(tmp_path, monkeypatch):
    from studylib import study

    numbers = []
    real = progress.StudyProgress.finished
    monkeypatch.setattr(progress.StudyProgress, "finished",
                        lambda self, trial, served=False, number=None: (numbers.append(number),
                                                                         real(self, trial, served, number)))
    kwargs = dict(trials=2, dataset="synthetic", max_epochs=1, executor="inline", progress=False)
    study.search("round1", tmp_path, **kwargs)
    study.search("round1", tmp_path, **{**kwargs, "trials": 3})  # two from the ledger, one trained
    assert numbers == [1, 2, 1, 2, 3]


def test_counts_are_plural_only_when_not_one():
    from studylib.progress import count

    assert [count(n, "seed") for n in (0, 1, 2)] == ["0 seeds", "1 seed", "2 seeds"]
    assert [count(n, "strategy", "strategies") for n in (1, 6)] == ["1 strategy", "6 strategies"]
