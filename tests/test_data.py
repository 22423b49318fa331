"""grader.data: locating, verifying, caching and splitting Fashion-MNIST.

Uses the real files of the Debian package (dataset-fashion-mnist); every cache lives in a
pytest tmp folder, never in the user's real cache.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import data
from grader.errors import DataError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = data.FILE_NAMES

needs_debian = pytest.mark.skipif(
    not all((DEBIAN / n).is_file() for n in data.FILE_NAMES),
    reason="needs the Debian package dataset-fashion-mnist",
)
pytestmark = needs_debian


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's env, caches or the network."""
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "env-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline() -> Path:
        raise Exception("URL fetch failure: no network in tests")

    monkeypatch.setattr(data, "_download", offline)


def linked_copy(target: Path, *, skip: tuple[str, ...] = (), copy: tuple[str, ...] = ()) -> Path:
    """A folder with the Debian files: symlinked, or copied when a test will modify them."""
    target.mkdir(parents=True, exist_ok=True)
    for name in data.FILE_NAMES:
        if name in skip:
            continue
        if name in copy:
            shutil.copyfile(DEBIAN / name, target / name)
        else:
            (target / name).symlink_to(DEBIAN / name)
    return target


def exam_arrays(name: str) -> np.ndarray:
    """Decode a file directly, as keras' load_data() does, independently of grader.data."""
    with gzip.open(DEBIAN / name, "rb") as fh:
        content = fh.read()
    if "labels" in name:
        return np.frombuffer(content, np.uint8, offset=8)
    return np.frombuffer(content, np.uint8, offset=16).reshape(-1, 784)


@pytest.fixture(scope="module")
def split(fashion_cache: Path) -> data.TrainVal:
    return data.load_train_val(fashion_cache)


# ---------------------------------------------------------------------------- verify


def test_debian_files_match_the_known_checksums() -> None:
    sums = data.checksums(DEBIAN)
    assert sums == {f.name: f.gz_sha256 for f in data.FILES}
    data.verify(data.DataSource(DEBIAN, "debian"))


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    folder = linked_copy(tmp_path / "d", copy=(TRAIN_LABELS,))
    raw = bytearray((folder / TRAIN_LABELS).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / TRAIN_LABELS).write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt") as err:
        data.verify(data.DataSource(folder, "argument"))
    assert str(folder / TRAIN_LABELS) in err.value.message
    with pytest.raises(DataError, match=TRAIN_LABELS):
        data.prepare(data_dir=folder, cache_dir=tmp_path / "cache")


def test_recompressed_copy_is_accepted_but_changed_content_is_not(tmp_path: Path) -> None:
    folder = linked_copy(tmp_path / "d", skip=(TEST_LABELS,))
    content = gzip.decompress((DEBIAN / TEST_LABELS).read_bytes())
    (folder / TEST_LABELS).write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    assert data.checksums(folder)[TEST_LABELS] != data.FILES[3].gz_sha256
    data.verify(data.DataSource(folder, "keras-cache"))

    changed = content[:-1] + bytes([(content[-1] + 1) % 10])
    (folder / TEST_LABELS).write_bytes(gzip.compress(changed, mtime=0))
    with pytest.raises(DataError, match="SHA-256") as err:
        data.verify(data.DataSource(folder, "keras-cache"))
    assert TEST_LABELS in err.value.message
    assert "keras downloads it again" in (err.value.hint or "")


def test_missing_file_is_named_with_the_fix(tmp_path: Path) -> None:
    folder = linked_copy(tmp_path / "d", skip=(TEST_IMAGES,))
    with pytest.raises(DataError) as err:
        data.locate(folder)
    text = err.value.format()
    assert str(folder / TEST_IMAGES) in text
    assert "--data-dir" in text
    assert "apt-get install dataset-fashion-mnist" in text


def test_explicit_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        data.locate(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- locate


def test_argument_wins_over_env_and_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg = linked_copy(tmp_path / "arg")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(linked_copy(tmp_path / "env")))
    assert data.locate(arg) == data.DataSource(arg, "argument")


def test_env_var_wins_over_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = linked_copy(tmp_path / "env")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env))
    assert data.locate() == data.DataSource(env, data.ENV_DATA_DIR)


def test_wrong_env_var_fails_instead_of_falling_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = linked_copy(tmp_path / "env", skip=(TRAIN_IMAGES,))
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env))
    with pytest.raises(DataError, match=TRAIN_IMAGES) as err:
        data.locate()
    assert data.ENV_DATA_DIR in err.value.format()


def test_debian_then_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.locate() == data.DataSource(data.DEBIAN_DIR, "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    keras_dir = linked_copy(tmp_path / "keras-home" / "datasets" / "fashion-mnist")
    assert data.keras_cache_dir() == keras_dir
    assert data.locate() == data.DataSource(keras_dir, "keras-cache")


def test_download_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    downloaded = tmp_path / "downloaded"
    monkeypatch.setattr(data, "_download", lambda: linked_copy(downloaded))
    assert data.locate() == data.DataSource(downloaded, "download")


def test_no_data_and_no_network_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(DataError) as err:
        data.locate()
    text = err.value.format()
    assert str(tmp_path / "no-debian") in text
    assert str(data.keras_cache_dir()) in text
    assert "downloading it failed" in text
    assert "apt-get install dataset-fashion-mnist" in text and "--data-dir" in text


def test_cache_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.cache_root() == tmp_path / "env-cache"
    monkeypatch.delenv(data.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_root() == tmp_path / "xdg" / "grader"


# ---------------------------------------------------------------------------- cache


def test_cache_layout_keeps_the_test_set_out_of_trainval(fashion_cache: Path) -> None:
    assert fashion_cache.name == data.CACHE_NAME
    assert sorted(p.name for p in (fashion_cache / "trainval").iterdir()) == [
        "images.npy",
        "labels.npy",
    ]
    assert sorted(p.name for p in (fashion_cache / "test").iterdir()) == [
        "images.npy",
        "labels.npy",
    ]
    manifest = json.loads((fashion_cache / data.MANIFEST).read_text())
    assert manifest["format"] == data.CACHE_FORMAT
    assert manifest["sources"][TRAIN_IMAGES]["gz_sha256"] == data.FILES[0].gz_sha256
    assert manifest["files"]["trainval/images.npy"]["shape"] == [60000, 784]


def test_second_prepare_does_not_decode_again(
    fashion_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / data.CACHE_NAME
    shutil.copytree(fashion_cache, copy)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the .gz files were read again")

    monkeypatch.setattr(data, "locate", must_not_run)
    monkeypatch.setattr(data, "_read_verified", must_not_run)
    monkeypatch.setattr(gzip, "decompress", must_not_run)
    assert data.prepare(cache_dir=tmp_path) == copy


@pytest.mark.parametrize("damage", ["truncate_images", "garbage_manifest", "no_manifest"])
def test_damaged_cache_is_rebuilt(
    damage: str, fashion_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / data.CACHE_NAME
    shutil.copytree(fashion_cache, copy)
    if damage == "truncate_images":
        images = copy / "trainval" / "images.npy"
        images.write_bytes(images.read_bytes()[:1000])
    elif damage == "garbage_manifest":
        (copy / data.MANIFEST).write_text("{not json")
    else:
        (copy / data.MANIFEST).unlink()

    builds: list[data.DataSource] = []
    real_build = data._build
    monkeypatch.setattr(data, "_build", lambda s, c: (builds.append(s), real_build(s, c)))
    assert data.prepare(data_dir=DEBIAN, cache_dir=tmp_path) == copy
    assert len(builds) == 1
    assert data.load_test(copy).x_test.shape == (10000, 784)
    assert not list(copy.rglob("*.tmp"))


# ---------------------------------------------------------------------------- split


def test_split_shapes_dtypes_and_ranges(split: data.TrainVal, fashion_cache: Path) -> None:
    test = data.load_test(fashion_cache)
    assert split.x_train.shape == (50000, 784) and split.y_train.shape == (50000, 10)
    assert split.x_val.shape == (10000, 784) and split.y_val.shape == (10000, 10)
    assert test.x_test.shape == (10000, 784) and test.y_test.shape == (10000, 10)
    for x in (split.x_train, split.x_val, test.x_test):
        assert x.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0
    for y in (split.y_train, split.y_val, test.y_test):
        assert y.dtype == np.float32
        assert np.array_equal(y.sum(axis=1), np.ones(len(y), dtype=np.float32))
        assert set(np.unique(y)) == {0.0, 1.0}


def test_split_equals_the_exam_code(split: data.TrainVal, fashion_cache: Path) -> None:
    # The exam: reshape(-1, 784).astype("float32") / 255.0, then [:-10000] / [-10000:].
    x_train_val = exam_arrays(TRAIN_IMAGES).astype("float32") / 255.0
    y_train_val = np.eye(10, dtype=np.float32)[exam_arrays(TRAIN_LABELS)]
    assert np.array_equal(split.x_val, x_train_val[-10000:])
    assert np.array_equal(split.y_val, y_train_val[-10000:])
    rows = [0, 1, 12345, 49999]
    assert np.array_equal(split.x_train[rows], x_train_val[:-10000][rows])
    assert np.array_equal(split.y_train, y_train_val[:-10000])
    test = data.load_test(fashion_cache)
    assert np.array_equal(
        test.x_test[[0, 9999]], exam_arrays(TEST_IMAGES)[[0, 9999]].astype("float32") / 255.0
    )
    assert np.array_equal(test.y_test.argmax(axis=1), exam_arrays(TEST_LABELS))


def test_subset_keeps_the_first_rows_of_train_and_validation(
    split: data.TrainVal, fashion_cache: Path
) -> None:
    small = data.load_train_val(fashion_cache, subset=100)
    assert small.x_train.shape == (100, 784) and small.x_val.shape == (100, 784)
    assert np.array_equal(small.x_train, split.x_train[:100])
    assert np.array_equal(small.x_val, split.x_val[:100])
    assert np.array_equal(small.y_val, split.y_val[:100])
    with pytest.raises(DataError, match="subset"):
        data.load_train_val(fashion_cache, subset=0)


def test_other_validation_size(split: data.TrainVal, fashion_cache: Path) -> None:
    other = data.load_train_val(fashion_cache, validation_size=5000)
    assert other.x_train.shape == (55000, 784) and other.x_val.shape == (5000, 784)
    assert np.array_equal(other.x_val, split.x_val[5000:])
    assert np.array_equal(other.x_train[50000:], split.x_val[:5000])
    with pytest.raises(DataError, match="validation_size"):
        data.load_train_val(fashion_cache, validation_size=60000)


def test_child_can_load_from_trainval_alone(
    split: data.TrainVal, fashion_cache: Path, tmp_path: Path
) -> None:
    alone = tmp_path / "given-to-child"
    shutil.copytree(data.trainval_dir(fashion_cache), alone)
    loaded = data.load_train_val(alone, subset=5)
    assert np.array_equal(loaded.x_val, split.x_val[:5])
    with pytest.raises(DataError, match="expected \\(10000, 784\\)"):
        data.load_test(alone)


def test_decode_rejects_a_wrong_header() -> None:
    spec = data.FILES[1]  # train labels
    content = gzip.decompress((DEBIAN / spec.name).read_bytes())
    with pytest.raises(DataError, match="not an idx file"):
        data.decode_idx(b"\x00\x00\x09\x01" + content[4:], spec, Path("x.gz"))
    with pytest.raises(DataError, match="expected"):
        data.decode_idx(content[:-1], spec, Path("x.gz"))
    assert data.decode_idx(content, spec, Path("x.gz")).shape == (60000,)


@pytest.mark.slow
def test_identical_to_keras_load_data(
    split: data.TrainVal, fashion_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exam's own code, run on the same files, gives bit-identical arrays."""
    keras_home = tmp_path / "keras-home"
    linked_copy(keras_home / "datasets" / "fashion-mnist")
    code = (
        "import keras, numpy as np, sys\n"
        "(x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()\n"
        "x = x.reshape(-1, 784).astype('float32') / 255.0\n"
        "y = keras.utils.to_categorical(y, 10)\n"
        "xt = xt.reshape(-1, 784).astype('float32') / 255.0\n"
        "np.savez(sys.argv[1], x_val=x[-10000:], x_train=x[:-10000], y=y, xt=xt)\n"
    )
    out = tmp_path / "exam.npz"
    env = {**os.environ, "KERAS_HOME": str(keras_home), "KERAS_BACKEND": "tensorflow"}
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, timeout=300)
    exam = np.load(out)
    assert np.array_equal(split.x_train, exam["x_train"])
    assert np.array_equal(split.x_val, exam["x_val"])
    assert np.array_equal(np.concatenate([split.y_train, split.y_val]), exam["y"])
    assert np.array_equal(data.load_test(fashion_cache).x_test, exam["xt"])
