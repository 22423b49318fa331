"""Progress of a batch: a live rich display on a terminal, plain lines anywhere else.

Both show done/total and an estimate of the time left, and for each running submission
its trial i/N, epoch j/M, the last val_accuracy and the time left in its budget (so a
30-minute exam grade is never silent). That comes from the child's progress lines
(`<scratch>/progress.jsonl`, grader/child/protocol.py) and, before the search, from the
stage in its `response.json`; both are the child's files, so they are read only through
grader/boundary/door.py (no link followed, a pipe never blocks, size capped), incrementally.
Under CI (`$CI` set), when stdout is not a terminal, or when the caller collects the lines
itself, the plain form is used: one line per finished submission, as always, plus one
line per running submission at most every PLAIN_EVERY seconds when it has moved on.
"""

from __future__ import annotations

import json
import os
import sys
import threading
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

from grader import i18n
from grader.boundary import HostileFile, read_child_file
from grader.child.protocol import RESPONSE_NAME
from grader.limits import ProgressReader, ProgressRefused
from grader.printable import printable
from grader.results import GradeResult

Echo = Callable[[str], None]
STATUS_LIMIT = 1024 * 1024  # a response.json bigger than this is not worth parsing for a label
PLAIN_EVERY = 10.0  # seconds between two plain lines about the same running submission
PLAIN_HEARTBEAT = 60.0  # ... and a line at least this often while it shows no progress

# The terminal's words: the [progress] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("progress")


class BatchProgress(Protocol):
    """begin(total) -> finished(..., how="rejected"/"reused")... -> expect(to_grade) ->
    started/finished(...) per graded submission -> close()."""

    def begin(self, total: int) -> None: ...

    def expect(self, to_grade: int) -> None: ...

    def started(self, sid: str, scratch: Path | None) -> None: ...

    def finished(self, result: GradeResult, *, how: str = "graded") -> None: ...

    def say(self, text: str) -> None: ...

    def close(self) -> None: ...


def result_line(
    result: GradeResult, done: int, total: int, suffix: str = "", lang: str = "en"
) -> str:
    acc = ""
    if result.test_accuracy is not None:
        acc = MESSAGES["test"][lang].format(accuracy=i18n.percent(result.test_accuracy, lang))
    message = f" - {result.message.splitlines()[0][:160]}" if result.message else ""
    status = i18n.text(f"progress.statuses.{result.status.value}", lang)
    return (
        f"[{done}/{total}] {result.id}: {status} "
        f"{i18n.number(result.score, lang)}/{i18n.number(result.max_score, lang)}"
        f"{acc}{message}{suffix}"
    )


def _child_scratch(folder: Path) -> Path | None:
    """The child's scratch folder `grade_one` made in `folder` (the batch's own folder)."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("grader-") and entry.is_dir(follow_symlinks=False):
                    return Path(entry.path)
    except OSError:
        return None
    return None


def child_stage(scratch: Path | None, max_trials: int, lang: str = "en") -> str:
    """What the child in `scratch` is doing: "starting", "probe", "trial 2/4"...

    From its response.json, read through the boundary (a link, a pipe or an oversized
    file is never opened for reading; the label then says "running").
    """
    if scratch is None:
        return ""
    starting, running = MESSAGES["starting"][lang], MESSAGES["busy"][lang]
    child = _child_scratch(scratch)
    if child is None:
        return starting
    try:
        answer = json.loads(read_child_file(child, RESPONSE_NAME, limit=STATUS_LIMIT))
    except HostileFile:
        return running
    except (OSError, ValueError):
        return starting  # not written yet, or being replaced right now
    if not isinstance(answer, dict):
        return running
    trials = len(answer.get("trials") or [])
    if answer.get("stage") == "search":
        return MESSAGES["trial"][lang].format(trial=min(trials + 1, max_trials), trials=max_trials)
    stage = str(answer.get("stage") or "")[:40]
    if not stage:
        return starting
    # The child's own word for its stage is shown as it is unless the catalog names it.
    stages = i18n.table("progress.stages", lang)
    return stages.get(stage, stage)


class RunningChild:
    """What one running submission's child is doing, as one short line of text.

    Its progress lines are read incrementally (`grader.limits.ProgressReader`); the time
    left is the parent's own clock against the budget's submission_seconds.
    """

    def __init__(
        self,
        folder: Path | None,
        *,
        max_trials: int,
        budget_seconds: float | None,
        lang: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder, self.max_trials, self.budget_seconds = folder, max_trials, budget_seconds
        self.lang, self.clock = lang, clock
        self.started = clock()
        self.reader: ProgressReader | None = None
        self.refused: str | None = None

    def poll(self) -> int:
        """Read new progress lines; returns how many lines were read so far in all."""
        if self.folder is None or self.refused is not None:
            return 0 if self.reader is None else self.reader.lines_read
        if self.reader is None:
            child = _child_scratch(self.folder)
            if child is None:
                return 0
            self.reader = ProgressReader(child)
        try:
            while self.reader.read():  # catch up, a bounded chunk at a time
                pass
        except ProgressRefused as exc:
            self.refused = exc.refusal.text(self.lang)
        except OSError:
            pass  # its scratch folder is being removed: the result comes next
        return self.reader.lines_read

    def text(self) -> str:
        self.poll()
        lang = self.lang
        if self.refused is not None:
            parts = [MESSAGES["refused"][lang].format(reason=self.refused)]
        elif self.reader is not None and self.reader.latest is not None:
            line = self.reader.latest
            parts = [MESSAGES["trial"][lang].format(trial=line.trial, trials=line.trials)]
            if line.epoch:
                parts.append(MESSAGES["epoch"][lang].format(epoch=line.epoch, epochs=line.epochs))
            if line.val_accuracy is not None:
                value = i18n.percent(line.val_accuracy, lang)
                parts.append(MESSAGES["val"][lang].format(value=value))
        else:
            parts = [child_stage(self.folder, self.max_trials, lang)]
        if self.budget_seconds is not None:
            left = max(0, round(self.budget_seconds - (self.clock() - self.started)))
            parts.append(MESSAGES["left"][lang].format(minutes=left // 60, seconds=left % 60))
        return ", ".join(part for part in parts if part)


class _Eta:
    """Time left from the mean duration of the submissions graded in this run."""

    def __init__(self, lang: str = "en") -> None:
        self.start = time.monotonic()
        self.graded = 0
        self.lang = lang

    def text(self, remaining: int) -> str:
        if not self.graded or not remaining:
            return ""
        # Throughput so far (parallel jobs included) times what is left.
        seconds = round((time.monotonic() - self.start) / self.graded * remaining)
        return MESSAGES["eta"][self.lang].format(minutes=seconds // 60, seconds=seconds % 60)


class PlainProgress:
    """One line per finished submission (the batch's classic output), with the time left,
    and now and then a line per running submission (`poll`, from a background thread)."""

    def __init__(
        self,
        echo: Echo,
        *,
        max_trials: int = 0,
        budget_seconds: float | None = None,
        lang: str = "en",
        every: float = PLAIN_EVERY,
        heartbeat: float = PLAIN_HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Ids, messages and the child's stage are the student's text: the one sanitiser
        # (grader/printable.py) stands between every line and the terminal.
        self.echo: Echo = lambda line: echo(printable(line))
        self.total = self.done = self.left = 0
        self.eta = _Eta(lang)
        self.max_trials, self.budget_seconds, self.lang = max_trials, budget_seconds, lang
        self.every, self.heartbeat, self.clock = every, heartbeat, clock
        # sid -> (the child, lines read when last shown, when last shown)
        self.running: dict[str, tuple[RunningChild, int, float]] = {}
        self._lock = threading.Lock()  # echo is called from the poller thread too
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """Print a line for each running submission that moved on (or went quiet too long),
        at most one per `every` seconds each."""
        with self._lock:
            now = self.clock()
            for sid, (child, shown_lines, shown_at) in list(self.running.items()):
                if now - shown_at < self.every:
                    continue
                lines = child.poll()
                if lines == shown_lines and now - shown_at < self.heartbeat:
                    continue
                status = child.text()
                self.echo(MESSAGES["running"][self.lang].format(sid=sid, status=status))
                self.running[sid] = (child, lines, now)

    def _poll_forever(self) -> None:
        while not self._stop.wait(1.0):
            self.poll()

    def begin(self, total: int) -> None:
        self.total = total

    def expect(self, to_grade: int) -> None:
        self.left = to_grade
        self.eta = _Eta(self.lang)

    def started(self, sid: str, scratch: Path | None) -> None:
        if scratch is None:
            return
        child = RunningChild(
            scratch,
            max_trials=self.max_trials,
            budget_seconds=self.budget_seconds,
            lang=self.lang,
            clock=self.clock,
        )
        with self._lock:
            # "Last shown" is its start: the first line comes `every` seconds in, not at once.
            self.running[sid] = (child, 0, self.clock())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._poll_forever, name="grader-progress", daemon=True
                )
                self._thread.start()

    def finished(self, result: GradeResult, *, how: str = "graded") -> None:
        with self._lock:
            self.running.pop(result.id, None)
            self.done += 1
            suffix = MESSAGES["reused"][self.lang] if how == "reused" else ""
            if how == "graded":
                self.left -= 1
                self.eta.graded += 1
                suffix = self.eta.text(self.left)
            self.echo(result_line(result, self.done, self.total, suffix, self.lang))

    def say(self, text: str) -> None:
        with self._lock:
            self.echo(text)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _StageColumn(ProgressColumn):
    """The running submission's stage, read when the display refreshes."""

    def __init__(self, stage: Callable[[Task], str]) -> None:
        super().__init__()
        self.stage = stage

    def render(self, task: Task) -> Text:
        return Text(printable(self.stage(task)), style="cyan")


class RichProgress:
    """A live display: the batch bar (done/total, elapsed, time left) and one line per job."""

    def __init__(
        self,
        max_trials: int,
        console: Console | None = None,
        *,
        budget_seconds: float | None = None,
        lang: str = "en",
    ) -> None:
        self.max_trials, self.budget_seconds, self.lang = max_trials, budget_seconds, lang
        self.console = console or Console()
        self.progress = Progress(
            # Not markup: a description is an id, and `[` in a file name is not a style.
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            _StageColumn(self._stage),
            console=self.console,
            refresh_per_second=2,
        )
        self.children: dict[int, RunningChild] = {}
        self.running: dict[str, int] = {}
        self.batch = self.progress.add_task("batch", total=None)
        self.total = self.done = 0

    def _stage(self, task: Task) -> str:
        child = self.children.get(task.id)
        return "" if child is None else child.text()

    def begin(self, total: int) -> None:
        self.total = total
        self.progress.start()

    def expect(self, to_grade: int) -> None:
        # Only submissions graded now count for the estimate: reused ones take no time.
        self.progress.update(self.batch, total=to_grade, description=MESSAGES["grading"][self.lang])

    def started(self, sid: str, scratch: Path | None) -> None:
        task = self.progress.add_task(f"  {printable(sid)}", total=None)
        self.children[task] = RunningChild(
            scratch,
            max_trials=self.max_trials,
            budget_seconds=self.budget_seconds,
            lang=self.lang,
        )
        self.running[sid] = task

    def finished(self, result: GradeResult, *, how: str = "graded") -> None:
        self.done += 1
        if how == "graded":
            self.progress.advance(self.batch)
        task = self.running.pop(result.id, None)
        if task is not None:
            self.progress.remove_task(task)
            self.children.pop(task, None)
        suffix = MESSAGES["reused"][self.lang] if how == "reused" else ""
        self.progress.console.print(
            printable(result_line(result, self.done, self.total, suffix, self.lang)),
            markup=False,
            highlight=False,
        )

    def say(self, text: str) -> None:
        self.progress.console.print(printable(text), markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def choose(
    mode: str,
    *,
    echo: Echo,
    max_trials: int,
    budget_seconds: float | None = None,
    lang: str = "en",
) -> BatchProgress:
    """`mode` "rich", "plain" or "auto" (rich only on a terminal, outside CI, printing).

    `budget_seconds` (the budget's submission_seconds) lets both show the time left.
    """
    if mode == "rich" or (mode == "auto" and _interactive(echo)):
        return RichProgress(max_trials, budget_seconds=budget_seconds, lang=lang)
    return PlainProgress(echo, max_trials=max_trials, budget_seconds=budget_seconds, lang=lang)


def _interactive(echo: Echo) -> bool:
    return echo is print and sys.stdout.isatty() and not os.environ.get("CI")
