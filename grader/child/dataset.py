"""The training and validation arrays, as the child reads them: four .npy files, nothing else.

The parent prepares the assignment's split once per machine (`grader.data.prepare_split`:
verified source files, the exam's split, its preprocessing and label encoding) and lets
the child read only that folder. So the child needs no knowledge of datasets, checksums or
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
    keep = slice(None, subset)  # None keeps everything
    return Split(**{name: array[keep] for name, array in arrays.items()})
