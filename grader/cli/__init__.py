"""The `grade` command: `grade PATH...` grades a batch; `grade COMMAND ...` runs a tool.

Each command is a module of this package with `build_parser()` and `main(argv)`; a
command only parses its arguments and calls one keyword-only function elsewhere in
the package, then maps `GraderError`s to their exit codes. A submission path that is
spelt like a command is given as `./check`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import course as course_module
from grader import terminal
from grader.course import Course
from grader.errors import ExitCode, GraderError

# name -> (module under grader.cli, one-line help). Batch grading is the default.
COMMANDS: dict[str, tuple[str, str]] = {
    "calibrate": ("calibrate", "grade the reference over several seeds under a budget"),
    "gradescope-package": ("gradescope_package", "build autograder.zip for Gradescope"),
    "check": ("check", "self-check one notebook before submitting: quick, visible checks only"),
    "validate": (
        "validate",
        "check a new assignment: its spec, its reference (full marks under smoke), examples/",
    ),
}

# Where an assignment id is looked up; the same words in every command's --help.
LOOKUP = (
    "an id is looked up in --assignments-dir, then ./assignments in the current folder, then "
    "the assignments shipped with the grader (the first that has it wins)"
)
# How long the exam budget's calibration takes: one figure for every help text and the
# README (tests/test_cli.py checks both say it), measured in bench/RESULTS.md.
EXAM_CALIBRATION_TIME = "about an hour a seed on a 2-core machine"

# Which assignment runs when --assignment is not given; the same words everywhere.
CHOICE = (
    "default: the assignment of a grade.toml beside the submissions or in the current "
    "folder, else the one a single submissions folder is named after, else the only one "
    "there is"
)


def add_assignment_arguments(parser: argparse.ArgumentParser, *, default: str = CHOICE) -> None:
    """--assignment and --assignments-dir, as every command takes them."""
    parser.add_argument(
        "--assignment",
        metavar="ID|DIR|TOML",
        help=f"assignment id, its folder, or its assignment.toml; {LOOKUP} ({default})",
    )
    parser.add_argument(
        "--assignments-dir",
        type=Path,
        metavar="DIR",
        help="a folder of assignments (<id>/assignment.toml each), searched before "
        "./assignments and the shipped ones",
    )


DATA_DIR_HELP = (
    "folder with the assignment's dataset files as published (Fashion-MNIST's four .gz, "
    "mnist.npz, cifar-10-python.tar.gz; default: $FASHION_MNIST_DIR for Fashion-MNIST, "
    "Debian's /usr/share/datasets, the Keras cache, then Keras' own download)"
)
CACHE_DIR_HELP = "where decoded datasets are cached (default: $GRADER_CACHE or ~/.cache/grader)"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --cache-dir, with the same help in every command."""
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help=CACHE_DIR_HELP)


def add_language_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """--lang (any language with a catalog, checked once --lang-dir is applied) and --lang-dir."""
    parser.add_argument(
        "--lang",
        metavar="CODE",
        help=f"language of {what}: es, en, or any language with a catalog in --lang-dir "
        "(default: grade.toml's lang, else the spec's language)",
    )
    parser.add_argument(
        "--lang-dir",
        type=Path,
        metavar="DIR",
        help="extra folder of language catalogs (<code>.toml, like grader/i18n/en.toml); "
        "a new file adds a language, a shipped language's name rewords its texts "
        "(also $GRADER_LANG_DIR)",
    )


def apply_language(args: argparse.Namespace) -> None:
    """Read --lang-dir before the spec (it may name the language) and refuse an unknown
    --lang before anything is graded (UsageError naming the catalogs there are)."""
    from grader import i18n

    if args.lang_dir is not None:
        i18n.use_lang_dir(args.lang_dir)
    if args.lang is not None:
        i18n.require(args.lang)


# What the number counts, for the error line (options not named here count megabytes etc.,
# and their flag says so).
_COUNTS = {
    "subset": "of training images (the first N of the training split)",
    "jobs": "of submissions graded at once",
    "seeds": "of seeds",
}


def nonpositive(
    args: argparse.Namespace, *names: str, flags: dict[str, str] | None = None
) -> int | None:
    """ExitCode.USAGE, after one line on stderr, if an option among `names` (argparse dests;
    `flags` maps a dest to its flag where they differ) is given and not a positive number;
    None when all are fine."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value <= 0:
            flag = (flags or {}).get(name) or "--" + name.replace("_", "-")
            counts = f" {_COUNTS[name]}" if name in _COUNTS else ""
            print(f"error: {flag} must be a positive number{counts}, not {value}", file=sys.stderr)
            return ExitCode.USAGE
    return None


def apply_course(
    args: argparse.Namespace, paths: Sequence[Path] = (), *, keys: Sequence[str] = ()
) -> Course:
    """The run's course file (grader.course), its `keys` (lang, budget, out) filled into
    `args` where no flag gave them; returned for `chosen_assignment`."""
    found = course_module.find(paths)
    for key in keys:
        if getattr(args, key, None) is None:
            setattr(args, key, getattr(found, key))
    return found


def chosen_assignment(
    args: argparse.Namespace, paths: Sequence[Path] = (), course: Course | None = None
) -> Path:
    """The assignment.toml of this run (UsageError if none can be told): --assignment, else
    the course file's, else the one a single submissions folder in `paths` is named after,
    else the only assignment of the first folder of assignments that has any.

    Resolved here, once, so the library below receives a path and never guesses folders.
    """
    from grader import spec

    search = spec.roots(args.assignments_dir)
    named = args.assignment or (course.assignment if course is not None else None)
    if named is None:
        named = course_module.named_by_folder(paths, list(spec.available(search)))
    return spec.resolve(named, search)


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
