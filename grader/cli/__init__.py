"""The `grade` command: `grade PATH...` grades a batch; `grade COMMAND ...` runs a tool.

Each command is a module of this package with `build_parser()` and `main(argv)`; a
command only parses its arguments and calls one keyword-only function elsewhere in
the package, then maps `GraderError`s to their exit codes. A submission path that is
spelt like a command is given as `./check`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from grader import terminal
from grader.cli.common import (  # the commands' shared options, importable from here too
    CACHE_DIR_HELP,
    CHOICE,
    COMMANDS,
    DATA_DIR_HELP,
    EXAM_CALIBRATION_TIME,
    LOOKUP,
    add_assignment_arguments,
    add_data_arguments,
    add_language_arguments,
    apply_course,
    apply_language,
    chosen_assignment,
    nonpositive,
)
from grader.errors import ExitCode, GraderError

__all__ = [
    "CACHE_DIR_HELP",
    "CHOICE",
    "COMMANDS",
    "DATA_DIR_HELP",
    "EXAM_CALIBRATION_TIME",
    "LOOKUP",
    "add_assignment_arguments",
    "add_data_arguments",
    "add_language_arguments",
    "apply_course",
    "apply_language",
    "chosen_assignment",
    "main",
    "nonpositive",
]


def main(argv: Sequence[str] | None = None) -> int:
    # TensorFlow's start-up chatter (wherever a grader process imports it) would bury our
    # output. Only the `grade` process itself (argv None) filters its descriptor 2: a test
    # calling main([...]) keeps its own stderr untouched.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if argv is None:
        terminal.quiet_native_logs()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        command, args = importlib.import_module(f"grader.cli.{COMMANDS[args[0]][0]}"), args[1:]
    else:
        from grader.cli import grade as command
    # Every command's errors end the same way: one line on stderr and the error's code.
    try:
        return int(command.main(args))
    except GraderError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
