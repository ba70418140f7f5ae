"""Results tied to the code that made them: every results CSV gets a provenance record (git commit,
strategy and protocol fingerprints); a benchmark chunk of other code is not reused silently."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

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


def test_a_chunk_of_other_code_is_run_again_with_one_line(tmp_path, capsys):
    chunks = load_script("chunks")
    args = ("hpobench-car", "random", 2, 6, 1, tmp_path)
    assert chunks.run_chunk(*args) > 0
    path = chunks.chunk_path(tmp_path, "hpobench-car", "random")
    first = pd.read_csv(path)
    assert chunks.run_chunk(*args) == 0.0  # same code: reused
    assert "chunk" not in capsys.readouterr().err

    sidecar = provenance.stamp_path(path)
    stamp = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**stamp, "strategy_code": "000000000000", "git_commit": "abc1234"}))
    with pytest.raises(SystemExit, match="made by other code .commit abc1234.: strategy_code 000000000000"):
        chunks.load_long(tmp_path, ["hpobench-car"], ["random"])  # --summarize-only: refused
    assert chunks.run_chunk(*args) > 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"chunk {path.name}: made by other code (commit abc1234): strategy_code 000000000000 "
                   f"(now {provenance.strategy_fingerprint()}); running it again"]
    assert json.loads(sidecar.read_text())["strategy_code"] == provenance.strategy_fingerprint()
    pd.testing.assert_frame_equal(pd.read_csv(path), first)  # same code, same seeds: same numbers

    sidecar.unlink()  # a chunk from before records were kept
    assert chunks.run_chunk(*args) > 0
    assert "no record of the code that made it; running it again" in capsys.readouterr().err
    assert len(chunks.load_long(tmp_path, ["hpobench-car"], ["random"])) == 2 * 6


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
