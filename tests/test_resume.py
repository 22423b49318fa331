"""A batch killed with SIGKILL resumes without losing or repeating a result; re-runs reuse.

Four copies of a fast submission (the misnamed class: probed, never trained) graded with
the smoke budget on a subset; the first run is a real `python -m grader` process killed
with SIGKILL as soon as its first result is in the store.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import gradescope, report
from grader.batch import BatchOptions, grade
from grader.errors import ExitCode
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, prepare
from grader.store import STORE_FILE

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "submissions" / "no_hypermodel.ipynb"
IDS = ["s1", "s2", "s3", "s4"]


def _settings(cache: Path) -> RunSettings:
    """The exam under the smoke budget on 2000 images, its data cached in `cache`."""
    source = Source("fashion-mnist-polynomial-decay", "smoke", cache_dir=cache)
    return prepare(choose(source), sandbox=resolve(no_sandbox=False), subset=2000)


def _rows(out: Path) -> dict[str, tuple[str, ...]]:
    """submission id -> its latest store row (read-only: the grader may be writing)."""
    if not (out / STORE_FILE).exists():
        return {}
    with sqlite3.connect(f"file:{out / STORE_FILE}?mode=ro", uri=True) as db:
        try:
            query = "SELECT submission_id, sha256, graded_at, result FROM results ORDER BY rowid"
            found = db.execute(query).fetchall()
        except sqlite3.OperationalError:  # the table is being created right now
            return {}
    versions = [(row[0], row[1]) for row in found]
    assert len(versions) == len(set(versions)), f"a submission is in the store twice: {versions}"
    return {row[0]: tuple(row[1:]) for row in found}  # the latest version of each


def _kill_after_first_result(folder: Path, out: Path, cache: Path) -> None:
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out)]
    command += ["--assignment", "fashion-mnist-polynomial-decay"]
    command += ["--cache-dir", str(cache), "--budget", "smoke", "--subset", "2000"]
    command += ["--jobs", "1", "--progress", "plain"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not _rows(out):
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no result landed in the store in time"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def _check_consistent(out: Path) -> None:
    """Store, grades.csv, result.json, reports and Gradescope files all say the same."""
    rows = _rows(out)
    assert sorted(rows) == IDS
    with open(out / report.GRADEBOOK_FILE, encoding="utf-8", newline="") as f:
        gradebook = {row["id"]: row for row in csv.DictReader(f)}
    assert sorted(gradebook) == IDS
    for sid, (_, _, text) in rows.items():
        folder = out / sid
        assert (folder / report.RESULT_FILE).read_text(encoding="utf-8") == text
        result = report.read_result(folder / report.RESULT_FILE)
        assert float(gradebook[sid]["score"]) == result.score
        for name in [*report.REPORT_TEMPLATES, f"{gradescope.FOLDER}/{gradescope.RESULTS_FILE}"]:
            assert (folder / name).stat().st_size > 0


@pytest.mark.slow
def test_killed_batch_resumes_exactly_once_and_reruns_reuse(tmp_path: Path) -> None:
    folder, out, cache = tmp_path / "class", tmp_path / "out", tmp_path / "cache"
    folder.mkdir()
    for sid in IDS:
        shutil.copy(SOURCE, folder / f"{sid}.ipynb")

    _kill_after_first_result(folder, out, cache)
    before = _rows(out)
    assert 1 <= len(before) < len(IDS), "the kill must land in the middle of the batch"

    lines: list[str] = []
    code = grade(
        [folder],
        _settings(cache),
        BatchOptions(out=out, echo=lines.append, jobs=1, progress="plain"),
    )
    assert code == ExitCode.OK
    console = "\n".join(lines)
    # The terminal speaks the spec's language (Spanish) when --lang is not given.
    assert f"reutilizados {len(before)} resultado(s) guardado(s)" in console
    assert f"se corrigen {len(IDS) - len(before)}" in console
    after = _rows(out)
    for sid, row in before.items():
        assert after[sid] == row, f"{sid} was graded again"
        assert f"{sid}: corregida" in console and "(reutilizado)" in console
    _check_consistent(out)

    # Unchanged folder: everything reused (no child started: the rows are the same ones).
    lines.clear()
    grade(
        [folder],
        _settings(cache),
        BatchOptions(out=out, echo=lines.append, jobs=1, progress="plain"),
    )
    assert f"reutilizados {len(IDS)} resultado(s)" in "\n".join(lines)
    assert "se corrigen 0" in "\n".join(lines)
    assert _rows(out) == after

    # One student resubmits: only that one is graded; the old row stays as history.
    with open(folder / "s2.ipynb", "a", encoding="utf-8") as f:
        f.write("\n")
    # Someone deleted a report: it is rewritten from the store, not graded again.
    (out / "s3" / "report.html").unlink()
    lines.clear()
    grade(
        [folder],
        _settings(cache),
        BatchOptions(out=out, echo=lines.append, jobs=1, progress="plain"),
    )
    console = "\n".join(lines)
    assert "reutilizados 3 resultado(s)" in console and "se corrigen 1" in console
    final = _rows(out)
    assert final["s2"][0] != after["s2"][0]
    assert {k: v for k, v in final.items() if k != "s2"} == {
        k: v for k, v in after.items() if k != "s2"
    }
    with sqlite3.connect(out / STORE_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == len(IDS) + 1
    _check_consistent(out)
