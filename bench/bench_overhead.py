"""Overhead and memory: grading one submission against pure training of the same work.

    .venv/bin/python bench/bench_overhead.py [--budget default] [--submission reference]

Grades the submission (grade_one: child start, sandbox, running the student's cells,
probe, bounded search, the parent's evaluation, scoring), then trains the same trials'
hyperparameters for the same epochs with nothing around Model.fit (bench/train_only.py,
a fresh process with the grader's environment and threads), back to back in this run.
Prints grade / training ratios (goal: at most 1.10x against the fit time), where the
rest of the time goes, and the peak resident memory of each child.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    Conditions,
    PeakMemory,
    children_peak_rss_mib,
    grader_env,
    machine,
    others_training,
    settings,
    submission,
)

from grader import data
from grader.pipeline import grade_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    parser.add_argument("--submission", default="reference")
    args = parser.parse_args()
    run_settings, test = settings(args.budget)
    print(f"machine: {machine()}; grader children of others running: {others_training()}")

    t = time.monotonic()
    with PeakMemory() as grade_memory:
        result = grade_one(submission(args.submission), run_settings, test)
    grade_seconds = time.monotonic() - t
    grade_peak = children_peak_rss_mib()  # only the grading child has finished so far
    assert result.test_accuracy is not None, result.message

    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.json"
        plan.write_text(
            json.dumps(
                {
                    "root": str(ROOT),
                    "threads": run_settings.threads,
                    "seed": run_settings.effective_seed,
                    "trainval_dir": str(data.trainval_dir(run_settings.cache)),
                    "trials": [
                        {"hyperparameters": tr.hyperparameters, "epochs": tr.epochs}
                        for tr in result.trials
                    ],
                }
            ),
            encoding="utf-8",
        )
        t = time.monotonic()
        with PeakMemory() as train_memory:
            done = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "train_only.py"), str(plan)],
                env=grader_env(Path(tmp) / "home", run_settings.threads),
                capture_output=True,
                text=True,
                check=True,
            )
        baseline_wall = time.monotonic() - t
    baseline = json.loads(done.stdout.strip().splitlines()[-1])

    epochs = sum(tr.epochs for tr in result.trials)
    search = result.timings.get("child_search", 0.0)
    print(
        f"budget {args.budget}: {len(result.trials)} trials, {epochs} epochs, "
        f"test {100 * result.test_accuracy:.2f}%"
    )
    print(f"grade (grade_one wall):           {grade_seconds:7.1f} s")
    print(f"pure training, Model.fit only:    {baseline['fit_seconds']:7.1f} s")
    print(f"pure training, whole process:     {baseline_wall:7.1f} s")
    print(f"ratio grade / fit-only:           {grade_seconds / baseline['fit_seconds']:7.2f}x")
    print(f"ratio grade / training process:   {grade_seconds / baseline_wall:7.2f}x")
    print(f"ratio child search / fit-only:    {search / baseline['fit_seconds']:7.2f}x")
    stages = {k: v for k, v in result.timings.items() if k != "total"}
    print("grade timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(
        f"peak memory of the child processes (summed PSS, polled every 0.2 s): grading "
        f"{grade_memory.peak_mib:.0f} MiB, training-only {train_memory.peak_mib:.0f} MiB, "
        f"ratio {grade_memory.peak_mib / train_memory.peak_mib:.2f}x"
    )
    print(
        f"peak RSS (getrusage, max over finished children): after grading {grade_peak:.0f} MiB;"
        f" training-only process (its own ru_maxrss) {baseline['peak_rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
