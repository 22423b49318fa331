"""The student's self-check: `grade check NOTEBOOK` before submitting.

It is the grading pipeline (`grader.pipeline.grade_one`) with settings a student can
wait for: the spec's `smoke` budget (seconds), training on a small subset of the images,
and without the instructor's hidden checks, which neither run nor appear anywhere. It
prints a checklist in the terminal (one line per visible check: ✓ passed, ✗ failed,
– skipped, with points) and writes the same result.json and report.html as `grade`, in
a new temporary folder unless the student names one (`--out`): never silently into the
folder they work in.

The self-check passes when the notebook was graded and no visible check failed. What it
does not judge on purpose is out of its total and says why: trained on a subset, the
test accuracy cannot be compared with the reference, so the `accuracy` check is "not
judged here" (0 of 0 points), never a skip that looks like a missing calibration.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader import datasets, discover, i18n, report
from grader import spec as spec_module
from grader.errors import UsageError
from grader.pipeline import grade_one
from grader.results import Assessment, CheckStatus, GradeResult, Location, Status
from grader.sandbox import resolve
from grader.settings import Source, choose, load_test, prepare

BUDGET = "smoke"  # the spec's budget for tests and self-checks
SUBSET = 5000  # training and validation images: enough to learn, quick on two cores
OUT_PREFIX = "grade-check-"  # the temporary folder of a self-check without --out
# The check a subset cannot judge: its reference was calibrated on the whole split.
NOT_JUDGED_UNDER_SUBSET = "accuracy"

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
    notebook: Path,
    source: Source,
    *,
    out: Path | None = None,
    subset: int | None = SUBSET,
    templates: Path | None = None,
    console: Console | None = None,
) -> SelfCheck:
    """Self-check one notebook (or .py, or a student's folder); print the checklist.

    `source` names the assignment, the language and where the data is; its budget is
    always `BUDGET` (a self-check must take seconds). Writes `<out>/<id>/result.json`,
    `report.html` and `report.md`; `out` None is a new temporary folder (kept: the student
    opens the report; the checklist names it). `console` receives the progress line and
    the checklist (None: silent). Raises `FatalError`s (bad spec, missing data, a path that
    is not exactly one submission) like `grade` does.
    """
    start = time.monotonic()
    chosen = choose(dataclasses.replace(source, budget=BUDGET))
    spec, budget, lang = chosen.spec, chosen.budget, chosen.lang
    words = WORDS[lang]
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
            Assessment(spec.id, budget.name, _visible_points(spec, subset)),
            id=rejected.id,
            sha256="",
            status=Status.REJECTED,
            message=rejected.text(lang),
            source_path=str(rejected.path),
        )
    else:
        ref = found.submissions[0]
        visible = sum(not item.hidden for item in spec.rubric)
        settings = prepare(
            chosen, sandbox=resolve(no_sandbox=False), subset=subset, include_hidden=False
        )
        rows = datasets.train_rows(datasets.prepare_split(settings.cache, spec.data))
        trained = rows if subset is None else min(subset, rows)
        if console is not None:
            console.print(
                words["running"].format(
                    id=ref.id,
                    class_name=spec.class_name,
                    checks=visible,
                    trials=budget.max_trials,
                    epochs=budget.max_epochs,
                    subset=i18n.number(trained, lang),
                ),
                highlight=False,
            )
        result = grade_one(ref, settings, load_test(settings))
        result = _not_judged(result, subset=subset, rows=rows, lang=lang, spec=spec)
        note = words["note"].format(budget=budget.name, subset=i18n.number(trained, lang))
        result = dataclasses.replace(result, notes=(note, *result.notes))
    out = Path(tempfile.mkdtemp(prefix=OUT_PREFIX)) if out is None else out
    report.write_result(result, out)
    html, _ = report.render_reports(result, out, lang=lang, templates=templates)
    outcome = SelfCheck(result=result, report=html, seconds=time.monotonic() - start)
    if console is not None:
        print_checklist(outcome, console, lang)
    return outcome


def _visible_points(spec: spec_module.Spec, subset: int | None) -> float:
    """The self-check's total: the visible checks' points, less what it cannot judge."""
    return sum(
        item.points
        for item in spec.rubric
        if not item.hidden and not (subset is not None and item.id == NOT_JUDGED_UNDER_SUBSET)
    )


def _not_judged(
    result: GradeResult, *, subset: int | None, rows: int, lang: str, spec: spec_module.Spec
) -> GradeResult:
    """The result with what a subset cannot judge out of its total, saying why.

    Trained on `subset` of the split's `rows` images, the test accuracy is not comparable
    with the reference's (calibrated on all of them), so the accuracy check is not judged:
    0 of 0 points and a message that says so, instead of a skip for a missing calibration
    that would cost the student a point they could not earn here. A result without checks
    (the notebook could not be run) is out of the same total."""
    words = WORDS[lang]
    checks = []
    for c in result.checks:
        if (
            subset is not None
            and c.id == NOT_JUDGED_UNDER_SUBSET
            and c.status is CheckStatus.SKIPPED
        ):
            text = words["not_judged"].format(
                subset=i18n.number(min(subset, rows), lang), rows=i18n.number(rows, lang)
            )
            if result.test_accuracy is not None:
                test = i18n.percent(result.test_accuracy, lang)
                text += " " + words["not_judged_test"].format(test=test)
            c = dataclasses.replace(c, points=0.0, max_points=0.0, message=text)
        checks.append(c)
    total = round(sum(c.max_points for c in checks), 4) if checks else None
    max_score = _visible_points(spec, subset) if total is None else total
    return dataclasses.replace(result, checks=tuple(checks), max_score=max_score)


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
        points = f"{_points(c.points, lang)} / {_points(c.max_points, lang)}"
        table.add_row(
            Text(MARKS[c.status], style=STYLES[c.status]),
            line,
            points if c.max_points or c.status is not CheckStatus.SKIPPED else "",
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
            words["score"].format(
                score=_points(result.score, lang), max_score=_points(result.max_score, lang)
            ),
            highlight=False,
        )
        console.print(
            Text(words["passed"], style="green")
            if outcome.passed
            else Text(words["failed"], style="bold red")
        )
    console.print(words["report"].format(path=outcome.report), highlight=False, soft_wrap=True)
    seconds = i18n.number(outcome.seconds, lang, 1)
    console.print(words["seconds"].format(seconds=seconds), highlight=False)


def _where(location: Location, lang: str) -> str:
    return i18n.location(location.cell, location.line, lang)


def _points(x: float, lang: str) -> str:
    return i18n.number(round(x, 2), lang)
