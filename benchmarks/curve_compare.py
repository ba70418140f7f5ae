"""memetic-sh against random, memetic, tpe-hb, asha and dehb on learning-curve tables (issues 11, 17).

    nice .venv/bin/python benchmarks/curve_compare.py --select    # choose memetic-sh's defaults (curves-a)
    nice .venv/bin/python benchmarks/curve_compare.py             # compare at the defaults (curves-a, curves-b)
    nice .venv/bin/python benchmarks/curve_compare.py --tables curves-c   # the larger held-out table

Tables come from ``benchmarks/curve_tables.py`` (``reports/curve-tables/<name>.csv``); every run
is ``studylib.curve_bench.run_curve`` (the study loop, budget in epochs; curves-a and curves-b
have 27-epoch curves, curves-c 9).

The budget is 20 full trainings' epochs (540 for 27-epoch curves, 180 for 9); regret is read at
1/9, 1/3 and all of it.

* ``--select [--round N]``: the memetic-sh candidates of round N (1: ``CANDIDATES``, 2:
  ``CANDIDATES_ROUND2``, 3: ``CANDIDATES_ROUND3``, 4: ``CANDIDATES_ROUND4``, 5: ``CANDIDATES_ROUND5``, 6:
  ``CANDIDATES_ROUND6``, the default) on the
  development table ``curves-a`` (its 27-epoch curves and the same curves cut at 9 epochs, so that
  a default does not fit one ``--max-epochs``), selection seeds 1000-1099. Rule: the smallest median
  ``ratio`` (below; from round 5 ``ratio_indep``), averaged over the two, wins; ties go to the
  smaller mean of the median regrets, then to the default (from round 6 the goal first: of the
  candidates whose ratio meets it, <= 0.2, the smallest mean regret, ``choose``). From round 4 the check table
  ``curves-b`` is run too, only for round 3's veto (a candidate whose median ratio there is
  infinite is out); it prints the choice (``dev_mean_ratio`` in the CSV is the mean of the column
  the rule reads: ``ratio_indep`` from round 5). Writes
  ``results/curve_selection.csv`` (round 1) or ``results/curve_selection_roundN.csv``.
* default: every strategy at its defaults on every table, seeds 0-99. Writes
  ``results/curve_compare.csv`` (per table and strategy: median regret at the three points and
  ``regret_area``, the median over seeds of a run's mean regret from 1/9 of the budget to all of
  it; at each, Wilcoxon p of memetic-sh against it, paired over seeds, and the seeds where
  memetic-sh's regret is lower / higher; and the ratio) and
  ``results/curve_compare.png`` (median regret against epochs spent). ``--tables curves-c``: the
  same on the larger held-out table, written to ``results/curve_compare_c.csv`` / ``.png``
  (``curve_tables.py``: where a model that chooses which configs to start has room; issue 20,
  item 4).

``ratio`` (per seed, then the median over seeds): the epochs a strategy spends until its regret
is at most random search's final regret (random with full training, same seed and budget),
divided by the budget; a seed that never gets there counts as infinite; ``ratio_ci95`` is a
bootstrap interval of the median (2,000 resamples of the seeds, generator seeded 0). Before a run's
first trial is paid for it has no regret. Issue 17's goal is a median ratio <= 0.2.

``ratio_indep`` (with ``ratio_indep_ci95`` and ``seeds_reaching_indep``): the same against an
*independent* random search, run seed ``seed + REFERENCE_OFFSET``. A run of seed ``s`` shares its
generator's seed and its table noise stream with random search of seed ``s``, so a strategy whose
first draws repeat random search's (a uniform random start made with the same calls does) starts
with random search's configs and their noise, its winner included, and ``ratio`` rewards that copy.
``ratio_indep`` shares nothing with the run (round 5 met this: ``docs/multifidelity.md``). From
round ``INDEPENDENT_FROM`` (5) the selection rule and its veto read ``ratio_indep``. Randomness:
the run seeds and the bootstrap's fixed seed. Each CSV gets a ``.provenance.json`` beside it: the
git commit, the strategy and protocol fingerprints (``studylib.provenance.code_stamp``), seeds
and table hashes.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
FULL_TRAININGS = 20  # the budget: 20 full trainings' epochs (540 for 27-epoch curves)
def _three_rungs(epochs: int) -> int:
    from studylib.strategies.rungs import three_rungs

    return three_rungs(epochs, 3)


BEFORE_ROUND6 = {"min_epochs": _three_rungs}  # memetic-sh's rungs before round 6 (three: max/9, max/3, max)
BEFORE_ROUND5 = {"population_size": 10, "init": "lhs", **BEFORE_ROUND6}  # and its inner population before round 5
STRATEGIES = {  # label -> (strategy, options); the pruners' (and DEHB's) own defaults, and with memetic-sh's rungs
    "random": ("random", None), "memetic": ("memetic", None), "memetic-sh": ("memetic-sh", None),
    "tpe-hb": ("tpe-hb", None), "asha": ("asha", None), "dehb": ("dehb", None),
    "tpe-hb-3rungs": ("tpe-hb", {"min_epochs": _three_rungs}),
    "asha-3rungs": ("asha", {"min_epochs": _three_rungs}),
    # memetic-sh's default is round 6's choice (rungs from 1 epoch) with round 5's (an inner population
    # of 20, the first drawn at random) on round 3's second (quorum 9, reconsider); beside it the
    # default before round 6 (three rungs), the default without the model (its inner GA does not
    # pre-screen: issue 20), the default with the model ranking promotions (issue 20) and, each
    # with three rungs and the population of 10 from the Latin-hypercube-like start it had then:
    # the default before round 5, the default before round 3 (quorum 1, retiring), reconsider
    # alone (round 2), round 3's first (vetoed: it stalls on the check table) and round 4's
    # model-guided promotion (not chosen)
    "memetic-sh-round5": ("memetic-sh", dict(BEFORE_ROUND6)),
    "memetic-sh-no-model": ("memetic-sh", {"inner": "memetic-no-model"}),
    "memetic-sh-promote-model": ("memetic-sh", {"promote_model": True}),
    "memetic-sh-round4": ("memetic-sh", dict(BEFORE_ROUND5)),
    "memetic-sh-previous": ("memetic-sh", {"quorum": 1, "reconsider": False, **BEFORE_ROUND5}),
    "memetic-sh-reconsider": ("memetic-sh", {"quorum": 1, "reconsider": True, **BEFORE_ROUND5}),
    "memetic-sh-quorum9": ("memetic-sh", {"quorum": 9, "reconsider": False, **BEFORE_ROUND5}),
    "memetic-sh-model": ("memetic-sh", {"promote_model": True, **BEFORE_ROUND5}),
}
CANDIDATES = {  # memetic-sh options tried on the development table; a callable gets the table's epochs
    "eta3-min1": dict(eta=3, min_epochs=1),
    "eta2-min1": dict(eta=2, min_epochs=1),
    "eta4-min1": dict(eta=4, min_epochs=1),
    "eta3-min3": dict(eta=3, min_epochs=3),
    "eta3-3rungs": dict(eta=3, min_epochs=_three_rungs),  # max/9, max/3, max (rounded up)
    "eta3-min1-pop20": dict(eta=3, min_epochs=1, population_size=20),
    "eta3-min1-pop5": dict(eta=3, min_epochs=1, population_size=5),
    # issue 17 item 7, fixed before the regenerated tables were looked at: ASHA's promotion rule
    # applied as each result is told, against today's per-generation decision
    "eta3-3rungs-async": dict(eta=3, min_epochs=_three_rungs, promote="async"),
    "eta3-min1-async": dict(eta=3, min_epochs=1, promote="async"),
}
#: round 2 (issue 17, fixed before it was run): ASHA's rule in full (``reconsider``: a config not
#: promoted is paused and promoted later by the rule, or with the budget left when no new config
#: may start) with the round-1 default and the round-1 winner, against both without it
CANDIDATES_ROUND2 = {
    "eta3-3rungs": dict(eta=3, min_epochs=_three_rungs),
    "eta2-min1": dict(eta=2, min_epochs=1),
    "eta3-3rungs-reconsider": dict(eta=3, min_epochs=_three_rungs, reconsider=True),
    "eta2-min1-reconsider": dict(eta=2, min_epochs=1, reconsider=True),
    "eta3-min1-reconsider": dict(eta=3, min_epochs=1, reconsider=True),
}
#: round 3 (issue 17, fixed before it was run on the selection seeds; a first look at the idea used
#: curves-a with seeds 5000-5039 only): a quorum (a rung decides nothing before it has seen
#: ``quorum`` scores; 3 = eta, so the 1/eta cut leaves one out; 9 = eta**2, a synchronous bracket's
#: first rung), with today's rungs and with DEHB's (min_epochs 1), and with ``reconsider``
CANDIDATES_ROUND3 = {
    "eta3-3rungs": dict(eta=3, min_epochs=_three_rungs),
    "eta3-3rungs-q3": dict(eta=3, min_epochs=_three_rungs, quorum=3),
    "eta3-3rungs-q9": dict(eta=3, min_epochs=_three_rungs, quorum=9),
    "eta3-min1-q3": dict(eta=3, min_epochs=1, quorum=3),
    "eta3-min1-q9": dict(eta=3, min_epochs=1, quorum=9),
    "eta3-3rungs-q9-reconsider": dict(eta=3, min_epochs=_three_rungs, quorum=9, reconsider=True),
    "eta3-min1-q9-reconsider": dict(eta=3, min_epochs=1, quorum=9, reconsider=True),
}
#: round 4 (issues 17 and 20, fixed before it was run on the selection seeds; a first look used
#: curves-a with seeds 5000-5039 only): the model guides promotion (``promote_model``: a config's
#: claim is its rung score plus the gain to the next rung that the surrogate predicts; min 10 or 5
#: pairs), and the promotions a decision makes are trained best claim first (``best_first``), on
#: today's default (three rungs, quorum 9, ``reconsider``)
TODAY = dict(eta=3, min_epochs=_three_rungs, quorum=9, reconsider=True)
CANDIDATES_ROUND4 = {
    "eta3-3rungs-q9-reconsider": dict(TODAY),
    "best-first": dict(TODAY, best_first=True),
    "model": dict(TODAY, promote_model=True),
    "model-best-first": dict(TODAY, promote_model=True, best_first=True),
    "model-min5-best-first": dict(TODAY, promote_model=True, promote_model_min=5, best_first=True),
}
#: round 5 (issue 17, fixed before it was run on the selection seeds; a first look used curves-a and
#: its 9-epoch cut with seeds 5000-5199 only): the inner GA's start design and population under
#: memetic-sh: uniform random first population (``init="random"``) instead of the Latin-hypercube-like
#: one, a population of 20 instead of 10, and both, on today's default
CANDIDATES_ROUND5 = {
    "eta3-3rungs-q9-reconsider": dict(TODAY),
    "random-init": dict(TODAY, init="random"),
    "pop20": dict(TODAY, population_size=20),
    "pop20-random-init": dict(TODAY, population_size=20, init="random"),
}
#: round 6 (issue 17, fixed before it was run on the selection seeds; a first look used the regenerated
#: curves-a and its 9-epoch cut with seeds 5000-5199 only, ten variants): four rungs from 1 epoch
#: (``min_epochs=1``: 1, 3, 9, 27; a first rung of 20 costs 20 epochs, not 60) and retiring configs
#: not promoted (``reconsider=False``), each and both, on today's default (round 5's population);
#: the rule reads the goal first (``GOAL_FROM``)
TODAY6 = dict(TODAY, population_size=20, init="random")
CANDIDATES_ROUND6 = {
    "pop20-random-init": dict(TODAY6),
    "min1": dict(TODAY6, min_epochs=1),
    "no-reconsider": dict(TODAY6, reconsider=False),
    "min1-no-reconsider": dict(TODAY6, min_epochs=1, reconsider=False),
}
#: the defaults the rounds ran under, where a candidate does not name them (quorum and reconsider
#: became the default after round 3, the inner GA's population of 20 from a random start after
#: round 5), so a round re-run today has the options it had then; its trials differ by chance, as
#: memetic-sh's inner GA draws from a stream of its own since round 5 (``halving.inner_seed``)
ROUND_DEFAULTS = {"quorum": 1, "reconsider": False, **BEFORE_ROUND5}


def _as_run(candidates: dict) -> dict:
    """``candidates`` with the defaults of their round filled in."""
    return {label: {**ROUND_DEFAULTS, **options} for label, options in candidates.items()}


ROUNDS = {1: (_as_run(CANDIDATES), "curve_selection.csv"),
          2: (_as_run(CANDIDATES_ROUND2), "curve_selection_round2.csv"),
          3: (_as_run(CANDIDATES_ROUND3), "curve_selection_round3.csv"),
          4: (_as_run(CANDIDATES_ROUND4), "curve_selection_round4.csv"),
          5: (_as_run(CANDIDATES_ROUND5), "curve_selection_round5.csv"),
          6: (_as_run(CANDIDATES_ROUND6), "curve_selection_round6.csv")}
#: from round 4 the selection also runs the check table (same seeds) for round 3's written veto:
#: a candidate whose median ratio there is infinite (at most half its seeds reach random's final
#: regret) is out; the first by the rule of those left is chosen (a tie keeps the default)
CHECKED_FROM = 4
#: the independent reference: random search of seed ``seed + REFERENCE_OFFSET`` (no seed a study
#: here uses); from round ``INDEPENDENT_FROM`` the selection reads the ratio against it
REFERENCE_OFFSET = 1_000_000
INDEPENDENT_FROM = 5
REFERENCE = "random-independent"  # its label in the grid (seeds mapped back to the run's)
#: from round ``GOAL_FROM`` the rule reads issue 17's goal first: of the candidates not vetoed, those
#: whose mean ratio over the development table meets the goal (<= ``GOAL_RATIO``) are ranked by the
#: mean of their median regrets (at 1/9, 1/3 and all of the budget, averaged over curves-a at 27 and
#: 9 epochs), then by the ratio, a tie keeping the default; if none meets it, the rule of rounds 1-5
GOAL_FROM, GOAL_RATIO = 6, 0.2
CHECK_TABLE = "curves-b"
DEV_EPOCHS = (27, 9)  # the development table, and its curves cut at 9 epochs


def load(name: str, tables_dir: Path, epochs: int | None = None):
    """Table ``name``; with ``epochs`` (or a name ``name@epochs``), its curves cut there (named
    ``name@epochs``)."""
    from studylib.curve_bench import curve_table_from_frame
    from studylib.table_files import read_frame

    if "@" in name:
        name, cut = name.split("@")
        epochs = epochs or int(cut)
    frame = read_frame(tables_dir / f"{name}.csv")
    if epochs:
        frame, name = frame[frame.epoch <= epochs], f"{name}@{epochs}"
    return curve_table_from_frame(frame, name, "val_accuracy", True)


def table_hashes(tables_dir: Path) -> dict:
    """SHA-256 (12 hex digits) of each learning-curve table file read, for the results' record."""
    import hashlib

    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in sorted(tables_dir.glob("*.csv"))}


def budget_of(table) -> int:
    return FULL_TRAININGS * table.epochs


def checkpoints(budget: int) -> tuple[int, int, int]:
    return budget // 9, budget // 3, budget


def _one(i):
    from studylib.curve_bench import run_curve
    from studylib.parallel import shared

    table, label, strategy, seed, options = shared()[i]
    options = {k: (v(table.epochs) if callable(v) else v) for k, v in (options or {}).items()}
    return label, run_curve(table, strategy, seed, budget_of(table), options)


def run_all(jobs, workers: int) -> pd.DataFrame:
    """Regret after every epoch 1..budget of every job (that of the last trial finished within
    it; NaN before the first trial is paid for, the rule of ``studylib bench --fidelity epoch``):
    rows of table, strategy (label), seed, epochs, regret."""
    from studylib.curve_bench import on_epoch_grid
    from studylib.parallel import run_jobs

    results = run_jobs(_one, range(len(jobs)), workers, shared=jobs)
    grids = []
    for table in {j[0].name: j[0] for j in jobs}.values():
        rows = [(r["table"], label, r["seed"], int(c), float(v)) for label, r in results if r["table"] == table.name
                for c, v in zip(r["cost"], r["regret"])]
        df = pd.DataFrame(rows, columns=["table", "strategy", "seed", "cost", "regret"])
        grids.append(on_epoch_grid(df, budget_of(table)).rename(columns={"evaluation": "epochs"}))
    return pd.concat(grids, ignore_index=True)


def ratios(grid: pd.DataFrame, reference: pd.DataFrame) -> pd.Series:
    """Per seed: epochs until regret <= the reference's final regret (same seed), / the budget."""
    budget = int(reference.epochs.max())
    target = reference[reference.epochs == budget].set_index("seed").regret
    out = {}
    for seed, g in grid.groupby("seed"):
        hit = g[g.regret <= target.get(seed, -math.inf) + 1e-12]
        out[seed] = hit.epochs.min() / budget if len(hit) else math.inf
    return pd.Series(out)


def compare_csv(tables: list[str]) -> str:
    """The comparison's CSV name: ``curve_compare.csv`` for the two default tables, else named by
    the tables (``curves-c`` -> ``curve_compare_c.csv``), so another table does not overwrite it."""
    if list(tables) == ["curves-a", "curves-b"]:
        return "curve_compare.csv"
    return "curve_compare_" + "_".join(t.removeprefix("curves-") for t in tables) + ".csv"


def regret_area(grid: pd.DataFrame) -> pd.Series:
    """Per seed: the run-mean regret, the mean regret over the epochs from 1/9 of the budget to all
    of it (the span the three checkpoints sample; NaN if a run has no regret yet at 1/9).
    ``grid``: one table and one strategy (rows are grouped by seed only)."""
    first = checkpoints(int(grid.epochs.max()))[0]
    return grid[grid.epochs >= first].groupby("seed").regret.agg(lambda r: r.mean(skipna=False))


def reference_regret(table, seed: int) -> float:
    """The independent reference's final regret for run seed ``seed``: random search of seed
    ``seed + REFERENCE_OFFSET`` with the table's budget, one trial at a time."""
    from studylib.curve_bench import run_curve

    return float(run_curve(table, "random", seed + REFERENCE_OFFSET, budget_of(table))["regret"][-1])


def write_result(frame: pd.DataFrame, name: str, stamp: dict, **csv) -> None:
    """``frame`` as ``results/<name>`` with its provenance sidecar, and printed."""
    from studylib import provenance

    provenance.write_result(frame, RESULTS / name, stamp, **csv)
    print(frame.to_string(index=False))


def reference_jobs(tables, seeds) -> list:
    """The independent reference's runs: random search of seed ``s + REFERENCE_OFFSET`` per seed."""
    return [(t, REFERENCE, "random", s + REFERENCE_OFFSET, None) for t in tables for s in seeds]


def split_reference(grid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the grid without the independent reference, the reference with its seeds mapped back)."""
    ref = grid[grid.strategy == REFERENCE]
    return grid[grid.strategy != REFERENCE], ref.assign(seed=ref.seed - REFERENCE_OFFSET)


def _ratio_columns(r: np.ndarray, suffix: str = "") -> dict:
    boot = np.median(np.random.default_rng(0).choice(r, size=(2000, len(r))), axis=1)
    return {f"ratio{suffix}": float(np.median(r)),
            f"ratio{suffix}_ci95": "[{:.3g}, {:.3g}]".format(*np.quantile(boot, [0.025, 0.975], method="nearest")),
            f"seeds_reaching{suffix}": int(np.isfinite(r).sum())}


def _paired(proposal: pd.Series, other: pd.Series, point: str) -> dict:
    """``p@point`` (Wilcoxon signed-rank, paired by seed; NaN if a seed has no value, 1 if no seed
    differs) and ``sh_better/worse@point`` (seeds where ``proposal``'s regret is lower / higher)."""
    from scipy.stats import wilcoxon

    a = proposal.reindex(other.index)
    d = (a - other).to_numpy()
    p = math.nan if np.isnan(d).any() else float(wilcoxon(a, other).pvalue) if np.any(d != 0) else 1.0
    return {f"p@{point}": p, f"sh_better/worse@{point}": f"{int((d < 0).sum())}/{int((d > 0).sum())}"}


def summarize(grid: pd.DataFrame, reference: pd.DataFrame, proposal: str | None,
              independent: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per table and strategy: median regrets at the checkpoints and ``regret_area`` (the median of
    :func:`regret_area`), paired tests of each against ``proposal`` (:func:`_paired`), ``ratio``
    against ``reference`` (same seed) and, with ``independent`` (seeds mapped back), ``ratio_indep``."""
    from studylib.numbers import median_over_runs

    rows = []
    for (table, strategy), g in grid.groupby(["table", "strategy"], sort=False):
        row = {"table": table, "strategy": strategy, "seeds": g.seed.nunique()}
        ref = reference[reference.table == table]
        mine = grid[(grid.table == table) & (grid.strategy == proposal)]
        paired = bool(proposal) and strategy != proposal
        for point, c in zip(("1/9", "1/3", "1"), checkpoints(int(g.epochs.max()))):
            at = g[g.epochs == c].set_index("seed").regret
            row[f"regret@{point}"] = float(median_over_runs(at.to_numpy()))
            if paired:  # p NaN: a seed has no regret there yet
                row.update(_paired(mine[mine.epochs == c].set_index("seed").regret, at, point))
        area = regret_area(g)
        row["regret_area"] = float(median_over_runs(area.to_numpy()))
        if paired:
            row.update(_paired(regret_area(mine), area, "area"))
        row.update(_ratio_columns(ratios(g, ref).to_numpy()))
        if independent is not None:
            row.update(_ratio_columns(ratios(g, independent[independent.table == table]).to_numpy(), "_indep"))
        rows.append(row)
    return pd.DataFrame(rows)


def choose(both: pd.DataFrame, vetoed: set, default: str, goal_first: bool = False) -> str | None:
    """The selection rule. ``both``: per candidate (the index) the development table's mean
    ``ratio`` and ``mean_regret``; ``vetoed``: candidates out (round 3's veto). Rounds 1-5: the
    smallest ratio, then mean regret, a tie keeping ``default``; ``goal_first`` (from round 6): of
    those whose ratio meets ``GOAL_RATIO``, the smallest mean regret, then ratio, then ``default``
    (the rounds 1-5 rule if none meets it). None when every candidate is vetoed."""
    order = both[~both.index.isin(vetoed)].reset_index(names="strategy")
    order["default"] = order.strategy != default  # False sorts first: a tie keeps the default
    keys = ["ratio", "mean_regret", "default"]
    if goal_first and (order.ratio <= GOAL_RATIO).any():
        order, keys = order[order.ratio <= GOAL_RATIO], ["mean_regret", "ratio", "default"]
    order = order.sort_values(keys, kind="stable")
    return order.strategy.iloc[0] if len(order) else None


RIVALS = ("random", "memetic", "tpe-hb", "asha", "dehb")  # the figure's first row: memetic-sh against these


def figure(grid: pd.DataFrame, path: Path, proposal: str = "memetic-sh") -> None:
    """Median regret against epochs spent, one column per table: the first row ``proposal``
    against ``RIVALS``, the second against its own variants (and any other row), each line with
    a colour of its own and the legends beside the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = list(dict.fromkeys(grid.table))
    labels = list(dict.fromkeys(grid.strategy))
    rows = [[proposal] + [s for s in RIVALS if s in labels],
            [proposal] + [s for s in labels if s != proposal and s not in RIVALS]]
    rows = [r for r in rows if len(r) > 1]
    colours = plt.get_cmap("tab20").colors
    fig, axes = plt.subplots(len(rows), len(tables), figsize=(5.5 * len(tables) + 2.5, 3.8 * len(rows)),
                             squeeze=False)
    for r, members in enumerate(rows):
        for c, table in enumerate(tables):
            ax = axes[r][c]
            for i, strategy in enumerate(members):
                g = grid[(grid.table == table) & (grid.strategy == strategy)]
                med = g.groupby("epochs").regret.median()
                ax.step(med.index, med.to_numpy(), where="post", label=strategy, color="black" if i == 0 else
                        colours[(2 * (i - 1)) % len(colours) if r == 0 else (i - 1) % len(colours)],
                        linewidth=2.2 if i == 0 else 1.2)
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_title(f"{table}: {'against the rivals' if r == 0 and members[1] in RIVALS else 'variants'} "
                         "(median over seeds)", fontsize=10)
            ax.set_xlabel("epochs spent")
            if c == 0:
                ax.set_ylabel("regret (final-epoch val. accuracy)")
        axes[r][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def show(frame: pd.DataFrame) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--select", action="store_true", help="choose memetic-sh's defaults on curves-a")
    p.add_argument("--round", type=int, default=max(ROUNDS), choices=sorted(ROUNDS),
                   help="--select: which round's candidates (each writes its own CSV)")
    p.add_argument("--tables", nargs="+", default=["curves-a", "curves-b"])
    p.add_argument("--tables-dir", default=str(ROOT / "reports" / "curve-tables"))
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--csv", default=None,
                   help="the comparison's CSV in benchmarks/results (its figure: the same name, .png); default "
                        "curve_compare.csv for curves-a and curves-b, else curve_compare_<a_b_...>.csv "
                        "(curves-c: curve_compare_c.csv); --select writes its round's CSV instead")
    args = p.parse_args(argv)
    from studylib import provenance

    RESULTS.mkdir(parents=True, exist_ok=True)
    tables_dir = Path(args.tables_dir)
    candidates, selection_csv = ROUNDS[args.round]
    runs = {"random": ("random", None), **{k: ("memetic-sh", o) for k, o in candidates.items()}} if args.select \
        else STRATEGIES
    stamp = provenance.code_stamp(runs, protocol=provenance.CURVE_PROTOCOL, tables=args.tables if not args.select else
                                  ["curves-a"] + ([CHECK_TABLE] if args.round >= CHECKED_FROM else []), seeds=args.seeds,
                                  select=args.select, table_hashes=table_hashes(tables_dir))
    if args.select:
        tables = [load("curves-a", tables_dir, None if e == 27 else e) for e in DEV_EPOCHS]
        check = [load(CHECK_TABLE, tables_dir)] if args.round >= CHECKED_FROM else []
        seeds = range(1000, 1000 + args.seeds)
        jobs = [(t, "random", "random", s, None) for t in tables + check for s in seeds]
        jobs += [(t, label, "memetic-sh", s, opts) for t in tables + check for label, opts in candidates.items()
                 for s in seeds]
        independent = args.round >= INDEPENDENT_FROM
        jobs += reference_jobs(tables + check, seeds) if independent else []
        grid, ref = split_reference(run_all(jobs, args.workers))
        out = summarize(grid[grid.strategy != "random"], grid[grid.strategy == "random"], None,
                        ref if independent else None)
        rank = "ratio_indep" if independent else "ratio"  # what the rule reads
        out = out.assign(mean_regret=out.filter(like="regret@").mean(axis=1))
        dev = out[out.table != CHECK_TABLE] if check else out
        both = dev.groupby("strategy", sort=False)[[rank, "mean_regret"]].mean().rename(columns={rank: "ratio"})
        out = out.join(both.add_prefix("dev_mean_"), on="strategy")
        if check:
            vetoed = set(out[(out.table == CHECK_TABLE) & ~np.isfinite(out[rank])].strategy)
            out["vetoed"] = out.strategy.isin(vetoed)
            chosen = choose(both, vetoed, next(iter(candidates)), goal_first=args.round >= GOAL_FROM)
            out["chosen"] = out.strategy == chosen
            print("chosen:", chosen or "none (all vetoed)")
        out = out.sort_values(["dev_mean_ratio", "dev_mean_mean_regret", "table"], kind="stable")
        provenance.write_result(out, RESULTS / selection_csv, stamp)
        show(out)
        return 0
    tables = [load(t, tables_dir) for t in args.tables]
    jobs = [(t, label, s, seed, opts) for t in tables for label, (s, opts) in STRATEGIES.items()
            for seed in range(args.seeds)]
    grid, ref = split_reference(run_all(jobs + reference_jobs(tables, range(args.seeds)), args.workers))
    out = summarize(grid, grid[grid.strategy == "random"], "memetic-sh", ref)
    csv = RESULTS / (args.csv or compare_csv(args.tables))
    figure(grid, csv.with_suffix(".png"))
    provenance.write_result(out, csv, stamp)
    show(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
