"""Round 4 (``studylib run compare``): the comparison the paper promised but never ran.

The paper proposes a genetic algorithm hybridised with local search (a *memetic* GA) to tune CNN
structure and training together (Sections I and VII). This package runs it against other
strategies at an EQUAL budget: by default (:data:`STRATEGIES`) a plain GA, random search (the
paper's method), TPE (Bayesian optimisation), regularized evolution and local search (with
restarts), or the ``strategies`` given. Its parts:

* :mod:`.run` -- :func:`run_compare` (inputs checked first by :func:`plan_compare`): one study per strategy x seed on the round-3 CNN space
  (Table III, 3,072 configs) with real training, each in its own folder
  ``out_dir/<strategy>/seed-<s>/``, plus the tabular benchmark (:func:`run_bench_curves`);
* :mod:`.numbers` -- the computation: :func:`best_so_far`, :func:`curve_bands`, Table V's and
  Table VI's numbers, :func:`coinciding`, :func:`compare_summary` (``summary.json``);
* :mod:`.figures` -- the rendering: :func:`fig_best_so_far` (Fig. 10), :func:`fig_best_so_far_by_cost` (vs trials, epochs, time), :func:`final_table`
  (Table V, ``styled=True``), :func:`fig_bench_regret` (Fig. 11), :func:`bench_table` (Table VI),
  :func:`protocol`, :func:`compare_provenance`.

Everything is importable from here (``from studylib.report import compare``), as the notebook does.
"""
from __future__ import annotations

from ..styles import PROPOSAL, label
from .figures import (FIG_BENCH, FIG_COSTS, FIG_CURVES, TABLE_BENCH, TABLE_FINAL, Markdown, bench_table, compare_provenance,
                      fig_best_so_far, fig_best_so_far_by_cost, fig_bench_regret, final_table, protocol)
from .numbers import COSTS, best_so_far, best_so_far_by_cost, best_strategies, bench_summary, coinciding, compare_summary, cost_bands, curve_bands
from .run import (BENCH_TABLES, DEFAULTS, INITIAL_DESIGN, SPACE, STRATEGIES, BenchRun, CompareRun,
                  plan_compare, resolve_strategies, resolve_tables, run_bench_curves, run_compare, settings)

__all__ = [
    "BENCH_TABLES", "COSTS", "DEFAULTS", "FIG_BENCH", "FIG_COSTS", "FIG_CURVES", "INITIAL_DESIGN", "PROPOSAL", "SPACE", "STRATEGIES",
    "TABLE_BENCH", "TABLE_FINAL", "BenchRun", "CompareRun", "Markdown", "bench_summary", "bench_table",
    "best_so_far", "best_so_far_by_cost", "best_strategies", "coinciding", "compare_provenance", "compare_summary", "cost_bands", "curve_bands",
    "fig_best_so_far", "fig_best_so_far_by_cost", "fig_bench_regret", "final_table", "label", "protocol", "resolve_strategies",
    "plan_compare", "resolve_tables", "run_bench_curves", "run_compare", "settings",
]
