"""``python -m studylib``: the ``studylib`` command."""
import sys

from .cli import main

sys.exit(main())
