"""The report stage: a `GradeResult` to result.json, report.html, report.md and grades.csv.

result.json is the record (validated against grader/schema/result.schema.json, documented in
docs/result-schema.md); the reports are views of it for the student; grades.csv is the
instructor's table for the whole batch. Every file is written atomically (temporary file in the
same folder, then `os.replace`: `grader.files.atomic_write`), so an interrupted run never leaves
half a report behind.

Template context (for instructors writing their own templates, `render_reports(templates=...)`):
`result` is `GradeResult.to_dict()` (student-facing: hidden checks removed unless asked for),
`hidden_checks` the number of checks removed, `ui` the localised labels (`UI[lang]`, the
[report] table of grader/i18n/<lang>.toml),
`plots` a dict of inline SVG strings drawn from `result` by grader/plots.py (`learning_rate`,
`history`, `trials`, `accuracy`; a plot without data is absent; insert with `|safe`).
Filters: `pct` (fraction -> "88.83 %"), `num` (points), `secs`, `value` (a hyperparameter),
`location` (a check's location), and for Markdown `md` (inline text) and `mdcode` (code span).
Templates get plain data only: no grader objects, nothing that reads files.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import jinja2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from grader import i18n, plots, resources
from grader.errors import UsageError
from grader.files import atomic_write  # batch.py writes through report.atomic_write too
from grader.printable import printable, template_value
from grader.results import CheckStatus, GradeResult

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "result.schema.json"
TEMPLATES_DIR = resources.TEMPLATES  # templates/ in a checkout, grader/templates/ in a wheel
RESULT_FILE = "result.json"
GRADEBOOK_FILE = "grades.csv"
REPORT_TEMPLATES = {"report.html": "report.html.j2", "report.md": "report.md.j2"}

# Localised labels: the only words in the reports that do not come from the result itself.
# `UI[lang]` is the catalog's [report] table (grader/i18n/<lang>.toml) with "lang" set.
UI = i18n.Labels("report")


class ResultSchemaError(ValueError):
    """A result does not match the schema: a bug in the grader, never the student's fault.

    Deliberately not a `GraderError`: it must not be turned into a submission status.
    """


@functools.cache
def _schema_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(data: dict[str, Any]) -> None:
    """Raise `ResultSchemaError` (naming the offending field) unless `data` matches the schema."""
    error = best_match(_schema_validator().iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultSchemaError(
            f"result {data.get('id')!r} breaks the schema at {where}: {error.message}"
        ) from error


def result_dict(result: GradeResult) -> dict[str, Any]:
    """`result.to_dict()` with non-finite numbers as null.

    A diverged training gives NaN losses; JSON has no NaN, and `json.dumps` would write a
    token strict parsers reject. The schema says where null is allowed, so a NaN anywhere
    else is still caught as a bug.
    """
    return _finite(result.to_dict())


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def result_json(result: GradeResult) -> str:
    """The validated text of result.json (what `write_result` writes, byte for byte)."""
    data = result_dict(result)
    validate(data)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_result(result: GradeResult, out: Path) -> Path:
    """Validate and write `<out>/<id>/result.json` atomically; return its path."""
    text = result_json(result)
    return atomic_write(Path(out) / result.id / RESULT_FILE, text.encode("utf-8"))


def read_result(path: Path) -> GradeResult:
    """Read a result.json written by `write_result` (e.g. a cached one), validated."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    validate(data)
    return GradeResult.from_dict(data)


def render_reports(
    result: GradeResult,
    out: Path,
    *,
    lang: str,
    templates: Path | None = None,
    include_hidden: bool = False,
) -> list[Path]:
    """Render report.html and report.md into `<out>/<id>/`; return their paths.

    Student-facing by default: hidden checks are left out (the score still counts them and
    the report says how many there are). `templates` replaces the default template folder;
    an error in one becomes a `UsageError` naming the file.
    """
    i18n.require(lang)
    ui = UI[lang]
    data = result_dict(result)
    validate(data)  # templates may rely on everything the schema promises
    visible = [c for c in data["checks"] if include_hidden or not c["hidden"]]
    student_view = {**data, "checks": visible}
    context = {
        "result": student_view,
        "hidden_checks": len(data["checks"]) - len(visible),
        "ui": ui,
        "plots": plots.render(student_view, ui["plot"]),
    }
    env = _environment(templates or TEMPLATES_DIR, ui)
    written = []
    for name, template_name in REPORT_TEMPLATES.items():
        try:
            text = env.get_template(template_name).render(context)
        except jinja2.TemplateError as exc:
            if templates is None:
                raise  # our own templates: a bug, keep the traceback
            raise UsageError(
                f"template {Path(templates) / template_name} cannot be rendered: {exc}",
                hint="templates receive only `result`, `hidden_checks`, `ui` and `plots`",
            ) from exc
        written.append(atomic_write(Path(out) / result.id / name, text.encode("utf-8")))
    return written


def write_gradebook(results: Sequence[GradeResult], out: Path, check_ids: Sequence[str]) -> Path:
    """Write `<out>/grades.csv`: one row per submission, sorted by id, hidden checks included.

    Numbers use a dot and no thousands separator so spreadsheets and pandas read them alike.
    """
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(
        [
            "id",
            "status",
            "score",
            "max_score",
            "percent",
            "test_accuracy",
            *check_ids,
            "needs_review",
            "message",
        ]
    )
    for result in sorted(results, key=lambda r: r.id):
        earned = {c.id: c.points for c in result.checks}
        accuracy = result.test_accuracy
        writer.writerow(
            [
                result.id,
                result.status.value,
                _plain(result.score),
                _plain(result.max_score),
                f"{result.percent:.1f}",
                "" if accuracy is None or not math.isfinite(accuracy) else f"{100 * accuracy:.2f}",
                *("" if cid not in earned else _plain(earned[cid]) for cid in check_ids),
                # The checks the instructor must decide: their points are not in the score.
                " ".join(c.id for c in result.checks if c.status is CheckStatus.NEEDS_REVIEW),
                result.message,
            ]
        )
    return atomic_write(Path(out) / GRADEBOOK_FILE, buffer.getvalue().encode("utf-8"))


def _plain(x: float) -> str:
    """7.5 -> "7.5", 10.0 -> "10": exact enough for points, no exponent."""
    return f"{x:.4f}".rstrip("0").rstrip(".")


# CSV injection (OWASP): ids come from file names and messages quote student code and
# output, and a spreadsheet runs a cell that starts with = + - @ (or tab, CR) as a formula.
# A cell starts not only where this file's commas say: a spreadsheet that splits on ";"
# (the default in Spanish-language locales) or tabs, or reads a line break inside a quoted
# cell as a new row, starts a new cell after each of those. So a quote is put before the
# cell and after every such separator that is followed (after spaces or double quotes) by a
# dangerous character: `a;=HYPERLINK(...)` becomes `a;'=HYPERLINK(...)`, still readable,
# never a formula in any of those readings. A cell that is just a number (scores, points,
# percentages) is left alone so that it stays a number.
_CSV_DANGER = re.compile(r"(?:^|(?<=[,;\t\r\n]))(?=[ \"]*[=+\-@\t\r])")
_CSV_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def csv_cell(value: object) -> str:
    """`value` as a CSV cell that no spreadsheet runs as a formula, whatever its separator,
    and that holds no control character but newline and tab (grader/printable.py)."""
    text = "" if value is None else printable(str(value))
    if _CSV_NUMBER.fullmatch(text):
        return text
    return _CSV_DANGER.sub("'", text)


class SafeCsvWriter:
    """`csv.writer` whose every cell goes through `csv_cell`: the one way the grader writes CSV."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")

    def writerow(self, row: Sequence[object]) -> None:
        self._writer.writerow([csv_cell(cell) for cell in row])


def _environment(folder: Path, ui: dict[str, Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        # HTML is escaped; Markdown is escaped by the `md` filters; anything else escapes too.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("md.j2",), default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Every value a template prints passes the one sanitiser (grader/printable.py).
        finalize=template_value,
    )
    env.filters.update(_filters(ui))
    return env


def _filters(ui: dict[str, Any]) -> dict[str, Callable[..., str]]:
    """Formatting filters bound to one language: numbers as its messages write them
    (i18n.number, i18n.percent), words from its catalog."""
    lang = ui["lang"]
    dec = i18n.table("number", lang)["decimal"]

    def pct(fraction: float | None) -> str:
        return ui["none"] if fraction is None else i18n.percent(fraction, lang)

    def num(x: float | None) -> str:
        return ui["none"] if x is None else i18n.number(x, lang)

    def secs(x: float | None) -> str:
        return ui["none"] if x is None else i18n.number(x, lang, 1) + " s"

    def value(v: Any) -> str:
        # A hyperparameter's value: six significant digits, never grouped by thousands.
        if isinstance(v, float):
            return f"{v:.6g}".replace(".", dec)
        return str(v)

    def location(loc: dict[str, Any] | None) -> str:
        if loc is None:
            return ""
        return i18n.location(loc["cell"], loc["line"], ui["lang"])

    return {
        "pct": pct,
        "num": num,
        "secs": secs,
        "value": value,
        "location": location,
        "md": _md,
        "mdcode": _md_code,
        "codefence": _code_fence,
    }


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`|<>[]*_"})


def _md(text: Any) -> str:
    """Inline Markdown text: one line, no markup, safe inside a table cell.

    Student strings (messages quote their code) must not become links, HTML or new columns.
    """
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _code_fence(snippet: Sequence[dict[str, Any]]) -> str:
    """A backtick fence longer than any backtick run in the snippet's lines.

    Student code inside a fenced block is shown verbatim; only a line of as many backticks
    could close the block early, and this fence is longer than any such line.
    """
    longest = max((len(run) for s in snippet for run in re.findall(r"`+", s["text"])), default=0)
    return "`" * max(3, longest + 1)


def _md_code(text: Any) -> str:
    """A Markdown code span for any text (backticks inside included), safe in a table cell."""
    code = " ".join(str(text).split()).replace("|", "\\|")
    longest = 0
    run = 0
    for ch in code:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{fence}{pad}{code}{pad}{fence}"
