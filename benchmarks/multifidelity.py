"""Real-training evidence for multi-fidelity search (issue 11, item 5).

    nice .venv/bin/python benchmarks/multifidelity.py [--budget 60] [--max-epochs 9] [--seeds 0 1 2]
    nice .venv/bin/python benchmarks/multifidelity.py --summary-only   # tables + figure from the ledgers

The committed results (issue 17): ``--max-epochs 27 --budget 108 --train-size 1000 --val-size 1000
--seeds 0 1 2 3 4`` (what fitted a few hours of 2 shared cores).

Fashion-MNIST (by default a 10,000 train / 2,000 validation / 2,000 test subset), the round-1 space; random
(full training with early stopping), memetic (full), memetic-sh, tpe-hb, asha and dehb, each given the
same ``--budget`` of epochs (``--budget-epochs``), for each seed. Every study keeps its ledger in
``OUT/<strategy>/`` (default ``reports/multifidelity``): the script is resumable, re-running it
serves what is done and trains the rest; re-running with a larger ``--budget`` *continues* the
studies (the budget is not part of a study's identity). Runs are seed-major, so seed 0 of every
strategy finishes first.

Writes ``benchmarks/results/multifidelity.csv`` (one row per trial or rung, in the order trained:
epochs and seconds spent so far, best validation accuracy so far), ``multifidelity_summary.csv``
(per strategy: final best, epochs to reach random's final best of the same seed, and that over
random's epochs; medians over the seeds done, a seed that never reached it counting as infinite;
per seed in ``multifidelity_seeds.csv``) and ``multifidelity.png`` (best validation accuracy
against epochs spent and against wall time); beside each CSV a ``.provenance.json``: the code that
summarised it (git commit, strategy and protocol fingerprints) and, per study read, the commit and
trainer fingerprint it ran with. Promotion and the reported best use validation accuracy only.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STRATEGIES = ("random", "memetic", "memetic-sh", "tpe-hb", "asha", "dehb")
RESULTS = ROOT / "benchmarks" / "results"


def run(args) -> None:
    from studylib.study import search

    for seed in args.seeds:
        for strategy in args.strategies:
            r = search("round1", Path(args.out) / strategy, strategy=strategy, seed=seed, dataset="fashion_mnist",
                       data_dir=args.data_dir, train_size=args.train_size, val_size=args.val_size,
                       test_size=args.val_size, max_epochs=args.max_epochs, patience=args.patience,
                       budget_epochs=args.budget, executor="inline", progress=False,
                       allow_code_change=args.allow_code_change)
            print(f"seed {seed} {strategy:<11} {r.trained} trained, {r.served} served, "
                  f"best {r.frame.best_acc.max():.4f}", flush=True)


def traces(out: Path, strategies, budget: int | None, max_epochs: int | None = None) -> pd.DataFrame:
    """One row per trial/rung of every study under ``out`` (of ``max_epochs`` if given), in the
    order they were trained."""
    from studylib import numbers
    from studylib.fidelity import charged_epochs
    from studylib.ledger import Ledger

    rows = []
    for strategy in strategies:
        db = out / strategy / "ledger.sqlite"
        if not db.exists():
            continue
        with Ledger(db) as ledger:
            for study in ledger.studies():
                spec = study["spec"]
                if max_epochs is not None and spec["budget"]["max_epochs"] != max_epochs:
                    continue  # a study of another --max-epochs in the same ledger
                sid = study["study_id"]
                for n, key in enumerate(ledger.study_keys(sid), 1):
                    t = ledger.get(key)
                    if t is None:
                        continue
                    rows.append({"strategy": strategy, "seed": spec["seed"], "n": n, "key": key,
                                 "epochs": t.epochs, "rung": t.metrics.get("rung"), "new_epochs": charged_epochs(t),
                                 "best_acc": t.metrics.get("best_acc"), "status": t.status, "wall": t.wall_time})
    if not rows:
        return pd.DataFrame(rows)
    df = numbers.best_so_far(pd.DataFrame(rows), "best_acc", by=("strategy", "seed"), order="n", cost="new_epochs")
    df = df.assign(epochs_spent=df.spent, seconds_spent=df.groupby(["strategy", "seed"], sort=False).wall.cumsum().round(2))
    return df[["strategy", "seed", "n", "key", "epochs", "rung", "new_epochs", "best_acc", "epochs_spent",
               "seconds_spent", "best_so_far"]]


def study_provenance(out: Path, strategies) -> dict:
    """Per study read: the git commit and trainer fingerprint it was run with (from its ledger)."""
    from studylib.ledger import Ledger

    found = {}
    for strategy in strategies:
        db = out / strategy / "ledger.sqlite"
        if db.exists():
            with Ledger(db, read_only=True) as ledger:
                for s in ledger.studies():
                    found[s["study_id"]] = {"git_commit": s["provenance"].get("git_commit"),
                                            "trainer": s["fingerprint"], "code_changes": len(s["code_changes"])}
    return found


def reuse_committed(df: pd.DataFrame, studies: dict, strategies, args) -> tuple[pd.DataFrame, dict, dict]:
    """``df`` and ``studies`` with the committed rows and study records of ``strategies`` added
    (the trainer fingerprint of each reused study stays in its record), and the committed
    ``strategy_code`` of those strategies. Refuses committed results of other settings."""
    import json
    import re

    stamp = json.loads((RESULTS / "multifidelity.provenance.json").read_text())
    settings = {"budget": args.budget, "max_epochs": args.max_epochs, "seeds": list(args.seeds)}
    differ = {k: stamp.get(k) for k, v in settings.items() if stamp.get(k) != v}
    if differ:
        raise SystemExit(f"--reuse-committed: the committed results were made with {differ}, not {settings}")
    old = pd.read_csv(RESULTS / "multifidelity.csv")
    old = old[old.strategy.isin(strategies)]
    if old.empty:
        return df, studies, {}
    records = stamp.get("studies", {})
    kept = {k: v for k, v in records.items()
            if any(re.match(rf"round1-{re.escape(s)}-s\d+-", k) for s in strategies)}
    codes = {s: c for s, c in stamp.get("strategy_code", {}).items() if s in set(old.strategy)}
    print("reused from the committed results:", ", ".join(dict.fromkeys(old.strategy)))
    frames = [f for f in (df, old) if not f.empty]
    order = {s: i for i, s in enumerate(STRATEGIES)}
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["strategy", "seed", "n"], key=lambda c: c.map(order) if c.name == "strategy" else c,
                          kind="stable").reset_index(drop=True)
    return out, {**studies, **kept}, codes


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and seed: final best, epochs spent, epochs to reach random's final best."""
    out = []
    for (strategy, seed), g in df.groupby(["strategy", "seed"], sort=False):
        ref = df[(df.strategy == "random") & (df.seed == seed)]
        target = ref.best_so_far.max() if len(ref) else math.nan
        hit = g[g.best_so_far >= target - 1e-12]
        to_target = float(hit.epochs_spent.iloc[0]) if len(hit) else math.nan
        out.append({"strategy": strategy, "seed": seed, "final_best": g.best_so_far.max(),
                    "epochs_spent": g.epochs_spent.max(), "seconds_spent": g.seconds_spent.max(),
                    "random_final_best": target, "epochs_to_random_best": to_target,
                    "ratio_to_random_epochs": to_target / ref.epochs_spent.max() if len(ref) else math.nan})
    per_seed = pd.DataFrame(out)
    # a seed that never reached random's best counts as infinitely many epochs in the median
    filled = per_seed.fillna({"epochs_to_random_best": math.inf, "ratio_to_random_epochs": math.inf})
    med = filled.groupby("strategy", sort=False).median(numeric_only=True).drop(columns="seed")
    med["seeds"] = per_seed.groupby("strategy", sort=False).size()
    med["seeds_reaching_random_best"] = per_seed.groupby("strategy", sort=False).epochs_to_random_best.count()
    return per_seed, med.reset_index()


def figure(df: pd.DataFrame, path: Path, data: str = "Fashion-MNIST") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for i, (strategy, g) in enumerate(df.groupby("strategy", sort=False)):
        color = f"C{i}"
        for j, (seed, s) in enumerate(g.groupby("seed")):
            label = strategy if j == 0 else None
            axes[0].step(s.epochs_spent, s.best_so_far, where="post", color=color, alpha=0.8, label=label)
            axes[1].step(s.seconds_spent / 60, s.best_so_far, where="post", color=color, alpha=0.8)
    low = df.best_so_far.dropna().quantile(0.05)
    axes[0].set_ylim(max(0.0, low - 0.02), None)  # a first trial at chance level would flatten the rest
    axes[0].set_xlabel("epochs spent")
    axes[1].set_xlabel("training wall time (min)")
    axes[0].set_ylabel("best validation accuracy so far")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{data}, round-1 space: equal epoch budget (one line per seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "reports" / "multifidelity"))
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--budget", type=int, default=60, help="epochs per study (default 60)")
    p.add_argument("--max-epochs", type=int, default=9, help="top rung / full-training cap (default 9: rungs 1, 3, 9)")
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--train-size", type=int, default=10_000)
    p.add_argument("--val-size", type=int, default=2_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    p.add_argument("--allow-code-change", action="store_true",
                   help="continue studies whose trainer code changed since they started (recorded in the ledgers)")
    p.add_argument("--summary-only", action="store_true", help="only read the ledgers and write the results")
    p.add_argument("--reuse-committed", action="store_true",
                   help="strategies with no ledger under --out: take their rows (and study records) from the "
                        "committed results (a partial re-run after a change to some strategies only)")
    args = p.parse_args(argv)
    from studylib import provenance

    stamp = provenance.code_stamp(args.strategies, budget=args.budget, max_epochs=args.max_epochs,
                                  seeds=args.seeds)  # before any CSV is written (that makes the tree dirty)
    if not args.summary_only:
        run(args)
    df = traces(Path(args.out), args.strategies, args.budget, args.max_epochs)
    studies = study_provenance(Path(args.out), args.strategies)
    if args.reuse_committed:
        df, studies, codes = reuse_committed(df, studies, [s for s in args.strategies
                                                           if s not in set(df.get("strategy", ()))], args)
        stamp["strategy_code"].update(codes)  # a reused strategy's rows were made by its committed code
    if df.empty:
        print("no studies yet")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    per_seed, med = summary(df)
    stamp["studies"] = studies
    for name, frame in (("multifidelity.csv", df), ("multifidelity_seeds.csv", per_seed),
                        ("multifidelity_summary.csv", med)):
        provenance.write_result(frame, RESULTS / name, stamp)
    figure(df, RESULTS / "multifidelity.png",
           f"Fashion-MNIST {args.train_size:,}/{args.val_size:,}, --max-epochs {args.max_epochs}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(med.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
