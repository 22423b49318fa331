"""`grade validate` of every shipped assignment: the table of cases and what each run asserts.

`CASES` has one row per folder of assignments/ (tests/test_validate_shipped.py checks that
it has no more and no fewer): how its data is made available to a test (the real Debian
Fashion-MNIST, a generated file in the official format accepted by the registry only while
the grade runs, or a table made in code), the subset and options its one `grade validate`
runs with, and what is specific to it. The `validated` fixture (tests/conftest.py) runs a
row once per test module; every test that reads that run shares it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import data, datasets, report
from grader import spec as spec_module
from grader.batch import BatchOptions
from grader.results import CheckStatus, GradeResult, Status
from grader.settings import Source
from grader.validate import Validation, render, validate

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"


def result_of(validation: Validation, sid: str) -> GradeResult:
    assert validation.out is not None, "validate was given no --out"
    return report.read_result(validation.out / sid / report.RESULT_FILE)


def assert_valid_on_subset(validation: Validation, examples: Iterable[str]) -> GradeResult:
    """The reference gets every point a subset can judge (accuracy is skipped: no calibration
    applies to a subset) and each example fails exactly its EXPECTED.toml checks, as
    grader.validate judges them (status, fail, may_fail, skipped, message_contains)."""
    reference = validation.reference
    assert reference.status is Status.GRADED, reference.message
    assert validation.lost == (), render(validation, "en")
    assert validation.not_judged == ("accuracy",)
    accuracy = next(c for c in reference.checks if c.id == "accuracy")
    assert accuracy.status is CheckStatus.SKIPPED
    assert reference.score == pytest.approx(reference.max_score - accuracy.max_points)
    assert [v.id for v in validation.examples] == sorted(examples)
    assert [(v.id, v.problems) for v in validation.examples if v.problems] == []
    assert validation.ok, render(validation, "en")
    return reference


# --- the Fashion exam: a copy with two examples from submissions/ ---------------------------

EXAM = "fashion-mnist-polynomial-decay"

# The two examples' entries, as submissions/EXPECTED.toml gives them (the shipped exam has
# no examples/ folder of its own).
EXAM_EXPECTED = """\
[syntax_error]
status = "error"
fail = []
message_contains = "SyntaxError in cell 7, line 2"
error_location = { cell = 7, line = 2 }

[no_hypermodel]
status = "graded"
fail = ["structure"]
skipped = [
    "architecture", "loss_metrics", "optimizer", "schedule", "schedule_params",
    "search_space", "fit_config", "callbacks_passthrough", "accuracy",
]
message_contains = "MyHypermodel"
"""


def with_examples(folder: Path, expected: str = EXAM_EXPECTED) -> Path:
    """A copy of the Fashion exam in `folder` with syntax_error and no_hypermodel as examples/."""
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / EXAM, folder)
    (folder / "examples").mkdir()
    for name in ("syntax_error.ipynb", "no_hypermodel.ipynb"):
        shutil.copy(SUBMISSIONS / name, folder / "examples" / name)
    (folder / "examples" / "EXPECTED.toml").write_text(expected, encoding="utf-8")
    return folder


# --- data that is not on this machine: generated in the official format --------------------


def _offline(self: datasets.KerasFile) -> str:
    raise Exception("URL fetch failure: no network in tests")


@contextmanager
def _isolated(home: Path) -> Iterator[pytest.MonkeyPatch]:
    """Empty caches of our own and no download: nothing of the user's is read or written."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(data.ENV_CACHE, str(home / "env-cache"))
        patch.setenv("KERAS_HOME", str(home / "keras-home"))
        patch.setattr(datasets.KerasFile, "_download", _offline)
        yield patch


@contextmanager
def _generated_cifar(tmp: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A CIFAR-10 archive generated in the official format: 5 x 500 training images, 9 in 10
    of them cats or dogs (2,250, of which the spec's last 2,000 validate). The registry
    accepts it only while the grade runs: the module's other tests see it as it ships."""
    from cifar_helpers import cats_and_dogs, write_archive

    folder = tmp.mktemp("cifar")
    rng = np.random.default_rng(2)
    train = [cats_and_dogs(rng, 500) for _ in range(5)]
    archive = folder / "cifar-10-python.tar.gz"
    write_archive(archive, train, cats_and_dogs(rng, 300))
    digest = hashlib.sha256(archive.read_bytes())
    generated = dataclasses.replace(datasets.get("cifar10"), sha256=digest.hexdigest())
    with _isolated(tmp.mktemp("home")) as hook:
        hook.setitem(datasets.REGISTRY, "cifar10", generated)
        yield {"data_dir": folder}


@contextmanager
def _generated_mnist(tmp: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A mnist.npz generated in Keras' format (12,000 + 1,000 images, one bright bar per
    class), accepted by the registry only while the grade runs."""
    from mnist_helpers import accepting, write_synthetic_mnist

    folder = tmp.mktemp("mnist-data")
    write_synthetic_mnist(folder / "mnist.npz")
    with _isolated(tmp.mktemp("home")) as hook:
        hook.setitem(datasets.REGISTRY, "mnist", accepting(folder / "mnist.npz"))
        yield {"data_dir": folder}


@contextmanager
def _exam_with_examples(tmp: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield {"assignment": with_examples(tmp.mktemp("course") / "fashion")}


def _on_this_machine(tmp: pytest.TempPathFactory) -> AbstractContextManager[dict[str, Any]]:
    return nullcontext({})


# --- the table --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One shipped assignment's `grade validate` run and what is specific to it."""

    assignment: str
    # None: the whole data (the AND gate's 8 rows), so the accuracy is judged too.
    subset: int | None
    # What gives the run its data (and its assignment folder, for the exam's copy).
    setup: Callable[[pytest.TempPathFactory], AbstractContextManager[dict[str, Any]]] = (
        _on_this_machine
    )
    # Options as each assignment's own test gave them (None: validate's default).
    lang: str | None = "en"
    jobs: int | None = None
    # The reference's search: (trials, epochs each), a floor for its test accuracy on
    # the subset, the hyperparameters it searched and one's range (name, low, high).
    trials: tuple[int, int] | None = None
    min_test_accuracy: float | None = None
    searched: frozenset[str] = frozenset()
    within: tuple[str, float, float] | None = None

    def run(self, tmp: pytest.TempPathFactory, cache_dir: Path) -> Validated:
        with self.setup(tmp) as given:
            folder = Path(given.pop("assignment", spec_module.ASSIGNMENTS_DIR / self.assignment))
            source = Source(folder, "smoke", self.lang, given.get("data_dir"), cache_dir)
            validation = validate(
                source,
                out=tmp.mktemp("out"),
                subset=self.subset,
                batch=BatchOptions(jobs=self.jobs, echo=lambda _line: None),
            )
        return Validated(self, validation, folder)


@dataclasses.dataclass(frozen=True)
class Validated:
    """A `grade validate` run, its row of `CASES` and the assignment folder it validated."""

    case: Case
    validation: Validation
    folder: Path

    @property
    def out(self) -> Path:
        assert self.validation.out is not None
        return self.validation.out

    @property
    def expected(self) -> dict[str, Any]:
        path = self.folder / "examples" / "EXPECTED.toml"
        return tomllib.loads(path.read_text(encoding="utf-8"))

    def result(self, sid: str) -> GradeResult:
        return result_of(self.validation, sid)


CASES = {
    case.assignment: case
    for case in (
        # The fastest end-to-end grade: seed 003's 8-row table made in code, whole.
        Case("and-gate-schedules", subset=None),
        Case("cifar10-cats-dogs-step-decay", subset=200, setup=_generated_cifar, jobs=1),
        Case("fashion-mnist-cyclic-lr", subset=1000),
        Case(EXAM, subset=500, setup=_exam_with_examples),
        Case(
            "fashion-mnist-selu-exponential-decay",
            subset=2000,
            lang=None,  # the spec's (Spanish): the examples' messages are read in it
            jobs=1,
            trials=(2, 1),
            # Standardised 28x28 inputs and integer labels reach the model.
            min_test_accuracy=0.6,
            searched=frozenset({"initial_learning_rate", "decay_rate"}),
            within=("initial_learning_rate", 0.01, 0.1),
        ),
        Case(
            "mnist-polynomial-decay",
            subset=2000,
            setup=_generated_mnist,
            lang=None,
            jobs=1,
            trials=(2, 1),
            min_test_accuracy=0.5,
            searched=frozenset({"initial_learning_rate", "end_learning_rate"}),
            within=("initial_learning_rate", 0.3168, 0.34),
        ),
    )
}
