"""consistency: the model that was trained used the optimizer and schedule the probe saw.

The probe inspects `build(hp)` before training; the parent then reads the optimizer
config stored in the best model's file (as JSON data, nothing is built) and compares
the two. Code that behaves one way when inspected and another when trained fails
here. Learning-rate values are not compared (the search changes them per trial); the
optimizer's class, the schedule's class and its structural settings are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, passed, register, skipped
from grader.results import Evidence

# Settings that do not depend on the hyperparameters being searched.
_OPTIMIZER_KEYS = ("momentum", "nesterov")
_SCHEDULE_KEYS = ("decay_steps", "power", "cycle", "decay_rate", "staircase", "alpha")

# Texts: the [checks.consistency] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.consistency")


def _name(obj: Any) -> str | None:
    return obj.get("class_name") if isinstance(obj, Mapping) else None


def _schedule(config: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    lr = (config or {}).get("learning_rate")
    return lr if isinstance(lr, Mapping) else None


def _same(a: Any, b: Any) -> bool:
    # The probe record (from the boundary) holds tuples where a parsed config holds lists.
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def differences(
    probed: Mapping[str, Any], saved: Mapping[str, Any], searched: frozenset[str] = frozenset()
) -> list[str]:
    """What differs between the probe's optimizer record and the saved config.

    A schedule key named as a searched hyperparameter is not compared: seed 001 searches
    ExponentialDecay's decay_rate, so it differs per trial as the learning rates do.
    """
    out = []
    if probed.get("class_name") != saved.get("class_name"):
        out.append(f"optimizer {probed.get('class_name')} → {saved.get('class_name')}")
    probed_config = probed.get("config") or {}
    saved_config = saved.get("config") or {}
    for key in _OPTIMIZER_KEYS:
        if (
            key in probed_config
            and key in saved_config
            and not _same(probed_config[key], saved_config[key])
        ):
            out.append(f"{key} {probed_config[key]} → {saved_config[key]}")
    probed_lr, saved_lr = _schedule(probed_config), _schedule(saved_config)
    if _name(probed_lr) != _name(saved_lr):
        out.append(
            f"learning_rate {_name(probed_lr) or 'constant'} → {_name(saved_lr) or 'constant'}"
        )
    elif probed_lr and saved_lr:
        a, b = probed_lr.get("config") or {}, saved_lr.get("config") or {}
        for key in _SCHEDULE_KEYS:
            if key in searched:
                continue
            if key in a and key in b and not _same(a[key], b[key]):
                out.append(f"{key} {a[key]} → {b[key]}")
    return out


@register("consistency", MESSAGES, requires=("build",), evidence=Evidence.ARTIFACT)
def check(ctx: CheckContext) -> Verdict:
    probed = ctx.record.build.get("optimizer")
    saved = ctx.artifacts.optimizer if ctx.artifacts.compiled else ctx.saved_optimizer
    if not isinstance(probed, Mapping) or not isinstance(saved, Mapping):
        return skipped(ctx.say("unavailable"))
    space = ctx.record.search_space.get("hyperparameters") or []
    searched = frozenset(
        str(h.get("name")) for h in space if isinstance(h, Mapping) and h.get("type") != "Fixed"
    )
    diffs = differences(probed, saved, searched)
    where = ctx.locate("compile")
    if diffs:
        return failed(ctx.say("mismatch", differences="; ".join(diffs)), where)
    found = saved.get("class_name", "?")
    schedule = _name(_schedule(saved.get("config")))
    return passed(ctx.say("ok", found=f"{found} + {schedule}" if schedule else found), where)
