"""Ctrl-C that is not lost, and SIGTERM that stops a command as Ctrl-C does. Python runs a
signal's handler in whatever Python code the main thread runs next; when that is a
garbage-collector callback (Dask's ``GCDiagnosis``, JAX's) or a ``__del__``, the
KeyboardInterrupt it raises is printed as "Exception ignored in ..." and dropped, and the study
went on to its end. No randomness here."""
from __future__ import annotations

import _thread
import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Callable, NoReturn


#: The signals a command was sent to stop by, until a KeyboardInterrupt leaves the block it was
#: sent in (the main thread's; a list, not a set: one append is atomic in a signal handler).
_asked: list[int] = []
#: Timers that will simulate a dropped stop's signal again (:func:`interrupts_not_lost`).
_pending: list[threading.Timer] = []


def _handled(signum: int) -> bool:
    """Whether Python code handles ``signum`` (``interrupt_main`` does nothing for the others)."""
    return callable(signal.getsignal(signum))


def _stop():
    """Raise the stop: its KeyboardInterrupt, once (a timer still waiting to raise it again would
    cut the cleanup short)."""
    for timer in _pending:
        timer.cancel()
    _pending.clear()
    raise KeyboardInterrupt


def stop_if_asked() -> None:
    """Raise the KeyboardInterrupt of a stop that was asked for but went missing: a C library
    clears the error a signal handler raised without a word (the unraisable hook never sees it),
    or a dropped one's timer has not fired yet. A study calls it after each trial."""
    if _asked:
        _stop()


def stopping() -> bool:
    """Whether a stop is under way: asked for and not yet out of its block, or unwinding now."""
    return bool(_asked) or isinstance(sys.exc_info()[1], KeyboardInterrupt)


def stop_handled() -> None:
    """A KeyboardInterrupt caught and answered as the end of the work (the explorer's "explorer
    stopped"): no stop is owed when the block ends."""
    _asked.clear()


def _ctrl_c(signum, frame):
    """SIGINT as Python's own handler, remembered (:data:`_asked`)."""
    _asked.append(signum)
    _stop()


@contextlib.contextmanager
def interrupts_not_lost(delay: float = 0.05):
    """While inside (in the main thread; elsewhere it does nothing), a KeyboardInterrupt that
    Python would drop as unraisable is raised again in the code that runs ``delay`` seconds later,
    and its "Exception ignored" traceback is not printed (one dropped while a stop unwinds is left
    dropped: the cleanup runs to its end). The signal is simulated again (the one last asked for,
    else SIGINT, or SIGTERM where SIGINT is ignored) from a timer thread: simulated at once, its
    handler would run in this hook and be dropped again. A stop asked for and not raised by the
    end of the block is raised there (a block inside another may end first). Every other
    unraisable exception goes to the hook that was there before."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            previous(unraisable)
            return
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):  # dropped in the cleanup of a stop under way:
            return  # raised again, it would cut that short (a double Ctrl-C's second, or a copy of the first)
        signum = next((s for s in (*_asked[-1:], signal.SIGINT, signal.SIGTERM) if _handled(s)), None)
        if signum is None:  # nothing in Python would raise it again: say what was dropped, as Python does
            previous(unraisable)
            return
        if not _asked:
            _asked.append(signum)
        timer = threading.Timer(delay, _thread.interrupt_main, args=(signum,))
        timer.daemon = True
        _pending.append(timer)
        timer.start()

    sys.unraisablehook = hook
    stopped = True
    try:
        yield
        stopped = False
    finally:
        if sys.unraisablehook is hook:  # else another block (a thread's) replaced it since: leave theirs
            sys.unraisablehook = previous
        for timer in _pending:  # one still waiting must not interrupt what runs after
            timer.cancel()
        _pending.clear()
        if stopped:  # an exception leaves: a KeyboardInterrupt is the stop asked for (anything else says more)
            _asked.clear()
    if _asked:
        _asked.clear()
        raise KeyboardInterrupt


def _put_back(handlers: list) -> None:
    """Each (signal, handler) set again, every one even when a signal's KeyboardInterrupt arrives
    half way (ours would stay installed after the command)."""
    if not handlers:
        return
    (signum, handler), *rest = handlers
    try:
        if handler is not None:
            signal.signal(signum, handler)
    finally:
        _put_back(rest)


@contextlib.contextmanager
def stopped_like_ctrl_c(stoppable: bool = True):
    """A command's run: inside :func:`interrupts_not_lost` and, for a ``stoppable`` command (one
    that stops part way: a study, a bench, a model's training), Ctrl-C remembered as it is raised
    (where SIGINT has Python's own handler), so a stop that goes missing is raised after the trial
    it hit (:func:`stop_if_asked`), and SIGTERM (a batch system's, ``timeout``'s) raising
    KeyboardInterrupt as Ctrl-C does, so the command stops the same way (its workers shut down,
    its files whole or not written). Outside the main thread the handlers are left as they are."""
    dask_log = logging.getLogger("distributed")
    dask_level = dask_log.level
    main_pid = os.getpid()

    def terminate(signum, frame):
        if os.getpid() != main_pid:  # a forked pool worker (bench's) inherited this: stop as SIGTERM stops it
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if "distributed" in sys.modules:  # a process group's SIGTERM kills the local Dask workers too: the
            dask_log.setLevel(logging.CRITICAL)  # scheduler would log each loss at ERROR (set back on return)
        _asked.append(signum)
        _stop()

    _asked.clear()  # one that came after an earlier command's block in this process is not this one's
    previous = {}
    try:
        if stoppable:
            previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, terminate)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                previous[signal.SIGINT] = signal.signal(signal.SIGINT, _ctrl_c)
    except ValueError:  # not the main thread
        pass
    try:
        with interrupts_not_lost():
            yield
    finally:
        try:
            _put_back(list(previous.items()))
        finally:
            dask_log.setLevel(dask_level)


def exit_with(command: Callable[[], int]) -> NoReturn:
    """Run ``command`` (a process's one command: the ``studylib`` script) and exit with its code,
    which a Ctrl-C or SIGTERM while Python shuts down no longer undoes (what it wrote is whole by
    then; it used to end the process as killed by the signal, 130 or 143, nothing said after the
    command's last line). While Python waits for threads and runs the exit functions that
    libraries registered during the command (a Dask cluster's close), the signal ends the process
    at once with that code, skipping what is left of them (the commands shut their workers and
    ledgers down themselves); from then on (the modules' teardown, TensorFlow's a second or two,
    after Python put the default handlers back) it is ignored. A signal ignored from the start
    (nohup's SIGINT) stays ignored."""
    finished = []

    def ignore_from_here():  # registered before the command's libraries: Python runs it after theirs
        if finished:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)

    atexit.register(ignore_from_here)
    code = command()
    finished.append(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader gone (a closed pipe): nothing more to say to it
            stream.flush()

    def leave(signum, frame):
        os._exit(code)

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, leave)
    sys.exit(code)
