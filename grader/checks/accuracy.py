"""accuracy: the test accuracy of the student's best model against the reference solution
graded under the same budget: full points within params.full_within (absolute, as a
fraction), params.partial_fraction of them within params.partial_within, none below.
Being above the reference is always fine. Skipped when there is no test accuracy (the
search produced no model) or no reference for the budget. The exam's published
baselines are listed for context.
"""

from __future__ import annotations

from grader.checks.base import CheckContext, Verdict, failed, passed, register, skipped

MESSAGES = {
    "full": {
        "es": "Precisión en test {test}; la solución de referencia obtiene {reference} con el "
        "mismo presupuesto ('{budget}'): estás a menos de {full_within} puntos porcentuales, "
        "como se pedía. {baselines}",
        "en": "Test accuracy {test}; the reference solution gets {reference} under the same "
        "budget ('{budget}'): within {full_within} percentage points, as required. {baselines}",
    },
    "partial": {
        "es": "Precisión en test {test}; la solución de referencia obtiene {reference} con el "
        "mismo presupuesto ('{budget}'): se esperaba estar a menos de {full_within} puntos "
        "porcentuales; a menos de {partial_within} se obtiene parte de la nota. {baselines}",
        "en": "Test accuracy {test}; the reference solution gets {reference} under the same "
        "budget ('{budget}'): expected within {full_within} percentage points; within "
        "{partial_within} earns part of the points. {baselines}",
    },
    "low": {
        "es": "Precisión en test {test}; la solución de referencia obtiene {reference} con el "
        "mismo presupuesto ('{budget}'): se esperaba estar a menos de {full_within} puntos "
        "porcentuales (o de {partial_within} para obtener parte de la nota). {baselines}",
        "en": "Test accuracy {test}; the reference solution gets {reference} under the same "
        "budget ('{budget}'): expected within {full_within} percentage points (or "
        "{partial_within} for part of the points). {baselines}",
    },
    "no_test": {
        "es": "Omitido: no hay un modelo que evaluar en test (la búsqueda no terminó ningún "
        "trial con val_accuracy).",
        "en": "Skipped: there is no model to evaluate on the test set (the search finished "
        "no trial with val_accuracy).",
    },
    "no_reference": {
        "es": "Omitido: no hay precisión de referencia para el presupuesto '{budget}'; tu "
        "precisión en test es {test}. {baselines}",
        "en": "Skipped: there is no reference accuracy for the '{budget}' budget; your test "
        "accuracy is {test}. {baselines}",
    },
    "baselines": {
        "es": "Resultados del examen (protocolo completo): {items}.",
        "en": "The exam's results (full protocol): {items}.",
    },
}


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _points(value: float) -> str:
    """An accuracy difference in percentage points (0.02 -> "2")."""
    return f"{100 * value:g}"


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
    full = float(ctx.params.get("full_within", 0.02))
    partial = float(ctx.params.get("partial_within", 0.05))
    fraction = float(ctx.params.get("partial_fraction", 0.5))
    fields = {
        "test": test,
        "reference": _pct(ctx.reference_test_accuracy),
        "budget": ctx.budget,
        "full_within": _points(full),
        "partial_within": _points(partial),
        "baselines": baselines,
    }
    gap = ctx.reference_test_accuracy - ctx.test_accuracy
    # A hair of slack so that a gap of exactly full_within is not lost to float round-off.
    if gap <= full + 1e-9:
        return passed(ctx.say("full", **fields).strip())
    if gap <= partial + 1e-9:
        return passed(ctx.say("partial", **fields).strip(), fraction=fraction)
    return failed(ctx.say("low", **fields).strip())
