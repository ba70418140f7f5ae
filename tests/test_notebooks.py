"""The three round notebooks, executed for real: ``studylib run all`` once (smoke profile, digits,
3 trials of 1 epoch), then checks of the executed notebooks, HTML reports, trials.csv and index."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _html import embedded_pngs, fetched_urls

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ROUNDS = ("round1", "round2", "round3")
PARAMETERS = ("dataset", "profile", "strategy", "trials", "seed", "repeats", "max_epochs", "patience",
              "train_size", "data_dir", "out_dir")
TRIALS = 3
#: results every trials.csv carries besides the round's hyperparameters (under their space names)
RESULT_COLUMNS = ["best_acc", "best_loss", "best_train_acc", "best_train_loss", "epochs", "test_acc", "status"]
FIGURES = {"round1": 1, "round2": 6, "round3": 1}  # Fig. 3 | Figs. 4-9 | Table IV as bars


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """``studylib run all`` into a fresh folder, once for the module."""
    out = tmp_path_factory.mktemp("reports") / "digits-smoke"
    env = {**os.environ, "STUDYLIB_REPORTS": str(out.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "studylib.cli", "run", "all", "--dataset", "digits", "--profile", "smoke",
         "--trials", str(TRIALS), "--max-epochs", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc


def _html_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- the committed notebooks -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ROUNDS)
def test_committed_notebook_is_clean_and_thin(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell must be tagged parameters"
    for c in code:
        assert c["outputs"] == [] and c["execution_count"] is None, "commit notebooks without outputs"
    for c in code[1:]:  # no logic in notebooks: calls into studylib only
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class|for|while|if)\b", src, re.M), src
        assert len([ln for ln in src.splitlines() if ln.strip()]) <= 8, src
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert sum(c["cell_type"] == "markdown" for c in nb["cells"]) >= 3


@pytest.mark.parametrize("name", ROUNDS)
def test_papermill_help_notebook_lists_the_parameters(name):
    papermill = Path(sys.executable).parent / "papermill"
    cmd = [str(papermill)] if papermill.exists() else [sys.executable, "-m", "papermill"]
    proc = subprocess.run(cmd + ["--help-notebook", str(NOTEBOOKS / f"{name}.ipynb")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Parameters inferred for notebook" in text
    for p in PARAMETERS:
        assert re.search(rf"^\s*{p}: \w", text, re.M), p
    assert 'dataset: str (default "digits")' in text
    assert "trials: Optional[int] (default None)" in text
    assert "None for the profile's count" in text  # the comments are the help


# -- the executed round notebooks ------------------------------------------------------------------

@pytest.mark.slow
def test_run_all_prints_the_index_last_and_writes_every_report(published):
    out, proc = published
    assert proc.stdout.strip().splitlines()[-1] == str(out / "index.html")
    for name in ROUNDS:
        for path in (out / f"{name}.ipynb", out / f"{name}.html", out / name / "trials.csv",
                     out / name / "ledger.sqlite", out / name / "summary.json"):
            assert path.exists(), path
        assert list((out / name / "studies").glob("*.json")), name
        assert re.search(rf"^{name}: best validation accuracy .* · {TRIALS} trials · digits", proc.stdout, re.M)
    # TensorFlow's and ipykernel's own chatter goes to the round's kernel.log, not the terminal;
    # a clean run deletes that log
    assert "oneDNN" not in proc.stderr
    assert not [p for name in ROUNDS for p in (out / name).glob("kernel.log")]
    assert not list(out.glob("**/.*.lock"))  # study locks go with a clean exit
    # each trial is reported while its notebook runs, as plain lines (not a terminal) on stderr, as
    # search reports them (stdout keeps the results)
    for name in ROUNDS:
        lines = re.findall(rf"^{name} random s0  trial (\d+)/{TRIALS}  best_acc ", proc.stderr, re.M)
        assert lines == [str(i) for i in range(1, TRIALS + 1)], name
        assert f"{name} random s0  trial" not in proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUNDS)
def test_executed_notebook_has_no_error_and_ran_in_this_environment(published, name):
    out, _ = published
    nb = json.loads((out / f"{name}.ipynb").read_text())
    pm = nb["metadata"]["papermill"]
    assert not pm.get("exception")
    params = pm["parameters"]
    assert params["dataset"] == "digits" and params["profile"] == "smoke" and params["trials"] == TRIALS
    assert params["max_epochs"] == 1 and params["out_dir"] == str(out / name)
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = json.dumps(outputs)
    assert "What produced this report" in text
    # the kernel was this interpreter (the venv's), not whatever `python3` resolves to elsewhere
    assert str(Path(sys.executable).parent) in text


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUNDS)
def test_html_report_stands_alone(published, name):
    out, _ = published
    html = _html_text(out / f"{name}.html")
    number = ROUNDS.index(name) + 1
    assert f"Appendix {number}" in html
    assert len(embedded_pngs(html)) >= FIGURES[name]
    assert "best_acc" in html and "<table" in html
    for text in ("What produced this report", "data hash", "Git commit", "Libraries", "Training time",
                 "This run", "smoke"):
        assert text in html, text
    assert all(u.startswith("data:") for u in fetched_urls(html))  # no script or stylesheet from anywhere
    assert "report.run_round(" not in html  # code cells hidden
    assert "oneDNN" not in html and "Traceback" not in html
    alts = [a for _, a in re.findall(r"""<img[^>]*\salt=(["'])(.*?)\1""", html)]  # each figure in words
    assert len(alts) >= FIGURES[name] and all(a and "No description" not in a for a in alts), alts
    assert "matplotlib " in html  # the library that drew them, among the provenance's versions


@pytest.mark.slow
def test_round_figures_and_table_iv(published):
    out, _ = published
    r1, r2, r3 = (_html_text(out / f"{n}.html") for n in ROUNDS)
    assert "Fig. 3" in r1
    for fig in ("Fig. 4", "Figs. 5–7", "Figs. 8–9"):
        assert fig in r2
    assert "Table IV" in r3 and "92.00" in r3 and "80.62" in r3 and "OUR run" in r3
    assert "digits test set" in r3
    # each figure and table also as files, for a paper
    figures = {n: sorted(p.stem for p in (out / n / "figures").glob("*.pdf")) for n in ROUNDS}
    assert figures == {"round1": ["fig3_learning_rate"],
                       "round2": ["fig4_distribution", "fig5_optimizer", "fig6_activation", "fig7_batch_size",
                                  "fig8_filters", "fig9_kernels"],
                       "round3": ["table_iv_figure"]}
    tables = sorted(p.name for p in (out / "round3" / "tables").iterdir() if not p.name.startswith("."))
    assert tables == [f"{n}{s}" for n in ("appendix_table", "seed_summary", "space_table", "table_iv")
                      for s in (".csv", ".tex")]
    assert "round3/figures (PDF, and PNG at 300 dpi)" in r3


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUNDS)
def test_trials_csv_has_one_name_per_hyperparameter_one_row_per_trial(published, name):
    from studylib.space_file import load_space

    out, _ = published
    df = pd.read_csv(out / name / "trials.csv")
    assert len(df) == TRIALS
    assert sorted(df["trial"]) == list(range(1, TRIALS + 1))
    space = load_space(name)
    missing = [c for c in [*space.names, *RESULT_COLUMNS] if c not in df.columns]
    assert not missing  # the space's names, as in the ledger and the explorer, in every round
    paper_only = {p for p in space.paper_names().values() if p not in space.names}
    assert not paper_only & set(df.columns)  # the paper's spellings only in the report's appendix table
    page = re.sub(r"<wbr\s*/?>", "", _html_text(out / f"{name}.html"))  # (where a header may wrap)
    headers = {h.strip() for h in re.findall(r"<th[^>]*>([^<]*)</th>", page)}
    assert paper_only <= headers  # ... where they are shown
    assert df["best_acc"].between(0, 1).all() and (df["dataset"] == "digits").all()
    assert df["study_id"].str.startswith(name).all()  # each round has its own ledger


@pytest.mark.slow
def test_index_links_every_report_with_a_summary(published):
    out, _ = published
    index = _html_text(out / "index.html")
    for name in ROUNDS:
        assert f"href='{name}.html'" in index
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["rows"] == TRIALS and summary["dataset"] == "digits" and summary["round"] == name
        assert f"{100 * summary['best_acc']:.2f}%" in index
    assert index.count(f"{TRIALS} trials · digits") == 3


@pytest.mark.parametrize("name", ["round1", "round2", "round3", "round4"])
def test_a_notebooks_parameter_defaults_are_the_studys(name):
    """What a notebook run by papermill alone takes is what the CLI, studylib run and the API take
    (studylib.defaults; a notebook's parameters cell holds plain values, so they are compared)."""
    import ast

    import papermill

    from studylib import defaults

    found = papermill.inspect_notebook(NOTEBOOKS / f"{name}.ipynb")
    params = {k: ast.literal_eval(v["default"]) for k, v in found.items()}
    assert params["dataset"] == defaults.DATASET and params["profile"] == defaults.PROFILE
    assert params["seed"] == defaults.SEED and params.get("strategy", defaults.STRATEGY) == defaults.STRATEGY
