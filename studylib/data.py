"""Datasets as train / validation / test arrays, loaded once per process and reused across trials.

Images are float32 in [0, 1], shape (N, H, W, C); labels are int64 class ids. Which samples land
in which split is fixed (the paper's protocol for CIFAR-10: the last 10,000 of the 50,000
training images are held out for validation); subsets (``train_size`` etc.) take the first n of a
permutation drawn from ``numpy.random.default_rng(split_seed)``, so they are reproducible.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import whole_number
from .errors import StudyError
from . import paths

DATASETS = ("cifar10", "fashion_mnist", "digits", "synthetic")
FILE_DATASETS = ("cifar10", "fashion_mnist")  # read from the data folder (the others are built in)


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str = ""
    options: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over every split's bytes (first 16 hex digits): what the ledger keys on."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "source": self.source,
            "data_hash": self.fingerprint,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            **self.options,
        }


# -- raw readers ------------------------------------------------------------------------------

def _unpickle(fileobj, where: str) -> dict:
    try:
        d = pickle.load(fileobj, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as e:  # corrupt or foreign file
        raise StudyError(f"corrupt CIFAR-10 batch {where} ({e.__class__.__name__}); "
                         "download cifar-10-python.tar.gz again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise StudyError(f"corrupt CIFAR-10 batch {where}: expected N x 3072 pixels and N labels")
    return {"data": data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), "labels": labels}


CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = "test_batch"
CIFAR_FOLDER, CIFAR_ARCHIVE = "cifar-10-batches-py", "cifar-10-python.tar.gz"


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read CIFAR-10 in the original python pickle format from a ``cifar-10-batches-py`` folder
    or a ``cifar-10-python.tar.gz`` archive. Returns uint8 (x_train, y_train, x_test, y_test)."""
    path = Path(path)
    batches = {}
    if path.is_dir():
        lacking = [name + (" (a folder there)" if (path / name).is_dir() else "")
                   for name in CIFAR_TRAIN + [CIFAR_TEST] if not (path / name).is_file()]
        if lacking:  # before any batch is read: a missing file is the first thing to fix
            redo = (f"extract cifar-10-python.tar.gz into {path.parent} again" if path.name == CIFAR_FOLDER else
                    f"extract cifar-10-python.tar.gz and give --data-dir the {CIFAR_FOLDER} folder it makes")
            raise StudyError(f"CIFAR-10 folder {path} lacks {', '.join(lacking)}; {redo}")
        for name in CIFAR_TRAIN + [CIFAR_TEST]:
            f = path / name
            try:
                with open(f, "rb") as fh:
                    batches[name] = _unpickle(fh, str(f))
            except OSError as e:
                raise StudyError(f"cannot read CIFAR-10 batch {f}: {e.strerror or e}") from None
    elif path.name == CIFAR_FOLDER:
        raise StudyError(f"{path} is a file: it should be the folder cifar-10-python.tar.gz extracts to; "
                         "remove it, or extract the archive again")
    else:
        try:
            with tarfile.open(path, "r:*") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                for name in CIFAR_TRAIN + [CIFAR_TEST]:
                    if name not in members:
                        raise StudyError(f"archive {path} lacks {name}: not a cifar-10-python.tar.gz")
                    batches[name] = _unpickle(io.BytesIO(tar.extractfile(members[name]).read()), f"{path}:{name}")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise StudyError(f"corrupt archive {path} ({e.__class__.__name__}); delete it and download "
                             "cifar-10-python.tar.gz again") from None
    x_train = np.concatenate([batches[n]["data"] for n in CIFAR_TRAIN])
    y_train = np.concatenate([batches[n]["labels"] for n in CIFAR_TRAIN])
    return x_train, y_train, batches[CIFAR_TEST]["data"], batches[CIFAR_TEST]["labels"]


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST / Fashion-MNIST format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("bad magic number")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(shape)):
            raise ValueError("truncated")
        return data.reshape(shape)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as e:
        raise StudyError(f"corrupt IDX file {path} ({e}); reinstall dataset-fashion-mnist or re-download") from None


FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    for cand in (folder / f"{stem}.gz", folder / stem):
        if cand.exists():
            return cand
    return None


# -- per-dataset loaders (full train/test, before splitting) ---------------------------------

def download_failure(e: BaseException, width: int = 200) -> str:
    """Why a Keras download failed, on one line: the exception's type and message (Keras wraps a
    network error as ``Exception('URL fetch failure on URL: None -- [Errno -3] Temporary failure in
    name resolution')``)."""
    text = " ".join(str(e).split()) or "no message"
    if len(text) > width:
        text = text[:width - 3] + "..."
    return f"Keras download failed: {e.__class__.__name__}: {text}"


KERAS_ORIGINS = {"cifar10": ("cifar-10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
                 "fashion_mnist": ("fashion-mnist", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/")}


def offline(dataset: str, timeout: float = 5.0) -> str | None:
    """Why Keras cannot download ``dataset`` (its host does not answer), or None if it may: Keras
    prints "Downloading data from ..." before it finds out, so a missing network is one line of
    ours instead. Not checked behind a proxy or when Keras' cache already holds the dataset."""
    import os
    import socket
    from urllib.parse import urlsplit

    stem, url = KERAS_ORIGINS[dataset]
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    if any(k.lower().endswith("_proxy") and v for k, v in os.environ.items()) or \
            (cache.is_dir() and any(p.name.startswith(stem) for p in cache.iterdir())):
        return None
    host = urlsplit(url)
    try:
        socket.create_connection((host.hostname, host.port or 443), timeout=timeout).close()
    except OSError as e:
        return f"no network: {host.hostname} unreachable ({e.strerror or e.__class__.__name__})"
    return None


def _keras_download(dataset: str, load):
    """``load()`` (a Keras dataset loader) unless the network is missing; (data, None) or (None, why)."""
    why = offline(dataset)
    if why:
        return None, why
    try:
        return load(), None
    except Exception as e:
        return None, download_failure(e)


def _downloaded(name: str, download: bool):
    """(``keras.datasets.<name>``'s ``((x_train, y_train), (x_test, y_test))``, None), or (None,
    why not): ``download`` off, or the download failed."""
    if not download:
        return None, "download disabled"
    import keras

    return _keras_download(name, getattr(keras.datasets, name).load_data)


def _load_cifar10(data_dir: Path, download: bool):
    """From ``data_dir``: its extracted folder (when it holds every batch), else its archive, else
    the folder (to say what it lacks); ``data_dir`` may also be the extracted folder itself."""
    folder, archive = data_dir / CIFAR_FOLDER, data_dir / CIFAR_ARCHIVE
    if (data_dir / CIFAR_TRAIN[0]).exists():  # --data-dir names the batches' own folder
        folder = data_dir
    complete = folder.is_dir() and all((folder / n).is_file() for n in CIFAR_TRAIN + [CIFAR_TEST])
    for p in ([folder] if complete else []) + [archive, folder]:
        if p.exists():
            return (*read_cifar10(p), str(p))
    tried = [folder, archive]
    data, reason = _downloaded("cifar10", download)
    if data is not None:
        (xt, yt), (xs, ys) = data
        return xt, yt.reshape(-1).astype(np.int64), xs, ys.reshape(-1).astype(np.int64), "keras.datasets.cifar10"
    raise StudyError(f"CIFAR-10 not found (tried {tried[0]} and {tried[1]}; {reason}); "
                     f"put cifar-10-python.tar.gz into {_shown(data_dir)}")


NOTED_ENV = "STUDYLIB_FASHION_NOTED"  # folders noted as holding no Fashion-MNIST (trial processes inherit it)


def _load_fashion(data_dir: Path, download: bool):
    folders = [data_dir / "fashion-mnist", data_dir, paths.FASHION_MNIST_SYSTEM_DIR]
    for folder in folders:
        found = {k: _find_idx(folder, stem) for k, stem in FASHION_FILES.items()}
        if any(found.values()) and not all(found.values()) and folder != paths.FASHION_MNIST_SYSTEM_DIR:
            missing = ", ".join(FASHION_FILES[k] for k, p in found.items() if p is None)
            raise StudyError(f"Fashion-MNIST folder {folder} is incomplete (missing {missing}); "
                             "put all four IDX files there, or remove it to use another copy")
        if all(found.values()):
            given = Path(data_dir).absolute()
            noted = os.environ.get(NOTED_ENV, "").split("\n")  # (a folder name may hold a colon)
            if folder == paths.FASHION_MNIST_SYSTEM_DIR and given != paths.DATA_DIR.absolute() and str(given) not in noted:
                os.environ[NOTED_ENV] = "\n".join([*filter(None, noted), str(given)])  # once per folder
                print(f"studylib: note: no Fashion-MNIST in {_shown(data_dir)}; using Debian's copy in {folder}",
                      file=sys.stderr)
            arrs = {k: read_idx(p) for k, p in found.items()}
            for part in ("train", "test"):
                x, y = arrs[f"x_{part}"], arrs[f"y_{part}"]
                if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                    raise StudyError(f"Fashion-MNIST {part} files in {folder} do not match: {found[f'x_{part}'].name} "
                                     f"holds {x.shape[0]} images of {'x'.join(map(str, x.shape[1:]))}, "
                                     f"{found[f'y_{part}'].name} {y.shape[0] if y.ndim else 0} labels "
                                     f"(expected N images and N labels)")
            return (arrs["x_train"][..., None], arrs["y_train"].astype(np.int64),
                    arrs["x_test"][..., None], arrs["y_test"].astype(np.int64), str(folder))
    data, reason = _downloaded("fashion_mnist", download)
    if data is not None:
        (xt, yt), (xs, ys) = data
        return xt[..., None], yt.astype(np.int64), xs[..., None], ys.astype(np.int64), "keras.datasets.fashion_mnist"
    raise StudyError(f"Fashion-MNIST not found (tried {', '.join(map(str, folders))}; {reason}); "
                     f"install Debian's dataset-fashion-mnist or put the IDX files into {_shown(data_dir / 'fashion-mnist')}/")


def _shown(folder: Path) -> str:
    """``folder`` as a message names it: its path, relative to the current folder where it lies
    inside it (the default ``data/`` when run from studylib's folder)."""
    folder = Path(folder).absolute()
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def _load_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    # fixed 80/20 train/test split; validation is carved from train like for the others
    perm = np.random.default_rng(12345).permutation(len(y))
    n_test = len(y) // 5
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test], "sklearn.datasets.load_digits"


def make_synthetic(n: int = 600, size: int = 8, n_classes: int = 3, seed: int = 0):
    """Tiny learnable images: each class is a bright bar at its own position plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(n_classes, size=n)
    x = rng.normal(0.2, 0.1, size=(n, size, size, 1))
    for c in range(n_classes):
        rows = slice(c * size // n_classes, (c + 1) * size // n_classes)
        x[y == c, rows, :, 0] += 0.6
    x = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    return x, y.astype(np.int64)


def _load_synthetic():
    x, y = make_synthetic(n=750)
    return x[:600], y[:600], x[600:], y[600:], "studylib.data.make_synthetic"


# -- public API ----------------------------------------------------------------------------

VAL_FRACTION = {"cifar10": 10_000}  # paper: 10,000 of the 50,000 training images


def _subset(x, y, n, rng):
    if n is None or n >= len(y):
        return x, y
    idx = np.sort(rng.permutation(len(y))[:n])
    return x[idx], y[idx]


TEN_CLASSES = ("cifar10", "fashion_mnist")  # datasets whose labels are the classes 0-9


@functools.lru_cache(maxsize=4)
def load_dataset(name: str, *, train_size: int | None = None, val_size: int | None = None,
                 test_size: int | None = None, data_dir: str | None = None, download: bool = True,
                 split_seed: int = 0) -> Dataset:
    """Load ``name`` (``cifar10``, ``fashion_mnist``, ``digits``, ``synthetic``) as a :class:`Dataset`.

    Validation is held out of the training set (the last 10,000 images for CIFAR-10 as in the
    paper, the last 1/6 for Fashion-MNIST, the last 20% otherwise); the test set is never used
    for model selection. ``*_size`` subsets draw from ``default_rng(split_seed)``. Cached per
    process: a study's trials all share one copy.
    """
    if name not in DATASETS:
        raise StudyError(f"unknown dataset {name!r} (choose from: {', '.join(DATASETS)})")
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    train_size, val_size, test_size = (None if v is None else whole_number(label, v) for label, v in sizes.items())
    folder = Path(data_dir) if data_dir else paths.DATA_DIR
    # a --data-dir is checked for every dataset; STUDYLIB_DATA, a setting of the shell, for those read from files
    named = "" if data_dir else "STUDYLIB_DATA="
    if data_dir or (paths.DATA_DIR_SET and name in FILE_DATASETS):
        if folder.exists() and not folder.is_dir():
            raise StudyError(f"data directory {named}{folder} is a file: give the folder that holds it")
        if not folder.is_dir():
            raise StudyError(f"data directory not found: {named}{folder}")
    if name == "cifar10":
        xt, yt, xs, ys, source = _load_cifar10(folder, download)
    elif name == "fashion_mnist":
        xt, yt, xs, ys, source = _load_fashion(folder, download)
    elif name == "digits":
        xt, yt, xs, ys, source = _load_digits()
    else:
        xt, yt, xs, ys, source = _load_synthetic()

    if len(yt) < 2 or not len(ys):  # a validation image is held out of the training images
        raise StudyError(f"{name} at {source}: {len(yt)} training and {len(ys)} test images; a study needs "
                         "at least 2 training images and 1 test image")
    if name in TEN_CLASSES and any(len(y) and (y.min() < 0 or y.max() > 9) for y in (yt, ys)):
        bad = next(int(v) for y in (yt, ys) for v in y if not 0 <= v <= 9)
        raise StudyError(f"{name} at {source}: a label is {bad}, not a class 0-9; the file is corrupt or not {name}")
    n_val = VAL_FRACTION.get(name, len(yt) // 6 if name == "fashion_mnist" else len(yt) // 5)
    n_val = max(1, min(n_val, len(yt) // 2))
    xv, yv, xt, yt = xt[-n_val:], yt[-n_val:], xt[:-n_val], yt[:-n_val]
    rng = np.random.default_rng(split_seed)
    xt, yt = _subset(xt, yt, train_size, rng)
    xv, yv = _subset(xv, yv, val_size, rng)
    xs, ys = _subset(xs, ys, test_size, rng)
    n_classes = int(max(yt.max(), yv.max(), ys.max()) + 1)

    def norm(a):
        return (a.astype(np.float32) / 255.0)

    return Dataset(
        name=name, x_train=norm(xt), y_train=yt, x_val=norm(xv), y_val=yv, x_test=norm(xs), y_test=ys,
        n_classes=n_classes, source=source,
        options={"train_size": train_size, "val_size": val_size, "test_size": test_size, "split_seed": split_seed},
    )
