"""Benchmark: the sandbox's time overhead on a smoke grade.

Grades the reference solution with the `smoke` budget, alternately with and without
bubblewrap (and its limits watchdog), and prints the ratio of the medians measured in
this one run. Run: `.venv/bin/python bench/bench_sandbox.py [--rounds 3] [--subset N]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from common import Conditions

from grader import data, discover
from grader import spec as spec_module
from grader.pipeline import grade_one
from grader.sandbox import Sandbox, resolve
from grader.settings import RunSettings

REFERENCE = Path(__file__).resolve().parent.parent / "submissions" / "reference"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subset", type=int, default=None, help="default: the full split")
    args = parser.parse_args()

    spec = spec_module.load("fashion-mnist-polynomial-decay")
    cache = data.prepare()
    test = data.load_test(cache)
    (ref,) = discover.discover([REFERENCE]).submissions
    base = RunSettings(
        spec=spec, budget=spec.budget("smoke"), cache=cache, lang="en", subset=args.subset
    )
    modes = {"sandbox": resolve(no_sandbox=False), "no sandbox": Sandbox(None)}
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    accuracy: dict[str, set[float | None]] = {name: set() for name in modes}
    for _ in range(args.rounds):
        for name, cage in modes.items():  # alternate, so load drifts hit both alike
            start = time.perf_counter()
            result = grade_one(ref, dataclasses.replace(base, sandbox=cage), test)
            seconds[name].append(time.perf_counter() - start)
            accuracy[name].add(result.test_accuracy)
    with_box = statistics.median(seconds["sandbox"])
    without = statistics.median(seconds["no sandbox"])
    print(f"smoke grade of the reference, {args.rounds} rounds, subset={args.subset}")
    for name in modes:
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        print(f"  {name:10s}: median {statistics.median(seconds[name]):6.1f} s  ({runs})")
    print(f"  overhead ratio sandbox / no sandbox: {with_box / without:.3f}")
    print(f"  test accuracies: {sorted(accuracy['sandbox'])} vs {sorted(accuracy['no sandbox'])}")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
