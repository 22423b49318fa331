"""The corpus of broken and hostile submissions, graded in one sandboxed batch.

Each case in tests/corpus/ ends with the status (and failed checks, message) that
tests/corpus/EXPECTED.toml gives it, and the exam's reference solution, graded in the
same batch, gets exactly the result it gets alone. A small budget (one trial of one
epoch on 256 images) keeps the batch to a few minutes. Its limits (30 s a trial, 100 s a
submission, start-up included) leave room for a loaded CI machine: a quiet one here needs
up to 25 s for a case that trains (10 s of it TensorFlow's import), CI's machine ran the
suite about twice as slowly as this one, and both 25 s and 60 s limits timed out cases
that train there. The cases that loop in `build` (the probe's, before any trial) end at
the submission's limit, so this figure is also the price of each of them.

The cases marked `built = true` in EXPECTED.toml are made by `_build` in the batch's own
copy of the corpus: links and reserved names are layouts, not files, and the notebook
bombs are megabytes that need not sit in the repository. They end at discovery or at
loading, so they cost the batch nothing.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import report, submission
from grader import spec as spec_module
from grader.batch import BatchOptions, grade
from grader.errors import ExitCode
from grader.results import GradeResult
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, prepare

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "EXPECTED.toml").read_text(encoding="utf-8"))
REFERENCE = Path(__file__).resolve().parent.parent / "submissions" / "reference"
SUBSET = 256
# What a spreadsheet reads as the start of a formula (or a cell split by a tab or CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed"),
    # The corpus graded in full: 863 s of the suite in one process (tests/conftest.py).
    pytest.mark.slow,
]


def _settings(spec: Path, cache: Path) -> RunSettings:
    """`spec` under the smoke budget on SUBSET images, in English."""
    source = Source(spec, "smoke", "en", cache_dir=cache)
    return prepare(choose(source), sandbox=resolve(no_sandbox=False), subset=SUBSET)


def _syntax_error_notebook(path: Path, *, outputs: int = 0, markdown: int = 0) -> None:
    """A notebook whose third cell does not parse, after `outputs` invalid outputs and
    `markdown` characters of markdown."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "m" * markdown},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [{"output_type": "stream", "text": 0} for _ in range(outputs)],
            "source": "import keras",
        },
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [],
         "source": "def broken(:"},
    ]  # fmt: skip
    doc = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(doc), encoding="utf-8")


def _build(submissions: Path, reference: Path) -> None:
    """The cases EXPECTED.toml marks `built`, made in `submissions` (`reference`: the
    reference solution's folder)."""
    (submissions / "linked_reference").symlink_to(reference, target_is_directory=True)
    (submissions / "linked_outside.py").symlink_to(Path(report.__file__).parent / "evaluate.py")
    (submissions / "link_inside").mkdir()
    (submissions / "link_inside" / "exam.ipynb").symlink_to(reference / "solution.ipynb")
    _syntax_error_notebook(submissions / "grades.csv.ipynb")
    (submissions / "summary.html").mkdir()
    _syntax_error_notebook(submissions / "summary.html" / "exam.ipynb")
    _syntax_error_notebook(submissions / "notebook_bomb.ipynb", outputs=80_000, markdown=3_000_000)
    values = ",".join(["{}"] * submission.MAX_JSON_VALUES)
    (submissions / "json_values.ipynb").write_text(
        '{"cells": [], "metadata": {"outputs": [' + values + "]}}", encoding="utf-8"
    )


def _corpus_spec(folder: Path) -> Path:
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay", folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    smoke = text.index("[budgets.smoke]")
    end = text.index("[budgets.default]")
    text = (
        text[:smoke] + "[budgets.smoke]\nmax_trials = 1\nmax_epochs = 1\ntrial_seconds = 30\n"
        "submission_seconds = 100\nkill_grace_seconds = 10\n\n" + text[end:]
    )
    toml.write_text(text, encoding="utf-8")
    return toml


@pytest.fixture(scope="module")
def listener() -> Iterator[None]:
    """The host-side listener the socket_loopback case tries to reach."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 47311))
    server.listen(5)
    yield
    server.close()


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory, listener: None) -> dict:
    base = tmp_path_factory.mktemp("corpus")
    spec = _corpus_spec(base / "spec")
    cache = tmp_path_factory.mktemp("cache")
    submissions = base / "submissions"
    shutil.copytree(CORPUS, submissions, ignore=shutil.ignore_patterns("EXPECTED.toml"))
    shutil.copytree(REFERENCE, submissions / "reference")
    _build(submissions, submissions / "reference")
    code = grade(
        [submissions],
        _settings(spec, cache),
        BatchOptions(out=base / "batch", echo=lambda line: None),
    )
    alone = grade(
        [REFERENCE],
        _settings(spec, cache),
        BatchOptions(out=base / "alone", echo=lambda line: None),
    )
    return {"batch": base / "batch", "alone": base / "alone", "code": code, "alone_code": alone}


def _result(folder: Path, sid: str) -> GradeResult:
    return report.read_result(folder / sid / "result.json")


BUILT = sorted(sid for sid, case in EXPECTED.items() if case.get("built"))


def test_the_built_cases_end_before_any_child_runs(tmp_path: Path) -> None:
    """The built cases alone, cheaply: each ends at discovery or loading with its verdict,
    the gradebook and the summary are files, and the batch exits 1."""
    cache = tmp_path / "cache"
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _build(submissions, REFERENCE)
    out = tmp_path / "out"
    lines: list[str] = []
    code = grade(
        [submissions],
        _settings(_corpus_spec(tmp_path / "spec"), cache),
        BatchOptions(out=out, echo=lines.append),
    )
    assert code == ExitCode.NOT_ALL_GRADED
    for sid in BUILT:
        result = _result(out, sid)
        assert result.status.value == EXPECTED[sid]["status"], (sid, result.message)
        assert EXPECTED[sid]["message"] in result.message, sid
        assert result.timings.get("child") is None, sid  # no child was started
    assert (out / report.GRADEBOOK_FILE).is_file() and (out / "summary.html").is_file()
    assert any(line.startswith(f"wrote {out / report.GRADEBOOK_FILE}, ") for line in lines)


def test_corpus_is_big_enough() -> None:
    assert len(EXPECTED) >= 20
    on_disk = {p.stem for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb")}
    assert on_disk == {sid for sid, case in EXPECTED.items() if not case.get("built")}


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_case_gets_its_verdict(corpus_run: dict, sid: str) -> None:
    expected = EXPECTED[sid]
    result = _result(corpus_run["batch"], sid)
    assert result.status.value == expected["status"], result.message
    failed = {c.id for c in result.checks if c.status.value == "failed"}
    assert set(expected.get("fail", [])) <= failed, [c.message for c in result.checks]
    skipped = {c.id for c in result.checks if c.status.value == "skipped"}
    assert set(expected.get("skip", [])) <= skipped, [c.message for c in result.checks]
    if "message" in expected:
        assert expected["message"] in result.message
    if "note" in expected:
        assert any(expected["note"] in note for note in result.notes)
    if "same_accuracy_as" in expected:
        twin = _result(corpus_run["batch"], expected["same_accuracy_as"])
        assert result.test_accuracy == twin.test_accuracy is not None
    if expected.get("has_accuracy"):
        assert result.test_accuracy is not None and result.test_accuracy > 0.2
    review = {c.id for c in result.checks if c.status.value == "needs_review"}
    assert set(expected.get("review", [])) <= review, [c.message for c in result.checks]
    if expected.get("no_accuracy"):
        assert result.test_accuracy is None
    if "training" in expected:
        assert result.training == expected["training"], result.notes
    # Whatever happened, the student is told something readable.
    if result.status.value != "graded":
        assert result.message and "Traceback" not in result.message


def test_the_batch_finishes_with_every_file_and_exit_code_1(corpus_run: dict) -> None:
    """Loading bombs, a named pipe for response.json, forged timings, formulas in a file
    name: the batch still ends, writes every report and says not all were graded."""
    out = corpus_run["batch"]
    assert corpus_run["code"] == ExitCode.NOT_ALL_GRADED
    for sid in [*EXPECTED, "reference"]:
        for name in (report.RESULT_FILE, "report.html", "report.md"):
            assert (out / sid / name).is_file(), (sid, name)
    assert (out / "summary.html").is_file() and (out / report.GRADEBOOK_FILE).is_file()


def test_no_output_holds_a_raw_control_character(corpus_run: dict) -> None:
    """control_chars' message quotes an OSC 52 clipboard write, erase-line and a fake
    verdict; every file a person or a program reads from the batch shows them escaped."""
    out = corpus_run["batch"]
    controls = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n", "\t"}
    files = [out / report.GRADEBOOK_FILE, out / "summary.html"]
    files += [*out.glob("*/report.md"), *out.glob("*/report.html")]
    for path in files:
        assert not set(path.read_text(encoding="utf-8")) & controls, path
    for path in out.glob("*/gradescope/results.json"):
        strings = json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False)
        assert not set(strings) & controls, path
    report_md = (out / "control_chars" / "report.md").read_text(encoding="utf-8")
    assert "\\x1b" in report_md and "\\x07" in report_md  # shown, escaped


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_grades_csv_has_no_formula_in_any_reading(corpus_run: dict, delimiter: str) -> None:
    """The file named csv;=HYPERLINK(...) and its output: text in every reading of the CSV."""
    path = corpus_run["batch"] / report.GRADEBOOK_FILE
    text = path.read_text(encoding="utf-8")
    assert "HYPERLINK" in text  # the payload is there, as text
    with path.open(encoding="utf-8", newline="") as fh:
        cells = [cell for row in csv.reader(fh, delimiter=delimiter) for cell in row]
    cells += [cell for line in text.splitlines() for cell in line.split(delimiter)]
    for cell in cells:
        assert not cell.lstrip(' "').startswith(FORMULA_STARTS), (delimiter, cell)


def test_reference_in_the_batch_is_graded_as_alone(corpus_run: dict) -> None:
    assert corpus_run["alone_code"] == ExitCode.OK
    in_batch = _result(corpus_run["batch"], "reference")
    alone = _result(corpus_run["alone"], "solution")
    assert in_batch.status.value == alone.status.value == "graded"
    assert in_batch.test_accuracy == alone.test_accuracy
    assert in_batch.score == alone.score
    assert [(c.id, c.status, c.points) for c in in_batch.checks] == [
        (c.id, c.status, c.points) for c in alone.checks
    ]


def test_no_case_left_traces_outside_its_sandbox(corpus_run: dict) -> None:
    package = Path(report.__file__).resolve().parent
    assert not (package / "pwned.txt").exists()
    assert not Path("/etc/pwned.txt").exists() and not Path("/usr/pwned.txt").exists()
    # The fake files a case wrote in its scratch folder never reached the reports.
    fake = _result(corpus_run["batch"], "fake_files")
    assert fake.score < fake.max_score
