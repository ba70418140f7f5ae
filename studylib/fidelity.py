"""What a study spends (epochs, hours) and multi-fidelity *rungs*, for the study loop.

**Budget** (:class:`Spend`). A trial is charged the epochs it trained *now* (``new_epochs``; a
rung continued from a checkpoint of ``e`` epochs pays only its epochs beyond ``e``) and its wall
time; a trial served from the ledger is charged what it recorded. Under an epoch budget the loop
starts a trial only when the epochs it may train fit in what is left (running trials reserve
theirs): a full-training trial is given ``max_epochs = min(max_epochs, left)`` (its key says so), a
rung that does not fit ends the study (its epochs stay unspent). A re-run (after a kill, or
with a larger budget) first charges the trials the study already has, so the study as a whole
never trains more epochs than its budget.
An hours budget is checked before each trial starts (a trial running when it runs out finishes).

**Rungs** (:class:`Rungs`). A multi-fidelity strategy asks for ``Proposal(config, epochs)``;
the rung is ``TrialId(config key, epochs)`` (ledger key ``<config key>-e<epochs>``). It continues from the config's highest lower
rung whose checkpoint (``OUT/checkpoints/<rung key>.keras``) still exists, else trains from
scratch. Disk use is bounded: a rung at the study's ``max_epochs`` saves no checkpoint (it cannot
be promoted); when a config's higher rung is recorded its lower checkpoints are deleted; when the
strategy retires a config (``Strategy.retired``: not promoted, pruned) its checkpoint is deleted.
So at most one checkpoint per config that its strategy may still promote is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .trial import Trial

FIDELITY = "_fidelity"  # the entry of a submitted config that carries its rung, epoch cap or run
REPLICATE_SEED_STRIDE = 100_003  # run n of a config trains with the study's seed + n * this
#: The largest study or run seed: NumPy, Keras and Optuna take seeds below 2**32, and a replicate's
#: adds :data:`REPLICATE_SEED_STRIDE` per run.
MAX_SEED = 2**31 - 1


def check_seeds(seeds, flag: str = "--seed") -> None:
    """Every seed at most :data:`MAX_SEED`: else a one-line :class:`~studylib.errors.StudyError`
    (the seeds from ``flag``'s value on: it names the seed the user gave and the last one)."""
    from .errors import StudyError

    seeds = [int(s) for s in seeds]
    last = max(seeds, default=0)
    if last > MAX_SEED:
        given = f", got {last}" if len(seeds) == 1 or seeds[0] > MAX_SEED else \
            f": {flag} {seeds[0]} with {len(seeds)} seeds runs seeds up to {last}"
        raise StudyError(f"{flag}: a seed must be at most {MAX_SEED} (2**31 - 1){given}")


def seed_list(seeds) -> list[int]:
    """``seeds`` as a list: a count ``n`` is seeds ``0..n-1``, anything else its seeds as ints."""
    from numbers import Integral

    return list(range(int(seeds))) if isinstance(seeds, Integral) else [int(s) for s in seeds]


def training_seed(seed: int, run: int = 0) -> int:
    """The seed run ``run`` of a config trains with in a study of seed ``seed`` (a study seed below
    the stride is no other run's)."""
    return int(seed) + REPLICATE_SEED_STRIDE * int(run or 0)


@dataclass(frozen=True)
class TrialId:
    """What one evaluation is: a config (its key), trained either in full, to exactly ``epochs``
    (a rung), or to at most ``cap`` epochs (a plain trial given only the epochs a budget had left);
    ``run`` > 0 is a replicate (:class:`~studylib.strategies.Replicate`) with a seed of its own.
    ``key`` is its ledger key (``<config>``, ``<config>-e<epochs>``, ``<config>-m<cap>``,
    ``<config>-r<run>``); the loop and :class:`Rungs` carry the fields and never read them back
    from a key."""

    config: str
    epochs: int | None = None
    cap: int | None = None
    run: int = 0

    @property
    def key(self) -> str:
        if self.epochs is not None:
            return f"{self.config}-e{int(self.epochs)}"
        base = self.config if not self.run else f"{self.config}-r{int(self.run)}"
        return base if self.cap is None else f"{base}-m{int(self.cap)}"

    def capped(self, cap: int) -> "TrialId":
        return TrialId(self.config, cap=int(cap), run=self.run)


def charged_epochs(trial: Trial) -> int:
    """The epochs ``trial`` trained itself (not those of the checkpoint it continued)."""
    v = trial.metrics.get("new_epochs")
    return int(trial.epochs if v is None else v)


@dataclass
class Spend:
    """A study's budget and what it has spent; ``epochs``/``hours`` None: unlimited."""

    epochs: int | None = None
    hours: float | None = None
    spent_epochs: int = 0
    spent_seconds: float = 0.0
    reserved: int = 0        # epochs that running trials may still train
    exhausted: bool = False  # a trial found nothing left
    charged: set = field(default_factory=set)  # keys charged (each once)
    capped: dict = field(default_factory=dict)  # uncapped key (config, or its replicate) -> its capped trial, from earlier runs
    unserved: set = field(default_factory=set)  # preloaded keys the replay has not served yet
    preloaded: dict = field(default_factory=dict)  # preloaded key -> (its charged epochs, its seconds)

    def preload(self, trials, config_key) -> None:
        """Charge the trials the study already has (a re-run, e.g. with a larger budget): the
        replay then serves them free, and a trial an earlier run capped stays that trial (a plain
        trial, not a rung, whose key is not the key its config, or its replicate, has uncapped)."""
        for t in trials:
            self.charge(t)
            self.unserved.add(t.key)
            self.preloaded[t.key] = (charged_epochs(t), float(t.wall_time or 0.0))
            base = TrialId(config_key(t.config), run=int(t.metrics.get("run") or 0)).key
            if t.metrics.get("rung") is None and t.key != base:
                self.capped[base] = t

    def charge(self, trial: Trial) -> None:
        if trial.key in self.charged:
            return
        self.charged.add(trial.key)
        self.spent_epochs += charged_epochs(trial)
        self.spent_seconds += float(trial.wall_time or 0.0)

    def left(self) -> int | None:
        """Epochs not spent nor reserved (None without an epoch budget)."""
        return None if self.epochs is None else self.epochs - self.spent_epochs - self.reserved

    def fits(self) -> float | None:
        """Epochs that may still be trained as the replay sees it (a preloaded trial counts once
        served, so a resumed study asks what the uninterrupted one asked): the epoch budget left
        and, under an hours budget, the hours left at the seconds per epoch so far (None: no limit
        known yet)."""
        epochs, seconds = self._seen()
        out = None if self.epochs is None else self.epochs - epochs - self.reserved
        if not self.pace_unknown and self.hours is not None:
            hours = (self.hours * 3600 - seconds) / (seconds / epochs) - self.reserved
            out = hours if out is None else min(out, hours)
        return out

    def _seen(self) -> tuple[int, float]:
        """(epochs, seconds) spent as the replay sees them: the preloaded trials it has not
        served yet left out."""
        ahead = [self.preloaded[k] for k in self.unserved]
        return self.spent_epochs - sum(e for e, _ in ahead), self.spent_seconds - sum(s for _, s in ahead)

    @property
    def pace_unknown(self) -> bool:
        """An hours budget whose seconds per epoch the replay has not seen yet (no epoch, or no
        second, spent)."""
        epochs, seconds = self._seen()
        return self.hours is not None and not (epochs > 0 and seconds > 0)

    @property
    def stopped(self) -> bool:
        """Nothing new may be trained."""
        return (self.exhausted or (self.epochs is not None and self.spent_epochs >= self.epochs)
                or (self.hours is not None and self.spent_seconds >= self.hours * 3600))

    @property
    def done(self) -> bool:
        """Nothing new may be trained and nothing already paid for is left to replay (a re-run of
        a spent study still serves its trials; the first proposal it would train ends it)."""
        return self.stopped and (self.exhausted or not self.unserved)


def split(config: dict) -> tuple[dict, dict | None]:
    """A submitted config -> (the config, its fidelity entry or None)."""
    if FIDELITY not in config:
        return config, None
    return {k: v for k, v in config.items() if k != FIDELITY}, config[FIDELITY]


def run_fields(fid: dict | None) -> dict:
    """What a replicate's trial records of its run (``run``, and ``run_of``: the key of its config's
    first run); nothing for a first run."""
    run = int((fid or {}).get("run", 0))
    return {"run": run, "run_of": fid.get("run_of", "")} if run else {}


def failed_fields(fid: dict | None) -> dict:
    """What a failed trial records of what it was asked: its run (:func:`run_fields`) and, for a
    rung, its config (``rung_of``; no ``rung``: it left no checkpoint to continue), so that it
    counts with its config (:func:`config_column`)."""
    fid = fid or {}
    return run_fields(fid) | ({"rung_of": fid["rung_of"]} if fid.get("rung_of") else {})


def config_column(df):
    """The config each row of a multi-fidelity frame belongs to: a rung trial's ``rung_of`` (the
    config's key), else its own key."""
    return df["rung_of"].where(df["rung_of"].fillna("").astype(str) != "", df["key"])


class Rungs:
    """Rung keys, where each rung continues from, and the checkpoints on disk (see the module)."""

    def __init__(self, checkpoints: str | Path | None, max_epochs: int):
        self.dir = Path(checkpoints).resolve() if checkpoints else None
        self.max_epochs = int(max_epochs)
        self.known: dict[str, dict[int, Trial]] = {}  # config key -> rung epochs -> trial

    def path(self, key: str) -> Path | None:
        return None if self.dir is None else self.dir / f"{key}.keras"

    def start(self, base: str, epochs: int) -> tuple[int, str | None, dict | None]:
        """(epochs done, checkpoint, history) to continue a rung of ``epochs`` from."""
        for e in sorted((e for e in self.known.get(base, {}) if e < epochs), reverse=True):
            t = self.known[base][e]
            p = self.path(t.key)
            if t.ok and t.status == "ok" and p is not None and p.exists():
                return e, str(p), t.curve
        return 0, None, None

    def submission(self, config: dict, base: str, epochs: int | None, start=(0, None, None),
                   cap: int | None = None, run: int = 0, run_of: str | None = None) -> dict:
        """What the executor gets: ``config`` plus a fidelity entry (none for a plain first run;
        a replicate names the key of its config's first run, ``run_of``, ``base`` by default)."""
        if epochs is None:
            fid = ({"max_epochs": int(cap)} if cap is not None else {}) | (
                {"run": int(run), "run_of": run_of or base} if run else {})
            return {**config, FIDELITY: fid} if fid else config
        done, resume, history = start
        key = TrialId(base, epochs).key
        save = self.path(key) if epochs < self.max_epochs else None
        lower = self.known.get(base, {}).get(done) if resume else None
        earlier = None if lower is None else {k: lower.metrics.get(k) for k in ("best_epoch", "test_acc", "test_loss")}
        return {**config, FIDELITY: {"epochs": int(epochs), "from": done, "resume": resume, "history": history,
                                     "earlier": earlier, "save": str(save) if save else None, "rung_of": base}}

    def note(self, base: str, trial: Trial) -> None:
        """Record a finished (or served) rung; delete the config's lower checkpoints."""
        rung = trial.metrics.get("rung")
        if rung is None:
            return
        rungs = self.known.setdefault(base, {})
        rungs[int(rung)] = trial
        for e, t in rungs.items():
            if e < int(rung):
                self._remove(t.key)

    def retire(self, base: str) -> None:
        for t in self.known.get(base, {}).values():
            self._remove(t.key)

    def _remove(self, key: str) -> None:
        p = self.path(key)
        if p is not None:
            p.unlink(missing_ok=True)


def has_rungs(df) -> bool:
    """Whether ``df`` (trials of a ledger, ``trials.csv`` or ``rungs.csv``) holds rung trials of a
    multi-fidelity study: a ``rung``, or a ``rung_of`` alone (a study whose every rung trial failed:
    :func:`failed_fields`)."""
    if "rung" in df.columns and df["rung"].notna().any():
        return True
    return "rung_of" in df.columns and bool((df["rung_of"].fillna("").astype(str) != "").any())


def collapse_rungs(df):
    """``trials.csv`` of a multi-fidelity study: one row per (study, config), its highest rung,
    with ``epochs`` = epochs its model was trained in all, ``charged_epochs`` = epochs the study
    paid for it (all rungs), ``rungs`` = ``"epochs:best_acc"`` of each rung (``failed``), and the ``trial``
    number of its first rung. Frames without rungs come back unchanged."""
    import pandas as pd

    if not has_rungs(df):
        return df
    cfg = config_column(df)
    rows = []
    for _, g in df.assign(_cfg=cfg).groupby(["study_id", "_cfg"], sort=False, dropna=False):
        g = g.sort_values("epochs", kind="stable")
        top = g.iloc[-1].copy()
        top["trial"] = g["trial"].min()
        paid = g["new_epochs"].fillna(g["epochs"]) if "new_epochs" in g else g["epochs"]
        top["charged_epochs"] = int(paid.fillna(0).sum())
        g = g.sort_values("trial", kind="stable")  # the rungs in the order they ran
        acc = g["best_acc"].astype(float) if "best_acc" in g else [float("nan")] * len(g)
        top["rungs"] = " ".join(f"{int(e)}:{a:.4f}" if a == a else "failed" for e, a in zip(g["epochs"].fillna(0), acc))
        rows.append(top.drop(labels="_cfg"))
    return pd.DataFrame(rows).sort_values(["trial"], kind="stable").reset_index(drop=True)
