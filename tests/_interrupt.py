"""Ctrl-C as a terminal sends it: SIGINT to the command's whole process group (or, as ``timeout``
and batch systems do, SIGTERM)."""
from __future__ import annotations

import os
import signal
import subprocess


def interrupt_when(cmd: list[str], marker: str, timeout: float = 120,
                   sig: signal.Signals = signal.SIGINT, group: bool = True) -> tuple[int, list[str]]:
    """Run ``cmd`` in a process group of its own (SIGINT handled as at a terminal, also when the
    tests run in the background), send ``sig`` to the group (``group=False``: to the command's
    process alone, as ``kill PID``) once a stderr line holds ``marker``; returns (exit code, stderr
    lines, read until every process that holds stderr has closed it)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        for line in p.stderr:
            lines.append(line)
            if marker in line:
                break
        (os.killpg if group else os.kill)(p.pid, sig)
        lines += p.stderr.readlines()
        return p.wait(timeout=timeout), lines
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
