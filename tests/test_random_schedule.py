"""The `RandomUniform` schedule family (seed 003's RandomScheduler), judged by behaviour.

Data only: the probe records are written here as the probe writes them (its samples of
the rate at the probe's step grid, the search space's default values, the corner builds'
extremes), so nothing trains and TensorFlow is never imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from grader import schedules
from grader.boundary import ProbeRecord
from grader.checks import CheckContext
from grader.checks.base import REGISTRY
from grader.checks.params import ParamError, build
from grader.child.protocol import sample_steps
from grader.results import CheckStatus, Evidence

STEPS = sample_steps(500)  # the probe's grid for 500 full-batch epochs
LOW, HIGH = 0.001, 0.1  # the hyperparameters' defaults (their minimums)
BOUNDS = ["lower_bound", "upper_bound"]


def uniform(low: float, high: float, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, len(STEPS)).astype(np.float32).astype(float).tolist()


def corners(rate: Any = None) -> list[dict[str, Any]]:
    """The four corner builds; `rate(low, high)` gives each one's samples (default: uniform
    over that corner's own bounds, as a schedule built from the hyperparameters does)."""
    rate = rate or uniform
    builds = []
    for i, (low, high) in enumerate(((0.001, 0.1), (0.001, 0.5), (0.01, 0.1), (0.01, 0.5))):
        lrs = rate(low, high, seed=i + 1)
        builds.append(
            {
                "values": {"lower_bound": low, "upper_bound": high},
                "ok": True,
                "error": None,
                "lr_first": lrs[0],
                "lr_last": lrs[-1],
                "lr_min": min(lrs),
                "lr_max": max(lrs),
            }
        )
    return builds


def record(lrs: list[float], builds: list[dict] | None = None, **lr: Any) -> dict[str, Any]:
    return {
        "probe_version": 1,
        "class_name": "MyHyperModel",
        "build": {
            "status": "ok",
            "optimizer": {"class_name": "SGD", "config": None},
            "learning_rate": {
                "kind": "schedule",
                "class_name": "RandomScheduler",
                "config": None,
                "config_error": "NotImplementedError: ...",
                "value": None,
                "samples": {"steps": STEPS, "lrs": lrs},
                "samples_error": None,
                **lr,
            },
        },
        "search_space": {
            "status": "ok",
            "hyperparameters": [],
            "values": {"lower_bound": LOW, "upper_bound": HIGH},
        },
        "corners": {
            "status": "ok",
            "total_steps": 500,
            "truncated": False,
            "builds": corners() if builds is None else builds,
        },
    }


def judge(rec: dict[str, Any], lang: str = "en", **params: Any) -> Any:
    params = {"family": "RandomUniform", "bounds": BOUNDS, **params}
    ctx = CheckContext(
        record=ProbeRecord.parse(rec),
        lang=lang,
        params=build(REGISTRY["schedule"].params, params, "schedule"),
        messages=REGISTRY["schedule"].messages,
    )
    return REGISTRY["schedule"].run(ctx)


def test_a_new_uniform_draw_at_every_step_within_the_hyperparameters_passes() -> None:
    lrs = uniform(LOW, HIGH)
    # float32 rounding at the bounds is inside (tf.random.uniform draws in float32).
    lrs[0], lrs[1] = float(np.float32(LOW)), float(np.nextafter(np.float32(HIGH), 1))
    verdict = judge(record(lrs))
    assert verdict.status is CheckStatus.PASSED, verdict.message
    assert verdict.evidence is Evidence.CHILD
    assert "new random value at every step between lower_bound and upper_bound" in verdict.message
    assert "(computed by your RandomScheduler)" in verdict.message
    assert "at the 4 corners of the search space" in verdict.message


def test_a_keras_formula_between_the_bounds_is_not_a_random_rate() -> None:
    decay = schedules.evaluate(
        "PolynomialDecay",
        {"initial_learning_rate": HIGH, "decay_steps": 500, "end_learning_rate": LOW,
         "power": 1.0, "cycle": False},
        STEPS,
    )  # fmt: skip
    verdict = judge(record([float(v) for v in decay]))
    assert verdict.status is CheckStatus.FAILED
    assert verdict.message.startswith("The optimizer's learning rate is PolynomialDecay(")
    assert "random value drawn uniformly between the hyperparameters lower_bound" in verdict.message


def test_one_draw_kept_for_every_step_is_a_constant() -> None:
    verdict = judge(record([0.05] * len(STEPS)))
    assert verdict.status is CheckStatus.FAILED
    assert "The optimizer's learning rate is constant 0.05" in verdict.message


def test_rates_outside_the_bounds_fail_and_the_first_one_is_named() -> None:
    lrs = uniform(LOW, 0.2)  # the upper bound doubled
    verdict = judge(record(lrs))
    assert verdict.status is CheckStatus.FAILED
    step = next(s for s, v in zip(STEPS, lrs, strict=True) if v > HIGH)
    assert f"samples lie outside that interval (at step {step} it is" in verdict.message


def test_a_rate_that_changes_only_every_other_step_fails() -> None:
    lrs = uniform(LOW, HIGH)
    held = [
        lrs[i - i % 2] if s < 300 else v for i, (s, v) in enumerate(zip(STEPS, lrs, strict=True))
    ]
    verdict = judge(record(held))
    assert verdict.status is CheckStatus.FAILED
    assert "does not change from one step to the next at 150 of 299" in verdict.message


def test_a_rate_that_keeps_near_one_end_fails() -> None:
    verdict = judge(record(uniform(LOW, 0.02)))  # within the bounds, far below the top
    assert verdict.status is CheckStatus.FAILED
    assert "only run from" in verdict.message and "over the whole interval" in verdict.message


def test_bounds_that_ignore_the_hyperparameters_fail_at_the_corners() -> None:
    fixed = corners(lambda low, high, seed: uniform(0.001, 0.1, seed))  # the seed's numbers
    verdict = judge(record(uniform(LOW, HIGH), fixed))  # the default build looks right
    assert verdict.status is CheckStatus.FAILED
    assert "Built with lower_bound=0.001, upper_bound=0.5, the learning rate runs" in (
        verdict.message
    )
    assert "lower_bound=0.01, upper_bound=0.1" in verdict.message  # its minimum is too low


def test_a_search_space_without_the_bounds_says_which_is_missing() -> None:
    rec = record(uniform(LOW, HIGH))
    rec["search_space"]["values"] = {"lower_bound": LOW, "lr_max": HIGH}
    verdict = judge(rec)
    assert verdict.status is CheckStatus.FAILED
    assert verdict.message.startswith("The search space has no upper_bound")
    assert judge(rec, "es").message.startswith("El espacio de búsqueda no tiene upper_bound")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"family": "RandomUniform"}, "must name the two hyperparameters"),
        ({"family": "RandomUniform", "bounds": ["a", "a"]}, "must name the two hyperparameters"),
        ({"family": "PolynomialDecay", "bounds": BOUNDS}, "applies only to the families"),
    ],
)
def test_bounds_go_with_a_random_family_only(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(ParamError, match=problem):
        build(REGISTRY["schedule"].params, params, "schedule")


def test_findings_count_what_they_see() -> None:
    found = schedules.random_findings([0, 1, 2, 3, 10], [0.5, 0.5, 0.9, 1.5, 0.1], 0.1, 1.0)
    assert (found.outside, found.first_outside) == (1, (3, 1.5))
    assert (found.changes, found.pairs) == (2, 3)  # 0->1 repeats; 3->10 is not consecutive
    assert found.reaches_low and found.reaches_high and not found.ok


def _search_space(rec: dict[str, Any], **params: Any) -> Any:
    params = {
        "hyperparameters": [
            {"name": "lower_bound", "type": "Float", "min": 0.001, "max": 0.01},
            {"name": "upper_bound", "type": "Float", "min": 0.1, "max": 0.5},
        ],
        **params,
    }
    space = [
        {"name": "lower_bound", "type": "Float", "min": 0.001, "max": 0.01, "step": None,
         "sampling": "linear", "default": 0.001, "values": None},
        {"name": "upper_bound", "type": "Float", "min": 0.1, "max": 0.5, "step": None,
         "sampling": "linear", "default": 0.1, "values": None},
    ]  # fmt: skip
    rec["search_space"]["hyperparameters"] = space
    ctx = CheckContext(
        record=ProbeRecord.parse(rec),
        lang="en",
        params=build(REGISTRY["search_space"].params, params, "search_space"),
        messages=REGISTRY["search_space"].messages,
    )
    return REGISTRY["search_space"].run(ctx)


def test_a_random_rate_may_end_above_its_start_when_the_spec_says_it_is_no_decay() -> None:
    builds = corners()
    builds[0]["lr_first"], builds[0]["lr_last"] = 0.01, 0.09  # ends above where it starts
    rec = record(uniform(LOW, HIGH), builds)
    assert _search_space(rec, decays=False).status is CheckStatus.PASSED
    rising = _search_space(rec)  # the exam's rule, the default: a decay must not rise
    assert rising.status is CheckStatus.FAILED and "the learning rate rises" in rising.message
