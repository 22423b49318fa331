"""A generated mnist.npz in Keras' layout, and the registry entry that accepts it.

MNIST has no offline package, so tests cannot count on the real file. The loader under
test is the real one (`grader.datasets.KerasMnist`); only the expected SHA-256 is swapped,
with `accepting`, inside a test's monkeypatch: the registry keeps the real hash and no
option of `grade` can change it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from grader import datasets

# More training rows than the assignment's validation_size (10,000), so "last N" holds.
TRAIN_ROWS, TEST_ROWS = 12_000, 1_000


def write_synthetic_mnist(path: Path, train: int = TRAIN_ROWS, test: int = TEST_ROWS) -> Path:
    """x_train/x_test uint8 (N, 28, 28), y_train/y_test uint8 (N,), as Keras' mnist.npz.

    Class k is a bright horizontal bar on rows 2k + 4 and 2k + 5 over faint noise: a model
    learns it in one epoch, so the parent's test evaluation has something to measure.
    """
    rng = np.random.default_rng(12)

    def images(labels: np.ndarray) -> np.ndarray:
        x = rng.integers(0, 40, (len(labels), 28, 28), dtype=np.uint8)
        for row in (4, 5):
            x[np.arange(len(labels)), 2 * labels.astype(int) + row, 4:24] = 255
        return x

    y_train = rng.integers(0, 10, train, dtype=np.uint8)
    y_test = rng.integers(0, 10, test, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=images(y_train), y_train=y_train, x_test=images(y_test), y_test=y_test)
    return path


def accepting(path: Path) -> datasets.Dataset:
    """The registry's MNIST, expecting `path`'s SHA-256 instead of the real file's."""
    generated = hashlib.sha256(path.read_bytes()).hexdigest()
    return dataclasses.replace(datasets.get("mnist"), sha256=generated)
