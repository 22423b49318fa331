"""grader.schedules against Keras itself: samples come from the real schedule classes."""

import math

import keras
import numpy as np
import pytest

from grader.keras_schedules import ScheduleConfigError, keras_curve
from grader.schedules import (
    ScheduleFit,
    describe,
    evaluate,
    fit_all,
    identify,
    identify_epoch_schedule,
)

# The probe's grid: every step at the start, then spaced out to 100 epochs of 196 steps.
TOTAL = 196 * 100
STEPS = np.concatenate([np.arange(301), np.unique(np.geomspace(301, TOTAL, 200).round())])
LINEAR_STEPS = np.concatenate([np.arange(301), np.linspace(400, TOTAL, 197).round()])
SCHEDULES = keras.optimizers.schedules


def _case(name: str, *args, determined: str = "params", **kwargs):
    """A Keras schedule to sample, and what its samples determine:
    "params": every argument; "curve": only the curve (an argument lies beyond the samples);
    "per_step": a continuous decay fixes initial_learning_rate and the decay per step only."""
    text = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return pytest.param(name, args, kwargs, determined, id=f"{name}({text})")


CASES = [
    _case("PolynomialDecay", 0.3035, 10, 0.2808),  # the exam's schedule
    _case("PolynomialDecay", 0.3200, 10, 0.2983),
    _case("PolynomialDecay", 0.2990, 10, 0.2980),
    _case("PolynomialDecay", 0.3035, 10, 0.2808, cycle=True),
    _case("PolynomialDecay", 0.1, 5000, 0.001, power=2.0),
    _case("PolynomialDecay", 0.1, 1000, 0.0, power=0.5),
    _case("PolynomialDecay", 0.1, 1000, 0.01, power=0.5, cycle=True),
    _case("PolynomialDecay", 0.05, 150, 0.001, power=2.0, cycle=True),
    _case("PolynomialDecay", 0.1, 50000, 0.001, power=1.0, determined="curve"),
    _case("PolynomialDecay", 0.1, 50000, 0.001, power=0.5, determined="curve"),
    _case("ExponentialDecay", 0.1, 1000, 0.96, determined="per_step"),
    _case("ExponentialDecay", 0.1, 10000, 0.1, determined="per_step"),
    _case("ExponentialDecay", 0.1, 1000, 0.96, staircase=True),
    _case("ExponentialDecay", 0.01, 100, 0.5, staircase=True),  # underflows to 0 in float32
    _case("ExponentialDecay", 0.1, 37, 0.9, staircase=True),
    _case("InverseTimeDecay", 0.1, 1000, 0.5, determined="per_step"),
    _case("InverseTimeDecay", 0.01, 1, 1e-4, determined="per_step"),  # Keras 2 SGD(decay=)
    _case("InverseTimeDecay", 0.1, 1000, 0.5, staircase=True),
    _case("InverseTimeDecay", 0.05, 250, 2.0, staircase=True),
    _case("PiecewiseConstantDecay", [100, 1000], [0.1, 0.01, 0.001]),
    _case("PiecewiseConstantDecay", [50], [0.3, 0.2]),
    _case("PiecewiseConstantDecay", [5000, 10000, 15000], [1.0, 0.5, 0.1, 0.05]),
    _case("CosineDecay", 0.1, 5000, alpha=0.01),
    _case("CosineDecay", 0.1, 200, alpha=0.1),
    _case("CosineDecay", 0.3, TOTAL, alpha=0.0),
    _case("CosineDecay", 0.1, 50000, determined="curve"),
    _case("CosineDecay", 0.0, 1000, warmup_target=0.1, warmup_steps=100),
    _case("CosineDecay", 0.01, 5000, alpha=0.1, warmup_target=0.1, warmup_steps=250),
    _case("CosineDecayRestarts", 0.1, 100, t_mul=2.0, m_mul=0.9, alpha=0.01),
    _case("CosineDecayRestarts", 0.1, 100, t_mul=1.5, m_mul=1.0, alpha=0.0),
    _case("CosineDecayRestarts", 0.1, 1000, t_mul=1.0, m_mul=1.0, alpha=0.0),
    _case("CosineDecayRestarts", 0.05, 250, t_mul=2.0, m_mul=0.5, alpha=0.1),
]


def _sample(schedule, steps=STEPS) -> np.ndarray:
    """What a probe records: the schedule called at each step, as float32 becomes float."""
    try:
        return np.asarray(schedule(keras.ops.convert_to_tensor(steps)), dtype=float)
    except ValueError:
        # CosineDecay with warmup branches with ops.cond, which takes one step at a time.
        return np.array([float(np.asarray(schedule(int(s)))) for s in steps])


def _keras_params(name: str, args: tuple, kwargs: dict) -> dict:
    """The schedule's full keyword arguments, Keras defaults filled in."""
    config = getattr(SCHEDULES, name)(*args, **kwargs).get_config()
    config.pop("name")
    if config.get("warmup_target", 0) is None:
        del config["warmup_target"], config["warmup_steps"]
    return config


def _close(actual, expected, rel=1e-3, abs_=1e-6) -> bool:
    if isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(map(_close, actual, expected))
    if isinstance(expected, bool):
        return actual is expected
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize(("name", "args", "kwargs", "determined"), CASES)
def test_identifies_keras_schedules(name, args, kwargs, determined):
    lrs = _sample(getattr(SCHEDULES, name)(*args, **kwargs))
    fit = identify(STEPS, lrs)
    assert fit is not None, fit_all(STEPS, lrs)[:2]
    assert fit.family == name, describe(fit)
    assert fit.max_rel_error < 1e-4
    reproduced = evaluate(fit.family, fit.params, STEPS)
    np.testing.assert_allclose(reproduced, lrs, rtol=1e-3, atol=1e-6 * lrs.max())
    true = _keras_params(name, args, kwargs)
    if determined == "params":
        wrong = {
            k: (fit.params.get(k), v) for k, v in true.items() if not _close(fit.params.get(k), v)
        }
        assert not wrong, describe(fit)
    elif determined == "per_step":
        assert _close(fit.params["initial_learning_rate"], true["initial_learning_rate"])
        assert fit.params["staircase"] is False
        if name == "ExponentialDecay":
            per_step = [math.log(p["decay_rate"]) / p["decay_steps"] for p in (fit.params, true)]
        else:
            per_step = [p["decay_rate"] / p["decay_steps"] for p in (fit.params, true)]
        assert _close(*per_step, abs_=0)


@pytest.mark.parametrize(("name", "args", "kwargs", "determined"), CASES)
def test_evaluate_is_the_keras_formula(name, args, kwargs, determined):
    lrs = _sample(getattr(SCHEDULES, name)(*args, **kwargs))
    expected = evaluate(name, _keras_params(name, args, kwargs), STEPS)
    # float32 (Keras) against float64 (ours): late restarts lose a few digits of the phase.
    np.testing.assert_allclose(expected, lrs, rtol=2e-6, atol=3e-6 * lrs.max())


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "determined"),
    [
        _case("PolynomialDecay", 0.3035, 10, 0.2808),
        _case("ExponentialDecay", 0.1, 500, 0.8, staircase=True),
        _case("CosineDecayRestarts", 0.1, 200, m_mul=0.8),
    ],
)
def test_linearly_spaced_probe(name, args, kwargs, determined):
    schedule = getattr(SCHEDULES, name)(*args, **kwargs)
    fit = identify(LINEAR_STEPS, _sample(schedule, LINEAR_STEPS))
    assert fit is not None and fit.family == name
    true = _keras_params(name, args, kwargs)
    assert all(_close(fit.params[k], v) for k, v in true.items()), describe(fit)


class HandWrittenPolynomial(SCHEDULES.LearningRateSchedule):
    """A student's own linear decay, written with keras ops instead of PolynomialDecay."""

    def __init__(self, initial: float, end: float, decay_steps: int) -> None:
        self.initial, self.end, self.decay_steps = initial, end, decay_steps

    def __call__(self, step):
        step = keras.ops.minimum(keras.ops.cast(step, "float32"), self.decay_steps)
        return (self.initial - self.end) * (1.0 - step / self.decay_steps) + self.end


def test_hand_written_schedule_is_judged_by_behaviour():
    fit = identify(STEPS, _sample(HandWrittenPolynomial(0.31, 0.29, 10)))
    assert fit is not None and fit.family == "PolynomialDecay"
    expected = dict(
        initial_learning_rate=0.31, decay_steps=10, end_learning_rate=0.29, power=1.0, cycle=False
    )
    assert all(_close(fit.params[k], v) for k, v in expected.items()), describe(fit)


def test_constant_curves_are_constant():
    fit = identify(STEPS, np.full(STEPS.size, np.float32(0.1), dtype=float))
    assert fit is not None and fit.family == "constant"
    assert _close(fit.params["learning_rate"], 0.1)
    # Degenerate schedules that never move are constant too, whatever their class.
    flat = _sample(SCHEDULES.PolynomialDecay(0.2983, 10, 0.2983))
    assert identify(STEPS, flat).family == "constant"
    # A change below EQUIVALENT_RTOL (1e-4) is not worth a schedule; above it, it is.
    tiny = _sample(SCHEDULES.PolynomialDecay(0.29830, 10, 0.29828))
    assert identify(STEPS, tiny).family == "constant"
    small = _sample(SCHEDULES.PolynomialDecay(0.29830, 10, 0.29800))
    assert identify(STEPS, small).family == "PolynomialDecay"


def test_noise_and_garbage_are_no_known_schedule():
    rng = np.random.default_rng(0)
    assert identify(STEPS, rng.uniform(0.1, 0.2, STEPS.size)) is None
    noisy = _sample(SCHEDULES.PolynomialDecay(0.3, 10, 0.28)) * rng.normal(1, 0.01, STEPS.size)
    assert identify(STEPS, noisy) is None
    assert identify(STEPS, np.full(STEPS.size, np.nan)) is None
    assert fit_all([0], [0.1]) == []
    with pytest.raises(ValueError, match="differ in length"):
        fit_all(STEPS, [0.1])


def test_rtol_bounds_what_counts_as_a_match():
    lrs = _sample(SCHEDULES.PolynomialDecay(0.3, 1000, 0.2))
    lrs[1:300] *= 1 + 3e-4 * np.sin(STEPS[1:300])  # almost, not quite, the Keras curve
    assert identify(STEPS, lrs).family == "PolynomialDecay"
    assert identify(STEPS, lrs, rtol=1e-4) is None


def test_fit_all_orders_best_first():
    fits = fit_all(STEPS, _sample(SCHEDULES.ExponentialDecay(0.1, 1000, 0.96)))
    errors = [f.max_rel_error for f in fits]
    assert errors == sorted(errors)
    assert {f.family for f in fits} >= {"constant", "ExponentialDecay", "InverseTimeDecay"}


def test_single_drop_prefers_piecewise_but_two_drops_prefer_exponential():
    # ExponentialDecay(staircase) with one drop in range is indistinguishable from it.
    one = _sample(SCHEDULES.ExponentialDecay(0.1, 12000, 0.5, staircase=True))
    fit = identify(STEPS, one)
    assert fit.family == "PiecewiseConstantDecay"
    assert fit.max_rel_error == 0.0 and _close(fit.params["values"], [0.1, 0.05])
    two = _sample(SCHEDULES.ExponentialDecay(0.1, 9000, 0.5, staircase=True))
    assert identify(STEPS, two).family == "ExponentialDecay"


def test_evaluate_rejects_unknown_family():
    with pytest.raises(ValueError, match="unknown schedule family"):
        evaluate("OneCycle", {}, STEPS)


def test_describe():
    fit = identify(STEPS, _sample(SCHEDULES.PolynomialDecay(0.3035, 10, 0.2808)))
    assert describe(fit) == (
        "PolynomialDecay(initial_learning_rate=0.3035, decay_steps=10, "
        "end_learning_rate=0.2808, power=1.0, cycle=False)"
    )
    constant = ScheduleFit("constant", {"learning_rate": 0.1}, 0.0)
    assert describe(constant) == "constant 0.1"
    assert describe(constant, "es") == "constante 0.1"
    assert describe(None) == "no known schedule"
    assert describe(None, "es") == "ningún planificador conocido"
    step = ScheduleFit("step decay", {"initial_lrate": 0.1, "drop": 0.5, "epochs_drop": 10}, 0.0)
    assert describe(step) == "step decay (initial_lrate=0.1, drop=0.5, epochs_drop=10)"
    assert describe(step, "es").startswith("decaimiento escalonado (")


# The LearningRateScheduler functions of the classic tutorial (seed 002).
def step_decay(epoch):
    initial_lrate, drop, epochs_drop = 0.1, 0.5, 10.0
    return initial_lrate * math.pow(drop, math.floor(epoch / epochs_drop))


def exp_decay(epoch):
    initial_lrate, k = 0.1, 0.1
    return initial_lrate * np.exp(-k * epoch)


def time_decay(epoch):
    initial_lrate, k = 0.1, 0.1 / 50
    return initial_lrate / (1 + k * epoch)


@pytest.mark.parametrize(
    ("function", "family", "expected"),
    [
        (step_decay, "step decay", {"initial_lrate": 0.1, "drop": 0.5, "epochs_drop": 10}),
        (exp_decay, "exponential decay", {"initial_lrate": 0.1, "k": 0.1}),
        (time_decay, "time-based decay", {"initial_lrate": 0.1, "k": 0.002}),
        (lambda epoch: 0.01, "constant", {"learning_rate": 0.01}),
    ],
)
def test_identifies_epoch_schedules(function, family, expected):
    epochs = np.arange(100)
    lrs = np.array([float(np.float32(function(int(e)))) for e in epochs])
    fit = identify_epoch_schedule(epochs, lrs)
    assert fit is not None and fit.family == family
    assert fit.params.keys() == expected.keys()
    assert all(_close(fit.params[k], v) for k, v in expected.items()), describe(fit)
    np.testing.assert_allclose(evaluate(family, fit.params, epochs), lrs, rtol=1e-5)


def test_unknown_epoch_schedule_is_none():
    epochs = np.arange(100)
    assert identify_epoch_schedule(epochs, 0.1 + 0.05 * np.sin(epochs / 7)) is None


# --- keras_curve: the parent's NumPy copy of Keras' own computation ------------------------

# Beyond the CASES above: boundaries Keras truncates, power with cycle, warmup only.
CURVE_CASES = [
    *CASES,
    _case("PiecewiseConstantDecay", [10.7, 20], [0.3, 0.2, 0.1]),
    _case("PolynomialDecay", 0.3, 7, 0.01, power=3.0, cycle=True),
    _case("CosineDecay", 0.01, 300, warmup_target=0.2, warmup_steps=3000),
    _case("ExponentialDecay", 0.3, 10, 1.5),  # grows: still what Keras computes
]


@pytest.mark.parametrize(("name", "args", "kwargs", "determined"), CURVE_CASES)
def test_keras_curve_matches_keras(name, args, kwargs, determined):
    schedule = getattr(SCHEDULES, name)(*args, **kwargs)
    config = keras.optimizers.schedules.serialize(schedule)["config"]
    ours = keras_curve(name, config, STEPS)
    theirs = _sample(schedule)
    # float32 throughout: cos, log and pow may differ from TensorFlow's by an ulp or two;
    # a restart's step fraction carries the ulp of the step count (~1e-7 of it), which
    # near a cosine's zero is a few ulps of the peak, not of the value.
    peak = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * peak)


def test_keras_curve_refuses_what_it_cannot_reproduce():
    base = {"initial_learning_rate": 0.3, "decay_steps": 10, "end_learning_rate": 0.29}
    with pytest.raises(ScheduleConfigError, match="not a finite number"):
        keras_curve("PolynomialDecay", {**base, "end_learning_rate": float("nan")}, [0, 1])
    with pytest.raises(ScheduleConfigError, match="not a number"):
        keras_curve("PolynomialDecay", {**base, "decay_steps": "10"}, [0, 1])
    with pytest.raises(ScheduleConfigError, match="True or False"):
        keras_curve("PolynomialDecay", {**base, "cycle": "yes"}, [0, 1])
    with pytest.raises(ScheduleConfigError, match="lacks decay_steps"):
        keras_curve("PolynomialDecay", {"initial_learning_rate": 0.3}, [0, 1])
    with pytest.raises(ScheduleConfigError, match="int"):
        keras_curve(
            "ExponentialDecay", {**base, "initial_learning_rate": 1, "decay_rate": 0.5}, [0]
        )
    with pytest.raises(ScheduleConfigError, match="standard Keras schedule"):
        keras_curve("MySchedule", base, [0, 1])
    with pytest.raises(ScheduleConfigError, match="one element more"):
        keras_curve("PiecewiseConstantDecay", {"boundaries": [1, 2], "values": [0.1]}, [0])
    with pytest.raises(ScheduleConfigError, match="> 0"):
        keras_curve("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 0}, [0])
