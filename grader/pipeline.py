"""`grade(...)`: the whole pipeline over a batch of submissions.

discover -> load -> (child: probe, search) -> evaluate -> score -> report, for each
submission in turn. A submission that fails in any way becomes a result
(`GradeResult.without_results` or a graded result with status error); only a
`FatalError` (bad spec, missing data, bad usage) stops the batch.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grader import data, discover, report, score, submission
from grader import spec as spec_module
from grader.checks import validate_rubric
from grader.errors import ExitCode, SubmissionError
from grader.evaluate import Evaluation, evaluate
from grader.results import GradeResult, Status
from grader.runner import run_child
from grader.spec import Budget, Spec

Echo = Callable[[str], None]


def grade(
    *,
    paths: Sequence[Path],
    assignment: str | Path | None = None,
    budget: str | None = None,
    out: Path = Path("reports"),
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    lang: str | None = None,
    subset: int | None = None,
    templates: Path | None = None,
    keep_scratch: bool = False,
    echo: Echo = print,
) -> ExitCode:
    """Grade every submission under `paths`; write reports and grades.csv into `out`."""
    spec = spec_module.load(assignment)
    validate_rubric(spec)
    chosen = spec.budget(budget)
    lang = lang or spec.language
    found = discover.discover(paths)
    cache = data.prepare(data_dir=data_dir, cache_dir=cache_dir)
    test = data.load_test(cache, num_classes=spec.num_classes)
    out.mkdir(parents=True, exist_ok=True)

    results: list[GradeResult] = []
    total = len(found.submissions) + len(found.rejected)
    echo(
        f"grading {len(found.submissions)} submission(s) of {spec.id} "
        f"with budget '{chosen.name}' into {out}/"
    )
    for rejected in found.rejected:
        result = GradeResult.without_results(
            id=rejected.id,
            sha256="",
            assignment=spec.id,
            budget=chosen.name,
            status=Status.REJECTED,
            message=rejected.reason,
            source_path=str(rejected.path),
        )
        results.append(_publish(result, out, lang, templates, spec, results, echo, total))
    for ref in found.submissions:
        result = grade_one(
            ref,
            spec=spec,
            budget=chosen,
            cache=cache,
            test=test,
            lang=lang,
            subset=subset,
            keep_scratch=keep_scratch,
        )
        results.append(_publish(result, out, lang, templates, spec, results, echo, total))
    all_graded = all(r.status is Status.GRADED for r in results)
    echo(
        f"wrote {out / 'grades.csv'}: {sum(r.status is Status.GRADED for r in results)}"
        f"/{len(results)} graded"
    )
    return ExitCode.OK if all_graded else ExitCode.NOT_ALL_GRADED


def _publish(
    result: GradeResult,
    out: Path,
    lang: str,
    templates: Path | None,
    spec: Spec,
    done: list[GradeResult],
    echo: Echo,
    total: int,
) -> GradeResult:
    report.write_result(result, out)
    report.render_reports(result, out, lang=lang, templates=templates)
    # Rewritten after every submission so an interrupted batch leaves a true gradebook.
    report.write_gradebook([*done, result], out, [item.id for item in spec.rubric])
    acc = f" test {100 * result.test_accuracy:.2f}%" if result.test_accuracy is not None else ""
    echo(
        f"[{len(done) + 1}/{total}] {result.id}: {result.status.value} "
        f"{result.score:g}/{result.max_score:g}{acc}"
        + (f" - {result.message.splitlines()[0][:160]}" if result.message else "")
    )
    return result


def _request(
    loaded: submission.LoadedSubmission,
    spec: Spec,
    budget: Budget,
    cache: Path,
    subset: int | None,
    threads: int,
) -> dict[str, Any]:
    fit = next((item.params for item in spec.rubric if item.id == "fit_config"), {})
    batch_size = int(fit.get("batch_size", 32))
    epochs = int(fit.get("epochs", budget.max_epochs))
    train_size = 60000 - spec.validation_size
    return {
        "protocol": 1,
        "submission_id": loaded.ref.id,
        "chunks": [
            {"cell": c.cell, "line": c.line, "source": c.source, "kind": c.kind}
            for c in loaded.chunks
        ],
        "cells": list(loaded.cells),
        "class_name": spec.class_name,
        "seed": spec.seed,
        "objective": spec.objective,
        "executions_per_trial": spec.executions_per_trial,
        "budget": {
            "max_trials": budget.max_trials,
            "max_epochs": budget.max_epochs,
            "trial_seconds": budget.trial_seconds,
            "submission_seconds": budget.submission_seconds,
        },
        "data": {
            "trainval_dir": str(data.trainval_dir(cache)),
            "validation_size": spec.validation_size,
            "num_classes": spec.num_classes,
            "input_dim": spec.input_dim,
            "subset": subset,
        },
        "probe": {"steps_per_epoch": math.ceil(train_size / batch_size), "epochs": epochs},
        "threads": threads,
        "search": True,
    }


def grade_one(
    ref: discover.SubmissionRef,
    *,
    spec: Spec,
    budget: Budget,
    cache: Path,
    test: data.TestSet,
    lang: str,
    subset: int | None = None,
    keep_scratch: bool = False,
) -> GradeResult:
    """Grade one submission; never raises for anything the submission does."""
    timings: dict[str, float] = {}
    start = time.monotonic()
    try:
        loaded = submission.load(ref)
    except SubmissionError as exc:
        return GradeResult.without_results(
            id=ref.id,
            sha256=_file_sha256(ref.path),
            assignment=spec.id,
            budget=budget.name,
            status=Status(exc.status),
            message=exc.message,
            source_path=str(ref.path),
        )
    timings["load"] = round(time.monotonic() - start, 3)
    scratch = Path(tempfile.mkdtemp(prefix=f"grader-{_safe(ref.id)}-"))
    try:
        threads = max(1, os.cpu_count() or 1)
        request = _request(loaded, spec, budget, cache, subset, threads)
        t = time.monotonic()
        outcome = run_child(
            request,
            scratch,
            hard_timeout=budget.submission_seconds + budget.kill_grace_seconds,
            threads=threads,
        )
        timings["child"] = round(time.monotonic() - t, 3)
        evaluation: Evaluation | None = None
        best = (outcome.answer or {}).get("best")
        message_override = None
        if best:
            t = time.monotonic()
            try:
                evaluation = evaluate(
                    scratch / "best_model.json",
                    scratch / "best.weights.h5",
                    test.x_test,
                    test.y_test,
                )
            except SubmissionError as exc:
                message_override = exc.message
            timings["evaluate"] = round(time.monotonic() - t, 3)
        timings["total"] = round(time.monotonic() - start, 3)
        result = score.assemble(
            spec=spec,
            budget=budget,
            loaded=loaded,
            outcome=outcome,
            evaluation=evaluation,
            lang=lang,
            subset=subset,
            timings=timings,
        )
        if message_override:
            result = _replace(result, status=Status.ERROR, message=message_override)
        return result
    except Exception as exc:  # a grader bug must cost one result, not the batch
        return GradeResult.without_results(
            id=ref.id,
            sha256=loaded.sha256,
            assignment=spec.id,
            budget=budget.name,
            status=Status.ERROR,
            message=f"internal grader error: {type(exc).__name__}: {exc}\n"
            + traceback.format_exc(limit=5),
            source_path=str(ref.path),
        )
    finally:
        if not keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _replace(result: GradeResult, **changes: Any) -> GradeResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
