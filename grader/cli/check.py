"""`grade check NOTEBOOK`: the student's self-check (grader.selfcheck) from the terminal."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from grader.cli.common import (
    add_assignment_arguments,
    add_data_arguments,
    add_language_arguments,
    apply_course,
    apply_language,
    chosen_assignment,
    nonpositive,
)
from grader.errors import ExitCode

EPILOG = """\
Runs the probe, every visible check and a short search (the spec's smoke budget) on a
subset of the images; the instructor's hidden checks neither run nor appear. Prints a
checklist (✓ passed, ✗ failed, – skipped) and writes <out>/<id>/report.html (without
--out, in a new temporary folder whose path it prints). What the self-check cannot judge
on a subset (the test accuracy against the reference) is out of its total, and says why.

exit codes:
  0    graded, and no visible check failed
  1    some visible check failed, or the notebook could not be graded (the report says why)
  2    usage error: bad path, unknown assignment, broken spec, missing dataset
  130  interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    from grader import selfcheck

    parser = argparse.ArgumentParser(
        prog="grade check",
        description="Check your notebook before submitting it: quick, visible checks only.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="your .ipynb or .py")
    add_assignment_arguments(parser)
    add_language_arguments(parser, what="the checklist and report")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"where the report goes (default: a new temporary folder, "
        f"{selfcheck.OUT_PREFIX}*, printed at the end)",
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=selfcheck.SUBSET,
        metavar="N",
        help=f"train on the first N training and validation images (default: {selfcheck.SUBSET})",
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="folder with report.html.j2 and report.md.j2 to use instead of the built-in ones",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (code := nonpositive(args, "subset")) is not None:
        return code
    course = apply_course(args, [args.notebook], keys=("lang",))
    apply_language(args)
    from rich.console import Console

    from grader.selfcheck import check
    from grader.settings import Source

    assignment = chosen_assignment(args, [args.notebook], course)
    outcome = check(
        args.notebook,
        Source(assignment, lang=args.lang, data_dir=args.data_dir, cache_dir=args.cache_dir),
        out=args.out,
        subset=args.subset,
        templates=args.templates,
        console=Console(),
    )
    return ExitCode.OK if outcome.passed else ExitCode.NOT_ALL_GRADED
