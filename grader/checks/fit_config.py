"""fit_config: the student's fit calls Model.fit on the data it receives with the
exam's training settings: params.batch_size, params.epochs, validation on the xy_val
it receives (params.validation = "xy_val"), and an EarlyStopping callback with
params.monitor and params.patience. Only the keys present in params are judged; the
first Model.fit call is the one judged.

Data counts as the tuner's when it is the very object fit received or an equal copy,
never merely an array of the same shape (grader/child/probe.py `compare_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from grader.checks.base import CheckContext, Verdict, failed, fmt, join, passed, register
from grader.checks.params import present
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "Model.fit({found}), como se pedía.",
        "en": "Model.fit({found}), as required.",
    },
    "no_call": {
        "es": "Tu fit no llama a Model.fit (p. ej. `return M.fit(x, y, ...)`), así que no se "
        "puede comprobar cómo entrena; se esperaba Model.fit({expected}).",
        "en": "Your fit never calls Model.fit (e.g. `return M.fit(x, y, ...)`), so how it "
        "trains cannot be checked; expected Model.fit({expected}).",
    },
    "several_calls": {
        "es": "Tu fit llama {count} veces a Model.fit; se comprueba la primera.",
        "en": "Your fit calls Model.fit {count} times; the first call is checked.",
    },
    "wrong_value": {
        "es": "{name}={found}; se esperaba {name}={expected}.",
        "en": "{name}={found}; expected {name}={expected}.",
    },
    "default_value": {
        "es": "{name} no se indica (Keras usa {found}); se esperaba {name}={expected}.",
        "en": "{name} is not given (Keras uses {found}); expected {name}={expected}.",
    },
    "wrong_data": {
        "es": "Model.fit recibe como {name} otros datos que el {name} que recibe tu fit; "
        "se esperaba Model.fit(x, y, ...) con los x, y que recibe fit.",
        "en": "Model.fit gets other data as {name} than the {name} your fit receives; "
        "expected Model.fit(x, y, ...) with the x, y fit receives.",
    },
    "trains_on_validation": {
        "es": "Model.fit entrena con los datos de validación: su {name} es el de xy_val. "
        "Se entrena con x, y y se valida con xy_val; si no, val_accuracy deja de medir "
        "datos no vistos.",
        "en": "Model.fit trains on the validation data: its {name} is xy_val's. Train on "
        "x, y and validate on xy_val; otherwise val_accuracy no longer measures unseen data.",
    },
    "validates_on_training": {
        "es": "validation_data son los datos de entrenamiento (x, y), así que val_accuracy "
        "mide datos ya vistos; se esperaba validation_data=xy_val.",
        "en": "validation_data is the training data (x, y), so val_accuracy measures data "
        "already seen; expected validation_data=xy_val.",
    },
    "validation_split": {
        "es": "Se valida con validation_split={found} en lugar de con los datos de validación "
        "que recibe fit; se esperaba validation_data=xy_val.",
        "en": "Validation uses validation_split={found} instead of the validation data fit "
        "receives; expected validation_data=xy_val.",
    },
    "no_validation": {
        "es": "Model.fit no recibe datos de validación; se esperaba validation_data=xy_val "
        "(el tuner optimiza val_accuracy).",
        "en": "Model.fit gets no validation data; expected validation_data=xy_val "
        "(the tuner optimises val_accuracy).",
    },
    "other_validation": {
        "es": "validation_data no es el xy_val que recibe fit; se esperaba validation_data=xy_val.",
        "en": "validation_data is not the xy_val fit receives; expected validation_data=xy_val.",
    },
    "no_early_stopping": {
        "es": "No hay callback EarlyStopping; se esperaba {expected}.",
        "en": "There is no EarlyStopping callback; expected {expected}.",
    },
    "early_stopping": {
        "es": "EarlyStopping({found}); se esperaba {expected}.",
        "en": "EarlyStopping({found}); expected {expected}.",
    },
}

_KERAS_DEFAULTS = {"batch_size": 32, "epochs": 1}
# The tuner's own data: the object itself, a tuple of it, or an equal copy. Equal shape
# is not enough: the training and validation data the probe passes have the same shape.
_VALIDATION_OK = {"same", "same_elements", "equal"}


def _early_stopping_text(p: Mapping[str, Any]) -> str:
    args = ", ".join(f"{k}={fmt(p[k])}" for k in ("monitor", "patience") if k in p)
    return f"EarlyStopping({args})"


def _expected_text(p: Mapping[str, Any]) -> str:
    parts = [f"{k}={fmt(p[k])}" for k in ("batch_size", "epochs") if k in p]
    if p.get("validation"):
        parts.append(f"validation_data={p['validation']}")
    if "monitor" in p or "patience" in p:
        parts.append(f"callbacks=[..., {_early_stopping_text(p)}]")
    return ", ".join(parts)


def _settings(ctx: CheckContext, call: Mapping[str, Any]) -> list[str]:
    problems = []
    given = present(ctx.params)
    for name in ("batch_size", "epochs"):
        if name not in given:
            continue
        value, expected = call.get(name), given[name]
        if value == expected:
            continue
        if name not in call.get("given", [name]) or value is None:
            # Left out (or None): Keras falls back to its own default.
            found = _KERAS_DEFAULTS[name]
            problems.append(ctx.say("default_value", name=name, found=found, expected=expected))
        else:
            problems.append(ctx.say("wrong_value", name=name, found=fmt(value), expected=expected))
    for name in ("x", "y") if "x" in call else ():
        if call.get(name) == "swapped":
            problems.append(ctx.say("trains_on_validation", name=name))
        elif call.get(name) not in _VALIDATION_OK:
            problems.append(ctx.say("wrong_data", name=name))
    if ctx.params.validation:
        validation = call.get("validation")
        if validation in _VALIDATION_OK:
            pass
        elif validation == "swapped":
            problems.append(ctx.say("validates_on_training"))
        elif call.get("validation_split"):
            problems.append(ctx.say("validation_split", found=fmt(call["validation_split"])))
        elif validation == "none":
            problems.append(ctx.say("no_validation"))
        else:
            problems.append(ctx.say("other_validation"))
    return problems


def _early_stopping(ctx: CheckContext, call: Mapping[str, Any]) -> list[str]:
    given = present(ctx.params)
    wanted = {k: given[k] for k in ("monitor", "patience") if k in given}
    if not wanted:
        return []
    expected = _early_stopping_text(given)
    stoppers = [cb for cb in call.get("callbacks") or [] if cb.get("class_name") == "EarlyStopping"]
    if not stoppers:
        return [ctx.say("no_early_stopping", expected=expected)]
    config = stoppers[0].get("config") or {}
    if all(config.get(k) == v for k, v in wanted.items()):
        return []
    found = ", ".join(f"{k}={fmt(config.get(k))}" for k in wanted)
    return [ctx.say("early_stopping", found=found, expected=expected)]


@dataclass(frozen=True)
class Params:
    """Only the settings given are judged (None: not judged)."""

    batch_size: int | None = None
    epochs: int | None = None
    validation: Literal["xy_val"] | None = None  # fit validates on the xy_val it receives
    monitor: str | None = None  # EarlyStopping(monitor=...)
    patience: int | None = None  # EarlyStopping(patience=...)


@register("fit_config", MESSAGES, requires=("fit",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    calls = ctx.stage("fit").get("calls") or []
    where = ctx.locate("fit")
    if not calls:
        expected = _expected_text(present(ctx.params))
        return failed(ctx.say("no_call", expected=expected), ctx.class_location())
    call = calls[0]
    problems = _settings(ctx, call) + _early_stopping(ctx, call)
    if problems and len(calls) > 1:
        problems.insert(0, ctx.say("several_calls", count=len(calls)))
    if problems:
        return failed(join(problems), where)
    return passed(ctx.say("ok", found=_expected_text(present(ctx.params))), where)
