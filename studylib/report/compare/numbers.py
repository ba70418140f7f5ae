"""The comparison's numbers: best-so-far curves, the final result per strategy (Table V), the
benchmark summary (Table VI), strategies that coincide, and ``summary.json``. No figures here.

Functions taking ``data`` accept a :class:`CompareRun` or a DataFrame with (at least) the columns
``strategy``, ``seed``, ``trial`` (1-based, in proposal order), ``best_acc``, ``test_acc`` and
optionally ``status``. Deterministic (no randomness).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ... import numbers
from ..rounds import best_by_seed, summary_of
from ..styles import label
from .records import STRATEGIES, BenchRun, CompareRun

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
    NaN before the first finished trial: :func:`studylib.numbers.best_so_far`). Trials are
    numbered 1.. in proposal order; a frame without ``trial`` is taken to be in that order."""
    return best_so_far_by_cost(data, None)


def curve_bands(data) -> pd.DataFrame:
    """Per strategy and trial number: ``median``, ``low`` and ``high`` (min and max) of the
    best-so-far accuracy across seeds, and ``seeds`` (how many seeds reached that trial)."""
    bsf = best_so_far(data)
    if not len(bsf):
        return pd.DataFrame(columns=["strategy", "trial", "median", "low", "high", "seeds"])
    g = bsf.groupby(["strategy", "trial"], sort=False)["best_so_far"]
    out = pd.DataFrame({"median": g.median(), "low": g.min(), "high": g.max(), "seeds": g.count()}).reset_index()
    return out


#: the costs a best-so-far curve can be drawn against: column of the trials -> axis name
COSTS = {"epochs": "cumulative epochs trained", "wall_time": "cumulative training time (s)"}


def best_so_far_by_cost(data, cost: str | None) -> pd.DataFrame:
    """Per strategy and seed, one row per trial in proposal order: ``cost`` (the trials' ``epochs``
    -- or ``no_epochs`` -- or ``wall_time`` summed up to and including that trial; failed trials
    are charged too) and ``best_so_far``, as :func:`best_so_far` (``cost=None``: ``best_acc``
    instead of a cost)."""
    if cost is not None and cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, not {cost!r}")
    frame = _frame(data)
    column = "no_epochs" if cost == "epochs" and "epochs" not in frame and "no_epochs" in frame else cost
    if cost and len(frame) and column not in frame:
        raise KeyError(f"the trials have no column {cost}")
    columns = ["strategy", "seed", "trial", "best_acc" if cost is None else "cost", "best_so_far"]
    if not len(frame):
        return pd.DataFrame(columns=columns)
    f = frame.assign(seed=frame["seed"] if "seed" in frame else 0)
    if "trial" not in f:
        f["trial"] = f.groupby(["strategy", "seed"], sort=False).cumcount() + 1
    f = f.assign(trial=f["trial"].astype(int), best_acc=pd.to_numeric(f["best_acc"], errors="coerce"))
    if "status" in f:
        f["best_acc"] = f["best_acc"].where(f["status"] != "failed")
    out = numbers.best_so_far(f, "best_acc", by=("strategy", "seed"), order="trial", cost=column)
    return out.rename(columns={"spent": "cost"})[columns].reset_index(drop=True)


def cost_bands(data, cost: str) -> pd.DataFrame:
    """Per strategy, at every cost where some seed finished a trial: ``median``, ``low`` and
    ``high`` (min and max) over its seeds of the best-so-far accuracy each had by then (a step
    function of cost; a seed whose study ended having spent less keeps its final best, so no
    line falls), and ``seeds``: how many had finished a trial by then and not yet ended."""
    bsf = best_so_far_by_cost(data, cost)
    rows = []
    for s, g in bsf.groupby("strategy", sort=False):
        grid = np.unique(g["cost"].to_numpy(dtype=float))
        per_seed, spending = [], []
        for _, h in g.groupby("seed", sort=False):
            c, v = h["cost"].to_numpy(dtype=float), h["best_so_far"].to_numpy(dtype=float)
            per_seed.append(numbers.on_grid(c, v, grid))
            spending.append(grid <= c[-1])
        m = np.vstack(per_seed)
        with warnings.catch_warnings():  # an all-NaN column (no seed finished a trial yet) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(pd.DataFrame({"strategy": s, "cost": grid, "median": np.nanmedian(m, axis=0),
                                      "low": np.nanmin(m, axis=0), "high": np.nanmax(m, axis=0),
                                      "seeds": (np.isfinite(m) & np.vstack(spending)).sum(axis=0)}))
    if not rows:
        return pd.DataFrame(columns=["strategy", "cost", "median", "low", "high", "seeds"])
    return pd.concat(rows, ignore_index=True)



def _pm(mean: float, std: float) -> str:
    return numbers.format_mean_spread(mean, std, scale=100, digits=2, one=" (1 seed)")


def final_table(data) -> pd.DataFrame:
    """Table V: per strategy, the final best validation accuracy (``best_acc`` of each seed's best
    trial) and the test accuracy of that same trial, mean ± sample std over seeds, in percent.

    Columns: ``seeds``, ``trials per seed``, ``best_acc mean``, ``best_acc std``, ``test_acc
    mean``, ``test_acc std`` (fractions) and the two ``mean ± std`` texts (percent). Model
    selection looks only at ``best_acc``."""
    frame = _frame(data)
    order = _strategy_order(frame, data)
    rows = []
    for s in order:
        sub = frame[frame["strategy"] == s]
        best = best_by_seed(sub)
        am, asd = numbers.mean_spread(best["best_acc"]) if len(best) else (math.nan, math.nan)
        tm, tsd = numbers.mean_spread(best["test_acc"]) if len(best) and "test_acc" in best else (math.nan, math.nan)
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
    return table.set_index("strategy")


def best_strategies(table: pd.DataFrame) -> list[str]:
    """The strategies of a :func:`final_table` with the highest mean ``best_acc`` (several when tied)."""
    acc = pd.to_numeric(table["best_acc mean"], errors="coerce") if len(table) else pd.Series(dtype=float)
    if not acc.notna().any():
        return []
    return [s for s, v in acc.items() if np.isclose(v, acc.max(), rtol=0, atol=1e-12)]


def bench_summary(bench: BenchRun) -> pd.DataFrame:
    """Table VI's numbers: per table and strategy, the median regret at the checkpoints (50, 100,
    200 evaluations within the budget, and the budget), the Wilcoxon signed-rank p-value of the
    proposal vs that strategy at the budget (paired by seed) and the evaluations by which half
    the seeds reach random search's median final regret."""
    s = bench.summary.copy()
    p_col = [c for c in s.columns if c.startswith("p_vs_")]
    rename = {c: f"median regret @{c.split('@')[1]}" for c in s.columns if c.startswith("regret@")}
    rename.update({c: f"Wilcoxon p ({c[5:]} vs this)" for c in p_col})
    rename.update({"evals_to_random": "evals for half the seeds to reach random's final median", "runs": "seeds"})
    s = s.rename(columns=rename)
    s.insert(2, "method", s["strategy"].map(label))
    return s.set_index(["table", "strategy"])


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


def compare_summary(run: CompareRun) -> dict:
    """``summary.json``: the headline is the BEST strategy's (highest mean best validation
    accuracy; ``best_strategy``, every tied one) best validation accuracy and test accuracy, mean
    ± std over seeds; every strategy's under ``by_strategy``."""
    table = final_table(run)
    best = best_strategies(table)
    head = best[0] if best else (table.index[0] if len(table) else None)
    num = numbers.json_number
    by = {s: {"best_acc": num(r["best_acc mean"]), "best_acc_std": num(r["best_acc std"]),
              "test_acc": num(r["test_acc mean"]), "test_acc_std": num(r["test_acc std"])}
          for s, r in table.iterrows()}
    frame = run.frame
    own = {
        "best_strategy": best,
        "strategies": run.strategies,
        "strategy_options": run.settings.get("strategy_options") or {},  # the studies' and the benchmark's
        **(by.get(head) or {"best_acc": None, "best_acc_std": None, "test_acc": None, "test_acc_std": None}),
        "by_strategy": by,
        "executor": run.executor,
    }
    summary = summary_of(run, frame, own, round_name="compare", strategy=", ".join(run.strategies),
                         trained=run.trained, served=run.served,
                         train_time=float(frame["wall_time"].sum()) if "wall_time" in frame else None)
    if run.bench is not None:
        b = run.bench
        summary["bench"] = {"tables": b.tables, "seeds": len(b.seeds), "budget": b.budget,
                            "summary": [{k: _json_value(v) for k, v in row.items()}
                                        for row in b.summary.to_dict(orient="records")]}
    return summary


def _json_value(v):
    if isinstance(v, (float, np.floating)):
        return numbers.json_number(v, digits=None)
    if isinstance(v, np.integer):
        return int(v)
    return v

