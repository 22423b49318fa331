"""One submission of each hostile class in tests/corpus/ and the reference, in one batch.

Loading bombs (a notebook nested 5,000 levels deep, a 5,000-digit integer, a 1,500-term
constant expression), a child that leaves a named pipe as its response.json, a child that
forges negative timings, and a file whose name and output carry spreadsheet formulas. The
batch must finish with every file written and exit 1, grades.csv must hold no formula in
any reading of it, and the reference must get exactly the numbers it gets alone.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from test_corpus import CORPUS, REFERENCE, SUBSET, _corpus_spec

from grader import report
from grader.batch import grade
from grader.errors import ExitCode

HOSTILE = [
    "deep_notebook.ipynb",
    "huge_integer.py",
    "long_sum.py",
    "response_fifo.py",
    "negative_timing.py",
    'csv;=HYPERLINK("evil.example";"x").py',
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed"),
]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("hostile")
    spec = _corpus_spec(base / "spec")
    submissions = base / "submissions"
    submissions.mkdir()
    for name in HOSTILE:
        shutil.copy(CORPUS / name, submissions / name)
    shutil.copytree(REFERENCE, submissions / "reference")
    common = dict(
        assignment=spec,
        budget="smoke",
        cache_dir=tmp_path_factory.mktemp("cache"),
        subset=SUBSET,
        lang="en",
        jobs=1,
    )
    lines: list[str] = []
    code = grade(paths=[submissions], out=base / "batch", echo=lines.append, **common)
    alone = grade(paths=[REFERENCE], out=base / "alone", echo=lambda line: None, **common)
    return {"code": code, "alone_code": alone, "batch": base / "batch", "alone": base / "alone"}


def test_the_batch_finishes_with_every_file_and_exit_code_1(hostile_run: dict) -> None:
    out = hostile_run["batch"]
    assert hostile_run["code"] == ExitCode.NOT_ALL_GRADED
    for sid in [Path(name).stem for name in HOSTILE] + ["reference"]:
        for name in ("result.json", "report.html", "report.md"):
            assert (out / sid / name).is_file(), (sid, name)
    assert (out / "summary.html").is_file() and (out / "grades.csv").is_file()
    statuses = {sid: _read(out, sid)["status"] for sid in [Path(name).stem for name in HOSTILE]}
    assert statuses["deep_notebook"] == "rejected"
    assert all(statuses[s] == "error" for s in statuses if s != "deep_notebook"), statuses


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_grades_csv_has_no_formula_in_any_reading(hostile_run: dict, delimiter: str) -> None:
    path = hostile_run["batch"] / "grades.csv"
    text = path.read_text(encoding="utf-8")
    assert "HYPERLINK" in text  # the payload is there, as text
    with path.open(encoding="utf-8", newline="") as fh:
        cells = [cell for row in csv.reader(fh, delimiter=delimiter) for cell in row]
    cells += [cell for line in text.splitlines() for cell in line.split(delimiter)]
    for cell in cells:
        assert not cell.lstrip(' "').startswith(DANGEROUS), (delimiter, cell)


def test_the_reference_gets_the_numbers_it_gets_alone(hostile_run: dict) -> None:
    in_batch = _read(hostile_run["batch"], "reference")
    alone = _read(hostile_run["alone"], "solution")
    assert hostile_run["alone_code"] == ExitCode.OK
    assert in_batch["status"] == alone["status"] == "graded"
    assert in_batch["test_accuracy"] == alone["test_accuracy"] is not None
    assert in_batch["score"] == alone["score"]
    assert [(c["id"], c["status"], c["points"]) for c in in_batch["checks"]] == [
        (c["id"], c["status"], c["points"]) for c in alone["checks"]
    ]


def _read(out: Path, sid: str) -> dict:
    """result.json as validated data (a plain dict: what the reports were rendered from)."""
    data = json.loads((out / sid / "result.json").read_text(encoding="utf-8"))
    report.validate(data)
    return data
