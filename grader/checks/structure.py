"""structure: the class exists, is a keras_tuner.HyperModel, builds a compiled model
and its fit has the exam's signature fit(self, hp, M, x, y, xy_val, **kwargs).

params: base_class ("keras_tuner.HyperModel": its last component must be a base),
fit_signature (the exam's positional parameter names; only their number is required).
"""

from __future__ import annotations

from dataclasses import dataclass

from grader import i18n
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

# Texts: the [checks.structure] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.structure")


def _expected_signature(names: list[str]) -> str:
    return "fit(self, " + ", ".join([*names, "**kwargs"]) + ")"


@dataclass(frozen=True)
class Params:
    base_class: str = "keras_tuner.HyperModel"  # its last component must be a base
    fit_signature: tuple[str, ...] = ("hp", "M", "x", "y", "xy_val")


@register("structure", MESSAGES, params=Params, evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    if ctx.record.probe_version is None:
        return skipped(ctx.say("no_probe"))
    base = ctx.params.base_class
    names = list(ctx.params.fit_signature)
    expected = _expected_signature(names)
    s = ctx.record.structure
    b = ctx.record.build
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
