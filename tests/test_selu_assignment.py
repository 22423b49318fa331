"""assignments/fashion-mnist-selu-exponential-decay (seed 001) end to end, on the Debian data.

The data tests read the real Fashion-MNIST (no training): the spec's random split and
standardisation are the seed's NumPy code, and no pixel is constant in the 45,000-image
training part, which is why the spec's `zero_std = "numpy"` never divides by zero.

The reference and the examples are graded in one batch on a 2,000-image subset under the
smoke budget by tests/test_validate_shipped.py (its row in tests/validate_helpers.py).
Under a subset no calibration applies, so the accuracy check is skipped, as in the Fashion
exam's tests; every other check must give the example's expected verdict. `grade validate`
runs the same examples on the whole split with the accuracy judged.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from grader import datasets
from grader import spec as spec_module
from grader.child.dataset import load_split

ASSIGNMENT = "fashion-mnist-selu-exponential-decay"
SPEC = spec_module.load(ASSIGNMENT)
EXAMPLES = SPEC.directory / "examples"
EXPECTED = tomllib.loads((EXAMPLES / "EXPECTED.toml").read_text(encoding="utf-8"))
SUBSET = 2000


def test_the_spec_is_the_seeds_exercise() -> None:
    """Seed 001's last Ex: its split, preprocessing, model, loss, optimizer and schedule."""
    d = SPEC.data
    assert (d.dataset, d.seed, d.split, d.validation_fraction, d.split_seed) == (
        "fashion-mnist", 1, "random", 0.25, 1,
    )  # fmt: skip
    assert (d.preprocessing, d.input_shape, d.labels) == ("standardize", (28, 28), "integer")
    params = {item.id: item.params for item in SPEC.rubric}
    layers = [
        (layer.kind, layer.units, layer.activation, layer.kernel_initializer)
        for layer in params["architecture"].layers
    ]
    assert layers == [
        ("Flatten", None, None, None),
        ("Dense", 300, "selu", "lecun_normal"),
        ("Dense", 100, "selu", "lecun_normal"),
        ("Dense", 10, "softmax", None),
    ]
    assert params["loss_metrics"].loss == "sparse_categorical_crossentropy"
    assert params["optimizer"].class_name == "SGD"
    assert params["schedule"].family == "ExponentialDecay"
    # decay_steps is one epoch of the seed's batches: ceil(45,000 / 32).
    assert dict(params["schedule_params"].values) == {"decay_steps": 1407, "staircase": False}
    ranges = {h.name: (h.min, h.max) for h in params["search_space"].hyperparameters}
    # The seed's values (0.1, 0.96) are the top of each range.
    assert ranges == {"initial_learning_rate": (0.01, 0.1), "decay_rate": (0.1, 0.96)}
    assert (params["fit_config"].batch_size, params["fit_config"].epochs) == (32, 2)
    assert SPEC.max_score == 10.0
    assert {n: (SPEC.budget(n).max_trials, SPEC.budget(n).max_epochs) for n in SPEC.budgets} == {
        "smoke": (2, 1), "default": (4, 2), "full": (10, 2),
    }  # fmt: skip


def test_the_training_part_has_no_constant_pixel(fashion_cache: Path) -> None:
    raw = datasets._load_raw(fashion_cache)
    x_train, _, _, _ = datasets.split(raw.x_train, raw.y_train, SPEC.data)
    assert x_train.shape[0] == 45000
    stds = x_train.reshape(len(x_train), -1).std(axis=0)
    assert stds.min() > 0.05  # 0.084 here: pixel (0, 0), lit in 8 of the 45,000 images


def test_the_prepared_split_is_the_seeds_numpy_code(fashion_cache: Path) -> None:
    from sklearn.model_selection import train_test_split

    raw = datasets._load_raw(fashion_cache)
    images = raw.x_train.reshape(-1, 28, 28)
    # The seed's cell, as written (test_size and random_state are its defaults and its 1).
    x_train, x_valid, y_train, y_valid = train_test_split(images, raw.y_train, random_state=1)
    pixel_means = x_train.mean(axis=0, keepdims=True)
    pixel_stds = x_train.std(axis=0, keepdims=True)
    split = load_split(datasets.prepare_split(fashion_cache, SPEC.data))
    assert split.x_train.shape == (45000, 28, 28) and split.x_val.shape == (15000, 28, 28)
    assert np.all(np.isfinite(split.x_train)) and np.all(np.isfinite(split.x_val))
    np.testing.assert_array_equal(split.y_train, y_train)
    np.testing.assert_array_equal(split.y_val, y_valid)
    np.testing.assert_array_equal(
        split.x_val, ((x_valid - pixel_means) / pixel_stds).astype(np.float32)
    )
    test = datasets.load_test(fashion_cache, SPEC.data)
    np.testing.assert_array_equal(
        test.x_test,
        ((raw.x_test.reshape(-1, 28, 28) - pixel_means) / pixel_stds).astype(np.float32),
    )
