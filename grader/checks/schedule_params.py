"""schedule_params: the schedule's parameters named in params (decay_steps, power, cycle,
or any other parameter of the family) have the required values.

The values come from the schedule's own config when it is the Keras class of that
family (exactly what the student wrote), else from the curve fitted to the probe's
samples (a hand-written schedule). params.family (default PolynomialDecay) and
params.rtol (default 1e-3) say which family and how the curve is identified;
params.tolerance (default 1e-3, relative) applies to numeric values.
"""

from __future__ import annotations

import math
from typing import Any

from grader import schedules
from grader.checks.base import CheckContext, Verdict, failed, fmt, passed, register
from grader.checks.schedule import identify_lr

MESSAGES = {
    "ok": {
        "es": "{family} con {found}, como se pedía.",
        "en": "{family} with {found}, as required.",
    },
    "wrong": {
        "es": "{family} con {found}; se esperaba {expected}.",
        "en": "{family} with {found}; expected {expected}.",
    },
    "no_schedule": {
        "es": "No hay un {family} cuyos parámetros comprobar (el learning rate es {found}); "
        "se esperaba {family} con {expected}.",
        "en": "There is no {family} whose parameters could be checked (the learning rate is "
        "{found}); expected {family} with {expected}.",
    },
}

_META = {"family", "rtol", "tolerance"}


def _equal(found: Any, expected: Any, tolerance: float) -> bool:
    if isinstance(expected, bool) or isinstance(found, bool) or found is None:
        return found == expected
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return math.isclose(float(found), float(expected), rel_tol=tolerance, abs_tol=1e-12)
    return found == expected


def _assignments(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


@register("schedule_params", MESSAGES, requires=("build",))
def check(ctx: CheckContext) -> Verdict:
    family = str(ctx.params.get("family", "PolynomialDecay"))
    rtol = float(ctx.params.get("rtol", 1e-3))
    tolerance = float(ctx.params.get("tolerance", 1e-3))
    wanted = {k: v for k, v in ctx.params.items() if k not in _META}
    lr = ctx.stage("build").get("learning_rate") or {}
    where = ctx.locate(family, "compile")
    fit = identify_lr(lr, rtol)
    config = lr.get("config") if lr.get("class_name") == family else None
    if fit is None or fit.family != family:
        if not config:
            found = schedules.describe(fit, ctx.lang) if fit else "?"
            return failed(
                ctx.say("no_schedule", family=family, found=found, expected=_assignments(wanted)),
                where,
            )
        fit_params: dict[str, Any] = {}
    else:
        fit_params = dict(fit.params)
    source = {**fit_params, **(config or {})}
    found = {k: source.get(k) for k in wanted}
    fields = {"family": family, "found": _assignments(found), "expected": _assignments(wanted)}
    if all(_equal(found[k], v, tolerance) for k, v in wanted.items()):
        return passed(ctx.say("ok", **fields), where)
    return failed(ctx.say("wrong", **fields), where)
