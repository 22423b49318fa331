"""loss_metrics: compile(loss=params.loss, metrics=params.metrics).

params.loss is one loss or a list of the accepted ones: categorical_crossentropy,
sparse_categorical_crossentropy (integer labels), binary_crossentropy (one sigmoid
output) or any other Keras loss by name. It may be the string, the function or the class
(`CategoricalCrossentropy()`); params.from_logits (default false: the model ends in
softmax or sigmoid) says which form of the loss the model's output needs. A metric
counts when it is logged under the required name (the tuner's objective `val_accuracy`
needs a metric logged as `accuracy`) and computes the accuracy the loss's labels mean:
"accuracy", or CategoricalAccuracy / SparseCategoricalAccuracy / BinaryAccuracy (as the
loss) named "accuracy"; keras.metrics.Accuracy compares exact values.

Judged on the compile config stored with the trained best model (`best.keras`), the
probe's record when there is none; a probe that saw other settings fails the check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, join, passed, register
from grader.checks.params import ParamError
from grader.results import Evidence

# Texts: the [checks.loss_metrics] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.loss_metrics")

# Metric classes that compute what "accuracy" means for each loss's labels ("accuracy" as
# a string lets Keras pick the right one; MeanMetricWrapper is how it saves that choice).
_ACCURACY_CLASSES = {
    "categorical_crossentropy": {None, "CategoricalAccuracy", "MeanMetricWrapper"},
    "sparse_categorical_crossentropy": {None, "SparseCategoricalAccuracy", "MeanMetricWrapper"},
    "binary_crossentropy": {None, "BinaryAccuracy", "MeanMetricWrapper"},
}
_ANY_ACCURACY = set().union(*_ACCURACY_CLASSES.values())


@dataclass(frozen=True)
class Params:
    loss: str | tuple[str, ...] = "categorical_crossentropy"  # the accepted losses
    from_logits: bool = False
    metrics: tuple[str, ...] = ("accuracy",)

    def __post_init__(self) -> None:
        if not self.losses:
            raise ParamError("loss", "must name at least one loss")

    @property
    def losses(self) -> tuple[str, ...]:
        return (self.loss,) if isinstance(self.loss, str) else self.loss


def snake(name: str) -> str:
    """CategoricalCrossentropy -> categorical_crossentropy."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _loss_name(loss: Any) -> tuple[str, bool]:
    """(normalised name, from_logits) of the recorded loss."""
    if isinstance(loss, str):
        return snake(loss) if loss[:1].isupper() else loss.lower(), False
    if isinstance(loss, Mapping):
        config = loss.get("config")
        if loss.get("class_name") == "function":
            return snake(_function_name(config)), False
        config = config if isinstance(config, Mapping) else {}
        return snake(str(loss.get("class_name"))), bool(config.get("from_logits", False))
    return str(loss), False


def _function_name(config: Any) -> str:
    # Keras 3 saves a loss function (loss=keras.losses.categorical_crossentropy, as seed 002
    # writes it) as {"class_name": "function", "config": "categorical_crossentropy"}; a
    # mapping with its name is accepted too.
    if isinstance(config, Mapping):
        return str(config.get("name"))
    return str(config)


def _describe_loss(loss: Any) -> str:
    if isinstance(loss, Mapping):
        if loss.get("class_name") == "function":
            return f"keras.losses.{_function_name(loss.get('config'))}"
        return f"{loss.get('class_name')}(...)"
    return repr(loss)


def _describe_metrics(metrics: list[Mapping[str, Any]]) -> str:
    parts = [
        repr(m["name"])
        if m.get("class_name") is None
        else f"{m['class_name']}(name={m.get('name')!r})"
        for m in metrics
    ]
    return "[" + ", ".join(parts) + "]"


@register("loss_metrics", MESSAGES, requires=("build",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    p: Params = ctx.params
    expected_loss = p.losses[0] if len(p.losses) == 1 else " | ".join(p.losses)
    expected_metrics = list(p.metrics)
    loss, evidence = ctx.judged("loss")
    metrics = list(ctx.artifacts.metrics if evidence is Evidence.ARTIFACT else [])
    if evidence is Evidence.CHILD:
        metrics = list(ctx.record.build.get("metrics") or [])
    where = ctx.locate("compile")
    b = ctx.record.build
    if evidence is Evidence.ARTIFACT and "loss" in b:
        probed = (_loss_name(b.get("loss")), _describe_metrics(list(b.get("metrics") or [])))
        if probed != (_loss_name(loss), _describe_metrics(metrics)):
            text = ctx.disagreement(
                ctx.say("what"),
                probed=f"loss={_describe_loss(b.get('loss'))}, metrics={probed[1]}",
                trained=f"loss={_describe_loss(loss)}, metrics={_describe_metrics(metrics)}",
            )
            return failed(text, where, evidence)
    problems = []
    name, from_logits = _loss_name(loss)
    if name not in {snake(wanted) for wanted in p.losses}:
        problems.append(
            ctx.say("wrong_loss", found=_describe_loss(loss), expected=repr(expected_loss))
        )
    elif from_logits and not p.from_logits:
        problems.append(ctx.say("from_logits", expected=repr(expected_loss)))
    elif p.from_logits and not from_logits:
        problems.append(ctx.say("needs_logits", expected=repr(expected_loss)))
    accepted = _ACCURACY_CLASSES.get(name, _ANY_ACCURACY)
    for wanted in expected_metrics:
        logged = [m for m in metrics if m.get("name") == wanted]
        if any(m.get("class_name") in accepted for m in logged):
            continue
        if logged and wanted != "accuracy":  # another metric (auc, lr_spy): its name is enough
            continue
        other = [m for m in logged if m.get("class_name") in _ANY_ACCURACY]
        if any(m.get("class_name") == "Accuracy" for m in logged):
            problems.append(ctx.say("exact_accuracy"))
        elif other:
            found = str(other[0].get("class_name"))
            problems.append(ctx.say("wrong_accuracy", name=wanted, found=found, loss=name))
        else:
            problems.append(
                ctx.say(
                    "missing_metric",
                    found=_describe_metrics(metrics),
                    expected=repr(expected_metrics),
                    name=wanted,
                )
            )
    if problems:
        return failed(join(problems), where, evidence)
    ok = ctx.say("ok", loss=_describe_loss(loss), metrics=_describe_metrics(metrics))
    return passed(ok, where, evidence=evidence)
