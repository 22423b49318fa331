"""Re-grading gives identical numbers on the same machine.

The child seeds Python, NumPy and the backend (keras.utils.set_random_seed) and the
tuner's oracle with the run's seed, sets PYTHONHASHSEED and fixed thread counts, and
leaves TensorFlow's other defaults as a student has them (grader/child/worker.py,
grader/runner.py). Two grades of the same submission, each in its own child and scratch
folder, must agree to the last bit; a different seed must not (else the seed would not
be reaching the run).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader import data
from grader import spec as spec_module
from grader.discover import discover
from grader.pipeline import grade_one
from grader.results import GradeResult, Status
from grader.settings import RunSettings

ROOT = Path(__file__).resolve().parent.parent
SUBSET = 1000

pytestmark = pytest.mark.slow


def _numbers(result: GradeResult) -> dict[str, object]:
    return {
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "val_accuracy": result.val_accuracy,
        "best": result.best_hyperparameters,
        "trials": [(t.hyperparameters, t.val_accuracy, t.history) for t in result.trials],
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[GradeResult, ...]:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    cache = data.prepare(cache_dir=tmp_path_factory.mktemp("cache"))
    test = data.load_test(cache, num_classes=spec.num_classes)
    settings = RunSettings(
        spec=spec, budget=spec.budget("smoke"), cache=cache, lang="en", subset=SUBSET
    )
    ref = next(r for r in discover([ROOT / "submissions"]).submissions if r.id == "reference")
    first = grade_one(ref, settings, test)
    second = grade_one(ref, settings, test)
    other = grade_one(ref, dataclasses.replace(settings, seed=spec.seed + 1), test)
    return first, second, other


def test_regrading_gives_identical_numbers(graded: tuple[GradeResult, ...]) -> None:
    first, second, _ = graded
    assert first.status is Status.GRADED, first.message
    assert len(first.trials) == 2 and all(t.history for t in first.trials)
    assert _numbers(first) == _numbers(second)
    assert first.score == second.score


def test_the_result_lists_seeds_and_versions(graded: tuple[GradeResult, ...]) -> None:
    first, _, other = graded
    assert set(first.seeds) == {"python", "numpy", "backend", "oracle", "PYTHONHASHSEED"}
    assert set(first.seeds.values()) == {23} and set(other.seeds.values()) == {24}
    assert {"tensorflow", "keras", "keras_tuner", "numpy", "python"} <= set(first.versions)
    assert any("Seed 23" in note for note in first.notes)


def test_another_seed_gives_other_numbers(graded: tuple[GradeResult, ...]) -> None:
    first, _, other = graded
    assert other.status is Status.GRADED, other.message
    assert _numbers(first) != _numbers(other)
    assert first.trials[0].hyperparameters != other.trials[0].hyperparameters
