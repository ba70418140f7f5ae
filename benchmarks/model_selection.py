"""Choose the memetic GA's model options (``screen``, ``kappa``, ``model_min``) on the two
development tables only; the sibling of ``default_selection.py`` for the surrogate.

    nice .venv/bin/python benchmarks/model_selection.py --workers 1

Candidates: ``screen`` (children / neighbours generated per one evaluated) 2, 4 or 8 times
``kappa`` (optimism bonus) 0 or 1, and ``model_min`` 10 or 40 at screen 4, kappa 0; every other
option at its default (``model_trees`` 8 and ``refit`` 10 are fixed by cost, not selected).
Selection uses seeds 100-129 (the reporting seeds 0-29 are not tuned on). Rule: for each
development table and checkpoint (50/100/200) the candidates are ranked by median regret (ties
share the mean rank); the candidate with the lowest mean rank over the six becomes the default,
ties going to the cheaper one (the earlier in ``CANDIDATES``). ``memetic-no-model`` runs as the
reference (never a candidate) with a paired Wilcoxon p of each candidate against it.
``--round late`` runs round 2 by the same rule: the round-1 default against three less greedy
variants fixed a priori (``LATE``), written to ``model_selection_late.csv``. ``--round skill``:
round 3, the default against an online self-check of the model and a smoother model (``SKILL``),
written to ``model_selection_skill.csv``; a candidate replaces the default only if it has a
strictly lower mean rank (the default is listed first, so ties keep it). ``--round replicates``:
round 4, replicates of the best config (``REPLICATES``), by the same rule, written to
``model_selection_replicates.csv``.
Writes ``benchmarks/results/model_selection.csv`` (with commit and fingerprint columns);
randomness only inside ``studylib.bench``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from chunks import code_stamp
from default_selection import DEV_TABLES, curves, rows_for
from studylib import bench

CANDIDATES = {  # cheapest first (ties go to the earlier)
    "screen=2": {"screen": 2, "kappa": 0.0},
    "screen=2 kappa=1": {"screen": 2, "kappa": 1.0},
    "screen=4": {"screen": 4, "kappa": 0.0},
    "screen=4 kappa=1": {"screen": 4, "kappa": 1.0},
    "screen=4 model_min=10": {"screen": 4, "kappa": 0.0, "model_min": 10},
    "screen=4 model_min=40": {"screen": 4, "kappa": 0.0, "model_min": 40},
    "screen=8": {"screen": 8, "kappa": 0.0},
    "screen=8 kappa=1": {"screen": 8, "kappa": 1.0},
}
#: round 2 (issue 20, late exploration): the round-1 default against three less greedy variants,
#: fixed a priori: half of each generation's children unscreened (an exploration share, as in
#: epsilon-greedy), no screening of the climbs' neighbours (the climb is already greedy), both.
LATE = {
    "screen=4": {"screen": 4, "kappa": 0.0},
    "screen=4 explore=0.5": {"screen": 4, "kappa": 0.0, "explore": 0.5},
    "screen=4 offspring-only": {"screen": 4, "kappa": 0.0, "screen_local": False},
    "screen=4 explore=0.5 offspring-only": {"screen": 4, "kappa": 0.0, "explore": 0.5, "screen_local": False},
}
#: round 3 (issue 20 again, an online self-check and a noise-smoothing model), fixed a priori before
#: it was run: the default first (so a tie keeps it); ``check=20``: screening pauses while the
#: Spearman skill of the model's predictions on the last 20 evaluations is <= 0 (no better than
#: chance); ``check=20 significant``: ... <= 0.378, the one-sided 5% critical value of Spearman's
#: rho for n = 20 (t approximation), i.e. screen only while the skill is significant; ``leaf=3``:
#: trees with at least 3 points per leaf (predictions average over noisy single-seed draws instead
#: of interpolating them); ``leaf=3 check=20``: both. Same rule, same seeds, same tables.
SKILL = {
    "screen=4": {"screen": 4, "kappa": 0.0},
    "screen=4 check=20": {"screen": 4, "kappa": 0.0, "check": 20, "check_min": 0.0},
    "screen=4 check=20 significant": {"screen": 4, "kappa": 0.0, "check": 20, "check_min": 0.378},
    "screen=4 leaf=3": {"screen": 4, "kappa": 0.0, "model_leaf": 3},
    "screen=4 leaf=3 check=20": {"screen": 4, "kappa": 0.0, "model_leaf": 3, "check": 20, "check_min": 0.0},
}
#: round 4 (issue 20, the incumbent's noise), fixed a priori before it was run through the study
#: loop: the previous default (no replicates) first, so a tie keeps it, then ``replicates`` (runs
#: the best config by mean gets before it is trusted) 2 or 3 and ``replicate_share`` (upper bound
#: on the share of evaluations that are replicates) 0.05, 0.1 or 0.2. A prototype outside the loop had been tried
#: on the development tables and, for a look only, on nb201-imagenet and hpobench-phoneme (seeds
#: 100-129); see docs/surrogate.md.
REPLICATES = {
    "replicates=1": {"replicates": 1},
    "replicates=2": {"replicates": 2, "replicate_share": 0.1},
    "replicates=3 share=0.05": {"replicates": 3, "replicate_share": 0.05},
    "replicates=3": {"replicates": 3, "replicate_share": 0.1},
    "replicates=3 share=0.2": {"replicates": 3, "replicate_share": 0.2},
}
ROUNDS = {"screen": CANDIDATES, "late": LATE, "skill": SKILL, "replicates": REPLICATES}
REFERENCE = "memetic-no-model"
SEEDS = list(range(100, 130))


def choose(df: pd.DataFrame, candidates: dict = CANDIDATES) -> tuple[str, pd.Series]:
    """The rule: lowest mean rank of median regret over development tables x checkpoints."""
    cand = df[df.candidate.isin(list(candidates))]
    ranks = []
    for _, sub in cand.groupby("table"):
        for c in bench.CHECKPOINTS:
            ranks.append(sub.set_index("candidate")[f"median@{c}"].rank(method="average"))
    mean_rank = pd.concat(ranks, axis=1).mean(axis=1).reindex(list(candidates))
    best = mean_rank.min()
    return next(n for n in candidates if mean_rank[n] == best), mean_rank


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--round", choices=list(ROUNDS), default="screen",
                    help="screen: round 1 (model_selection.csv); late: round 2 (model_selection_late.csv); "
                         "skill: round 3 (model_selection_skill.csv); replicates: round 4 "
                         "(model_selection_replicates.csv)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    candidates = ROUNDS[args.round]
    suffix = "" if args.round == "screen" else f"_{args.round}"
    args.out = args.out or str(Path(__file__).resolve().parent / "results" / f"model_selection{suffix}.csv")
    rows = []
    for table in DEV_TABLES:
        bench.load_table(table)
        ref = curves(table, REFERENCE, SEEDS, args.budget, args.workers)
        rows.append({**rows_for(REFERENCE, ref, None, table, "100-129", {"model": False}), **code_stamp(REFERENCE)})
        for name, opts in candidates.items():
            m = curves(table, "memetic", SEEDS, args.budget, args.workers, opts)
            rows.append({**rows_for(name, m, ref, table, "100-129", opts), **code_stamp("memetic", opts)})
            r = rows[-1]
            print(f"{table:<14} {name:<24} " + " ".join(f"{r[f'median@{c}']:.4g}" for c in bench.CHECKPOINTS)
                  + "  p vs no-model " + " ".join(f"{r[f'p@{c}_vs_default']:.2g}" for c in bench.CHECKPOINTS),
                  file=sys.stderr, flush=True)
    df = pd.DataFrame(rows).rename(columns=lambda c: c.replace("_vs_default", "_vs_no_model"))
    winner, mean_rank = choose(df, candidates)
    df["mean_rank"] = df.candidate.map(mean_rank)
    df.to_csv(args.out, index=False, float_format="%.6g")
    print("mean rank over development tables x checkpoints (selection seeds 100-129):")
    for n, v in mean_rank.items():
        print(f"  {n:<24} {v:.2f}")
    print(f"chosen: {winner} ({' '.join(f'{k}={v}' for k, v in candidates[winner].items())})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
