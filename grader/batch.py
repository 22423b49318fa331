"""`grade(...)`: the pipeline over a batch of submissions.

discover -> (grader.pipeline.grade_one for each) -> report -> gradebook. Only a
`FatalError` (bad spec, missing data, bad usage) stops the batch; every submission,
whatever it does, ends as a result with reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from grader import data, discover, report
from grader import spec as spec_module
from grader.checks import validate_rubric
from grader.errors import ExitCode
from grader.pipeline import RunSettings, grade_one
from grader.results import GradeResult, Status
from grader.spec import Spec

Echo = Callable[[str], None]


def grade(
    *,
    paths: Sequence[Path],
    assignment: str | Path | None = None,
    budget: str | None = None,
    out: Path = Path("reports"),
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    lang: str | None = None,
    subset: int | None = None,
    templates: Path | None = None,
    keep_scratch: bool = False,
    echo: Echo = print,
) -> ExitCode:
    """Grade every submission under `paths`; write reports and grades.csv into `out`."""
    spec = spec_module.load(assignment)
    validate_rubric(spec)
    chosen = spec.budget(budget)
    lang = lang or spec.language
    found = discover.discover(paths)
    cache = data.prepare(data_dir=data_dir, cache_dir=cache_dir)
    test = data.load_test(cache, num_classes=spec.num_classes)
    settings = RunSettings(
        spec=spec,
        budget=chosen,
        cache=cache,
        lang=lang,
        subset=subset,
        keep_scratch=keep_scratch,
    )
    out.mkdir(parents=True, exist_ok=True)

    results: list[GradeResult] = []
    total = len(found.submissions) + len(found.rejected)
    echo(
        f"grading {len(found.submissions)} submission(s) of {spec.id} "
        f"with budget '{chosen.name}' into {out}/"
    )
    for rejected in found.rejected:
        result = GradeResult.without_results(
            id=rejected.id,
            sha256="",
            assignment=spec.id,
            budget=chosen.name,
            status=Status.REJECTED,
            message=rejected.reason,
            source_path=str(rejected.path),
        )
        results.append(_publish(result, out, lang, templates, spec, results, echo, total))
    for ref in found.submissions:
        result = grade_one(ref, settings, test)
        results.append(_publish(result, out, lang, templates, spec, results, echo, total))
    all_graded = all(r.status is Status.GRADED for r in results)
    echo(
        f"wrote {out / 'grades.csv'}: {sum(r.status is Status.GRADED for r in results)}"
        f"/{len(results)} graded"
    )
    return ExitCode.OK if all_graded else ExitCode.NOT_ALL_GRADED


def _publish(
    result: GradeResult,
    out: Path,
    lang: str,
    templates: Path | None,
    spec: Spec,
    done: list[GradeResult],
    echo: Echo,
    total: int,
) -> GradeResult:
    report.write_result(result, out)
    report.render_reports(result, out, lang=lang, templates=templates)
    # Rewritten after every submission so an interrupted batch leaves a true gradebook.
    report.write_gradebook([*done, result], out, [item.id for item in spec.rubric])
    acc = f" test {100 * result.test_accuracy:.2f}%" if result.test_accuracy is not None else ""
    echo(
        f"[{len(done) + 1}/{total}] {result.id}: {result.status.value} "
        f"{result.score:g}/{result.max_score:g}{acc}"
        + (f" - {result.message.splitlines()[0][:160]}" if result.message else "")
    )
    return result
