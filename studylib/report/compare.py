"""Round 4 (``studylib run compare``): the comparison the paper promised but never ran.

The paper proposes a genetic algorithm hybridised with local search (a *memetic* GA) to tune CNN
structure and training together (Sections I and VII). This module runs it against a plain GA,
random search (the paper's method) and TPE (Bayesian optimisation) at an EQUAL budget, and
reports:

* :func:`run_compare` — one study per strategy x seed on the round-3 CNN space (Table III,
  3,072 configs) with real training, each in its own folder ``out_dir/<strategy>/seed-<s>/``
  (its own ledger: no strategy is ever served another's results), plus, optionally, the tabular
  benchmark (:mod:`studylib.bench`) on a few tables; returns a :class:`CompareRun`;
* :func:`best_so_far` / :func:`fig_best_so_far` — best validation accuracy so far vs trial number,
  per strategy (median and range across seeds);
* :func:`final_table` — final best validation accuracy and the test accuracy of that trial, per
  strategy, mean ± std over seeds;
* :func:`fig_bench_regret` / :func:`bench_table` — regret vs evaluations on the tables and the
  summary (median regret at checkpoints, Wilcoxon p of memetic vs each strategy);
* :func:`protocol` — the fairness protocol in a few lines; :func:`compare_provenance` — what
  produced the report; :func:`compare_summary` — the ``summary.json`` ``index.html`` reads.

Functions taking ``data`` accept a :class:`CompareRun` or a DataFrame with (at least) the columns
``strategy``, ``seed``, ``trial`` (1-based, in proposal order), ``best_acc``, ``test_acc`` and
optionally ``status``.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import paths, profiles
from ..errors import StudyError
from ..outdir import read_study_record
from .figures import FAIL_COLOR, _finish, _new_figure
from .rounds import Block, code_rows, _fmt_time, best_by_seed, default_out_dir, write_summary

SPACE = "round3"
STRATEGIES = ("ga", "memetic", "random", "tpe")
PROPOSAL = "memetic"  # the paper's proposal: highlighted, tested against every other strategy
BENCH_TABLES = ("nb201-cifar10", "hpolib-naval")
#: What ``None`` means for the comparison's own settings, per profile (the CNN budget per study
#: otherwise comes from :mod:`studylib.profiles`: epochs, patience, data sizes).
DEFAULTS = {
    "smoke": {"trials": 6, "repeats": 2, "bench_seeds": 5, "bench_budget": 60},
    "paper": {"trials": 50, "repeats": 5, "bench_seeds": 30, "bench_budget": 200},
}
LABELS = {"memetic": "memetic GA (GA + local search)", "ga": "GA", "random": "random search",
          "tpe": "TPE (Bayesian)", "optuna-ga": "optuna GA (NSGA-II)", "grid": "grid search"}
SHORT = {"memetic": "Memetic GA", "ga": "GA", "random": "Random Search", "tpe": "TPE",
         "optuna-ga": "Optuna GA", "grid": "Grid Search"}
COLORS = {"memetic": FAIL_COLOR, "ga": "#ff7f0e", "random": "#7f7f7f", "tpe": "#1f77b4",
          "optuna-ga": "#2ca02c", "grid": "#9467bd"}
#: Line styles, so curves that coincide (e.g. GA and random search within the GA's first,
#: random, generation) stay visible.
DASHES = {"memetic": "-", "ga": "--", "random": "-", "tpe": "-.", "optuna-ga": ":", "grid": ":"}
#: Initial design of each strategy with its default options (proposals before it uses any result).
INITIAL_DESIGN = {"ga": ("population_size", 20), "memetic": ("population_size", 10),
                  "optuna-ga": ("population_size", 20), "tpe": ("n_startup_trials", 10)}
TABLE_FINAL = "Table V. Best Validation Accuracy and its Test Accuracy at Equal Budget"
TABLE_BENCH = "Table VI. Median Regret on Tabular Benchmarks at Equal Evaluations"
FIG_CURVES = "Fig. 10. Best Validation Accuracy vs Trials at Equal Budget"
FIG_BENCH = "Fig. 11. Regret vs Evaluations on Tabular Benchmarks"


def label(strategy: str) -> str:
    return LABELS.get(strategy, strategy)


def _color(strategy: str, i: int) -> str:
    if strategy in COLORS:
        return COLORS[strategy]
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


# -- settings ---------------------------------------------------------------------------------------

def resolve_strategies(spec: str | Sequence[str] | None) -> list[str]:
    """``"ga, memetic"`` or ``["ga", "memetic"]`` -> names (checked, duplicates dropped);
    ``None`` or ``""``: :data:`STRATEGIES`."""
    from ..strategies import REGISTRY

    if spec is None:
        return list(STRATEGIES)
    names = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    names = [n.strip() for n in names if n.strip()]
    if not names:
        return list(STRATEGIES)
    for n in names:
        if n not in REGISTRY:
            raise StudyError(f"unknown strategy {n!r} (choose from: {', '.join(REGISTRY)})")
    return list(dict.fromkeys(names))


def resolve_tables(spec: str | Sequence[str] | None) -> list[str]:
    """Benchmark tables: a comma string or list; ``""``, ``"none"`` or ``None``: no benchmark."""
    from ..bench import resolve_tables as bench_tables

    if spec is None:
        return []
    if isinstance(spec, str) and spec.strip().lower() in ("", "none", "no", "off"):
        return []
    names = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    names = [n.strip() for n in names if n.strip()]
    return bench_tables(names) if names else []


def _positive(name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
        raise StudyError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
    return int(v)


def settings(profile: str = "smoke", *, trials: int | None = None, repeats: int | None = None,
             bench_seeds: int | None = None, bench_budget: int | None = None) -> dict:
    """The comparison's settings: the profile's defaults (:data:`DEFAULTS`) with every given value
    applied (``repeats`` = seeds per strategy)."""
    if profile not in profiles.PROFILES:
        raise StudyError(f"unknown profile {profile!r} (choose from: {', '.join(profiles.PROFILES)})")
    base = dict(DEFAULTS.get(profile, DEFAULTS["paper"]))
    for k, v in (("trials", trials), ("bench_seeds", bench_seeds), ("bench_budget", bench_budget)):
        if v is not None:
            base[k] = _positive(k, v)
    if repeats is not None:
        base["repeats"] = _positive("repeats", repeats)
    return base


# -- running -----------------------------------------------------------------------------------

@dataclass
class BenchRun:
    """The tabular benchmark's curves (``table, strategy, seed, evaluation, regret``) and summary."""

    tables: list[str]
    strategies: list[str]
    seeds: list[int]
    budget: int
    curves: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    out_dir: Path | None = None
    wall_time: float = 0.0


@dataclass
class CompareRun:
    """Every strategy x seed study of one comparison, and what produced them."""

    space: object                               # SearchSpace
    profile: str
    strategies: list[str]
    seeds: list[int]
    settings: dict                              # trials, max_epochs, patience, data sizes, bench_*
    out_dir: Path
    results: dict = field(repr=False)           # (strategy, seed) -> StudyResult
    data: dict = field(repr=False)              # Dataset.describe()
    provenance: dict = field(repr=False)
    executor: str = "serial"
    bench: BenchRun | None = field(default=None, repr=False)
    wall_time: float = 0.0

    @property
    def frame(self) -> pd.DataFrame:
        """Every trial of every study, with ``strategy`` and ``seed`` columns."""
        frames = [r.frame.assign(strategy=s, seed=seed) for (s, seed), r in self.results.items() if len(r.frame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def context(self) -> str:
        seeds = f"seed {self.seeds[0]}" if len(self.seeds) == 1 else f"{len(self.seeds)} seeds"
        return (f"this run: {self.data.get('dataset')}, {self.space.name} space, "
                f"{self.settings['trials']} distinct trials per study, {seeds}, "
                f"at most {self.settings['max_epochs']} epochs per trial, profile {self.profile}")

    @property
    def trained(self) -> int:
        return int(sum(r.trained for r in self.results.values()))

    @property
    def served(self) -> int:
        return int(sum(r.served for r in self.results.values()))


def _note(msg: str) -> None:
    sys.stderr.write(f"compare: {msg}\n")  # kept in the executed notebook, left out of the HTML
    sys.stderr.flush()


def run_compare(*, dataset: str = "digits", profile: str = "smoke", strategies=None, trials: int | None = None,
                seed: int = 0, repeats: int | None = None, max_epochs: int | None = None,
                patience: int | None = None, train_size: int | None = None, data_dir: str | None = None,
                out_dir: str | Path | None = None, executor: str | None = None,
                bench_tables=BENCH_TABLES, bench_seeds: int | None = None, bench_budget: int | None = None,
                strategy_options: dict | None = None, progress: bool = False) -> CompareRun:
    """Run (or continue) the comparison: for each seed ``seed .. seed + n - 1`` and each strategy,
    a study of ``trials`` distinct configs of the round-3 space into
    ``out_dir/<strategy>/seed-<s>/``, and the tabular benchmark into ``out_dir/bench/`` (unless
    ``bench_tables`` is empty). Writes ``out_dir/trials.csv`` (every trial, ``strategy`` and
    ``seed`` columns) and ``out_dir/summary.json``.

    Every input is validated (and the data loaded) before anything is written or trained. The
    benchmark runs first, before any CNN is trained: its worker processes are forked, which must
    happen before TensorFlow starts threads in this process.

    ``executor``: where trials train (``inline``: this process, no start-up cost per study;
    ``serial``: a child process per study; ``dask``); ``None``: ``inline`` for the smoke
    profile, ``serial`` otherwise. Results do not depend on it (same seeds, same proposals).
    ``strategy_options``: ``{strategy: {option: value}}``, the same for every seed.
    """
    from ..executors import EXECUTORS
    from ..space import load_space
    from ..study import check_out_dir, prepare, run_study

    start = time.perf_counter()
    names = resolve_strategies(strategies)
    tables = resolve_tables(bench_tables)
    conf = settings(profile, trials=trials, repeats=repeats, bench_seeds=bench_seeds, bench_budget=bench_budget)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise StudyError(f"seed must be a non-negative integer, got {seed!r}")
    kind = executor or ("inline" if profile == "smoke" else "serial")
    if kind not in EXECUTORS:
        raise StudyError(f"unknown executor {kind!r} (choose from: {', '.join(EXECUTORS)})")
    space = load_space(SPACE)
    seeds = [seed + i for i in range(conf["repeats"])]
    out = Path(out_dir) if out_dir else default_out_dir(dataset, profile) / "compare"
    options = dict(trials=conf["trials"], dataset=dataset, profile=profile, max_epochs=max_epochs,
                   patience=patience, train_size=train_size, data_dir=data_dir)
    strategy_options = strategy_options or {}
    plans = {(s, sd): prepare(space, strategy=s, seed=sd, strategy_options=strategy_options.get(s), **options)
             for sd in seeds for s in names}  # validates every study first
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)

    bench = None
    if tables:
        bench = run_bench_curves(tables, names, conf["bench_seeds"], conf["bench_budget"], out / "bench",
                                 options=strategy_options)

    results = {}
    for (s, sd), (spec, data) in plans.items():  # seed by seed: every strategy of a seed, then the next
        t0 = time.perf_counter()
        res = run_study(spec, data, out / s / f"seed-{sd}", executor=kind, progress=progress)
        results[(s, sd)] = res
        best = res.best
        _note(f"{s} seed {sd}: {len(res.frame)} trials ({res.trained} trained, {res.served} served), best_acc "
              f"{'-' if best is None else f'{best.best_acc:.4f}'} ({time.perf_counter() - t0:.0f} s)")

    spec, data = next(iter(plans.values()))
    resolved = profiles.resolve(profile, SPACE, trials=conf["trials"], max_epochs=max_epochs, patience=patience,
                                train_size=train_size)
    first = next(iter(results.values()))
    prov = read_study_record(first.out_dir, first.study_id).get("provenance", {})
    run = CompareRun(space=space, profile=profile, strategies=names, seeds=seeds,
                     settings={**resolved, **conf, "strategy_options": strategy_options}, out_dir=out,
                     results=results, data=data.describe(), provenance=prov, executor=kind, bench=bench)
    from ..ledger import paper_csv_frame, write_csv_atomic

    frame = run.frame
    if len(frame):
        lead = ["strategy", "seed"]
        csv = paper_csv_frame(frame, space.paper_names())
        write_csv_atomic(csv[lead + [c for c in csv.columns if c not in lead]], out / paths.TRIALS_CSV)
    run.wall_time = time.perf_counter() - start
    write_summary(out, compare_summary(run))
    return run


def run_bench_curves(tables, strategies, seeds, budget: int, out_dir: str | Path | None = None,
                     workers: int | None = None, options: dict | None = None) -> BenchRun:
    """:func:`studylib.bench.run_bench` on ``tables`` for ``strategies`` (``seeds``: a count or a
    list), keeping its per-evaluation curves; writes ``bench.csv``, ``bench_summary.csv`` and
    this report's figure ``bench_regret.png`` into ``out_dir``. ``workers`` defaults to 2, or 1
    once TensorFlow is loaded in this process (forking it could hang)."""
    from .. import bench as B

    start = time.perf_counter()
    out = Path(out_dir) if out_dir else B.default_out_dir()
    if workers is None:
        workers = 1 if "tensorflow" in sys.modules else 2
    summary = B.run_bench(list(tables), list(strategies), seeds, budget, out, workers=workers, progress=False,
                          options=options or None, plot=False)
    curves = pd.read_csv(out / "bench.csv")
    seed_list = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    run = BenchRun(tables=[t if isinstance(t, str) else t.name for t in tables], strategies=list(strategies),
                   seeds=seed_list, budget=int(budget), curves=curves, summary=summary, out_dir=out,
                   wall_time=time.perf_counter() - start)
    fig_bench_regret(run).savefig(out / "bench_regret.png")
    _note(f"benchmark: {len(run.tables)} table(s) x {len(run.strategies)} strategies x {len(seed_list)} seeds "
          f"x {budget} evaluations ({run.wall_time:.0f} s)")
    return run


# -- the CNN comparison -----------------------------------------------------------------------------

def _frame(data) -> pd.DataFrame:
    frame = data.frame if isinstance(data, CompareRun) else data
    if frame is None or not len(frame):
        return pd.DataFrame(columns=["strategy", "seed", "trial", "best_acc", "test_acc"])
    missing = [c for c in ("strategy", "best_acc") if c not in frame]
    if missing:
        raise KeyError(f"the trials have no column(s) {', '.join(missing)}")
    return frame


def _strategy_order(frame: pd.DataFrame, data=None) -> list[str]:
    if isinstance(data, CompareRun):
        return list(data.strategies)
    present = list(dict.fromkeys(frame["strategy"])) if len(frame) else []
    ordered = [s for s in STRATEGIES if s in present]
    return ordered + [s for s in present if s not in ordered]


def best_so_far(data) -> pd.DataFrame:
    """One row per trial: ``strategy, seed, trial, best_acc, best_so_far`` — the best validation
    accuracy among trials ``1..trial`` of that strategy and seed (failed trials never improve it;
    NaN before the first finished trial). Trials are numbered 1.. in proposal order; a frame
    without ``trial`` is taken to be in that order."""
    frame = _frame(data)
    rows = []
    f = frame.copy()
    if "seed" not in f:
        f["seed"] = 0
    for (s, sd), g in f.groupby(["strategy", "seed"], sort=False):
        g = g.sort_values("trial", kind="stable") if "trial" in g else g
        trial = g["trial"].to_numpy() if "trial" in g else np.arange(1, len(g) + 1)
        acc = pd.to_numeric(g["best_acc"], errors="coerce")
        if "status" in g:
            acc = acc.where(g["status"] != "failed")
        run = acc.fillna(-np.inf).cummax().replace(-np.inf, np.nan)
        rows.append(pd.DataFrame({"strategy": s, "seed": sd, "trial": trial.astype(int),
                                  "best_acc": acc.to_numpy(), "best_so_far": run.to_numpy()}))
    if not rows:
        return pd.DataFrame(columns=["strategy", "seed", "trial", "best_acc", "best_so_far"])
    return pd.concat(rows, ignore_index=True)


def curve_bands(data) -> pd.DataFrame:
    """Per strategy and trial number: ``median``, ``low`` and ``high`` (min and max) of the
    best-so-far accuracy across seeds, and ``seeds`` (how many seeds reached that trial)."""
    bsf = best_so_far(data)
    if not len(bsf):
        return pd.DataFrame(columns=["strategy", "trial", "median", "low", "high", "seeds"])
    g = bsf.groupby(["strategy", "trial"], sort=False)["best_so_far"]
    out = pd.DataFrame({"median": g.median(), "low": g.min(), "high": g.max(), "seeds": g.count()}).reset_index()
    return out


def _title_with(title: str, order: Sequence[str]) -> str:
    names = [SHORT.get(s, s) for s in ([PROPOSAL] if PROPOSAL in order else []) + [s for s in order
                                                                                   if s != PROPOSAL]]
    if not names:
        return title
    return f"{title}: " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}")


def fig_best_so_far(data, *, context: str | None = None, title: str | None = None):
    """Fig. 10: best validation accuracy so far vs trial number, one line per strategy (median
    across seeds, step-wise) and a band from the worst to the best seed."""
    frame = _frame(data)
    order = _strategy_order(frame, data)
    title = title or _title_with(FIG_CURVES, order)
    bands = curve_bands(frame)
    n_seeds = frame["seed"].nunique() if "seed" in frame and len(frame) else 1
    if context is None and isinstance(data, CompareRun):
        context = data.context
    fig, (ax,) = _new_figure(width=8.0, height=4.8)
    drawn = 0
    for i, s in enumerate(order):
        b = bands[bands["strategy"] == s].sort_values("trial")
        if not len(b) or b["median"].isna().all():
            continue
        c = _color(s, i)
        lw, z = (2.6, 4) if s == PROPOSAL else (1.7, 3 if DASHES.get(s, "-") != "-" else 2)
        # step-wise, held for half a trial past the last one so its value is drawn too
        x = np.append(b["trial"].to_numpy(dtype=float), b["trial"].iloc[-1] + 0.5)
        ext = b.iloc[list(range(len(b))) + [len(b) - 1]]
        ax.step(x, ext["median"], where="post", color=c, lw=lw, ls=DASHES.get(s, "-"), zorder=z, label=label(s),
                marker="o", ms=4, markevery=list(range(len(b))))
        if n_seeds > 1:
            ax.fill_between(x, ext["low"], ext["high"], step="post", color=c, alpha=0.15, lw=0)
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no finished trials", transform=ax.transAxes, ha="center", color="0.4")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (distinct configurations trained, in proposal order)")
    ax.set_ylabel("best best_acc so far (validation)")
    if drawn:
        spread = f"median over {n_seeds} seeds; band: worst to best seed" if n_seeds > 1 else "one seed"
        ax.legend(loc="lower right", fontsize="small", frameon=True, title=spread, title_fontsize="small")
    return _finish(fig, title, context, len(frame))


def _mean_std(values) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else math.nan
    return mean, std


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if math.isfinite(std) else f"{100 * mean:.2f} (1 seed)"


def final_table(data, *, styled: bool = False):
    """Table V: per strategy, the final best validation accuracy (``best_acc`` of each seed's best
    trial) and the test accuracy of that same trial, mean ± sample std over seeds, in percent.

    Columns: ``seeds``, ``trials per seed``, ``best_acc mean``, ``best_acc std``, ``test_acc
    mean``, ``test_acc std`` (fractions) and the two ``mean ± std`` texts (percent). Model
    selection looks only at ``best_acc``. ``styled=True``: a captioned Styler of the texts."""
    frame = _frame(data)
    order = _strategy_order(frame, data)
    rows = []
    for s in order:
        sub = frame[frame["strategy"] == s]
        best = best_by_seed(sub)
        am, asd = _mean_std(best["best_acc"]) if len(best) else (math.nan, math.nan)
        tm, tsd = _mean_std(best["test_acc"]) if len(best) and "test_acc" in best else (math.nan, math.nan)
        per_seed = sub.groupby("seed").size() if "seed" in sub and len(sub) else pd.Series(dtype=int)
        trials = (str(int(per_seed.iloc[0])) if per_seed.nunique() == 1
                  else f"{int(per_seed.min())}-{int(per_seed.max())}") if len(per_seed) else "0"
        rows.append({"strategy": s, "method": label(s), "seeds": int(len(per_seed)), "trials per seed": trials,
                     "best_acc mean": am, "best_acc std": asd, "test_acc mean": tm, "test_acc std": tsd,
                     "best_acc (val, %) mean ± std": _pm(am, asd),
                     "test_acc of that trial (%) mean ± std": _pm(tm, tsd)})
    table = pd.DataFrame(rows, columns=["strategy", "method", "seeds", "trials per seed", "best_acc mean",
                                        "best_acc std", "test_acc mean", "test_acc std",
                                        "best_acc (val, %) mean ± std", "test_acc of that trial (%) mean ± std"])
    table = table.set_index("strategy")
    if not styled:
        return table
    shown = table[["method", "seeds", "trials per seed", "best_acc (val, %) mean ± std",
                   "test_acc of that trial (%) mean ± std"]]
    dataset = (data.data.get("dataset") if isinstance(data, CompareRun)
               else str(frame["dataset"].iloc[0]) if "dataset" in frame and len(frame) else None)
    caption = (f"{TABLE_FINAL}" + (f" ({dataset})" if dataset else "")
               + ": per seed, the trial with the best validation accuracy; mean ± sample std over seeds")

    def bold(row):
        return ["font-weight: bold" if row.name == PROPOSAL else "" for _ in row]

    return shown.style.set_caption(caption).apply(bold, axis=1)


# -- the tabular benchmark -------------------------------------------------------------------------

def _skipped(what: str) -> Block:
    return Block(what, notes=["The tabular benchmark was not run (bench_tables is empty)."])


def fig_bench_regret(bench: BenchRun | None, *, title: str = FIG_BENCH):
    """Fig. 11: regret vs charged evaluations, one panel per table: median over seeds (line) and
    interquartile range (band), log scale; memetic GA drawn thicker."""
    if bench is None:
        return _skipped(title)
    df = bench.curves
    tables = list(dict.fromkeys(df["table"]))
    order = [s for s in bench.strategies if s in set(df["strategy"])]
    ncols = max(1, min(len(tables), 3))
    nrows = max(1, math.ceil(len(tables) / ncols))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.9 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    for ax, table in zip(axes.flat, tables):
        sub = df[df["table"] == table]
        positive = sub["regret"][sub["regret"] > 0]
        floor = float(positive.min()) / 2 if len(positive) else 1e-6
        for i, s in enumerate(order):
            m = sub[sub["strategy"] == s].pivot(index="seed", columns="evaluation", values="regret")
            if not len(m):
                continue
            x = m.columns.to_numpy()
            q25, q50, q75 = (np.quantile(m.to_numpy(), q, axis=0) for q in (0.25, 0.5, 0.75))
            c = _color(s, i)
            ax.plot(x, np.maximum(q50, floor), color=c, lw=2.4 if s == PROPOSAL else 1.5,
                    ls=DASHES.get(s, "-"), zorder=3 if s == PROPOSAL else 2, label=label(s))
            ax.fill_between(x, np.maximum(q25, floor), np.maximum(q75, floor), color=c, alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_title(table)
        ax.set_xlabel("evaluations (distinct configs)")
        ax.set_ylabel("regret (median, IQR)")
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="x-small", loc="upper right")
    context = (f"this run: {len(bench.seeds)} seeds x {bench.budget} evaluations per strategy and table; "
               "regret = best mean in the table - mean of the best observed config")
    return _finish(fig, title, context, len(df))


def bench_table(bench: BenchRun | None, *, styled: bool = False):
    """Table VI: per table and strategy, the median regret at the checkpoints (50, 100, 200
    evaluations within the budget, and the budget), the Wilcoxon signed-rank p-value of memetic vs
    that strategy at the budget (paired by seed) and the median evaluations to reach random
    search's median final regret."""
    if bench is None:
        return _skipped(TABLE_BENCH)
    s = bench.summary.copy()
    p_col = [c for c in s.columns if c.startswith("p_vs_")]
    rename = {c: f"median regret @{c.split('@')[1]}" for c in s.columns if c.startswith("regret@")}
    rename.update({c: f"Wilcoxon p ({c[5:]} vs this)" for c in p_col})
    rename.update({"evals_to_random": "evals to reach random's final median", "runs": "seeds"})
    s = s.rename(columns=rename)
    s.insert(2, "method", s["strategy"].map(label))
    s = s.set_index(["table", "strategy"])
    if not styled:
        return s
    fmt = {c: "{:.3g}" for c in s.columns if c.startswith("median regret")}
    fmt.update({c: "{:.2g}" for c in s.columns if c.startswith("Wilcoxon")})
    fmt["evals to reach random's final median"] = lambda v: (f">{bench.budget}" if np.isinf(v) else f"{v:g}")
    caption = (f"{TABLE_BENCH}: {len(bench.seeds)} seeds x {bench.budget} evaluations"
               + ("; with fewer than 6 seeds no Wilcoxon p can fall below 0.05" if len(bench.seeds) < 6 else ""))

    def bold(row):
        return ["font-weight: bold" if row.name[1] == PROPOSAL else "" for _ in row]

    return s.style.set_caption(caption).format(fmt, na_rep="-").apply(bold, axis=1)


# -- protocol, provenance, summary ------------------------------------------------------------------

class Markdown:
    """Markdown for a notebook output (``text/markdown`` and, rendered, ``text/html``)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        try:
            import mistune

            return mistune.html(self.text)
        except Exception:  # pragma: no cover - mistune ships with nbconvert
            import html

            return f"<pre>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return self.text


def _initial_design_note(run: CompareRun) -> str | None:
    slow = []
    opts = run.settings.get("strategy_options", {}) or {}
    for s in run.strategies:
        if s in INITIAL_DESIGN:
            key, default = INITIAL_DESIGN[s]
            size = int((opts.get(s) or {}).get(key, default))
            if run.settings["trials"] <= size:
                slow.append(f"{s} ({key} {size})")
    if not slow:
        return None
    return (f"**Read this run as a test of the pipeline, not of the strategies:** with "
            f"{run.settings['trials']} trials per study, {', '.join(slow)} never get past their initial "
            "design (random or space-filling proposals), so differences here are noise. "
            "The `paper` profile (or `trials` of a few hundred on small data) is the real comparison.")


def coinciding(run: CompareRun) -> list[tuple[str, str]]:
    """Pairs of strategies that proposed exactly the same configurations, in the same order, for
    every seed (e.g. a GA whose first generation is a uniform random sample drawn with the same
    seed as random search): their results are equal by construction, not by chance."""
    from itertools import combinations

    frame = run.frame
    cols = [c for c in run.space.names if c in frame]
    if not len(frame) or not cols:
        return []

    def proposals(s, sd):
        sub = frame[(frame["strategy"] == s) & (frame["seed"] == sd)]
        return sub.sort_values("trial")[cols].reset_index(drop=True)

    pairs = []
    for a, b in combinations(run.strategies, 2):
        if all(len(pa := proposals(a, sd)) and pa.equals(proposals(b, sd)) for sd in run.seeds):
            pairs.append((a, b))
    return pairs


def protocol(run: CompareRun) -> Markdown:
    """The fairness protocol of this comparison, with this run's numbers."""
    st = run.settings
    d = run.data
    seeds = ", ".join(map(str, run.seeds))
    lines = [
        "**Fairness protocol.**",
        "",
        f"* **Equal budget:** every strategy gets the same number of *distinct* trials — "
        f"{st['trials']} configurations of the {run.space.name} space ({run.space.size:,} combinations) "
        f"per study. A configuration a strategy proposes again is answered from its own ledger and "
        "**not charged**. The budget counts trained configurations, not wall-clock time "
        f"(this run trained {run.trained} and served {run.served} finished in an earlier run of the same "
        "studies).",
        f"* **Same data:** one split for all — {d.get('dataset')} ({d.get('n_train')} train / "
        f"{d.get('n_val')} validation / {d.get('n_test')} test), data hash `{str(d.get('data_hash'))[:12]}`.",
        f"* **Same training budget:** every trial trains the same CNN code for at most {st['max_epochs']} "
        f"epochs with early-stopping patience {st['patience']} on validation accuracy.",
        f"* **Same seeds:** seeds {seeds}; seed *s* drives both the strategy and the training of its trials "
        "(weight initialisation, shuffling), for every strategy. Each strategy × seed study has its own "
        f"folder and ledger (`{run.out_dir.name}/<strategy>/seed-<s>/`), so no strategy reuses "
        "another's results.",
        "* **Selection on validation, test reported only:** strategies are told `best_acc` (the best "
        "validation accuracy of a trial); each study's result is its trial with the highest `best_acc`, "
        "and that trial's `test_acc` is reported — never used to choose.",
        "* **Default settings:** each strategy runs with its own defaults, the same for every seed "
        "(GA: population 20; memetic GA: population 10, at most 80% of evaluations on local search; "
        "TPE: 10 random start-up trials)"
        + (f"; changed here: {st['strategy_options']}." if st.get("strategy_options") else "."),
    ]
    if run.bench is not None:
        b = run.bench
        lines.append(
            f"* **Tabular benchmark:** the same rules on precomputed tables ({', '.join(b.tables)}): "
            f"{b.budget} charged evaluations, {len(b.seeds)} seeds; an evaluation returns one training "
            "seed of the config drawn at random (the same draws for every strategy of a run seed), a "
            "repeat is served from the cache and not charged; regret = best mean in the table − mean "
            "of the best *observed* config.")
    note = _initial_design_note(run)
    if note:
        lines += ["", note]
    for a, b in coinciding(run):
        lines += ["", f"**{label(a)} and {label(b)} proposed exactly the same configurations** in the same order "
                      "for every seed (a GA's first generation is a uniform random sample, drawn with the same "
                      "seed): their rows in Table V and their curves in Fig. 10 are equal by construction."]
    return Markdown("\n".join(lines))


def compare_provenance(run: CompareRun) -> Block:
    """What produced this report (as :func:`studylib.report.provenance_block` for a round)."""
    prov, d, st = run.provenance, run.data, run.settings
    frame = run.frame
    status = frame["status"].value_counts().to_dict() if "status" in frame else {}
    train_time = float(frame["wall_time"].sum()) if "wall_time" in frame else None
    shape = "x".join(str(s) for s in d.get("input_shape", []))
    rows = [
        ("Comparison", f"{', '.join(label(s) for s in run.strategies)} at equal budget"),
        ("Space", f"{run.space.name} — {run.space.description} ({run.space.size:,} combinations, space hash "
                  f"{run.space.fingerprint()})"),
        ("Dataset", f"{d.get('dataset')} ({d.get('n_train')} train / {d.get('n_val')} val / {d.get('n_test')} "
                    f"test, {shape}, {d.get('n_classes')} classes); source {d.get('source')}; data hash "
                    f"{d.get('data_hash')}"),
        ("Profile", f"{run.profile} (max_epochs {st['max_epochs']}, early-stopping patience {st['patience']})"),
        ("Seeds", ", ".join(map(str, run.seeds))),
        ("Trials", f"{st['trials']} per study x {len(run.strategies)} strategies x {len(run.seeds)} seeds = "
                   f"{len(frame)} ({run.trained} trained now, {run.served} served from the ledgers; "
                   f"{status.get('failed', 0)} failed, {status.get('diverged', 0)} diverged)"),
        ("Executor", run.executor),
    ]
    if run.bench is not None:
        b = run.bench
        rows.append(("Tabular benchmark", f"{', '.join(b.tables)}; {len(b.seeds)} seeds x {b.budget} evaluations "
                                          f"({_fmt_time(b.wall_time)}; {b.out_dir})"))
    rows += [
        ("Wall time", f"{_fmt_time(run.wall_time)} for this run (training time of the trials: "
                      f"{_fmt_time(train_time)})"),
        *code_rows(prov),
        ("Trials stored in", f"{run.out_dir}/<strategy>/seed-<s>/ (ledger.sqlite, trials.csv, studies/<study_id>.json); "
                             f"all trials: {run.out_dir / paths.TRIALS_CSV}"),
        ("Study ids", ", ".join(r.study_id for r in run.results.values())),
        ("Finished", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
    ]
    return Block("What produced this report", rows)


def compare_summary(run: CompareRun) -> dict:
    """``summary.json``: the headline is the proposal's (memetic GA, else the first strategy)
    best validation accuracy and test accuracy, mean ± std over seeds; every strategy's under
    ``by_strategy``."""
    table = final_table(run)
    head = PROPOSAL if PROPOSAL in table.index else (table.index[0] if len(table) else None)

    def num(v):
        return None if v is None or not math.isfinite(float(v)) else round(float(v), 6)

    by = {s: {"best_acc": num(r["best_acc mean"]), "best_acc_std": num(r["best_acc std"]),
              "test_acc": num(r["test_acc mean"]), "test_acc_std": num(r["test_acc std"])}
          for s, r in table.iterrows()}
    others = [s for s in run.strategies if s != head]
    frame = run.frame
    summary = {
        "round": "compare",
        "space": run.space.name,
        "dataset": run.data.get("dataset"),
        "data_hash": run.data.get("data_hash"),
        "profile": run.profile,
        "strategy": f"{head} (vs {', '.join(others)})" if others else head,
        "strategies": run.strategies,
        "seeds": run.seeds,
        "trials": int(run.settings["trials"]),
        "rows": int(len(frame)),
        "max_epochs": int(run.settings["max_epochs"]),
        "patience": int(run.settings["patience"]),
        "trained": run.trained,
        "served": run.served,
        **(by.get(head) or {"best_acc": None, "best_acc_std": None, "test_acc": None, "test_acc_std": None}),
        "by_strategy": by,
        "wall_time": round(run.wall_time, 2),
        "executor": run.executor,
        "git_commit": run.provenance.get("git_commit"),
        "python": sys.executable,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if run.bench is not None:
        b = run.bench
        summary["bench"] = {"tables": b.tables, "seeds": len(b.seeds), "budget": b.budget,
                            "summary": [{k: _json_value(v) for k, v in row.items()}
                                        for row in b.summary.to_dict(orient="records")]}
    return summary


def _json_value(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


__all__ = [
    "BENCH_TABLES", "DEFAULTS", "PROPOSAL", "STRATEGIES", "BenchRun", "CompareRun", "Markdown", "best_so_far",
    "bench_table", "coinciding", "compare_provenance", "compare_summary", "curve_bands", "fig_best_so_far",
    "fig_bench_regret", "final_table", "protocol", "resolve_strategies", "resolve_tables", "run_bench_curves",
    "run_compare", "settings",
]
