"""accuracy: the test accuracy of the student's best model against the reference solution
graded under the same budget over several seeds (grader/calibrate.py).

Bands are in standard deviations of the reference's test accuracy over those seeds:
full points from mean - params.full_within_sd * sd up, params.partial_fraction of them
from mean - params.partial_within_sd * sd, none below. Being above the reference is
always fine. The sd used is never below params.sd_floor (a fraction): a handful of
seeds can give a spread near zero by chance, and a band narrower than the run-to-run
noise would fail correct solutions. Skipped when there is no model (the search produced
none) or no calibration (a subset run). The exam's published baselines are listed for
context.

Before any band: a best model trained for more optimizer steps than the budget allows
(the step counter saved with its weights, grader/evaluate.py) fails, whatever the
student's code did to the grader's epoch clamp. A model the grader could not verify (not
rebuildable from standard Keras layers, no step counter, initial weights that are not the
ones Keras draws under the run's seed) needs the instructor's review: no points are given
automatically and the message says why, with the child's own validation accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks.base import (
    CheckContext,
    Verdict,
    failed,
    needs_review,
    passed,
    register,
    skipped,
)
from grader.checks.params import ParamError

_REFERENCE = {
    "es": "Precisión en test {test}; la solución de referencia obtiene de media {reference} "
    "con el mismo presupuesto ('{budget}'), con una desviación típica de {sd} puntos "
    "porcentuales entre semillas.",
    "en": "Test accuracy {test}; the reference solution gets {reference} on average under "
    "the same budget ('{budget}'), with a standard deviation of {sd} percentage points "
    "across seeds.",
}

MESSAGES = {
    "full": {
        "es": _REFERENCE["es"] + " Llegas al mínimo para la nota completa ({full_min}, "
        "{full_within_sd} desviaciones por debajo de la media). {baselines}",
        "en": _REFERENCE["en"] + " You reach the minimum for full points ({full_min}, "
        "{full_within_sd} standard deviations below the mean). {baselines}",
    },
    "partial": {
        "es": _REFERENCE["es"] + " Para la nota completa se esperaba al menos {full_min} "
        "({full_within_sd} desviaciones por debajo de la media); desde {partial_min} se "
        "obtiene parte de la nota. {baselines}",
        "en": _REFERENCE["en"] + " Full points needed at least {full_min} ({full_within_sd} "
        "standard deviations below the mean); from {partial_min} you earn part of the "
        "points. {baselines}",
    },
    "low": {
        "es": _REFERENCE["es"] + " Se esperaba al menos {full_min} ({full_within_sd} "
        "desviaciones por debajo de la media), o {partial_min} para obtener parte de la "
        "nota. {baselines}",
        "en": _REFERENCE["en"] + " Expected at least {full_min} ({full_within_sd} standard "
        "deviations below the mean), or {partial_min} for part of the points. {baselines}",
    },
    "no_test": {
        "es": "Omitido: no hay un modelo que evaluar en test (la búsqueda no terminó ningún "
        "trial con val_accuracy).",
        "en": "Skipped: there is no model to evaluate on the test set (the search finished "
        "no trial with val_accuracy).",
    },
    "no_reference": {
        "es": "Omitido: no hay calibración de la referencia para el presupuesto '{budget}' "
        "(p. ej. al entrenar con un subconjunto); tu precisión en test es {test}. {baselines}",
        "en": "Skipped: there is no calibration of the reference for the '{budget}' budget "
        "(e.g. when training on a subset); your test accuracy is {test}. {baselines}",
    },
    "baselines": {
        "es": "Resultados del examen (protocolo completo): {items}.",
        "en": "The exam's results (full protocol): {items}.",
    },
    "over_budget": {
        "es": "El mejor modelo se entrenó {steps} pasos del optimizador; el presupuesto "
        "'{budget}' permite {allowed} (épocas máximas × lotes por época con el batch_size del "
        "enunciado). Un entrenamiento más largo que el presupuesto no puntúa.",
        "en": "The best model was trained for {steps} optimizer steps; the '{budget}' budget "
        "allows {allowed} (maximum epochs × batches per epoch at the statement's "
        "batch_size). Training longer than the budget earns no points.",
    },
    "review": {
        "es": "Pendiente de revisión por el profesor: {reasons} {measured}La precisión en "
        "validación que declaró tu búsqueda es {val} (dato de tu proceso, no verificado por el "
        "corrector). No se dan puntos automáticamente.",
        "en": "Needs the instructor's review: {reasons} {measured}The validation accuracy "
        "your search reported is {val} (your process's word, not verified by the grader). "
        "No points are given automatically.",
    },
    "review_not_standard": {
        "es": "el corrector no reconstruye el mejor modelo porque no está hecho solo de capas "
        "estándar de Keras ({detail}), así que no lo evalúa en test.",
        "en": "the grader does not rebuild the best model because it is not made of standard "
        "Keras layers only ({detail}), so it does not evaluate it on the test set.",
    },
    "review_not_rebuildable": {
        "es": "el modo seguro de Keras no pudo reconstruir el mejor modelo ({detail}), así que "
        "no se evalúa en test.",
        "en": "Keras' safe mode could not rebuild the best model ({detail}), so it is not "
        "evaluated on the test set.",
    },
    "review_no_counter": {
        "es": "los pesos guardados no incluyen el contador de pasos del optimizador (o está a "
        "0), así que no se puede comprobar que el entrenamiento respetó el presupuesto.",
        "en": "the saved weights hold no optimizer step counter (or one at 0), so the grader "
        "cannot check that training stayed within the budget.",
    },
    "review_initial_weights": {
        "es": "los pesos iniciales del modelo que devuelve build(hp) no son los que Keras "
        "genera con la semilla de la corrección ({detail}): el modelo no empezó a entrenar "
        "desde cero.",
        "en": "the initial weights of the model build(hp) returns are not the ones Keras "
        "draws under the grading seed ({detail}): the model did not start training from "
        "scratch.",
    },
    "measured": {
        "es": "Su precisión en test es {test}. ",
        "en": "Its test accuracy is {test}. ",
    },
}

DEFAULTS = {"full_within_sd": 3.0, "partial_within_sd": 6.0, "sd_floor": 0.005}


@dataclass(frozen=True)
class Params:
    full_within_sd: float = DEFAULTS["full_within_sd"]
    partial_within_sd: float = DEFAULTS["partial_within_sd"]
    sd_floor: float = DEFAULTS["sd_floor"]  # a fraction: 0.005 = 0.5 points
    partial_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.partial_fraction <= 1.0:
            raise ParamError("partial_fraction", f"must be in [0, 1], got {self.partial_fraction}")
        if self.partial_within_sd < self.full_within_sd:
            raise ParamError("partial_within_sd", "must not be below full_within_sd")
        if self.sd_floor < 0:
            raise ParamError("sd_floor", f"must not be negative, got {self.sd_floor}")


def sd_floor(params: Params) -> float:
    """The least spread a band is built on (a fraction), as the check reads its params;
    also what a reference calibrated with a single seed (sd 0) gets."""
    return params.sd_floor


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


@register("accuracy", MESSAGES, params=Params)
def check(ctx: CheckContext) -> Verdict:
    items = ", ".join(f"{b.name} {_pct(b.test_accuracy)}" for b in ctx.baselines)
    baselines = ctx.say("baselines", items=items) if ctx.baselines else ""
    evaluation = ctx.evaluation
    if evaluation is not None and evaluation.over_budget:
        return failed(
            ctx.say(
                "over_budget",
                steps=evaluation.steps,
                allowed=evaluation.step_budget,
                budget=ctx.budget,
            )
        )
    if evaluation is not None and evaluation.reviews:
        # Each reason is a sentence of its own; the templates start in lower case so an
        # instructor's override reads the same way.
        reasons = [
            _sentence(ctx.say(f"review_{reason.value}", detail=evaluation.detail))
            for reason in evaluation.reviews
        ]
        measured = ctx.test_accuracy
        return needs_review(
            ctx.say(
                "review",
                reasons=" ".join(reasons),
                measured="" if measured is None else ctx.say("measured", test=_pct(measured)),
                val="?" if ctx.val_accuracy is None else _pct(float(ctx.val_accuracy)),
            )
        )
    if ctx.test_accuracy is None:
        return skipped(ctx.say("no_test"))
    test = _pct(ctx.test_accuracy)
    if ctx.reference_test_accuracy is None:
        return skipped(
            ctx.say("no_reference", budget=ctx.budget, test=test, baselines=baselines).strip()
        )
    p = ctx.params
    full_sd, partial_sd, fraction = p.full_within_sd, p.partial_within_sd, p.partial_fraction
    floor = sd_floor(p)
    sd = max(ctx.reference_sd or 0.0, floor)
    mean = ctx.reference_test_accuracy
    full_min, partial_min = mean - full_sd * sd, mean - partial_sd * sd
    fields = {
        "test": test,
        "reference": _pct(mean),
        "sd": f"{100 * sd:.2f}",
        "budget": ctx.budget,
        "full_within_sd": f"{full_sd:g}",
        "full_min": _pct(full_min),
        "partial_min": _pct(partial_min),
        "baselines": baselines,
    }
    # A hair of slack so that landing exactly on a band's edge is not lost to round-off.
    if ctx.test_accuracy >= full_min - 1e-9:
        return passed(ctx.say("full", **fields).strip())
    if ctx.test_accuracy >= partial_min - 1e-9:
        return passed(ctx.say("partial", **fields).strip(), fraction=fraction)
    return failed(ctx.say("low", **fields).strip())
