"""Progress: the child's stage read from its response.json; plain lines; the live display."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from grader import progress
from grader.results import GradeResult, Status


def _result(sid: str) -> GradeResult:
    return GradeResult(id=sid, sha256="", assignment="a", budget="smoke", status=Status.GRADED,
                       score=7.0, max_score=10.0, test_accuracy=0.8)  # fmt: skip


def _answer(folder: Path, stage: str, trials: int) -> None:
    scratch = folder / "grader-ana-x1"
    scratch.mkdir(parents=True, exist_ok=True)
    body = {"stage": stage, "trials": [{}] * trials}
    (scratch / "response.json").write_text(json.dumps(body), encoding="utf-8")


def test_child_stage_follows_the_response_file(tmp_path: Path) -> None:
    assert progress.child_stage(None, 4) == ""
    assert progress.child_stage(tmp_path, 4) == "starting"
    _answer(tmp_path, "probe", 0)
    assert progress.child_stage(tmp_path, 4) == "probe"
    _answer(tmp_path, "search", 0)
    assert progress.child_stage(tmp_path, 4) == "trial 1/4"
    _answer(tmp_path, "search", 2)
    assert progress.child_stage(tmp_path, 4) == "trial 3/4"
    (tmp_path / "grader-ana-x1" / "response.json").write_text("{half", encoding="utf-8")
    assert progress.child_stage(tmp_path, 4) == "starting"


def test_plain_lines_count_reused_and_graded() -> None:
    lines: list[str] = []
    shown = progress.PlainProgress(lines.append)
    shown.begin(3)
    shown.finished(_result("ana"), how="reused")
    shown.expect(2)
    shown.finished(_result("bea"))
    shown.finished(_result("eva"))
    assert lines[0] == "[1/3] ana: graded 7/10 test 80.00% (reused)"
    assert lines[1].startswith("[2/3] bea: graded 7/10 test 80.00%, about ")
    assert lines[2] == "[3/3] eva: graded 7/10 test 80.00%"


def test_rich_display_shows_the_running_trial(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    shown = progress.RichProgress(max_trials=2, console=console)
    shown.begin(1)
    shown.expect(1)
    _answer(tmp_path, "search", 1)
    shown.started("ana", tmp_path)
    shown.progress.refresh()
    shown.finished(_result("ana"))
    shown.close()
    text = buffer.getvalue()
    assert "trial 2/2" in text and "ana" in text
    assert "[1/1] ana: graded 7/10" in text


def test_auto_is_plain_when_lines_are_collected() -> None:
    chosen = progress.choose("auto", echo=[].append, max_trials=2)
    assert isinstance(chosen, progress.PlainProgress)
