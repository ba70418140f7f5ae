"""Execute one notebook with papermill, in this interpreter, for ``studylib run``
(:mod:`studylib.runner` chooses the rounds and their parameters).

The kernel is this interpreter (``sys.executable``), whatever the machine's ``python3``
kernelspec says; the kernel process's own output (TensorFlow's C++ lines, ipykernel's warnings)
goes to ``<round>/kernel.log``, kept only when the round failed; the studies in the notebook
append their trial lines to ``<round>/progress.feed``, which :class:`~studylib.progress.Follower`
relays to stderr while the notebook runs. A failing cell is a one-line :class:`RoundFailed`.
Heavy imports (papermill, jupyter_client) stay inside functions.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

from .interrupts import stopping

KERNEL_NAME = "python3"
#: the kernel's command line: ipykernel in *this* interpreter (run's notebooks, the explorer's kernel)
KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def error_output(nb: dict) -> tuple[dict, dict] | None:
    """The first code cell of the notebook ``nb`` (its JSON) that raised, and its error output."""
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return cell, out
    return None


def kernel_manager_class(log_path: Path | None = None, progress_path: Path | None = None):
    """A KernelManager that starts ipykernel with *this* interpreter (``sys.executable``), so a
    notebook always runs in the environment ``studylib`` is installed in — whatever the
    ``python3`` kernelspec on this machine points to (or whether there is one at all). The
    kernel process's own stdout/stderr (TensorFlow's C++ start-up lines, ipykernel's warnings;
    not the cells' output, which goes into the notebook) go to ``log_path``; its studies append
    their progress lines to ``progress_path`` (:mod:`studylib.progress`)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    from .progress import ENV

    class StudylibKernelManager(AsyncKernelManager):
        @property
        def kernel_spec(self):
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=list(KERNEL_ARGV),
                    display_name=f"Python 3 ({sys.prefix})", language="python", name=KERNEL_NAME,
                    resource_dir="", metadata={"debugger": False})
            return self._kernel_spec

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if progress_path is not None:
                kw["env"] = {**(kw.get("env") or os.environ), ENV: str(progress_path)}
            if log_path is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(log_path, "ab") as log:
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", log)
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return StudylibKernelManager


def execute(name: str, nb: Path, out: Path, params: dict, *, progress: bool = True) -> float:
    """Run ``nb`` into ``out/<name>.ipynb``; raises :class:`RoundFailed` when a cell fails. The
    kernel process's own output goes to ``out/<name>/kernel.log``, kept only when the run failed.
    With ``progress``, each finished trial (and, at a terminal, the running trial's epochs) is
    printed while the notebook runs (:class:`studylib.progress.Follower`); papermill's own cell
    bar stays off (it would fight the status line, and is escape-code clutter in a log)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .errors import first_line

    target = out / f"{name}.ipynb"
    log = out / name / "kernel.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    start = time.perf_counter()
    feed = str(log.parent / "progress.feed")  # in the round's folder: a run killed with -9 leaves nothing in /tmp
    Path(feed).write_bytes(b"")
    with _quiet_once_stopped() as quiet:
        try:
            with _follow(feed, progress):
                papermill.execute_notebook(str(nb), str(target), parameters=params, kernel_name=KERNEL_NAME,
                                           language="python", progress_bar=False, cwd=str(out),
                                           kernel_manager_class=kernel_manager_class(log, Path(feed)))
        except PapermillExecutionError as e:
            number, source = _failed_cell(target)
            run_as = f"In [{e.exec_count}]" if e.exec_count else f"cell #{e.cell_index}"
            where = f"cell {number}, {run_as}" if number else run_as  # the author's count, the executed notebook's
            where += f" ({source})" if source else ""
            full = ("; the disk is full: free some space, then re-run the same command to continue from the "
                    "ledger" if "No space left on device" in str(e.evalue) or "database or disk is full" in
                    str(e.evalue) else "")
            raise RoundFailed(f"round {name} failed in {where}: {e.ename}: {first_line(e.evalue)} "
                              f"(partial notebook: {target}){full}") from None
        except Exception as e:  # kernel died, could not start...
            raise RoundFailed(f"round {name} failed: {e.__class__.__name__}: {first_line(e)} "
                              f"(partial notebook: {target}; kernel log: {log})") from None
        except KeyboardInterrupt:  # nothing failed: the ledger keeps the finished trials for a re-run
            quiet.always = True  # the stop's traceback goes at the end of this block, and with it nbclient's
            # cell task, failed with "Kernel died" in the cleanup: its "never retrieved" is not said
        finally:
            Path(feed).unlink(missing_ok=True)
        if quiet.always:
            target.unlink(missing_ok=True)
            log.unlink(missing_ok=True)
            try:
                raise KeyboardInterrupt  # the stop again, its traceback this frame alone
            except KeyboardInterrupt:  # so a second Ctrl-C dropped in the collection is part of it
                gc.collect()  # the rest of what the stop left, in cycles, collected here and not after its line
                raise
    log.unlink(missing_ok=True)  # a clean run leaves nothing but its results
    return time.perf_counter() - start


class _Stopping(logging.Filter):
    """Drops what papermill and asyncio log about the kernel once the command is stopping (a
    KeyboardInterrupt unwinds): the cleanup shuts the kernel down while nbclient's cell task is
    still waiting on it, which then logs "Kernel died while waiting for execute reply." and, when
    collected, "Task exception was never retrieved" with its traceback, around the stop's line."""

    def __init__(self, always: bool = False):
        super().__init__()
        self.always = always

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.always or stopping())


@contextlib.contextmanager
def _quiet_once_stopped():
    """:class:`_Stopping` on papermill's and asyncio's loggers while inside (the block may set its
    ``always``: stopped already, whatever :func:`stopping` says)."""
    quiet, loggers = _Stopping(), [logging.getLogger("papermill"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield quiet
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _follow(feed: str, progress: bool):
    from contextlib import nullcontext

    from .progress import Follower

    return Follower(feed) if progress else nullcontext()


def _failed_cell(ipynb: Path, width: int = 60) -> tuple[int | None, str]:
    """(the number of the code cell that raised as the user's notebook counts them, without the
    cell papermill injected; the first line of its code, shortened), for the one-line error;
    (None, "") if the executed notebook cannot tell."""

    try:
        nb = json.loads(ipynb.read_text())
        failed = error_output(nb)
    except (OSError, ValueError, AttributeError):
        return None, ""
    if failed is None:
        return None, ""
    own = [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"
           and "injected-parameters" not in (c.get("metadata") or {}).get("tags", [])]
    number = next((i for i, c in enumerate(own, 1) if c is failed[0]), None)
    src = cell_source(failed[0])
    line = next((ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    return number, line if len(line) <= width else line[:width - 3] + "..."


class RoundFailed(Exception):
    """A notebook cell raised (or the kernel died); the message is one line."""
