"""The grader's search against the plain notebook on the whole split, trial by trial.

    .venv/bin/python bench/identity_at_scale.py [--trials 3] [--epochs 10]
    .venv/bin/python bench/identity_at_scale.py --trials 10 --epochs 100 \
        --grader-run bench/out/exam-reference-settings3.json


tests/test_notebook_identity.py proves identity at 2 trials x 1 epoch. This runs the same
comparison at a larger budget (the exam's `max_trials`/`epochs` rewritten, the student's
EarlyStopping kept): `grade_one` on the unchanged reference, sandboxed, then the reference
notebook's own code in a fresh Python with TensorFlow's defaults. Prints each trial's
hyperparameters, epochs and val_accuracy from both, the test accuracies, and whether they
are equal to the last digit. The numbers do not depend on speed (time limits are raised
so that none can cut a trial), so a busy machine only makes it slower. `--grader-run` takes
the grader's side from a recorded result.json of the same budget (bench/exam_reference.py's)
instead of grading again: at the exam's budget each side is about an hour here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Conditions, settings, submission

from grader.pipeline import grade_one
from grader.results import GradeResult

sys.path.insert(0, str(ROOT / "tests"))
from test_notebook_identity import notebook_program, run_notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--grader-run", type=Path, help="a recorded result.json to compare")
    args = parser.parse_args()
    run_settings, test = settings("exam")
    budget = dataclasses.replace(
        run_settings.budget,
        name=f"{args.trials}x{args.epochs}",
        max_trials=args.trials,
        max_epochs=args.epochs,
        trial_seconds=600.0 * args.epochs,
        submission_seconds=600.0 * args.epochs * args.trials,
    )
    run_settings = dataclasses.replace(run_settings, budget=budget, calibration=None)
    t = time.monotonic()
    if args.grader_run is not None:
        recorded = json.loads(args.grader_run.read_text(encoding="utf-8"))
        recorded.pop("bench", None)  # exam_reference.py's conditions, beside the result
        result = GradeResult.from_dict(recorded)
        # Only the exam's own budget is recorded this way (10 trials x 100 epochs).
        assert (result.budget, args.trials, args.epochs) == ("exam", 10, 100), result.budget
        print(f"grader side: {args.grader_run} (recorded, not graded again)")
    else:
        result = grade_one(submission("reference"), run_settings, test)
    grade_seconds = time.monotonic() - t
    assert result.test_accuracy is not None, result.message
    with tempfile.TemporaryDirectory() as tmp:
        program = notebook_program(
            run_settings.spec.reference,
            trials=args.trials,
            epochs=args.epochs,
            subset=None,
            work=Path(tmp) / "tuner",
        )
        t = time.monotonic()
        plain = run_notebook(program, Path(tmp))
        notebook_seconds = time.monotonic() - t

    print(f"{args.trials} trials x up to {args.epochs} epochs, whole split")
    print("trial | grader hyperparameters | grader val_acc | epochs | notebook val_acc | same")
    same = len(result.trials) == len(plain["trials"])
    for mine, theirs in zip(result.trials, plain["trials"], strict=False):
        equal = (mine.hyperparameters, mine.val_accuracy) == (
            theirs["hyperparameters"],
            theirs["score"],
        )
        same = same and equal
        hp = ", ".join(f"{k} {v:.6f}" for k, v in mine.hyperparameters.items())
        print(
            f"{mine.id} | {hp} | {mine.val_accuracy:.4f} | {mine.epochs} | "
            f"{theirs['score']:.4f} | {'yes' if equal else 'NO'}"
        )
    test_equal = round(result.test_accuracy * 10000) == round(plain["test_accuracy"] * 10000)
    print(
        f"test accuracy: grader {100 * result.test_accuracy:.2f} %, notebook "
        f"{100 * plain['test_accuracy']:.2f} % ({'equal' if test_equal else 'DIFFERENT'})"
    )
    print(f"identical to the last digit: {'yes' if same and test_equal else 'NO'}")
    print(f"wall: grade {grade_seconds:.0f} s, notebook {notebook_seconds:.0f} s")


if __name__ == "__main__":
    with Conditions(settle=False):  # the numbers stand either way; times only when quiet
        main()
