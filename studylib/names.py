"""Comma-separated lists of names, as flags and notebook parameters give them (``--strategies a,b``)."""
from collections.abc import Iterable

from .errors import StudyError


def split_names(spec: str | Iterable[str], what: str = "names") -> list[str]:
    """``"a, b,,c"`` or ``["a", " b"]`` -> ``["a", "b", "c"]``: each stripped, empty ones dropped,
    order and repeats kept. Anything but a string or an iterable of names: a one-line error naming
    ``what``."""
    if isinstance(spec, str):
        items = spec.split(",")
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, dict)):
        items = list(spec)
    else:
        raise StudyError(f"{what} must be names separated by commas (or a list), got {spec!r}")
    return [s for s in (str(n).strip() for n in items) if s]
