import os
import gzip
import io
import pickle
import struct
import shutil
import tarfile

import numpy as np
import pytest

from studylib import data
from studylib.data import load_dataset, read_cifar10, read_idx
from studylib.errors import StudyError


def _cifar_batch(n, rng, offset):
    pixels = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(x) for x in (np.arange(n) + offset) % 10]
    return {b"batch_label": b"x", b"labels": labels, b"data": pixels, b"filenames": [b"f"] * n}


def make_cifar_archive(folder, n_per_batch=6, extract=False):
    """A tiny CIFAR-10 in the real python pickle format (5 train batches + test batch)."""
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": _cifar_batch(n_per_batch, rng, i) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(n_per_batch, rng, 0)
    if extract:
        d = folder / "cifar-10-batches-py"
        d.mkdir()
        for name, b in batches.items():
            (d / name).write_bytes(pickle.dumps(b))
        return d, batches
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, b in batches.items():
            blob = pickle.dumps(b)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path, batches


@pytest.mark.parametrize("extract", [False, True])
def test_cifar10_reader_reads_the_real_format(tmp_path, extract):
    path, batches = make_cifar_archive(tmp_path, extract=extract)
    x_train, y_train, x_test, y_test = read_cifar10(path)
    assert x_train.shape == (30, 32, 32, 3) and x_test.shape == (6, 32, 32, 3)
    raw = batches["data_batch_1"][b"data"][0]
    # CIFAR rows are channel planes: 1024 red, 1024 green, 1024 blue, row-major 32x32
    assert x_train[0, 0, 1, 0] == raw[1] and x_train[0, 0, 0, 1] == raw[1024] and x_train[0, 1, 0, 2] == raw[2048 + 32]
    assert list(y_train[:6]) == batches["data_batch_1"][b"labels"]


def test_cifar10_dataset_holds_out_validation_from_training(tmp_path):
    make_cifar_archive(tmp_path)
    d = load_dataset("cifar10", data_dir=str(tmp_path), download=False)
    # 30 training images: validation is the tail of the training set, test stays separate
    assert len(d.y_train) + len(d.y_val) == 30 and len(d.y_test) == 6
    assert d.input_shape == (32, 32, 3) and d.x_train.dtype == np.float32 and d.x_train.max() <= 1.0
    assert d.n_classes == 10


def test_corrupt_and_missing_cifar_give_one_line_errors(tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"this is not a tarball")
    with pytest.raises(StudyError, match="corrupt archive .*cifar-10-python.tar.gz") as e:
        load_dataset("cifar10", data_dir=str(tmp_path), download=False)
    assert "\n" not in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StudyError, match="CIFAR-10 not found .*cifar-10-batches-py.*cifar-10-python.tar.gz"):
        load_dataset("cifar10", data_dir=str(empty), download=False)
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "cifar-10-batches-py").mkdir()
    (folder / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"garbage")
    # what is missing is said first, all of it, before the batch there is read
    with pytest.raises(StudyError, match="lacks data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch; "
                                         "extract cifar-10-python.tar.gz into .* again$"):
        load_dataset("cifar10", data_dir=str(folder), download=False)
    for name in ["data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (folder / "cifar-10-batches-py" / name).write_bytes(b"garbage")
    with pytest.raises(StudyError, match="corrupt CIFAR-10 batch .*data_batch_1 "):
        load_dataset("cifar10", data_dir=str(folder), download=False)


def test_cifar_layouts_a_user_makes_load_or_say_what_is_wrong(tmp_path):
    # the batches folder itself as --data-dir, or an empty one beside a good archive: both load
    (tmp_path / "a").mkdir()
    folder, _ = make_cifar_archive(tmp_path / "a", extract=True)
    assert len(load_dataset("cifar10", data_dir=str(folder), download=False).y_test) == 6
    beside = tmp_path / "b"
    beside.mkdir()
    make_cifar_archive(beside)
    (beside / "cifar-10-batches-py").mkdir()  # an extraction that never happened
    assert load_dataset("cifar10", data_dir=str(beside), download=False).source.endswith("cifar-10-python.tar.gz")
    # a batch that is a folder, and a file where the folder should be: one line each
    (folder / "data_batch_2").unlink()
    (folder / "data_batch_2").mkdir()
    with pytest.raises(StudyError, match=r"lacks data_batch_2 \(a folder there\)") as e:
        load_dataset("cifar10", data_dir=str(tmp_path / "a"), download=False)
    assert "\n" not in str(e.value)
    mine = tmp_path / "mine"  # the batches in a folder of the user's naming, one missing
    mine.mkdir()
    (mine / "data_batch_1").write_bytes((folder / "data_batch_1").read_bytes())
    with pytest.raises(StudyError, match="lacks data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch; "
                                         "extract cifar-10-python.tar.gz and give --data-dir "
                                         "the cifar-10-batches-py folder it makes"):
        load_dataset("cifar10", data_dir=str(mine), download=False)
    odd = tmp_path / "c"
    odd.mkdir()
    (odd / "cifar-10-batches-py").write_bytes(b"x")
    with pytest.raises(StudyError, match="cifar-10-batches-py is a file: it should be the folder"):
        load_dataset("cifar10", data_dir=str(odd), download=False)


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


def test_idx_reader(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "imgs-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "imgs-idx3-ubyte", images)
    assert np.array_equal(read_idx(tmp_path / "imgs-idx3-ubyte.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "imgs-idx3-ubyte"), images)
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5))
    with pytest.raises(StudyError, match="corrupt IDX file"):
        read_idx(tmp_path / "bad.gz")
    blob = bytearray(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x08" + bytes(range(8)) * 40))
    blob[12:16] = b"\xff\xff\xff\xff"  # the header is intact, the compressed stream is not
    (tmp_path / "stream.gz").write_bytes(bytes(blob))
    with pytest.raises(StudyError, match="corrupt IDX file .*stream.gz"):
        read_idx(tmp_path / "stream.gz")


def test_too_few_images_or_labels_outside_the_classes_are_one_line(tmp_path):
    rng = np.random.default_rng(0)
    three = tmp_path / "three" / "fashion-mnist"  # 3 images: one held out for validation (len // 6 is 0)
    three.mkdir(parents=True)
    _write_idx(three / "train-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28)))
    _write_idx(three / "train-labels-idx1-ubyte", np.array([0, 1, 2]))
    _write_idx(three / "t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 28, 28)))
    _write_idx(three / "t10k-labels-idx1-ubyte", np.arange(4))
    d = load_dataset("fashion_mnist", data_dir=str(three.parent), download=False)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (2, 1, 4)
    for n_train, labels, message in ((1, [3], "1 training and 4 test images; a study needs at least 2"),
                                     (6, [0, 1, 2, 12, 4, 5], "a label is 12, not a class 0-9")):
        folder = tmp_path / str(n_train) / "fashion-mnist"
        folder.mkdir(parents=True)
        _write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
        _write_idx(folder / "train-labels-idx1-ubyte", np.array(labels))
        _write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 28, 28)))
        _write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(4))
        with pytest.raises(StudyError, match=message):
            load_dataset("fashion_mnist", data_dir=str(folder.parent), download=False)
    folder = tmp_path / "cifar"
    folder.mkdir()
    d, batches = make_cifar_archive(folder, extract=True)
    (d / "test_batch").write_bytes(pickle.dumps({**batches["test_batch"], b"labels": [0, 1, 2, 3, 4, -1]}))
    with pytest.raises(StudyError, match="cifar10 at .*: a label is -1, not a class 0-9"):
        load_dataset("cifar10", data_dir=str(folder), download=False)


def test_fashion_mnist_from_local_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    _write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (60, 28, 28)))
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(60) % 10)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(12) % 10)
    d = load_dataset("fashion_mnist", data_dir=str(tmp_path), download=False)
    assert d.input_shape == (28, 28, 1) and len(d.y_train) == 50 and len(d.y_val) == 10 and len(d.y_test) == 12
    assert d.source == str(folder)
    # the test labels given as the training labels (a copying slip): refused, not trained on wrong labels
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    (mixed / "train-labels-idx1-ubyte.gz").write_bytes((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(StudyError, match=r"^Fashion-MNIST train files in .* do not match: train-images-idx3-ubyte.gz "
                                         r"holds 60 images of 28x28, train-labels-idx1-ubyte.gz 12 labels"):
        load_dataset("fashion_mnist", data_dir=str(mixed), download=False)


def test_real_fashion_mnist_from_debian_package(tmp_path, capsys):
    d = load_dataset("fashion_mnist", train_size=1000, val_size=200, test_size=200, download=False)
    assert d.source == "/usr/share/datasets/fashion-mnist"
    assert capsys.readouterr().err == ""  # the default data/ holds none: Debian's copy, as documented
    load_dataset("fashion_mnist", data_dir=str(tmp_path), train_size=1000, val_size=200, test_size=200, download=False)
    assert capsys.readouterr().err == (f"studylib: note: no Fashion-MNIST in {tmp_path}; using Debian's copy in "
                                       "/usr/share/datasets/fashion-mnist\n")
    assert d.input_shape == (28, 28, 1) and d.n_classes == 10
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1000, 200, 200)
    assert len(np.unique(d.y_train)) == 10  # a random subset, not one class


def test_the_fashion_mnist_note_is_said_once_per_folder_also_across_processes(tmp_path, capsys, monkeypatch):
    """A study's trial processes load the data again: they inherit that the note was said."""
    import subprocess
    import sys

    from studylib.data import NOTED_ENV

    monkeypatch.delenv(NOTED_ENV, raising=False)
    load_dataset("fashion_mnist", data_dir=str(tmp_path), train_size=100, val_size=20, test_size=20, download=False)
    assert capsys.readouterr().err.startswith(f"studylib: note: no Fashion-MNIST in {tmp_path}")
    code = (f"from studylib.data import load_dataset; load_dataset('fashion_mnist', data_dir={str(tmp_path)!r}, "
            "train_size=100, val_size=20, test_size=20, download=False)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_studylib_data_is_checked_as_data_dir_is_and_an_empty_variable_is_unset(tmp_path):
    import subprocess
    import sys

    def run(code, **env):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env}, cwd=tmp_path)
        return r.returncode, (r.stdout + r.stderr).strip()

    load = "from studylib.data import load_dataset; load_dataset('fashion_mnist', download=False)"
    rc, out = run(load, STUDYLIB_DATA=str(tmp_path / "nowhere"))
    assert rc != 0 and out.endswith(f"StudyError: data directory not found: STUDYLIB_DATA={tmp_path / 'nowhere'}")
    digits = "from studylib.data import load_dataset; print(load_dataset('digits').source)"
    assert run(digits, STUDYLIB_DATA=str(tmp_path / "nowhere")) == (0, "sklearn.datasets.load_digits")  # built in
    (tmp_path / "a-file").write_text("x")
    rc, out = run(load, STUDYLIB_DATA=str(tmp_path / "a-file"))
    assert out.endswith(f"data directory STUDYLIB_DATA={tmp_path / 'a-file'} is a file: give the folder that holds it")
    rc, out = run("from studylib import paths; print(paths.REPORTS_DIR == paths.REPO_ROOT / 'reports', "
                  "paths.DATA_DIR == paths.REPO_ROOT / 'data')", STUDYLIB_REPORTS="", STUDYLIB_DATA="")
    assert (rc, out) == (0, "True True")


def test_digits_is_loaded_once_and_reproducible():
    a = load_dataset("digits")
    assert load_dataset("digits") is a  # cached: trials never reload
    assert a.input_shape == (8, 8, 1) and a.n_classes == 10
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    b = load_dataset("digits", train_size=500)
    assert len(b.y_train) == 500 and b.fingerprint != a.fingerprint
    load_dataset.cache_clear()
    assert load_dataset("digits", train_size=500).fingerprint == b.fingerprint


def test_bad_dataset_arguments():
    with pytest.raises(StudyError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(StudyError, match="train_size must be a positive integer"):
        load_dataset("digits", train_size=0)
    with pytest.raises(StudyError, match="val_size must be a positive integer, got True"):  # not 1 image
        load_dataset("digits", val_size=True)
    import numpy as np

    assert load_dataset("digits", train_size=np.int64(50)).describe()["n_train"] == 50  # a notebook's number
    with pytest.raises(StudyError, match="data directory not found"):
        load_dataset("cifar10", data_dir="/nonexistent/dir")


def test_a_data_dir_that_is_a_file_or_an_incomplete_fashion_mnist_folder(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not really")
    with pytest.raises(StudyError, match="is a file: give the folder that holds it"):
        load_dataset("cifar10", data_dir=str(archive))
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"")
    # another complete copy (Debian's) is not used silently in its place
    with pytest.raises(StudyError, match=r"fashion-mnist is incomplete \(missing train-labels-idx1-ubyte, "
                                         r"t10k-labels-idx1-ubyte\)"):
        load_dataset("fashion_mnist", data_dir=str(tmp_path))


def test_a_failed_cifar_download_says_why(tmp_path, monkeypatch):
    import keras

    def offline():  # what Keras raises without a network (keras.utils.get_file wraps the URLError)
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz: None -- "
                        "[Errno -3] Temporary failure\n in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setattr(data, "offline", lambda dataset: None)  # the host answers; the download fails
    with pytest.raises(StudyError) as e:
        load_dataset("cifar10", data_dir=str(tmp_path))
    message = str(e.value)
    assert "Keras download failed: Exception: URL fetch failure on https://www.cs.toronto.edu/" in message
    assert "Temporary failure in name resolution" in message and "\n" not in message
    assert message.endswith(f"put cifar-10-python.tar.gz into {tmp_path}")  # the folder given, not data/


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
def test_without_a_network_a_missing_dataset_is_one_line_and_keras_prints_nothing(tmp_path, monkeypatch, capfd,
                                                                                  name):
    import socket

    def no_network(*args, **kwargs):
        raise OSError(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty Keras cache
    for proxy in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(proxy)
    monkeypatch.setattr(data.paths, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "none")
    capfd.readouterr()
    with pytest.raises(StudyError) as e:
        load_dataset(name, data_dir=str(tmp_path))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no "Downloading data from ..." before the error
    assert "no network: " in str(e.value) and "unreachable (Temporary failure in name resolution)" in str(e.value)
    assert "\n" not in str(e.value)
