"""Files written whole or not at all: through a temporary file in the same folder, renamed into place
(a reader, or a run killed mid-write, never sees half a file). No randomness."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def write_with(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``; returns ``path``.
    The temporary file is this writer's own (process and thread: two writers never rename or
    delete each other's) and does not outlive a failed or interrupted write."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_with`); returns ``path``."""
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
