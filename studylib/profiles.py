"""Named run profiles. A profile only sets defaults: every value can be overridden."""
from __future__ import annotations

from .errors import StudyError

#: Rows in the paper's appendix tables, used as the ``paper`` profile's trial counts.
PAPER_TRIALS = {"round1": 29, "round2": 18, "round3": 5}

PROFILES = {
    # Tiny subsets, 2 epochs, a handful of trials: a whole round in a couple of minutes on 2 cores.
    "smoke": {"max_epochs": 2, "patience": 4, "trials": 6, "train_size": 1000, "val_size": 300, "test_size": 300},
    # The paper's protocol: 40k/10k/10k split (the dataset's own split), up to 500 epochs,
    # early-stopping patience 4, the paper's trial counts.
    "paper": {"max_epochs": 500, "patience": 4, "trials": None, "train_size": None, "val_size": None,
              "test_size": None},
}


def check(profile: str) -> str:
    """``profile``, a known profile's name (:class:`StudyError` otherwise)."""
    if profile not in PROFILES:
        raise StudyError(f"unknown profile {profile!r} (choose from: {', '.join(PROFILES)})")
    return profile


def resolve(profile: str, round_name: str = "", **overrides) -> dict:
    """The profile's settings with every non-None override applied."""
    settings = dict(PROFILES[check(profile)])
    if settings["trials"] is None:
        settings["trials"] = PAPER_TRIALS.get(round_name, 30)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings
