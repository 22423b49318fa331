"""Fidelity study: do short budgets give the same verdicts as a long one?

Grades the example submissions that train (see submissions/EXPECTED.toml) and six
near misses of the reference (one setting slightly off each: `NEAR_MISSES`) under one
budget on the full data, with the accuracy check calibrated for that budget, and
writes what decides their grade to a JSON file; `--compare` then prints how often two
such files agree (the accuracy check's outcome, the set of failed checks, the score).

    .venv/bin/python bench/fidelity.py run --budget default --out bench/out/fid-default.json
    .venv/bin/python bench/fidelity.py run --budget 10x10 --out bench/out/fid-10x10.json
    .venv/bin/python bench/fidelity.py compare bench/out/fid-default.json bench/out/fid-10x10.json

A budget is a name from the spec or TRIALSxEPOCHS (a budget not in the spec: its
calibration goes to bench/out/calibration/, never beside the spec).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Conditions  # noqa: E402

from grader import calibrate, data  # noqa: E402
from grader import spec as spec_module  # noqa: E402
from grader.discover import discover  # noqa: E402
from grader.pipeline import grade_one  # noqa: E402
from grader.settings import RunSettings  # noqa: E402
from grader.spec import Budget, Spec  # noqa: E402

TRAINED = (
    "reference",
    "reference_py",
    "adam",
    "exponential_decay",
    "dropped_callbacks",
    "wrong_fit_config",
)
OUT = ROOT / "bench" / "out"
VARIANTS_DIR = OUT / "variants"

# Near misses of the reference: one setting slightly off each, written from the reference
# notebook by text substitution (the `before` text must be in it).
NEAR_MISSES: dict[str, tuple[str, str]] = {
    "near_ranges": ("min_value=0.2983, max_value=0.3200", "min_value=0.2900, max_value=0.3200"),
    "near_decay_steps_100": ("decay_steps = 10", "decay_steps = 100"),
    "near_power_2": (
        "initial_learning_rate, decay_steps, end_learning_rate)",
        "initial_learning_rate, decay_steps, end_learning_rate, power=2.0)",
    ),
    "near_batch_128": ("batch_size=256", "batch_size=128"),
    "near_patience_5": ("patience=2*patience", "patience=5"),
    "near_momentum_0.1": (
        "SGD(learning_rate=lr_schedule)",
        "SGD(learning_rate=lr_schedule, momentum=0.1)",
    ),
}


def write_variants(reference: Path, folder: Path = VARIANTS_DIR) -> dict[str, Path]:
    """The near-miss notebooks, one file each, from the reference notebook's text."""
    folder.mkdir(parents=True, exist_ok=True)
    text = reference.read_text(encoding="utf-8")
    out = {}
    for name, (before, after) in NEAR_MISSES.items():
        # The notebook's JSON escapes quotes; these substitutions contain none.
        if before not in text:
            raise SystemExit(f"{reference} no longer contains {before!r}; update NEAR_MISSES")
        path = folder / f"{name}.ipynb"
        path.write_text(text.replace(before, after, 1), encoding="utf-8")
        out[name] = path
    return out


def budget_from(spec: Spec, text: str) -> tuple[Budget, Path | None]:
    """A spec budget (calibrated beside the spec) or TxE (calibrated under bench/out)."""
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        return spec.budget(text), None
    trials, epochs = int(match[1]), int(match[2])
    budget = Budget(
        name=text,
        max_trials=trials,
        max_epochs=epochs,
        # Generous limits: the study is about trials and epochs, not about being cut.
        # (600 s per epoch: even a heavily shared machine never cuts a trial, so the
        # verdicts do not depend on what else ran.)
        trial_seconds=600.0 * epochs,
        submission_seconds=600.0 * epochs * trials,
        kill_grace_seconds=300.0,
        description="fidelity study",
        calibration_seeds=3,
    )
    return budget, OUT / "calibration"


def run(args: argparse.Namespace) -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    budget, directory = budget_from(spec, args.budget)
    cache = data.prepare()
    test = data.load_test(cache, num_classes=spec.num_classes)
    settings = RunSettings(spec=spec, budget=budget, cache=cache, lang="en")
    t = time.monotonic()
    calibration = calibrate.ensure(
        settings,
        test,
        calibrate.Computation(seeds=calibrate.seeds_for(spec, budget, args.seeds)),
        directory=directory,
    )
    calibration_seconds = time.monotonic() - t
    settings = dataclasses.replace(settings, calibration=calibration.summary())
    refs = {r.id: r for r in discover([ROOT / "submissions"]).submissions}
    write_variants(spec.reference)
    refs.update({r.id: r for r in discover([VARIANTS_DIR]).submissions})
    rows: dict[str, Any] = {}
    for sid in args.only or TRAINED + tuple(NEAR_MISSES):
        t = time.monotonic()
        result = grade_one(refs[sid], settings, test)
        accuracy = next((c for c in result.checks if c.id == "accuracy"), None)
        rows[sid] = {
            "status": result.status.value,
            "test_accuracy": result.test_accuracy,
            "val_accuracy": result.val_accuracy,
            "accuracy_check": None if accuracy is None else accuracy.status.value,
            "accuracy_points": None if accuracy is None else accuracy.points,
            "failed": sorted(c.id for c in result.checks if c.status.value == "failed"),
            "score": result.score,
            "max_score": result.max_score,
            "seconds": round(time.monotonic() - t, 1),
        }
        print(f"{budget.name} {sid}: {json.dumps(rows[sid])}", flush=True)
        _write(args.out, budget, calibration, calibration_seconds, rows)  # partial results too
    print(f"wrote {args.out}")


def _write(
    out: Path,
    budget: Budget,
    calibration: calibrate.Calibration,
    calibration_seconds: float,
    rows: dict[str, Any],
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = calibration.summary()
    out.write_text(
        json.dumps(
            {
                "budget": dataclasses.asdict(budget),
                "calibration": dataclasses.asdict(summary),
                "calibration_runs": [
                    {"seed": r.seed, "test": r.test_accuracy, "seconds": r.seconds}
                    for r in calibration.runs
                ],
                "calibration_seconds": round(calibration_seconds, 1),
                "submissions": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def compare(args: argparse.Namespace) -> None:
    a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.first, args.second))
    na, nb = a["budget"]["name"], b["budget"]["name"]
    common = [s for s in a["submissions"] if s in b["submissions"]]
    same_acc = same_failed = same_score = 0
    print(
        f"| submission | test {na} | test {nb} | accuracy {na} | accuracy {nb} | "
        f"failed {na} | failed {nb} | score {na} | score {nb} |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for sid in common:
        x, y = a["submissions"][sid], b["submissions"][sid]
        same_acc += x["accuracy_points"] == y["accuracy_points"]
        same_failed += x["failed"] == y["failed"]
        same_score += x["score"] == y["score"]
        print(
            f"| {sid} | {_pct(x['test_accuracy'])} | {_pct(y['test_accuracy'])} | "
            f"{x['accuracy_check']} {x['accuracy_points']:g} | "
            f"{y['accuracy_check']} {y['accuracy_points']:g} | "
            f"{', '.join(x['failed']) or '-'} | {', '.join(y['failed']) or '-'} | "
            f"{x['score']:g} | {y['score']:g} |"
        )
    n = len(common)
    print(
        f"\nagreement over {n} submissions: accuracy check {same_acc}/{n}, "
        f"failed checks {same_failed}/{n}, score {same_score}/{n}"
    )
    for name, doc in ((na, a), (nb, b)):
        c = doc["calibration"]
        secs = [r["seconds"] for r in doc["calibration_runs"]]
        print(
            f"{name}: reference {_pct(c['test_mean'])} ± {100 * c['test_sd']:.2f} pp over "
            f"seeds {c['seeds']}; mean {sum(secs) / len(secs):.0f} s per reference run"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="grade the trained examples under one budget")
    r.add_argument("--budget", required=True, help="spec budget name or TRIALSxEPOCHS")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seeds", type=int, help="calibration seeds (default: the budget's)")
    r.add_argument(
        "--only",
        nargs="+",
        choices=TRAINED + tuple(NEAR_MISSES),
        help="a subset of the examples and near misses (default: all)",
    )
    c = sub.add_parser("compare", help="agreement between two `run` outputs")
    c.add_argument("first", type=Path)
    c.add_argument("second", type=Path)
    args = parser.parse_args()
    run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
