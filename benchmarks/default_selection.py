"""Choose the memetic GA's one default setting on the two development tables only.

    nice .venv/bin/python benchmarks/default_selection.py --workers 2

Each candidate changes ONE option of the current default (the ablation settings, population size,
local share, climbs per generation, restarts, mutation size, ...). Selection uses seeds 100-129 so
that the reporting seeds 0-29 are not tuned on; the candidates are then re-run on seeds 0-29 as a
check. Rule: a candidate replaces the default only if, on BOTH development tables, none of its
median regrets at 50/100/200 is worse than the default's and at least one is lower with a paired
Wilcoxon p < 0.05 over the seeds (the same seeds share the evaluation noise).
Writes ``benchmarks/results/default_selection.csv`` (and the code that made it beside it,
``default_selection.provenance.json``); randomness only inside ``studylib.bench``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from studylib import bench, provenance

DEV_TABLES = ("nb201-cifar10", "hpolib-naval")
CANDIDATES = {
    "default": {},
    "init=random": {"init": "random"},
    "survival=generational": {"survival": "generational"},
    "local_share=0": {"local_share": 0.0},
    "local_share=0.5": {"local_share": 0.5},
    "local_share=0.9": {"local_share": 0.9},
    "adaptive": {"adaptive": True},
    "guided=False": {"guided": False},
    "guided_mutation": {"guided_mutation": True},
    "restart=none": {"restart": "none"},
    "restart=population": {"restart": "population"},
    "population_size=6": {"population_size": 6},
    "population_size=20": {"population_size": 20},
    "n_local=3": {"n_local": 3},
    "n_local=12": {"n_local": 12},
    "crossover_rate=0.9": {"crossover_rate": 0.9},
    "two_gene_prob=0": {"two_gene_prob": 0.0},
    "pattern=False": {"pattern": False},
}
REFERENCES = ("random", "tpe")  # for context only, never candidates


def curves(table: str, strategy: str, seeds, budget: int, workers: int, options=None) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        bench.run_bench([table], [strategy], seeds, budget, out_dir=tmp, workers=workers, progress=False,
                        plot=False, options={strategy: options or {}})
        long = pd.read_csv(Path(tmp) / "bench.csv")
    return long.pivot(index="seed", columns="evaluation", values="regret").sort_index().to_numpy()


def rows_for(name: str, m: np.ndarray, base: np.ndarray | None, table: str, seed_label: str, options) -> dict:
    row = {"candidate": name, "options": " ".join(f"{k}={v}" for k, v in options.items()) or "-",
           "table": table, "seeds": seed_label}
    for c in bench.CHECKPOINTS:
        row[f"median@{c}"] = float(np.median(m[:, c - 1]))
    for c in bench.CHECKPOINTS:
        p = np.nan
        if base is not None and name != "default":
            a, b = m[:, c - 1], base[:, c - 1]
            p = float(wilcoxon(a, b).pvalue) if np.any(a != b) else 1.0
        row[f"p@{c}_vs_default"] = p
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "default_selection.csv"))
    args = ap.parse_args()
    runs = {**{n: ("memetic", o) for n, o in CANDIDATES.items()}, **{r: (r, None) for r in REFERENCES}}
    stamp = provenance.code_stamp(runs, tables=list(DEV_TABLES), budget=args.budget, seeds=["100-129", "0-29"])
    rows = []  # the code is stamped before it runs (writing the CSV makes the tree dirty)
    for seed_label, seeds in (("100-129", list(range(100, 130))), ("0-29", list(range(30)))):
        for table in DEV_TABLES:
            bench.load_table(table)
            base = None
            for name, opts in {**CANDIDATES, **{r: None for r in REFERENCES}}.items():
                strategy = "memetic" if opts is not None else name
                m = curves(table, strategy, seeds, args.budget, args.workers, opts)
                if name == "default":
                    base = m
                rows.append(rows_for(name, m, base if opts is not None else None, table, seed_label, opts or {}))
                r = rows[-1]
                print(f"{seed_label} {table:<14} {name:<22} " + " ".join(f"{r[f'median@{c}']:.4g}" for c in bench.CHECKPOINTS)
                      + "  p " + " ".join(f"{r[f'p@{c}_vs_default']:.2g}" for c in bench.CHECKPOINTS),
                      file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    provenance.write_result(df, args.out, stamp, float_format="%.6g")
    sel = df[df.seeds == "100-129"]
    print("\ncandidates that meet the rule on both development tables (selection seeds 100-129):")
    winners = []
    for name in CANDIDATES:
        if name == "default":
            continue
        ok = True
        for table in DEV_TABLES:
            c = sel[(sel.candidate == name) & (sel.table == table)].iloc[0]
            d = sel[(sel.candidate == "default") & (sel.table == table)].iloc[0]
            ok &= bool(all(c[f"median@{k}"] <= d[f"median@{k}"] for k in bench.CHECKPOINTS)
                       and any(c[f"median@{k}"] < d[f"median@{k}"] and c[f"p@{k}_vs_default"] < 0.05
                               for k in bench.CHECKPOINTS))
        if ok:
            winners.append(name)
    print("  " + (", ".join(winners) or "none: the default stays"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
