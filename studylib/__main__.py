"""``python -m studylib``: the ``studylib`` command."""
from .cli import entry

entry()
