"""Progress: the child's stage read from its response.json; plain lines; the live display."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from grader import progress
from grader.child.protocol import ProgressEvent, ProgressLine
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
    assert lines[0] == "[1/3] ana: graded 7/10 test 80.00 % (reused)"
    assert lines[1].startswith("[2/3] bea: graded 7/10 test 80.00 %, about ")
    assert lines[2] == "[3/3] eva: graded 7/10 test 80.00 %"


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


# --- Per-epoch progress from progress.jsonl, read through the boundary -------------------


def _progress(folder: Path, *lines: ProgressLine) -> Path:
    scratch = folder / "grader-ana-x1"
    scratch.mkdir(parents=True, exist_ok=True)
    with (scratch / "progress.jsonl").open("a", encoding="utf-8") as f:
        f.writelines(line.to_json() + "\n" for line in lines)
    return scratch


def _epoch(trial: int, epoch: int, value: float | None = 0.8512) -> ProgressLine:
    return ProgressLine(ProgressEvent.EPOCH_END, trial, 4, epoch, 1000, value)


def test_the_progress_line_round_trips() -> None:
    line = _epoch(2, 3)
    assert line.to_json() == (
        '{"event":"epoch_end","trial":2,"trials":4,"epoch":3,"epochs":1000,"val_accuracy":0.8512}'
    )
    assert ProgressLine.parse(line.to_json().encode()) == line
    assert json.loads(_epoch(1, 1, float("nan")).to_json())["val_accuracy"] is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1]",
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":1,"epochs":4}',  # a key missing
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":1,"epochs":4,"val_accuracy":null,'
        b'"seconds":3}',  # a key too many (a time the parent would never trust anyway)
        b'{"event":"epoch_end","trial":true,"trials":4,"epoch":1,"epochs":4,"val_accuracy":null}',
        b'{"event":"epoch_end","trial":0,"trials":4,"epoch":1,"epochs":4,"val_accuracy":null}',
        b'{"event":"epoch_end","trial":5,"trials":4,"epoch":1,"epochs":4,"val_accuracy":null}',
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":-1,"epochs":4,"val_accuracy":null}',
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":1,"epochs":4,"val_accuracy":1.5}',
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":1,"epochs":4,"val_accuracy":NaN}',
        b'{"event":"epoch_end","trial":1,"trials":4,"epoch":1,"epochs":4,"val_accuracy":"0.9"}',
        b'{"event":"finished","trial":1,"trials":4,"epoch":1,"epochs":4,"val_accuracy":null}',
        b'\xff{"event":"epoch_end"}',
    ],
)
def test_anything_but_a_progress_line_is_refused(raw: bytes) -> None:
    assert ProgressLine.parse(raw) is None


def test_plain_mode_prints_running_lines_at_most_every_few_seconds(tmp_path: Path) -> None:
    now = [1000.0]
    lines: list[str] = []
    shown = progress.PlainProgress(lines.append, max_trials=4, budget_seconds=1800, lang="en",
                                   every=10, heartbeat=60, clock=lambda: now[0])  # fmt: skip
    shown.begin(1)
    shown.expect(1)
    shown.started("ana", tmp_path)
    _progress(tmp_path, ProgressLine(ProgressEvent.TRIAL_START, 2, 4), _epoch(2, 3))
    shown.poll()
    assert lines == []  # nothing in the first 10 s
    now[0] += 10
    shown.poll()
    assert lines == [
        "[running] ana: trial 2/4, epoch 3/1000, val_accuracy 85.12 %, "
        "29 min 50 s left in the budget"
    ]
    # A 1000-epoch run writes a line per epoch: the terminal gets one every 10 s.
    for second in range(1, 31):
        _progress(tmp_path, *(_epoch(2, 3 + 30 * second + k) for k in range(30)))
        now[0] += 1
        shown.poll()
    assert len(lines) == 1 + 3
    assert lines[-1].startswith("[running] ana: trial 2/4, epoch 932/1000")
    # Nothing new: quiet until the heartbeat.
    now[0] += 30
    shown.poll()
    assert len(lines) == 4
    now[0] += 30
    shown.poll()
    assert len(lines) == 5 and "28 min 20 s left" in lines[-1]
    shown.finished(_result("ana"))
    now[0] += 100
    shown.poll()
    assert lines[-1].startswith("[1/1] ana: graded")
    shown.close()


def test_plain_lines_speak_the_spec_language(tmp_path: Path) -> None:
    now = [0.0]
    lines: list[str] = []
    shown = progress.PlainProgress(lines.append, max_trials=4, budget_seconds=600, lang="es",
                                   every=1, clock=lambda: now[0])  # fmt: skip
    shown.started("ana", tmp_path)
    _progress(tmp_path, ProgressLine(ProgressEvent.TRIAL_START, 1, 4), _epoch(1, 1, 0.5))
    now[0] += 5
    shown.poll()
    assert lines == ["[en curso] ana: trial 1/4, época 1/1000, val_accuracy 50,00 %, "
                     "quedan 9 min 55 s del presupuesto"]  # fmt: skip
    shown.close()


def test_rich_display_shows_epochs_and_time_left(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    shown = progress.RichProgress(max_trials=4, console=console, budget_seconds=1800)
    shown.begin(1)
    shown.expect(1)
    _progress(tmp_path, ProgressLine(ProgressEvent.TRIAL_START, 2, 4), _epoch(2, 3))
    shown.started("ana", tmp_path)
    shown.progress.refresh()
    shown.close()
    text = buffer.getvalue()
    assert "trial 2/4, epoch 3/1000, val_accuracy 85.12 %" in text
    assert "left in the budget" in text


def _blocks_not(call: Callable[..., Any], *args: Any) -> Any:
    """Run `call` in a thread; fail (instead of hanging the suite) if it blocks."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call(*args)), daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert box, f"{call.__name__} blocked"
    return box[0]


def test_hostile_child_files_neither_block_nor_mislead_the_display(tmp_path: Path) -> None:
    scratch = tmp_path / "grader-ana-x1"
    scratch.mkdir()
    os.mkfifo(scratch / "response.json")  # opening it for reading would wait for a writer
    os.mkfifo(scratch / "progress.jsonl")
    assert _blocks_not(progress.child_stage, tmp_path, 4) == "running"
    child = progress.RunningChild(tmp_path, max_trials=4, budget_seconds=None, lang="en")
    text = _blocks_not(child.text)
    assert text.startswith("progress refused: progress.jsonl is not a regular file")
    # A link to a file the child could not read itself is not followed either.
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"stage": "LEAKED", "trials": []}), encoding="utf-8")
    (scratch / "response.json").unlink()
    (scratch / "response.json").symlink_to(secret)
    assert progress.child_stage(tmp_path, 4) == "running"
