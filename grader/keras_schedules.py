"""Keras' own learning-rate schedules computed in NumPy from their config, as Keras computes
them (float32, the same operations in the same order): `keras_curve`, the curve a standard
schedule gives, which the parent compares with the probe's samples without TensorFlow.
`ScheduleConfigError` names what it cannot reproduce. Recognising a curve from samples is
grader/schedules.py's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader.errors import GraderError


class ScheduleConfigError(GraderError):
    """A schedule config the parent cannot turn into Keras' curve (named in the message)."""


# The standard schedules `keras_curve` reproduces, with the config keys each one needs.
KERAS_SCHEDULES: dict[str, tuple[str, ...]] = {
    "ExponentialDecay": ("initial_learning_rate", "decay_steps", "decay_rate"),
    "PiecewiseConstantDecay": ("boundaries", "values"),
    "PolynomialDecay": ("initial_learning_rate", "decay_steps"),
    "InverseTimeDecay": ("initial_learning_rate", "decay_steps", "decay_rate"),
    "CosineDecay": ("initial_learning_rate", "decay_steps"),
    "CosineDecayRestarts": ("initial_learning_rate", "first_decay_steps"),
}
_F32 = np.float32


def _number(config: Mapping[str, Any], key: str, default: Any = None) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScheduleConfigError(f"{key}={value!r} is not a number")
    if not math.isfinite(value):
        raise ScheduleConfigError(f"{key}={value!r} is not a finite number")
    return float(value)


def _rate(config: Mapping[str, Any], key: str) -> np.float32:
    # Keras converts the Python number to a tensor: a float becomes float32, an int an
    # integer tensor whose arithmetic (decay_rate cast to int) is not a learning rate.
    if isinstance(config.get(key), int) and not isinstance(config.get(key), bool):
        raise ScheduleConfigError(f"{key}={config[key]!r} is an int; Keras computes it in ints")
    return _F32(_number(config, key))


def _flag(config: Mapping[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise ScheduleConfigError(f"{key}={value!r} is not True or False")
    return value


def keras_curve(class_name: str, config: Mapping[str, Any], steps: Sequence[int]) -> np.ndarray:
    """The learning rate a standard Keras 3 schedule with `config` gives at `steps`.

    Computed as keras/src/optimizers/schedules/learning_rate_schedule.py (Keras 3.15)
    does: every operand cast to float32 (the dtype of `initial_learning_rate`), the same
    operations in the same order, so values agree to float32 rounding of cos/log/pow.
    Returns float64 values of float32 results. `ScheduleConfigError` for a class that is
    not one of KERAS_SCHEDULES or a config Keras would reject or compute otherwise.
    """
    if class_name not in KERAS_SCHEDULES:
        raise ScheduleConfigError(f"{class_name!r} is not a standard Keras schedule")
    if not isinstance(config, Mapping):
        raise ScheduleConfigError("the schedule's config is not an object")
    missing = [k for k in KERAS_SCHEDULES[class_name] if k not in config]
    if missing:
        raise ScheduleConfigError(f"{class_name} config lacks {', '.join(missing)}")
    step_values = np.asarray(steps, dtype=np.int64)
    g = step_values.astype(_F32)  # ops.cast(step, dtype)
    with np.errstate(all="ignore"):
        if class_name == "PiecewiseConstantDecay":
            values = _piecewise_keras(config, step_values)
        elif class_name == "ExponentialDecay":
            p = g / _F32(_number(config, "decay_steps"))
            p = np.floor(p) if _flag(config, "staircase") else p
            values = _rate(config, "initial_learning_rate") * np.power(
                _rate(config, "decay_rate"), p
            )
        elif class_name == "InverseTimeDecay":
            p = g / _F32(_number(config, "decay_steps"))
            p = np.floor(p) if _flag(config, "staircase") else p
            denom = _F32(1) + _rate(config, "decay_rate") * p
            values = _rate(config, "initial_learning_rate") / denom
        elif class_name == "PolynomialDecay":
            values = _polynomial_keras(config, g)
        elif class_name == "CosineDecay":
            values = _cosine_keras(config, g)
        else:
            values = _restarts_keras(config, g)
    return np.asarray(values, dtype=_F32).astype(float)


def _polynomial_keras(config: Mapping[str, Any], g: np.ndarray) -> np.ndarray:
    initial = _rate(config, "initial_learning_rate")
    end = _F32(_number(config, "end_learning_rate", 0.0001))
    power = _F32(_number(config, "power", 1.0))
    decay_steps = _F32(_number(config, "decay_steps"))
    if _flag(config, "cycle"):
        # The first multiple of decay_steps at or above the step; 1 at step 0.
        multiplier = np.where(g == 0, _F32(1.0), np.ceil(g / decay_steps))
        decay_steps = decay_steps * multiplier
    else:
        g = np.minimum(g, decay_steps)
    p = g / decay_steps
    return (initial - end) * np.power(_F32(1) - p, power) + end


def _cosine_decay_keras(
    step: np.ndarray, decay_steps: np.float32, start: np.float32, alpha: float
) -> np.ndarray:
    fraction = step / decay_steps
    cosine = _F32(0.5) * (_F32(1.0) + np.cos(_F32(math.pi) * fraction))
    # `(1 - self.alpha)` is Python arithmetic on the config's number, then cast.
    return start * (_F32(1 - alpha) * cosine + _F32(alpha))


def _cosine_keras(config: Mapping[str, Any], g: np.ndarray) -> np.ndarray:
    initial = _rate(config, "initial_learning_rate")
    decay_steps = _F32(_number(config, "decay_steps"))
    if decay_steps <= 0:
        raise ScheduleConfigError("decay_steps must be > 0 (Keras refuses it)")
    alpha = _number(config, "alpha", 0.0)
    if config.get("warmup_target") is None:
        return _cosine_decay_keras(np.minimum(g, decay_steps), decay_steps, initial, alpha)
    target = _F32(_number(config, "warmup_target"))
    warmup_steps = _F32(_number(config, "warmup_steps", 0))
    g = np.minimum(g, decay_steps + warmup_steps)
    warm = (target - initial) * (g / warmup_steps) + initial
    decay = _cosine_decay_keras(g - warmup_steps, decay_steps, target, alpha)
    return np.where(g < warmup_steps, warm, decay)


def _restarts_keras(config: Mapping[str, Any], g: np.ndarray) -> np.ndarray:
    initial = _rate(config, "initial_learning_rate")
    first = _F32(_number(config, "first_decay_steps"))
    if first <= 0:
        raise ScheduleConfigError("first_decay_steps must be > 0 (Keras refuses it)")
    alpha = _F32(_number(config, "alpha", 0.0))
    t_mul = _F32(_number(config, "t_mul", 2.0))
    m_mul = _F32(_number(config, "m_mul", 1.0))
    fraction = g / first
    if t_mul == 1.0:
        restart = np.floor(fraction)
        fraction = fraction - restart
    else:
        restart = np.floor(np.log(_F32(1.0) - fraction * (_F32(1.0) - t_mul)) / np.log(t_mul))
        done = (_F32(1.0) - np.power(t_mul, restart)) / (_F32(1.0) - t_mul)
        fraction = (fraction - done) / np.power(t_mul, restart)
    cosine = _F32(0.5) * np.power(m_mul, restart) * (_F32(1.0) + np.cos(_F32(math.pi) * fraction))
    return initial * ((_F32(1) - alpha) * cosine + alpha)


def _piecewise_keras(config: Mapping[str, Any], steps: np.ndarray) -> np.ndarray:
    boundaries, values = config.get("boundaries"), config.get("values")
    if not isinstance(boundaries, list | tuple) or not isinstance(values, list | tuple):
        raise ScheduleConfigError("boundaries and values must be lists")
    if not boundaries or len(values) != len(boundaries) + 1 or len(values) > 10_000:
        raise ScheduleConfigError("values must have one element more than boundaries")
    bounds = [_number({"b": b}, "b") for b in boundaries]
    numbers = [_number({"v": v}, "v") for v in values]
    if all(isinstance(v, int) for v in values):
        raise ScheduleConfigError("integer values: Keras computes an integer learning rate")
    if any(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ScheduleConfigError("values mix ints and floats: Keras fails to compute them")
    # Boundaries are cast to the step's integer dtype, which truncates 10.7 to 10.
    b = np.trunc(np.asarray(bounds)).astype(np.int64)
    v = np.asarray(numbers, dtype=_F32)
    # The same sum of masked values Keras builds (overlapping ranges add up, as there).
    result = (steps <= b[0]).astype(_F32) * v[0]
    result = result + (steps > b[-1]).astype(_F32) * v[-1]
    for low, high, value in zip(b[:-1], b[1:], v[1:-1], strict=True):
        result = result + ((steps > low) & (steps <= high)).astype(_F32) * value
    return result
