"""Memetic GA: a genetic algorithm hybridised with first-improvement hill climbing (the proposal).

It is composed of four parts, each usable and tested alone:

* a GA core (:class:`~studylib.strategies.evolution.Evolution`): start design, breeding of
  untried children, survival;
* a local-search component (:class:`~studylib.strategies.local_search.HillClimber`);
* a neighbour-order policy (:class:`~studylib.strategies.guidance.NeighbourOrder`);
* a model of the results so far (:class:`~studylib.strategies.surrogate.Surrogate`) that
  pre-screens candidates: once ``model_min`` genomes are known, a generation breeds ``screen``
  times as many untried children as it evaluates and keeps the ones the model ranks best, and a
  climb draws ``screen`` untried neighbours (in the guided order) and tries the best-ranked first.
  The model is refitted on every genome told whenever ``refit`` new ones have come in. With
  ``check`` > 0 the model checks itself online (:class:`~studylib.strategies.surrogate.SkillCheck`):
  every proposal's predicted score is kept and, once ``check`` proposals are evaluated, screening
  (of offspring and neighbours) pauses while the Spearman correlation of predicted vs observed
  over the last ``check`` evaluations is at most ``check_min``; the GA then breeds and climbs as
  without a model, and screening resumes once the skill recovers.

Each generation has two phases. **Global**: a GA generation; only genomes never evaluated are
proposed. **Local**: hill climbing from the best evaluated genome (``restart="evaluated"``, the
default; ``"population"``/``"none"``: the best population member) whose neighbourhood is not exhausted; the first better neighbour becomes
the new centre and, with Lamarckian write-back, replaces the climbing individual in the population
(Baldwinian: the individual keeps its genome and takes the better fitness). A climb that reaches a
local optimum is followed by a new one (a restart), up to ``n_local`` climbs per generation.

The local search gets a bounded share of the evaluations: a local proposal is made only while
``local + 1 <= share * (all + 1)`` (pending proposals counted), so whenever nothing is pending
``local_evals <= local_share * evals``. The share is an upper bound, not a quota: the local phase
ends early once its climbs are used up or every candidate centre is exhausted. With ``adaptive``,
the share moves within ``[min_share, local_share]`` towards the phase that found the recent
improvements of the best score.

A caller whose workers would otherwise idle (memetic-sh's ``fill``) may call :meth:`MemeticGA.skip_wait`
when the local phase proposes nothing only because its climb waits for results: the local phase
ends there and the next generation starts, and the climb's results still count when they come. A
climb so cut short makes fewer moves, and the local search takes a smaller share of the evaluations
than without it (``local_share`` is only an upper bound).

Scores are noisy draws; every comparison uses the observed value, for a replicated genome the mean
of its runs (``replicates``: the best genome by mean is run again, with a seed of its own, until it
has that many runs, while replicates stay within ``replicate_share`` of the results told). All randomness comes from
``self.rng``, shared by the parts in a fixed call order, and from the model's own generator,
spawned from ``self.rng`` (spawning does not advance it). ``moves`` lists the accepted local moves,
``log`` has one row per generation.
"""
from __future__ import annotations

from typing import Any

from ..space import Config, SearchSpace
from .archive import ArchiveStrategy
from .base import Replicate
from .evolution import Evolution
from .guidance import NeighbourOrder
from .local_search import HillClimber
from .operators import Genome
from .surrogate import SkillCheck, Surrogate

RESTARTS = ("evaluated", "population", "none")


class LocalShare:
    """The share of evaluations the local search may use: fixed at ``local_share`` or, with
    ``adaptive``, between ``min_share`` and ``local_share`` by which phase improved the best lately
    (credits decay by 0.8 at each improvement)."""

    def __init__(self, local_share: float, min_share: float = 0.3, adaptive: bool = False):
        if not 0.0 <= local_share < 1.0:
            raise ValueError("memetic: local_share must be in [0, 1)")
        self.high, self.low, self.adaptive = float(local_share), min(float(min_share), local_share), bool(adaptive)
        self.credit = {"local": 1.0, "global": 1.0}
        self.best = float("-inf")

    @property
    def value(self) -> float:
        if not self.adaptive:
            return self.high
        frac = self.credit["local"] / (self.credit["local"] + self.credit["global"])
        return self.low + (self.high - self.low) * frac

    def allows(self, local_used: int, all_used: int) -> bool:
        return local_used + 1 <= self.value * (all_used + 1)

    def observe(self, score: float, local: bool) -> None:
        """A new genome's score: credit its phase when it improves the best."""
        if score > self.best:
            if self.best > float("-inf"):
                for k in self.credit:
                    self.credit[k] *= 0.8
                self.credit["local" if local else "global"] += 1.0
            self.best = score


class MemeticGA(ArchiveStrategy):
    """GA + hill climbing. Options (defaults in brackets; each part can be switched off alone,
    see ``studylib.strategies.ABLATIONS``):

    * start design: ``init`` (``lhs`` Latin-hypercube-like, or ``random``) [lhs];
    * GA core: ``population_size`` [10], ``offspring`` (children per generation) [population_size],
      ``selection`` (``tournament``/``rank``) [tournament], ``tournsize`` [3], ``crossover``
      (``uniform``/``one_point``/``two_point``) [uniform], ``crossover_rate`` [0.7],
      ``two_gene_prob`` (chance a mutation changes two genes instead of one) [0.5];
    * survival: ``survival`` (``plus`` = (mu + lambda), or ``generational`` with ``n_elite``
      best parents kept) [plus], ``n_elite`` [2];
    * local search: ``local_share`` (upper bound on its share of evaluations; 0 switches it off)
      [0.8], ``n_local`` (climbs per generation) [6], ``lamarckian`` (write improved genomes
      back; False = Baldwinian) [True], ``pattern`` (after an improving ordinal step try the next
      one the same way first) [True], ``adaptive`` [False] and ``min_share`` [0.3];
    * restarts: ``restart`` (where a new climb starts after a local optimum: ``evaluated`` = the
      best evaluated genome with untried neighbours, ``population`` = the best such population
      member, ``none`` = no restart: one climb per generation, from the population) [evaluated];
    * neighbour guidance: ``guided`` (density-ratio-weighted neighbour order, False = uniform)
      [True], ``guide_top`` [0.25], ``guide_power`` [1.0], ``guided_mutation`` (mutations draw
      values by the same weights) [False];
    * model pre-screening: ``model`` [True], ``screen`` (candidates generated per one evaluated)
      [4], ``model_min`` (genomes known before the model is used) [20], ``refit`` (new results
      between refits) [10], ``kappa`` (optimism: weight of the trees' spread) [0.0], ``model_trees`` [8],
      ``explore`` (share of each generation's children bred without screening) [0.0],
      ``screen_local`` (screen the climbs' neighbours too; False = offspring only) [True],
      ``model_leaf`` (the trees' ``min_samples_leaf``) [1], ``check`` (self-check window; 0 = off)
      [20], ``check_min`` (the skill at or below which screening pauses) [0.0];
    * replicates: ``replicates`` (runs, each with a seed of its own, that the best config by mean
      score gets before it is trusted; 1 = off) [3], ``replicate_share`` (upper bound on the share
      of evaluations that are replicates) [0.2].
    """

    name = "memetic"

    def __init__(self, space: SearchSpace, seed: int | None = 0, *, population_size: int = 10,
                 offspring: int | None = None, init: str = "lhs", survival: str = "plus",
                 selection: str = "tournament", tournsize: int = 3, crossover: str = "uniform",
                 crossover_rate: float = 0.7, two_gene_prob: float = 0.5, n_elite: int = 2,
                 local_share: float = 0.8, n_local: int = 6, lamarckian: bool = True, pattern: bool = True,
                 adaptive: bool = False, min_share: float = 0.3, restart: str = "evaluated",
                 guided: bool = True, guide_top: float = 0.25, guide_power: float = 1.0,
                 guided_mutation: bool = False, model: bool = True, screen: int = 4, model_min: int = 20,
                 refit: int = 10, kappa: float = 0.0, model_trees: int = 8, explore: float = 0.0,
                 screen_local: bool = True, model_leaf: int = 1, check: int = 20, check_min: float = 0.0,
                 replicates: int = 3, replicate_share: float = 0.2, **options: Any):
        super().__init__(space, seed, **options)
        if restart not in RESTARTS:
            raise ValueError(f"memetic: restart must be one of {', '.join(RESTARTS)}")
        self.evolution = Evolution(self.archive, self.rng, ordinal=self.ordinal, population_size=population_size,
                                   init=init, survival=survival, selection=selection, tournsize=tournsize,
                                   crossover=crossover, crossover_rate=crossover_rate,
                                   two_gene_prob=two_gene_prob, n_elite=n_elite)
        if screen < 1 or refit < 1:
            raise ValueError("memetic: screen and refit must be at least 1")
        if not 0.0 <= explore < 1.0:
            raise ValueError("memetic: explore must be in [0, 1)")
        if n_local < 0:
            raise ValueError(f"memetic: n_local must be at least 0, got {n_local}")
        self.screen, self.refit, self.explore = int(screen), int(refit), float(explore)
        self.model = (Surrogate(space, self.rng.spawn(1)[0], n_trees=model_trees, kappa=kappa,
                                min_samples_leaf=model_leaf, min_points=max(int(model_min), 2))
                      if model and self.screen > 1 else None)
        self.check = SkillCheck(check, check_min) if self.model is not None and check else None
        self.paused_asks = 0  # asks made while the self-check paused screening
        self.order = NeighbourOrder(self.rng, guided=guided, top=guide_top, power=guide_power, model=self.model,
                                    screen=self.screen if screen_local else 1)
        self.climber = HillClimber(self.archive, self.rng, self.order, ordinal=self.ordinal, pattern=pattern)
        self.share = LocalShare(local_share, min_share, adaptive)
        self.population_size = self.evolution.size  # also the study loop's default window
        self.offspring = int(offspring) if offspring else self.population_size
        self.n_local, self.lamarckian, self.restart = int(n_local), bool(lamarckian), restart
        self.guided_mutation = bool(guided_mutation)
        self._phase = "global"  # the first generation is the initial population
        self._batch: list[Genome] = []  # the generation being evaluated
        self._queue: list[Genome] = []  # its genomes not yet asked
        self._climbs = 0  # climbs started in this local phase
        self._slot: int | None = None  # population index of the climbing individual
        self._slot_genome: Genome | None = None  # the genome it has there
        if replicates < 1 or not 0.0 <= replicate_share < 1.0:
            raise ValueError("memetic: replicates must be at least 1 and replicate_share in [0, 1)")
        self.replicates, self.replicate_share = int(replicates), float(replicate_share)
        self.runs: dict[Genome, list[float]] = {}  # replicated genomes -> the score of each run
        self.replicated = 0  # replicate results told
        self._replica: Genome | None = None  # the replicate asked, not told

    @classmethod
    def identity_defaults(cls, max_epochs: int, options: dict) -> dict:
        """The model pre-screening (on by default since it was added), its self-check (``check``
        20 since round 3 of ``model_selection.py``) and the replicates (``replicates`` 3 since round
        4): a study begun without them is not continued with them (its identity changes unless
        ``model``, ``check``, resp. ``replicates``, is given)."""
        out = {} if "model" in options else {"model": True}
        if "check" not in options and options.get("model", True):
            out["check"] = 20
        if "replicates" not in options:
            out["replicates"] = 3
        return out

    # -- what tests and reports read -------------------------------------------------------------
    local_evals = property(lambda self: self.climber.evals)
    moves = property(lambda self: self.climber.moves)
    local_moves = property(lambda self: len(self.climber.moves))
    population = property(lambda self: self.evolution.population)
    fitness = property(lambda self: self.evolution.fitness)
    log = property(lambda self: self.evolution.log)

    # -- the interface -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Config]:
        out: list[Config] = []
        guard = 0
        if self.model is not None:
            self.model.update(self.archive.known, self.refit)
            screening = self._screening()
            self.order.model = self.model if screening else None
            self.paused_asks += self.model.ready and not screening
        while len(out) < n and not self.finished and guard < 1000:
            guard += 1
            replicate = self._replicate()
            if replicate is not None:
                out.append(replicate)
                continue
            if self._phase == "local":
                g = self._local_proposal()
                if g is not None:
                    self.climber.propose(g)
                    out.append(self.space.decode(g))
                    continue
                if self.climber.pending:
                    break  # wait for the climb's results before deciding
                self._phase = "global"
                self._queue = self._next_batch()
                continue
            if self._queue:
                g = self._queue.pop(0)
                if self.archive.untried(g):
                    self.archive.pending.add(g)
                    out.append(self.space.decode(g))
                continue
            if self.archive.pending:
                break  # wait for the rest of this generation
            if self._batch:
                self.evolution.survive(self._batch)
                self._batch = []
                self._phase, self._climbs, self._slot, self._slot_genome = "local", 0, None, None
                self.climber.centre = None
                continue
            self._queue = self._next_batch()
            if not self._queue and not self._batch:
                break
        if self.check is not None and self.model.ready and out:
            genomes = [self.space.encode(c) for c in out if not isinstance(c, Replicate)]
            for g, p in zip(genomes, self.model.predict(genomes)):
                self.check.predicted(g, p)
        return out

    def skip_wait(self) -> bool:
        """Called when ``ask`` gave nothing: if the local phase waits for its climb's results, end
        the local phase and start the next generation now (True); the next ``ask`` proposes its
        children. The climb's results still count when they come (the archive and the model take
        them, and a move still writes back into the population while the generation runs), but the
        climb proposes no more neighbours, so the local search takes a smaller share of the
        evaluations than without it. For a caller whose workers would otherwise idle (memetic-sh's
        ``fill``)."""
        if self._phase != "local" or not self.climber.pending or self.finished:
            return False
        self._phase = "global"
        self._queue = self._next_batch()
        return True

    def _screening(self) -> bool:
        """Screen with the model now: it is fitted and (with ``check``) passes its self-check."""
        return self.model is not None and self.model.ready and (self.check is None or self.check.trusted)

    def tell(self, config: Config | Replicate, score: float) -> None:
        if isinstance(config, Replicate):
            return self._replicated(self.space.encode(config.config), float(score))
        g = self.space.encode(config)
        score = float(score)
        local = g in self.climber.pending
        is_new = self.archive.record(g, score)
        if self.check is not None:
            self.check.observed(g, score)
        if is_new:
            self.share.observe(score, local)
        if local:
            move = self.climber.result(g, score, is_new)
            if move is not None:
                self._write_back(*move, score)

    # -- replicates ------------------------------------------------------------------------------
    def _replicate(self) -> Replicate | None:
        """One more run of the best genome by mean score while it has fewer than ``replicates``
        runs, none is in flight, and replicates stay within ``replicate_share`` of the results told
        (so, with many trials in flight, nothing is replicated before results are in)."""
        known = self.archive.known
        if self.replicates < 2 or self._replica is not None or not known:
            return None
        if self.replicated + 1 > self.replicate_share * (self.archive.evals + self.replicated):
            return None
        best = max(known, key=known.get)
        done = len(self.runs.get(best, ())) or 1
        if done >= self.replicates:
            return None
        self._replica = best
        return Replicate(self.space.decode(best), done)

    def _replicated(self, g: Genome, score: float) -> None:
        """A replicate's score: the genome's score becomes the mean of its runs, in the archive
        and in the population."""
        self._replica = None
        self.replicated += 1
        runs = self.runs.setdefault(g, [self.archive.known[g]])
        runs.append(score)
        mean = sum(runs) / len(runs)
        self.archive.known[g] = mean
        pop, fit = self.evolution.population, self.evolution.fitness
        for i, member in enumerate(pop):
            if member == g:
                fit[i] = mean

    # -- global phase ------------------------------------------------------------------------------
    def _next_batch(self) -> list[Genome]:
        if not self.evolution.population:
            self._batch = self.evolution.initial()
        else:
            weights = (self.order.mutation_weights(self.archive.known, self.archive.cardinalities)
                       if self.guided_mutation else None)
            if self._screening():
                free = int(round(self.explore * self.offspring))  # children kept unscreened
                screened = self.offspring - free
                self._batch = self.model.pick(self.evolution.breed(screened * self.screen, weights), screened)
                if free:
                    self._batch += [g for g in self.evolution.breed(free, weights) if g not in self._batch]
            else:
                self._batch = self.evolution.breed(self.offspring, weights)
        return [g for g in self._batch if self.archive.untried(g)]

    # -- local phase -------------------------------------------------------------------------------
    def _local_proposal(self) -> Genome | None:
        used = self.climber.evals + len(self.climber.pending)
        if not self.share.allows(used, self.archive.evals + len(self.archive.pending)):
            return None
        for _ in range(self.n_local + 2):
            if self.climber.centre is None and (self.climber.pending or not self._new_climb()):
                return None
            g = self.climber.step()
            if g is not None or self.climber.centre is not None:
                return g
        return None

    def _new_climb(self) -> bool:
        """Start a climb from the best candidate centre whose neighbourhood is not exhausted."""
        if self._climbs >= (1 if self.restart == "none" else self.n_local):
            return False
        pop, fit = self.evolution.population, self.evolution.fitness
        slots = {pop[i]: i for i in sorted(range(len(pop)), key=lambda i: -fit[i])}
        if self.restart == "evaluated":
            known = self.archive.known
            cands = [g for g in sorted(known, key=lambda g: -known[g]) if g not in self.climber.optima]
        else:
            cands = list(slots)
        c = self.climber.start(cands)
        if c is None:
            return False
        self._slot, self._slot_genome = slots.get(c), c
        self._climbs += 1
        return True

    def _write_back(self, c: Genome, g: Genome, score: float) -> None:
        """An accepted move ``c -> g``: update the climbing individual in the population."""
        pop, fit = self.evolution.population, self.evolution.fitness
        slot = self._slot
        if slot is None and self.lamarckian:
            # a climb from outside the population: the improvement replaces the worst member
            worst = self.evolution.replace_worst(g, score)
            if worst is not None:
                self._slot, self._slot_genome = worst, g
        elif slot is not None and slot < len(pop) and pop[slot] == self._slot_genome:
            if self.lamarckian:  # write the improved genome back
                pop[slot] = g
                self._slot_genome = g
            fit[slot] = max(fit[slot], score)
