"""fit_config: the student's fit calls Model.fit on the data it receives with the
exam's training settings: params.batch_size, params.epochs, validation on the xy_val
it receives (params.validation = "xy_val"), and an EarlyStopping callback with
params.monitor and params.patience. Only the keys present in params are judged; the
first Model.fit call is the one judged.

Trained by the grader (grader.training), the plans judged are the ones the trainer trained
(every distinct one the declarations gave), not the probe's record: student code could
show the probe batch_size=256 and declare another. Their data is the trainer's own (a fit
that does not pass the tuner's data through unchanged cannot be declared).

Data counts as the tuner's when it is the very object fit received or an equal copy,
never merely an array of the same shape (grader/child/simulate.py `compare_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, fmt, join, passed, register
from grader.checks.params import present
from grader.child.declaration import CallbackKind
from grader.results import Evidence

# Texts: the [checks.fit_config] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.fit_config")

_KERAS_DEFAULTS = {"batch_size": 32, "epochs": 1}
# EarlyStopping's own defaults for the arguments judged: a declared callback carries the
# constructor arguments the student gave, not the ones left to their default
# (tests/test_checks.py holds these against Keras' signature).
EARLY_STOPPING_DEFAULTS = {"monitor": "val_loss", "patience": 0}
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
            # Left out (or None): Keras falls back to its own default, which is what the
            # rubric asks for when they are equal (seed 001's fit gives no batch_size: 32).
            found = _KERAS_DEFAULTS[name]
            if found == expected:
                continue
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


def declared_call(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A fit plan the trainer trained (FitPlan.to_data) in the shape of a probe's call."""
    callbacks = []
    for cb in plan.get("callbacks") or []:
        if cb.get("kind") != CallbackKind.KERAS.value:
            continue
        config = dict(cb.get("args") or {})
        if cb.get("class_name") == "EarlyStopping":
            config = {**EARLY_STOPPING_DEFAULTS, **config}
        callbacks.append({"class_name": cb.get("class_name"), "config": config})
    return {
        "batch_size": plan.get("batch_size"),
        "epochs": plan.get("epochs"),
        "given": [k for k in ("batch_size", "epochs") if plan.get(k) is not None],
        "x": "same",
        "y": "same",
        "validation": "same",
        "callbacks": callbacks,
    }


def _declared(ctx: CheckContext, fits: tuple[Mapping[str, Any], ...]) -> Verdict:
    problems: list[str] = []
    for plan in fits:
        call = declared_call(plan)
        problems += [
            p for p in _settings(ctx, call) + _early_stopping(ctx, call) if p not in problems
        ]
    where = ctx.locate("fit")
    if problems and len(fits) > 1:
        problems.insert(0, ctx.say("several_plans", count=len(fits)))
    if problems:
        return failed(join(problems), where, evidence=Evidence.ARTIFACT)
    found = _expected_text(present(ctx.params))
    return passed(ctx.say("ok", found=found), where, evidence=Evidence.ARTIFACT)


@register("fit_config", MESSAGES, requires=("fit",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    declared = ctx.artifacts.declared
    if declared is not None and declared.fits:
        return _declared(ctx, declared.fits)
    calls = ctx.record.fit.get("calls") or []
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
