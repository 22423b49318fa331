"""What the parent and the child say to each other: the request, the answer, their pieces.

Shared by both sides of the trust boundary. The parent writes `request.json` (its own
data, trusted); the child writes `response.json` and progress lines, which the parent
parses into typed values in `grader.boundary` and never trusts beyond that.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PROTOCOL = 1
REQUEST_LIMIT = 16 * 1024 * 1024
RESPONSE_NAME = "response.json"
PROGRESS_NAME = "progress.jsonl"


class TrialStatus(StrEnum):
    """Mirrors keras_tuner's TrialStatus, plus the grader's own stop."""

    COMPLETED = "completed"
    STOPPED = "stopped"  # cut by the grader's time limit; its epochs still count
    FAILED = "failed"  # the student's build/fit raised
    INVALID = "invalid"


@dataclass(frozen=True)
class CodeChunk:
    """One top-level statement the worker will run, with where it came from."""

    cell: int | None  # 1-based index among all cells; None for a .py file
    line: int  # 1-based line within the cell (or file) where the statement starts
    source: str  # the statement's exact text (decorators included)
    kind: str  # "import", "function", "class", "constant" or "block" (an if/try of those)


def filename_for(cell: int | None) -> str:
    """The pseudo file name code from `cell` is compiled under, so tracebacks name the cell."""
    return f"<cell {cell}>" if cell is not None else "<submission>"


def location_from_traceback(tb: Any) -> dict[str, int | None] | None:
    """The innermost frame in the student's code, as {cell, line}."""
    found = None
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith("<cell ") or frame.filename == "<submission>":
            cell = int(frame.filename[6:-1]) if frame.filename.startswith("<cell ") else None
            found = {"cell": cell, "line": frame.lineno}
    return found


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as the protocol's ERROR: {type, message, location}."""
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "location": location_from_traceback(exc.__traceback__),
    }
