"""`grade gradescope-package`: build Gradescope's autograder.zip (grader.autograder)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from grader import report
from grader.cli.common import add_assignment_arguments, apply_course, chosen_assignment
from grader.errors import ExitCode

EPILOG = """\
exit codes:
  0    autograder.zip was written
  2    usage error: unknown assignment or budget, broken spec; with --include-data, the
       dataset's files are missing or do not match their SHA-256
  130  interrupted (no zip is left half written)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade gradescope-package",
        description="Build autograder.zip for a Gradescope programming assignment: setup.sh "
        "installs the grader, run_autograder grades /autograder/submission (one student's "
        "notebook or script) and writes /autograder/results/results.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_assignment_arguments(parser)
    parser.add_argument("--budget", metavar="NAME", help="budget preset the autograder uses")
    parser.add_argument("--lang", choices=tuple(report.UI), help="language of the feedback")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("autograder.zip"),
        metavar="ZIP",
        help="where to write the zip (default: autograder.zip)",
    )
    parser.add_argument(
        "--include-data",
        action="store_true",
        help="put the assignment's dataset files in the zip, verified (Fashion-MNIST's four "
        "files, about 30 MB; MNIST's mnist.npz, 11 MB) instead of installing its Debian "
        "package in setup.sh (only Fashion-MNIST has one: without this option any other "
        "dataset is downloaded by Keras at every run)",
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where to take them from (as for `grade`)"
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code without bubblewrap in the container (if user namespaces "
        "are unavailable there); Gradescope's per-submission container is the only isolation",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    course = apply_course(args, keys=("budget", "lang"))
    from grader.autograder import build_package
    from grader.settings import Source

    assignment = chosen_assignment(args, course=course)
    path = build_package(
        args.out,
        Source(assignment, args.budget, args.lang, args.data_dir),
        include_data=args.include_data,
        no_sandbox=args.no_sandbox,
    )
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment")
    return ExitCode.OK
