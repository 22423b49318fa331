"""What the reports show besides the checks' verdicts, taken out while the inputs are at hand.

Templates render only from the result, never from the student's file or the probe record,
so the score stage copies two things into it: the student's code around each check's
location (`with_snippets`) and the learning rate the probe sampled beside the schedule the
spec expects (`learning_rate_curves`). Both are pure functions of data the parent already
holds; nothing here runs student code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from grader import schedules
from grader.boundary import ProbeRecord
from grader.checks.params import present
from grader.results import CheckResult, Curve, LearningRateCurves, Location, SnippetLine
from grader.spec import Spec

SNIPPET_CONTEXT = 2  # lines shown either side of the located line
MAX_LINE_CHARS = 160  # a minified line must not blow up the report's width


def snippet(
    cells: Sequence[str], location: Location | None, context: int = SNIPPET_CONTEXT
) -> tuple[SnippetLine, ...]:
    """The lines of `cells` around `location` (cell None: a .py file, the only "cell")."""
    if location is None:
        return ()
    index = 0 if location.cell is None else location.cell - 1
    if not 0 <= index < len(cells):
        return ()
    lines = cells[index].split("\n")
    if not 1 <= location.line <= len(lines):
        return ()
    first = max(1, location.line - context)
    last = min(len(lines), location.line + context)
    return tuple(SnippetLine(n, _shorten(lines[n - 1])) for n in range(first, last + 1))


def with_snippets(checks: Sequence[CheckResult], cells: Sequence[str]) -> tuple[CheckResult, ...]:
    """`checks` with each one's `snippet` filled from its location."""
    return tuple(dataclasses.replace(c, snippet=snippet(cells, c.location)) for c in checks)


def _shorten(text: str) -> str:
    text = text.rstrip().expandtabs(4)
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


def learning_rate_curves(record: ProbeRecord, spec: Spec) -> LearningRateCurves | None:
    """The student's sampled learning rate and the spec's schedule with the same values.

    None when the probe never built a model (nothing to compare). The expected curve takes
    the spec's schedule family (`[rubric.schedule].params.family`), its fixed parameters
    (`[rubric.schedule_params].params`) and the search-space hyperparameters at the values
    the student's default build used, so the two curves differ only by the schedule itself.
    """
    build = record.build
    if build.get("status") != "ok":
        return None
    params = {item.id: present(item.params) for item in spec.rubric}
    family = str(params.get("schedule", {}).get("family", ""))
    if family in schedules.CALLBACK_FAMILIES:
        return _callback_curves(record, params, family)
    lr = build.get("learning_rate") or {}
    student = _curve((lr.get("samples") or {}) if isinstance(lr, Mapping) else {})
    corners = record.corners
    total_steps = int(corners.get("total_steps") or (student.steps[-1] if student else 0))

    values = _values_used(record, params)
    expected = None
    if family and total_steps > 0:
        steps = student.steps if student and len(student.steps) > 2 else _steps(total_steps)
        expected = _expected(family, {**params.get("schedule_params", {}), **values}, steps)
    return LearningRateCurves(
        student=student,
        expected=expected,
        family=family,
        hyperparameters=values,
        total_steps=total_steps,
    )


def _values_used(record: ProbeRecord, params: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's searched hyperparameters at the values the default build used."""
    space = params.get("search_space", {}).get("hyperparameters", [])
    used = record.search_space.get("values") or {}
    return {
        hp["name"]: used.get(hp["name"], hp.get("min", hp.get("default")))
        for hp in space
        if isinstance(hp, Mapping) and "name" in hp
    }


def _callback_curves(
    record: ProbeRecord, params: Mapping[str, Any], family: str
) -> LearningRateCurves:
    """A callback schedule: the dry run of the callback that sets the rate, per batch for a
    cyclic policy (x = global batch index), else per epoch (x = epoch, from 0); the spec's
    curve at the same points. ReduceLROnPlateau has no expected curve (it reacts to the
    losses)."""
    calls = record.fit.get("calls") or []
    callbacks = [cb for call in calls for cb in call.get("callbacks") or ()]
    setters = [cb for cb in schedules.rate_setters(callbacks) if cb.get("dry_run")]
    run = (setters[-1].get("dry_run") or {}) if setters else {}
    per_batch = family in schedules.PER_BATCH_FAMILIES
    if per_batch:
        student = _curve({"steps": run.get("batches"), "lrs": run.get("batch_lrs")})
    else:
        lrs = list(run.get("epoch_lrs") or ())
        student = _curve({"steps": list(range(len(lrs))), "lrs": lrs})
    values = _values_used(record, params)
    fixed = dict(params.get("schedule_params", {}))
    candidates = schedules.CALLBACK_FAMILIES[family]
    expected = None
    if candidates and student is not None:
        # The step decay's two forms: the spec's `form` says which one it wants.
        chosen = candidates[-1] if fixed.get("form") == "1 + epoch" else candidates[0]
        expected = _expected(chosen, {**fixed, **values}, student.steps)
    return LearningRateCurves(
        student=student,
        expected=expected,
        family=family,
        hyperparameters=values,
        total_steps=(student.steps[-1] + 1) if student else 0,
    )


def _curve(samples: Mapping[str, Any]) -> Curve | None:
    steps, lrs = samples.get("steps") or [], samples.get("lrs") or []
    if not steps or len(steps) != len(lrs):
        return None
    return Curve(tuple(int(s) for s in steps), tuple(float(v) for v in lrs))


def _steps(total_steps: int) -> tuple[int, ...]:
    from grader.child.protocol import (
        sample_steps,  # the probe's own grid: curves line up step by step
    )

    return tuple(sample_steps(total_steps))


def _expected(family: str, params: dict[str, Any], steps: Sequence[int]) -> Curve | None:
    try:
        values = schedules.evaluate(family, params, steps)
    except (KeyError, TypeError, ValueError):
        return None  # the spec (or the build) lacks a parameter the family needs
    if not all(math.isfinite(v) for v in values):
        return None
    return Curve(tuple(int(s) for s in steps), tuple(float(v) for v in values))
