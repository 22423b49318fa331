"""`grade PATH...`: parse arguments, call `grader.batch.grade`, map errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import __version__
from grader.cli.common import (
    COMMANDS,
    EXAM_CALIBRATION_TIME,
    add_assignment_arguments,
    add_data_arguments,
    add_language_arguments,
    apply_course,
    apply_language,
    chosen_assignment,
    nonpositive,
)
from grader.errors import ExitCode

DEFAULT_OUT = Path("reports")

# Kept in step with grader.calibrate.ASK_ABOVE_SECONDS (a test checks), so that `--help`
# needs no TensorFlow import.
ASK_ABOVE_SECONDS = 10 * 60

EPILOG = """\
exit codes:
  0    every submission was graded
  1    some submissions were not graded (status error, timeout, resource_limit or rejected);
       their reports say why; also after a grader fault, which costs only that
       submission's result and leaves its traceback in <out>/grader.log
  2    usage error: bad path, unknown assignment or budget, broken spec, missing dataset;
       or the reference's calibration for the budget is missing or stale and computing it
       would take more than {ask} min (run `grade calibrate --budget NAME` first, or give
       --calibrate)
  130  interrupted

Writes <out>/<id>/result.json, report.html, report.md and gradescope/results.json per
submission, and <out>/grades.csv, <out>/summary.html and <out>/results.sqlite.

A course file, grade.toml, beside the submissions or in the current folder, gives the
defaults of --assignment, --lang, --budget and --out (keys assignment, lang, budget, out;
paths relative to the file); a flag always wins. submissions/ in the repository has one
that names the exam.
{commands}"""


LIMIT_FLAGS = (
    ("--memory-mb", "memory_mb", "resident memory of the child's process tree, in MB"),
    ("--max-processes", "processes", "processes the child may run at once"),
    ("--scratch-mb", "scratch_mb", "disk the child may write in its scratch folder, in MB"),
    ("--output-kb", "output_kb", "printed output kept for the report, in KB"),
)


def _commands_text() -> str:
    if not COMMANDS:
        return ""
    lines = [f"  grade {name} ...  {text}" for name, (_, text) in COMMANDS.items()]
    return "\nother commands (each with --help):\n" + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade keras_tuner HyperModel submissions (.ipynb, .py, or a folder per "
        "student) with a bounded BayesianOptimization search and a rubric.",
        epilog=EPILOG.format(commands=_commands_text(), ask=ASK_ABOVE_SECONDS // 60),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="submission files or folders of submissions",
    )
    add_assignment_arguments(parser)
    parser.add_argument(
        "--budget",
        metavar="NAME",
        help="budget preset from the spec: smoke, default, exam "
        "(default: grade.toml's budget, else the spec's default_budget)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"output folder (default: grade.toml's out, else {DEFAULT_OUT}/)",
    )
    add_data_arguments(parser)
    add_language_arguments(
        parser, what="messages, reports, the class summary and these terminal lines"
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
    _add_batch_options(parser)
    isolation = parser.add_argument_group(
        "isolation and limits",
        "student code runs in a bubblewrap sandbox (no network, no test set, read-only "
        "system) under the limits of the spec's [limits] table; these override them",
    )
    isolation.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code WITHOUT the sandbox (trusted code only; every report says so)",
    )
    for flag, key, text in LIMIT_FLAGS:
        isolation.add_argument(flag, type=int, metavar="N", dest=key, help=text)
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    return parser


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    batch = parser.add_argument_group(
        "batch",
        "results are kept in <out>/results.sqlite: a re-run grades only new or changed "
        "submissions and resumes an interrupted batch; submissions whose executed code is "
        "the same once comments, layout, outputs and markdown are set aside share one "
        "training (each still gets its own checks and report)",
    )
    batch.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="submissions graded at once, each in its own worker process "
        "(default: one per 2 cores, fewer if memory is short)",
    )
    batch.add_argument(
        "--force",
        action="store_true",
        help="grade every submission again, ignoring stored results (also the training "
        "shared by submissions whose code differs only in comments, layout, outputs or "
        "markdown)",
    )
    batch.add_argument(
        "--calibrate",
        action="store_true",
        help="compute a missing or stale calibration of the reference now however long "
        f"it takes (without it, `grade` stops with exit code 2 when that would take more "
        f"than {ASK_ABOVE_SECONDS // 60} min; the exam budget's takes {EXAM_CALIBRATION_TIME}); "
        "a machine with none of its own uses another machine's made with the same software, "
        "and the reports name that machine's CPU",
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS|FILE",
        help="grade on a Dask cluster: its scheduler address (tcp://HOST:PORT) or scheduler "
        "file; workers need the grader installed and the dataset",
    )
    batch.add_argument(
        "--dask-config",
        type=Path,
        metavar="YAML",
        help="Dask configuration to apply before connecting (timeouts, comm, ...)",
    )
    _add_cluster_options(batch)
    batch.add_argument(
        "--progress",
        choices=("auto", "rich", "plain"),
        default="auto",
        help="live display or one line per submission (default: live on a terminal, "
        "plain under CI or when piped)",
    )


def _add_cluster_options(batch: argparse._ArgumentGroup) -> None:
    # grader/cluster.py; docs/cluster.md has the [cluster] table and the exam's plan.
    batch.add_argument(
        "--cluster",
        choices=("slurm", "pbs", "sge", "lsf"),
        help="grade on Dask workers started as batch jobs through dask-jobqueue, sized from "
        "the budget and [limits] and released at the end (slurm is tested; pbs, sge and lsf "
        "are not); queue, account, walltime, cores, memory_mb, directives and max_jobs come "
        "from the [cluster] table of --cluster-config (docs/cluster.md); e.g. "
        "`grade submissions/ --budget exam --cluster slurm --dry-run`",
    )
    batch.add_argument(
        "--cluster-config",
        type=Path,
        metavar="TOML",
        help="course file with the [cluster] table (default: ./grade.toml when it exists)",
    )
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="with --cluster: print the jobs, their resources, the expected wall time from "
        "the calibration's measured time per grade and the cost in core-hours; grade nothing",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limits = {key: flag for flag, key, _ in LIMIT_FLAGS}
    if (code := nonpositive(args, "subset", "jobs", *limits, flags=limits)) is not None:
        return code
    if args.dry_run and not args.cluster:
        print("error: --dry-run plans a --cluster batch; give --cluster too", file=sys.stderr)
        return ExitCode.USAGE
    if args.cluster and args.scheduler:
        print("error: give --cluster or --scheduler, not both", file=sys.stderr)
        return ExitCode.USAGE
    course = apply_course(args, args.paths, keys=("lang", "budget", "out"))
    args.out = args.out or DEFAULT_OUT
    apply_language(args)
    assignment = chosen_assignment(args, args.paths, course)
    # Heavy imports only once arguments are valid.
    from grader import sandbox
    from grader.batch import BatchOptions, grade
    from grader.settings import Source, choose, prepare

    source = Source(assignment, args.budget, args.lang, args.data_dir, args.cache_dir)
    chosen = choose(source)
    settings = prepare(
        chosen,
        sandbox=sandbox.resolve(no_sandbox=args.no_sandbox),  # refuses early without bubblewrap
        subset=args.subset,
        limits={
            key: getattr(args, key) for _, key, _ in LIMIT_FLAGS if getattr(args, key) is not None
        },
        keep_scratch=args.keep_scratch,
    )
    options = BatchOptions(
        out=args.out,
        templates=args.templates,
        jobs=args.jobs,
        force=args.force,
        calibrate_now=args.calibrate,
        scheduler=args.scheduler,
        dask_config=args.dask_config,
        progress=args.progress,
        cluster=args.cluster,
        cluster_config=args.cluster_config,
        dry_run=args.dry_run,
    )
    return grade(args.paths, settings, options)
