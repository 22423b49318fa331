"""assignments/mnist-polynomial-decay end to end, on a generated mnist.npz.

MNIST has no offline package, so the real file is not on every machine that runs the
tests. The loader is the real one (`datasets.KerasMnist`: the official layout, the SHA-256
check); it is given a file generated here in Keras' format, and the registry's entry is
swapped for one that accepts that file's hash only inside this module (the real hash stays
in grader/datasets.py, and no option of `grade` can change it: the first test shows the
generated file refused by it).

The examples and the reference are graded in one batch on a 2,000-image subset under the
smoke budget by tests/test_validate_shipped.py (its row in tests/validate_helpers.py). The
images are synthetic (one bright bar per class), so no accuracy can be compared with
MNIST's: under a subset the accuracy check is skipped, as in the Fashion exam's tests, and
every other check must give its expected verdict.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnist_helpers import write_synthetic_mnist

from grader import data, datasets
from grader import spec as spec_module
from grader.errors import DataError

ASSIGNMENT = "mnist-polynomial-decay"
SPEC = spec_module.load(ASSIGNMENT)
EXAMPLES = SPEC.directory / "examples"
EXPECTED = tomllib.loads((EXAMPLES / "EXPECTED.toml").read_text(encoding="utf-8"))
SUBSET = 2000
REGISTERED = datasets.get("mnist")  # taken at import, before any fixture swaps it


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist-data")
    write_synthetic_mnist(folder / "mnist.npz")  # 12,000 + 1,000 bar images
    return folder


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pytest.MonkeyPatch]:
    """No user cache, no network: only the folder the test names is ever read."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(data.ENV_CACHE, str(tmp_path_factory.mktemp("env-cache")))
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))

        def no_download(self: datasets.KerasFile) -> str:
            raise Exception("URL fetch failure: no network in tests")

        patch.setattr(datasets.KerasFile, "_download", no_download)
        yield patch


def test_the_registry_refuses_the_generated_file(
    offline: pytest.MonkeyPatch, mnist_dir: Path, tmp_path: Path
) -> None:
    # What grading checks outside this module: Keras' own hash, which the file fails.
    assert REGISTERED.sha256 == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    with pytest.raises(DataError) as err:
        datasets.prepare(SPEC.data, data_dir=mnist_dir, cache_dir=tmp_path, dataset=REGISTERED)
    assert "is not the original MNIST file" in err.value.message


def test_the_spec_is_the_seeds_exercise() -> None:
    """Seed 000, section 2: the exam's model and convention, MNIST and its own ranges."""
    exam = spec_module.load("fashion-mnist-polynomial-decay")
    assert SPEC.data.dataset == "mnist" and SPEC.data.input_shape == (784,)
    assert (SPEC.seed, SPEC.validation_size, SPEC.num_classes) == (23, 10000, 10)
    params = {item.id: item.params for item in SPEC.rubric}  # each check's frozen dataclass
    ranges = {h.name: (h.min, h.max) for h in params["search_space"].hyperparameters}
    assert ranges == {"initial_learning_rate": (0.3168, 0.34), "end_learning_rate": (0.30, 0.3168)}
    same = ("structure", "architecture", "loss_metrics", "optimizer", "schedule")
    same += ("schedule_params", "fit_config")
    assert {i: params[i] for i in same} == {
        item.id: item.params for item in exam.rubric if item.id in same
    }
    assert SPEC.max_score == exam.max_score
    assert {b.name: b.test_accuracy for b in SPEC.baselines}[
        "PolynomialDecay (SGD, this exercise)"
    ] == 0.9814
    assert SPEC.budget("full").max_trials == 10 and SPEC.budget("full").max_epochs == 100
