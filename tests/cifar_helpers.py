"""CIFAR-10 archives generated in the official format (`cifar-10-python.tar.gz`).

The real archive is not on this machine and no test may download it: the loader is tested
on archives laid out as the official one (a tar.gz of `cifar-10-batches-py/<batch>`, each
batch a dict pickled by Python 2 with `data` (N, 3072) uint8 and `labels` a list of ints).
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes as Python 2 `str` (BINSTRING), as the real batches, cPickled by Python 2.

    Python 3's protocol 2 would write them through `_codecs.encode`, a global the real
    files never name (and the loader refuses).
    """

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def pickled(value: object) -> bytes:
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(value)
    return out.getvalue()


def write_archive(
    path: Path,
    train: list[tuple[np.ndarray, list[int]]],
    test: tuple[np.ndarray, list[int]],
    evil: bool = False,
) -> None:
    """A tar.gz laid out as cifar-10-python.tar.gz from five (data, labels) train batches
    and the test batch; `evil` makes the test batch a pickle that calls os.system."""
    batches = {}
    for i, (x, y) in enumerate(train, start=1):
        batches[f"data_batch_{i}"] = {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": y,
            b"data": x,
            b"filenames": [f"img{j}.png".encode() for j in range(len(y))],
        }
    xt, yt = test
    batches["test_batch"] = {b"batch_label": b"testing batch 1 of 1", b"labels": yt, b"data": xt}
    batches["batches.meta"] = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in batches.items():
            raw = pickled(content)
            if evil and name == "test_batch":
                raw = b"cos\nsystem\n(S'echo pwned'\ntR."  # os.system('echo pwned')
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def cats_and_dogs(
    rng: np.random.Generator, rows: int, other_every: int = 10
) -> tuple[np.ndarray, list[int]]:
    """`rows` images, cats (3) and dogs (5) in turn but every `other_every`-th another
    class; a dog is brighter than a cat, so a model has something to learn."""
    labels = [3 + 2 * (i % 2) for i in range(rows)]
    for i in range(other_every - 1, rows, other_every):
        labels[i] = (0, 1, 2, 4, 6, 7, 8, 9)[(i // other_every) % 8]
    base = rng.integers(0, 128, (rows, 3072), dtype=np.uint8)
    bright = np.array([96 if y == 5 else 0 for y in labels], dtype=np.uint8)[:, None]
    return base + bright, labels
