"""End to end: `grade` over the example submissions with the smoke budget.

Training runs on a 2,000-image subset (the explicit `subset` option) so the whole
module takes about two minutes; data loading, the split, the child process, the
search, the parent's evaluation and every report are the real ones.
"""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from grader import report
from grader import spec as spec_module
from grader.batch import BatchOptions, grade
from grader.errors import ExitCode
from grader.results import GradeResult, Status
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, prepare

# Every test reads or runs a batch grade (188 s in one process, tests/conftest.py).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
EXPECTED = tomllib.loads((SUBMISSIONS / "EXPECTED.toml").read_text(encoding="utf-8"))
SUBSET = 2000


def _settings(
    cache_dir: Path,
    assignment: str | Path = "fashion-mnist-polynomial-decay",
    *,
    lang: str | None = None,
    no_sandbox: bool = False,
) -> RunSettings:
    """The smoke budget on SUBSET images (`grade --budget smoke --subset`)."""
    source = Source(assignment, "smoke", lang, cache_dir=cache_dir)
    return prepare(choose(source), sandbox=resolve(no_sandbox=no_sandbox), subset=SUBSET)


@pytest.fixture(scope="module")  # cache_dir: tests/conftest.py
def graded(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[ExitCode, Path]:
    out = tmp_path_factory.mktemp("reports")
    lines: list[str] = []
    code = grade(
        [SUBMISSIONS],
        _settings(cache_dir),
        BatchOptions(out=out, echo=lines.append),
    )
    (out / "console.txt").write_text("\n".join(lines), encoding="utf-8")
    return code, out


def _result(out: Path, sid: str) -> GradeResult:
    return report.read_result(out / sid / "result.json")


def test_batch_exit_code_says_not_all_graded(graded: tuple[ExitCode, Path]) -> None:
    code, out = graded
    assert code == ExitCode.NOT_ALL_GRADED  # syntax_error is an example of an error
    console = (out / "console.txt").read_text(encoding="utf-8")
    # The terminal speaks the spec's language (Spanish) when --lang is not given.
    assert f"{len(EXPECTED) - 1}/{len(EXPECTED)} corregidas" in console
    assert "syntax_error: error" in console


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_each_example_gets_its_expected_verdict(graded: tuple[ExitCode, Path], sid: str) -> None:
    _, out = graded
    expected = EXPECTED[sid]
    result = _result(out, sid)
    assert result.status.value == expected["status"], result.message
    by_id = {c.id: c for c in result.checks}
    failed = {c.id for c in result.checks if c.status.value == "failed"}
    must_fail = set(expected.get("fail", []))
    may_fail = set(expected.get("may_fail", []))
    assert must_fail <= failed, {i: by_id[i].message for i in must_fail - failed}
    assert failed <= must_fail | may_fail, {i: by_id[i].message for i in failed - must_fail}
    for check_id in expected.get("skipped", []):
        assert by_id[check_id].status.value == "skipped"
    if "message_contains" in expected:
        texts = [result.message] + [c.message for c in result.checks if c.id in failed]
        assert any(expected["message_contains"] in text for text in texts)
    if result.status is Status.GRADED:
        assert result.score == pytest.approx(sum(c.points for c in result.checks))
        assert result.max_score == spec_module.load("fashion-mnist-polynomial-decay").max_score


def test_reference_is_trained_and_evaluated_by_the_parent(graded: tuple[ExitCode, Path]) -> None:
    _, out = graded
    result = _result(out, "reference")
    assert result.test_accuracy is not None and 0.3 < result.test_accuracy <= 1.0
    assert result.val_accuracy == max(t.val_accuracy for t in result.trials)
    assert len(result.trials) == 2 and all(t.epochs == 1 for t in result.trials)
    assert set(result.best_hyperparameters) == {"initial_learning_rate", "end_learning_rate"}
    assert result.versions["tensorflow"] == "2.21.0" and result.versions["keras"] == "3.15.1"
    kinds = {s.kind for s in result.skipped_statements}
    assert {"data loading", "random seed", "tuner construction", "tuner.search"} <= kinds
    # Under a subset no reference accuracy applies: the check says so instead of failing.
    accuracy = next(c for c in result.checks if c.id == "accuracy")
    assert accuracy.status.value == "skipped"


def test_same_code_same_numbers(graded: tuple[ExitCode, Path]) -> None:
    """The notebook and its .py export are the same program: same trials, same accuracy."""
    _, out = graded
    notebook, script = _result(out, "reference"), _result(out, "reference_py")
    assert notebook.test_accuracy == script.test_accuracy
    assert [t.val_accuracy for t in notebook.trials] == [t.val_accuracy for t in script.trials]


def test_regrading_gives_the_same_test_accuracy(
    graded: tuple[ExitCode, Path], cache_dir: Path, tmp_path: Path
) -> None:
    _, out = graded
    code = grade(
        [SUBMISSIONS / "reference"],
        _settings(cache_dir),
        BatchOptions(out=tmp_path, echo=lambda line: None),
    )
    assert code == ExitCode.OK
    again = report.read_result(tmp_path / "solution" / "result.json")
    first = _result(out, "reference")
    assert again.test_accuracy == first.test_accuracy
    assert again.best_hyperparameters == first.best_hyperparameters


def test_outputs_are_complete_and_valid(graded: tuple[ExitCode, Path]) -> None:
    _, out = graded
    for sid in EXPECTED:
        folder = out / sid
        report.validate(json.loads((folder / "result.json").read_text(encoding="utf-8")))
        assert (folder / "report.html").stat().st_size > 0
        assert (folder / "report.md").stat().st_size > 0
    with open(out / "grades.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["id"] for r in rows) == sorted(EXPECTED)
    reference = next(r for r in rows if r["id"] == "reference")
    assert float(reference["score"]) == _result(out, "reference").score


def test_hard_time_limit_gives_timeout(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "spec"
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay", folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace(
        "submission_seconds = 240\nkill_grace_seconds = 60",
        "submission_seconds = 2\nkill_grace_seconds = 8",
    )
    toml.write_text(text, encoding="utf-8")
    student = tmp_path / "loop.py"
    student.write_text(
        "import keras_tuner\n"
        "class MyHyperModel(keras_tuner.HyperModel):\n"
        "    def build(self, hp):\n"
        "        while True:\n"
        "            pass\n",
        encoding="utf-8",
    )
    code = grade(
        [student],
        _settings(cache_dir, toml),
        BatchOptions(out=tmp_path / "out", echo=lambda line: None),
    )
    assert code == ExitCode.NOT_ALL_GRADED
    result = report.read_result(tmp_path / "out" / "loop" / "result.json")
    assert result.status is Status.TIMEOUT
    assert "(10 s)" in result.message  # the limit (2 s + 8 s of grace), however late the kill


# --- the per-submission guard (no training: grade_one is replaced) ---------------------


def test_a_grader_fault_costs_one_result_never_the_batch(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result that breaks the schema, a crash in grading and a crash in rendering: each
    becomes an `error` result that blames the grader; the others, the summary and grades.csv
    are still written, the tracebacks are in grader.log and the exit code is 1."""
    import dataclasses

    from sample_results import graded_result

    from grader import executor

    def fake_grade_one(ref, settings, test):  # type: ignore[no-untyped-def]
        if ref.id == "raiser":
            raise RuntimeError("boom in grade_one")
        result = graded_result(ref.id)
        if ref.id == "schema_breaker":  # what a child that patched its timings leads to
            result = dataclasses.replace(result, timings={"child_search": -5.0})
        return result

    real_render = report.render_reports

    def render(result, out, **kwargs):  # type: ignore[no-untyped-def]
        if result.id == "render_bomb" and result.status is Status.GRADED:
            raise KeyError("boom in a template")
        return real_render(result, out, **kwargs)

    monkeypatch.setattr(executor, "grade_one", fake_grade_one)
    monkeypatch.setattr(report, "render_reports", render)
    subs = tmp_path / "subs"
    subs.mkdir()
    sids = ["good", "raiser", "render_bomb", "schema_breaker"]
    for sid in sids:
        (subs / f"{sid}.py").write_text("x = 1\n", encoding="utf-8")
    out = tmp_path / "out"
    code = grade(
        [subs],
        _settings(cache_dir, lang="es", no_sandbox=True),
        BatchOptions(out=out, jobs=1, echo=lambda line: None),
    )
    assert code == ExitCode.NOT_ALL_GRADED
    for sid in sids:
        for name in ("result.json", "report.html", "report.md"):
            assert (out / sid / name).is_file(), (sid, name)
    assert (out / "summary.html").is_file() and (out / "grades.csv").is_file()

    def written(sid: str) -> dict:
        return json.loads((out / sid / "result.json").read_text(encoding="utf-8"))

    assert written("good")["status"] == "graded"
    for sid in ("raiser", "render_bomb", "schema_breaker"):
        result = written(sid)
        assert result["status"] == "error"
        assert "no es culpa de tu entrega" in result["message"]  # the report's language
        assert "Traceback" not in result["message"]
    with open(out / "grades.csv", encoding="utf-8", newline="") as f:
        assert sorted(row["id"] for row in csv.DictReader(f)) == sids
    log = (out / "grader.log").read_text(encoding="utf-8")
    assert log.count("Traceback") == 3
    assert "boom in grade_one" in log and "ResultSchemaError" in log and "boom in a template" in log


# --- the output folder keeps its own names; the batch says only what it wrote (issue 21) ---


def test_a_submission_named_like_the_gradebook_never_takes_its_place(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`grades.csv.ipynb`, a folder `summary.html/` and `grader.log.py` are graded under
    ids with a suffix; the gradebook and the summary are files, and the command says it
    wrote them. When the summary cannot be written, the command says so instead."""
    from sample_results import graded_result

    from grader import discover, executor
    from grader import summary as summary_module

    monkeypatch.setattr(executor, "grade_one", lambda ref, settings, test: graded_result(ref.id))
    subs = tmp_path / "subs"
    (subs / "summary.html").mkdir(parents=True)
    for path in (subs / "grades.csv.ipynb", subs / "summary.html" / "exam.py", subs / "ana.py"):
        path.write_text("x = 1\n", encoding="utf-8")
    (subs / "grader.log.py").write_text("x = 1\n", encoding="utf-8")

    def run(out: Path) -> tuple[ExitCode, list[str]]:
        lines: list[str] = []
        code = grade(
            [subs],
            _settings(cache_dir, lang="en", no_sandbox=True),
            BatchOptions(out=out, jobs=1, echo=lines.append),
        )
        return code, lines

    out = tmp_path / "out"
    code, lines = run(out)
    assert code == ExitCode.OK
    suffix = discover.RESERVED_SUFFIX
    sids = ["ana", f"grader.log{suffix}", f"grades.csv{suffix}", f"summary.html{suffix}"]
    assert all((out / sid / "result.json").is_file() for sid in sids)
    assert (out / "grades.csv").is_file() and (out / "summary.html").is_file()
    assert (out / "grader.log").exists() is False  # no fault, no log: nothing took its name
    with open(out / "grades.csv", encoding="utf-8", newline="") as f:
        assert sorted(row["id"] for row in csv.DictReader(f)) == sids
    assert f"wrote {out / 'grades.csv'}, {out / 'summary.html'}: 4/4 graded" in lines

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(summary_module, "write", broken)
    code, lines = run(tmp_path / "again")
    assert code == ExitCode.NOT_ALL_GRADED  # a fault
    assert f"wrote {tmp_path / 'again' / 'grades.csv'}: 4/4 graded" in lines
    assert any(
        line.startswith(f"could NOT write {tmp_path / 'again' / 'summary.html'}") for line in lines
    )
    assert not (tmp_path / "again" / "summary.html").exists()
