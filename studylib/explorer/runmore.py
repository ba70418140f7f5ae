"""Running more trials of a study recorded in a ledger (the explorer's "run more" button).

Randomness: the strategy's and the training's, from the study's seed (or the one given).
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import StudyError
from ..ledger import Ledger

if TYPE_CHECKING:
    from ..study_spec import StudySpec


def continue_study(ledger: str | Path, study: dict, more: int, *, strategy: str | None = None,
                   seed: int | None = None, on_trial: Callable[[], None] | None = None, epoch_bars: bool = False,
                   executor: str | None = None):
    """Run ``more`` new trials into the folder of ``ledger`` for ``study`` (an item of
    ``Ledger.studies()``): same space, dataset (checked by its hash), budget and data sizes;
    ``strategy``/``seed`` default to the study's. The same strategy and seed continue that study
    (:class:`StudyError` if this version runs the strategy with other defaults, so it cannot);
    others start (or continue) their own study in the same folder, beside it. ``on_trial()`` is
    called after each finished trial; ``epoch_bars`` shows tqdm.auto epoch bars; ``executor``
    names where trials run (default: the library's, a child process; ``"inline"``: this
    process). Returns the ``StudyResult``."""
    from ..executors import make_executor
    from ..study import run_study
    from ..study_spec import rebuilt, whole_number

    more = whole_number("the number of new trials", more)
    same_strategy = strategy in (None, study["spec"].get("strategy"))
    new_spec, data = rebuilt(study, strategy, seed)
    new_id = _check_continuable(study, new_spec, data.fingerprint, same_strategy)
    with Ledger(ledger) as led:  # --trials counts configs, not the rung trials of a multi-fidelity study
        keys = led.study_keys(new_id)
        done = len(_configs(led, keys))
        tried = {json.dumps(t.config, sort_keys=True) for t in map(led.get, keys) if t is not None}
    space = new_spec.space
    if len(tried) >= space.size:  # replicates and a budget's capped runs are no new configs
        raise StudyError(f"study {new_id} has tried every config of its space ({space.size}): there is nothing "
                         "more to run (another seed or strategy starts a study beside it, with the same configs)")
    new_spec.trials = done + more
    return run_study(new_spec, data, Path(ledger).parent, executor=make_executor(executor, progress=epoch_bars),
                     progress=False, on_trial=(lambda _trial: on_trial()) if on_trial else None)


def _check_continuable(study: dict, new_spec: StudySpec, data_hash: str, same_strategy: bool) -> str:
    """The id of the study ``new_spec`` runs; :class:`StudyError` where it has ``study``'s
    strategy and seed but another id (the strategy's defaults or the settings changed since)."""
    from ..study_spec import identity_differences

    spec, sid = study["spec"], study["study_id"]
    new_id = new_spec.study_id(data_hash)
    if same_strategy and new_spec.seed == spec.get("seed", 0) and new_id != sid:
        changed = identity_differences(new_spec.identity(data_hash), spec)
        defaults_only = changed and all(d.startswith("strategy_defaults.") for d in changed)
        what = (f"{new_spec.strategy}'s defaults ({', '.join(d.split('.', 1)[1] for d in changed)})" if defaults_only
                else f"its settings ({', '.join(changed) or 'nothing recorded'})")
        raise StudyError(f"study {sid} cannot be continued: {what} changed since it ran, so the same seed would "
                         f"start another study; choose another seed to start one beside it")
    return new_id


def _configs(ledger, keys) -> set[str]:
    """The distinct trials ``--trials`` counts among ``keys``: a rung trial counts as its config
    (``rung_of``, the config's key), any other trial as itself."""
    out = set()
    for key in keys:
        trial = ledger.get(key)
        out.add(str(trial.metrics.get("rung_of") or key) if trial is not None else key)
    return out


@contextmanager
def stderr_to(path: Path):
    """Point file descriptor 2 at ``path`` (appending) for the block: child processes started in
    it (the trial processes) write their stderr there, not into the notebook or the page."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    try:
        with open(path, "ab") as f:
            os.dup2(f.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook, Voilà)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None
