"""Successive halving around a result-driven strategy: ``memetic-sh`` (the memetic GA's offspring
and local-search neighbours are first trained at a low fidelity and promoted by halving).

Rungs: ``min_epochs``, ``min_epochs * eta``, ``min_epochs * eta**2``, ... below ``max_epochs``,
then ``max_epochs`` (1, 3, 9, 27 for the defaults and 27 epochs). Every config the inner strategy
asks starts at the lowest rung. A config scored at a rung is promoted to the next if its
validation accuracy is among the top ``ceil(n / eta)`` of the ``n`` scores its rung has seen so far
(asynchronous successive halving), decided once none of the proposals handed out is pending
(``promote="generation"``, the default) or as each result is told (``"async"``, in proposal order,
so the same for every executor). A config that stops is told to the inner strategy as
:func:`rung_fitness` (rung first, then its score there: its GA never weighs a 1-epoch score
against a 9-epoch one) and paused (``reconsider``, the default: promoted later by the rule, or
with the epochs a budget has left once no new config can start) or retired.

Options beyond the rule: ``quorum`` (9 for eta 3: a rung decides nothing before it has seen that
many scores), ``promote_model`` (rank by the score plus the gain to the next rung that the one
model module predicts) with ``best_first``, and ``fill`` (with ``promote="async"``: free slots take
the GA's next generation while its hill climb waits, and paused configs' promotions). What each
does, its measured effect and how the defaults were chosen (``benchmarks/curve_compare.py
--select``, six rounds on the development table ``curves-a``): ``docs/multifidelity.md``.

Randomness: the inner strategy's generator (seeded from ``seed`` by :func:`inner_seed`, a stream of
its own, so that its draws are not random search's of the same seed); promotion is deterministic but for
``promote_model``'s trees, seeded from ``seed``, the rung and the number of pairs.
"""
from __future__ import annotations

import numpy as np

from ..space import Config, SearchSpace
from .base import Proposal, Retiring, Strategy, default_in_flight
from .rungs import RungScores, default_quorum, highest_best, ladder, new_allowed, owed_epochs, rung_fitness

COMPARE = ("rung", "score")  # what the inner GA compares: (rung, score) pairs, or scores of any rung
PROMOTE = ("generation", "async")  # when promotions are decided: a whole generation told, or each result
#: options the inner strategy keeps under memetic-sh whatever its own defaults: the memetic GA's
#: self-check (``check``) was chosen on single-fidelity tables (``model_selection.py`` round 3),
#: not for rung-ordered scores, so memetic-sh's inner GA (any memetic variant) screens without it
#: unless ``check`` is given; it does not replicate (``replicates``, round 4): a rung is no run; its
#: population is 20 drawn uniformly at random (``population_size``, ``init``; ``curve_compare.py``
#: round 5: a first rung of 20 random configs), not 10 from the Latin-hypercube-like start
INNER_FIXED = {"memetic": {"check": 0, "replicates": 1, "population_size": 20, "init": "random"}}
#: those of ``INNER_FIXED`` that came after memetic-sh studies existed: part of its identity
INNER_FIXED_LATER = ("population_size", "init")
#: the lowest rung by default (round 6: rungs 1, 3, 9, 27 for 27 epochs; three rungs before)
DEFAULT_MIN_EPOCHS = 1
INNER_STREAM = 17  # the inner strategy's stream of a study's seed (:func:`inner_seed`)


def inner_seed(seed: int | None) -> int | None:
    """The inner strategy's seed, derived from ``seed``: its draws are not those of another strategy
    of the same seed (random search's, whose first configs a uniform random start would repeat,
    with their noise, and so copy the reference a study is compared with)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), INNER_STREAM]).generate_state(1)[0])


def inner_fixed(inner: str) -> dict:
    """``INNER_FIXED``'s options for the inner strategy ``inner`` (a ``memetic-<variant>`` too)."""
    return INNER_FIXED.get(inner.split("-")[0], {})


class SuccessiveHalving(Retiring, Strategy):
    """Options: ``inner`` (a registered single-fidelity strategy) [memetic], ``eta`` [3],
    ``min_epochs`` [1; rounds 1-5: ``three_rungs(max_epochs, eta)``], ``compare`` [rung: the inner
    strategy is told :func:`rung_fitness`; ``score``: the best validation accuracy of whatever
    rung a config reached], ``promote`` [generation; ``async``: ASHA's rule as each result is
    told], ``reconsider`` [True: configs not promoted are paused, not retired, and promoted later
    by the rule or with the budget left; False: retired], ``quorum`` [``ceil(eta**2)``; k: a rung
    decides nothing before it has seen k scores, 1: no quorum], ``promote_model`` [False] with
    ``promote_model_min`` [10] and ``best_first`` [False], ``fill`` [False; needs
    ``promote="async"``], ``max_epochs`` (given by the study: its ``--max-epochs``); any other
    option goes to the inner strategy. Each in full: ``docs/multifidelity.md``."""

    name = "sh"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, max_epochs: int, inner: str = "memetic",
                 eta: float = 3, min_epochs: int | None = None, compare: str = "rung",
                 promote: str = "generation", reconsider: bool | None = None, quorum: int | None = None,
                 promote_model: bool = False, promote_model_min: int = 10, best_first: bool = False,
                 fill: bool = False, **inner_options):
        super().__init__(space, seed)
        if promote not in PROMOTE:
            raise ValueError(f"memetic-sh: promote must be one of {', '.join(PROMOTE)}")
        self.promote = promote
        if compare not in COMPARE:
            raise ValueError(f"memetic-sh: compare must be one of {', '.join(COMPARE)}")
        self.compare = compare
        if fill and promote != "async":
            raise ValueError("memetic-sh: fill needs promote=async (a generation waits for all its results)")
        self.fill = bool(fill)
        if quorum is None:
            quorum = default_quorum(eta)
        if not (isinstance(quorum, int) and not isinstance(quorum, bool) and quorum >= 1):
            raise ValueError("memetic-sh: quorum must be a whole number >= 1")
        self.quorum = quorum
        from . import make_strategy

        if inner_options.get("replicates", 1) != 1:
            raise ValueError("memetic-sh: its inner strategy cannot replicate (a rung is not a run); drop replicates")
        try:
            self.inner = make_strategy(inner, space, seed=inner_seed(seed),
                                       **{**inner_fixed(inner), **inner_options})
        except TypeError as e:
            if "unknown options" not in str(e):
                raise
            raise TypeError(f"memetic-sh: unknown options {str(e).split('unknown options ', 1)[1]} "
                            f"(neither memetic-sh's nor its inner strategy {inner}'s)") from None
        self.population_size = default_in_flight(self.inner)  # the loop's window
        if min_epochs is None:
            min_epochs = DEFAULT_MIN_EPOCHS
        if not (isinstance(promote_model_min, int) and not isinstance(promote_model_min, bool) and promote_model_min >= 2):
            raise ValueError("memetic-sh: promote_model_min must be a whole number >= 2")
        self.levels = RungScores(ladder(int(min_epochs), float(eta), int(max_epochs)), float(eta),
                                 space if promote_model else None, seed=seed, model_min=promote_model_min)
        self.max_epochs = int(max_epochs)
        self._queue: list[Proposal] = []
        self._pending: list[Proposal] = []
        self._waiting: list[tuple[Proposal, float]] = []
        self._retired: list[Config] = []
        self.reconsider = True if reconsider is None else bool(reconsider)
        self.best_first = bool(best_first)
        self._paused: list[tuple[Proposal, float]] = []  # not promoted, still candidates (reconsider)
        self._asked: dict[str, int] = {}  # reconsider: inner asks of a config not yet told back
        self._scored: dict[str, int] = {}  # reconsider: the highest rung a config was scored at
        self._held: list[tuple[Proposal, float]] = []  # scored at a rung short of its quorum: undecided

    @classmethod
    def identity_defaults(cls, max_epochs: int, options: dict) -> dict:
        """The inner strategy's changed defaults, its population under memetic-sh (20, ``init``
        random since round 5) and its stream (:func:`inner_seed`, since round 5, for every inner
        strategy and options), ``compare`` (rung since it was added), ``quorum``
        and ``reconsider`` (``ceil(eta**2)`` and True since issue 17's round-3 decision); the
        default ``min_epochs`` is 1, the first default and round 6's (three rungs in between were
        recorded where not 1); ``fill`` (``fill_rule`` 2) has had part (1) and part (2)'s floor
        since this release: a study that began under other defaults is not continued with these."""
        from . import strategy_class

        name = options.get("inner", "memetic")
        inner = strategy_class(name).identity_defaults(max_epochs, {**inner_fixed(name), **options})
        out = {**inner, **({} if options.get("compare") is not None else {"compare": "rung"})}
        out.update({k: v for k, v in inner_fixed(name).items() if k in INNER_FIXED_LATER and k not in options})
        out["inner_stream"] = INNER_STREAM  # every inner strategy's draws changed with it, whatever the options
        if options.get("quorum") is None:
            out["quorum"] = default_quorum(options.get("eta", 3))
        if options.get("reconsider") is None:
            out["reconsider"] = True
        # min_epochs: the default is 1 again (round 6), as before three rungs; studies begun under
        # three rungs recorded their ``min_epochs`` where it was not 1, so they are not continued
        if options.get("fill"):
            out["fill_rule"] = 2  # part (1), the inner GA's skip_wait, and part (2)'s floor changed its proposals
        return out

    def ask(self, n: int = 1) -> list[Proposal]:
        out: list[Proposal] = []
        while len(out) < n:
            if not self._queue and not self._refill(n - len(out)):
                break
            if self._queue:
                out.append(self._hand_out())
        return out

    @property
    def _outstanding(self) -> bool:
        """Results handed out and not told yet, or told and not decided."""
        return bool(self._pending or self._waiting)

    @property
    def _undecided(self) -> list[tuple[Proposal, float]]:
        """Told, promotion not decided yet: those waiting for the decision, then those held short of
        their rung's quorum."""
        return self._waiting + self._held

    def _refill(self, wanted: int) -> bool:
        """The queue is empty: queue promotions or up to ``wanted`` new configs; False: nothing
        more to ask now."""
        if self.promote == "generation" and self._outstanding:
            return False
        if self._unpause(by_rule=True):
            return True
        at, certain = self._owed()
        k = new_allowed(wanted, at, self.levels.rungs, self.levels.eta, self.new_left,
                        self.epochs_left, certain, self._decided())
        configs = self._new_configs(k)
        if not configs:
            return self._no_new_configs(certain)
        self._start(configs)
        return True

    def _new_configs(self, k: int) -> list[Config]:
        if k <= 0:
            return []
        configs = self.inner.ask(k)
        if not configs and self.fill and self._pending and self._skip_wait():
            configs = self.inner.ask(k)  # the inner GA's next generation, not its climb's results
        return configs

    def _no_new_configs(self, certain: float) -> bool:
        """The inner strategy gave nothing: queue a paused config's promotion if one may go now."""
        if self._outstanding:  # with fill, a free slot takes the best paused config's promotion now
            return (self.fill and self._no_new_config_ever(certain)
                    and self._unpause(by_rule=False, floor=self._top_promotion_in_flight()))
        return self._release() or self._unpause(by_rule=False)

    def _start(self, configs: list[Config]) -> None:
        """Queue new configs at the lowest rung, charged to the budget as one batch."""
        if self.reconsider:
            for c in configs:
                key = self.space.key(c)
                self._asked[key] = self._asked.get(key, 0) + 1
        if self.new_left is not None:
            self.new_left -= len(configs)
        if self.epochs_left is not None:
            self.epochs_left -= len(configs) * self.levels.rungs[0]
        self._queue.extend(Proposal(c, self.levels.rungs[0]) for c in configs)

    def _hand_out(self) -> Proposal:
        p = self._queue.pop(0)
        if self.epochs_left is not None and p.epochs != self.levels.rungs[0]:  # a promotion: now asked
            self.epochs_left -= p.epochs - self.levels.below(p.epochs)
        self._pending.append(p)
        return p

    def _skip_wait(self) -> bool:
        """``fill``: ask the inner strategy to stop waiting for its pending results, if it can (the
        memetic GA: its climb's); True if it did."""
        skip = getattr(self.inner, "skip_wait", None)
        return bool(skip()) if skip is not None else False

    def _no_new_config_ever(self, certain: float) -> bool:
        """No new config can start from now on, whatever the pending results: the space or the
        trial cap is used up, the inner strategy is finished, or the budget left after the
        promotions already decided has no room for a config's first rung."""
        return (self.new_left == 0 or self.inner.finished
                or (self.epochs_left is not None and certain + self.levels.rungs[0] > self.epochs_left))

    def _owed(self) -> tuple[list[int], float]:
        """(the rungs of configs whose promotion is undecided, the epochs of promotions decided but
        not asked yet: the budget has not reserved them)."""
        at = ([p.epochs for p in self._pending] + [p.epochs for p, _ in self._undecided]
              + [p.epochs for p in self._queue])
        return at, float(sum(p.epochs - self.levels.below(p.epochs) for p in self._queue))

    def _fits(self, p: Proposal, reserve: bool) -> bool:
        """Whether promoting paused ``p`` fits the budget with the promotions the undecided configs
        may still be owed (and, ``reserve``, those ``p`` itself may be owed next)."""
        if self.epochs_left is None:
            return True
        nxt = self.levels.next(p.epochs)
        at, certain = self._owed()
        rungs, eta = self.levels.rungs, self.levels.eta
        owed = owed_epochs(at + [nxt] if reserve else at, rungs, eta, self._decided())
        return certain + (nxt - p.epochs) + owed <= self.epochs_left

    def _top_promotion_in_flight(self) -> int:
        """The highest rung a pending promotion goes to (0: none pending)."""
        return max((p.epochs for p in self._pending if p.epochs != self.levels.rungs[0]), default=0)

    def _unpause(self, by_rule: bool, floor: int = 0) -> bool:
        """Queue the paused configs that the promotion rule now promotes (``by_rule``), or else
        the best one, highest rung first, whose promotion fits the budget (only under a budget)
        and goes to rung ``floor`` or higher; True when any was queued."""
        if not self._paused or (not by_rule and self.epochs_left is None):
            return False
        claim = [self.levels.claim(p.epochs, p.config, score) for p, score in self._paused]
        order = highest_best([p.epochs for p, _ in self._paused], claim)
        queued = []
        for i in order:
            p, score = self._paused[i]
            if (by_rule and not self.levels.promoted(p.epochs, score, p.config)) or self.levels.next(p.epochs) < floor:
                continue
            if self._fits(p, reserve=by_rule):
                queued.append(i)
                self._queue.append(Proposal(p.config, self.levels.next(p.epochs)))
                if not by_rule:
                    break
        done = set(queued)
        self._paused = [x for i, x in enumerate(self._paused) if i not in done]
        return bool(queued)

    def _decided(self) -> dict[int, int]:
        """Scores per rung whose promotion is decided (told and not waiting)."""
        out = {r: len(v) for r, v in self.levels.scores.items()}
        for p, _ in self._undecided:
            out[p.epochs] -= 1
        return out

    def tell(self, proposal: Proposal, score: float) -> None:
        if not isinstance(proposal, Proposal):  # a bare config (served by an older study): full fidelity
            proposal = Proposal(proposal, self.max_epochs)
        if proposal in self._pending:
            self._pending.remove(proposal)
        key = self.space.key(proposal.config)
        if self.reconsider and self._scored.get(key, 0) >= proposal.epochs:
            self._tell_inner(proposal, score)  # a repeat (the inner strategy asked it again): answered, nothing else
        else:
            if self.reconsider:
                self._scored[key] = proposal.epochs
            self.levels.add(proposal.epochs, score, proposal.config)
            self._waiting.append((proposal, float(score)))
        if not self._pending or self.promote == "async":
            self._decide()

    def _release(self) -> bool:
        """Nothing else can come: decide the configs held short of their rung's quorum (True if any)."""
        if not self._held:
            return False
        self._waiting, self._held = self._held + self._waiting, []
        self._decide(quorum=1)
        return True

    def _decide(self, quorum: int | None = None) -> None:
        quorum = self.quorum if quorum is None else quorum
        waiting, self._waiting = self._waiting, []
        if self._held:  # those whose rung has reached its quorum are decided first, in the order they came
            ready = [x for x in self._held if len(self.levels.scores[x[0].epochs]) >= quorum]
            self._held = [x for x in self._held if len(self.levels.scores[x[0].epochs]) < quorum]
            waiting = ready + waiting
        start, up = len(self._queue), []  # up: the claim of each promotion this decision queues
        for p, score in waiting:
            nxt = self.levels.next(p.epochs)
            if nxt is not None and len(self.levels.scores[p.epochs]) < quorum and (
                    not self.reconsider or self._fits(p, reserve=False)):
                # (a paused config's promotion that no longer fits would end the study held)
                self._held.append((p, score))
                continue
            if nxt is not None and self.levels.promoted(p.epochs, score, p.config) and (
                    not self.reconsider or self._fits(p, reserve=True)):
                self._queue.append(Proposal(p.config, nxt))  # queued at once: the next _fits counts it
                up.append(self.levels.claim(p.epochs, p.config, score))
                continue
            self._tell_inner(p, score)
            if nxt is not None:
                if self.reconsider:
                    self._paused.append((p, float(score)))
                else:
                    self._retired.append(p.config)
        if self.best_first:  # this decision's promotions, best claim (or score) first
            order = highest_best([p.epochs for p in self._queue[start:]], up)
            self._queue[start:] = [self._queue[start + i] for i in order]

    def _tell_inner(self, p: Proposal, score: float) -> None:
        """Tell the inner strategy how ``p``'s config ended (with ``reconsider``: once per time it
        asked the config, so a paused config promoted later is not told again)."""
        if self.reconsider:
            key = self.space.key(p.config)
            if not self._asked.get(key):
                return
            self._asked[key] -= 1
        level = self.levels.level(p.epochs)
        self.inner.tell(p.config, rung_fitness(level, score) if self.compare == "rung" else score)

    @property
    def finished(self) -> bool:
        idle = not self._queue and not self._outstanding and not self._held
        paused = self.reconsider and any(
            self.levels.promoted(p.epochs, score, p.config) or self.epochs_left is not None for p, score in self._paused)
        return idle and not paused and (self.inner.finished or self.new_left == 0)
