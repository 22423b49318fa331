"""The student self-check's wall time against a plain smoke grading of the same notebook.

    .venv/bin/python bench/bench_selfcheck.py [--notebook submissions/reference] [--repeat 2]

Runs `grade check NOTEBOOK` (grader.selfcheck.check: smoke budget, its default subset,
visible checks only, checklist and report) and `grade NOTEBOOK --budget smoke` (the batch
on the full training set, every check, report and gradebook) alternately in this process,
each into a fresh folder, and prints each time, the medians and their ratio. Both start a
child that imports TensorFlow, so most of the time is start-up, not training; the machine's
load and other graders' training children are printed because they move the numbers.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from common import EXAM, ROOT, Conditions, machine, others_training
from rich.console import Console

from grader import selfcheck
from grader.batch import BatchOptions, grade
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare


def _self_check(notebook: Path, out: Path) -> tuple[float, str]:
    screen = io.StringIO()
    start = time.monotonic()
    outcome = selfcheck.check(
        notebook, Source(EXAM), out=out, console=Console(file=screen, color_system=None)
    )
    seconds = time.monotonic() - start
    verdict = "passed" if outcome.passed else "did not pass"
    return seconds, f"{verdict}, {outcome.result.score:g}/{outcome.result.max_score:g}"


def _plain(notebook: Path, out: Path) -> tuple[float, str]:
    lines: list[str] = []
    start = time.monotonic()
    grade(
        [notebook],
        prepare(
            choose(Source(assignment=EXAM, budget="smoke")),
            sandbox=resolve(no_sandbox=False),
        ),
        BatchOptions(out=out, echo=lines.append),
    )
    return time.monotonic() - start, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "submissions" / "reference")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    print(
        f"notebook {args.notebook}; self-check subset {selfcheck.SUBSET} images, budget "
        f"'{selfcheck.BUDGET}'; other graders' children training: {others_training()}"
    )
    checks: list[float] = []
    plains: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-selfcheck-") as tmp:
        for i in range(args.repeat):
            seconds, what = _self_check(args.notebook, Path(tmp) / f"check{i}")
            checks.append(seconds)
            print(f"grade check:          {seconds:6.1f} s  ({what})")
            seconds, what = _plain(args.notebook, Path(tmp) / f"plain{i}")
            plains.append(seconds)
            print(f"grade --budget smoke: {seconds:6.1f} s  ({what})")
    check, plain = statistics.median(checks), statistics.median(plains)
    print(
        f"median: grade check {check:.1f} s, grade --budget smoke {plain:.1f} s; "
        f"ratio check / plain {check / plain:.2f}"
    )
    print(f"other graders' children training at the end: {others_training()}")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
