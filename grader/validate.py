"""`grade validate ASSIGNMENT`: is a new assignment ready to grade a class?

An assignment is ready when its spec loads (every error names the key), its reference
solution gets full marks under a quick budget (`smoke`), and, when the folder has
`examples/` with an `EXPECTED.toml` (the format of submissions/EXPECTED.toml), each
example fails exactly the checks it is meant to fail. The reference and the examples are
graded in one batch (`grader.batch.grade`: the same sandbox, data, calibration and
reports as `grade`), then `judge` compares the results with what was expected. `judge`
only reads results, so the verdict on the same grades can be tested without training.

Under `--subset` no reference accuracy applies (a subset is never compared with the
calibration), so the checks a subset cannot judge are listed as not judged instead of
counting as lost points; every other check of the reference must pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader import datasets, discover, i18n, report, statements
from grader.errors import DataError, ExitCode, SpecError, SubmissionError
from grader.results import CheckResult, CheckStatus, GradeResult, Location, Status
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare
from grader.spec import Spec
from grader.tomlreader import TomlReader as _Reader

if TYPE_CHECKING:
    from grader.batch import BatchOptions

EXAMPLES = "examples"
EXPECTED_FILE = "EXPECTED.toml"
DEFAULT_BUDGET = "smoke"

Echo = Callable[[str], None]

# What `grade validate` prints: the [validate] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.Labels("validate")


@dataclass(frozen=True)
class Expectation:
    """One entry of EXPECTED.toml: what grading one example must give."""

    id: str
    status: Status
    fail: frozenset[str]
    may_fail: frozenset[str] = frozenset()
    skipped: frozenset[str] = frozenset()
    message_contains: str = ""
    error_location: Location | None = None


@dataclass(frozen=True)
class ExampleVerdict:
    id: str
    problems: tuple[str, ...]  # in the chosen language; empty: as expected


@dataclass(frozen=True)
class Validation:
    """The verdict of `grade validate` on one assignment."""

    assignment: str
    budget: str
    reference: GradeResult
    lost: tuple[CheckResult, ...]  # the reference's checks below their points
    not_judged: tuple[str, ...]  # skipped checks a --subset run cannot judge
    examples: tuple[ExampleVerdict, ...]
    out: Path | None  # where the reports are (None: a temporary folder, gone)

    @property
    def ok(self) -> bool:
        graded = self.reference.status is Status.GRADED
        return graded and not self.lost and not any(v.problems for v in self.examples)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.NOT_VALID


def read_expected(path: Path, spec: Spec) -> dict[str, Expectation]:
    """EXPECTED.toml -> one `Expectation` per example; errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    checks = {item.id for item in spec.rubric}
    statuses = [s.value for s in Status]
    found: dict[str, Expectation] = {}
    for example_id in data:
        r = _Reader(data, path).table(example_id)
        status = r.get("status", str)
        if status not in statuses:
            raise r.fail("status", f"is {status!r}; one of {statuses}")
        ids: dict[str, frozenset[str]] = {}
        for key in ("fail", "may_fail", "skipped"):
            listed = r.get(key, list, [])
            unknown = [c for c in listed if c not in checks]
            if unknown:
                raise r.fail(key, f"names {unknown}, not checks of [rubric]: {sorted(checks)}")
            ids[key] = frozenset(listed)
        location = None
        if "error_location" in r.data:
            where = r.table("error_location")
            location = Location(where.get("cell", int) or None, where.positive("line", int))
            where.finish()
        else:
            r.used.add("error_location")
        found[example_id] = Expectation(
            id=example_id,
            status=Status(status),
            fail=ids["fail"],
            may_fail=ids["may_fail"],
            skipped=ids["skipped"],
            message_contains=r.get("message_contains", str, ""),
            error_location=location,
        )
        r.finish()
    return found


def _plan(spec: Spec) -> tuple[str, dict[str, Expectation], dict[str, discover.SubmissionRef]]:
    """The reference's id, the expectations and the examples, checked before any training."""
    problems = statements.syntax_problems(spec.directory)
    if problems:
        # A student copies the statement's code: a line that does not compile fails them
        # before anything is graded.
        raise SpecError(
            f"{spec.directory}: statement code that is not Python: {'; '.join(problems)}",
            hint="write every code block and inline call as it compiles (a shorthand call "
            "with ... is not checked)",
        )
    reference = discover.discover([spec.reference]).submissions[0].id
    folder = spec.directory / EXAMPLES
    if not folder.is_dir():
        return reference, {}, {}
    expected_path = folder / EXPECTED_FILE
    if not expected_path.is_file():
        raise SpecError(
            f"{folder} has no {EXPECTED_FILE}",
            hint="give each example a table [<id>] with status and fail (as "
            "submissions/EXPECTED.toml does), or remove examples/",
        )
    expected = read_expected(expected_path, spec)
    found = discover.discover([folder])
    if found.rejected:
        first = found.rejected[0]
        raise SpecError(f"example {first.path} cannot be graded: {first.reason}")
    examples = {ref.id: ref for ref in found.submissions}
    if reference in examples:
        raise SpecError(
            f"example {examples[reference].path} has the reference's id {reference!r}",
            hint="rename the example",
        )
    missing = sorted(set(examples) - set(expected))
    if missing:
        raise SpecError(
            f"{expected_path}: no table for example(s) {missing}",
            hint="add [<id>] with status and fail for each",
        )
    orphans = sorted(set(expected) - set(examples))
    if orphans:
        raise SpecError(
            f"{expected_path}: table(s) {orphans} name no example in {folder}",
            hint=f"examples found: {sorted(examples) or 'none'}",
        )
    return reference, expected, examples


def _require_data(spec: Spec, lang: str, data_dir: Path | None, cache_dir: Path | None) -> None:
    """Find and verify the dataset before anything trains, and say so when it is missing.

    Full marks mean something only on the real data, so validate never falls back to
    anything else; an assignment whose dataset has no offline package (MNIST, CIFAR-10)
    cannot be validated on a machine without its file. The loader's own message names
    every place it looked and the hint says where to get the file.
    """
    try:
        datasets.prepare(spec.data, data_dir=data_dir, cache_dir=cache_dir)
    except DataError as exc:
        text = MESSAGES[lang]["no_data"]
        dataset = datasets.get(spec.data.dataset).title
        raise DataError(
            text.format(id=spec.id, dataset=dataset, problem=exc.message), hint=exc.hint
        ) from exc


def validate(
    source: Source,
    *,
    out: Path | None = None,
    subset: int | None = None,
    no_sandbox: bool = False,
    batch: BatchOptions | None = None,
) -> Validation:
    """Grade the reference (and examples/) of `source`'s assignment under its budget
    (default `smoke`) and judge them.

    `batch` says how the batch runs (jobs, `calibrate_now`, echo); its folder is `out`
    (None: a temporary one) and its progress plain lines, whatever it says.
    """
    from grader.batch import BatchOptions, grade  # the batch imports the whole pipeline

    source = dataclasses.replace(source, budget=source.budget or DEFAULT_BUDGET)
    chosen = choose(source)  # an unknown budget stops here, before any training
    spec, lang = chosen.spec, chosen.lang
    reference_id, expected, examples = _plan(spec)
    _require_data(spec, lang, source.data_dir, source.cache_dir)
    paths = [spec.reference, *([spec.directory / EXAMPLES] if examples else [])]
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as temporary:
        folder = out or Path(temporary)
        with _needs_data(spec):
            settings = prepare(chosen, sandbox=resolve(no_sandbox=no_sandbox), subset=subset)
            options = dataclasses.replace(batch or BatchOptions(), out=folder, progress="plain")
            grade(paths, settings, options)
        results = {
            sid: report.read_result(folder / sid / report.RESULT_FILE)
            for sid in [reference_id, *examples]
            if (folder / sid / report.RESULT_FILE).is_file()
        }
    if reference_id not in results:  # the batch writes one result per submission
        raise SpecError(f"the reference {spec.reference} left no result in {folder}")
    locations = {
        sid: _error_location(ref, lang)
        for sid, ref in examples.items()
        if expected[sid].error_location is not None
    }
    graded = Graded(
        results[reference_id],
        {sid: results.get(sid) for sid in examples},
        locations=locations,
        out=out,
    )
    return judge(spec, chosen.budget.name, graded, expected, lang=lang, subset=subset)


@contextlib.contextmanager
def _needs_data(spec: Spec) -> Iterator[None]:
    """A missing or damaged dataset, said as what `grade validate` needs: the reference is
    graded on the real data (there is no stand-in to fall back on), so the fix is to get
    the file, which the dataset's own message and hint say how."""
    try:
        yield
    except DataError as exc:
        title = datasets.get(spec.data.dataset).title
        raise DataError(
            f"grade validate grades the reference of {spec.id} on the real {title} data: "
            f"{exc.message}",
            hint=exc.hint,
        ) from exc


def _error_location(ref: discover.SubmissionRef, lang: str) -> Location | None:
    """Where loading the example fails (parse only, nothing runs), or None if it loads."""
    from grader import submission

    try:
        submission.load(ref, lang=lang)
    except SubmissionError as exc:
        return getattr(exc, "location", None)
    return None


@dataclass(frozen=True)
class Graded:
    """What a validation's batch graded, for `judge`: the reference's result, each
    example's (None: it left none), where loading each example fails (parse only, for
    `error_location`) and where the reports are (None: a temporary folder, gone)."""

    reference: GradeResult
    examples: Mapping[str, GradeResult | None] = field(default_factory=dict)
    locations: Mapping[str, Location | None] = field(default_factory=dict)
    out: Path | None = None


def judge(
    spec: Spec,
    budget: str,
    graded: Graded,
    expected: Mapping[str, Expectation],
    *,
    lang: str,
    subset: int | None = None,
) -> Validation:
    """Compare graded results with what the assignment promises (pure: reads, never grades)."""
    reference, results, locations = graded.reference, graded.examples, graded.locations
    lost: list[CheckResult] = []
    not_judged: list[str] = []
    for check in reference.checks:
        if check.status is CheckStatus.PASSED and check.points >= check.max_points:
            continue
        if subset is not None and check.status is CheckStatus.SKIPPED:
            not_judged.append(check.id)  # e.g. accuracy: a subset has no calibration
        else:
            lost.append(check)
    verdicts = []
    for sid in sorted(expected):
        problems = _compare(expected[sid], results.get(sid), lang, locations.get(sid))
        verdicts.append(ExampleVerdict(sid, tuple(problems)))
    return Validation(
        assignment=spec.id,
        budget=budget,
        reference=reference,
        lost=tuple(lost),
        not_judged=tuple(not_judged),
        examples=tuple(verdicts),
        out=graded.out,
    )


def _compare(
    want: Expectation,
    result: GradeResult | None,
    lang: str,
    location: Location | None,
) -> list[str]:
    say = MESSAGES[lang]
    if result is None:
        return [say["not_graded"].format(folder=want.id)]
    problems = []
    if result.status is not want.status:
        problems.append(
            say["status"].format(
                got=result.status.value, want=want.status.value, message=result.message
            )
        )
    by_id = {c.id: c for c in result.checks}
    failed = {c.id for c in result.checks if c.status is CheckStatus.FAILED}
    for check_id in sorted(want.fail - failed):
        check = by_id.get(check_id)
        status = check.status.value if check else "-"
        problems.append(
            say["should_fail"].format(
                check=check_id, status=status, message=check.message if check else ""
            )
        )
    for check_id in sorted(failed - want.fail - want.may_fail):
        problems.append(
            say["should_not_fail"].format(check=check_id, message=by_id[check_id].message)
        )
    for check_id in sorted(want.skipped):
        check = by_id.get(check_id)
        if check is None or check.status is not CheckStatus.SKIPPED:
            problems.append(
                say["should_skip"].format(
                    check=check_id, status=check.status.value if check else "-"
                )
            )
    if want.message_contains:
        texts = [result.message, *(by_id[c].message for c in failed)]
        if not any(want.message_contains in text for text in texts):
            problems.append(say["no_message"].format(text=want.message_contains))
    if want.error_location is not None and location != want.error_location:
        # In the report's words ("celda 3, línea 7"), not str(Location), which is English.
        got = _where(location, lang) if location else "-"
        problems.append(say["location"].format(got=got, want=_where(want.error_location, lang)))
    return problems


def _where(location: Location, lang: str) -> str:
    return i18n.location(location.cell, location.line, lang)


def render(validation: Validation, lang: str) -> str:
    """What `grade validate` prints: one line when valid, else every problem, one a line."""
    say = MESSAGES[lang]
    ref = validation.reference
    fields = {"id": validation.assignment, "budget": validation.budget}
    score = {"score": f"{ref.score:g}", "max": f"{ref.max_score:g}"}
    lines = []
    if validation.ok:
        lines.append(say["valid"].format(**fields, **score, examples=len(validation.examples)))
    else:
        lines.append(say["invalid"].format(**fields))
        path = ref.source_path
        if ref.status is not Status.GRADED:
            lines.append(
                say["ref_not_graded"].format(
                    path=path, status=ref.status.value, message=ref.message
                )
            )
        elif validation.lost:
            lines.append(say["ref_lost"].format(path=path, **score))
            for check in validation.lost:
                lines.append(
                    say["lost_check"].format(
                        check=check.id,
                        status=check.status.value,
                        points=f"{check.points:g}",
                        max_points=f"{check.max_points:g}",
                        message=" ".join(check.message.split()),
                    )
                )
        for verdict in validation.examples:
            if verdict.problems:
                lines.append(say["example"].format(id=verdict.id))
                lines.extend(
                    say["problem"].format(text=" ".join(p.split())) for p in verdict.problems
                )
    if validation.not_judged:
        lines.append(say["not_judged"].format(checks=", ".join(validation.not_judged)))
    if validation.out is not None:
        lines.append(say["reports"].format(out=validation.out))
    return "\n".join(lines)
