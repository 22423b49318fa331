"""Is a correct solution ever failed? The reference graded with seeds the calibration
did not use, under a budget, through the accuracy check calibrated for that budget.

    .venv/bin/python bench/reference_seeds.py --budget default --seeds 28 29 30 31 32

Prints each seed's test accuracy and the accuracy check's verdict, and how far below
the calibrated mean it landed, in calibrated standard deviations.
"""

from __future__ import annotations

import argparse
import dataclasses

from common import TIME_SCALE_HELP, Conditions, machine, others_training, settings, submission

from grader.pipeline import grade_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[28, 29, 30, 31, 32])
    parser.add_argument("--time-scale", type=float, default=1.0, help=TIME_SCALE_HELP)
    args = parser.parse_args()
    run_settings, test = settings(args.budget, time_scale=args.time_scale)
    cal = run_settings.calibration
    if cal is None:
        raise SystemExit(f"no calibration for {args.budget}: run `grade calibrate` first")
    print(f"machine: {machine()}; grader children of others running: {others_training()}")
    print(
        f"calibration {args.budget}: {100 * cal.test_mean:.2f}% ± {100 * cal.test_sd:.2f} "
        f"over seeds {list(cal.seeds)}"
    )
    passed = 0
    for seed in args.seeds:
        result = grade_one(
            submission("reference"), dataclasses.replace(run_settings, seed=seed), test
        )
        check = next(c for c in result.checks if c.id == "accuracy")
        z = (result.test_accuracy - cal.test_mean) / max(cal.test_sd, 1e-12)
        passed += check.points == check.max_points
        print(
            f"seed {seed}: test {100 * result.test_accuracy:.2f}% ({z:+.2f} sd), "
            f"accuracy {check.status.value} {check.points:g}/{check.max_points:g}, "
            f"score {result.score:g}/{result.max_score:g}"
        )
    print(f"full accuracy points on {passed}/{len(args.seeds)} held-out seeds")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
