"""GPU check under JAX, one command, at most ~5 minutes:

    KERAS_BACKEND=jax python benchmarks/gpu_check.py [--epochs 3] [--concurrent 4] [--trials 10]

On CIFAR-shaped synthetic data (40,000 / 10,000 / 10,000 images of 32x32x3, 10 learnable classes,
drawn from ``default_rng(0)``) with the largest round-3 config (96/128/128 filters of 5x5, stride 1,
hidden 125/125):

1. one trial on one GPU: steady time per epoch (epochs after the first, which compiles; an epoch
   includes its validation pass), training images/s, peak GPU memory (JAX's allocator);
2. ``--concurrent`` trials at once, each in its own process with ``XLA_PYTHON_CLIENT_PREALLOCATE=false``:
   total images/s and peak memory per trial;
3. a ``--trials``-trial ``studylib search round3 --workers N`` study (N = ``--concurrent``) on the
   same kind of data written as a ``cifar-10-batches-py`` folder (the real loading path), 40k/10k/10k,
   ``--max-epochs 2``.

Prints a table; exits 1 with one line when JAX sees no GPU, 3 when a step failed. Every process
it starts runs with TensorFlow blocked (``sys.modules["tensorflow"] = None``), so nothing on this
path imports it. Needs numpy, Keras and JAX with CUDA (steps 1-2) and studylib's dependencies
(step 3), e.g. ``pip install -e ".[jax]"``.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 290
N_TRAIN, N_VAL, N_TEST = 40_000, 10_000, 10_000


def cifar_like(n: int, seed: int):
    """uint8 images (n, 32, 32, 3) and labels: a per-class template plus noise, learnable."""
    import numpy as np

    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(12345).uniform(0, 1, size=(10, 32, 32, 3)).astype(np.float32)
    y = rng.integers(10, size=n)
    x = 0.4 * templates[y] + rng.uniform(0, 0.6, size=(n, 32, 32, 3)).astype(np.float32)
    return (x * 255).round().astype(np.uint8), y.astype(np.int64)


def round3_config() -> dict:
    from studylib.space_file import load_space

    space = load_space("round3")
    return dict(space.config_at(space.size - 1))  # largest filters, kernels and hidden layers


def trial(epochs: int) -> dict:
    """One trial in this process; JSON-able measurements."""
    import jax

    from studylib.data import Dataset
    from studylib.training import Budget, evaluate

    xt, yt = cifar_like(N_TRAIN + N_VAL, seed=0)
    xs, ys = cifar_like(N_TEST, seed=1)
    norm = lambda a: a.astype("float32") / 255.0  # noqa: E731
    data = Dataset("cifar_like", norm(xt[:N_TRAIN]), yt[:N_TRAIN], norm(xt[N_TRAIN:]), yt[N_TRAIN:],
                   norm(xs), ys, n_classes=10)
    stamps = []
    t0 = time.perf_counter()
    r = evaluate(round3_config(), data, Budget(max_epochs=epochs, patience=epochs), seed=0,
                 on_epoch=lambda epoch, logs: stamps.append(time.perf_counter()))
    epoch_s = [b - a for a, b in zip([t0] + stamps, stamps)]
    steady = statistics.median(epoch_s[1:]) if len(epoch_s) > 1 else epoch_s[0]
    stats = jax.local_devices()[0].memory_stats() or {}
    return {"status": r.status, "val_acc": r.best_acc, "first_epoch_s": epoch_s[0], "epoch_s": steady,
            "images_per_s": N_TRAIN / steady, "peak_mib": stats.get("peak_bytes_in_use", 0) / 2**20,
            "device": str(jax.local_devices()[0]), "tensorflow_imported": sys.modules.get("tensorflow") is not None}


def env_without_tensorflow(tmp: Path) -> dict:
    """Environment for child processes: JAX, no preallocation, TensorFlow blocked at start-up."""
    (tmp / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
    path = os.pathsep.join([str(tmp), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}


def gpu_visible(env: dict) -> str | None:
    """None if JAX sees a GPU, else why not (one line)."""
    code = "import jax; print(len(jax.devices('gpu')))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if r.returncode == 0 and r.stdout.strip().isdigit() and int(r.stdout.strip()) > 0:
        return None
    last = (r.stderr.strip().splitlines() or ["no output"])[-1]
    if "No module named 'jax'" in r.stderr:
        return "JAX is not installed (pip install -e \".[jax]\" with a CUDA build of jax)"
    return f"JAX sees no GPU ({last[:160]})"


def run_trials(n: int, epochs: int, env: dict, timeout: float) -> list[dict]:
    cmd = [sys.executable, __file__, "--child", "--epochs", str(epochs)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\ntimed out"
        lines = out.strip().splitlines()
        results.append(json.loads(lines[-1]) if p.returncode == 0 and lines
                       else {"error": (err.strip().splitlines() or ["failed"])[-1][:120]})
    return results


def write_cifar_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    x, y = cifar_like(N_TRAIN + N_VAL, seed=0)
    xs, ys = cifar_like(N_TEST, seed=1)
    flat = lambda a: a.transpose(0, 3, 1, 2).reshape(len(a), 3072)  # noqa: E731  (CIFAR's channel-first rows)
    size = len(y) // 5
    for i in range(5):
        part = slice(i * size, (i + 1) * size)
        with open(folder / f"data_batch_{i + 1}", "wb") as f:
            pickle.dump({b"data": flat(x[part]), b"labels": y[part].tolist()}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": flat(xs), b"labels": ys.tolist()}, f)


def run_study(trials: int, workers: int, env: dict, tmp: Path, timeout: float) -> dict:
    write_cifar_folder(tmp / "data" / "cifar-10-batches-py")
    cmd = [sys.executable, "-m", "studylib.cli", "search", "round3", "--strategy", "random", "--dataset",
           "cifar10", "--data-dir", str(tmp / "data"), "--profile", "paper", "--max-epochs", "2",
           "--trials", str(trials), "--workers", str(workers), "--no-progress", "--out", str(tmp / "study")]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return {"wall_s": wall, "trials_per_hour": trials * 3600 / wall, "summary": r.stdout.strip().splitlines()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per trial in steps 1-2 (default 3)")
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(trial(args.epochs)))
        return 0
    start = time.perf_counter()
    left = lambda: BUDGET_S - (time.perf_counter() - start)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = env_without_tensorflow(tmp)
        why = gpu_visible(env)
        if why:
            print(f"gpu_check: {why}; nothing measured", file=sys.stderr)
            return 1
        one = run_trials(1, args.epochs, env, left())[0]
        many = run_trials(args.concurrent, args.epochs, env, left())
        study = run_study(args.trials, args.concurrent, env, tmp, left())
    rows = [("1 trial", one)] + [(f"{args.concurrent} concurrent, #{i + 1}", r) for i, r in enumerate(many)]
    print(f"GPU check ({one.get('device', '?')}), JAX, CIFAR-shaped synthetic data, largest round-3 config, "
          f"{N_TRAIN:,} training images per epoch")
    print("| run | first epoch s | steady epoch s | train images/s | peak GPU MiB | val acc | TF imported |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, r in rows:
        if "error" in r:
            print(f"| {label} | failed: {r['error']} | | | | | |")
        else:
            print(f"| {label} | {r['first_epoch_s']:.1f} | {r['epoch_s']:.2f} | {r['images_per_s']:,.0f} | "
                  f"{r['peak_mib']:,.0f} | {r['val_acc']:.3f} | {r['tensorflow_imported']} |")
    ok = [r for r in many if "error" not in r]
    total = sum(r["images_per_s"] for r in ok)
    print(f"| {args.concurrent} concurrent, total | | | {total:,.0f} | "
          f"{sum(r['peak_mib'] for r in ok):,.0f} | | |")
    if "error" in study:
        print(f"study ({args.trials} trials, --workers {args.concurrent}): failed: {study['error']}")
    else:
        print(f"study ({args.trials} trials, --workers {args.concurrent}, 2 epochs of 40k): {study['wall_s']:.0f} s, "
              f"{study['trials_per_hour']:,.0f} trials/hour ({study['summary']})")
    failed = "error" in one or len(ok) < len(many) or "error" in study
    if "error" not in one:
        print(f"goals: 40k-image epoch under 10 s: {'yes' if one['epoch_s'] < 10 else 'no'} "
              f"({one['epoch_s']:.2f} s); {args.concurrent} concurrent trials per GPU: "
              f"{'yes' if len(ok) == len(many) else 'no'}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
