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

import numpy as np

from grader import data, score, submission
from grader.discover import SubmissionRef
from grader.errors import SubmissionError
from grader.evaluate import Evaluation, evaluate, saved_optimizer, scores_from_file
from grader.limits import Limits
from grader.results import GradeResult, ReferenceCalibration, Status
from grader.runner import ChildEnd, run_child
from grader.sandbox import Sandbox, resolve
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
    # The reference under this budget (grader.calibrate.ensure); None: accuracy is skipped.
    calibration: ReferenceCalibration | None = None
    # Student code runs in bubblewrap unless the caller deliberately passes Sandbox(None).
    sandbox: Sandbox = field(default_factory=lambda: resolve(no_sandbox=False))
    limits: Limits | None = None  # None: the spec's [limits]

    @property
    def effective_limits(self) -> Limits:
        return self.limits or self.spec.limits

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
        "budget": budget.search_limits(),
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
        outcome = _run(request, scratch, settings)
        timings["child"] = round(time.monotonic() - t, 3)
        evaluation: Evaluation | None = None
        best = (outcome.answer or {}).get("best")
        message_override = None
        optimizer = None
        if best:
            t = time.monotonic()
            try:
                evaluation = _evaluate(request, scratch, settings, test)
            except SubmissionError as exc:
                message_override = exc.message
            timings["evaluate"] = round(time.monotonic() - t, 3)
            if best.get("model_file"):
                optimizer = saved_optimizer(scratch / "best.keras")
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
            seed=settings.effective_seed,
            calibration=settings.calibration,
            saved_optimizer=optimizer,
            sandboxed=settings.sandbox.enabled,
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


def _run(request: dict[str, Any], scratch: Path, settings: RunSettings) -> Any:
    budget = settings.budget
    return run_child(
        request,
        scratch,
        hard_timeout=budget.submission_seconds + budget.kill_grace_seconds,
        threads=settings.threads,
        sandbox=settings.sandbox,
        limits=settings.effective_limits,
        readable=[data.trainval_dir(settings.cache)],
        # Every other copy of the dataset holds the test set: none may be visible.
        hidden=[data.DEBIAN_DIR, settings.cache / data.TEST, data.keras_cache_dir()],
    )


def _evaluate(
    request: dict[str, Any], scratch: Path, settings: RunSettings, test: data.TestSet
) -> Evaluation:
    """Test accuracy computed by the parent.

    First the safe way: rebuild the model from its architecture in Keras' safe mode.
    A model that needs the student's own classes is predicted by a second sandboxed
    child that gets the test images but never the labels; the parent scores it.
    """
    model_files = (scratch / "best_model.json", scratch / "best.weights.h5")
    try:
        return evaluate(*model_files, test.x_test, test.y_test)
    except SubmissionError as safe_failure:
        folder = scratch / "predict"
        folder.mkdir()
        for path in model_files:
            shutil.copy2(path, folder / path.name)
        np.save(folder / "test_images.npy", test.x_test, allow_pickle=False)
        outcome = _run({**request, "mode": "predict", "search": False}, folder, settings)
        answer = outcome.answer or {}
        if outcome.end is not ChildEnd.FINISHED or answer.get("status") != "ok":
            detail = answer.get("message") or outcome.end.value
            raise SubmissionError(
                f"{safe_failure.message}; predicting in the sandbox failed too: {detail}"
            ) from None
        return scores_from_file(folder / "predictions.npy", test.y_test)


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
