"""`grade calibrate`: grade the reference solution over several seeds under one budget."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from grader.cli import add_assignment_arguments, add_data_arguments, chosen_assignment, nonpositive
from grader.errors import ExitCode


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
    )
    add_assignment_arguments(parser, default="default: as for `grade`")
    parser.add_argument(
        "--budget", metavar="NAME", help="budget preset (default: the spec's default_budget)"
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
    assignment = chosen_assignment(args)
    from grader.calibrate import calibrate  # heavy imports only once arguments are valid

    calibrate(
        assignment=assignment,
        budget=args.budget,
        seeds=args.seeds,
        subset=args.subset,
        directory=args.dir,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        fresh=args.fresh,
    )
    return ExitCode.OK
