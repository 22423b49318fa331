"""optimizer: the optimizer's class is params.class_name (one class, or a list of the
accepted ones), and each parameter the params name has an accepted value: momentum,
beta_1, beta_2, clipvalue and clipnorm within [low, high] (one number: exactly it),
nesterov one of params.nesterov. A parameter the params do not name is not judged.

Judged on the optimizer stored with the trained best model (`best.keras`), the probe's
record when there is none; a probe that saw another optimizer fails the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, fmt, join, passed, register
from grader.checks.params import ParamError
from grader.results import Evidence

# Texts: the [checks.optimizer] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.optimizer")

# Parameters judged as a range [low, high] (one number in the spec: exactly it).
RANGES = ("momentum", "beta_1", "beta_2", "clipvalue", "clipnorm")


@dataclass(frozen=True)
class Params:
    class_name: str | tuple[str, ...] = "SGD"  # the accepted optimizer classes
    momentum: tuple[float, float] | float | None = None
    nesterov: tuple[bool, ...] | None = None
    beta_1: tuple[float, float] | float | None = None
    beta_2: tuple[float, float] | float | None = None
    clipvalue: tuple[float, float] | float | None = None
    clipnorm: tuple[float, float] | float | None = None

    def __post_init__(self) -> None:
        if not self.classes:
            raise ParamError("class_name", "must name at least one optimizer class")
        for name in RANGES:
            low, high = self.range(name) or (0.0, 0.0)
            if low > high:
                raise ParamError(name, f"is [{low}, {high}]: the low end is above the high")

    @property
    def classes(self) -> tuple[str, ...]:
        return (self.class_name,) if isinstance(self.class_name, str) else self.class_name

    def range(self, name: str) -> tuple[float, float] | None:
        value = getattr(self, name)
        if value is None:
            return None
        return (value, value) if isinstance(value, float) else value

    def extra(self) -> tuple[str, ...]:
        """The judged parameters beyond the exam's momentum and nesterov."""
        return tuple(n for n in RANGES[1:] if getattr(self, n) is not None)


def _settings(opt: Mapping[str, Any], extra: tuple[str, ...] = ()) -> tuple[Any, ...]:
    config = opt.get("config") if isinstance(opt.get("config"), Mapping) else {}
    return (
        str(opt.get("class_name") or "?"),
        opt.get("momentum"),
        opt.get("nesterov"),
        *(config.get(name) for name in extra),
    )


# Gradient clipping, named when the class is wrong: seed 004's Adam(clipvalue=1.0) is
# another way of taming the step than the rate the exercise asks for, so say it was seen.
CLIPPING = ("clipvalue", "clipnorm", "global_clipnorm")


def _clipping(opt: Mapping[str, Any]) -> str:
    """The clipping settings the optimizer sets, as "(clipvalue=1.0)"; "" when none."""
    config = opt.get("config") if isinstance(opt.get("config"), Mapping) else {}
    set_ = [
        f"{name}={float(config[name])!r}"  # 1.0, as written; fmt gives 1
        for name in CLIPPING
        if isinstance(config.get(name), int | float) and not isinstance(config.get(name), bool)
    ]
    return f"({', '.join(set_)})" if set_ else ""


def _range_text(low: float, high: float) -> str:
    return fmt(low) if low == high else f"[{fmt(low)}, {fmt(high)}]"


def _describe(settings: tuple[Any, ...], extra: tuple[str, ...]) -> str:
    names = ("momentum", "nesterov", *extra)
    values = ", ".join(
        f"{n}={fmt(v) if n != 'nesterov' else v}" for n, v in zip(names, settings[1:], strict=True)
    )
    return f"{settings[0]}({values})"


@register("optimizer", MESSAGES, requires=("build",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    p: Params = ctx.params
    extra = p.extra()
    opt, evidence = ctx.judged("optimizer")
    settings = _settings(opt or {}, extra)
    found, momentum, nesterov = settings[:3]
    where = ctx.locate(found, "compile")
    probed = ctx.record.build.get("optimizer")
    if evidence is Evidence.ARTIFACT and isinstance(probed, Mapping):
        shown = _settings(probed, extra)
        if shown != settings:
            text = ctx.disagreement(
                ctx.say("what"),
                probed=_describe(shown, extra),
                trained=_describe(settings, extra),
            )
            return failed(text, where, evidence)
    if found not in p.classes:
        # "SGD", or "SGD o keras.optimizers.Nadam" after the message's keras.optimizers.
        expected = (ctx.say("or") + "keras.optimizers.").join(p.classes)
        shown = found + _clipping(opt or {})
        return failed(ctx.say("wrong_class", found=shown, expected=expected), where, evidence)
    problems = []
    bounds = p.range("momentum")
    if bounds is not None:
        low, high = bounds
        if momentum is None or not low - 1e-12 <= float(momentum) <= high + 1e-12:
            problems.append(
                ctx.say(
                    "wrong_momentum",
                    found=found,
                    momentum=fmt(momentum),
                    expected=_range_text(low, high),
                )
            )
    if p.nesterov is not None and nesterov not in p.nesterov:
        expected = ctx.say("or").join(map(str, p.nesterov))
        problems.append(
            ctx.say("wrong_nesterov", found=found, nesterov=nesterov, expected=expected)
        )
    for name, value in zip(extra, settings[3:], strict=True):
        low, high = p.range(name) or (0.0, 0.0)
        text = _range_text(low, high)
        if value is None:
            problems.append(ctx.say("missing_parameter", found=found, name=name, expected=text))
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low - 1e-12 <= float(value) <= high + 1e-12
        ):
            problems.append(
                ctx.say("wrong_parameter", found=found, name=name, value=fmt(value), expected=text)
            )
    if problems:
        return failed(join(problems), where, evidence)
    if not extra:
        ok = ctx.say("ok", found=found, momentum=fmt(momentum), nesterov=nesterov)
    else:
        judged = [f"{n}={fmt(v)}" for n, v in zip(extra, settings[3:], strict=True)]
        ok = ctx.say("ok_settings", found=found, settings=", ".join(judged))
    return passed(ok, where, evidence=evidence)
