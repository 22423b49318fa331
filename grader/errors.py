"""One error root for the grader.

Two families, as in keras-tuner: a `SubmissionError` ends one submission (it becomes
a result with a status and a message, and the batch goes on); a `FatalError` ends the
run (bad usage, broken spec, missing data) with an exit code. Every error knows how to
show itself in one line, as click's exceptions do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of `grade` (documented in `grade --help`)."""

    OK = 0  # every submission graded
    NOT_ALL_GRADED = 1  # some submission ended as error/timeout/resource_limit/rejected
    USAGE = 2  # bad arguments, unknown budget or assignment, broken spec, missing data
    # `grade validate`: the reference lost points, or an example's verdict is not the one
    # its EXPECTED.toml gives (the assignment is not ready to grade a class).
    NOT_VALID = 3
    INTERRUPTED = 130


class GraderError(Exception):
    """Root of every error the grader raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def format(self) -> str:
        """One line for the terminal: what is wrong, then how to fix it."""
        text = f"error: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class FatalError(GraderError):
    """Abort the whole run: nothing can be graded until the cause is fixed."""


class UsageError(FatalError):
    """The command line asks for something that does not exist or cannot work."""


class SpecError(FatalError):
    """The assignment spec is missing, malformed or names an unknown key."""


class DataError(FatalError):
    """The dataset is missing, corrupt or cannot be decoded."""


class SubmissionError(GraderError):
    """This submission cannot be graded (the batch goes on).

    `status` is the result status it turns into (see `grader.results.Status`).
    """

    exit_code = ExitCode.NOT_ALL_GRADED

    def __init__(self, message: str, *, status: str = "error", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
