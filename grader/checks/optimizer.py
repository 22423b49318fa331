"""optimizer: the optimizer class is params.class_name (SGD), with momentum in
[params.momentum[0], params.momentum[1]] and nesterov one of params.nesterov.

Judged on the optimizer stored with the trained best model (`best.keras`), the probe's
record when there is none; a probe that saw another optimizer fails the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.checks.base import CheckContext, Verdict, failed, fmt, join, passed, register
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "Optimizador {found} (momentum={momentum}, nesterov={nesterov}), como se pedía.",
        "en": "Optimizer {found} (momentum={momentum}, nesterov={nesterov}), as required.",
    },
    "wrong_class": {
        "es": "El optimizador es {found}; se esperaba keras.optimizers.{expected}.",
        "en": "The optimizer is {found}; expected keras.optimizers.{expected}.",
    },
    "wrong_momentum": {
        "es": "{found} tiene momentum={momentum}; se esperaba {expected}.",
        "en": "{found} has momentum={momentum}; expected {expected}.",
    },
    "wrong_nesterov": {
        "es": "{found} tiene nesterov={nesterov}; se esperaba nesterov={expected}.",
        "en": "{found} has nesterov={nesterov}; expected nesterov={expected}.",
    },
    "what": {"es": "el optimizador", "en": "the optimizer"},
}


def _settings(opt: Mapping[str, Any]) -> tuple[str, Any, Any]:
    return str(opt.get("class_name") or "?"), opt.get("momentum"), opt.get("nesterov")


@register("optimizer", MESSAGES, requires=("build",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    opt, evidence = ctx.judged("optimizer")
    expected = str(ctx.params.get("class_name", "SGD"))
    found, momentum, nesterov = _settings(opt or {})
    where = ctx.locate(found, "compile")
    probed = ctx.stage("build").get("optimizer")
    if evidence is Evidence.ARTIFACT and isinstance(probed, Mapping):
        shown = _settings(probed)
        if shown != (found, momentum, nesterov):
            describe = "{}(momentum={}, nesterov={})".format
            text = ctx.disagreement(
                ctx.say("what"),
                probed=describe(shown[0], fmt(shown[1]), shown[2]),
                trained=describe(found, fmt(momentum), nesterov),
            )
            return failed(text, where, evidence)
    if found != expected:
        return failed(ctx.say("wrong_class", found=found, expected=expected), where, evidence)
    problems = []
    if "momentum" in ctx.params:
        low, high = (float(v) for v in ctx.params["momentum"])
        if momentum is None or not low - 1e-12 <= float(momentum) <= high + 1e-12:
            text = fmt(low) if low == high else f"[{fmt(low)}, {fmt(high)}]"
            problems.append(
                ctx.say("wrong_momentum", found=found, momentum=fmt(momentum), expected=text)
            )
    if "nesterov" in ctx.params:
        allowed = list(ctx.params["nesterov"])
        if nesterov not in allowed:
            text = (
                " o ".join(map(str, allowed))
                if ctx.lang == "es"
                else " or ".join(map(str, allowed))
            )
            problems.append(
                ctx.say("wrong_nesterov", found=found, nesterov=nesterov, expected=text)
            )
    if problems:
        return failed(join(problems), where, evidence)
    ok = ctx.say("ok", found=found, momentum=fmt(momentum), nesterov=nesterov)
    return passed(ok, where, evidence=evidence)
