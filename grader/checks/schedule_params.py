"""schedule_params: the schedule's parameters named in params (decay_steps, power, cycle,
or any other parameter of the family) have the required values.

The values come from the schedule's own config when it is the Keras class of that
family (exactly what the student wrote), else from the curve fitted to the probe's
samples (a hand-written schedule). params.family (default: the `[rubric.schedule]`
check's family, filled in when the spec loads) and params.rtol (default 1e-3) say which
family and how the curve is identified; params.tolerance (default 1e-3, relative) applies
to numeric values. A parameter the family does not have is a spec error naming it and the
family's parameters (grader.schedules.family_parameters).

The schedule judged is the trained best model's (see grader/checks/schedule.py); the
parameters the rubric fixes are never searched, so a probe that saw other values for
them than the trained model holds fails the check.

A callback family (grader.checks.schedule.CALLBACK_FAMILIES) takes its values from the
curve fitted to the probe's dry run of the callback (CyclicLR: mode, base_lr, max_lr,
step_size, gamma; step decay: initial_lrate, drop, epochs_drop, and `form`, "epoch" or
"1 + epoch", the floor's argument), or, for ReduceLROnPlateau, from its configuration
(monitor, factor, patience, min_lr, ...). It rests on the child's word (evidence = child).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar

from grader import i18n, schedules
from grader.checks.base import CheckContext, Verdict, failed, fmt, passed, register
from grader.checks.params import ParamError
from grader.checks.schedule import (
    CALLBACK_FAMILIES,
    identify_callback,
    identify_lr,
    judged_lr,
    setting_callbacks,
    written,
)
from grader.results import Evidence

# Texts: the [checks.schedule_params] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.schedule_params")
# The floor's argument of the two step-decay forms, as a spec's `form` names it.
_STEP_FORMS = {"step decay": "epoch", "step decay (1 + epoch)": "1 + epoch"}

# Keys whose value is a word, not a number (a CyclicLR mode, a step-decay form, a monitor).
_TEXT_PARAMETERS = frozenset({"form", "mode", "monitor"})


@dataclass(frozen=True)
class Params:
    """family/rtol as the schedule check; `values` holds every other key of the table:
    the schedule's own parameters and their required values.

    `family` None (not in the spec) is the `[rubric.schedule]` check's family: `complete`
    fills it in once the whole rubric is read, and checks the values against it then."""

    REST: ClassVar[str] = "values"
    family: str | None = None
    rtol: float = 1e-3
    tolerance: float = 1e-3  # relative, for numeric values
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for key, value in self.values.items():
            if key in _TEXT_PARAMETERS:
                if not isinstance(value, str):
                    raise ParamError(key, f"must be a string, got {value!r}")
            elif not isinstance(value, bool | int | float | list):
                raise ParamError(key, f"must be a number, a boolean or an array, got {value!r}")
        if self.family is None:
            return
        known = schedules.family_parameters(self.family)
        if known is None:
            raise ParamError("family", f"is {self.family!r}, not a schedule family; known: "
                             + ", ".join(_families()))  # fmt: skip
        for key in self.values:
            if key not in known:
                raise ParamError(
                    key,
                    f"is not a parameter of {self.family}; its parameters: "
                    + (", ".join(known) or "none (nothing of it is fixed)"),
                )

    def complete(self, rubric: Mapping[str, Any]) -> Params:
        """The family of the rubric's `schedule` check when the spec names none here."""
        if self.family is not None:
            return self
        schedule = rubric.get("schedule")
        if schedule is None:
            raise ParamError(
                "family",
                "is missing: the rubric has no [rubric.schedule] check to take it from",
            )
        return replace(self, family=schedule.family)


def _families() -> list[str]:
    return [
        *schedules.FAMILIES,
        *schedules.CALLBACK_FAMILIES,
        *schedules.RANDOM_FAMILIES,
    ]


def _equal(found: Any, expected: Any, tolerance: float) -> bool:
    if isinstance(expected, bool) or isinstance(found, bool) or found is None:
        return found == expected
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return math.isclose(float(found), float(expected), rel_tol=tolerance, abs_tol=1e-12)
    # Records from the boundary hold tuples where the spec (TOML) holds lists
    # (PiecewiseConstantDecay's boundaries and values): compare element by element.
    if isinstance(expected, list | tuple) and isinstance(found, list | tuple):
        return len(found) == len(expected) and all(
            _equal(f, e, tolerance) for f, e in zip(found, expected, strict=True)
        )
    return found == expected


def _assignments(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


def _config_values(lr: Any, family: str, keys: Any) -> dict[str, Any] | None:
    config = lr.get("config") if isinstance(lr, Mapping) else None
    if not isinstance(config, Mapping) or lr.get("class_name") != family:
        return None
    return {k: config.get(k) for k in keys}


def _callback_values(ctx: CheckContext, family: str, rtol: float) -> tuple[dict, str] | None:
    """(values, found) of the callback that sets the rate with `family`, else None and
    what was found instead (in the second place)."""
    setters = setting_callbacks(ctx)
    if family == "ReduceLROnPlateau":
        plateaus = [cb for cb in setters if cb.get("class_name") == "ReduceLROnPlateau"]
        if plateaus:
            return dict(plateaus[-1].get("config") or {}), ""
        return None
    for cb in reversed(setters):  # the last one to set the rate wins
        fit = identify_callback(cb.get("dry_run") or {}, rtol)
        if fit is not None and fit.family in CALLBACK_FAMILIES[family]:
            values = dict(fit.params)
            if fit.family in _STEP_FORMS:
                values["form"] = _STEP_FORMS[fit.family]
            return values, ""
    return None


def _check_callback(
    ctx: CheckContext, family: str, rtol: float, tolerance: float, wanted: dict
) -> Verdict:
    where = ctx.locate(family, anywhere=True) or ctx.locate("fit")
    found_values = _callback_values(ctx, family, rtol)
    if found_values is None:
        names = ", ".join(str(cb.get("class_name")) for cb in setting_callbacks(ctx)) or "[]"
        text = ctx.say("no_callback", family=family, found=names, expected=_assignments(wanted))
        return failed(text, where, Evidence.CHILD)
    values = found_values[0]
    found = {k: values.get(k) for k in wanted}
    fields = {"family": family, "found": _assignments(found), "expected": _assignments(wanted)}
    if all(_equal(found[k], v, tolerance) for k, v in wanted.items()):
        return passed(ctx.say("ok", **fields), where, evidence=Evidence.CHILD)
    return failed(ctx.say("wrong", **fields), where, Evidence.CHILD)


@register("schedule_params", MESSAGES, requires=("build",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    p = ctx.params
    family, rtol, tolerance = p.family, p.rtol, p.tolerance
    if family is None:  # only a spec completes it (Params.complete): a Params built in code
        raise ValueError("schedule_params has no family: give one, or load it from a spec")
    wanted = dict(p.values)
    if family in CALLBACK_FAMILIES:
        return _check_callback(ctx, family, rtol, tolerance, wanted)
    lr, evidence, disagreement = judged_lr(ctx)
    where = ctx.locate(family, "compile")
    if disagreement:
        return failed(disagreement, where, evidence)
    if evidence is Evidence.ARTIFACT:
        # The settings the rubric fixes are not searched: the probe must have seen them.
        trained = _config_values(lr, family, wanted)
        probed = _config_values(ctx.record.build.get("learning_rate"), family, wanted)
        if trained is not None and probed is not None and trained != probed:
            text = ctx.disagreement(
                ctx.say("what_params", family=family),
                probed=_assignments(probed),
                trained=_assignments(trained),
            )
            return failed(text, where, evidence)
    fit = identify_lr(lr, rtol)
    config = lr.get("config") if lr.get("class_name") == family else None
    if fit is None or fit.family != family:
        if not config:
            found = written(lr, fit, ctx.lang) or "?"
            return failed(
                ctx.say("no_schedule", family=family, found=found, expected=_assignments(wanted)),
                where,
                evidence,
            )
        fit_params: dict[str, Any] = {}
    else:
        fit_params = dict(fit.params)
    source = {**fit_params, **(config or {})}
    found = {k: source.get(k) for k in wanted}
    fields = {"family": family, "found": _assignments(found), "expected": _assignments(wanted)}
    if all(_equal(found[k], v, tolerance) for k, v in wanted.items()):
        return passed(ctx.say("ok", **fields), where, evidence=evidence)
    return failed(ctx.say("wrong", **fields), where, evidence)
