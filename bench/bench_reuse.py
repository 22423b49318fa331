"""Reuse: re-grading an unchanged submission against its first grade.

    .venv/bin/python bench/bench_reuse.py [--budget default] [--submission reference]

Runs `grade` (grader.batch.grade, as the CLI does) on one submission into a fresh
output folder, then again into the same folder with nothing changed, back to back in
this run: the second finds the result stored under the same key (submission hash,
spec, budget, calibration, versions...) and does not train. Prints both times and the
ratio, and checks that the second grade is the same grade.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, others_training, submission

from grader import report
from grader.batch import grade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    parser.add_argument("--submission", default="reference")
    args = parser.parse_args()
    ref = submission(args.submission)
    print(f"machine: {machine()}; grader children of others running: {others_training()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        times, results = [], []
        for _ in range(2):
            t = time.monotonic()
            grade(paths=[ref.path], budget=args.budget, out=out, echo=lambda _: None)
            times.append(time.monotonic() - t)
            # Graded by its file, so its id is the file's stem.
            results.append(report.read_result(out / ref.path.stem / "result.json"))
    first, second = results
    same = (first.score, first.test_accuracy) == (second.score, second.test_accuracy)
    print(f"first grade:  {times[0]:7.2f} s (score {first.score:g}, test {first.test_accuracy})")
    print(f"second grade: {times[1]:7.2f} s (same grade: {same})")
    print(f"ratio second / first: {times[1] / times[0]:.5f} ({times[0] / times[1]:.0f}x faster)")


if __name__ == "__main__":
    main()
