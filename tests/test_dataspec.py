"""The `[data]` table (grader/dataspec.py): every key parsed, every bad value named, the
exam's spec unchanged and its calibration hash identical."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import spec as spec_module
from grader.dataspec import DataSpec
from grader.errors import SpecError
from grader.fingerprint import spec_hash

SHIPPED = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"
EXAM_DATA = """[data]
dataset = "fashion-mnist"
seed = 23                  # keras.utils.set_random_seed and the tuner's oracle seed
validation_size = 10000    # the last N training images are the validation set
num_classes = 10
input_dim = 784
"""


def _with_data(tmp_path: Path, table: str) -> Path:
    folder = tmp_path / "a"
    shutil.copytree(SHIPPED, folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    assert EXAM_DATA in text
    toml.write_text(text.replace(EXAM_DATA, "[data]\n" + table + "\n"), encoding="utf-8")
    return toml


def test_the_exam_spec_means_what_it_meant() -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    assert spec.data == DataSpec()  # every default is the exam's behaviour
    assert spec.data.is_legacy
    assert (spec.seed, spec.validation_size, spec.num_classes, spec.input_dim) == (
        23,
        10000,
        10,
        784,
    )


def test_the_exam_calibration_hash_is_unchanged() -> None:
    # The values committed in assignments/.../calibration/*.json before [data] grew.
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    hashes = {name: spec_hash(spec, spec.budgets[name], None) for name in spec.budgets}
    assert hashes == {
        "smoke": "3fa1cffd6cd4a766",
        "default": "abded545047eb354",
        "exam": "6faf622f8c6a6a16",
    }
    assert spec_hash(spec, spec.budgets["default"], 500) == "974ab672cf9cadcf"


@pytest.mark.parametrize(
    "table",
    [
        'dataset = "mnist"\nseed = 23\nvalidation_size = 10000\ninput_shape = [28, 28]',
        'dataset = "fashion-mnist"\nseed = 23\nvalidation_size = 10000\nlabels = "integer"',
        'seed = 23\nvalidation_size = 10000\npreprocessing = "standardize"',
        'seed = 23\nsplit = "random"\nvalidation_fraction = 0.25\nsplit_seed = 1',
        "seed = 23\nvalidation_size = 10000\ninput_shape = [28, 28, 1]",
        "seed = 23\nvalidation_size = 10000\nclasses = [0, 1]",
    ],
)
def test_any_other_data_changes_the_calibration_hash(tmp_path: Path, table: str) -> None:
    exam = spec_module.load("fashion-mnist-polynomial-decay")
    other = spec_module.load(_with_data(tmp_path, table))
    budget = exam.budgets["default"]
    assert spec_hash(other, budget, None) != spec_hash(exam, budget, None)


def test_every_new_key_is_read(tmp_path: Path) -> None:
    cats_dogs = spec_module.load(
        _with_data(
            tmp_path,
            'dataset = "cifar10"\nseed = 2\nclasses = [3, 5]\nsplit = "random"\n'
            'validation_fraction = 0.2\nsplit_seed = 7\npreprocessing = "standardize"\n'
            'zero_std = "one"\ninput_shape = [32, 32, 3]\nlabels = "one_hot"',
        )
    )
    assert cats_dogs.data == DataSpec(
        dataset="cifar10",
        seed=2,
        classes=(3, 5),
        split="random",
        validation_size=10000,
        validation_fraction=0.2,
        split_seed=7,
        preprocessing="standardize",
        zero_std="one",
        input_shape=(32, 32, 3),
        labels="one_hot",
        num_classes=2,  # defaults to the classes kept
    )
    assert cats_dogs.validation_size == 0 and cats_dogs.input_dim == 3072
    gate = spec_module.load(
        _with_data(
            tmp_path / "g",
            'dataset = "and-gate"\nseed = 3\nsplit = "same"\npreprocessing = "none"\n'
            'labels = "binary"',
        )
    )
    assert gate.data.input_shape == (3,) and gate.data.num_classes == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('dataset = "svhn"\nseed = 1', r"'data\.dataset' is 'svhn'; known datasets: and-gate"),
        ("validation_size = 10", r"'data\.seed' is missing"),
        ("seed = 1\nvalidation_size = 10\nclasses = [3]", r"'data\.classes' must name at least"),
        ("seed = 1\nvalidation_size = 10\nclasses = [3, 3]", r"'data\.classes' must name"),
        ("seed = 1\nvalidation_size = 10\nclasses = [3, 10]", r"'data\.classes' has 10"),
        ('seed = 1\nvalidation_size = 10\nclasses = ["cat", 5]', r"'data\.classes' must be a"),
        ('seed = 1\nsplit = "halves"', r"'data\.split' is 'halves'; choose one of last, random"),
        ("seed = 1", r"'data\.validation_size' is missing"),
        (
            'seed = 1\nsplit = "random"\nvalidation_size = 10',
            r"'data\.validation_size' applies only with split = 'last'",
        ),
        (
            "seed = 1\nvalidation_size = 10\nvalidation_fraction = 0.2",
            r"'data\.validation_fraction' applies only with split = 'random'",
        ),
        ('seed = 1\nsplit = "random"\nsplit_seed = 1', r"'data\.validation_fraction' is missing"),
        (
            'seed = 1\nsplit = "random"\nvalidation_fraction = 1.5\nsplit_seed = 1',
            r"'data\.validation_fraction' must be between 0 and 1",
        ),
        (
            'seed = 1\nsplit = "random"\nvalidation_fraction = 0.25',
            r"'data\.split_seed' is missing",
        ),
        (
            'seed = 1\nvalidation_size = 10\npreprocessing = "normalize"',
            r"'data\.preprocessing' is 'normalize'",
        ),
        (
            'seed = 1\nvalidation_size = 10\nzero_std = "one"',
            r"'data\.zero_std' applies only with preprocessing = 'standardize'",
        ),
        (
            'seed = 1\nvalidation_size = 10\npreprocessing = "standardize"\nzero_std = "nan"',
            r"'data\.zero_std' is 'nan'",
        ),
        (
            "seed = 1\nvalidation_size = 10\ninput_shape = [28, 27]",
            r"'data\.input_shape' is \[28, 27\] \(756 values\); an example of fashion-mnist "
            "has 784",
        ),
        ("seed = 1\nvalidation_size = 10\ninput_shape = [28, 0]", r"'data\.input_shape' must be"),
        ("seed = 1\nvalidation_size = 10\ninput_dim = 3072", r"'data\.input_dim' is \[3072\]"),
        (
            "seed = 1\nvalidation_size = 10\ninput_dim = 784\ninput_shape = [784]",
            r"'data\.input_dim' and 'input_shape' are both given",
        ),
        ('seed = 1\nvalidation_size = 10\nlabels = "ordinal"', r"'data\.labels' is 'ordinal'"),
        (
            'seed = 1\nvalidation_size = 10\nlabels = "binary"',
            r"'data\.labels' is 'binary' but there are 10 classes",
        ),
        ("seed = 1\nvalidation_size = 10\nnum_classes = 9", r"'data\.num_classes' is 9; the data"),
        ("seed = 1\nvalidation_size = 10\nshape = [784]", r"'data\.shape' is not a known key"),
    ],
)
def test_bad_data_is_named(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_module.load(_with_data(tmp_path, table))
