"""The `[data]` table of an assignment: which dataset, which rows, which preprocessing.

Parsed here, apart from the rest of grader/spec.py, so that the data part of the spec
can grow without touching `[calling]` or the rubric. Every key has a default equal to
what the grader did before the table could say more (the Fashion-MNIST exam: the last
`validation_size` rows validate, pixels / 255, flat 784 inputs, one-hot labels), so an
old assignment.toml means exactly what it meant.

The arrays themselves are built by grader/datasets.py from a `DataSpec`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from grader.tomlreader import TomlReader

SPLITS = ("last", "random", "same")
PREPROCESSING = ("scale", "standardize", "none")
ZERO_STD = ("numpy", "one")
LABELS = ("one_hot", "integer", "binary")


@dataclass(frozen=True)
class DatasetShape:
    """What the parser needs to know of a registered dataset to validate a spec."""

    classes: int  # distinct labels in the source files
    features: int  # values per example (784, 3072, 3): input_shape must multiply to it


@dataclass(frozen=True)
class DataSpec:
    """Everything that decides the arrays a submission trains, validates and is tested on.

    dataset: a name of grader.datasets.REGISTRY.
    classes: the source labels kept, in order; the i-th is relabelled i (seed 002's
        cats = 3 -> 0, dogs = 5 -> 1). Empty: every class, labels unchanged.
    split: "last" (the last `validation_size` rows of the training file validate),
        "random" (sklearn's `train_test_split(test_size=validation_fraction,
        random_state=split_seed)`), or "same" (train and validate on every row: a truth
        table has nothing to spare).
    preprocessing: "scale" (float32 / 255), "standardize" (minus the training part's
        per-pixel mean, over its per-pixel std, as seed 001's NumPy code does), "none".
    zero_std: what "standardize" does with a pixel that is constant in the training
        part: "numpy" divides by that 0 as the seed's code would (NaN or inf), "one"
        divides by 1 (sklearn's StandardScaler).
    input_shape: the shape of one example as the model gets it, channels last.
    labels: "one_hot" (float32 rows), "integer" (class indices) or "binary" (0/1 for a
        single sigmoid unit).
    """

    dataset: str = "fashion-mnist"
    seed: int = 23
    classes: tuple[int, ...] = ()
    split: str = "last"
    validation_size: int = 10000
    validation_fraction: float = 0.0
    split_seed: int = 0
    preprocessing: str = "scale"
    zero_std: str = "numpy"
    input_shape: tuple[int, ...] = (784,)
    labels: str = "one_hot"
    num_classes: int = 10

    @property
    def input_dim(self) -> int:
        return math.prod(self.input_shape)

    @property
    def is_legacy(self) -> bool:
        """True for what the grader could describe before this table grew.

        Such a spec is fully described by seed, validation_size, num_classes and
        input_dim, which fingerprint.spec_hash and the split cache key already held.
        """
        return (
            self.dataset == "fashion-mnist"
            and not self.classes
            and self.split == "last"
            and self.preprocessing == "scale"
            and self.input_shape == (self.input_dim,)
            and self.labels == "one_hot"
        )

    def arrays_key(self) -> dict[str, Any]:
        """Everything here that changes the prepared arrays (the seed does not)."""
        fields = asdict(self)
        fields.pop("seed")
        if self.split != "last":
            fields.pop("validation_size")
        if self.split != "random":
            fields.pop("validation_fraction")
            fields.pop("split_seed")
        if self.preprocessing != "standardize":
            fields.pop("zero_std")
        fields["classes"] = list(self.classes)
        fields["input_shape"] = list(self.input_shape)
        return fields


def parse(d: TomlReader, shapes: dict[str, DatasetShape]) -> DataSpec:
    """The `[data]` table, validated; `shapes` describes the registered datasets."""
    default = DataSpec()
    dataset = d.get("dataset", str, default.dataset)
    if dataset not in shapes:
        raise d.fail("dataset", f"is {dataset!r}; known datasets: {', '.join(sorted(shapes))}")
    shape = shapes[dataset]
    seed = d.get("seed", int)

    classes = tuple(d.get("classes", list, []))
    if classes:
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            raise d.fail("classes", f"must be a list of class numbers, got {list(classes)!r}")
        bad = [c for c in classes if not 0 <= c < shape.classes]
        if bad:
            raise d.fail("classes", f"has {bad[0]}; {dataset} has classes 0..{shape.classes - 1}")
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise d.fail("classes", f"must name at least two different classes, got {classes}")
    kept = len(classes) or shape.classes

    split = _choice(d, "split", SPLITS, default.split)
    validation_size, fraction, split_seed = default.validation_size, 0.0, 0
    _only_with(d, split, "last", "validation_size")
    _only_with(d, split, "random", "validation_fraction", "split_seed")
    if split == "last":
        validation_size = d.positive("validation_size", int)
    elif split == "random":
        fraction = d.get("validation_fraction", float)
        if not 0.0 < fraction < 1.0:
            raise d.fail("validation_fraction", f"must be between 0 and 1, got {fraction}")
        # Required: train_test_split without a random_state would split differently each run.
        split_seed = d.get("split_seed", int)

    preprocessing = _choice(d, "preprocessing", PREPROCESSING, default.preprocessing)
    _only_with(d, preprocessing, "standardize", "zero_std")
    zero_std = _choice(d, "zero_std", ZERO_STD, default.zero_std)

    if "input_dim" in d.data and "input_shape" in d.data:
        raise d.fail("input_dim", "and 'input_shape' are both given; keep one")
    if "input_shape" in d.data:
        raw_shape = d.get("input_shape", list)
        if not raw_shape or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in raw_shape
        ):
            raise d.fail("input_shape", f"must be a list of positive sizes, got {raw_shape!r}")
        input_shape = tuple(raw_shape)
        key = "input_shape"
    else:
        input_shape = (d.positive("input_dim", int, shape.features),)
        key = "input_dim"
    if math.prod(input_shape) != shape.features:
        raise d.fail(
            key,
            f"is {list(input_shape)} ({math.prod(input_shape)} values); an example of "
            f"{dataset} has {shape.features} (e.g. [{shape.features}])",
        )

    labels = _choice(d, "labels", LABELS, default.labels)
    num_classes = d.positive("num_classes", int, 2 if labels == "binary" else kept)
    if labels == "binary" and (kept != 2 or num_classes != 2):
        raise d.fail(
            "labels",
            f"is 'binary' but there are {kept} classes; keep two with 'classes = [a, b]'",
        )
    if num_classes < kept:
        raise d.fail("num_classes", f"is {num_classes}; the data has {kept} classes")
    d.finish()
    return DataSpec(
        dataset=dataset,
        seed=seed,
        classes=classes,
        split=split,
        validation_size=validation_size,
        validation_fraction=fraction,
        split_seed=split_seed,
        preprocessing=preprocessing,
        zero_std=zero_std,
        input_shape=input_shape,
        labels=labels,
        num_classes=num_classes,
    )


def _choice(d: TomlReader, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = d.get(key, str, default)
    if value not in allowed:
        raise d.fail(key, f"is {value!r}; choose one of {', '.join(allowed)}")
    return value


def _only_with(d: TomlReader, value: str, needed: str, *keys: str) -> None:
    """A key that means nothing with the chosen option is an error, not silently ignored."""
    for key in keys:
        if key in d.data and value != needed:
            option = {"last": "split", "random": "split", "standardize": "preprocessing"}[needed]
            raise d.fail(key, f"applies only with {option} = {needed!r} (it is {value!r})")
