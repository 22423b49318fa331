"""Time per grade of each assignment's reference, per budget, on this machine.

    .venv/bin/python bench/assignment_times.py [--budgets smoke default] [ASSIGNMENT ...]
    .venv/bin/python bench/assignment_times.py --data-dir /root/mnist-idx mnist-polynomial-decay

Grades each assignment's reference once per budget with the spec's seed, exactly as a
calibration run does (`grader.calibrate.run`: sandbox, child, probe, search, evaluation,
scoring; no report), and prints its wall time and test accuracy beside the committed
calibration's mean for that budget (any machine's file: `<budget>.json` first). Nothing is
written. An assignment whose dataset is not on this machine is reported as such and skipped.
Default: every assignment but the Fashion exam (bench_overhead.py times that one).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import Conditions, machine

from grader import calibrate, datasets, resources
from grader import spec as spec_module
from grader.errors import DataError
from grader.settings import RunSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="ids (default: all but the exam)")
    parser.add_argument("--budgets", nargs="+", default=["smoke", "default"])
    parser.add_argument("--data-dir", type=Path, help="as grade's --data-dir")
    args = parser.parse_args()
    ids = args.assignments or sorted(
        p.parent.name
        for p in resources.ASSIGNMENTS.glob("*/assignment.toml")
        if p.parent.name != "fashion-mnist-polynomial-decay"
    )
    print(f"machine: {machine()}", flush=True)
    print("| assignment | budget | grade wall | test accuracy | committed calibration |")
    print("|---|---|---|---|---|")
    for assignment in ids:
        spec = spec_module.load(assignment)
        try:
            cache = datasets.prepare(spec.data, data_dir=args.data_dir)
        except DataError as exc:
            print(f"| {assignment} | - | not on this machine: {exc.message} | | |", flush=True)
            continue
        test = datasets.load_test(cache, spec.data)
        for name in args.budgets:
            if name not in spec.budgets:
                continue
            settings = RunSettings(spec=spec, budget=spec.budget(name), cache=cache, lang="en")
            t = time.monotonic()
            run = calibrate.run(settings, test, seeds=[spec.seed], echo=lambda _: None).runs[0]
            wall = time.monotonic() - t
            stored = calibrate.load(calibrate.path_for(spec, settings.budget))
            band = (
                f"{100 * stored.test_mean:.2f} % ± {100 * stored.test_sd:.2f} "
                f"({stored.fingerprint.get('cpu', '?')})"
                if stored
                else "none"
            )
            print(
                f"| {assignment} | {name} | {wall:.1f} s | {100 * run.test_accuracy:.2f} % "
                f"(seed {spec.seed}) | {band} |",
                flush=True,
            )


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
