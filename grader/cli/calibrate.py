"""`grade calibrate`: grade the reference solution over several seeds under one budget."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from grader.cli.common import (
    EXAM_CALIBRATION_TIME,
    add_assignment_arguments,
    add_data_arguments,
    apply_course,
    chosen_assignment,
    nonpositive,
)
from grader.errors import ExitCode

EPILOG = f"""\
How long: the budget's trials and epochs, once per seed; the exam budget takes
{EXAM_CALIBRATION_TIME}, the smoke and default ones minutes.

exit codes:
  0    the calibration was written (or every seed it needs was already stored)
  2    usage error: unknown assignment or budget, broken spec, missing dataset; or the
       reference could not be graded under the budget (the message says why)
  130  interrupted (the seeds graded so far are kept)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade calibrate",
        description="Grade the assignment's reference solution under a budget with several "
        "seeds and store the mean and standard deviation of its test and validation "
        "accuracy (with per-epoch curves and a fingerprint of machine and library "
        "versions) in assignments/<id>/calibration/<budget>.json. The accuracy check "
        "compares students with it; `grade` computes it by itself when it is missing or "
        "stale and that takes at most a few minutes (else it asks for --calibrate); this "
        "command does it ahead of time. Seeds already stored that still apply are kept: "
        "only the missing ones are graded.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_assignment_arguments(parser)
    parser.add_argument(
        "--budget",
        metavar="NAME",
        help="budget preset (default: grade.toml's budget, else the spec's default_budget)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="number of seeds, from the spec's seed up (default: the budget's calibration_seeds)",
    )
    parser.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="train on the first N images (tests); stored as <budget>.subset-N.json",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="where to write the calibration (default: the assignment's calibration/)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="grade every seed again, even those already stored that still apply",
    )
    add_data_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (code := nonpositive(args, "seeds", "subset")) is not None:
        return code
    course = apply_course(args, keys=("budget",))
    assignment = chosen_assignment(args, course=course)
    from grader.calibrate import calibrate  # heavy imports only once arguments are valid
    from grader.settings import Source

    calibrate(
        Source(assignment, args.budget, data_dir=args.data_dir, cache_dir=args.cache_dir),
        seeds=args.seeds,
        subset=args.subset,
        directory=args.dir,
        fresh=args.fresh,
    )
    return ExitCode.OK
