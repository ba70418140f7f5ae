"""Ctrl-C that is not lost, and SIGTERM that stops a command as Ctrl-C does. Python runs a
signal's handler in whatever Python code the main thread runs next; when that is a
garbage-collector callback (Dask's ``GCDiagnosis``, JAX's) or a ``__del__``, the
KeyboardInterrupt it raises is printed as "Exception ignored in ..." and dropped, and the study
went on to its end. No randomness here."""
from __future__ import annotations

import _thread
import contextlib
import logging
import os
import signal
import sys
import threading


def _handled(signum: int) -> bool:
    """Whether Python code handles ``signum`` (``interrupt_main`` does nothing for the others)."""
    return callable(signal.getsignal(signum))


@contextlib.contextmanager
def interrupts_not_lost(delay: float = 0.05):
    """While inside, a KeyboardInterrupt that Python would drop as unraisable is raised again in
    the code that runs ``delay`` seconds later, and its "Exception ignored" traceback is not
    printed. The signal is simulated again (SIGINT, or SIGTERM where SIGINT is ignored and SIGTERM
    handled) from a timer thread: simulated at once, its handler would run in this hook and be
    dropped again. Every other unraisable exception goes to the hook that was there before."""
    previous = sys.unraisablehook
    timers: list[threading.Timer] = []

    def hook(unraisable):
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            previous(unraisable)
            return
        signum = next((s for s in (signal.SIGINT, signal.SIGTERM) if _handled(s)), None)
        if signum is None:  # nothing in Python would raise it again: say what was dropped, as Python does
            previous(unraisable)
            return
        timer = threading.Timer(delay, _thread.interrupt_main, args=(signum,))
        timer.daemon = True
        timers.append(timer)
        timer.start()

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        for timer in timers:  # one still waiting must not interrupt what runs after
            timer.cancel()


@contextlib.contextmanager
def stopped_like_ctrl_c(sigterm: bool = True):
    """A command's run: inside :func:`interrupts_not_lost` and, with ``sigterm``, SIGTERM (a batch
    system's, ``timeout``'s) raising KeyboardInterrupt as Ctrl-C does, so the command stops the
    same way (its workers shut down, its files whole or not written). Outside the main thread
    SIGTERM is left as it is."""
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
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, terminate) if sigterm else None
    except ValueError:  # not the main thread
        previous = None
    try:
        with interrupts_not_lost():
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        dask_log.setLevel(dask_level)
