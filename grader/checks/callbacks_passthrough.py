"""callbacks_passthrough: the callbacks keras-tuner gives fit (kwargs["callbacks"]) reach
Model.fit. The probe passes two marker callbacks and records how many arrive.

The grader restores dropped callbacks during the search so the trial can still be
scored, but this check fails all the same: in keras-tuner the trial would lose its
results and best model.
"""

from __future__ import annotations

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, passed, register
from grader.results import Evidence

# Texts: the [checks.callbacks_passthrough] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.callbacks_passthrough")


@register("callbacks_passthrough", MESSAGES, requires=("fit",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    markers = ctx.record.fit.get("markers")
    where = ctx.locate("fit")
    if markers == "all":
        return passed(ctx.say("ok"), where)
    if markers in ("none", "some"):
        return failed(ctx.say("dropped", found=ctx.say(markers)), where)
    return failed(ctx.say("no_call"), ctx.class_location())
