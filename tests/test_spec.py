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


def test_the_shipped_assignments_need_naming(tmp_path: Path) -> None:
    # The shipped folder holds several assignments: without --assignment, none is guessed.
    shipped = spec_module.roots(None, cwd=tmp_path)
    with pytest.raises(UsageError, match="assignments: choose one") as info:
        spec_module.resolve(None, shipped)
    names = sorted(p.parent.name for p in spec_module.ASSIGNMENTS_DIR.glob("*/assignment.toml"))
    assert len(names) > 1 and ", ".join(names) in info.value.format()


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
        (
            lambda t: t.replace(
                'reference = "reference.ipynb"',
                'reference = "reference.ipynb"\nstarter = ["starter.ipynb"]',
            ),
            r"'starter' names .*starter\.ipynb, which does not exist",
        ),
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


# --- where assignments are found: --assignments-dir, ./assignments, shipped -------------------


def _course(folder: Path, *ids: str) -> Path:
    """A folder of assignments, each a copy of the shipped one under another id."""
    for assignment_id in ids:
        shutil.copytree(SHIPPED, folder / assignment_id)
    return folder


def test_lookup_order_explicit_then_current_folder_then_shipped(tmp_path: Path) -> None:
    name = SHIPPED.name
    explicit = _course(tmp_path / "explicit", name)
    cwd = tmp_path / "course"
    _course(cwd / "assignments", name)
    both = spec_module.roots(explicit, cwd=cwd)
    assert [r.origin for r in both] == ["--assignments-dir", "./assignments", "shipped"]
    # The same id in all three folders: the explicit option wins, then ./assignments.
    assert spec_module.resolve(name, both) == explicit / name / "assignment.toml"
    no_option = spec_module.roots(None, cwd=cwd)
    assert spec_module.resolve(name, no_option) == cwd / "assignments" / name / "assignment.toml"
    elsewhere = spec_module.roots(None, cwd=tmp_path / "empty")
    assert spec_module.resolve(name, elsewhere) == SHIPPED / "assignment.toml"
    # An id only a later folder has is still found there.
    _course(cwd / "assignments", "only-here")
    assert spec_module.resolve("only-here", both).parent == cwd / "assignments" / "only-here"


def test_default_is_the_only_assignment_of_the_first_folder_with_any(tmp_path: Path) -> None:
    cwd = tmp_path / "course"
    _course(cwd / "assignments", "next-year")
    assert spec_module.resolve(None, spec_module.roots(None, cwd=cwd)).parent.name == "next-year"
    _course(cwd / "assignments", "other")
    with pytest.raises(UsageError, match="holds 2 assignments") as info:
        spec_module.resolve(None, spec_module.roots(None, cwd=cwd))
    assert "next-year, other" in info.value.format()


def test_unknown_id_lists_what_is_available_and_where_it_looked(tmp_path: Path) -> None:
    explicit = _course(tmp_path / "explicit", "mine")
    search = spec_module.roots(explicit, cwd=tmp_path)
    with pytest.raises(UsageError, match="unknown assignment 'nope'") as info:
        spec_module.load("nope", search)
    text = info.value.format()
    shipped = ", ".join(search[-1].names())  # the Fashion exam among them
    assert SHIPPED.name in shipped and f"{shipped} (in {SHIPPED.parent})" in text
    assert f"mine (in {explicit})" in text
    assert f"{tmp_path / 'assignments'} (./assignments, absent)" in text
    assert "(--assignments-dir)" in text and "(shipped)" in text
    assert len(text.splitlines()) == 1


def test_missing_assignments_dir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        spec_module.roots(tmp_path / "nowhere")


def test_the_checkout_folder_seen_from_its_root_is_searched_once() -> None:
    search = spec_module.roots(None, cwd=SHIPPED.parent.parent)
    assert len(search) == 1 and search[0].path == SHIPPED.parent
