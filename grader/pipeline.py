"""`grade_one`: one submission through load -> (child: probe, search) -> evaluate -> score.

A submission that fails in any way becomes a result (`GradeResult.without_results`,
or a result with status error/timeout); nothing it does raises out of here. The
batch around it (discover, report, gradebook) is `grader.batch`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import data, score, submission
from grader.discover import SubmissionRef
from grader.errors import SubmissionError
from grader.evaluate import Evaluation, evaluate
from grader.results import GradeResult, Status
from grader.runner import run_child
from grader.spec import Budget, Spec


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides how one submission is graded, besides the submission."""

    spec: Spec
    budget: Budget
    cache: Path  # the decoded dataset (grader.data.prepare)
    lang: str
    subset: int | None = None  # train on the first N train/val images (tests, quick runs)
    seed: int | None = None  # overrides spec.seed (calibration over several seeds)
    threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    include_hidden: bool = True  # False for the student self-check
    keep_scratch: bool = False

    @property
    def effective_seed(self) -> int:
        return self.spec.seed if self.seed is None else self.seed


def _request(loaded: submission.LoadedSubmission, settings: RunSettings) -> dict[str, Any]:
    spec, budget = settings.spec, settings.budget
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
        "seed": settings.effective_seed,
        "objective": spec.objective,
        "executions_per_trial": spec.executions_per_trial,
        "budget": {
            "max_trials": budget.max_trials,
            "max_epochs": budget.max_epochs,
            "trial_seconds": budget.trial_seconds,
            "submission_seconds": budget.submission_seconds,
        },
        "data": {
            "trainval_dir": str(data.trainval_dir(settings.cache)),
            "validation_size": spec.validation_size,
            "num_classes": spec.num_classes,
            "input_dim": spec.input_dim,
            "subset": settings.subset,
        },
        "probe": {"steps_per_epoch": math.ceil(train_size / batch_size), "epochs": epochs},
        "threads": settings.threads,
        "search": True,
    }


def grade_one(ref: SubmissionRef, settings: RunSettings, test: data.TestSet) -> GradeResult:
    """Grade one submission; never raises for anything the submission does."""
    spec, budget = settings.spec, settings.budget
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
        request = _request(loaded, settings)
        t = time.monotonic()
        outcome = run_child(
            request,
            scratch,
            hard_timeout=budget.submission_seconds + budget.kill_grace_seconds,
            threads=settings.threads,
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
            lang=settings.lang,
            subset=settings.subset,
            include_hidden=settings.include_hidden,
            timings=timings,
        )
        if message_override:
            result = dataclasses.replace(result, status=Status.ERROR, message=message_override)
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
        if not settings.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
