"""Results tied to the code that made them: every results CSV gets a provenance record (git commit,
strategy and protocol fingerprints). Benchmark chunks: tests/test_bench_chunks.py."""
from __future__ import annotations

import json
import shutil


from _scripts import load_script

from studylib import cli, paths, provenance

def test_fingerprints_follow_the_code_they_name(tmp_path, monkeypatch):
    copy = tmp_path / "studylib"
    shutil.copytree(paths.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    monkeypatch.setattr(paths, "PACKAGE_DIR", copy)
    strategies, protocol = provenance.strategy_fingerprint(), provenance.protocol_fingerprint()
    assert len(strategies) == len(protocol) == 12 and strategies != protocol
    with open(copy / "strategies" / "memetic.py", "a") as f:
        f.write("\n# a change\n")
    assert provenance.strategy_fingerprint() != strategies and provenance.protocol_fingerprint() == protocol
    with open(copy / "loop.py", "a") as f:
        f.write("\n# a change\n")
    assert provenance.protocol_fingerprint() != protocol
    before = provenance.strategy_fingerprint(), provenance.protocol_fingerprint()
    (copy / "report" / "styles.py").write_text("# not part of either\n")
    assert (provenance.strategy_fingerprint(), provenance.protocol_fingerprint()) == before


def test_bench_writes_the_code_beside_its_csv(tmp_path, capsys):
    rc = cli.main(["bench", "--table", "hpobench-car", "--strategies", "random", "--seeds", "2", "--trials", "5",
                   "--workers", "1", "--no-progress", "--out", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    stamp = json.loads((tmp_path / "bench.provenance.json").read_text())
    assert stamp["git_commit"] == provenance.git_commit() and stamp["git_commit"] != "unknown"
    assert stamp["strategy_code"] == provenance.strategy_fingerprint()
    assert stamp["protocol_code"] == provenance.protocol_fingerprint()
    assert (stamp["tables"], stamp["strategies"], stamp["seeds"], stamp["budget"]) == (["hpobench-car"], ["random"],
                                                                                      [0, 1], 5)


def test_multifidelity_traces_and_their_record_come_from_the_ledgers(tmp_path):
    """benchmarks/multifidelity.py reads best so far and epochs spent with studylib.numbers, and
    records which commit and trainer each study it read ran with."""
    import numpy as np

    from studylib.study import search

    mf = load_script("multifidelity")
    tiny = dict(dataset="synthetic", executor="inline", progress=False, max_epochs=3, patience=3)
    search("round1", tmp_path / "random", strategy="random", trials=3, **tiny)
    search("round1", tmp_path / "memetic-sh", strategy="memetic-sh", budget_epochs=6, **tiny)
    df = mf.traces(tmp_path, ["random", "memetic-sh"], None, max_epochs=3)
    assert set(df.strategy) == {"random", "memetic-sh"}
    for _, g in df.groupby("strategy"):
        acc = g.best_acc.astype(float).to_numpy()
        assert np.allclose(g.best_so_far, np.maximum.accumulate(acc))
        assert g.epochs_spent.tolist() == np.cumsum(g.new_epochs).tolist()
    assert df[df.strategy == "memetic-sh"].epochs_spent.max() <= 6
    studies = mf.study_provenance(tmp_path, ["random", "memetic-sh"])
    assert len(studies) == 2
    assert {s["git_commit"] for s in studies.values()} == {provenance.git_commit()}
    assert all(s["trainer"] and s["code_changes"] == 0 for s in studies.values())
