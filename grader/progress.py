"""Progress of a batch: a live rich display on a terminal, plain lines anywhere else.

Both show done/total and an estimate of the time left; the live display also shows each
running submission's stage and trial, read from the file its child rewrites after the probe
and after every trial (`<scratch>/response.json`, see grader/worker.py). Under CI (`$CI`
set), when stdout is not a terminal, or when the caller collects the lines itself, the
plain form is used: one line per finished submission, the same lines as always.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from grader.results import GradeResult

Echo = Callable[[str], None]
STATUS_LIMIT = 1024 * 1024  # a response.json bigger than this is not worth parsing for a label


class BatchProgress(Protocol):
    """begin(total) -> finished(..., how="rejected"/"reused")... -> expect(to_grade) ->
    started/finished(...) per graded submission -> close()."""

    def begin(self, total: int) -> None: ...

    def expect(self, to_grade: int) -> None: ...

    def started(self, sid: str, scratch: Path | None) -> None: ...

    def finished(self, result: GradeResult, *, how: str = "graded") -> None: ...

    def say(self, text: str) -> None: ...

    def close(self) -> None: ...


def result_line(result: GradeResult, done: int, total: int, suffix: str = "") -> str:
    acc = f" test {100 * result.test_accuracy:.2f}%" if result.test_accuracy is not None else ""
    message = f" - {result.message.splitlines()[0][:160]}" if result.message else ""
    return (
        f"[{done}/{total}] {result.id}: {result.status.value} "
        f"{result.score:g}/{result.max_score:g}{acc}{message}{suffix}"
    )


def child_stage(scratch: Path | None, max_trials: int) -> str:
    """What the child in `scratch` is doing: "starting", "probe", "trial 2/4"..."""
    if scratch is None:
        return ""
    for response in scratch.glob("grader-*/response.json"):
        try:
            if response.stat().st_size > STATUS_LIMIT:
                return "running"
            answer = json.loads(response.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "starting"  # not written yet, or being replaced right now
        trials = len(answer.get("trials") or [])
        if answer.get("stage") == "search":
            return f"trial {min(trials + 1, max_trials)}/{max_trials}"
        return str(answer.get("stage") or "starting")
    return "starting"


class _Eta:
    """Time left from the mean duration of the submissions graded in this run."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.graded = 0

    def text(self, remaining: int) -> str:
        if not self.graded or not remaining:
            return ""
        # Throughput so far (parallel jobs included) times what is left.
        seconds = round((time.monotonic() - self.start) / self.graded * remaining)
        return f", about {seconds // 60} min {seconds % 60:02d} s left"


class PlainProgress:
    """One line per finished submission (the batch's classic output), with the time left."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.total = self.done = self.left = 0
        self.eta = _Eta()

    def begin(self, total: int) -> None:
        self.total = total

    def expect(self, to_grade: int) -> None:
        self.left = to_grade
        self.eta = _Eta()

    def started(self, sid: str, scratch: Path | None) -> None:
        return None

    def finished(self, result: GradeResult, *, how: str = "graded") -> None:
        self.done += 1
        suffix = " (reused)" if how == "reused" else ""
        if how == "graded":
            self.left -= 1
            self.eta.graded += 1
            suffix = self.eta.text(self.left)
        self.echo(result_line(result, self.done, self.total, suffix))

    def say(self, text: str) -> None:
        self.echo(text)

    def close(self) -> None:
        return None


class _StageColumn(ProgressColumn):
    """The running submission's stage, read when the display refreshes."""

    def __init__(self, stage: Callable[[Task], str]) -> None:
        super().__init__()
        self.stage = stage

    def render(self, task: Task) -> Text:
        return Text(self.stage(task), style="cyan")


class RichProgress:
    """A live display: the batch bar (done/total, elapsed, time left) and one line per job."""

    def __init__(self, max_trials: int, console: Console | None = None) -> None:
        self.max_trials = max_trials
        self.console = console or Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            _StageColumn(self._stage),
            console=self.console,
            refresh_per_second=2,
        )
        self.scratch: dict[int, Path | None] = {}
        self.running: dict[str, int] = {}
        self.batch = self.progress.add_task("batch", total=None)
        self.total = self.done = 0

    def _stage(self, task: Task) -> str:
        if task.id == self.batch:
            return ""
        return child_stage(self.scratch.get(task.id), self.max_trials)

    def begin(self, total: int) -> None:
        self.total = total
        self.progress.start()

    def expect(self, to_grade: int) -> None:
        # Only submissions graded now count for the estimate: reused ones take no time.
        self.progress.update(self.batch, total=to_grade, description="grading")

    def started(self, sid: str, scratch: Path | None) -> None:
        task = self.progress.add_task(f"  {sid}", total=None)
        self.scratch[task] = scratch
        self.running[sid] = task

    def finished(self, result: GradeResult, *, how: str = "graded") -> None:
        self.done += 1
        if how == "graded":
            self.progress.advance(self.batch)
        task = self.running.pop(result.id, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.console.print(
            result_line(result, self.done, self.total, " (reused)" if how == "reused" else ""),
            markup=False,
            highlight=False,
        )

    def say(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def choose(mode: str, *, echo: Echo, max_trials: int) -> BatchProgress:
    """`mode` "rich", "plain" or "auto" (rich only on a terminal, outside CI, printing)."""
    if mode == "rich" or (mode == "auto" and _interactive(echo)):
        return RichProgress(max_trials)
    return PlainProgress(echo)


def _interactive(echo: Echo) -> bool:
    return echo is print and sys.stdout.isatty() and not os.environ.get("CI")
