"""User-facing errors: the CLI prints their message as one line and exits 2."""


class StudyError(Exception):
    """Bad input from the user (space file, flag, dataset path, budget...)."""
