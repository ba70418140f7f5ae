"""User-facing errors: the CLI prints their message as one line and exits 2."""
import re


class StudyError(Exception):
    """Bad input from the user (space file, flag, dataset path, budget...)."""


def first_line(what) -> str:
    """The first non-empty line of ``what`` (text, or an exception's message) without terminal
    colour codes; an exception without a message gives its type's name, nothing else ``""``."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(what or "")).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line or (type(what).__name__ if isinstance(what, BaseException) else "")
