"""A `GradeResult` as Gradescope's autograder results.json.

Gradescope's documented format (grader/schema/gradescope.schema.json): a top-level score,
execution_time, output and visibility settings, and one test per rubric check with its
name, score, max_score, status, output and visibility. Hidden checks are
`after_published`: students see them once the instructor publishes the grades, as the
grader's own reports keep them out of the student's view. The batch writes
`<out>/<id>/gradescope/results.json` for every submission; inside Gradescope's container
`python -m grader.autograder` writes the same thing to /autograder/results/results.json.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from grader import files, i18n, report
from grader.printable import printable_data
from grader.results import CheckStatus, GradeResult

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "gradescope.schema.json"
FOLDER = "gradescope"
RESULTS_FILE = "results.json"


class GradescopeSchemaError(ValueError):
    """A results.json that Gradescope's format does not allow: a grader bug."""


@functools.cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(data: dict[str, Any]) -> None:
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise GradescopeSchemaError(
            f"results.json breaks Gradescope's format at {where}: {error.message}"
        )


def to_results(result: GradeResult, *, lang: str) -> dict[str, Any]:
    """Gradescope's results.json for one result, in the report language `lang`."""
    ui = report.UI[lang]
    lines = [f"{ui['status']}: {ui['statuses'][result.status.value]}"]
    if result.message:
        lines.append(result.message)
    if result.test_accuracy is not None and math.isfinite(result.test_accuracy):
        lines.append(f"{ui['accuracy']}: {i18n.percent(result.test_accuracy, lang)}")
    tests = []
    for check in result.checks:
        output = check.message
        if check.location is not None:
            # In the student's language: `str(Location)` is English ("line 4").
            where = i18n.location(check.location.cell, check.location.line, lang)
            output = f"{output} ({where})" if output else where
        if check.status is CheckStatus.NEEDS_REVIEW:
            output = f"{ui['check_statuses']['needs_review']}: {output}"
        tests.append(
            {
                "name": check.title,
                "score": check.points,
                "max_score": check.max_points,
                # Gradescope knows passed and failed only; a check awaiting the instructor
                # is not passed, and extra_data and the output say it needs review.
                "status": "passed" if check.status is CheckStatus.PASSED else "failed",
                "output": output,
                "tags": [check.id],
                "visibility": "after_published" if check.hidden else "visible",
                **(
                    {"extra_data": {"needs_review": True}}
                    if check.status is CheckStatus.NEEDS_REVIEW
                    else {}
                ),
            }
        )
    return {
        "score": result.score,
        "execution_time": round(float(result.timings.get("total", 0.0)), 1),
        "output": "\n".join(lines),
        "output_format": "text",
        # The grader's own log can name paths and internals: the instructor's eyes only.
        "stdout_visibility": "hidden",
        "extra_data": {
            "id": result.id,
            "status": result.status.value,
            "max_score": result.max_score,
            "test_accuracy": report.result_dict(result)["test_accuracy"],
            "budget": result.budget,
            "sha256": result.sha256,
        },
        "tests": tests,
    }


def dumps(data: dict[str, Any]) -> str:
    """The text of results.json; every string passes the one sanitiser (grader/printable.py)."""
    data = printable_data(data)
    validate(data)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write(result: GradeResult, out: Path, *, lang: str) -> Path:
    """Validate and write `<out>/<id>/gradescope/results.json` atomically."""
    text = dumps(to_results(result, lang=lang))
    return files.atomic_write(out / result.id / FOLDER / RESULTS_FILE, text.encode("utf-8"))
