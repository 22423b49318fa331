"""schedule: the optimizer's learning rate follows params.family (PolynomialDecay), judged
by behaviour: the probe's samples of the rate over training are identified with
grader.schedules.identify within params.rtol, so a hand-written LearningRateSchedule
that computes the same curve passes and a class named PolynomialDecay that does not
fails. When it fails, the message names the curve found and the other ways the student
changed the rate (LearningRateScheduler, ReduceLROnPlateau, Keras 2 `lr=`/`decay=`).

The curve judged is the trained best model's: its schedule's config, read from
`best.keras`, computed by the parent exactly as Keras does (grader.schedules.keras_curve).
The probe's samples (the child's word) are used only when that file holds no schedule the
parent can compute (none saved, or a student's own schedule class). A probe that saw
another schedule class than the one trained fails the check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import schedules
from grader.checks.base import (
    CheckContext,
    Verdict,
    error_text,
    failed,
    fmt,
    join,
    passed,
    register,
)
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "El learning rate del optimizador sigue {found}{by}, como se pedía.",
        "en": "The optimizer's learning rate follows {found}{by}, as required.",
    },
    "by_class": {
        "es": " (calculado por tu {class_found})",
        "en": " (computed by your {class_found})",
    },
    "wrong": {
        "es": "El learning rate del optimizador es {found}.",
        "en": "The optimizer's learning rate is {found}.",
    },
    "expected": {
        "es": "Se esperaba un keras.optimizers.schedules.{family} pasado como learning_rate del "
        "optimizador (p. ej. SGD(learning_rate=lr_schedule)), que cambia el learning rate "
        "en cada paso de entrenamiento.",
        "en": "Expected a keras.optimizers.schedules.{family} passed as the optimizer's "
        "learning_rate (e.g. SGD(learning_rate=lr_schedule)), which changes the learning "
        "rate at every training step.",
    },
    "no_samples": {
        "es": "No se pudo evaluar el learning rate ({class_found}) a lo largo del "
        "entrenamiento: {error}.",
        "en": "The learning rate ({class_found}) could not be evaluated over training: {error}.",
    },
    "unknown_curve": {
        "es": "una curva que no corresponde a ningún planificador de Keras conocido",
        "en": "a curve that matches no known Keras schedule",
    },
    "lr_scheduler": {
        "es": "Además, un callback LearningRateScheduler cambia el learning rate en cada época "
        "(se encontró: {found}), pero eso no es un planificador del optimizador.",
        "en": "Also, a LearningRateScheduler callback changes the learning rate every epoch "
        "(found: {found}), but that is not an optimizer schedule.",
    },
    "epoch_values": {
        "es": "de {first} a {last} en {epochs} épocas",
        "en": "from {first} to {last} over {epochs} epochs",
    },
    "plateau": {
        "es": "Además, ReduceLROnPlateau(monitor={monitor}, factor={factor}, "
        "patience={patience}) reduce el learning rate cuando la métrica se estanca; "
        "eso no es un planificador del optimizador.",
        "en": "Also, ReduceLROnPlateau(monitor={monitor}, factor={factor}, "
        "patience={patience}) lowers the learning rate when the metric stalls; "
        "that is not an optimizer schedule.",
    },
    "what": {"es": "como learning rate", "en": "as its learning rate"},
}


MAX_TOTAL_STEPS = 10**9  # a total the child claims beyond this is not a training run


def _total_steps(ctx: CheckContext) -> int:
    """The training length the curve is drawn over (the probe's, which the parent set)."""
    value = ctx.stage("corners").get("total_steps")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_TOTAL_STEPS:
        samples = (ctx.stage("build").get("learning_rate") or {}).get("samples") or {}
        steps = samples.get("steps") or [0]
        last = steps[-1] if isinstance(steps, list) and steps else 0
        value = last if isinstance(last, int) and 0 < last <= MAX_TOTAL_STEPS else 19600
    return value


def _kind(lr: Mapping[str, Any] | None) -> str:
    """A learning rate as the student wrote it: the schedule's class, or "constant"."""
    if not isinstance(lr, Mapping) or not lr:
        return "?"
    return "constant" if lr.get("kind") == "constant" else str(lr.get("class_name"))


def judged_lr(ctx: CheckContext) -> tuple[Mapping[str, Any], Evidence, str | None]:
    """The learning rate to judge, with samples; what it rests on; a disagreement message.

    The trained model's schedule when its file holds one the parent can compute (a constant
    or a standard Keras schedule: grader.schedules.keras_curve over the probe's step grid);
    else the probe's samples. A probe that saw another kind of rate than the one trained
    gives the disagreement message (the rates' values may differ: the search sets them).
    """
    lr, evidence = ctx.judged("learning_rate")
    probed = ctx.stage("build").get("learning_rate") or {}
    if evidence is Evidence.CHILD:
        return lr or {}, evidence, None
    disagreement = None
    if probed and _kind(probed) != _kind(lr):
        disagreement = ctx.disagreement(ctx.say("what"), probed=_kind(probed), trained=_kind(lr))
    total = _total_steps(ctx)
    out = dict(lr)
    if lr.get("kind") == "constant":
        value = float(lr["value"])
        out["samples"] = {"steps": [0, total], "lrs": [value, value]}
        return out, evidence, disagreement
    if lr.get("class_name") not in schedules.KERAS_SCHEDULES:
        # A student's own schedule class: only its running code can say what it computes.
        return probed, Evidence.CHILD, disagreement
    from grader.child.protocol import sample_steps  # the probe's grid, so curves line up

    steps = sample_steps(total)
    try:
        values = schedules.keras_curve(str(lr["class_name"]), lr.get("config") or {}, steps)
    except schedules.ScheduleConfigError as exc:
        out["samples_error"] = exc.message
        return out, evidence, disagreement
    if not all(math.isfinite(v) for v in values):
        out["samples_error"] = "the learning rate takes a non-finite value (nan or inf)"
        return out, evidence, disagreement
    out["samples"] = {"steps": steps, "lrs": [float(v) for v in values]}
    return out, evidence, disagreement


def identify_lr(lr: Mapping[str, Any], rtol: float) -> schedules.ScheduleFit | None:
    """The schedule family the recorded learning-rate samples match, if any."""
    samples = lr.get("samples") or {}
    steps, lrs = samples.get("steps") or [], samples.get("lrs") or []
    return schedules.identify(steps, lrs, rtol=rtol) if steps and len(steps) == len(lrs) else None


def _callbacks(ctx: CheckContext) -> list[Mapping[str, Any]]:
    calls = ctx.stage("fit").get("calls") or []
    return [cb for call in calls for cb in call.get("callbacks") or [] if not cb.get("marker")]


def _epoch_schedule(ctx: CheckContext, callback: Mapping[str, Any], rtol: float) -> str:
    """A LearningRateScheduler's rates: the family they match, else their range."""
    samples = callback.get("samples") or {}
    lrs = samples.get("lrs") or []
    if not lrs:
        return error_text(callback.get("samples_error"))
    fit = schedules.identify_epoch_schedule(samples["epochs"], lrs, rtol=rtol)
    if fit is not None:
        return schedules.describe(fit, ctx.lang)
    return ctx.say("epoch_values", first=fmt(lrs[0]), last=fmt(lrs[-1]), epochs=len(lrs))


def other_mechanisms(ctx: CheckContext, rtol: float) -> list[str]:
    """Sentences about the ways the student changes the rate other than a schedule."""
    notes = []
    for cb in _callbacks(ctx):
        if cb.get("class_name") == "LearningRateScheduler":
            notes.append(ctx.say("lr_scheduler", found=_epoch_schedule(ctx, cb, rtol)))
        elif cb.get("class_name") == "ReduceLROnPlateau":
            c = cb.get("config") or {}
            notes.append(
                ctx.say(
                    "plateau",
                    monitor=repr(c.get("monitor")),
                    factor=c.get("factor"),
                    patience=c.get("patience"),
                )
            )
    b = ctx.stage("build")
    optimizer = (b.get("optimizer") or {}).get("class_name") or "SGD"
    warnings = " ".join(b.get("warnings") or [])
    if "`decay`" in warnings or ctx.keyword(optimizer, "decay"):
        notes.append(ctx.say("keras2_decay"))
    if ctx.keyword(optimizer, "lr"):
        notes.append(ctx.say("keras2_lr"))
    return notes


@dataclass(frozen=True)
class Params:
    family: str = "PolynomialDecay"  # a family of grader.schedules (Keras' class name)
    rtol: float = 1e-3  # how closely the sampled curve must follow it


@register("schedule", MESSAGES, params=Params, requires=("build",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    family, rtol = ctx.params.family, ctx.params.rtol
    lr, evidence, disagreement = judged_lr(ctx)
    optimizer, _ = ctx.judged("optimizer")
    opt_class = (optimizer or {}).get("class_name") or "SGD"
    # Where the rate is set: the optimizer call (the schedule's own call once it passes).
    where = ctx.locate(opt_class, "compile")
    if disagreement:
        return failed(disagreement, where, evidence)
    if lr.get("samples_error") and not lr.get("samples"):
        error = lr["samples_error"]
        text = ctx.say(
            "no_samples",
            class_found=lr.get("class_name"),
            error=error if isinstance(error, str) else error_text(error),
        )
        return failed(text, where, evidence)
    fit = identify_lr(lr, rtol)
    if fit is not None and fit.family == family:
        by = (
            ""
            if lr.get("class_name") == family
            else ctx.say("by_class", class_found=lr.get("class_name"))
        )
        where = ctx.locate(str(lr.get("class_name")), family) or where
        ok = ctx.say("ok", found=schedules.describe(fit, ctx.lang), by=by)
        return passed(ok, where, evidence=evidence)
    found = schedules.describe(fit, ctx.lang) if fit else ctx.say("unknown_curve")
    parts = [
        ctx.say("wrong", found=found),
        *other_mechanisms(ctx, rtol),
        ctx.say("expected", family=family),
    ]
    return failed(join(parts), where, evidence)
