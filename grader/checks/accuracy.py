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

from grader import i18n
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

# Texts: the [checks.accuracy] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.accuracy")

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


def _pct(value: float, lang: str) -> str:
    return i18n.percent(value, lang)  # "88,83 %" in a Spanish message, as in its tables


@register("accuracy", MESSAGES, params=Params)
def check(ctx: CheckContext) -> Verdict:
    items = ", ".join(f"{b.name} {_pct(b.test_accuracy, ctx.lang)}" for b in ctx.baselines)
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
                measured=""
                if measured is None
                else ctx.say("measured", test=_pct(measured, ctx.lang)),
                val="?" if ctx.val_accuracy is None else _pct(float(ctx.val_accuracy), ctx.lang),
            )
        )
    if ctx.test_accuracy is None:
        return skipped(ctx.say("no_test"))
    test = _pct(ctx.test_accuracy, ctx.lang)
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
        "reference": _pct(mean, ctx.lang),
        "sd": i18n.number(100 * sd, ctx.lang, 2),
        "budget": ctx.budget,
        "full_within_sd": f"{full_sd:g}",
        "full_min": _pct(full_min, ctx.lang),
        "partial_min": _pct(partial_min, ctx.lang),
        "baselines": baselines,
    }
    # A hair of slack so that landing exactly on a band's edge is not lost to round-off.
    if ctx.test_accuracy >= full_min - 1e-9:
        return passed(ctx.say("full", **fields).strip())
    if ctx.test_accuracy >= partial_min - 1e-9:
        return passed(ctx.say("partial", **fields).strip(), fraction=fraction)
    return failed(ctx.say("low", **fields).strip())
