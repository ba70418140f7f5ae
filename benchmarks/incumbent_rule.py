"""Choose how the benchmark protocol ranks a replicated config, on the two development tables only.

    nice .venv/bin/python benchmarks/incumbent_rule.py --workers 2      # ~1 min on 2 cores

Once a strategy has measured a config more than once (the memetic GA's replicates), the incumbent
rule compares a mean of ``n`` runs with single draws. Candidates (``c = 1`` standard error, fixed
in advance, not tuned):

* ``mean``: the best mean (round 4's rule: a single draw counts as much as a mean of three);
* ``pooled``: the best mean less ``sigma / sqrt(n)``, ``sigma`` the pooled within-config standard
  deviation of the replicated configs (the textbook estimate);
* ``median``: the same with ``sigma`` the median of their sample standard deviations (one wild
  pair does not swamp it).

Rule. The diagnosis that led here (``incumbent_noise.csv``) came from all 15 tables, and on the
development tables every candidate ends at regret ~0 by 200 (they are nearly noise-free there),
so they cannot rank the candidates; they may only veto: a candidate is out if, on either
development table, it is worse than ``mean`` at 50, 100 or 200 evaluations (more seeds with a
higher regret than a lower one, paired Wilcoxon p < 0.05; selection seeds 100-129, as
``default_selection.py``; seeds 0-29 are shown as a check).
Of those left the first of ``pooled``, ``median`` is taken; none left: ``mean`` stays.

Every run is ``studylib.bench.run_one`` of the memetic GA (its trials are read as the protocol
reads them); the row of the rule in ``studylib.numbers.incumbent_regrets`` must reproduce the
protocol's own regrets run for run (checked). Writes ``benchmarks/results/incumbent_rule.csv``
and its provenance; nothing random happens here beyond ``studylib.bench``'s seed draws.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from studylib import bench, numbers, provenance
from studylib.parallel import run_jobs
from studylib.tables import load_table

DEV_TABLES = ("nb201-cifar10", "hpolib-naval")
SEEDS = {"100-129": range(100, 130), "0-29": range(30)}
CHECKPOINTS = (50, 100, 200)


spread_pooled = numbers._replicate_spread  # the protocol's own sigma, not a copy of it


def spread_median(runs: dict) -> float:
    sds = [statistics.stdev(v) for v in runs.values() if len(v) > 1 and all(map(math.isfinite, v))]
    return float(statistics.median(sds)) if sds else 0.0


CANDIDATES = {"mean": lambda runs: 0.0, "pooled": spread_pooled, "median": spread_median}
PROTOCOL_RULE = "pooled"  # the candidate studylib.numbers.incumbent_regrets implements


def regrets(trials, regret, spread) -> list[float]:
    """``numbers.incumbent_regrets`` on one fidelity with ``sigma = spread(runs)``."""
    if len({f for f, _, _ in trials}) > 1:
        raise ValueError("incumbent_rule: one fidelity only (plain tables)")
    out, best, incumbent, runs, sigma = [], -math.inf, -1, {}, 0.0

    def key(i):
        v = runs[i]
        if not all(map(math.isfinite, v)):
            return -math.inf
        m = sum(map(Fraction, v)) / len(v)
        return m if sigma == 0.0 else float(m) - sigma / math.sqrt(len(v))

    for _, score, index in trials:
        runs.setdefault(index, []).append(score)
        if len(runs[index]) == 1:
            if key(index) > best:
                best, incumbent = key(index), index
        else:
            sigma = spread(runs)
            leader = max(runs, key=key)
            best = key(leader)
            if best > -math.inf:
                incumbent = leader
        out.append(regret(incumbent) if incumbent >= 0 else math.nan)
    return out


def one_run(job) -> dict:
    table_name, seed, budget = job
    table = load_table(table_name)
    seen: list = []

    def keep(trials, regret):
        seen.extend(trials)
        return numbers.incumbent_regrets(seen, regret)

    with mock.patch.object(bench, "incumbent_regrets", keep):
        protocol = bench.run_one(table, "memetic", seed, budget)["regret"]
    curves = {name: regrets(seen, table.regret, spread) for name, spread in CANDIDATES.items()}
    if not np.array_equal(np.asarray(curves[PROTOCOL_RULE] + [curves[PROTOCOL_RULE][-1]] * (budget - len(seen))),
                          protocol, equal_nan=True):
        raise SystemExit(f"{table_name} seed {seed}: the {PROTOCOL_RULE!r} row differs from the protocol's regrets")
    return {"table": table_name, "seed": seed, **curves}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "incumbent_rule.csv"))
    args = ap.parse_args()
    stamp = provenance.code_stamp(["memetic"], tables=list(DEV_TABLES), budget=args.budget, seeds=list(SEEDS),
                                  candidates=list(CANDIDATES))
    rows = []
    for label, seeds in SEEDS.items():
        runs = run_jobs(one_run, [(t, s, args.budget) for t in DEV_TABLES for s in seeds], args.workers)
        for table in DEV_TABLES:
            got = [r for r in runs if r["table"] == table]
            base = np.array([r["mean"] for r in got])
            for name in CANDIDATES:
                m = np.array([r[name] for r in got])
                row = {"candidate": name, "table": table, "seeds": label}
                for c in CHECKPOINTS:
                    a, b = m[:, c - 1], base[:, c - 1]
                    row[f"median@{c}"] = float(np.median(a))
                    row[f"lower@{c}"], row[f"higher@{c}"] = int(np.sum(a < b)), int(np.sum(a > b))
                    row[f"p@{c}_vs_mean"] = float(wilcoxon(a, b).pvalue) if np.any(a != b) else 1.0
                rows.append(row)
                print(f"{label} {table:<14} {name:<7} " + "  ".join(
                    f"@{c} {row[f'median@{c}']:.4g} ({row[f'lower@{c}']}/{row[f'higher@{c}']}, p {row[f'p@{c}_vs_mean']:.2g})"
                    for c in CHECKPOINTS), file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    provenance.write_result(df, args.out, stamp, float_format="%.6g")
    sel = df[df.seeds == "100-129"]
    vetoed = {r["candidate"] for _, r in sel.iterrows()
              if any(r[f"p@{c}_vs_mean"] < 0.05 and r[f"higher@{c}"] > r[f"lower@{c}"] for c in CHECKPOINTS)}
    left = [c for c in ("pooled", "median") if c not in vetoed]
    print(f"\nvetoed on the development tables (seeds 100-129): {', '.join(sorted(vetoed)) or 'none'}")
    chosen = left[0] if left else "mean"
    print(f"chosen: {chosen} (studylib.numbers implements {PROTOCOL_RULE!r})")
    print(f"wrote {args.out}")
    if chosen != PROTOCOL_RULE:
        raise SystemExit(f"the rule chooses {chosen!r} but studylib.numbers implements {PROTOCOL_RULE!r}")


if __name__ == "__main__":
    main()
