import os
import subprocess
import sys
from pathlib import Path

import pytest

from studylib.backend import BACKENDS, choose_backend
from studylib.errors import StudyError

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_HOME": str(tmp_path), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                          cwd=tmp_path, timeout=600)


def test_search_with_a_missing_backend_is_one_line_naming_the_extra(tmp_path):
    code = ("import sys; sys.modules['jax'] = None\n"  # as if jax were not installed
            "from studylib.cli import main\n"
            f"sys.exit(main(['search', 'round1', '--dataset', 'synthetic', '--trials', '1', "
            f"'--no-progress', '--out', {str(tmp_path / 'out')!r}]))")
    r = _run(code, tmp_path, KERAS_BACKEND="jax")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        """studylib: error: Keras backend 'jax' is not installed: pip install -e ".[jax]\""""]
    assert not (tmp_path / "out").exists()


def test_backend_choice_names_the_extra_of_each_backend(monkeypatch, tmp_path):
    only = lambda *mods: (lambda m: m in mods)  # noqa: E731
    assert choose_backend(None, only("tensorflow", "jax")) == "tensorflow"  # Keras' own default
    assert choose_backend(None, only("torch", "jax")) == "jax"  # a [jax] or [torch] install needs no set-up
    assert choose_backend(None, only("torch")) == "torch"
    assert choose_backend("torch", only("torch", "tensorflow")) == "torch"
    for name, (_, extra) in BACKENDS.items():
        with pytest.raises(StudyError, match=rf'backend {name!r} is not installed: pip install -e "\.\[{extra}\]"'):
            choose_backend(name, only())
    with pytest.raises(StudyError, match="'tensorflow' is not installed"):
        choose_backend(None, only())
    monkeypatch.setenv("KERAS_BACKEND", "nonsense")
    for name in ("numpy", "nonsense"):  # Keras' inference-only backend, a typo
        with pytest.raises(StudyError, match=rf"^Keras backend {name!r} \(KERAS_BACKEND\) "
                                             r"cannot train here: use one of tensorflow, jax, torch$"):
            choose_backend(name, only("numpy", "tensorflow"))
    monkeypatch.delenv("KERAS_BACKEND")  # named in keras.json: the file Keras read is named
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(StudyError, match=rf"^Keras backend 'numpy' \({tmp_path / 'keras.json'}\) cannot train here"):
        choose_backend("numpy", only("numpy", "tensorflow"))


def test_a_jax_trial_and_the_dataset_downloads_need_no_tensorflow(tmp_path):
    pytest.importorskip("jax")  # installed by `make test-jax` (pip install -e ".[jax]")
    code = ("import sys; sys.modules['tensorflow'] = None\n"  # as if only the [jax] extra were installed
            "from studylib.data import load_dataset\n"
            "from studylib.training import Budget, evaluate\n"
            "import keras, keras.datasets.cifar10, keras.datasets.fashion_mnist\n"
            "r = evaluate({'filters1': 8, 'ksize1': 3, 'hidden1': 16, 'hidden2': 16, 'learning_rate': 0.01,"
            " 'batch_size': 32}, load_dataset('synthetic'), Budget(max_epochs=3), seed=0)\n"
            "print(keras.backend.backend(), r.status, r.best_acc)")
    r = _run(code, tmp_path, KERAS_BACKEND="")  # none named, TensorFlow absent: studylib picks JAX
    assert r.returncode == 0, r.stderr[-2000:]
    backend, status, acc = r.stdout.split()
    assert backend == "jax" and status == "ok" and float(acc) > 0.6  # 3 classes: chance is 1/3


def test_gpu_check_without_a_gpu_says_so_in_one_line_and_fails(tmp_path):
    r = _run(f"import runpy, sys; sys.argv = ['gpu_check.py']; "
             f"runpy.run_path({str(ROOT / 'benchmarks' / 'gpu_check.py')!r}, run_name='__main__')",
             tmp_path, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: ") and lines[0].endswith("nothing measured")
    assert "GPU" in lines[0] or "JAX is not installed" in lines[0]
