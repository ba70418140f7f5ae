import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = set(project["dependencies"]) | set(extras["tensorflow"]) | set(extras["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert {_name(r) for r in pip} == {_name(r) for r in declared}
    assert set(pip) == declared  # same version bounds too
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.split("=")[1] >= project["requires-python"].lstrip(">=")


def test_each_keras_backend_is_an_extra_and_tensorflow_the_default():
    """`pip install -e ".[jax]"` (or torch) must not pull TensorFlow; everything else installs TF."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    backends = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    core = {_name(r) for r in project["dependencies"]}
    assert not core & {"tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch"}
    for extra, package in backends.items():
        assert any(_name(r).startswith(package) for r in extras[extra]), extra
    assert not any(_name(r).startswith("tensorflow") for r in extras["jax"] + extras["torch"] + extras["test"])
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^EXTRAS \?= tensorflow,test$", makefile, re.M)
    assert 'pip install -q -e ".[$(EXTRAS)]"' in makefile
    assert 'pip install -q -e ".[jax,test]"' in makefile and "KERAS_BACKEND=jax" in makefile
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[tensorflow,test]"' in readme and 'pip install -e ".[jax]"' in readme


def test_dehb_is_installed_without_its_numpy_pin_by_make_install_and_named_for_conda():
    """dehb 0.1.2 declares numpy<2: listing it as a dependency would make pip downgrade numpy, so
    `make install` installs it with --no-deps; its own dependencies are ordinary ones."""
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert "dehb" not in names and {"loguru", "configspace"} <= names
    makefile = (ROOT / "Makefile").read_text()
    pin = re.search(r"^DEHB\s+:= (dehb==[\d.]+)$", makefile, re.M).group(1)
    assert re.search(r'^\t\$\(BIN\)/python -m pip install -q --no-deps "\$\(DEHB\)"$', makefile, re.M)
    assert f"pip install --no-deps {pin}" in (ROOT / "environment.yml").read_text()
    assert version("dehb") == pin.split("==")[1]  # the version the dehb strategy is tested with


def test_ci_runs_the_readme_test_commands():
    readme = (ROOT / "README.md").read_text()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in readme and "make test-jax" in readme and "make study" in readme
    assert ci[-3:] == ["make test", "make test-slow", "make test-jax"]  # CI runs every test


def test_make_test_leaves_out_only_the_slow_tests_and_make_test_slow_runs_them():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^test: .*\n\t\$\(BIN\)/python -m pytest -q -m "not slow"$', makefile, re.M)
    assert re.search(r"^test-slow: .*\n\t\$\(BIN\)/python -m pytest -q -m slow$", makefile, re.M)
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in pytest_ini["addopts"]  # a mistyped marker fails instead of running fast
    assert any(m.startswith("slow:") for m in pytest_ini["markers"])


def test_layout_the_user_asked_for():
    for name in ("README.md", "environment.yml", "notebooks", "studylib", "data", "reports", "tests"):
        assert (ROOT / name).exists(), name


def test_readme_is_short_and_every_page_it_links_exists():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    pages = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert {"docs/benchmarks.md", "docs/multifidelity.md", "docs/scaling.md", "docs/cli.md",
            "docs/architecture.md"} <= set(pages)
    for page in pages:
        assert (ROOT / page).exists(), page
    for page in (ROOT / "docs").glob("*.md"):  # relative links between pages and to results resolve
        for target in re.findall(r"\]\(([^)]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target.split("#")[0]).exists(), (page.name, target)


def test_benchmark_tables_in_the_docs_are_the_committed_results():
    """docs/benchmarks.md's tables are what benchmarks/readme_tables.py renders from the CSVs."""
    from _scripts import load_script

    module = load_script("readme_tables")
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    block = text.split(module.START, 1)[1].split(module.END, 1)[0]
    assert block == "\n" + module.render()


def test_the_python_api_is_at_the_top_level_and_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, studylib\n"
            "heavy = sorted(m for m in ('pandas', 'keras', 'tensorflow') if m in sys.modules)\n"
            "from studylib import search, StudyError\n"
            "import studylib.study, studylib.errors\n"
            "assert search is studylib.study.search and StudyError is studylib.errors.StudyError\n"
            "assert studylib.load_space('round3').size == 3072 and 'search' in dir(studylib)\n"
            "print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"  # import studylib loads neither pandas nor Keras
