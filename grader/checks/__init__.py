"""The rubric checks: one module per check id, run in the spec's rubric order.

A check reads the trained best model's files as the parent read them
(grader/artifacts.py) where they hold what it judges, the probe record (grader/child/
probe.py, the child's word) for the rest, its rubric item's `params`, the
search/evaluation outcome and, for locations, the loaded submission; it returns a
`Verdict` that says which of the two it rests on (`evidence`). `run_checks` turns
verdicts into `CheckResult`s with points, skips checks
whose prerequisite stage failed, and never lets one check's bug sink the batch.
Message templates live in the language catalogs, `[checks.<id>]` of
grader/i18n/<lang>.toml (see grader/checks/base.py); the spec's `[rubric.<id>].messages`
overrides them per key and language.

Every module of this package is a check except the shared ones (`base`, `params`) and
helpers whose name starts with `_`: each is imported here, which registers it, so a check
is added by adding its module (docs/DESIGN.md, "Adding a check"), never to a list.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from types import MappingProxyType
from typing import TYPE_CHECKING

from grader.checks.base import (
    COMMON_MESSAGES,
    REGISTRY,
    STAGES,
    Check,
    CheckContext,
    Verdict,
    error_text,
    register,
    skipped,
)
from grader.checks.rubric import validate_messages
from grader.errors import SpecError
from grader.results import CheckResult, CheckStatus

if TYPE_CHECKING:  # grader.spec imports the checks to read a rubric
    from grader.spec import RubricItem, Spec

# The modules that are not checks: what every check shares.
SHARED_MODULES = frozenset({"base", "params", "rubric"})
# One module per check id, found in the package (a wheel's too): importing one registers it.
CHECK_MODULES = tuple(
    sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if info.name not in SHARED_MODULES and not info.name.startswith("_")
    )
)
for _name in CHECK_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "CHECK_MODULES",
    "REGISTRY",
    "SHARED_MODULES",
    "CheckContext",
    "Verdict",
    "register",
    "run_checks",
    "validate_rubric",
]

# Which prerequisite message a failed stage gives (the first failed one wins).
_STAGE_MESSAGE = {"structure": "needs_structure", "build": "needs_build", "fit": "needs_fit"}


def validate_rubric(spec: Spec) -> None:
    """Raise SpecError for an unknown check id or a message override that cannot work."""
    for item in spec.rubric:
        check = REGISTRY.get(item.id)
        if check is None:
            raise SpecError(
                f"{spec.path}: [rubric.{item.id}] names no known check",
                hint=f"known checks: {', '.join(sorted(REGISTRY))}",
            )
        # The spec checked them when it loaded; a Spec built in code is checked here.
        validate_messages(item.id, item.messages, spec.path)


def _messages(check: Check, item: RubricItem) -> MappingProxyType:
    merged = {key: dict(texts) for key, texts in {**COMMON_MESSAGES, **check.messages}.items()}
    for key, texts in item.messages.items():
        merged.setdefault(key, {}).update(texts)
    return MappingProxyType(merged)


def _prerequisite(check: Check, ctx: CheckContext) -> Verdict | None:
    """A skip verdict when the probe never ran or a stage this check needs failed."""
    if not check.requires:
        return None
    if ctx.record.probe_version is None:
        return skipped(ctx.say("no_probe"))
    # Stages in pipeline order up to the deepest one needed: the first failure is the
    # reason to give (an unusable class, not the fit that could not run because of it).
    deepest = max(STAGES.index(stage) for stage in check.requires)
    for stage in STAGES[: deepest + 1]:
        if ctx.record.stage(stage).get("status") != "ok":
            return skipped(ctx.say(_STAGE_MESSAGE[stage]))
    return None


def run_checks(
    spec: Spec, base: CheckContext, lang: str | None = None, include_hidden: bool = True
) -> tuple[CheckResult, ...]:
    """Every rubric item of `spec`, in order, as a CheckResult (hidden ones optional)."""
    validate_rubric(spec)
    lang = lang or base.lang
    results = []
    for item in spec.rubric:
        if item.hidden and not include_hidden:
            continue
        check = REGISTRY[item.id]
        ctx = dataclasses.replace(
            base,
            lang=lang,
            params=item.params if item.params is not None else check.params(),
            messages=_messages(check, item),
            class_name=spec.class_name,
            baselines=base.baselines or spec.baselines,
        )
        try:
            verdict = _prerequisite(check, ctx) or check.run(ctx)
        except Exception as exc:
            error = error_text({"type": type(exc).__name__, "message": str(exc)})
            verdict = Verdict(CheckStatus.FAILED, ctx.say("grader_error", error=error), None, 0.0)
        fraction = min(1.0, max(0.0, verdict.fraction))
        # A skip rests on nothing; any other verdict on what it says, else the check's own.
        evidence = None
        if verdict.status is not CheckStatus.SKIPPED:
            evidence = verdict.evidence or check.evidence
        points = item.points * fraction if verdict.status is CheckStatus.PASSED else 0.0
        results.append(
            CheckResult(
                id=item.id,
                title=item.title_in(lang),
                status=verdict.status,
                points=round(points, 6),
                max_points=item.points,
                message=verdict.message,
                hidden=item.hidden,
                location=verdict.location,
                evidence=evidence,
            )
        )
    return tuple(results)
