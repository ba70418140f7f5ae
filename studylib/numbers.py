"""The numbers every report and benchmark shares, one rule each (no randomness here).

* **Regret of the incumbent** (:func:`incumbent_regrets`): after each trial the incumbent is the
  config with the best *observed* score at the highest fidelity (epochs) reached so far -- on a
  plain table every trial has the same fidelity, so it is simply the best observed config; ties go
  to the config observed first. A config observed more than once there (replicates, run with
  seeds of their own) scores the mean of its ``n`` observations, and once any config has been,
  every config is compared by its mean less one standard error, ``sigma / sqrt(n)``: a single
  lucky draw is not ranked as if it were as sure as a mean of three. ``sigma`` is the pooled
  within-config standard deviation of the replicated configs whose runs are all finite
  (``benchmarks/incumbent_rule.py`` chose it on the development tables); while it is 0 (equal
  runs), plain means. A config with a non-finite run never wins; if no config at the top
  fidelity can, the incumbent stays as it was (before the first finite score there is none: the
  regret is NaN, as before the first trial). Without replicates this is the best observed
  config, exactly. Its regret comes from the table's means (``regret(index)``).
* **On a cost grid** (:func:`on_grid`): the value after ``c`` spent is that of the last trial
  finished within ``c``; before a run's first paid trial there is none (NaN): nothing is read
  from a trial not yet paid for (no look-ahead).
* **Median over runs** (:func:`median_over_runs`): NaN where some run has no value yet (an
  undefined point is not the median of the runs that happen to have one).
* **Best so far** (:func:`running_best`, :func:`best_so_far`): the running best of the finite
  values in proposal order (a failed trial or a NaN never improves it), NaN before the first
  finite value; optionally beside the cost spent so far (every trial is charged, failed or not).
* **Runs of one config** (:func:`runs_averaged`): a config measured more than once (replicates:
  rows with ``run`` > 0 whose ``run_of`` is the key of the config's first run) counts once, as
  its first run's row with ``best_acc`` and ``test_acc`` the means over its runs that did not
  fail and ``runs`` their count.
* **A study's best config** (:func:`best_config`): the incumbent rule above, on the study's
  trials that did not fail: the best observed config, or once a config is replicated the best
  mean less one standard error; of a multi-fidelity study's configs (one row each, its highest
  ``rung``), among those at the highest rung reached, as the incumbent. Reports and benchmarks
  name the best by the same rule.
* **Mean ± spread** (:func:`mean_spread`, :func:`format_mean_spread`): mean and sample standard
  deviation (``ddof=1``) of the finite values; the spread is NaN (``None`` in JSON, shown as
  "(1 seed)") with fewer than two values -- one seed has no spread, not a spread of 0.
"""
from __future__ import annotations

import math
import statistics
from fractions import Fraction
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = ["best_config", "best_so_far", "format_mean_spread", "incumbent_regrets", "mean_spread",
           "median_over_runs", "on_grid", "running_best", "runs_averaged"]


def incumbent_regrets(trials: Iterable[tuple[float, float, int]], regret: Callable[[int], float]) -> list[float]:
    """``trials``: ``(fidelity, score, index)`` per charged trial in order (higher score is
    better). Returns ``regret(incumbent index)`` after each trial (see the module doc)."""
    out, top, best, incumbent = [], -math.inf, -math.inf, -1
    runs: dict[int, list[float]] = {}  # index -> its scores at the top fidelity, in order observed
    spread = 0.0  # sigma; 0 (plain means) until some replicated config has a spread

    def mean(i: int):
        """Exact (a fraction), so that equal means tie; -inf once a run is not finite."""
        if not all(math.isfinite(v) for v in runs[i]):
            return -math.inf
        return sum(map(Fraction, runs[i])) / len(runs[i])

    def key(i: int):
        """The mean less one standard error (the mean itself while sigma is 0)."""
        m = mean(i)
        return m if spread == 0.0 or m == -math.inf else float(m) - spread / math.sqrt(len(runs[i]))

    for fidelity, score, index in trials:
        if fidelity > top:
            top, best, runs, spread = fidelity, -math.inf, {}, 0.0
        if fidelity == top:
            runs.setdefault(index, []).append(score)
            if len(runs[index]) == 1:
                if key(index) > best:
                    best, incumbent = key(index), index
            else:  # a replicate moves a mean and sigma: the best now, ties to the config observed first
                spread = _replicate_spread(runs)
                leader = max(runs, key=key)
                best = key(leader)
                if best > -math.inf:  # else (every run here failed) the incumbent stays until one does not
                    incumbent = leader
        out.append(regret(incumbent) if incumbent >= 0 else math.nan)  # no finite score yet: no incumbent
    return out


def _replicate_spread(runs: dict[int, list[float]]) -> float:
    """The pooled sample standard deviation within the configs with two or more finite runs."""
    groups = [v for v in runs.values() if len(v) > 1 and all(map(math.isfinite, v))]
    dof = sum(len(v) - 1 for v in groups)  # statistics.variance is exact: equal runs give 0.0
    return math.sqrt(sum((len(v) - 1) * statistics.variance(v) for v in groups) / dof) if dof else 0.0


def on_grid(cost: Sequence[float], values: Sequence[float], grid: Sequence[float]) -> np.ndarray:
    """``values[i]`` is known once ``cost[i]`` (cumulative, ascending) is spent; the value at each
    point of ``grid`` is that of the last trial within it, NaN before the first."""
    cost, values = np.asarray(cost, dtype=float), np.asarray(values, dtype=float)
    at = np.searchsorted(cost, np.asarray(grid, dtype=float), side="right") - 1
    out = values[np.maximum(at, 0)] if len(values) else np.full(len(at), np.nan)
    return np.where(at >= 0, out, np.nan)


def median_over_runs(values, axis: int = 0):
    """The median over runs (``axis``), NaN where any run has no value (NaN) yet."""
    return np.median(np.asarray(values, dtype=float), axis=axis)


def running_best(values: Sequence[float], maximize: bool = True) -> np.ndarray:
    """The best finite value among ``values[:i+1]`` for each ``i``; NaN before the first."""
    v = np.asarray(values, dtype=float)
    worst = -np.inf if maximize else np.inf
    v = np.where(np.isfinite(v), v, worst)
    best = np.maximum.accumulate(v) if maximize else np.minimum.accumulate(v)
    return np.where(np.isfinite(best), best, np.nan)


def best_so_far(frame, value: str, by: Sequence[str], order: str | None = None, maximize: bool = True,
                cost: str | None = None, ok: str | None = "status"):
    """``frame`` with ``best_so_far`` (the running best of ``value`` within each group ``by``,
    rows taken in ``order``; a row whose ``ok`` column says ``failed`` never improves it) and,
    with ``cost``, ``spent`` (that column summed up to and including the row, NaN counted as 0).
    Groups keep their first-appearance order; rows within a group are sorted by ``order``."""
    import pandas as pd

    parts = []
    for _, g in frame.groupby(list(by), sort=False) if len(frame) else []:
        g = g.sort_values(order, kind="stable") if order else g
        v = pd.to_numeric(g[value], errors="coerce").astype(float)
        if ok and ok in g:
            v = v.where(g[ok] != "failed")
        g = g.assign(best_so_far=running_best(v.to_numpy(), maximize))
        if cost:
            g = g.assign(spent=pd.to_numeric(g[cost], errors="coerce").fillna(0.0).cumsum().to_numpy())
        parts.append(g)
    if not parts:
        return frame.iloc[0:0].assign(best_so_far=pd.Series(dtype=float),
                                      **({"spent": pd.Series(dtype=float)} if cost else {}))
    return pd.concat(parts, ignore_index=True)


def mean_spread(values: Iterable) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (NaN, NaN without any; spread NaN
    with one)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    spread = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else math.nan
    return mean, spread


def json_number(value, digits: int | None = 6) -> float | None:
    """``value`` as a results JSON holds it: None where missing or not finite (JSON has no NaN),
    else a Python float rounded to ``digits`` (None: unrounded)."""
    if value is None or not math.isfinite(v := float(value)):
        return None
    return v if digits is None else round(v, digits)


def format_mean_spread(mean: float | None, spread: float | None, scale: float = 1.0, digits: int = 4,
                       suffix: str = "", one: str = "") -> str:
    """``"0.7000 ± 0.1414"``; ``"-"`` without a mean; the mean alone (plus ``one``, e.g.
    ``" (1 seed)"``) without a spread."""
    if mean is None or not math.isfinite(mean):
        return "-"
    text = f"{scale * mean:.{digits}f}{suffix}"
    if spread is None or not math.isfinite(spread):
        return text + one
    return f"{text} ± {scale * spread:.{digits}f}"


def runs_averaged(frame, values: Sequence[str] = ("best_acc", "test_acc")):
    """``frame`` (trials, one row each) with each config's replicates folded into its first run
    (see the module doc); a frame without replicates comes back as it is."""
    if frame is None or "run" not in frame or not (frame["run"].fillna(0) > 0).any():
        return frame
    replicate = frame["run"].fillna(0) > 0
    base = frame["run_of"].where(replicate, frame["key"])
    by = [base] if "study_id" not in frame else [frame["study_id"].fillna(""), base]
    ok = frame["status"] != "failed" if "status" in frame else np.ones(len(frame), bool)
    cols = [c for c in values if c in frame]
    means = frame[cols].where(ok).groupby(by).transform("mean")
    runs = frame[cols[:1]].where(ok).groupby(by).transform("count").iloc[:, 0] if cols else 1
    out = frame.assign(**{c: means[c] for c in cols}, runs=runs)
    return out[~replicate].reset_index(drop=True)


def fidelity_of(frame):
    """Each row's fidelity, a float Series: its ``rung``; a row without one trained in full (a
    study of another strategy pooled with rung trials), so it gets the highest rung (0 where no
    row has a rung)."""
    import pandas as pd

    rung = pd.to_numeric(frame["rung"], errors="coerce") if "rung" in frame else pd.Series(np.nan, index=frame.index)
    return rung.fillna(rung.max() if rung.notna().any() else 0).astype(float)


def best_config(frame, score: str = "best_acc"):
    """The row of ``runs_averaged(frame)`` for the config :func:`incumbent_regrets` ends on, or
    None when no trial has a finite ``score``. ``frame``: trials in proposal order (of several
    studies: each config is its study's, as in :func:`runs_averaged`); a row's fidelity is its
    ``rung`` (a multi-fidelity study's configs, one row each: :func:`studylib.fidelity.collapse_rungs`);
    a row without one trained in full, the highest fidelity; a failed trial counts for nothing, and a config whose first
    run failed is never named."""
    import pandas as pd

    if frame is None or not len(frame) or score not in frame:
        return None
    replicate = (frame["run"].fillna(0) > 0).to_numpy() if "run" in frame else np.zeros(len(frame), bool)
    if replicate.any():
        base = frame["run_of"].where(replicate, frame["key"]).astype(str)
        if "study_id" in frame:
            base = frame["study_id"].fillna("").astype(str) + "/" + base
    else:
        base = pd.Series(range(len(frame)), index=frame.index)  # every row its own config
    codes, _ = pd.factorize(base)
    ok = (frame["status"] != "failed").to_numpy() if "status" in frame else np.ones(len(frame), bool)
    firsts = codes[~replicate]  # the configs in the order of runs_averaged's rows
    named = set(firsts[ok[~replicate]])  # a config is named by its first run's row, which must not have failed
    scores = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=float)
    fidelity = fidelity_of(frame).to_numpy(dtype=float)
    pairs = [(f, float(v), int(c)) for f, v, c, good in zip(fidelity, scores, codes, ok)
             if good and c in named and math.isfinite(v)]
    winner = incumbent_regrets(pairs, float)[-1] if pairs else math.nan
    if math.isnan(winner):
        return None
    folded = runs_averaged(frame) if replicate.any() else frame
    return folded.iloc[int(np.flatnonzero(firsts == int(winner))[0])]
