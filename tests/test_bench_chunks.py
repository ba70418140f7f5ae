"""Benchmark chunks are tied to the code that made them: a commit and a fingerprint of the
strategy and protocol code; a chunk made by other code is re-run, never reused silently."""
import json
import shutil

import pytest

from _scripts import load_script

from studylib import provenance


def load_chunks():
    return load_script("chunks")


def test_fingerprint_follows_the_strategy_its_options_and_its_code(tmp_path, monkeypatch):
    chunks = load_chunks()
    a, b = chunks.code_stamp("ga"), chunks.code_stamp("ga")
    assert a == b and a["commit"] and len(a["fingerprint"]) == 16
    assert chunks.code_stamp("random")["fingerprint"] != a["fingerprint"]
    assert chunks.code_stamp("ga", {"population_size": 8})["fingerprint"] != a["fingerprint"]
    memetic = chunks.code_stamp("memetic")["fingerprint"]
    # a copy of the package with one edited strategy module: only the strategies using it change
    pkg = tmp_path / "studylib"
    shutil.copytree(provenance.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", pkg)
    assert chunks.code_stamp("ga") == a
    with open(pkg / "strategies" / "ga.py", "a") as fh:
        fh.write("\n# an edit\n")
    assert chunks.code_stamp("ga")["fingerprint"] != a["fingerprint"]
    assert chunks.code_stamp("memetic")["fingerprint"] == memetic  # memetic does not import ga.py
    with open(pkg / "strategies" / "surrogate.py", "a") as fh:
        fh.write("\n# an edit\n")
    assert chunks.code_stamp("memetic")["fingerprint"] != memetic  # ... but imports the surrogate
    random = chunks.code_stamp("random")["fingerprint"]
    with open(pkg / "loop.py", "a") as fh:
        fh.write("\n# an edit\n")  # the protocol: every strategy changes
    assert chunks.code_stamp("random")["fingerprint"] != random


def test_a_chunk_from_other_code_is_rerun_not_reused(tmp_path, capsys):
    chunks = load_chunks()
    work = tmp_path / "work"
    assert chunks.run_chunk("hpobench-car", "random", 2, 10, 1, work) > 0
    side = json.loads((work / "hpobench-car__random.json").read_text())
    assert side["fingerprint"] == chunks.code_stamp("random")["fingerprint"] and side["seeds"] == 2
    assert chunks.run_chunk("hpobench-car", "random", 2, 10, 1, work) == 0.0  # current: reused
    long = chunks.load_long(work, ["hpobench-car"], ["random"])
    assert set(long.fingerprint) == {side["fingerprint"]} and set(long.commit) == {side["commit"]}
    summary = chunks.summarize(long, 10, wilcoxon=False)
    assert list(summary[["commit", "fingerprint"]].iloc[0]) == [side["commit"], side["fingerprint"]]
    # a summary never leaves a chunk out: one missing among current ones stops it
    with pytest.raises(SystemExit, match=r"1 chunk\(s\) .* missing or made by other code \(hpobench-car__ga\)"):
        chunks.load_long(work, ["hpobench-car"], ["random", "ga"])
    # made by other code: left out of summaries with a message, and re-run
    (work / "hpobench-car__random.json").write_text(json.dumps({**side, "fingerprint": "0" * 16}))
    capsys.readouterr()
    try:
        chunks.load_long(work, ["hpobench-car"], ["random"])
        raise AssertionError("a stale chunk was summarized")
    except SystemExit:
        pass
    assert "made by other code" in capsys.readouterr().err
    assert chunks.run_chunk("hpobench-car", "random", 2, 10, 1, work) > 0
    assert json.loads((work / "hpobench-car__random.json").read_text())["fingerprint"] == side["fingerprint"]
    # a chunk without its stamp (older code) is not reused either
    (work / "hpobench-car__random.json").unlink()
    assert chunks.run_chunk("hpobench-car", "random", 2, 10, 1, work) > 0


def test_a_scripts_strategies_are_a_subset_of_its_own():
    chunks = load_chunks()
    own = ("random", "memetic", "memetic-no-model")
    assert chunks.selected(None, own) == list(own)
    assert chunks.selected(" memetic,random,memetic ", own) == ["memetic", "random"]
    with pytest.raises(SystemExit, match="--strategies: none given"):
        chunks.selected(" , ", own)  # it used to select nothing and run nothing
    with pytest.raises(SystemExit, match="unknown strategy 'tpe'"):
        chunks.selected("random,tpe", own)


def test_a_saved_chunk_is_whole_and_stamped_or_absent(tmp_path, monkeypatch):
    import pandas as pd

    chunks = load_chunks()
    stamp = chunks.code_stamp("random")
    frame = pd.DataFrame({"seed": [0, 1], "regret": [0.5, 0.25]})

    def cut(self, path, *args, **kwargs):  # interrupted while writing the CSV
        open(path, "w").write("seed,reg")
        raise KeyboardInterrupt

    chunks.save_chunk(tmp_path, "t", "random", frame.assign(regret=9.9), {**stamp, "fingerprint": "old"},
                      index=False)  # a chunk of other code, then a save of today's cut short
    monkeypatch.setattr(pd.DataFrame, "to_csv", cut)
    with pytest.raises(KeyboardInterrupt):
        chunks.save_chunk(tmp_path, "t", "random", frame, stamp, index=False)
    assert not chunks.chunk_path(tmp_path, "t", "random").exists()  # not the old chunk under today's stamp
    assert not chunks.chunk_is_current(tmp_path, "t", "random", stamp, say=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t__random.json"]  # no temporary file left
    monkeypatch.undo()
    path = chunks.save_chunk(tmp_path, "t", "random", frame, stamp, index=False, seeds=2)
    assert chunks.chunk_is_current(tmp_path, "t", "random", stamp, say=False)
    assert pd.read_csv(path).equals(frame)
    assert json.loads(chunks.stamp_path(tmp_path, "t", "random").read_text())["seeds"] == 2
