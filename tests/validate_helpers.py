"""What every assignment's end-to-end test asserts of its `grade validate` run on a subset."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from grader import report
from grader.results import CheckStatus, GradeResult, Status
from grader.validate import Validation, render


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
