"""How strategies look in every report figure and table: names, colours, line styles."""
from __future__ import annotations

from .figures import FAIL_COLOR

#: The paper's proposal: drawn thicker in figures, tested against every other strategy.
PROPOSAL = "memetic"
LABELS = {"memetic": "memetic GA (GA + local search)", "ga": "GA", "random": "random search",
          "tpe": "TPE (Bayesian)", "optuna-ga": "optuna GA (NSGA-II)", "grid": "grid search",
          "regevo": "regularized evolution", "local": "local search (restarts)"}
SHORT = {"memetic": "Memetic GA", "ga": "GA", "random": "Random Search", "tpe": "TPE",
         "optuna-ga": "Optuna GA", "grid": "Grid Search",
         "regevo": "Reg. Evolution", "local": "Local Search"}
COLORS = {"memetic": FAIL_COLOR, "ga": "#ff7f0e", "random": "#7f7f7f", "tpe": "#1f77b4",
          "optuna-ga": "#2ca02c", "grid": "#9467bd",
          "regevo": "#8c564b", "local": "#e377c2"}
#: Line styles, so curves that coincide (e.g. GA and random search within the GA's first,
#: random, generation) stay visible.
DASHES = {"memetic": "-", "ga": "--", "random": "-", "tpe": "-.", "optuna-ga": ":", "grid": ":",
          "regevo": "--", "local": "-."}


def label(strategy: str) -> str:
    return LABELS.get(strategy, strategy)


def color(strategy: str, i: int) -> str:
    """The strategy's colour; others take the ``i``-th of matplotlib's tab10."""
    if strategy in COLORS:
        return COLORS[strategy]
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def line_style(strategy: str) -> dict:
    """Keyword arguments of ``ax.plot`` for the strategy's line (the proposal thicker, on top)."""
    dash = DASHES.get(strategy, "-")
    if strategy == PROPOSAL:
        return {"lw": 2.6, "ls": dash, "zorder": 4}
    return {"lw": 1.7, "ls": dash, "zorder": 3 if dash != "-" else 2}
