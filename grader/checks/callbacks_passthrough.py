"""callbacks_passthrough: the callbacks keras-tuner gives fit (kwargs["callbacks"]) reach
Model.fit. The probe passes two marker callbacks and records how many arrive.

The grader restores dropped callbacks during the search so the trial can still be
scored, but this check fails all the same: in keras-tuner the trial would lose its
results and best model.
"""

from __future__ import annotations

from grader.checks.base import CheckContext, Verdict, failed, passed, register
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "Los callbacks del tuner (kwargs['callbacks']) llegan a Model.fit, como se pedía.",
        "en": "The tuner's callbacks (kwargs['callbacks']) reach Model.fit, as required.",
    },
    "dropped": {
        "es": "{found} de los callbacks que el tuner pasa a fit (kwargs['callbacks']) llega a "
        "Model.fit; se esperaba que llegaran todos, p. ej. con M.fit(..., **kwargs) tras "
        "kwargs['callbacks'].append(early_cb). Sin ellos keras-tuner no registra cada trial "
        "ni guarda su mejor modelo (el corrector los repuso durante la búsqueda, pero esta "
        "comprobación no puntúa).",
        "en": "{found} of the callbacks the tuner passes to fit (kwargs['callbacks']) reach "
        "Model.fit; expected all of them, e.g. with M.fit(..., **kwargs) after "
        "kwargs['callbacks'].append(early_cb). Without them keras-tuner neither records the "
        "trial nor saves its best model (the grader put them back during the search, but "
        "this check scores nothing).",
    },
    "none": {"es": "Ninguno", "en": "None"},
    "some": {"es": "Solo una parte", "en": "Only some"},
    "no_call": {
        "es": "Tu fit no llama a Model.fit, así que los callbacks del tuner "
        "(kwargs['callbacks']) no llegan a usarse; se esperaba M.fit(..., **kwargs).",
        "en": "Your fit never calls Model.fit, so the tuner's callbacks "
        "(kwargs['callbacks']) are never used; expected M.fit(..., **kwargs).",
    },
}


@register("callbacks_passthrough", MESSAGES, requires=("fit",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    markers = ctx.stage("fit").get("markers")
    where = ctx.locate("fit")
    if markers == "all":
        return passed(ctx.say("ok"), where)
    if markers in ("none", "some"):
        return failed(ctx.say("dropped", found=ctx.say(markers)), where)
    return failed(ctx.say("no_call"), ctx.class_location())
