"""What a user gives (a flag, a notebook parameter, a keyword), checked in one place: each number
check returns the plain Python value or raises :class:`StudyError` with a one-line message
naming the value; :func:`closest` names what a misspelt name most likely meant. No randomness."""
from __future__ import annotations

import difflib
import math
import numbers

from .errors import StudyError


def whole_number(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` (a notebook's numpy integer too; never a bool); else
    :class:`StudyError`: ``<name> must be a positive integer`` (``minimum`` 1) or ``a
    non-negative integer`` (``minimum`` 0), naming the value given."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise StudyError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def real_number(name: str, value, *, zero: bool = False) -> int | float:
    """``value`` as a plain ``int`` or ``float``, finite and above 0 (``zero``: 0 too; a numpy
    number too; never a bool); else :class:`StudyError`: ``<name> must be a positive number``
    (``a non-negative number``, ``a finite number``), naming the value given."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
        raise StudyError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0 or (value == 0 and not zero):
        raise StudyError(f"{name} must be a {'non-negative' if zero else 'positive'} number, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def closest(name, allowed) -> str | None:
    """The one of ``allowed`` that ``name`` most likely misspells (difflib's closest match), if any."""
    close = difflib.get_close_matches(str(name), list(allowed), n=1)
    return close[0] if close else None
