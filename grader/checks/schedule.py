"""schedule: the optimizer's learning rate follows params.family (PolynomialDecay), judged
by behaviour: the probe's samples of the rate over training are identified with
grader.schedules.identify within params.rtol, so a hand-written LearningRateSchedule
that computes the same curve passes and a class named PolynomialDecay that does not
fails. When it fails, the message names the curve found and the other ways the student
changed the rate (LearningRateScheduler, ReduceLROnPlateau, Keras 2 `lr=`/`decay=`).
"""

from __future__ import annotations

from collections.abc import Mapping
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
}


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


@register("schedule", MESSAGES, requires=("build",))
def check(ctx: CheckContext) -> Verdict:
    family = str(ctx.params.get("family", "PolynomialDecay"))
    rtol = float(ctx.params.get("rtol", 1e-3))
    b = ctx.stage("build")
    lr = b.get("learning_rate") or {}
    opt_class = (b.get("optimizer") or {}).get("class_name") or "SGD"
    # Where the rate is set: the optimizer call (the schedule's own call once it passes).
    where = ctx.locate(opt_class, "compile")
    if lr.get("samples_error") and not lr.get("samples"):
        text = ctx.say(
            "no_samples", class_found=lr.get("class_name"), error=error_text(lr["samples_error"])
        )
        return failed(text, where)
    fit = identify_lr(lr, rtol)
    if fit is not None and fit.family == family:
        by = (
            ""
            if lr.get("class_name") == family
            else ctx.say("by_class", class_found=lr.get("class_name"))
        )
        where = ctx.locate(str(lr.get("class_name")), family) or where
        return passed(ctx.say("ok", found=schedules.describe(fit, ctx.lang), by=by), where)
    found = schedules.describe(fit, ctx.lang) if fit else ctx.say("unknown_curve")
    parts = [
        ctx.say("wrong", found=found),
        *other_mechanisms(ctx, rtol),
        ctx.say("expected", family=family),
    ]
    return failed(join(parts), where)
