"""The training and validation arrays, as the child reads them: four .npy files, nothing else.

The parent prepares the assignment's split once per machine (`grader.datasets.prepare_split`:
verified source files, the spec's classes, split, preprocessing, input shape and label
encoding) and lets the child read only that folder. The arrays may have any shape and
dtype the spec describes (images channels-last, integer or 0/1 labels); they are read
with pickle refused. So the child needs no knowledge of datasets, checksums or
preprocessing, and the test set is never in a folder it can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAMES = ("x_train", "y_train", "x_val", "y_val")


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def load_split(folder: Path, subset: int | None = None) -> Split:
    """The prepared split in `folder`; `subset` keeps the first N rows of train and of val."""
    arrays = {name: np.load(Path(folder) / f"{name}.npy", allow_pickle=False) for name in NAMES}
    for x, y in (("x_train", "y_train"), ("x_val", "y_val")):
        if len(arrays[x]) != len(arrays[y]):
            # A half-replaced folder: training on misaligned rows would grade nonsense.
            raise ValueError(f"{folder}: {x} has {len(arrays[x])} rows, {y} {len(arrays[y])}")
    keep = slice(None, subset)  # None keeps everything
    return Split(**{name: array[keep] for name, array in arrays.items()})
