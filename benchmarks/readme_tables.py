"""Print the benchmark tables of docs/benchmarks.md (markdown) from the committed summaries, so every
number there comes from ``benchmarks/results/bench.csv`` and ``ablation.csv``.

    .venv/bin/python benchmarks/readme_tables.py              # print
    .venv/bin/python benchmarks/readme_tables.py --write      # replace the block in docs/benchmarks.md

The block sits between ``<!-- bench-tables:start -->`` and ``<!-- bench-tables:end -->``.
Nothing random happens here.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- bench-tables:start -->", "<!-- bench-tables:end -->"
PROPOSAL = "memetic"
RIVALS = ("tpe", "optuna-ga", "regevo", "local", "ga", "random")
REACH_LIMIT = 40  # goal: reach random's @200 median within this many evaluations ...
REACH_TABLES = ("nb201-", "hpolib-")  # ... on every table of these families


def fmt(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "–"
    if math.isinf(x):
        return ">200"
    return "0" if x == 0 else f"{x:.3g}"


def wide_table(df, value: str, label: str, bold_min: bool = True) -> list[str]:
    strategies = list(dict.fromkeys(df.strategy))
    lines = ["| table | " + " | ".join(strategies) + " |", "| --- |" + " --- |" * len(strategies)]
    for table, sub in df.groupby("table", sort=False):
        vals = sub.set_index("strategy")[value]
        best = vals.min()
        cells = [f"**{fmt(v)}**" if bold_min and v == best else fmt(v) for v in vals.reindex(strategies)]
        lines.append(f"| {table} | " + " | ".join(cells) + " |")
    return [f"*{label}*", "", *lines, ""]


def goal(df) -> tuple[list[str], int, list[str], int, float]:
    """The goal table; tables where memetic @200 <= the best rival's, tables missing the reach,
    tables where memetic is best (or tied) @50, and the largest @200 ratio to the best rival."""
    lines = ["| table | memetic @200 | best rival @200 | ≤ best rival? | best @50? | memetic evals to random's @200 | within 40? |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    met, missing_reach, best50, worst = 0, [], 0, 0.0
    for table, sub in df.groupby("table", sort=False):
        s = sub.set_index("strategy")
        mine = s.loc[PROPOSAL, "median@200"]
        rivals = s.loc[[r for r in RIVALS if r in s.index], "median@200"]
        best = rivals.min()
        who = ", ".join(rivals[rivals == best].index)
        ok = mine <= best
        met += ok
        worst = max(worst, mine / best if best > 0 else (1.0 if mine == 0 else math.inf))
        top50 = s.loc[PROPOSAL, "median@50"] <= s.loc[[r for r in RIVALS if r in s.index], "median@50"].min()
        best50 += top50
        verdict = "yes" if ok else f"no (+{fmt(mine - best)}, {mine / best:.2f}×)" if best > 0 else f"no (+{fmt(mine)})"
        reach = s.loc[PROPOSAL, "evals_to_random"]
        needs = table.startswith(REACH_TABLES)
        within = ("yes" if reach <= REACH_LIMIT else f"no (+{fmt(reach - REACH_LIMIT)})") if needs else "(not required)"
        if needs and reach > REACH_LIMIT:
            missing_reach.append(table)
        lines.append(f"| {table} | {fmt(mine)} | {fmt(best)} ({who}) | {verdict} | {'yes' if top50 else 'no'} "
                     f"| {fmt(reach)} | {within} |")
    return lines, met, missing_reach, best50, worst


def ablation_lines(ab, ref) -> list[str]:
    """Per variant: tables where it is worse/better than the default, and the mean change relative
    to random's @200 median."""
    lines = ["| variant (part switched off) | @50: worse / better / same (tables) | @50: mean change | "
             "@200: worse / better / same | @200: mean change | tables with p < 0.05 at 200 |",
             "| --- | --- | --- | --- | --- | --- |"]
    base = ab[ab.variant == PROPOSAL].set_index("table")
    for variant, sub in ab[ab.variant != PROPOSAL].groupby("variant", sort=False):
        s = sub.set_index("table")
        cells = []
        for c in (50, 200):
            d = s[f"median@{c}"] - base.loc[s.index, f"median@{c}"]
            rel = d / ref.loc[s.index]
            cells += [f"{int((d > 0).sum())} / {int((d < 0).sum())} / {int((d == 0).sum())}", f"{rel.mean():+.0%}"]
        sig = int((s[f"p_vs_{PROPOSAL}"] < 0.05).sum())
        lines.append(f"| {variant.removeprefix('memetic-')} | " + " | ".join(cells) + f" | {sig} |")
    return lines


def variant_goal(df, ab) -> list[str]:
    """How many tables each ablation variant would meet the goal on, in memetic's place (post hoc:
    these tables were not used to choose the default)."""
    rivals = df[df.strategy.isin(RIVALS)].groupby("table", sort=False)["median@200"].min()
    lines = ["| variant | ≤ best rival @200 (of 15) | reaches random's @200 within 40 (NB201 + HPOLib, of 7) |",
             "| --- | --- | --- |"]
    for variant, sub in ab.groupby("variant", sort=False):
        s = sub.set_index("table")
        met = int((s["median@200"] <= rivals.loc[s.index]).sum())
        fam = s[[t.startswith(REACH_TABLES) for t in s.index]]
        lines.append(f"| {variant} | {met} | {int((fam.evals_to_random <= REACH_LIMIT).sum())} |")
    return lines


def render() -> str:
    df = pd.read_csv(RESULTS / "bench.csv")
    ab = pd.read_csv(RESULTS / "ablation.csv")
    ref = df[df.strategy == "random"].set_index("table")["median@200"].replace(0, float("nan"))
    glines, met, missing, best50, worst = goal(df)
    n = df.table.nunique()
    out = [f"Goal check (from `benchmarks/results/bench.csv`): memetic's median regret at 200 is at most "
           f"the best rival's on **{met} of {n}** tables (goal: 10) and at most **{worst:.2f}×** it on "
           f"every table (goal: 1.2×); it is best (or tied) at 50 on **{best50} of {n}** (goal: 7); it reaches random's 200-evaluation "
           f"median within {REACH_LIMIT} evaluations on "
           f"**{sum(t.startswith(REACH_TABLES) for t in df.table.unique()) - len(missing)} of "
           f"{sum(t.startswith(REACH_TABLES) for t in df.table.unique())}** NB201 and HPOLib tables"
           + (f" (not on {', '.join(missing)})." if missing else "."), "", *glines, ""]
    out += wide_table(df, "median@50", "Median regret after 50 evaluations (30 seeds; best in bold)")
    out += wide_table(df, "median@200", "Median regret after 200 evaluations (30 seeds; best in bold)")
    out += wide_table(df, "evals_to_random", "Evaluations by which half the seeds reach random search's median regret at 200")
    pv = df[df.strategy != PROPOSAL]
    out += wide_table(pv, f"p_vs_{PROPOSAL}", "Wilcoxon signed-rank p, memetic vs each at 200 (paired seeds)",
                      bold_min=False)
    out += ["*Ablation (from `benchmarks/results/ablation.csv`): each variant against the default on the "
            "15 tables; change = (variant − default median regret) / random's median regret at 200, "
            "averaged over tables (positive = the part helps)*", "", *ablation_lines(ab, ref), ""]
    out += ["*Post hoc: the goal with each variant in the default's place (the default was chosen on the "
            "development tables only; this is not a selection)*", "", *variant_goal(df, ab), ""]
    out += wide_table(ab.rename(columns={"variant": "strategy"}), "median@50",
                      "Ablation: median regret after 50 evaluations")
    out += wide_table(ab.rename(columns={"variant": "strategy"}), "median@200",
                      "Ablation: median regret after 200 evaluations")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the block in the --into file")
    ap.add_argument("--into", default="docs/benchmarks.md", help="markdown file with the block, relative "
                    "to the repository root (default docs/benchmarks.md)")
    args = ap.parse_args()
    text = render()
    if not args.write:
        print(text, end="")
        return
    readme = ROOT / args.into
    old = readme.read_text() if readme.exists() else ""
    if START not in old or END not in old:
        raise SystemExit(f"error: {args.into} has no {START} ... {END} block")
    head, rest = old.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}{END}{tail}")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
