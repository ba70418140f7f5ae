"""CPU training throughput per Keras backend (images/s) for the round-1 and round-3 CNNs.

    .venv/bin/python benchmarks/backend_throughput.py [--backends tensorflow,jax,torch] [--images 4096]

Each backend runs in its own process (``KERAS_BACKEND=...``) on the first ``--images`` Fashion-MNIST
training images (28x28x1): one warm-up epoch (tracing / compilation), then ``--epochs`` timed
epochs; images/s = images x epochs / time of the timed ``fit``. Round-1 CNN: the fixed config of
``trial_overhead.py`` (2 conv layers, first stride 2); round-3 CNN: ``round3`` config 0 (3 conv
layers 64/96/96 filters of 4x4, stride 1, leaky ReLU, dropout). A backend that is not installed is
reported as such. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(images: int, epochs: int) -> dict:
    import keras

    sys.path.insert(0, str(HERE))
    from trial_overhead import FIXED

    from studylib.data import load_dataset
    from studylib.model import build_model
    from studylib.space_file import load_space

    data = load_dataset("fashion_mnist", train_size=images, val_size=100, test_size=100)
    out = {"backend": keras.backend.backend()}
    for label, config in (("round1", FIXED), ("round3", load_space("round3").config_at(0))):
        keras.utils.clear_session()
        keras.utils.set_random_seed(0)
        model = build_model(config, data.input_shape, data.n_classes)
        fit = dict(batch_size=int(config["batch_size"]), verbose=0)
        model.fit(data.x_train, data.y_train, epochs=1, **fit)  # warm-up: tracing / compilation
        t = time.perf_counter()
        model.fit(data.x_train, data.y_train, epochs=epochs, **fit)
        out[label] = len(data.y_train) * epochs / (time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="tensorflow,jax,torch",
                    help="Keras backends to time, comma-separated (default: tensorflow,jax,torch)")
    ap.add_argument("--images", type=int, default=4096,
                    help="Fashion-MNIST training images per epoch (default: 4096)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up one (default: 2)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.images, args.epochs)))
        return
    rows = []
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, __file__, "--child", "--images", str(args.images), "--epochs", str(args.epochs)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = r.stdout.strip().splitlines()
        if r.returncode == 0 and lines:
            res = json.loads(lines[-1])
            rows.append(f"| {backend} | {res['round1']:,.0f} | {res['round3']:,.0f} |")
        else:
            err = (r.stderr.strip().splitlines() or ["failed"])[-1]
            rows.append(f"| {backend} | {err[:60]} | |")
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"CPU training throughput, images/s ({os.cpu_count()} cores, {args.images} Fashion-MNIST images, "
          f"{args.epochs} timed epochs after one warm-up)")
    print("| backend | round-1 CNN | round-3 CNN |")
    print("| --- | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
