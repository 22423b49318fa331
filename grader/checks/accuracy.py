"""accuracy: the test accuracy of the student's best model against the reference solution
graded under the same budget over several seeds (grader/calibrate.py).

Bands are in standard deviations of the reference's test accuracy over those seeds:
full points from mean - params.full_within_sd * sd up, params.partial_fraction of them
from mean - params.partial_within_sd * sd, none below. Being above the reference is
always fine. The sd used is never below params.sd_floor (a fraction): a handful of
seeds can give a spread near zero by chance, and a band narrower than the run-to-run
noise would fail correct solutions. Skipped when there is no test accuracy (the search
produced no model) or no calibration (a subset run). The exam's published baselines are
listed for context.
"""

from __future__ import annotations

from grader.checks.base import CheckContext, Verdict, failed, passed, register, skipped

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
}

DEFAULTS = {"full_within_sd": 3.0, "partial_within_sd": 6.0, "sd_floor": 0.005}


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


@register("accuracy", MESSAGES)
def check(ctx: CheckContext) -> Verdict:
    items = ", ".join(f"{b.name} {_pct(b.test_accuracy)}" for b in ctx.baselines)
    baselines = ctx.say("baselines", items=items) if ctx.baselines else ""
    if ctx.test_accuracy is None:
        return skipped(ctx.say("no_test"))
    test = _pct(ctx.test_accuracy)
    if ctx.reference_test_accuracy is None:
        return skipped(
            ctx.say("no_reference", budget=ctx.budget, test=test, baselines=baselines).strip()
        )
    full_sd = float(ctx.params.get("full_within_sd", DEFAULTS["full_within_sd"]))
    partial_sd = float(ctx.params.get("partial_within_sd", DEFAULTS["partial_within_sd"]))
    floor = float(ctx.params.get("sd_floor", DEFAULTS["sd_floor"]))
    fraction = float(ctx.params.get("partial_fraction", 0.5))
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
