"""studylib.numbers: one rule each for regret, best so far, a cost grid and mean ± spread, and
every report that shows them uses it (the round reports, the comparison, the explorer, bench)."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from studylib import numbers
from studylib.explorer.analysis import best_so_far as explorer_best_so_far
from studylib.parallel import run_jobs, shared
from studylib.progress import RunCounter
from studylib.report import compare, rounds, tables
from studylib.tables import load_table


def test_incumbent_regret_on_a_real_table_is_the_best_observed_configs_regret():
    table = load_table("hpobench-car")
    rng = np.random.default_rng(0)
    idx = rng.integers(table.space.size, size=30)
    scores = table.sign * table.means[idx] + rng.normal(0, 0.01, size=30)  # noisy observations
    got = numbers.incumbent_regrets(((0, s, i) for s, i in zip(scores, idx)), table.regret)
    for n in range(1, 31):
        best = idx[int(np.argmax(scores[:n]))]
        assert got[n - 1] == table.regret(best)
    assert all(a >= b for a, b in zip(got, got[1:]))  # one fidelity: never worse


def test_incumbent_regret_resets_at_a_higher_fidelity():
    regret = {0: 0.5, 1: 0.1, 2: 0.3}.get
    trials = [(1, 0.9, 0), (1, 0.2, 1), (3, 0.1, 2), (3, 0.4, 1)]  # (epochs, score, index)
    assert numbers.incumbent_regrets(trials, regret) == [0.5, 0.5, 0.3, 0.1]


def test_on_grid_has_no_value_before_the_first_paid_trial():
    got = numbers.on_grid([9, 18, 21], [0.4, 0.2, 0.1], range(1, 23))
    assert np.isnan(got[:8]).all()
    assert got[8:17].tolist() == [0.4] * 9 and got[17:20].tolist() == [0.2] * 3 and got[20:].tolist() == [0.1] * 2
    assert np.isnan(numbers.median_over_runs(np.array([[0.1, 0.2], [np.nan, 0.3]]))[0])


def test_running_best_skips_nan_and_may_minimise():
    got = numbers.running_best([np.nan, 0.3, np.nan, 0.2, 0.5])
    assert np.isnan(got[0]) and got[1:].tolist() == [0.3, 0.3, 0.3, 0.5]
    assert numbers.running_best([0.3, 0.2, np.inf, 0.4], maximize=False).tolist() == [0.3, 0.2, 0.2, 0.2]


def _trials(seeds):
    rows = []
    for seed in seeds:
        for t, acc in enumerate([0.5, 0.7 + 0.1 * seed, 0.6], 1):
            rows.append({"strategy": "random", "seed": seed, "trial": t, "best_acc": acc, "test_acc": acc - 0.05,
                         "status": "ok", "dataset": "digits", "epochs": 2, "wall_time": 1.0})
    return pd.DataFrame(rows)


def test_one_seed_has_no_spread_in_every_report():
    one = _trials([0])
    mean, spread = numbers.mean_spread([0.8])
    assert mean == 0.8 and math.isnan(spread)
    assert rounds._mean_std(rounds.best_by_seed(one), "best_acc") == {"best_acc": 0.7, "best_acc_std": None}
    assert compare.final_table(one).loc["random", "best_acc (val, %) mean ± std"] == "70.00 (1 seed)"
    assert math.isnan(compare.final_table(one).loc["random", "best_acc std"])
    ours = tables.table_iv(one).iloc[-1]
    assert ours["Accuracy (%)"] == pytest.approx(65.0) and math.isnan(ours["± std"])
    assert [numbers.json_number(v) for v in (None, math.nan, -math.inf, np.float32(0.25), 1 / 3)] == [
        None, None, None, 0.25, 0.333333]
    assert numbers.json_number(np.float64(1 / 3), digits=None) == 1 / 3


def test_several_seeds_give_the_same_sample_std_everywhere():
    two = _trials([0, 1])
    expected = float(np.std([0.7, 0.8], ddof=1))
    assert rounds._mean_std(rounds.best_by_seed(two), "best_acc")["best_acc_std"] == pytest.approx(expected, abs=1e-6)
    assert compare.final_table(two).loc["random", "best_acc std"] == pytest.approx(expected)
    assert tables.table_iv(two).iloc[-1]["± std"] == pytest.approx(100 * expected)
    assert numbers.format_mean_spread(0.75, expected, scale=100, digits=2, suffix="%") == "75.00% ± 7.07"


def test_the_explorer_and_the_comparison_draw_the_same_best_so_far():
    frame = _trials([0, 1])
    frame.loc[4, "status"] = "failed"  # seed 1's 0.8 failed: it never improves the best
    bsf = compare.best_so_far(frame)
    runs = frame.rename(columns={"trial": "number"}).assign(
        study=frame.seed.map({0: "s0", 1: "s1"}), ledger="L", key=[f"k{i}" for i in range(len(frame))])
    ex = explorer_best_so_far(runs, runs, "best_acc", "strategy")
    assert ex["_best"].tolist() == bsf["best_so_far"].tolist() == [0.5, 0.7, 0.7, 0.5, 0.5, 0.6]
    by_cost = compare.best_so_far_by_cost(frame, "epochs")
    assert by_cost["cost"].tolist() == [2, 4, 6, 2, 4, 6]  # a failed trial is charged too


def _square_plus_shared(x):
    return x * x + shared()


def _sigint_ignored(_):
    import signal

    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_pool_workers_leave_ctrl_c_to_the_parent():
    """A terminal's Ctrl-C reaches every process of the group: the workers ignore it (no
    'Process ForkPoolWorker-1:' traceback), the parent stops the pool."""
    import signal

    # as at a terminal (a job started in the background, e.g. under nohup, ignores SIGINT from the start)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert run_jobs(_sigint_ignored, range(4), workers=2) == [True] * 4
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the parent's own is untouched
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_pool_returns_results_in_job_order_and_counts_runs():
    out = io.StringIO()
    got = run_jobs(_square_plus_shared, range(7), workers=2, shared=100, done=RunCounter(True, out))
    assert got == [100 + x * x for x in range(7)]
    assert run_jobs(_square_plus_shared, range(7), workers=1, shared=100) == got
    lines = out.getvalue().splitlines()
    assert len(lines) == 7 and lines[-1].startswith("  7/7 runs")


def test_a_studys_best_config_is_the_benchmarks_incumbent():
    """best_config == argmax over configs of (mean less sigma / sqrt(n)), sigma pooled over the
    replicated configs (plain best run without replicates), ties to the config seen first;
    failed runs count for nothing, and a config whose first run failed is never named."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        rows = [{"key": f"c{i}", "run": None, "run_of": None} for i in range(n)]
        for _ in range(int(rng.integers(0, 5))):
            i = int(rng.integers(n))
            rows.append({"key": f"c{i}-r{len(rows)}", "run": 1, "run_of": f"c{i}"})
        frame = pd.DataFrame(rows).assign(
            best_acc=rng.choice([0.5, 0.6, 0.7, 0.8], len(rows)), test_acc=0.0,
            status=rng.choice(["ok", "ok", "ok", "failed"], len(rows)))
        named = set(frame.key[frame.run.isna() & (frame.status == "ok")])
        ok = frame[frame.status == "ok"]
        runs = {}
        for key, run_of, acc in zip(ok.key, ok.run_of, ok.best_acc):  # in the order observed
            config = run_of if isinstance(run_of, str) else key
            if config in named:
                runs.setdefault(config, []).append(acc)
        best = numbers.best_config(frame)
        if not runs:
            assert best is None
            continue
        groups = [v for v in runs.values() if len(v) > 1]
        dof = sum(len(v) - 1 for v in groups)
        sigma = math.sqrt(sum((len(v) - 1) * np.var(v, ddof=1) for v in groups) / dof) if dof else 0.0
        order = list(runs)  # the order first observed
        key = {k: np.mean(runs[k]) - (sigma / math.sqrt(len(runs[k])) if sigma > 1e-12 else 0) for k in order}
        top = max(key.values())
        expected = next(k for k in order if key[k] >= top - 1e-9)
        assert best["key"] == expected, frame
        assert best["best_acc"] == pytest.approx(np.mean(runs[expected]))


def test_a_row_without_a_rung_counts_as_a_full_training():
    """Pooled with a multi-fidelity study's configs (a folder's trials.csv, one seed), a plain
    study's trial trained in full; its rung is missing, not 0."""
    frame = pd.DataFrame({"key": ["p", "a-e3", "b-e1"], "rung": [None, 3, 1], "status": "ok",
                          "best_acc": [0.9, 0.85, 0.95]})
    assert numbers.best_config(frame).key == "p"  # not the rung-3 config, nor the 1-epoch one
    assert numbers.best_config(frame.drop(index=0)).key == "a-e3"
    assert numbers.best_config(frame.drop(columns="rung")).key == "b-e1"  # a plain frame: every row full
    assert numbers.fidelity_of(frame).tolist() == [3.0, 3.0, 1.0]
    assert numbers.fidelity_of(frame.drop(columns="rung")).tolist() == [0.0, 0.0, 0.0]
