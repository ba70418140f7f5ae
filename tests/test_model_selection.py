"""The model-selection rule (benchmarks/model_selection.py): lowest mean rank of median regret over
development tables x checkpoints, ties to the earlier candidate, for either round."""
import pandas as pd

from _scripts import ROOT, load_script


def table(medians: dict) -> pd.DataFrame:
    rows = []
    for (tab, cand), (m50, m100, m200) in medians.items():
        rows.append({"table": tab, "candidate": cand, "median@50": m50, "median@100": m100, "median@200": m200})
    rows.append({"table": "t1", "candidate": "memetic-no-model", "median@50": 0.0, "median@100": 0.0,
                 "median@200": 0.0})  # the reference is never a candidate, however good
    return pd.DataFrame(rows)


def test_round_two_rule_ranks_only_its_candidates_and_ties_go_to_the_default(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the script imports its siblings
    ms = load_script("model_selection")
    names = list(ms.LATE)
    assert names[0] == "screen=4" and ms.ROUNDS["late"] is ms.LATE and ms.ROUNDS["screen"] is ms.CANDIDATES
    df = table({("t1", n): (1.0, 1.0, 1.0) for n in names} | {("t2", n): (1.0, 1.0, 1.0) for n in names})
    winner, rank = ms.choose(df, ms.LATE)
    assert winner == "screen=4" and list(rank.index) == names  # an all-way tie keeps the default
    better = {(t, n): (1.0, 1.0, 1.0) for t in ("t1", "t2") for n in names}
    better[("t1", names[2])] = (0.5, 0.5, 0.5)
    winner, rank = ms.choose(table(better), ms.LATE)
    assert winner == names[2] and rank[names[2]] < rank["screen=4"]


def test_round_three_lists_the_default_first_and_a_tie_keeps_it(monkeypatch):
    """Round 3 (``--round skill``): the self-check candidates, fixed in the script, the round-1
    default first so that only a strictly lower mean rank replaces it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    ms = load_script("model_selection")
    names = list(ms.SKILL)
    assert ms.ROUNDS["skill"] is ms.SKILL and names[0] == "screen=4" and ms.SKILL[names[0]] == ms.CANDIDATES["screen=4"]
    assert {o.get("check", 0) for o in ms.SKILL.values()} == {0, 20}
    tie = {(t, n): (1.0, 2.0, 3.0) for t in ("t1", "t2") for n in names}
    assert ms.choose(table(tie), ms.SKILL)[0] == "screen=4"
    tie[("t2", "screen=4 check=20")] = (0.9, 2.0, 3.0)
    assert ms.choose(table(tie), ms.SKILL)[0] == "screen=4 check=20"
