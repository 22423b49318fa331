"""`grade PATH...`: parse arguments, call `grader.batch.grade`, map errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import __version__
from grader.errors import ExitCode, GraderError

EPILOG = """\
exit codes:
  0    every submission was graded
  1    some submissions were not graded (status error, timeout, resource_limit or rejected);
       their reports say why
  2    usage error: bad path, unknown assignment or budget, broken spec, missing dataset
  130  interrupted

Writes <out>/<id>/result.json, report.html and report.md per submission, and <out>/grades.csv.
{commands}"""


def _commands_text() -> str:
    from grader.cli import COMMANDS

    if not COMMANDS:
        return ""
    lines = [f"  grade {name} ...  {text}" for name, (_, text) in COMMANDS.items()]
    return "\nother commands (each with --help):\n" + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade keras_tuner HyperModel submissions (.ipynb, .py, or a folder per "
        "student) with a bounded BayesianOptimization search and a rubric.",
        epilog=EPILOG.format(commands=_commands_text()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="submission files or folders of submissions",
    )
    parser.add_argument(
        "--assignment",
        metavar="ID|DIR|TOML",
        help="assignment id under assignments/, its folder, or its "
        "assignment.toml (default: the only assignment)",
    )
    parser.add_argument(
        "--budget",
        metavar="NAME",
        help="budget preset from the spec: smoke, default, exam "
        "(default: the spec's default_budget)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="output folder (default: reports/)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with the four Fashion-MNIST .gz files "
        "(default: $FASHION_MNIST_DIR, Debian's dataset-fashion-mnist, "
        "the Keras cache)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where the decoded dataset is cached (default: $GRADER_CACHE or ~/.cache/grader)",
    )
    parser.add_argument(
        "--lang",
        choices=("es", "en"),
        help="language of messages and reports (default: the spec's)",
    )
    parser.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="train on the first N training and N validation images only "
        "(quick runs and tests; no reference accuracy applies)",
    )
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="folder with report.html.j2 and report.md.j2 to use instead of the built-in templates",
    )
    parser.add_argument(
        "--keep-scratch",
        action="store_true",
        help="keep each submission's scratch folder (for debugging)",
    )
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.subset is not None and args.subset <= 0:
        print("error: --subset must be a positive number of images", file=sys.stderr)
        return ExitCode.USAGE
    from grader.batch import grade  # heavy imports only once arguments are valid

    try:
        return grade(
            paths=args.paths,
            assignment=args.assignment,
            budget=args.budget,
            out=args.out,
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
            lang=args.lang,
            subset=args.subset,
            templates=args.templates,
            keep_scratch=args.keep_scratch,
        )
    except GraderError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
