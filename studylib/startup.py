"""Checks made as a study starts, about what surrounds it: the script that called studylib (Dask's
and multiprocessing's spawned workers import it again, so a call outside its main guard starts the
study again in each) and the Dask scheduler it joins. No randomness here."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import StudyError, first_line

#: Where a script's studylib calls go when worker processes start (they import the script).
GUARD = '`if __name__ == "__main__":`'


def check_not_a_reimport() -> None:
    """Refuse a study started by a script that a spawned worker process (Dask's, multiprocessing's)
    is importing, as ``__mp_main__``, to start: its call to studylib is not under :data:`GUARD`. A
    worker says so in one line and exits (no traceback per worker); elsewhere a StudyError."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            why = (f"a worker process is re-running the script that started the study: call studylib under {GUARD} "
                   "(each worker process imports that script)")
            if "--multiprocessing-fork" in getattr(sys, "orig_argv", ()):  # a spawned worker (multiprocessing.spawn)
                sys.stderr.write(f"studylib: error: {why}\n")
                raise SystemExit(1)
            raise StudyError(why)
        frame = frame.f_back


def main_script_unguarded() -> bool:
    """Whether this process's script (``__main__``'s file) called studylib from code outside
    :data:`GUARD`, which each spawned worker process, importing the script, runs again: the call's
    line in the script's top-level frame, outside every top-level ``if __name__ ...`` block. Never
    for ``python -m pkg`` (spawn does not import a ``__main__`` module again), a notebook or a
    console."""
    import ast

    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return False
    path = getattr(main, "__file__", None)
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None or not path:
        return False
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return False
    line = frame.f_lineno
    return not any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)
                   and node.lineno <= line <= node.end_lineno for node in tree.body)


def note_no_scheduler_yet(address: str | None) -> None:
    """Say so when nothing listens at a Dask scheduler ``address`` yet (Dask waits 30 s for one to
    start there, then stops the study with one line)."""
    import socket

    from .cliargs import host_port

    parts = host_port(address) if isinstance(address, str) and not os.path.isfile(address) else None
    if parts is None:
        return
    try:
        socket.create_connection(parts, timeout=2).close()
    except ConnectionRefusedError:
        sys.stderr.write(f"studylib: note: nothing listens at {address} (connection refused); Dask waits 30 s for a "
                         "scheduler to start there (is it started, at that port?)\n")
    except (OSError, UnicodeError):  # no answer yet, no network, a name that is none: Dask's message says it
        pass


def workers_did_not_start(error: RuntimeError) -> StudyError | None:
    """Dask's local workers failing to start (distributed's "Nanny failed to start") as one
    StudyError, naming the main guard where the script called studylib outside one; None for
    another error. Its cause stays ``error``."""
    if "Nanny failed to start" not in str(error):
        return None
    why = (f"the script that started the study starts it again at import, as each worker process imports it: "
           f"call studylib under {GUARD}" if main_script_unguarded() else "their own errors are above")
    failed = StudyError(f"Dask's local workers did not start ({first_line(error)}); {why}")
    failed.__cause__ = error
    return failed
