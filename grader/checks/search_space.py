"""search_space: the hyperparameters in params.hyperparameters ({name, type, min, max})
are declared with that type and range (within params.tolerance), no other one is
searched unless params.allow_extra (hp.Fixed is not a search), and over the corners of
the space the learning rate never ends above where it starts (end_learning_rate must
not exceed initial_learning_rate).

Trained by the grader (grader.training), the space judged is the one the trainer searched
(every hyperparameter the declarations gave it), not the probe's record. The corners are
still the probe's builds (the child's word): no corner is trained, and the rates that do
train are judged by the schedule check against the declared tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from grader import i18n
from grader.checks.base import (
    CheckContext,
    Verdict,
    error_location,
    error_text,
    failed,
    fmt,
    join,
    passed,
    register,
)
from grader.checks.params import present
from grader.child.declaration import space_record
from grader.results import Evidence

# Texts: the [checks.search_space] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.search_space")

# A rate that grows by less than this (relative) is float32 noise at equal end and initial.
_GROWTH_RTOL = 1e-6


def declaration(h: Mapping[str, Any]) -> str:
    """The hyperparameter as the student would declare it, e.g. hp.Float("x", ...)."""
    kind, name = h.get("type"), h.get("name")
    if kind == "Choice":
        return f'hp.Choice("{name}", {fmt(h.get("values") or [])})'
    if kind == "Boolean":
        return f'hp.Boolean("{name}")'
    return f'hp.{kind}("{name}", min_value={fmt(h.get("min"))}, max_value={fmt(h.get("max"))})'


def _values_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


def _range_problems(ctx: CheckContext, found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    tolerance = ctx.params.tolerance
    problems = []
    for want in present(ctx.params).get("hyperparameters", []):
        name = want["name"]
        have = found.get(name)
        if have is None:
            problems.append(ctx.say("missing", expected=declaration(want)))
            continue
        if want.get("type") and have.get("type") != want["type"]:
            problems.append(
                ctx.say("wrong_type", name=name, found=have.get("type"), expected=declaration(want))
            )
            continue
        for bound in ("min", "max"):
            if bound in want and (
                have.get(bound) is None or abs(float(have[bound]) - float(want[bound])) > tolerance
            ):
                problems.append(
                    ctx.say(
                        "wrong_range",
                        name=name,
                        found_min=fmt(have.get("min")),
                        found_max=fmt(have.get("max")),
                        min=fmt(want.get("min")),
                        max=fmt(want.get("max")),
                    )
                )
                break
    return problems


def _corner_problems(ctx: CheckContext) -> tuple[list[str], Any]:
    problems: list[str] = []
    growing: list[str] = []
    where = None
    for corner in ctx.record.corners.get("builds") or []:
        values = _values_text(corner.get("values") or {})
        if not corner.get("ok"):
            problems.append(
                ctx.say("corner_error", values=values, error=error_text(corner.get("error")))
            )
            where = where or error_location(corner.get("error"))
            continue
        first, last = corner.get("lr_first"), corner.get("lr_last")
        if not ctx.params.decays:
            continue
        if first is not None and last is not None and last > first * (1 + _GROWTH_RTOL):
            growing.append(ctx.say("lr_grows", values=values, first=fmt(first), last=fmt(last)))
    # One example is enough: the rule is the same at every corner where it breaks.
    return problems + growing[:1], where


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter the student must declare (min/max only for Float and Int)."""

    name: str
    type: Literal["Float", "Int", "Choice", "Boolean"] | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] | None = None  # a Choice's values, for the message


@dataclass(frozen=True)
class Params:
    tolerance: float = 1e-4  # absolute, on min and max
    allow_extra: bool = False  # other searched hyperparameters are allowed
    hyperparameters: tuple[Hyperparameter, ...] = ()
    # The schedule is a decay: at no corner of the space may the rate end above where it
    # starts (the exam's end_learning_rate <= initial_learning_rate). False for a rate that
    # is not a decay (seed 003's random one ends above its start half the time).
    decays: bool = True


def declared_space(entries: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    """keras-tuner's `{class_name, config}` entries in the shape of the probe's record."""
    return [space_record(str(e.get("class_name")), e.get("config") or {}) for e in entries]


@register("search_space", MESSAGES, requires=("build",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    declared = ctx.artifacts.declared
    evidence = None
    if declared is not None and declared.space:
        searched = declared_space(declared.space)
        evidence = Evidence.ARTIFACT
    else:
        searched = ctx.record.search_space.get("hyperparameters") or []
    space = [h for h in searched if h.get("type") != "Fixed"]
    found = {h["name"]: h for h in space}
    wanted = {w.name for w in ctx.params.hyperparameters}
    problems = _range_problems(ctx, found)
    extra = [h for h in space if h["name"] not in wanted]
    if extra and not ctx.params.allow_extra:
        problems.append(ctx.say("extra", found=", ".join(declaration(h) for h in extra)))
    corner_problems, corner_where = _corner_problems(ctx)
    problems += corner_problems
    where = corner_where or ctx.locate("Float", "Int", "Choice")
    if problems:
        return failed(join(problems), where, evidence=evidence)
    found = ", ".join(declaration(h) for h in space)
    return passed(ctx.say("ok", found=found), where, evidence=evidence)
