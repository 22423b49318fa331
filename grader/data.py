"""Fashion-MNIST for the grader: find the original files, verify them, decode once, load fast.

The exam reads the data with `keras.datasets.fashion_mnist.load_data()`; the grader reads
the same four idx files, but never trusts them blindly: every file's SHA-256 is checked
against the known-good value before it is decoded, and the decoded arrays are kept in a
local cache so that later loads take milliseconds and never import TensorFlow.

Cache layout (`<cache root>/fashion-mnist-v1/`)::

    manifest.json          source hashes + format version; written last, so its presence
                           means the arrays next to it are complete
    trainval/images.npy    uint8 (60000, 784)   the training file: train + validation
    trainval/labels.npy    uint8 (60000,)
    test/images.npy        uint8 (10000, 784)   the t10k file
    test/labels.npy        uint8 (10000,)

The test set lives in its own folder so that the child process running student code can be
given `trainval/` alone (see docs/DESIGN.md: the child never sees the test set).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import DataError
from grader.files import atomic_write, file_sha256

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_DATA_DIR = "FASHION_MNIST_DIR"
ENV_CACHE = "GRADER_CACHE"
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_SUBDIR = os.path.join("datasets", "fashion-mnist")  # as keras.datasets.fashion_mnist

CACHE_FORMAT = 1
CACHE_NAME = f"fashion-mnist-v{CACHE_FORMAT}"
MANIFEST = "manifest.json"
TRAINVAL = "trainval"
TEST = "test"
IMAGES = "images.npy"
LABELS = "labels.npy"

IMAGE_SIDE = 28
INPUT_DIM = IMAGE_SIDE * IMAGE_SIDE
NUM_LABELS = 10  # the dataset's classes; `num_classes` below may only ask for >= this

INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist`, or pass --data-dir DIR"


@dataclass(frozen=True)
class IdxFile:
    """One of the four original files and what it must contain."""

    name: str
    split: str  # the cache subfolder it is decoded into
    kind: str  # "images" or "labels"
    count: int
    gz_sha256: str  # the original Zalando .gz (also what Debian ships)
    sha256: str  # the decompressed content: accepts copies recompressed differently


FILES: tuple[IdxFile, ...] = (
    IdxFile(
        "train-images-idx3-ubyte.gz",
        TRAINVAL,
        "images",
        60000,
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    IdxFile(
        "train-labels-idx1-ubyte.gz",
        TRAINVAL,
        "labels",
        60000,
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    IdxFile(
        "t10k-images-idx3-ubyte.gz",
        TEST,
        "images",
        10000,
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        TEST,
        "labels",
        10000,
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
)
FILE_NAMES = tuple(f.name for f in FILES)


@dataclass(frozen=True)
class DataSource:
    """Where the four .gz files were found.

    origin: "argument", "FASHION_MNIST_DIR", "debian", "keras-cache" or "download".
    """

    directory: Path
    origin: str

    def path(self, name: str) -> Path:
        return self.directory / name


@dataclass(frozen=True)
class TrainVal:
    """The exam's training and validation sets: float32 pixels in [0, 1], one-hot labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class TestSet:
    """The test images prepared as the assignment prepares training (the exam: t10k, one-hot).

    `labels` says how y_test encodes the truth (grader/dataspec.py LABELS), so the
    evaluator scores one-hot rows, class indices or 0/1 for a single sigmoid unit.
    """

    x_test: np.ndarray
    y_test: np.ndarray
    labels: str = "one_hot"
    num_classes: int = NUM_LABELS


# ---------------------------------------------------------------------------- locate


def keras_cache_dir() -> Path:
    """Where keras keeps Fashion-MNIST: `$KERAS_HOME/datasets/fashion-mnist` (~/.keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(home).expanduser() / KERAS_SUBDIR


def _missing(directory: Path) -> list[str]:
    return [name for name in FILE_NAMES if not (directory / name).is_file()]


def locate(data_dir: Path | None = None) -> DataSource:
    """Find a folder holding the four Fashion-MNIST .gz files.

    Order: `data_dir` (the CLI's --data-dir), then env FASHION_MNIST_DIR, then the Debian
    package, then the Keras cache, then a download by keras into its cache. An explicit
    folder that lacks a file is an error, never a silent fall-back to another copy.
    """
    explicit = _explicit_dir(data_dir)
    if explicit is not None:
        directory, origin, flag = explicit
        if not directory.is_dir():
            raise DataError(
                f"{directory} (given by {flag}) is not a folder",
                hint=f"point {flag} at the folder holding {', '.join(FILE_NAMES)}",
            )
        missing = _missing(directory)
        if missing:
            raise DataError(
                f"{directory / missing[0]} is missing (folder given by {flag})",
                hint=f"put the four files {', '.join(FILE_NAMES)} in {directory}, "
                f"or drop {flag} to use the Debian package (apt-get install dataset-fashion-mnist)",
            )
        return DataSource(directory, origin)

    looked: list[str] = []
    for directory, origin in ((DEBIAN_DIR, "debian"), (keras_cache_dir(), "keras-cache")):
        missing = _missing(directory)
        if not missing:
            return DataSource(directory, origin)
        looked.append(f"{directory} (missing {', '.join(missing)})")

    try:
        directory = _download()
    except Exception as exc:  # keras raises bare Exception on URL failures
        raise DataError(
            "Fashion-MNIST not found in "
            + "; ".join(looked)
            + f", and downloading it failed: {exc}",
            hint=INSTALL_HINT,
        ) from exc
    missing = _missing(directory)
    if missing:
        raise DataError(
            f"keras downloaded Fashion-MNIST but {directory / missing[0]} is missing",
            hint=INSTALL_HINT,
        )
    return DataSource(directory, "download")


def _explicit_dir(data_dir: Path | None) -> tuple[Path, str, str] | None:
    """(folder, origin, how the user named it) when the user chose the folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "argument", "--data-dir"
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser(), ENV_DATA_DIR, f"${ENV_DATA_DIR}"
    return None


def _download() -> Path:
    """Let keras download the files into its cache, as the exam's load_data() would."""
    # Imported here: it pulls in TensorFlow, which the common path never needs.
    from keras.utils import get_file

    paths = [
        get_file(name, origin=KERAS_ORIGIN + name, cache_subdir=KERAS_SUBDIR) for name in FILE_NAMES
    ]
    return Path(paths[0]).parent


# ---------------------------------------------------------------------------- verify


def checksums(directory: Path, names: Iterable[str] = FILE_NAMES) -> dict[str, str]:
    """SHA-256 of each named file present in `directory` (absent ones are left out)."""
    return {n: file_sha256(directory / n) for n in names if (directory / n).is_file()}


def _fix_hint(source: DataSource, name: str) -> str:
    if source.origin == "debian":
        return "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"
    if source.origin in ("keras-cache", "download"):
        return f"delete {source.path(name)} so keras downloads it again, or pass --data-dir DIR"
    return f"replace it with the original file from Zalando's Fashion-MNIST, or {INSTALL_HINT}"


def _read_verified(source: DataSource, spec: IdxFile) -> bytes:
    """The decompressed content of one file, after checking it is the known-good one."""
    path = source.path(spec.name)
    if not path.is_file():
        raise DataError(f"{path} is missing", hint=_fix_hint(source, spec.name))
    raw = path.read_bytes()
    gz_ok = hashlib.sha256(raw).hexdigest() == spec.gz_sha256
    try:
        content = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is corrupt: not a valid gzip file ({exc})", hint=_fix_hint(source, spec.name)
        ) from exc
    # A recompressed copy has other .gz bytes but the same content: that is fine.
    if not gz_ok and hashlib.sha256(content).hexdigest() != spec.sha256:
        raise DataError(
            f"{path} is corrupt: its SHA-256 does not match the original Fashion-MNIST file",
            hint=_fix_hint(source, spec.name),
        )
    return content


def verify(source: DataSource) -> None:
    """Check that every file is present and is the original; DataError names the bad one."""
    for spec in FILES:
        path = source.path(spec.name)
        if not path.is_file():
            raise DataError(f"{path} is missing", hint=_fix_hint(source, spec.name))
        if file_sha256(path) != spec.gz_sha256:
            _read_verified(source, spec)  # slower: accepts a recompressed copy, else raises


# ---------------------------------------------------------------------------- decode


def decode_idx(content: bytes, spec: IdxFile, origin: Path) -> np.ndarray:
    """Parse one decompressed idx file into uint8 (count, 784) images or (count,) labels."""
    ndim = 3 if spec.kind == "images" else 1
    header = 4 + 4 * ndim
    # idx magic: two zero bytes, the type code (0x08 = unsigned byte), the number of dims.
    if len(content) < header or content[:4] != bytes((0, 0, 0x08, ndim)):
        raise DataError(f"{origin} is not an idx file of unsigned bytes with {ndim} dimension(s)")
    dims = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    expected = (spec.count, IMAGE_SIDE, IMAGE_SIDE) if ndim == 3 else (spec.count,)
    if dims != expected or len(content) != header + int(np.prod(dims)):
        raise DataError(f"{origin} has shape {dims} and {len(content)} bytes; expected {expected}")
    array = np.frombuffer(content, dtype=np.uint8, offset=header)
    if spec.kind == "labels" and int(array.max()) >= NUM_LABELS:
        raise DataError(f"{origin} has a label {int(array.max())}; Fashion-MNIST labels are 0..9")
    return array.reshape(spec.count, INPUT_DIM) if ndim == 3 else array


# ---------------------------------------------------------------------------- cache


def cache_root(cache_dir: Path | None = None) -> Path:
    """The grader's cache: `cache_dir`, else $GRADER_CACHE, else $XDG_CACHE_HOME/grader."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "grader"


def trainval_dir(cache: Path) -> Path:
    """The folder a child process gets: the training file only, no test set."""
    return Path(cache) / TRAINVAL


def prepare(data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Make sure the decoded cache exists and is valid; return its folder.

    Fast path: the manifest and the array headers are checked, nothing is decompressed.
    Otherwise the files are located, verified and decoded once, replacing any partial or
    stale cache.
    """
    cache = cache_root(cache_dir) / CACHE_NAME
    if _cache_is_valid(cache):
        return cache
    source = locate(data_dir)
    _build(source, cache)
    return cache


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for spec in FILES:
        name = IMAGES if spec.kind == "images" else LABELS
        shape = (spec.count, INPUT_DIM) if spec.kind == "images" else (spec.count,)
        shapes[f"{spec.split}/{name}"] = shape
    return shapes


def _cache_is_valid(cache: Path) -> bool:
    try:
        manifest = json.loads((cache / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != CACHE_FORMAT:
            return False
        sources = manifest.get("sources", {})
        if any(sources.get(f.name, {}).get("sha256") != f.sha256 for f in FILES):
            return False
        for relpath, shape in _expected_shapes().items():
            path = cache / relpath
            if path.stat().st_size != manifest["files"][relpath]["bytes"]:
                return False
            # mmap reads only the header: a cheap check of shape and dtype.
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.shape != shape or array.dtype != np.uint8:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False  # absent, partial or foreign: rebuild rather than trust it
    return True


def _build(source: DataSource, cache: Path) -> None:
    # The manifest goes first and comes back last: a crash midway leaves no valid cache.
    with contextlib.suppress(FileNotFoundError):
        (cache / MANIFEST).unlink()
    sources: dict[str, dict[str, str]] = {}
    files: dict[str, dict[str, object]] = {}
    for spec in FILES:
        content = _read_verified(source, spec)
        array = decode_idx(content, spec, source.path(spec.name))
        relpath = f"{spec.split}/{IMAGES if spec.kind == 'images' else LABELS}"
        target = cache / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda fh, a=array: np.save(fh, a, allow_pickle=False))
        files[relpath] = {
            "shape": list(array.shape),
            "dtype": "uint8",
            "bytes": target.stat().st_size,
        }
        sources[spec.name] = {"sha256": spec.sha256, "gz_sha256": spec.gz_sha256}
    manifest = {
        "format": CACHE_FORMAT,
        "dataset": "fashion-mnist",
        "source": {"directory": str(source.directory), "origin": source.origin},
        "sources": sources,
        "files": files,
    }
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(cache / MANIFEST, lambda fh: fh.write(text.encode("utf-8")))


# ---------------------------------------------------------------------------- split

SPLITS = "splits"
SPLIT_FORMAT = 1
SPLIT_NAMES = ("x_train", "y_train", "x_val", "y_val")


def prepare_split(cache: Path, *, validation_size: int, num_classes: int) -> Path:
    """The folder of the four arrays a child trains on: the exam's split, preprocessed.

    Built once from the verified decoded cache (`load_train_val`: the last
    `validation_size` images are the validation set, pixels float32 / 255, one-hot
    labels) and reused while its marker says it is complete; written file by file with
    atomic renames and the marker last, so two processes preparing it at once cannot
    leave a half-written split that looks complete. The child gets only this folder.
    """
    key = f"v{SPLIT_FORMAT}-last{validation_size}-scale255-onehot{num_classes}"
    folder = Path(cache) / SPLITS / key
    marker = folder / "complete.json"
    if marker.is_file() and all((folder / f"{n}.npy").is_file() for n in SPLIT_NAMES):
        return folder
    split = load_train_val(cache, validation_size=validation_size, num_classes=num_classes)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SPLIT_NAMES:
        array = getattr(split, name)
        atomic_write(folder / f"{name}.npy", lambda fh, a=array: np.save(fh, a, allow_pickle=False))
    shapes = {name: list(getattr(split, name).shape) for name in SPLIT_NAMES}
    text = json.dumps({"format": SPLIT_FORMAT, "shapes": shapes}) + "\n"
    atomic_write(marker, lambda fh: fh.write(text.encode("utf-8")))
    return folder


# ---------------------------------------------------------------------------- load


def _split_dir(path: Path, split: str) -> Path:
    """Accept the cache folder or the split's own folder (all a child process gets)."""
    path = Path(path)
    return path / split if (path / split / IMAGES).is_file() else path


def _load_pair(folder: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        images = np.load(folder / IMAGES, allow_pickle=False)
        labels = np.load(folder / LABELS, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read the decoded Fashion-MNIST in {folder}: {exc}",
            hint="run the grader again so it rebuilds its cache (or delete the folder)",
        ) from exc
    if images.shape != (count, INPUT_DIM) or labels.shape != (count,) or images.dtype != np.uint8:
        raise DataError(
            f"the decoded Fashion-MNIST in {folder} has images {images.shape} {images.dtype} "
            f"and labels {labels.shape}; expected ({count}, {INPUT_DIM}) uint8 and ({count},)",
            hint="delete the folder so the grader rebuilds it",
        )
    return images, labels


def _pixels(images: np.ndarray) -> np.ndarray:
    # The exam's astype("float32") / 255.0 is a float32 division (NumPy 2 keeps the array's
    # dtype for a Python float), so dividing in place gives the same bits with one copy less.
    pixels = images.astype(np.float32)
    pixels /= 255.0
    return pixels


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot float32 labels: the values of keras.utils.to_categorical.

    keras returns float64, but Model.fit/evaluate cast it to float32, so training sees the
    same numbers; float32 here keeps TensorFlow out of the parent process.
    """
    if num_classes < NUM_LABELS:
        raise DataError(f"num_classes is {num_classes}; Fashion-MNIST has {NUM_LABELS} classes")
    out = np.zeros((labels.shape[0], num_classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def load_train_val(
    cache: Path,
    *,
    validation_size: int = 10000,
    num_classes: int = 10,
    subset: int | None = None,
) -> TrainVal:
    """The exam's split of the training file: train first, validation the last `validation_size`.

    `cache` is the folder `prepare` returned or its `trainval/` subfolder. `subset` keeps
    only the first `subset` rows of train and of validation (quick runs, tests).
    """
    total = next(f.count for f in FILES if f.split == TRAINVAL)
    if not 0 < validation_size < total:
        raise DataError(
            f"validation_size is {validation_size}; it must be between 1 and {total - 1}"
        )
    if subset is not None and subset <= 0:
        raise DataError(f"subset is {subset}; it must be a positive number of images, or None")
    images, labels = _load_pair(_split_dir(cache, TRAINVAL), total)
    cut = total - validation_size
    keep = slice(None, subset)  # subset=None keeps everything
    return TrainVal(
        x_train=_pixels(images[:cut][keep]),
        y_train=one_hot(labels[:cut][keep], num_classes),
        x_val=_pixels(images[cut:][keep]),
        y_val=one_hot(labels[cut:][keep], num_classes),
    )


def load_test(cache: Path, *, num_classes: int = 10) -> TestSet:
    """The 10,000 test images; `cache` is the folder `prepare` returned or its `test/`."""
    total = next(f.count for f in FILES if f.split == TEST)
    images, labels = _load_pair(_split_dir(cache, TEST), total)
    return TestSet(
        x_test=_pixels(images), y_test=one_hot(labels, num_classes), num_classes=num_classes
    )
