"""A class of N submissions: wall time with --jobs 1, with --jobs 2, and the re-run that reuses.

    .venv/bin/python bench/bench_batch.py [--count 20] [--budget smoke] [--subset 2000]

Builds a folder of N submissions (copies of the graded examples, each under its own id),
grades it with `--jobs 1` into a fresh output folder, then with `--jobs 2` into another, then
re-runs the `--jobs 2` folder unchanged (every result reused from results.sqlite). All three
run back to back in this process, so the ratios compare like with like; the machine's load
and other graders' children are printed because they move the numbers.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import EXAM, ROOT, Conditions, machine, others_training

from grader import report
from grader.batch import BatchOptions, grade
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare

EXAMPLES = ("reference_py.py", "adam.ipynb", "exponential_decay.ipynb", "wrong_fit_config.ipynb")


def _class(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        name = EXAMPLES[i % len(EXAMPLES)]
        suffix = Path(name).suffix
        shutil.copy(ROOT / "submissions" / name, folder / f"student{i:03d}{suffix}")


def _run(
    folder: Path, out: Path, jobs: int, budget: str, subset: int | None
) -> tuple[float, list[str]]:
    lines: list[str] = []
    start = time.monotonic()
    grade(
        [folder],
        prepare(
            choose(Source(assignment=EXAM, budget=budget)),
            sandbox=resolve(no_sandbox=False),
            subset=subset,
        ),
        BatchOptions(out=out, jobs=jobs, progress="plain", echo=lines.append),
    )
    return time.monotonic() - start, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--subset", type=int, default=2000, help="0: the whole training set")
    args = parser.parse_args()
    subset = args.subset or None
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        _class(work / "class", args.count)
        print(f"{args.count} submissions, budget {args.budget}, subset {subset}; "
              f"other graders' children training at start: {others_training()}")  # fmt: skip
        one, _ = _run(work / "class", work / "jobs1", 1, args.budget, subset)
        print(f"--jobs 1: {one:.1f} s ({one / args.count:.1f} s per submission)")
        two, _ = _run(work / "class", work / "jobs2", 2, args.budget, subset)
        print(f"--jobs 2: {two:.1f} s ({two / args.count:.1f} s per submission)")
        again, lines = _run(work / "class", work / "jobs2", 2, args.budget, subset)
        reused = next(line for line in lines if line.startswith("reused "))
        print(f"re-run, nothing changed: {again:.2f} s ({reused.split(' from ')[0]})")
        same = all(
            report.read_result(work / "jobs1" / f"student{i:03d}" / "result.json").test_accuracy
            == report.read_result(work / "jobs2" / f"student{i:03d}" / "result.json").test_accuracy
            for i in range(args.count)
        )
        print(f"speed-up --jobs 2 / --jobs 1: {one / two:.2f}x; re-run / --jobs 1: "
              f"{again / one:.4f}; same test accuracies with 1 and 2 jobs: {same}")  # fmt: skip
        print(f"other graders' children training at the end: {others_training()}")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
