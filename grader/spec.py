"""Load and validate an assignment spec (assignments/<id>/assignment.toml).

A spec error names the file and the key, so an instructor can fix it without
reading code. Everything downstream receives these frozen dataclasses, never the
raw TOML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader import datasets, dataspec, i18n, resources
from grader.checks.params import complete
from grader.checks.rubric import parse_item
from grader.dataspec import DataSpec
from grader.errors import SpecError, UsageError
from grader.limits import Limits
from grader.results import Baseline
from grader.tomlreader import TomlReader

SPEC_FILE = "assignment.toml"
SPEC_SCHEMA_VERSION = 1
# The assignments shipped with the grader: the last place an id is looked up (`roots`).
ASSIGNMENTS_DIR = resources.ASSIGNMENTS


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

    @property
    def hard_seconds(self) -> float:
        """The wall-clock limit of one child, start-up included: the budget plus its grace."""
        return self.submission_seconds + self.kill_grace_seconds

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
        # A language the spec does not write a title in reads the English one, as the
        # catalogs fall back to English (grader/i18n).
        return (
            self.title.get(lang) or self.title.get(i18n.FALLBACK) or next(iter(self.title.values()))
        )


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
    data: DataSpec = field(default_factory=DataSpec)  # the whole [data] table (dataspec.py)
    calling: Calling = field(default_factory=lambda: Calling())
    # Files handed to every student (a starter notebook): the similarity sets their code
    # aside, as it does the reference's and the statements'.
    starter: tuple[Path, ...] = ()

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


@dataclass(frozen=True)
class AssignmentsRoot:
    """A folder of assignments (`<id>/assignment.toml` each) and why it is searched."""

    path: Path
    origin: str  # "--assignments-dir", "./assignments" or "shipped": for messages

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.path.glob(f"*/{SPEC_FILE}"))

    def describe(self) -> str:
        state = "" if self.path.is_dir() else ", absent"
        return f"{self.path} ({self.origin}{state})"


def roots(
    assignments_dir: Path | None = None, *, cwd: Path | None = None
) -> tuple[AssignmentsRoot, ...]:
    """Where an assignment id is looked up, first match wins.

    1. `assignments_dir` (`--assignments-dir`): named on purpose, so it wins;
    2. `./assignments` in the current folder: where an instructor keeps the course;
    3. the assignments shipped with the grader (`grader.resources.ASSIGNMENTS`).
    A folder that is the same as an earlier one (a checkout's own `assignments/` seen from
    its root) is listed once.
    """
    found: list[AssignmentsRoot] = []
    if assignments_dir is not None:
        if not assignments_dir.is_dir():
            raise UsageError(
                f"assignments folder {assignments_dir} does not exist",
                hint="--assignments-dir takes a folder holding <id>/assignment.toml",
            )
        found.append(AssignmentsRoot(assignments_dir, "--assignments-dir"))
    found.append(AssignmentsRoot((cwd or Path.cwd()) / "assignments", "./assignments"))
    found.append(AssignmentsRoot(ASSIGNMENTS_DIR, "shipped"))
    unique: list[AssignmentsRoot] = []
    for root in found:
        if not any(_same(root.path, seen.path) for seen in unique):
            unique.append(root)
    return tuple(unique)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def available(search: tuple[AssignmentsRoot, ...]) -> dict[str, AssignmentsRoot]:
    """Every assignment id found, with the folder it comes from (an earlier one wins)."""
    names: dict[str, AssignmentsRoot] = {}
    for root in search:
        for name in root.names():
            names.setdefault(name, root)
    return names


def _where(search: tuple[AssignmentsRoot, ...]) -> str:
    """`available: a, b (DIR); looked in: DIR (origin), ...`: for every lookup error."""
    by_root: dict[Path, list[str]] = {}
    for name, root in available(search).items():
        by_root.setdefault(root.path, []).append(name)
    listed = "; ".join(f"{', '.join(names)} (in {path})" for path, names in by_root.items())
    looked = ", ".join(root.describe() for root in search)
    return f"available: {listed or 'none'}; looked in: {looked}"


def resolve(
    assignment: str | Path | None, search: tuple[AssignmentsRoot, ...] | None = None
) -> Path:
    """An assignment id, a folder or a spec file -> the path of its assignment.toml.

    A path that exists is taken as it is; an id is looked up in `search` (default:
    `roots()`), the first folder that has it wins. Without an assignment, the only one of
    the first folder that has any is chosen, so an instructor with one course folder
    needs no --assignment.
    """
    search = roots() if search is None else search
    if assignment is None:
        for root in search:
            names = root.names()
            if len(names) == 1:
                return root.path / names[0] / SPEC_FILE
            if names:
                raise UsageError(
                    f"{root.path} ({root.origin}) holds {len(names)} assignments: choose one "
                    'with --assignment, a grade.toml (assignment = "ID") beside the '
                    "submissions, or a submissions folder named after it",
                    hint=_where(search),
                )
        raise UsageError("no assignment found", hint=_where(search))
    candidate = Path(assignment)
    if candidate.is_file():
        return candidate
    if (candidate / SPEC_FILE).is_file():
        return candidate / SPEC_FILE
    for root in search:
        if (root.path / str(assignment) / SPEC_FILE).is_file():
            return root.path / str(assignment) / SPEC_FILE
    raise UsageError(f"unknown assignment {str(assignment)!r}", hint=_where(search))


def load(
    assignment: str | Path | None = None, search: tuple[AssignmentsRoot, ...] | None = None
) -> Spec:
    path = resolve(assignment, search)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    return _parse(data, path, hashlib.sha256(raw).hexdigest())


def _parse(data: dict[str, Any], path: Path, sha256: str) -> Spec:
    top = TomlReader(data, path)
    version = top.get("schema_version", int)
    if version != SPEC_SCHEMA_VERSION:
        raise top.fail("schema_version", f"is {version}; this grader reads {SPEC_SCHEMA_VERSION}")
    spec_id = top.get("id", str)
    language = top.get("language", str, "es")
    if language not in i18n.languages():
        raise top.fail("language", f"must be one of {i18n.languages()}, got {language!r}")
    reference = path.parent / top.get("reference", str)
    if not reference.is_file():
        raise top.fail("reference", f"names {reference}, which does not exist")
    starter = tuple(path.parent / str(name) for name in top.get("starter", list, []))
    for name in starter:
        if not name.is_file():
            raise top.fail("starter", f"names {name}, which does not exist")

    data_spec = dataspec.parse(top.table("data"), datasets.shapes())

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
            declare_seconds=lim.positive("declare_seconds", int, limits.declare_seconds),
            load_seconds=lim.positive("load_seconds", int, limits.load_seconds),
            load_memory_mb=lim.positive("load_memory_mb", int, limits.load_memory_mb),
        )
        lim.finish()
    else:
        top.used.add("limits")

    baselines = []
    for i, entry in enumerate(top.get("baselines", list, [])):
        b = TomlReader(entry, path, f"baselines[{i}].")
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
        seed=data_spec.seed,
        # 0 when the split is not "last N": consumers of the rows use `data` instead.
        validation_size=data_spec.validation_size if data_spec.split == "last" else 0,
        num_classes=data_spec.num_classes,
        input_dim=data_spec.input_dim,
        class_name=class_name,
        objective=objective,
        executions_per_trial=executions,
        budgets=MappingProxyType(budgets),
        baselines=tuple(baselines),
        rubric=rubric,
        sha256=sha256,
        limits=limits,
        data=data_spec,
        calling=calling,
        starter=starter,
    )


def _parse_calling(c: TomlReader) -> tuple[str, str, int, Calling]:
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


def _parse_rubric(table: TomlReader) -> tuple[RubricItem, ...]:
    """[rubric.<id>] tables, each check's params read into its own dataclass."""

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
    # Defaults one check takes from another (schedule_params' family from schedule's).
    completed = complete({item.id: item.params for item in rubric}, table.path)
    return tuple(dataclasses.replace(item, params=completed[item.id]) for item in rubric)
