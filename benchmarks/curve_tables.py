"""Learning-curve tables from real training (issue 11, item 4): full grids trained without early
stopping, exported with ``studylib export-table``.

    nice .venv/bin/python benchmarks/curve_tables.py [--tables curves-a curves-b]   # the default two
    nice .venv/bin/python benchmarks/curve_tables.py --tables curves-c             # the larger check table

* ``curves-a`` (development: memetic-sh's defaults are chosen on it): digits, the 72-config space
  ``benchmarks/spaces/curves-a.yaml`` (learning rate x batch size x widths), seeds 0 and 1,
  27 epochs each.
* ``curves-b`` (check only): Fashion-MNIST (3,000 train / 1,000 validation subset), the 36-config
  space ``benchmarks/spaces/curves-b.yaml`` (kernel size x second width x learning rate x batch
  size), seed 0, 27 epochs.
* ``curves-c`` (check only, for the model: issue 20, item 4): digits, the 576-config space
  ``benchmarks/spaces/curves-c.yaml`` (widths x kernel size x learning rate x batch size x
  activation), seed 0, 9 epochs, two Dask workers: a space far larger than memetic-sh can
  start within the comparison's budget.

Every grid is a study in ``OUT/<table>/`` (default ``reports/curve-tables``), so the script is
resumable: a re-run serves the finished trials from the ledger and trains the rest. The tables are
written to ``OUT/<table>.csv`` (one row per config, seed and epoch; not committed: regenerate
them with this script). ``benchmarks/curve_compare.py`` benchmarks the strategies on them.
Randomness: the grid's order and each trial's training seed (the study seed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCHS = 27
FASHION = "/usr/share/datasets/fashion-mnist"
TABLES = {
    "curves-a": dict(dataset="digits", seeds=(0, 1)),
    "curves-b": dict(dataset="fashion_mnist", seeds=(0,), data_dir=FASHION, train_size=3000, val_size=1000,
                     test_size=1000),
    "curves-c": dict(dataset="digits", seeds=(0,), epochs=9, workers=2),
}


def build(name: str, out: Path, allow_code_change: bool = False) -> Path:
    """Train table ``name``'s grid (resumably) and export it; returns the CSV's path."""
    from studylib.export_table import learning_curves, write_table
    from studylib.space_file import load_space
    from studylib.study import search

    spec = dict(TABLES[name])
    space = load_space(ROOT / "benchmarks" / "spaces" / f"{name}.yaml")
    epochs, workers = spec.pop("epochs", EPOCHS), spec.pop("workers", 1)
    executor = dict(executor="inline") if workers == 1 else dict(executor="dask", workers=workers)
    for seed in spec.pop("seeds"):
        r = search(space, out / name, strategy="grid", trials=space.size, seed=seed, max_epochs=epochs,
                   patience=epochs, progress=False, allow_code_change=allow_code_change, **executor, **spec)
        print(f"{name} seed {seed}: {r.trained} trained, {r.served} served, best {r.frame.best_acc.max():.4f}",
              flush=True)
    path = out / f"{name}.csv"
    write_table(learning_curves(out / name), path)  # (and its sidecar: the source folder, rows, commit)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=["curves-a", "curves-b"], choices=list(TABLES),
                   help="which tables (default: curves-a curves-b; curves-c on request)")
    p.add_argument("--out", default=str(ROOT / "reports" / "curve-tables"))
    p.add_argument("--allow-code-change", action="store_true")
    args = p.parse_args(argv)
    for name in args.tables:
        print(f"wrote {build(name, Path(args.out), args.allow_code_change)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
