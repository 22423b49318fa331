"""structure: the class exists, is a keras_tuner.HyperModel, builds a compiled model
and its fit has the exam's signature fit(self, hp, M, x, y, xy_val, **kwargs).

params: base_class ("keras_tuner.HyperModel": its last component must be a base),
fit_signature (the exam's positional parameter names; only their number is required).
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks.base import (
    CheckContext,
    Verdict,
    error_location,
    error_text,
    failed,
    join,
    keras2_hint,
    passed,
    register,
    skipped,
)
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "`{class_name}` hereda de {base}, build(hp) devuelve un modelo compilado ({model}) "
        "y fit tiene la firma {signature}.",
        "en": "`{class_name}` subclasses {base}, build(hp) returns a compiled model ({model}) "
        "and fit has the signature {signature}.",
    },
    "missing_near": {
        "es": "No hay ninguna clase `{class_name}`; se encontró `{found}`: Python distingue "
        "mayúsculas de minúsculas, y el corrector (como el examen) usa `{class_name}`.",
        "en": "There is no class `{class_name}`; found `{found}`: Python names are "
        "case-sensitive, and the grader (like the exam) uses `{class_name}`.",
    },
    "missing": {
        "es": "No se encontró la clase `{class_name}` en tu código; se esperaba "
        "`class {class_name}({base}):` en el nivel superior de una celda.",
        "en": "No class `{class_name}` was found in your code; expected "
        "`class {class_name}({base}):` at the top level of a cell.",
    },
    "not_class": {
        "es": "`{class_name}` es un objeto de tipo {found}, no una clase.",
        "en": "`{class_name}` is an object of type {found}, not a class.",
    },
    "wrong_base": {
        "es": "`{class_name}` hereda de {found}; se esperaba una subclase de {base}.",
        "en": "`{class_name}` subclasses {found}; expected a subclass of {base}.",
    },
    "init_error": {
        "es": "`{class_name}()` falló al crear la instancia: {error}",
        "en": "`{class_name}()` failed to create an instance: {error}",
    },
    "no_build": {
        "es": "`{class_name}` no define build(self, hp).",
        "en": "`{class_name}` does not define build(self, hp).",
    },
    "build_error": {
        "es": "build(hp) con los valores por omisión de los hiperparámetros lanzó {error}",
        "en": "build(hp) with the hyperparameters' default values raised {error}",
    },
    "not_model": {
        "es": "build(hp) devolvió {found}; se esperaba un modelo de Keras (keras.Model).",
        "en": "build(hp) returned {found}; expected a Keras model (keras.Model).",
    },
    "not_compiled": {
        "es": "build(hp) devuelve el modelo sin compilar; se esperaba M.compile(loss=..., "
        "optimizer=..., metrics=...) antes de `return M`.",
        "en": "build(hp) returns the model uncompiled; expected M.compile(loss=..., "
        "optimizer=..., metrics=...) before `return M`.",
    },
    "no_fit": {
        "es": "`{class_name}` no define fit; se esperaba {expected} para fijar batch_size, "
        "epochs, validation_data y EarlyStopping.",
        "en": "`{class_name}` does not define fit; expected {expected} to set batch_size, "
        "epochs, validation_data and EarlyStopping.",
    },
    "bad_signature": {
        "es": "fit tiene la firma {found}; se esperaba {expected} (keras-tuner llama a "
        "fit(hp, modelo, x, y, xy_val, callbacks=...)).",
        "en": "fit has the signature {found}; expected {expected} (keras-tuner calls "
        "fit(hp, model, x, y, xy_val, callbacks=...)).",
    },
}


def _expected_signature(names: list[str]) -> str:
    return "fit(self, " + ", ".join([*names, "**kwargs"]) + ")"


@dataclass(frozen=True)
class Params:
    base_class: str = "keras_tuner.HyperModel"  # its last component must be a base
    fit_signature: tuple[str, ...] = ("hp", "M", "x", "y", "xy_val")


@register("structure", MESSAGES, params=Params, evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    if not ctx.record or "probe_version" not in ctx.record:
        return skipped(ctx.say("no_probe"))
    base = ctx.params.base_class
    names = list(ctx.params.fit_signature)
    expected = _expected_signature(names)
    s = ctx.stage("structure")
    b = ctx.stage("build")
    where = ctx.class_location()

    # The class must be there and usable before anything else can be said.
    if not s.get("exists"):
        near = s.get("near_misses") or []
        if near:
            loc = ctx.class_location(near[0])
            return failed(ctx.say("missing_near", found=near[0], base=base), loc)
        return failed(ctx.say("missing", base=base))
    if not s.get("is_class"):
        return failed(ctx.say("not_class", found=s.get("found_type")), where)

    problems: list[tuple[str, object]] = []
    base_name = base.rsplit(".", 1)[-1]
    bases = s.get("bases") or []
    if not any(b_.rsplit(".", 1)[-1] == base_name for b_ in bases):
        found = ", ".join(b_.rsplit(".", 1)[-1] for b_ in bases[:1]) or "object"
        problems.append((ctx.say("wrong_base", found=found, base=base), where))
    if s.get("error"):
        err = s["error"]
        problems.append((ctx.say("init_error", error=error_text(err)), error_location(err)))
    elif not s.get("defines_build"):
        problems.append((ctx.say("no_build"), where))
    elif b.get("error"):
        err = b["error"]
        text = join(
            [
                ctx.say("build_error", error=error_text(err)),
                keras2_hint(ctx, err.get("message", "")),
            ]
        )
        problems.append((text, error_location(err) or ctx.locate("build")))
    elif not b.get("is_model"):
        problems.append((ctx.say("not_model", found=b.get("returned_type")), where))
    elif not b.get("compiled"):
        problems.append((ctx.say("not_compiled"), ctx.locate("Sequential", "Model") or where))

    sig = s.get("fit_signature") or {}
    if not s.get("defines_fit"):
        problems.append((ctx.say("no_fit", expected=expected), where))
    elif len(sig.get("params", [])) != len(names) or not sig.get("var_keyword"):
        found = "fit" + str(sig.get("text", "(?)"))
        problems.append((ctx.say("bad_signature", found=found, expected=expected), where))

    if problems:
        return failed(
            join([p for p, _ in problems]), next((loc for _, loc in problems if loc), None)
        )
    return passed(
        ctx.say(
            "ok", base=base, model=b.get("returned_type"), signature="fit" + str(sig.get("text"))
        ),
        where,
    )
