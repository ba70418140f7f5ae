"""What the study loop (:mod:`studylib.loop`) keeps of each proposal: an :class:`Entry` in one
named :class:`State`.

The loop's scheduler keeps one :class:`Entry` per proposal; each entry is in one named state:

* ``PROPOSED``: asked of the strategy, not started (under a budget it may wait for the executor
  to have room and the budget to cover it);
* ``RUNNING``: submitted to the executor (or waiting for the same trial another entry runs);
* ``SERVED``: answered from the ledger (a repeat, or a trial another study evaluated; a later
  rung of a config whose rung trial failed is answered with that failure: it trains no further);
* ``FINISHED``: its trial came back from the executor and is recorded;
* ``TOLD``: its result was told to the strategy (the entry is done);
* ``DROPPED``: over the trial cap or the budget: never evaluated nor told.

What an entry asks for is a frozen :class:`~studylib.fidelity.TrialId` (config key, rung epochs,
epoch cap, run; its ``key`` is the ledger key); under an epoch budget the trial answering a plain
proposal may be a capped one (``TrialId(config, cap=epochs left)``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from .fidelity import TrialId
from .strategies import Proposal, Replicate, config_of
from .trial import Trial


class State(enum.Enum):
    PROPOSED = "proposed"
    RUNNING = "running"
    SERVED = "served"
    FINISHED = "finished"
    TOLD = "told"
    DROPPED = "dropped"


READY = (State.SERVED, State.FINISHED, State.DROPPED)  # may leave the window (told, or skipped)


@dataclass(eq=False)
class Entry:
    """One proposal (a config or a :class:`Proposal`): what it asks for (``wanted``), the ledger
    key of the trial that answers it (``key``: ``wanted.key``, or a capped trial's), its state and
    (once known) its trial."""

    item: dict | Proposal
    wanted: TrialId
    key: str
    state: State = State.PROPOSED
    trial: Trial | None = None
    reserved: int = 0  # epochs reserved from the budget while it runs

    @property
    def config(self) -> dict:
        return config_of(self.item)

    @property
    def epochs(self) -> int | None:
        return int(self.item.epochs) if isinstance(self.item, Proposal) else None


def wanted_of(item, key: Callable[[dict], str]) -> TrialId:
    """What a proposal asks for: a plain config, a rung (:class:`Proposal`) or a run of a config
    (:class:`Replicate`)."""
    if isinstance(item, Proposal):
        return TrialId(key(item.config), int(item.epochs))
    if isinstance(item, Replicate):
        return TrialId(key(item.config), run=int(item.run))
    return TrialId(key(item))


@dataclass
class LoopCounts:
    evaluated: int = 0  # charged: run by the executor now
    served: int = 0     # distinct trials answered from the ledger
    repeats: int = 0    # proposals of configs the study already had
