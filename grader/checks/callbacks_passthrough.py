"""callbacks_passthrough: the callbacks keras-tuner gives fit (kwargs["callbacks"]) reach
Model.fit. The probe passes two marker callbacks and records how many arrive.

The grader restores dropped callbacks during the search so the trial can still be
scored, but this check fails all the same: in keras-tuner the trial would lose its
results and best model.

Trained by the grader (grader.training), what is judged is every fit plan the trainer
trained: the tuner's entries each holds (the child passes TUNER_MARKERS markers when it
declares), not what the probe saw.
"""

from __future__ import annotations

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, passed, register
from grader.child.declaration import TUNER_MARKERS, CallbackKind
from grader.results import Evidence

# Texts: the [checks.callbacks_passthrough] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.callbacks_passthrough")


@register("callbacks_passthrough", MESSAGES, requires=("fit",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    markers = ctx.record.fit.get("markers")
    where = ctx.locate("fit")
    declared = ctx.artifacts.declared
    if declared is not None and declared.fits:
        counts = [
            sum(cb.get("kind") == CallbackKind.TUNER.value for cb in plan.get("callbacks") or [])
            for plan in declared.fits
        ]
        found = "all" if min(counts) >= TUNER_MARKERS else "none" if max(counts) == 0 else "some"
        if found == "all":
            return passed(ctx.say("ok"), where, evidence=Evidence.ARTIFACT)
        return failed(ctx.say("dropped", found=ctx.say(found)), where, evidence=Evidence.ARTIFACT)
    if markers == "all":
        return passed(ctx.say("ok"), where)
    if markers in ("none", "some"):
        return failed(ctx.say("dropped", found=ctx.say(markers)), where)
    return failed(ctx.say("no_call"), ctx.class_location())
