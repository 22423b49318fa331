"""What every command of `grade` shares: the command table, the options defined once
(`--assignment`/`--assignments-dir`, `--data-dir`/`--cache-dir`, `--lang`/`--lang-dir`, the
course file, the positive-number rule) and their help texts.

Apart from grader/cli/__init__.py, whose `main` dispatches to the commands, because the
commands import these: in one module they and the dispatcher would import each other.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import course as course_module
from grader.course import Course
from grader.errors import ExitCode

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
EXAM_CALIBRATION_TIME = "from 11 minutes to about an hour a seed, by the 2-core machine"

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
