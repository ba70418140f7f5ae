"""Running the comparison: settings, one study per strategy x seed, the tabular benchmark.

Randomness: seed *s* drives each strategy and the training of its trials; the benchmark's noisy
draws come from its run seeds (see :mod:`studylib.bench`).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ... import defaults, fidelity, paths, profiles
from ...errors import StudyError
from ...progress import count
from ...names import split_names
from ..regret import plot_regret
from ..folders import default_out_dir, write_summary
from ..rounds import spec_settings, study_provenance
from .numbers import compare_summary
from .records import BENCH_TABLES, SPACE, STRATEGIES, BenchRun, CompareRun

#: What ``None`` means for the comparison's own settings, per profile (the CNN budget per study
#: otherwise comes from :mod:`studylib.profiles`: epochs, patience, data sizes).
DEFAULTS = {
    "smoke": {"trials": 6, "repeats": 2, "bench_seeds": 5, "bench_budget": 60},
    "paper": {"trials": 50, "repeats": 5, "bench_seeds": 30, "bench_budget": 200},
}
#: Initial design of each strategy with its default options (proposals before it uses any result).
INITIAL_DESIGN = {"ga": ("population_size", 20), "memetic": ("population_size", 10),
                  "optuna-ga": ("population_size", 20), "tpe": ("n_startup_trials", 10),
                  "regevo": ("population_size", 20)}

# -- settings ---------------------------------------------------------------------------------------

def resolve_strategies(spec: str | Sequence[str] | None) -> list[str]:
    """``"ga, memetic"`` or ``["ga", "memetic"]`` -> names (checked, duplicates dropped);
    ``None``: :data:`STRATEGIES`; an empty string or list is refused (it used to run them all)."""
    from ...bench import resolve_strategies as bench_strategies
    from ...plugins import load_entry_points
    from ...strategies import MULTI_FIDELITY, REGISTRY

    load_entry_points()  # in the notebook's kernel too: an installed package's strategies
    if spec is None:
        return list(STRATEGIES)
    names = split_names(spec, "strategies")
    if not names:
        raise StudyError(f"strategies: none given (the default compares {','.join(STRATEGIES)})")
    for n in names:
        if n in MULTI_FIDELITY:
            raise StudyError(f"strategy {n!r} is multi-fidelity: the comparison runs each strategy at equal trials "
                             f"(choose from: {', '.join(REGISTRY)}); compare {n} with "
                             "studylib bench --fidelity epoch or benchmarks/multifidelity.py")
    return bench_strategies(names)  # its own rule for an unknown name and duplicates


def resolve_tables(spec: str | Sequence[str] | None) -> list[str]:
    """Benchmark tables: a comma string or list; ``""``, ``"none"``, ``"no"``, ``"off"``, ``False``
    or ``None``: no benchmark."""
    from ...bench import resolve_tables as bench_tables

    if spec is None or spec is False:  # YAML reads -p bench_tables=off (or no) as False
        return []
    if isinstance(spec, str) and spec.strip().lower() in ("", "none", "no", "off"):
        return []
    names = split_names(spec, "bench_tables")
    return bench_tables(names) if names else []


def _positive(name: str, v) -> int:
    from ...study_spec import whole_number

    return whole_number(name, v)  # a notebook parameter (-p bench_seeds=...), not a flag


def tagged_seeds(profile: str, repeats):
    """The seeds a comparison's folder name tags (``-x3``): None for the profile's own number
    (:data:`DEFAULTS`), given or not, so both name one folder."""
    return None if repeats == DEFAULTS.get(profile, DEFAULTS["paper"])["repeats"] else repeats


def settings(profile: str = "smoke", *, trials: int | None = None, repeats: int | None = None,
             bench_seeds: int | None = None, bench_budget: int | None = None) -> dict:
    """The comparison's settings: the profile's defaults (:data:`DEFAULTS`) with every given value
    applied (``repeats`` = seeds per strategy)."""
    base = dict(DEFAULTS.get(profiles.check(profile), DEFAULTS["paper"]))
    for k, v in (("trials", trials), ("bench_seeds", bench_seeds), ("bench_budget", bench_budget)):
        if v is not None:
            base[k] = _positive(k, v)
    if repeats is not None:
        base["repeats"] = _positive("repeats", repeats)
    from ...cliargs import seeds_at_most

    for k in ("repeats", "bench_seeds"):
        seeds_at_most(k, base[k])
    from ...bench import MAX_BUDGET

    if base["bench_budget"] > MAX_BUDGET:
        raise StudyError(f"bench_budget {base['bench_budget']}: at most {MAX_BUDGET} evaluations per run")
    return base


@dataclass
class ComparePlan:
    """What :func:`run_compare` runs, every input checked: the space, strategies, benchmark
    tables, settings (:func:`settings`), executor, seeds, output folder, options per strategy,
    each study's ``(spec, data)`` by ``(strategy, seed)``, and the profile."""
    space: object
    names: list[str]
    tables: list
    conf: dict
    executor: str
    seeds: list[int]
    out: Path
    strategy_options: dict
    studies: dict
    profile: str


# -- running -----------------------------------------------------------------------------------

def bench_context(bench: BenchRun) -> str:
    """The line under the benchmark figure: what its curves are."""
    return (f"this run: {count(len(bench.seeds), 'seed')} x {bench.budget} evaluations per strategy and table; "
            "regret = best mean in the table - mean of the incumbent (best observed; replicated: "
            "mean less one standard error)")


def _note(msg: str) -> None:
    sys.stderr.write(f"compare: {msg}\n")  # kept in the executed notebook, left out of the HTML
    sys.stderr.flush()


def plan_compare(*, dataset: str = defaults.DATASET, profile: str = defaults.PROFILE, strategies=None,
                 trials: int | None = None, seed: int = defaults.SEED, repeats: int | None = None,
                 max_epochs: int | None = None, patience: int | None = None, train_size: int | None = None,
                 data_dir: str | None = None, out_dir: str | Path | None = None, executor: str | None = None,
                 bench_tables=BENCH_TABLES, bench_seeds: int | None = None, bench_budget: int | None = None,
                 strategy_options: dict | None = None) -> ComparePlan:
    """Every input of :func:`run_compare` checked and the data loaded; raises :class:`StudyError`
    (one line) before anything is written (``studylib run compare`` calls it first, too)."""
    from ...executors import EXECUTORS
    from ...space_file import load_space
    from ...outdir import check_out_dir
    from ...fidelity import check_seeds
    from ...study_spec import prepare, whole_number

    names = resolve_strategies(strategies)
    tables = resolve_tables(bench_tables)
    conf = settings(profile, trials=trials, repeats=repeats, bench_seeds=bench_seeds, bench_budget=bench_budget)
    seed = whole_number("seed", seed, minimum=0)
    kind = executor or ("inline" if profile == "smoke" else "serial")
    if kind not in EXECUTORS:
        raise StudyError(f"unknown executor {kind!r} (choose from: {', '.join(EXECUTORS)})")
    strategy_options = check_strategy_options(strategy_options, names)
    space = load_space(SPACE)
    seeds = [seed + i for i in range(conf["repeats"])]
    check_seeds(seeds, "seed")  # every seed before any data is loaded
    out = Path(out_dir) if out_dir else default_out_dir(
        dataset, profile, train_size=train_size, max_epochs=max_epochs, patience=patience, seed=seed,
        repeats=tagged_seeds(profile, conf["repeats"]), strategy_options=strategy_options) / "compare"
    options = dict(trials=conf["trials"], dataset=dataset, profile=profile, max_epochs=max_epochs,
                   patience=patience, train_size=train_size, data_dir=data_dir)
    check_out_dir(out, study=True)  # before the data is loaded
    plans = {(s, sd): prepare(space, strategy=s, seed=sd, strategy_options=strategy_options.get(s), **options)
             for sd in seeds for s in names}  # validates every study first
    return ComparePlan(space=space, names=names, tables=tables, conf=conf, executor=kind, seeds=seeds, out=out,
                       strategy_options=strategy_options, studies=plans, profile=profile)


def check_strategy_options(options, names: list[str]) -> dict:
    """``{strategy: {option: value}}`` for strategies among ``names`` (``None``: ``{}``); the
    options themselves are checked when each study is prepared."""
    if options is None:
        return {}
    example = "e.g. {memetic: {population_size: 12}}"
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise StudyError(f"strategy_options must map a strategy to its options ({example}), got {options!r}")
    glued = [str(k) for v in [options, *options.values()] for k, x in v.items() if ":" in str(k) and x is None]
    if glued:  # {memetic:{population_size:0}}: YAML reads "population_size:0" as one key
        raise StudyError(f"strategy_options: {glued[0]!r} reads as one name; YAML needs a space after ':' "
                         f"({glued[0].replace(':', ': ')}; {example})")
    unknown = [s for s in options if s not in names]
    if unknown:
        raise StudyError(f"strategy_options names {', '.join(map(str, unknown))}, not among the strategies "
                         f"compared ({', '.join(names)})")
    return {s: dict(v) for s, v in options.items()}


def run_compare(*, progress: bool = False, **inputs) -> CompareRun:
    """Run (or continue) the comparison: for each seed ``seed .. seed + n - 1`` and each strategy,
    a study of ``trials`` distinct trials (configs and replicates) of the round-3 space into
    ``out_dir/<strategy>/seed-<s>/``, and the tabular benchmark into ``out_dir/bench/`` (unless
    ``bench_tables`` is empty). Writes ``out_dir/trials.csv`` (every trial, ``strategy`` and
    ``seed`` columns) and ``out_dir/summary.json``.

    ``inputs``: the keywords of :func:`plan_compare` (``dataset``, ``profile``, ``strategies``,
    ``trials``, ``seed``, ``repeats``, ``max_epochs``, ``patience``, ``train_size``, ``data_dir``,
    ``out_dir``, ``executor``, ``bench_tables``, ``bench_seeds``, ``bench_budget``,
    ``strategy_options``), with its defaults; any other keyword is a TypeError. Every input is
    validated (and the data loaded) before anything is written or trained (:func:`plan_compare`).
    The benchmark runs first, before any CNN is trained: its worker processes are forked, which
    must happen before TensorFlow starts threads in this process.

    ``executor``: where trials train (``inline``: this process, no start-up cost per study;
    ``serial``: a child process per study; ``dask``); ``None``: ``inline`` for the smoke
    profile, ``serial`` otherwise. Results do not depend on it (same seeds, same proposals).
    ``strategy_options``: ``{strategy: {option: value}}``, the same for every seed and for the
    benchmark (each part of its study's identity).
    """
    from ...study import run_study

    start = time.perf_counter()
    plan = plan_compare(**inputs)
    names, tables, conf, kind, seeds, out = plan.names, plan.tables, plan.conf, plan.executor, plan.seeds, plan.out
    space, strategy_options, plans = plan.space, plan.strategy_options, plan.studies
    out.mkdir(parents=True, exist_ok=True)

    bench = None
    if tables:
        bench = run_bench_curves(tables, names, conf["bench_seeds"], conf["bench_budget"], out / "bench",
                                 options=strategy_options)
        bench.report_dir = out  # Fig. 11 and Table VI as files beside the comparison's own

    results = {}
    for (s, sd), (spec, data) in plans.items():  # seed by seed: every strategy of a seed, then the next
        t0 = time.perf_counter()
        res = run_study(spec, data, out / s / f"seed-{sd}", executor=kind, progress=progress)
        results[(s, sd)] = res
        best = res.best
        _note(f"{s} seed {sd}: {len(res.frame)} trials ({res.trained} trained, {res.served} served), best_acc "
              f"{'-' if best is None else f'{best.best_acc:.4f}'} ({time.perf_counter() - t0:.0f} s)")

    spec, data = next(iter(plans.values()))  # the first study's settings and data describe them all
    prov = study_provenance(next(iter(results.values())))
    run = CompareRun(space=space, profile=plan.profile, strategies=names, seeds=seeds,
                     settings={**spec_settings(spec), **conf, "strategy_options": strategy_options}, out_dir=out,
                     results=results, data=data.describe(), provenance=prov, executor=kind, bench=bench)
    from ...ledger import write_csv_atomic

    frame = run.frame  # the ledger's column names (the paper's spellings only in displayed tables)
    if len(frame):
        lead = ["strategy", "seed"]
        write_csv_atomic(frame[lead + [c for c in frame.columns if c not in lead]], out / paths.TRIALS_CSV)
    run.wall_time = time.perf_counter() - start
    write_summary(out, compare_summary(run))
    return run


def run_bench_curves(tables, strategies, seeds, budget: int, out_dir: str | Path | None = None,
                     workers: int | None = None, options: dict | None = None) -> BenchRun:
    """:func:`studylib.bench.run_bench` on ``tables`` for ``strategies`` (``seeds``: a count or a
    list), keeping its per-evaluation curves; writes ``bench.csv``, ``bench_summary.csv`` and
    this report's figure ``bench_regret.png`` into ``out_dir``. ``workers`` defaults to 2, or 1
    once TensorFlow is loaded in this process (forking it could hang)."""
    from ... import bench as B

    start = time.perf_counter()
    out = Path(out_dir) if out_dir else B.default_out_dir()
    if workers is None:
        workers = 1 if "tensorflow" in sys.modules else 2
    summary = B.run_bench(list(tables), list(strategies), seeds, budget, out, workers=workers, progress=False,
                          options=options or None, plot=False)
    curves = pd.read_csv(out / "bench.csv")
    seed_list = fidelity.seed_list(seeds)
    run = BenchRun(tables=[t if isinstance(t, str) else t.name for t in tables], strategies=list(strategies),
                   seeds=seed_list, budget=int(budget), curves=curves, summary=summary, out_dir=out,
                   wall_time=time.perf_counter() - start)
    plot_regret(run.curves, out / "bench_regret.png", run.strategies, context=bench_context(run))
    _note(f"benchmark: {count(len(run.tables), 'table')} x {count(len(run.strategies), 'strategy', 'strategies')} x "
          f"{count(len(seed_list), 'seed')} x {budget} evaluations ({run.wall_time:.0f} s)")
    return run

