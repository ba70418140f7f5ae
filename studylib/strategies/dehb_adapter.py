"""DEHB (differential evolution + Hyperband; Awad et al. 2021) as a multi-fidelity baseline:
``dehb``, the PyPI package ``dehb`` 0.1.2 with its authors' defaults, driven by its ask/tell API.

Space: each dimension becomes a ConfigSpace hyperparameter over its value *indices* (an ordinal
dimension an ``OrdinalHyperparameter``, a categorical one a ``CategoricalHyperparameter``, a
one-value one a ``Constant``), so a DEHB config maps back to the exact values (types included) and
ledger keys match those of every other strategy. Fidelity = epochs: DEHB's fidelities
``max_epochs * eta**-i`` down to ``min_epochs`` (default 1 and eta 3, as tpe-hb/asha) are rounded
to whole epochs (1, 3, 9 for 9 epochs). DEHB minimises: it is told ``fitness = -score`` (the
validation accuracy) and ``cost = epochs``. A job whose config was proposed before at a lower rung
is a promotion (the loop continues it from that rung's checkpoint); a config new at a high rung
(a DE mutant) trains from scratch. A job for a trial already outstanding (DEHB may promote one
config twice in a window of several) is not handed out again: it is told the same result.

Stop rules (:meth:`Strategy.limit`): while new configs are allowed DEHB runs as its authors wrote
it (a new bracket whenever every open one waits for results). Once the trial cap is reached it may
hand out only configs already proposed: no new bracket is opened, and a job of an open bracket
that would be a new config is skipped (its bracket is told it completed, without a result, so the
bracket goes on to its promotions). Under an epoch budget a job that is not a promotion (a new
config, a config at its bracket's first rung, or above a rung of its bracket that handed out no
job) is skipped unless its epochs and the promotions
its open brackets still owe fit in what is left (a rung's promotions are paid only for configs
asked at the rung below and not at theirs; after one job is skipped, that ``ask`` opens no new
bracket). A promotion from a rung whose every job was skipped is skipped too (DEHB's own code
fails on an empty rung). So a study ends with no promotion owed (:meth:`owed`).

Checkpoints: DEHB promotes (the same config to a higher rung) only in its first ``len(rungs)``
brackets; once it starts the next bracket every config is retired (checkpoint deleted), as is
every config told afterwards, and, at the trial cap, every config once nothing more is owed.

Side effects of the package, contained here: its constructor reconfigures ``loguru`` (a stdout
sink) and opens ``dehb.log`` in ``output_path``; the strategy disables ``loguru`` records of the
``dehb`` module, builds it in a temporary folder, removes loguru's handlers and deletes the folder.
It writes nothing else (``save_freq="end"`` and ``run`` is never called).

Randomness: DEHB's own seed (ConfigSpace sampling and its DE generators) is drawn from the
strategy's generator (``self.rng``, seeded with ``seed``), so the same seed gives the same trials.
"""
from __future__ import annotations

import shutil
import tempfile

import numpy as np

from ..errors import StudyError
from ..space import Config, SearchSpace
from .base import Proposal, Retiring, Strategy, quiet

#: DEHB's algorithm options that may be given (anything else is an error); defaults are DEHB's
DEHB_OPTIONS = ("mutation_factor", "crossover_prob", "strategy", "boundary_fix_type", "max_age")


def config_space(space: SearchSpace, seed: int):
    """A ConfigSpace ``ConfigurationSpace`` of ``space``'s value indices (see the module)."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    for d in space.dimensions:
        idx = list(range(len(d)))
        if len(d) == 1:
            cs.add(CS.Constant(d.name, 0))
        elif d.ordinal:
            cs.add(CS.OrdinalHyperparameter(d.name, sequence=idx))
        else:
            cs.add(CS.CategoricalHyperparameter(d.name, choices=idx))
    return cs


def to_config(space: SearchSpace, cs_config) -> Config:
    """A DEHB (ConfigSpace) configuration -> our config dict (the space's own values)."""
    return space.decode(tuple(int(cs_config[d.name]) for d in space.dimensions))


def build_dehb(cs, min_epochs: int, max_epochs: int, eta: float, seed: int, options: dict):
    """DEHB on ``cs`` with one worker (the study's executor runs the trials), quietly (see the module)."""
    try:
        from dehb import DEHB
        from loguru import logger
    except ImportError as e:
        raise StudyError(f"the dehb strategy needs the package dehb 0.1.2 ({e}); install it with "
                         "`pip install --no-deps dehb==0.1.2` (make install does)") from None

    logger.disable("dehb")
    folder = tempfile.mkdtemp(prefix="studylib-dehb-")
    try:
        with quiet():
            dehb = DEHB(cs=cs, min_fidelity=min_epochs, max_fidelity=max_epochs, eta=eta, n_workers=1,
                        seed=int(seed), output_path=folder, save_freq="end", **options)
    finally:
        logger.remove()  # DEHB's stdout and dehb.log sinks (closes the file and its queue thread)
        shutil.rmtree(folder, ignore_errors=True)
    return dehb


class DEHBStrategy(Retiring, Strategy):
    """Options: ``min_epochs`` [1], ``eta`` [3] (DEHB's default), ``max_epochs`` (given by the
    study), and DEHB's own :data:`DEHB_OPTIONS` (its defaults otherwise)."""

    name = "dehb"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, max_epochs: int, min_epochs: int = 1,
                 eta: float = 3, **options):
        unknown = sorted(set(options) - set(DEHB_OPTIONS))
        if unknown:
            raise TypeError(f"{self.name}: unknown options {unknown}")
        super().__init__(space, seed)
        if not (isinstance(min_epochs, int) and 1 <= min_epochs < int(max_epochs)) or not eta > 1:
            raise StudyError(f"dehb needs its option min_epochs at least 1 and below --max-epochs, and eta above 1 "
                             f"(got min_epochs {min_epochs}, --max-epochs {max_epochs}, eta {eta})")
        self.min_epochs, self.max_epochs, self.eta = int(min_epochs), int(max_epochs), eta
        dehb_seed = int(self.rng.integers(0, 2**32 - 1))
        self.dehb = build_dehb(config_space(space, dehb_seed), self.min_epochs, self.max_epochs, eta, dehb_seed,
                               options)
        self.rungs = {f: self._epochs(f) for f in self.dehb.fidelities}
        if len(set(self.rungs.values())) < len(self.rungs):
            raise StudyError(f"dehb: eta {eta} gives rungs that round to the same whole epochs "
                             f"({sorted(self.rungs.values())}); use a larger eta or more epochs")
        self._jobs: dict[int, tuple[Proposal, dict]] = {}  # id(proposal) -> (proposal, DEHB's job)
        self._proposed: dict[str, set[int]] = {}  # config key -> the rungs asked
        self._keep: dict[str, Config] = {}  # told configs DEHB may still promote (checkpoints kept)
        self._gone: set[str] = set()  # retired configs (their checkpoints deleted)
        self._handed: dict[int, set[float]] = {}  # bracket -> fidelities at which it handed out a job
        self._retired: list[Config] = []
        self._twins: dict[int, list[dict]] = {}  # id(proposal) -> DEHB's later jobs for the same trial

    def _epochs(self, fidelity: float) -> int:
        return self.max_epochs if fidelity >= self.dehb.fidelities[-1] else max(1, int(round(float(fidelity))))

    # -- DEHB's brackets -------------------------------------------------------------------
    def _eligible(self) -> bool:
        """An open bracket has a job to hand out now (not waiting for its previous rung)."""
        return any(b.is_pending() and not b.previous_rung_waits() for b in self.dehb.active_brackets)

    def _promotions_owed(self, job: dict, key: str, epochs: int) -> float:
        """Epochs the open brackets' unallocated promotions may still cost if ``job`` (``key`` at
        ``epochs``) is handed out: each job above a rung that has handed out (or may still hand
        out) a config costs the epochs beyond the rung below, and a rung's jobs cost anything only
        for configs asked at the rung below and not at theirs (DEHB promotes configs it has results
        for at the rung below; another is a repeat, served free)."""
        total = 0.0
        if not self._promoting():
            return total
        asked = {e: {k for k, r in self._proposed.items() if e in r} for e in self.rungs.values()}
        asked[epochs] = asked.get(epochs, set()) | {key}
        for b in self.dehb.active_brackets:
            handed = self._handed.get(b.bracket_id, set())
            if b.bracket_id == job["bracket_id"]:
                handed = handed | {job["fidelity"]}
            e = [self._epochs(f) for f in b.fidelities]
            for i, (lower, f) in enumerate(zip(b.fidelities, b.fidelities[1:]), 1):
                paid = 0
                if i == 1:
                    avail = len(asked[e[0]] - asked[e[1]])  # configs the first promotion may pick
                if lower in handed or b.sh_bracket[lower] > 0:
                    paid = min(b.sh_bracket[f], avail)
                    total += paid * (e[i] - e[i - 1])
                avail = paid + len(asked[e[i]] - (asked[e[i + 1]] if i + 1 < len(e) else set()))
        return total

    def _promoting(self) -> bool:
        """DEHB still promotes configs to higher rungs (its first ``len(rungs)`` brackets); after
        that a job above its bracket's first rung is a DE mutant, not a promotion."""
        return self.dehb.iteration_counter < self.dehb.max_SH_iter

    def _below(self, job: dict) -> float | None:
        """The fidelity below the job's in its bracket (None at the bracket's first rung)."""
        for b in self.dehb.active_brackets:
            if b.bracket_id == job["bracket_id"]:
                i = list(b.fidelities).index(job["fidelity"])
                return b.fidelities[i - 1] if i > 0 else None
        return None

    def _cost(self, key: str, epochs: int) -> int:
        """Epochs a rung of ``key`` may train: none if asked before (served), the epochs beyond its
        highest lower rung while that checkpoint is kept, else all."""
        asked = self._proposed.get(key, set())
        if epochs in asked:
            return 0
        lower = [e for e in asked if e < epochs]
        return epochs - max(lower) if lower and key not in self._gone else epochs

    def _drop_promotion_from_nothing(self) -> bool:
        """DEHB's next job would promote a config from a rung with no result (every job there
        skipped): DEHB itself fails on that (an empty population), so the job is dropped here,
        without asking DEHB (its bracket counts it as done)."""
        if not self._promoting():
            return False
        bracket_id = self.dehb._get_next_bracket(only_id=True)
        b = next((b for b in self.dehb.active_brackets if b.bracket_id == bracket_id), None)
        f = None if b is None else b.get_next_job_fidelity()
        if f is None or f == b.fidelities[0]:
            return False  # a bracket's first rung starts configs: nothing to promote
        lower = b.fidelities[list(b.fidelities).index(f) - 1]
        waiting = self.dehb.de[f].promotion_pop
        if np.isfinite(self.dehb.de[lower].fitness).any() or (waiting is not None and len(waiting)):
            return False
        b.register_job(f)
        b.complete_job(f)
        return True

    def _skip(self, job: dict) -> None:
        """Drop a job DEHB handed out: its bracket counts it as done (with no result)."""
        for b in self.dehb.active_brackets:
            if b.bracket_id == job["bracket_id"]:
                b.complete_job(job["fidelity"])

    # -- the interface -------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Proposal]:
        out: list[Proposal] = []
        budget, refused = self.epochs_left, False
        with quiet():
            while len(out) < n:
                capped = self.new_left is not None and self.new_left <= 0
                opens = self.dehb._get_next_bracket(only_id=True) > self.dehb.iteration_counter
                if opens and (capped or refused or (budget is not None and budget < self.min_epochs)):
                    break  # a new bracket would bring only new configs
                if not opens and not self._eligible():
                    break
                if self._drop_promotion_from_nothing():
                    refused = True
                    continue
                promoting = self._promoting()
                job = self.dehb.ask()
                config = to_config(self.space, job["config"])
                key, epochs = self.space.key(config), self._epochs(job["fidelity"])
                new = key not in self._proposed
                twin = next((q for q, _ in self._jobs.values() if q.config == config and q.epochs == epochs), None)
                if twin is not None:  # the same trial is outstanding: told its result too (see tell)
                    self._twins.setdefault(id(twin), []).append(job)
                    self._handed.setdefault(job["bracket_id"], set()).add(job["fidelity"])
                    continue
                cost = self._cost(key, epochs)
                promotion = promoting and not new and self._below(job) in self._handed.get(job["bracket_id"], ())
                if (new and capped) or (not promotion and budget is not None
                                        and cost + self._promotions_owed(job, key, epochs) > budget):
                    self._skip(job)
                    refused = True
                    continue
                if new and self.new_left is not None:
                    self.new_left -= 1
                if budget is not None:
                    budget -= cost
                self._proposed.setdefault(key, set()).add(epochs)
                self._handed.setdefault(job["bracket_id"], set()).add(job["fidelity"])
                p = Proposal(config, epochs)
                self._jobs[id(p)] = (p, job)
                out.append(p)
        self.epochs_left = budget
        self._retire_if_done()
        return out

    def tell(self, proposal: Proposal, score: float) -> None:
        held = self._jobs.pop(id(proposal), None) if isinstance(proposal, Proposal) else None
        if held is None:  # not asked of DEHB (a bare config from an older study): nothing to tell
            return
        with quiet():
            for job in [held[1], *self._twins.pop(id(proposal), [])]:
                self.dehb.tell(job, {"fitness": -float(score), "cost": float(proposal.epochs)})
            self.dehb._clean_inactive_brackets()
        active = {b.bracket_id for b in self.dehb.active_brackets}
        self._handed = {k: v for k, v in self._handed.items() if k in active}
        if proposal.epochs < self.max_epochs:
            self._keep[self.space.key(proposal.config)] = proposal.config
        self._retire_if_done()

    def _retire_if_done(self) -> None:
        """Retire the kept configs once DEHB will promote none (see the module)."""
        capped_done = self.new_left == 0 and not self._jobs and not self._eligible()
        if not self._promoting() or capped_done:
            asked = {self.space.key(p.config) for p, _ in self._jobs.values()}  # may still continue
            for key in [k for k in self._keep if k not in asked]:
                self._retired.append(self._keep.pop(key))
                self._gone.add(key)

    def owed(self) -> list[int]:
        """The open brackets whose next job, ready to hand out, is a promotion (a job at a
        bracket's first rung starts a config and may be skipped; none is owed once DEHB stops
        promoting)."""
        if not self._promoting():
            return []
        return [b.bracket_id for b in self.dehb.active_brackets if b.is_pending() and not b.previous_rung_waits()
                and b.get_next_job_fidelity() not in (None, b.fidelities[0])]
