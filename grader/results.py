"""The data that flows between stages, and the result of grading one submission.

Every stage returns small frozen dataclasses; `GradeResult` is what result.json,
the reports and the gradebook are rendered from (and nothing else is).
The JSON form is documented in docs/result-schema.md and checked by
grader/schema/result.schema.json; bump `SCHEMA_VERSION` on any change to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from grader.child.protocol import TrialStatus

SCHEMA_VERSION = "1.2"


class Status(StrEnum):
    """How grading one submission ended."""

    GRADED = "graded"  # the pipeline ran to the end; the score is meaningful
    ERROR = "error"  # the submission could not be loaded, built or trained
    TIMEOUT = "timeout"  # the wall-clock limit killed it before any result
    RESOURCE_LIMIT = "resource_limit"  # memory/process/disk limit
    REJECTED = "rejected"  # refused before running (not a submission, unsafe)


class Evidence(StrEnum):
    """What a check's verdict rests on."""

    ARTIFACT = "artifact"  # the trained best model's files, read by the parent
    CHILD = "child"  # the probe record: what the student's running code reported


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # a prerequisite failed or the data for it is missing
    # The grader cannot decide it from what it can verify (e.g. a model it will not
    # rebuild): no points are given automatically; the message tells the instructor why.
    NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class Location:
    """Where in the student's file something is: 1-based cell (None for .py) and line."""

    cell: int | None
    line: int

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}" if self.cell else f"line {self.line}"


@dataclass(frozen=True)
class SkippedStatement:
    """A top-level statement the grader did not run, and why."""

    cell: int | None
    line: int
    kind: str  # e.g. "data loading", "tuner.search", "print", "magic", "shell"
    code: str  # its first line, shortened


@dataclass(frozen=True)
class SnippetLine:
    """One line of the student's code, with its 1-based line number in the cell (or file)."""

    line: int
    text: str


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: CheckStatus
    points: float
    max_points: float
    message: str
    hidden: bool = False
    location: Location | None = None
    # The student's code around `location` (its line included), so reports need no file.
    snippet: tuple[SnippetLine, ...] = ()
    evidence: Evidence | None = None  # None: the check does not say (skipped, or its own)


@dataclass(frozen=True)
class TrialResult:
    id: str
    hyperparameters: dict[str, Any]
    val_accuracy: float | None
    epochs: int
    seconds: float
    status: TrialStatus
    history: dict[str, list[float]] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Curve:
    """A learning rate at some training steps (equal lengths, steps increasing)."""

    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class LearningRateCurves:
    """The student's learning rate over training beside the schedule the spec expects.

    Both are taken with the same hyperparameter values (those of the probe's default
    build), so any gap between them is the student's schedule, not the search.
    """

    student: Curve | None  # None: the learning rate could not be sampled
    expected: Curve | None  # None: the spec's schedule needs a value the build lacks
    family: str  # the expected schedule's Keras class, e.g. "PolynomialDecay"
    hyperparameters: dict[str, Any]  # the values both curves were taken with
    total_steps: int  # steps of the whole training the probe assumed


@dataclass(frozen=True)
class Baseline:
    name: str
    test_accuracy: float  # fraction in [0, 1]
    source: str = ""


@dataclass(frozen=True)
class ReferenceCalibration:
    """The reference solution graded under the same budget over several seeds.

    The `accuracy` check compares with `test_mean` in bands of `test_sd` (see
    grader/calibrate.py); `computed_now` says why it was computed during this run
    ("missing", "stale: ...") and is "" when it came from the cached file.
    """

    budget: str
    seeds: tuple[int, ...]
    test_mean: float
    test_sd: float
    val_mean: float
    val_sd: float
    created: str  # UTC, ISO 8601
    computed_now: str = ""
    # The CPU it was measured on when that is not this machine's (no calibration of this
    # machine's own applies, and another machine's with the same software does): "" else.
    measured_on: str = ""


@dataclass(frozen=True)
class GradeResult:
    id: str
    sha256: str
    assignment: str
    budget: str
    status: Status
    message: str = ""
    score: float = 0.0
    max_score: float = 0.0
    checks: tuple[CheckResult, ...] = ()
    test_accuracy: float | None = None
    test_loss: float | None = None
    val_accuracy: float | None = None
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    trials: tuple[TrialResult, ...] = ()
    learning_rate: LearningRateCurves | None = None  # the student's schedule vs the spec's
    baselines: tuple[Baseline, ...] = ()
    reference_test_accuracy: float | None = None  # reference solution, same budget
    calibration: ReferenceCalibration | None = None  # where reference_test_accuracy came from
    seeds: dict[str, int] = field(default_factory=dict)  # what was seeded, with what
    skipped_statements: tuple[SkippedStatement, ...] = ()
    notes: tuple[str, ...] = ()  # things the grader did that the student should know
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    source_path: str = ""
    # Who trained it: "grader" (the trainer, on the declaration), "sandbox" (beside the
    # student's code: it could not be declared), "" (nothing was trained).
    training: str = ""
    schema_version: str = SCHEMA_VERSION

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeResult:
        return _from_dict(cls, data)

    @classmethod
    def without_results(
        cls,
        assessment: Assessment,
        *,
        id: str,
        sha256: str,
        status: Status,
        message: str,
        **extra: Any,
    ) -> GradeResult:
        """A submission that produced no grade (crash, timeout, rejection): still a result,
        out of the points `assessment` says (never 0; see `Assessment`)."""
        return cls(
            id=id,
            sha256=sha256,
            assignment=assessment.assignment,
            budget=assessment.budget,
            status=status,
            message=message,
            max_score=assessment.max_score,
            **extra,
        )


@dataclass(frozen=True)
class Assessment:
    """What a result is graded against: the assignment's id, the budget's name and the
    points possible.

    `max_score` is the assignment's (`Spec.max_score`, visible checks only in a
    self-check), never 0: the gradebook and the report say "0 / 10", so a spreadsheet
    that divides by it and an instructor who reads it see what the student missed."""

    assignment: str
    budget: str
    max_score: float


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and tuples to plain JSON types (dict field order kept)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, GradeResult):
            out = {"schema_version": out.pop("schema_version"), **out}
        return out
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


_NESTED = {
    "checks": CheckResult,
    "trials": TrialResult,
    "baselines": Baseline,
    "skipped_statements": SkippedStatement,
    "location": Location,
    "calibration": ReferenceCalibration,
    "snippet": SnippetLine,
    "learning_rate": LearningRateCurves,
    "student": Curve,
    "expected": Curve,
}
_ENUMS = {
    "status": {GradeResult: Status, CheckResult: CheckStatus, TrialResult: TrialStatus},
    "evidence": {CheckResult: Evidence},
}


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in _NESTED and value is not None:
            sub = _NESTED[f.name]
            if isinstance(value, list):
                value = tuple(_from_dict(sub, v) for v in value)
            else:
                value = _from_dict(sub, value)
        elif f.name in _ENUMS and cls in _ENUMS[f.name] and value is not None:
            value = _ENUMS[f.name][cls](value)
        elif isinstance(value, list):  # every sequence field is a tuple (notes, curve steps...)
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
