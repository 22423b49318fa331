"""The reference graded under the `exam` budget: the exam's full protocol, once.

    .venv/bin/python bench/exam_reference.py [--seed 23] [--out bench/out/exam-reference.json]
        [--training grader|sandbox] [--no-store]
    .venv/bin/python bench/exam_reference.py --compare A.json B.json

`grade_one` on the unchanged reference notebook under `exam` (10 trials, up to 100 epochs,
the student's EarlyStopping), in the sandbox, exactly as `grade --budget exam` grades a
student. Writes the whole result (trials, hyperparameters, per-epoch curves, timings) to
--out and adds the run to `assignments/<id>/calibration/exam.json` (one calibration run per
seed; runs with other seeds already there are kept when their fingerprint still applies),
so that `grade --budget exam` finds a calibration and never trains one by surprise.
About 30 minutes per seed on a quiet 2-core machine.

`--training sandbox` trains in the sandboxed child beside the student's code (the path every
calibration before issue 20 was made on); the default is the grader's trusted trainer.
`--no-store` leaves the calibration alone. `--compare` trains nothing: it says whether two
such outputs are the same search (every trial's hyperparameters, epochs and val_accuracy,
the best model's test accuracy), and exits 1 if not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from common import TIME_SCALE_HELP, Conditions, machine, others_training, settings, submission

from grader import calibrate
from grader import fingerprint as fingerprint_module
from grader.pipeline import grade_one


def _search(path: Path) -> dict:
    body = json.loads(path.read_text(encoding="utf-8"))
    return {
        "test_accuracy": body["test_accuracy"],
        "val_accuracy": body["val_accuracy"],
        "trials": [
            (t["id"], t["hyperparameters"], t["epochs"], t["val_accuracy"]) for t in body["trials"]
        ],
    }


def compare(first: Path, second: Path) -> int:
    a, b = _search(first), _search(second)
    for key in ("test_accuracy", "val_accuracy"):
        print(f"{key}: {a[key]} / {b[key]}{'' if a[key] == b[key] else '  DIFFERENT'}")
    for one, other in zip(a["trials"], b["trials"], strict=False):
        print(f"{one}{'' if one == other else f'  DIFFERENT: {other}'}")
    if len(a["trials"]) != len(b["trials"]):
        print(f"trials: {len(a['trials'])} / {len(b['trials'])}  DIFFERENT")
    same = a == b
    print("the same search" if same else "NOT the same search")
    return 0 if same else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="default: the spec's seed")
    parser.add_argument("--out", type=Path, default=Path("bench/out/exam-reference.json"))
    parser.add_argument("--time-scale", type=float, default=1.0, help=TIME_SCALE_HELP)
    parser.add_argument("--training", choices=("grader", "sandbox"), default="grader")
    parser.add_argument("--no-store", action="store_true", help="leave the calibration alone")
    parser.add_argument("--compare", nargs=2, type=Path, metavar="OUT.json")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(compare(*args.compare))
    run_settings, test = settings("exam", time_scale=args.time_scale, training=args.training)
    run_settings = dataclasses.replace(run_settings, seed=args.seed, calibration=None)
    official = dataclasses.replace(run_settings, budget=run_settings.spec.budget("exam"))
    seed = run_settings.effective_seed
    start_state = f"{machine()}; other grader children: {others_training()}"
    print(f"start: {start_state}", flush=True)
    t = time.monotonic()
    result = grade_one(submission("reference"), run_settings, test)
    wall = time.monotonic() - t
    end_state = f"{machine()}; other grader children: {others_training()}"
    print(f"end: {end_state}", flush=True)
    body = result.to_dict()
    body["bench"] = {
        "wall_seconds": round(wall, 1),
        "start": start_state,
        "end": end_state,
        "training": args.training,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    epochs = sum(t.epochs for t in result.trials)
    print(
        f"seed {seed}: {result.status.value}; {len(result.trials)} trials, {epochs} epochs, "
        f"test {100 * (result.test_accuracy or 0):.2f}%, best val_accuracy "
        f"{result.val_accuracy}, best {result.best_hyperparameters}, {wall:.0f} s"
    )
    if result.test_accuracy is None:
        raise SystemExit(f"not graded: {result.message}")
    cut = [t.id for t in result.trials if t.status.value == "stopped"]
    if cut:
        # A trial cut by a time limit is not the exam's search: not a calibration run.
        raise SystemExit(f"trials {cut} were stopped by a time limit; calibration not written")
    if args.no_store:
        print(f"wrote {args.out}; calibration left alone (--no-store)")
        return
    new = calibrate.run_from_result(result, seed)
    # The official budget's fingerprint: with no trial cut, raised time limits change
    # nothing in the numbers (training is deterministic; only a time limit depends on speed).
    path, old = calibrate.locate(official)
    expected = fingerprint_module.fingerprint(dataclasses.replace(official, seed=args.seed))
    runs = [new]
    if old is not None and not calibrate.stale_reason(old, expected):
        runs = [r for r in old.runs if r.seed != seed] + runs
    runs.sort(key=lambda r: r.seed)
    calibrate.save(
        calibrate.Calibration(
            assignment=run_settings.spec.id,
            budget="exam",
            subset=None,
            runs=tuple(runs),
            fingerprint=expected,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        path,
    )
    print(f"wrote {args.out} and {path} ({len(runs)} seed(s))")


if __name__ == "__main__":
    if "--compare" in sys.argv:  # trains nothing: no conditions to watch
        main()
    else:
        with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
            main()
