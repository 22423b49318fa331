"""Load and validate an assignment spec (assignments/<id>/assignment.toml).

A spec error names the file and the key, so an instructor can fix it without
reading code. Everything downstream receives these frozen dataclasses, never the
raw TOML.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader.errors import SpecError, UsageError
from grader.limits import Limits
from grader.results import Baseline

SPEC_FILE = "assignment.toml"
SPEC_SCHEMA_VERSION = 1
LANGUAGES = ("es", "en")
ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent / "assignments"


@dataclass(frozen=True)
class Budget:
    name: str
    max_trials: int
    max_epochs: int
    trial_seconds: float
    submission_seconds: float
    kill_grace_seconds: float
    description: str = ""

    calibration_seeds: int = 3  # reference runs the accuracy check is calibrated on

    def search_limits(self) -> dict[str, float]:
        """What bounds the search itself: the child's request, and the calibration's key."""
        return {
            "max_trials": self.max_trials,
            "max_epochs": self.max_epochs,
            "trial_seconds": self.trial_seconds,
            "submission_seconds": self.submission_seconds,
        }


@dataclass(frozen=True)
class RubricItem:
    id: str
    points: float
    title: MappingProxyType  # language -> text
    hidden: bool = False
    # The check's own params dataclass (grader/checks/params.py), validated at load.
    params: Any = None
    messages: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or next(iter(self.title.values()))


TUNERS = ("BayesianOptimization", "RandomSearch", "Hyperband")
VALIDATIONS = ("xy_val", "validation_data", "validation_split")
DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Calling:
    """How the grader builds the tuner and calls `search` ([calling], besides the class
    name, the objective's name and executions_per_trial, which Spec keeps).

    tuner: the keras_tuner class, built as the notebook builds it (grader/child/search.py).
    direction: the objective's direction; "" lets keras-tuner infer it from the name, as
    `objective="val_accuracy"` does in the exam.
    validation: how `search` receives the validation data: "xy_val" is the exam's
    `tuner.search(x, y, (x_val, y_val))` (a third positional argument, which the
    student's `fit(hp, M, x, y, xy_val, **kwargs)` takes); "validation_data" passes it as
    `validation_data=(x_val, y_val)`; "validation_split" passes only the training data and
    `validation_split=<validation_split>`, so Keras holds out the last fraction itself.
    """

    tuner: str = "BayesianOptimization"
    direction: str = ""
    validation: str = "xy_val"
    validation_split: float | None = None

    def request(self) -> dict[str, Any]:
        """What the child's request carries of it (grader/child/worker.py)."""
        return {
            "tuner": self.tuner,
            "objective_direction": self.direction,
            "validation": self.validation,
            "validation_split": self.validation_split,
        }

    def differences(self) -> dict[str, Any]:
        """Only the settings that differ from the exam's way of calling (for hashes)."""
        exam = Calling()
        return {k: v for k, v in self.request().items() if v != exam.request()[k]}


@dataclass(frozen=True)
class Spec:
    id: str
    path: Path  # the assignment.toml
    title: MappingProxyType
    language: str
    reference: Path
    default_budget: str
    seed: int
    validation_size: int
    num_classes: int
    input_dim: int
    class_name: str
    objective: str  # the objective's name: the key the child's trials are reported by
    executions_per_trial: int
    budgets: MappingProxyType  # name -> Budget
    baselines: tuple[Baseline, ...]
    rubric: tuple[RubricItem, ...]
    sha256: str  # of the spec file: part of every result's cache key
    limits: Limits = field(default_factory=Limits)
    calling: Calling = field(default_factory=lambda: Calling())

    @property
    def directory(self) -> Path:
        return self.path.parent

    def budget(self, name: str | None) -> Budget:
        name = name or self.default_budget
        if name not in self.budgets:
            raise UsageError(
                f"unknown budget {name!r} for assignment {self.id!r}",
                hint=f"choose one of: {', '.join(self.budgets)}",
            )
        return self.budgets[name]

    @property
    def max_score(self) -> float:
        return sum(item.points for item in self.rubric)


def available_assignments(root: Path = ASSIGNMENTS_DIR) -> list[str]:
    return sorted(p.parent.name for p in root.glob(f"*/{SPEC_FILE}"))


def resolve(assignment: str | Path | None, root: Path = ASSIGNMENTS_DIR) -> Path:
    """An assignment id, a folder or a spec file -> the path of its assignment.toml."""
    if assignment is None:
        names = available_assignments(root)
        if len(names) != 1:
            raise UsageError(
                "choose an assignment with --assignment",
                hint=f"available: {', '.join(names) or 'none'}",
            )
        return root / names[0] / SPEC_FILE
    candidate = Path(assignment)
    if candidate.is_file():
        return candidate
    if (candidate / SPEC_FILE).is_file():
        return candidate / SPEC_FILE
    if (root / str(assignment) / SPEC_FILE).is_file():
        return root / str(assignment) / SPEC_FILE
    raise UsageError(
        f"unknown assignment {str(assignment)!r}",
        hint=f"available: {', '.join(available_assignments(root)) or 'none'}",
    )


def load(assignment: str | Path | None = None, root: Path = ASSIGNMENTS_DIR) -> Spec:
    path = resolve(assignment, root)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    return _parse(data, path, hashlib.sha256(raw).hexdigest())


class _Reader:
    """Typed access to one TOML table; every error names the dotted key."""

    def __init__(self, data: dict[str, Any], path: Path, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.path}: key '{self._key(key)}' {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if not ok:
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(key, f"must be {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, key: str, kind: type, default: Any = ...) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive, got {value!r}")
        return value

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.path, f"{self._key(key)}.")

    def texts(self, key: str) -> MappingProxyType:
        value = self.get(key, (str, dict))
        if isinstance(value, str):
            value = {lang: value for lang in LANGUAGES}
        unknown = set(value) - set(LANGUAGES)
        if unknown:
            raise self.fail(key, f"has unknown language(s) {sorted(unknown)}; use {LANGUAGES}")
        return MappingProxyType(dict(value))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "is not a known key (typo?)")


def _parse(data: dict[str, Any], path: Path, sha256: str) -> Spec:
    top = _Reader(data, path)
    version = top.get("schema_version", int)
    if version != SPEC_SCHEMA_VERSION:
        raise top.fail("schema_version", f"is {version}; this grader reads {SPEC_SCHEMA_VERSION}")
    spec_id = top.get("id", str)
    language = top.get("language", str, "es")
    if language not in LANGUAGES:
        raise top.fail("language", f"must be one of {LANGUAGES}, got {language!r}")
    reference = path.parent / top.get("reference", str)
    if not reference.is_file():
        raise top.fail("reference", f"names {reference}, which does not exist")

    d = top.table("data")
    dataset = d.get("dataset", str)
    if dataset != "fashion-mnist":
        raise d.fail("dataset", f"is {dataset!r}; only 'fashion-mnist' is supported")
    seed = d.get("seed", int)
    validation_size = d.positive("validation_size", int)
    num_classes = d.positive("num_classes", int)
    input_dim = d.positive("input_dim", int)
    d.finish()

    class_name, objective, executions, calling = _parse_calling(top.table("calling"))

    budgets_table = top.table("budgets")
    budgets: dict[str, Budget] = {}
    for name in list(budgets_table.data):
        b = budgets_table.table(name)
        budgets[name] = Budget(
            name=name,
            max_trials=b.positive("max_trials", int),
            max_epochs=b.positive("max_epochs", int),
            trial_seconds=b.positive("trial_seconds", float),
            submission_seconds=b.positive("submission_seconds", float),
            kill_grace_seconds=b.positive("kill_grace_seconds", float),
            description=b.get("description", str, ""),
            calibration_seeds=b.positive("calibration_seeds", int, 3),
        )
        b.finish()
    if not budgets:
        raise top.fail("budgets", "defines no budget")
    default_budget = top.get("default_budget", str, "default")
    if default_budget not in budgets:
        raise top.fail("default_budget", f"names {default_budget!r}, not one of {list(budgets)}")

    limits = Limits()
    if "limits" in top.data:
        lim = top.table("limits")
        limits = Limits(
            memory_mb=lim.positive("memory_mb", int, limits.memory_mb),
            processes=lim.positive("processes", int, limits.processes),
            scratch_mb=lim.positive("scratch_mb", int, limits.scratch_mb),
            output_kb=lim.positive("output_kb", int, limits.output_kb),
            eval_max_params=lim.positive("eval_max_params", int, limits.eval_max_params),
            eval_max_macs=lim.positive("eval_max_macs", int, limits.eval_max_macs),
            eval_seconds=lim.positive("eval_seconds", int, limits.eval_seconds),
            eval_memory_mb=lim.positive("eval_memory_mb", int, limits.eval_memory_mb),
        )
        lim.finish()
    else:
        top.used.add("limits")

    baselines = []
    for i, entry in enumerate(top.get("baselines", list, [])):
        b = _Reader(entry, path, f"baselines[{i}].")
        acc = b.get("test_accuracy", float)
        if not 0.0 <= acc <= 1.0:
            raise b.fail("test_accuracy", f"must be a fraction in [0, 1], got {acc}")
        baselines.append(Baseline(b.get("name", str), acc, b.get("source", str, "")))
        b.finish()

    rubric = _parse_rubric(top.table("rubric"))
    top.get("title", (str, dict))
    title = top.texts("title")
    top.finish()

    return Spec(
        id=spec_id,
        path=path,
        title=title,
        language=language,
        reference=reference,
        default_budget=default_budget,
        seed=seed,
        validation_size=validation_size,
        num_classes=num_classes,
        input_dim=input_dim,
        class_name=class_name,
        objective=objective,
        executions_per_trial=executions,
        budgets=MappingProxyType(budgets),
        baselines=tuple(baselines),
        rubric=rubric,
        sha256=sha256,
        limits=limits,
        calling=calling,
    )


def _parse_calling(c: _Reader) -> tuple[str, str, int, Calling]:
    """[calling]: (class_name, objective name, executions_per_trial, the rest)."""
    class_name = c.get("class_name", str)
    tuner = c.get("tuner", str)
    if tuner not in TUNERS:
        raise c.fail("tuner", f"is {tuner!r}; use one of {list(TUNERS)}")
    objective = c.get("objective", (str, dict))
    direction = ""
    if isinstance(objective, dict):  # objective = { name = "val_loss", direction = "min" }
        o = c.table("objective")
        objective = o.get("name", str)
        direction = o.get("direction", str)
        if direction not in DIRECTIONS:
            raise o.fail("direction", f"must be one of {list(DIRECTIONS)}, got {direction!r}")
        o.finish()
    if not objective.endswith("accuracy"):
        # The child can search on any objective (grader/child/search.py), but the parent
        # reads the objective's values as an accuracy: the boundary refuses values outside
        # [0, 1] and the reports show them as the validation accuracy. A loss objective
        # needs those two to learn about it first.
        raise c.fail(
            "objective",
            f"is {objective!r}; the grader reports the objective as a validation accuracy, "
            "so it must be one (such as 'val_accuracy')",
        )
    executions = c.positive("executions_per_trial", int)
    validation = c.get("validation", str, "xy_val")
    if validation not in VALIDATIONS:
        raise c.fail("validation", f"must be one of {list(VALIDATIONS)}, got {validation!r}")
    split = c.get("validation_split", float, None)
    if validation == "validation_split":
        if split is None or not 0.0 < split < 1.0:
            raise c.fail("validation_split", f"must be a fraction in (0, 1), got {split!r}")
    elif split is not None:
        raise c.fail("validation_split", 'is only read with validation = "validation_split"')
    c.finish()
    return class_name, objective, executions, Calling(tuner, direction, validation, split)


def _parse_rubric(table: _Reader) -> tuple[RubricItem, ...]:
    """[rubric.<id>] tables, each check's params read into its own dataclass.

    The checks are imported here, not at the top: grader.checks imports this module.
    """
    from grader.checks.params import parse_item

    rubric = []
    for check_id in list(table.data):
        r = table.table(check_id)
        points = r.get("points", float)
        if points < 0:
            raise r.fail("points", f"must not be negative, got {points}")
        params, messages = parse_item(
            check_id, r.get("params", dict, {}), r.get("messages", dict, {}), table.path
        )
        rubric.append(
            RubricItem(
                id=check_id,
                points=points,
                title=r.texts("title"),
                hidden=r.get("hidden", bool, False),
                params=params,
                messages=messages,
            )
        )
        r.finish()
    return tuple(rubric)
