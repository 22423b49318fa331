"""grader.datasets: the registry's loaders on files generated in the official formats, and
the spec-driven preparation (classes, split, preprocessing, shape, labels) against the
seeds' own code.

No test reads the user's caches or the network; the real SHA-256 stays in the registry,
and each test passes the hash of the file it generated with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from cifar_helpers import write_archive

from grader import data, datasets
from grader.child.dataset import load_split
from grader.dataspec import DataSpec
from grader.errors import DataError
from grader.evaluate import scores

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "env-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline(self: datasets.KerasFile) -> str:
        raise Exception("URL fetch failure: no network in tests")

    monkeypatch.setattr(datasets.KerasFile, "_download", offline)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- MNIST


def write_mnist(path: Path, train: int = 300, test: int = 50) -> dict[str, np.ndarray]:
    """An npz laid out as Keras' mnist.npz: x_* uint8 (N, 28, 28), y_* uint8 (N,)."""
    arrays = {
        "x_train": RNG.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": RNG.integers(0, 10, train, dtype=np.uint8),
        "x_test": RNG.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": RNG.integers(0, 10, test, dtype=np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_registry_keeps_the_keras_hashes() -> None:
    # keras/src/datasets/mnist.py and cifar10.py pass these as file_hash.
    mnist, cifar = datasets.get("mnist"), datasets.get("cifar10")
    assert isinstance(mnist, datasets.KerasFile) and isinstance(cifar, datasets.KerasFile)
    assert mnist.sha256 == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert cifar.sha256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert (mnist.file_name, cifar.file_name) == ("mnist.npz", "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match="unknown dataset 'svhn'"):
        datasets.get("svhn")


def test_mnist_loads_from_data_dir_and_checks_the_hash(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path / "d" / "mnist.npz")
    real = datasets.get("mnist")
    assert isinstance(real, datasets.KerasMnist)
    spec = DataSpec(dataset="mnist", split="last", validation_size=100, input_shape=(28, 28))

    with pytest.raises(DataError) as err:  # the generated file is not the real one
        datasets.prepare(spec, tmp_path / "d", tmp_path / "cache")
    assert str(tmp_path / "d" / "mnist.npz") in err.value.message
    assert "SHA-256" in err.value.message and real.sha256 in err.value.message
    assert "replace it with the original mnist.npz" in (err.value.hint or "")

    fake = dataclasses.replace(real, sha256=sha(tmp_path / "d" / "mnist.npz"))
    cache = datasets.prepare(spec, tmp_path / "d", tmp_path / "cache", dataset=fake)
    assert cache == tmp_path / "cache" / "mnist-v1"
    raw = datasets._load_raw(cache)
    for name, array in arrays.items():
        assert np.array_equal(getattr(raw, name), array)
    manifest = json.loads((cache / data.MANIFEST).read_text())
    assert manifest["source_id"] == fake.sha256 and manifest["origin"] == "argument"


def test_mnist_order_keras_cache_then_download(tmp_path: Path) -> None:
    real = datasets.get("mnist")
    assert isinstance(real, datasets.KerasFile)
    with pytest.raises(DataError) as err:
        real.locate(None)
    assert str(tmp_path / "keras-home" / "datasets" / "mnist.npz") in err.value.message
    assert "downloading it failed" in err.value.message
    assert "--data-dir" in (err.value.hint or "")

    cached = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    write_mnist(cached)
    assert real.locate(None) == (cached, "keras-cache")
    with pytest.raises(DataError, match="is not the original MNIST file") as err:
        datasets.prepare(DataSpec(dataset="mnist"), cache_dir=tmp_path / "cache")
    assert f"delete {cached} so keras downloads it again" in (err.value.hint or "")
    with pytest.raises(DataError, match="missing \\(folder given by --data-dir\\)"):
        real.locate(tmp_path / "empty")


def write_idx(folder: Path, arrays: dict[str, np.ndarray], *, gz: bool = False) -> None:
    """The four files as MNIST was first published: idx headers, big-endian sizes, uint8."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    for name, key in IDX_NAMES.items():
        array = arrays[key]
        header = bytes((0, 0, 0x08, array.ndim)) + np.array(array.shape, ">u4").tobytes()
        content = header + array.tobytes()
        path = folder / (f"{name}.gz" if gz else name)
        path.write_bytes(gzip.compress(content) if gz else content)


IDX_NAMES = {
    "train-images-idx3-ubyte": "x_train",
    "train-labels-idx1-ubyte": "y_train",
    "t10k-images-idx3-ubyte": "x_test",
    "t10k-labels-idx1-ubyte": "y_test",
}


def accepting_idx(arrays: dict[str, np.ndarray]) -> datasets.KerasMnist:
    """The registry's MNIST expecting the generated files' content and row counts."""
    real = datasets.get("mnist")
    assert isinstance(real, datasets.KerasMnist)
    files = []
    for spec in real.idx_files:
        array = arrays[IDX_NAMES[spec.name]]
        header = bytes((0, 0, 0x08, array.ndim)) + np.array(array.shape, ">u4").tobytes()
        digest = hashlib.sha256(header + array.tobytes()).hexdigest()
        files.append(dataclasses.replace(spec, count=len(array), sha256=digest))
    return dataclasses.replace(real, idx_files=tuple(files))


def test_mnist_as_first_published_loads_from_its_four_idx_files(tmp_path: Path) -> None:
    real = datasets.get("mnist")
    assert isinstance(real, datasets.KerasMnist)
    # The uncompressed originals' SHA-256, as public pins give them.
    assert [f.sha256[:12] for f in real.idx_files] == [
        "ba891046e650", "65a50cbbf4e9", "0fa7898d5092", "ff7bcfd416de"
    ]  # fmt: skip
    arrays = write_mnist(tmp_path / "npz" / "mnist.npz")
    spec = DataSpec(dataset="mnist", split="last", validation_size=100, input_shape=(28, 28))
    write_idx(tmp_path / "plain", arrays)
    with pytest.raises(DataError) as err:  # generated files are not the real ones
        datasets.prepare(spec, tmp_path / "plain", tmp_path / "cache")
    assert "train-images-idx3-ubyte is not the original MNIST file" in err.value.message
    assert real.idx_files[0].sha256 in err.value.message

    fake = accepting_idx(arrays)
    for folder, gz in (("plain", False), ("gz", True)):
        write_idx(tmp_path / folder, arrays, gz=gz)
        cache = datasets.prepare(spec, tmp_path / folder, tmp_path / f"c-{folder}", dataset=fake)
        assert cache == tmp_path / f"c-{folder}" / "mnist-idx-v1"
        raw = datasets._load_raw(cache)
        for name, array in arrays.items():  # the same arrays as the npz form
            assert np.array_equal(getattr(raw, name), array)
        manifest = json.loads((cache / data.MANIFEST).read_text())
        assert manifest["source_id"] == fake.idx_source_id() != fake.sha256
    names = sorted(p.name for p in fake.source_files(tmp_path / "gz"))
    assert names == sorted(f"{name}.gz" for name in IDX_NAMES)

    # mnist.npz beside them comes first; a folder with some of the four says which is missing.
    assert fake.idx_folder(tmp_path / "npz") is None
    (tmp_path / "plain" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte is missing.*not all four"):
        datasets.prepare(spec, tmp_path / "plain", tmp_path / "c-partial", dataset=fake)
    (tmp_path / "gz" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is not a valid gzip"):
        fake.read_idx(tmp_path / "gz")
    with pytest.raises(DataError) as err:
        real.locate(tmp_path / "empty")
    assert "the four original idx files" in (err.value.hint or "")


def test_mnist_with_a_wrong_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((3, 28, 27), np.uint8), y_train=np.zeros(3, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))  # fmt: skip
    fake = dataclasses.replace(datasets.get("mnist"), sha256=sha(path))
    with pytest.raises(DataError, match="expected \\(N, 28, 28\\) uint8"):
        datasets.prepare(DataSpec(dataset="mnist"), tmp_path, tmp_path / "c", dataset=fake)


# ---------------------------------------------------------------------------- CIFAR-10


def write_cifar(path: Path, per_batch: int = 40, test: int = 30, evil: bool = False) -> dict:
    """A tar.gz laid out as cifar-10-python.tar.gz: cifar-10-batches-py/<batches>."""
    train, xs, ys = [], [], []
    for _ in range(5):
        x = RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in RNG.integers(0, 10, per_batch)]
        xs.append(x)
        ys.extend(y)
        train.append((x, y))
    xt = RNG.integers(0, 256, (test, 3072), dtype=np.uint8)
    yt = [int(v) for v in RNG.integers(0, 10, test)]
    write_archive(path, train, (xt, yt), evil=evil)
    return {"x": np.concatenate(xs), "y": np.array(ys), "xt": xt, "yt": np.array(yt)}


def keras_layout(x: np.ndarray) -> np.ndarray:
    """keras.datasets.cifar10.load_data() with channels_last."""
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def test_cifar_loads_from_the_verified_archive(tmp_path: Path) -> None:
    made = write_cifar(tmp_path / "d" / "cifar-10-python.tar.gz")
    real = datasets.get("cifar10")
    spec = DataSpec(dataset="cifar10", input_shape=(32, 32, 3), validation_size=50)
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz is not the original CIFAR-10"):
        datasets.prepare(spec, tmp_path / "d", tmp_path / "cache")

    fake = dataclasses.replace(real, sha256=sha(tmp_path / "d" / "cifar-10-python.tar.gz"))
    cache = datasets.prepare(spec, tmp_path / "d", tmp_path / "cache", dataset=fake)
    raw = datasets._load_raw(cache)
    assert raw.x_train.shape == (200, 32, 32, 3) and raw.x_test.shape == (30, 32, 32, 3)
    assert np.array_equal(raw.x_train, keras_layout(made["x"]))
    assert np.array_equal(raw.y_train, made["y"])
    assert np.array_equal(raw.x_test, keras_layout(made["xt"]))
    assert np.array_equal(raw.y_test, made["yt"])


def test_cifar_archive_in_the_keras3_cache_name(tmp_path: Path) -> None:
    cached = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target_archive"
    write_cifar(cached)
    real = datasets.get("cifar10")
    assert isinstance(real, datasets.KerasFile)
    assert real.locate(None) == (cached, "keras-cache")


def test_source_files_are_verified_and_under_the_name_data_dir_needs(tmp_path: Path) -> None:
    """What a Gradescope package ships with --include-data (grader/autograder.py)."""
    npz = tmp_path / "d" / "mnist.npz"
    write_mnist(npz)
    with pytest.raises(DataError, match="is not the original MNIST file"):
        datasets.get("mnist").source_files(npz.parent)
    assert dataclasses.replace(datasets.get("mnist"), sha256=sha(npz)).source_files(npz.parent) == [
        npz
    ]
    cached = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target_archive"
    write_cifar(cached)
    cifar = dataclasses.replace(datasets.get("cifar10"), sha256=sha(cached))
    with pytest.raises(DataError, match=r"not under its official name cifar-10-python\.tar\.gz"):
        cifar.source_files(None)
    assert datasets.get("and-gate").source_files() == []
    assert [datasets.get(n).debian_package for n in ("fashion-mnist", "mnist", "cifar10")] == [
        "dataset-fashion-mnist",
        "",
        "",
    ]


def test_cifar_pickle_that_names_another_global_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar(path, evil=True)
    fake = dataclasses.replace(datasets.get("cifar10"), sha256=sha(path))
    with pytest.raises(DataError, match=r"test_batch is not a CIFAR-10 batch .*refused.*system"):
        datasets.prepare(DataSpec(dataset="cifar10"), tmp_path, tmp_path / "c", dataset=fake)


def test_cifar_cats_and_dogs_as_seed_002(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    made = write_cifar(archive, per_batch=200, test=100)
    fake = dataclasses.replace(datasets.get("cifar10"), sha256=sha(archive))
    spec = DataSpec(
        dataset="cifar10", classes=(3, 5), split="last", validation_size=20,
        input_shape=(32, 32, 3), labels="one_hot", num_classes=2,
    )  # fmt: skip
    cache = datasets.prepare(spec, tmp_path, tmp_path / "c", dataset=fake)
    folder = datasets.prepare_split(cache, spec)
    split = load_split(folder)
    test = datasets.load_test(cache, spec)

    # Seed 002, verbatim but for the shapes keras' load_data gives (y as (N, 1)).
    X_train, y_train = keras_layout(made["x"]), made["y"].reshape(-1, 1)
    X_test, y_test = keras_layout(made["xt"]), made["yt"].reshape(-1, 1)
    train_picks = np.ravel(np.logical_or(y_train == 3, y_train == 5))
    test_picks = np.ravel(np.logical_or(y_test == 3, y_test == 5))
    y_train = np.array(y_train[train_picks] == 5, dtype=int)
    y_test = np.array(y_test[test_picks] == 5, dtype=int)
    X_train = X_train[train_picks].astype("float32")
    X_test = X_test[test_picks].astype("float32")
    X_train /= 255
    X_test /= 255
    onehot = np.eye(2, dtype=np.float32)

    assert np.array_equal(np.concatenate([split.x_train, split.x_val]), X_train)
    assert np.array_equal(np.concatenate([split.y_train, split.y_val]), onehot[y_train.ravel()])
    assert split.x_val.shape[0] == 20 and split.x_train.dtype == np.float32
    assert np.array_equal(test.x_test, X_test)
    assert np.array_equal(test.y_test, onehot[y_test.ravel()])
    # The test set is prepared next to the split, never inside the child's folder.
    assert not list(folder.glob("*test*"))
    assert (cache / datasets.TESTS).is_dir()
    assert datasets.train_rows(folder) == len(X_train) - 20


# ---------------------------------------------------------------------------- preparation


def test_random_split_is_sklearns_train_test_split() -> None:
    from sklearn.model_selection import train_test_split

    x = RNG.integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    y = RNG.integers(0, 10, 1000, dtype=np.uint8)
    spec = DataSpec(split="random", validation_fraction=0.25, split_seed=1)
    got = datasets.split(x, y, spec)
    # Seed 001 passes no test_size: sklearn's default is the same 0.25.
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, random_state=1)
    for ours, theirs in zip(got, (x_train, y_train, x_valid, y_valid), strict=True):
        assert np.array_equal(ours, theirs)
    other = datasets.split(x, y, dataclasses.replace(spec, split_seed=2))
    assert not np.array_equal(other[0], got[0])


def seed_001_standardise(x_train, x_valid, x_test):  # type: ignore[no-untyped-def]
    """Seed 001's preprocessing, verbatim."""
    pixel_means = x_train.mean(axis=0, keepdims=True)
    pixel_stds = x_train.std(axis=0, keepdims=True)
    x_train_scaled = (x_train - pixel_means) / pixel_stds
    x_valid_scaled = (x_valid - pixel_means) / pixel_stds
    x_test_scaled = (x_test - pixel_means) / pixel_stds
    return x_train_scaled, x_valid_scaled, x_test_scaled


def test_standardise_equals_the_seeds_numpy_code() -> None:
    x = RNG.integers(0, 256, (3, 400, 28, 28), dtype=np.uint8)
    x[0, :, 0, 0] = 7  # a pixel constant in the training part: std 0
    x[2, 0, 0, 0] = 9  # ... that differs in the test part: (9 - 7) / 0 = inf
    spec = DataSpec(preprocessing="standardize", input_shape=(784,))
    train, (valid, test) = datasets.preprocess(x[0], [x[1], x[2]], spec)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = seed_001_standardise(x[0], x[1], x[2])
    for ours, theirs in zip((train, valid, test), expected, strict=True):
        assert ours.dtype == np.float32 and ours.shape[1:] == (784,)
        # Keras casts the seed's float64 to float32 when it trains: the same numbers.
        assert np.array_equal(ours, theirs.reshape(len(theirs), 784).astype(np.float32),
                              equal_nan=True)  # fmt: skip
    assert np.isnan(train[:, 0]).all() and np.isinf(test[0, 0])

    safe, (safe_test,) = datasets.preprocess(
        x[0], [x[2]], dataclasses.replace(spec, zero_std="one")
    )
    assert np.isfinite(safe).all() and (safe[:, 0] == 0).all() and safe_test[0, 0] == 2.0


def test_scale_none_and_image_shapes() -> None:
    x = RNG.integers(0, 256, (5, 784), dtype=np.uint8)
    scaled, _ = datasets.preprocess(x, [], DataSpec(input_shape=(28, 28, 1)))
    assert scaled.shape == (5, 28, 28, 1) and scaled.dtype == np.float32
    assert np.array_equal(scaled.reshape(5, 784), x.astype("float32") / 255.0)
    raw, _ = datasets.preprocess(x, [], DataSpec(preprocessing="none"))
    assert np.array_equal(raw, x.astype(np.float32))


def test_relabelling_keeps_order_and_maps_classes_to_positions() -> None:
    x = np.arange(8)
    y = np.array([5, 3, 1, 5, 9, 3, 3, 0], dtype=np.uint8)
    kept_x, kept_y = datasets.select_classes(x, y, (5, 3))
    assert kept_x.tolist() == [0, 1, 3, 5, 6] and kept_y.tolist() == [0, 1, 0, 1, 1]
    assert datasets.select_classes(x, y, ())[1] is y


def test_label_encodings() -> None:
    y = np.array([0, 2, 1], dtype=np.uint8)
    one_hot = datasets.encode_labels(y, DataSpec(num_classes=3))
    assert one_hot.dtype == np.float32 and one_hot.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    integer = datasets.encode_labels(y, DataSpec(labels="integer", num_classes=3))
    assert integer.dtype == np.int64 and integer.tolist() == [0, 2, 1]
    binary = datasets.encode_labels(y[:2] // 2, DataSpec(labels="binary", num_classes=2))
    assert binary.dtype == np.float32 and binary.tolist() == [0.0, 1.0]


def test_and_gate_is_the_table_in_code_trained_and_tested_on_its_8_rows(tmp_path: Path) -> None:
    spec = DataSpec(
        dataset="and-gate", split="same", preprocessing="none", input_shape=(3,),
        labels="binary", num_classes=2,
    )  # fmt: skip
    cache = datasets.prepare(spec, cache_dir=tmp_path)
    split = load_split(datasets.prepare_split(cache, spec))
    rows = [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]]
    assert split.x_train.tolist() == rows and split.x_val.tolist() == rows  # seed 003's X
    assert split.y_train.tolist() == [0, 0, 0, 0, 0, 0, 0, 1] == split.y_val.tolist()
    test = datasets.load_test(cache, spec)
    assert test.x_test.tolist() == rows and test.labels == "binary"
    # Seed 003's y, which its text calls AND, is the OR of the three inputs.
    or_spec = dataclasses.replace(spec, dataset="or-gate")
    or_split = load_split(
        datasets.prepare_split(datasets.prepare(or_spec, cache_dir=tmp_path), or_spec)
    )
    assert or_split.y_train.tolist() == [0, 1, 1, 1, 1, 1, 1, 1]


def test_the_exam_split_goes_through_the_old_code_and_folder(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    monkeypatch.setattr(data, "prepare_split", lambda cache, **kw: calls.append(kw) or tmp_path)
    assert datasets.prepare_split(tmp_path, DataSpec()) == tmp_path
    assert calls == [{"validation_size": 10000, "num_classes": 10}]
    assert DataSpec().is_legacy and not DataSpec(labels="integer").is_legacy


def test_every_array_changing_field_changes_the_split_key() -> None:
    base = DataSpec(dataset="mnist", input_shape=(28, 28))
    variants = [
        dataclasses.replace(base, dataset="fashion-mnist"),
        dataclasses.replace(base, classes=(3, 5), num_classes=2),
        dataclasses.replace(base, split="random", validation_fraction=0.25, split_seed=1),
        dataclasses.replace(base, validation_size=5000),
        dataclasses.replace(base, preprocessing="standardize"),
        dataclasses.replace(base, preprocessing="standardize", zero_std="one"),
        dataclasses.replace(base, input_shape=(28, 28, 1)),
        dataclasses.replace(base, labels="integer"),
        dataclasses.replace(base, num_classes=11),
    ]
    keys = {datasets._key(v) for v in [base, *variants]}
    assert len(keys) == len(variants) + 1
    assert datasets._key(dataclasses.replace(base, seed=1)) == datasets._key(base)


# ---------------------------------------------------------------------------- scores


def test_scores_for_integer_and_binary_labels() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]], dtype=np.float32)
    onehot = np.eye(3, dtype=np.float32)[[0, 2, 0]]
    acc, loss = scores(p, onehot)
    acc_int, loss_int = scores(p, np.array([0, 2, 0]), labels="integer", num_classes=3)
    assert acc == acc_int == pytest.approx(2 / 3) and loss == pytest.approx(loss_int)
    assert loss_int == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.3])), rel=1e-5)

    sig = np.array([[0.9], [0.2], [0.5], [0.6]], dtype=np.float32)
    truth = np.array([1, 0, 1, 0], dtype=np.float32)
    acc_bin, loss_bin = scores(sig, truth, labels="binary")
    assert acc_bin == 0.5  # 0.5 is not > 0.5: Keras' binary_accuracy says 0
    expected = -np.mean(np.log([0.9, 0.8, 0.5, 0.4]))
    assert loss_bin == pytest.approx(expected, rel=1e-5)
    from grader.errors import SubmissionError

    with pytest.raises(SubmissionError, match="\\(1,\\)"):
        scores(np.zeros((4, 2), np.float32), truth, labels="binary")
