"""The student's self-check: `grade check NOTEBOOK` before submitting.

It is the grading pipeline (`grader.pipeline.grade_one`) with settings a student can
wait for: the spec's `smoke` budget (seconds), training on a small subset of the images,
and without the instructor's hidden checks, which neither run nor appear anywhere. It
prints a checklist in the terminal (one line per visible check: ✓ passed, ✗ failed,
– skipped, with points) and writes the same result.json and report.html as `grade`.

The self-check passes when the notebook was graded and no visible check failed. A
check may be skipped without failing: under a subset the test accuracy is not comparable
with the reference, so the `accuracy` check says so instead of judging.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader import datasets, discover, i18n, report
from grader import spec as spec_module
from grader.checks import validate_rubric
from grader.errors import UsageError
from grader.pipeline import RunSettings, grade_one
from grader.results import CheckStatus, GradeResult, Location, Status

BUDGET = "smoke"  # the spec's budget for tests and self-checks
SUBSET = 5000  # training and validation images: enough to learn, quick on two cores
DEFAULT_OUT = Path("self-check")

MARKS = {
    CheckStatus.PASSED: "✓",
    CheckStatus.FAILED: "✗",
    CheckStatus.SKIPPED: "–",
    CheckStatus.NEEDS_REVIEW: "?",  # no points until the instructor decides
}
STYLES = {
    CheckStatus.PASSED: "green",
    CheckStatus.FAILED: "bold red",
    CheckStatus.SKIPPED: "dim",
    CheckStatus.NEEDS_REVIEW: "bold yellow",
}

# The checklist's words: the [selfcheck] table of grader/i18n/<lang>.toml.
WORDS = i18n.Labels("selfcheck")


@dataclass(frozen=True)
class SelfCheck:
    """What a self-check found, where its report is, and how long it took."""

    result: GradeResult
    report: Path  # report.html
    seconds: float

    @property
    def passed(self) -> bool:
        """Graded, and no visible check failed (skipped ones do not count against it)."""
        return self.result.status is Status.GRADED and not any(
            c.status is CheckStatus.FAILED for c in self.result.checks
        )


def check(
    *,
    notebook: Path,
    assignment: str | Path | None = None,
    lang: str | None = None,
    out: Path = DEFAULT_OUT,
    subset: int | None = SUBSET,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    templates: Path | None = None,
    console: Console | None = None,
) -> SelfCheck:
    """Self-check one notebook (or .py, or a student's folder); print the checklist.

    Writes `<out>/<id>/result.json`, `report.html` and `report.md`. `console` receives the
    progress line and the checklist (None: silent). Raises `FatalError`s (bad spec, missing
    data, a path that is not exactly one submission) like `grade` does.
    """
    start = time.monotonic()
    spec = spec_module.load(assignment)
    validate_rubric(spec)
    budget = spec.budget(BUDGET)
    lang = lang or spec.language
    words = WORDS[i18n.require(lang)]
    found = discover.discover([Path(notebook)])
    if len(found.submissions) + len(found.rejected) != 1:
        raise UsageError(
            f"{notebook} holds {len(found.submissions) + len(found.rejected)} submissions; "
            "the self-check takes one",
            hint="give the path of your notebook (.ipynb) or script (.py)",
        )
    if found.rejected:
        rejected = found.rejected[0]
        result = GradeResult.without_results(
            id=rejected.id,
            sha256="",
            assignment=spec.id,
            budget=budget.name,
            status=Status.REJECTED,
            message=rejected.text(lang),
            source_path=str(rejected.path),
        )
    else:
        ref = found.submissions[0]
        visible = sum(not item.hidden for item in spec.rubric)
        if console is not None:
            console.print(
                words["running"].format(
                    id=ref.id,
                    class_name=spec.class_name,
                    checks=visible,
                    trials=budget.max_trials,
                    epochs=budget.max_epochs,
                    subset=subset if subset is not None else "60000",
                ),
                highlight=False,
            )
        cache = datasets.prepare(spec.data, data_dir=data_dir, cache_dir=cache_dir)
        test = datasets.load_test(cache, spec.data)
        settings = RunSettings(
            spec=spec, budget=budget, cache=cache, lang=lang, subset=subset, include_hidden=False
        )
        result = grade_one(ref, settings, test)
        note = words["note"].format(budget=budget.name, subset=subset or "60000")
        result = dataclasses.replace(result, notes=(note, *result.notes))
    report.write_result(result, out)
    html, _ = report.render_reports(result, out, lang=lang, templates=templates)
    outcome = SelfCheck(result=result, report=html, seconds=time.monotonic() - start)
    if console is not None:
        print_checklist(outcome, console, lang)
    return outcome


def print_checklist(outcome: SelfCheck, console: Console, lang: str) -> None:
    """One line per visible check (mark, title, points; message unless passed), then totals."""
    words, result = WORDS[lang], outcome.result
    labels = report.UI[lang]
    table = Table(box=None, show_header=False, pad_edge=False, expand=False)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    table.add_column(justify="right", no_wrap=True)
    for c in result.checks:
        line = Text(c.title, style="bold" if c.status is CheckStatus.FAILED else "")
        if c.status is not CheckStatus.PASSED:
            line.append("\n" + c.message, style="dim")
            if c.location is not None:
                line.append(f"\n{labels['where']}: {_where(c.location, lang)}", style="dim")
        table.add_row(
            Text(MARKS[c.status], style=STYLES[c.status]),
            line,
            f"{_points(c.points)} / {_points(c.max_points)}",
        )
    if result.checks:
        console.print(table)
    if result.status is not Status.GRADED:
        status = labels["statuses"][result.status.value]
        console.print(Text("✗ " + words["not_graded"].format(status=status), style="bold red"))
        if result.message:
            console.print(Text(result.message))
    else:
        console.print(
            words["score"].format(score=_points(result.score), max_score=_points(result.max_score)),
            highlight=False,
        )
        console.print(
            Text(words["passed"], style="green")
            if outcome.passed
            else Text(words["failed"], style="bold red")
        )
    console.print(words["report"].format(path=outcome.report), highlight=False, soft_wrap=True)
    console.print(words["seconds"].format(seconds=outcome.seconds), highlight=False)


def _where(location: Location, lang: str) -> str:
    return i18n.location(location.cell, location.line, lang)


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")
