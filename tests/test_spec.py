"""The assignment spec: the shipped one loads; every broken key is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import spec as spec_module
from grader.errors import SpecError, UsageError

SHIPPED = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"


def test_shipped_spec_loads() -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    assert spec.seed == 23 and spec.validation_size == 10000
    assert spec.class_name == "MyHyperModel" and spec.objective == "val_accuracy"
    assert set(spec.budgets) >= {"smoke", "default", "exam"}
    exam = spec.budgets["exam"]
    assert (exam.max_trials, exam.max_epochs) == (10, 100)
    assert [b.test_accuracy for b in spec.baselines] == [0.8883, 0.895, 0.896, 0.898]
    assert spec.max_score == pytest.approx(sum(item.points for item in spec.rubric))
    assert spec.language == "es"


def test_only_assignment_is_the_default(tmp_path: Path) -> None:
    # A folder with one assignment needs no --assignment; the shipped folder has several.
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / "mnist-polynomial-decay", tmp_path / "one")
    assert spec_module.load(None, root=tmp_path).id == "mnist-polynomial-decay"
    with pytest.raises(UsageError, match="choose an assignment") as info:
        spec_module.load(None)
    assert "fashion-mnist-polynomial-decay, mnist-polynomial-decay" in info.value.format()


def test_unknown_assignment_and_budget_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown assignment 'nope'"):
        spec_module.load("nope")
    with pytest.raises(UsageError, match="unknown budget 'huge'") as info:
        spec_module.load("fashion-mnist-polynomial-decay").budget("huge")
    assert "smoke, default, exam" in info.value.format()


def _copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "a"
    shutil.copytree(SHIPPED, folder)
    toml = folder / "assignment.toml"
    toml.write_text(edit(toml.read_text(encoding="utf-8")), encoding="utf-8")
    return toml


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("seed = 23", 'seed = "23"'), r"'data\.seed' must be int"),
        (lambda t: t.replace("max_trials = 2\n", ""), r"'budgets\.smoke\.max_trials' is missing"),
        (
            lambda t: t.replace("max_epochs = 4", "max_epochs = 0"),
            r"'budgets\.default\.max_epochs' must be positive",
        ),
        (lambda t: t.replace("[data]", "[data]\nsed = 1"), r"'data\.sed' is not a known key"),
        (lambda t: t.replace('language = "es"', 'language = "fr"'), r"'language' must be one"),
        (
            lambda t: t.replace("test_accuracy = 0.8883", "test_accuracy = 88.83"),
            r"'baselines\[0\]\.test_accuracy' must be a fraction",
        ),
        (
            lambda t: t.replace('default_budget = "default"', 'default_budget = "fast"'),
            r"'default_budget' names 'fast'",
        ),
        (lambda t: t.replace("schema_version = 1", "schema_version = 9"), "schema_version"),
        (lambda t: t + "\n[oops", "not valid TOML"),
    ],
)
def test_broken_spec_names_the_key(tmp_path: Path, edit, message: str) -> None:
    toml = _copy(tmp_path, edit)
    with pytest.raises(SpecError, match=message):
        spec_module.load(toml)


def test_spec_hash_changes_with_content(tmp_path: Path) -> None:
    toml = _copy(tmp_path, lambda t: t.replace("points = 0.5", "points = 1.5", 1))
    changed = spec_module.load(toml)
    assert changed.sha256 != spec_module.load("fashion-mnist-polynomial-decay").sha256
    assert changed.max_score == spec_module.load("fashion-mnist-polynomial-decay").max_score + 1.0
