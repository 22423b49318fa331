"""Equivalent solutions share one search: a batch of five against one grade of the reference.

    .venv/bin/python bench/bench_equivalents.py [--budget default]

Grades the reference alone into a fresh folder, then a batch of the reference, the three
differently written solutions of tests/equivalents/ (every name changed; a list-form
Sequential with named model, layers, optimizer and schedule; helper functions) and its near
miss (decay_steps 100) into another. Prints both times, their ratio (the issue's goal: at
most 2.5), whether each equivalent got exactly the reference's test accuracy and points and
whether the near miss lost exactly schedule_params, inside `common.Conditions` ("quiet" or
"DISTURBED" with what else ran).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

from common import EXAM, ROOT, Conditions

from grader.batch import BatchOptions, grade
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare

FOLDER = ROOT / "tests" / "equivalents"


def _run(folder: Path, out: Path, budget: str) -> tuple[float, dict[str, dict]]:
    start = time.monotonic()
    grade(
        [folder],
        prepare(
            choose(Source(assignment=EXAM, budget=budget)),
            sandbox=resolve(no_sandbox=False),
        ),
        BatchOptions(out=out, progress="plain", echo=print),
    )
    seconds = time.monotonic() - start
    results = {
        p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/result.json")
    }
    return seconds, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    args = parser.parse_args()
    expected = tomllib.loads((FOLDER / "EXPECTED.toml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        alone, batch = Path(tmp) / "alone", Path(tmp) / "batch"
        alone.mkdir()
        batch.mkdir()
        shutil.copy(ROOT / "submissions" / "reference_py.py", alone / "reference.py")
        shutil.copy(ROOT / "submissions" / "reference_py.py", batch / "reference.py")
        for name in expected:
            shutil.copy(FOLDER / f"{name}.py", batch / f"{name}.py")
        one, _ = _run(alone, Path(tmp) / "out-alone", args.budget)
        five, results = _run(batch, Path(tmp) / "out-batch", args.budget)
    reference = results["reference"]
    print(f"one grade of the reference: {one:7.1f} s")
    print(f"batch of 5:                 {five:7.1f} s   ratio {five / one:.2f} (goal <= 2.5)")
    for name, want in expected.items():
        result = results[name]
        failed = sorted(c["id"] for c in result["checks"] if c["status"] == "failed")
        shared = "search_shared" in result["timings"]
        if want["equivalent"]:
            ok = (
                result["test_accuracy"] == reference["test_accuracy"]
                and result["score"] == reference["score"]
            )
        else:
            ok = failed == sorted(want["fail"])
        print(
            f"{name:24s} training={result['training']} shared={shared} "
            f"test={result['test_accuracy']} score={result['score']}/{result['max_score']} "
            f"failed={failed} -> {'as expected' if ok else 'NOT as expected'}"
        )
    print(
        f"{'reference':24s} training={reference['training']} test={reference['test_accuracy']} "
        f"score={reference['score']}/{reference['max_score']}"
    )


if __name__ == "__main__":
    with Conditions():
        main()
