"""Task functions for tests/test_executor.py, importable by spawned worker processes."""

from __future__ import annotations

import os
import signal

from grader.executor import Task
from grader.results import GradeResult, Status


def fake_task(task: Task) -> GradeResult:
    """Grade instantly; a submission called `die` kills its worker process outright."""
    if task.ref.id == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return GradeResult(
        id=task.ref.id,
        sha256="x",
        assignment=task.settings.spec.id,
        budget=task.settings.budget.name,
        status=Status.GRADED,
        score=float(len(task.content)),
        max_score=100.0,
        timings={"pid": float(os.getpid())},
    )
