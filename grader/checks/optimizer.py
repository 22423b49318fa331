"""optimizer: the optimizer class is params.class_name (SGD), with momentum in
[params.momentum[0], params.momentum[1]] and nesterov one of params.nesterov.
"""

from __future__ import annotations

from grader.checks.base import CheckContext, Verdict, failed, fmt, join, passed, register

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
}


@register("optimizer", MESSAGES, requires=("build",))
def check(ctx: CheckContext) -> Verdict:
    opt = ctx.stage("build").get("optimizer") or {}
    expected = str(ctx.params.get("class_name", "SGD"))
    found = str(opt.get("class_name") or "?")
    where = ctx.locate(found, "compile")
    if found != expected:
        return failed(ctx.say("wrong_class", found=found, expected=expected), where)
    problems = []
    momentum = opt.get("momentum")
    nesterov = opt.get("nesterov")
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
        return failed(join(problems), where)
    return passed(ctx.say("ok", found=found, momentum=fmt(momentum), nesterov=nesterov), where)
