"""`grade validate --assignment ID`: load the spec, grade the reference (and examples/), judge."""

from __future__ import annotations

import argparse
import sys
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
from grader.errors import UsageError

EPILOG = """\
exit codes:
  0    valid: the spec loads, the reference gets full marks, every example in examples/
       fails exactly the checks its EXPECTED.toml lists (fail, may_fail, skipped,
       status, message_contains, error_location: as in submissions/EXPECTED.toml)
  2    the spec, EXPECTED.toml, a statement's code or an argument is wrong (the message
       names the file and key or line), the dataset is missing, or the calibration the
       budget needs is missing and would take too long (give --calibrate)
  3    not valid: the reference lost points (each check is listed with its message), or
       an example's verdict differs from EXPECTED.toml (each difference is listed)
  130  interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade validate",
        description="Check that an assignment is ready to grade a class: load its "
        "assignment.toml (every error names the key), parse every code block and inline "
        "call of its statements (a student copies them), grade its reference solution under "
        "a quick budget and require full marks, and, when its folder has examples/ with an "
        "EXPECTED.toml, grade the examples and require each to fail exactly its expected "
        "checks. The reference and examples are graded as `grade` grades a batch (same "
        "sandbox, data and calibration: a missing calibration of the budget is computed "
        "first when that takes at most 10 min).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_assignment_arguments(parser)
    # The assignment may also come first, as `grade validate ID` was written before every
    # command took --assignment; both name the same thing.
    parser.add_argument("named", nargs="?", metavar="ASSIGNMENT", help="same as --assignment")
    parser.add_argument(
        "--budget", metavar="NAME", default="smoke", help="budget preset (default: smoke)"
    )
    add_language_arguments(parser, what="the verdict and reports")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="keep the reports of the reference and examples here (default: a temporary "
        "folder, removed)",
    )
    parser.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="train on the first N images (quick runs): the accuracy check then cannot be "
        "judged and is listed as not judged; every other check must still pass",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="compute a missing or stale calibration of the budget however long it takes",
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="as for `grade`")
    add_data_arguments(parser)
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the reference and examples without bubblewrap (as for `grade`)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (code := nonpositive(args, "subset", "jobs")) is not None:
        return code
    if args.named is not None:
        if args.assignment is not None and args.assignment != args.named:
            raise UsageError(
                f"two assignments named: {args.named} and --assignment {args.assignment}",
                hint="give one",
            )
        args.assignment = args.named
    course = apply_course(args, keys=("lang",))
    apply_language(args)
    assignment = chosen_assignment(args, course=course)
    from grader import spec as spec_module
    from grader.batch import BatchOptions  # heavy imports once arguments are valid
    from grader.printable import printable
    from grader.settings import Source
    from grader.validate import render, validate

    lang = args.lang or spec_module.load(assignment).language
    source = Source(assignment, args.budget, lang, args.data_dir, args.cache_dir)
    validation = validate(
        source,
        out=args.out,
        subset=args.subset,
        no_sandbox=args.no_sandbox,
        batch=BatchOptions(jobs=args.jobs, calibrate_now=args.calibrate),
    )
    # The examples' messages quote their code and output: the one sanitiser stands between.
    print(printable(render(validation, lang)), file=sys.stdout if validation.ok else sys.stderr)
    return validation.exit_code
