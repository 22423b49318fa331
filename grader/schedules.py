"""Recognise a learning-rate schedule from its samples: by behaviour, never by class name.

A probe calls the student's schedule at some training steps (every step at the start, then
spaced out) and records the learning rates. This module fits every Keras 3 schedule family
to those samples, reproducing Keras' formulas exactly (`evaluate`), and says which family
the curve is (`identify`). It is pure numpy/scipy: it runs in the trusted parent process.

Fitting is closed-form first (initial value at step 0, the step where the curve goes flat,
plateau boundaries, restarts), then refined with `scipy.optimize.least_squares` on relative
residuals. A fit is judged by its maximum relative error against the samples; values below
`ABS_FLOOR` of the curve's peak are compared on that absolute scale instead, because Keras
computes in float32 and cosines near zero carry absolute, not relative, rounding noise.

Degeneracies (a constant is also a PolynomialDecay with initial == end, an ExponentialDecay
with rate 1, ...) are settled by simplicity. `identify` accepts fits within rtol; a curve
within `EQUIVALENT_RTOL` (1e-4, far above float32 noise) of a constant is "constant";
otherwise, among the fits that follow the curve's shape as well as the best one (largest
deviation within `SHAPE_TOL` of the curve's range), it takes the one with the fewest
parameters, ties broken by the order of `FAMILIES`. Judging shape relative to the range
keeps a small drop a decay: PolynomialDecay(0.2990, 10, 0.2980) is not a CosineDecay even
though a cosine stays within 1e-4 of it.

Callbacks (a `LearningRateScheduler`, a student's own `CyclicLR`) are recognised from the
probe's dry run of the callback protocol: per epoch (`identify_epoch_schedule`: constant,
step decay in its two forms, exponential, time-based) or, when the rate moves within an
epoch, per batch (`identify_batch_schedule`: CyclicLR's triangular, triangular2 and
exp_range policies with base_lr, max_lr, step_size and gamma). `CALLBACK_FAMILIES` maps
the names a spec uses to these families.

Parameters that the samples cannot determine are reported in one equivalent form: a
continuous ExponentialDecay/InverseTimeDecay only fixes the decay per step, so decay_steps
is the "roundest" power-of-ten-like value making decay_rate short; a PolynomialDecay or
CosineDecay whose decay_steps lies beyond the sampled range gets whatever reproduces it.

Over 800 lines because one job spans it: every family's fitter and `identify`'s choice
among them share the formulas and fitting helpers, and apart they would import each
other's private parts. Keras' curve from a config is apart (grader/keras_schedules.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq, least_squares

from grader import i18n

Param = float | int | bool | list | str

# Simplest first: the tie-break among fits with the same number of parameters. A single
# drop is reported as PiecewiseConstantDecay, the literal reading of one step down.
FAMILIES: tuple[str, ...] = (
    "constant",
    "PiecewiseConstantDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "PolynomialDecay",
    "CosineDecayRestarts",
)
EPOCH_FAMILIES: tuple[str, ...] = (
    "constant",
    "step decay",
    # The off-by-one form students write (seed 002): lr0 * drop ** floor((1 + epoch) / d),
    # which drops one epoch earlier than the tutorial's floor(epoch / d).
    "step decay (1 + epoch)",
    "exponential decay",
    "time-based decay",
)
# A callback that sets the rate at every batch (CyclicLR, Smith 2017, as keras-contrib and
# the bckenstler implementation compute it); one family, its policy in params["mode"].
BATCH_FAMILIES: tuple[str, ...] = ("CyclicLR",)
CYCLIC_MODES: tuple[str, ...] = ("triangular", "triangular2", "exp_range")
# A curve that stays this close (relative) to a constant is "constant".
EQUIVALENT_RTOL = 1e-4
# Fits whose largest deviation, as a fraction of the curve's range, is this close to the
# best fit's follow the shape equally well; the simplest wins. Two decays that differ by
# 0.2% of their drop are the same schedule for grading; float32 noise is far below it.
SHAPE_TOL = 2e-3
# Values below this fraction of the peak are compared absolutely (see module docstring).
ABS_FLOOR = 1e-3
# Consecutive samples closer than this (relative) are the same value: float32 samples of a
# plateau are bit-identical, this only absorbs float64 round-off of hand-written schedules.
_SAME_RTOL = 1e-9
# Candidates whose error differs by less than this are ties; the rounder candidate wins.
# It is float32 rounding (~6e-8 of the peak) seen through ABS_FLOOR, with a margin.
_NOISE = 3e-5
_MAX_BOUNDARIES = 32


@dataclass(frozen=True)
class ScheduleFit:
    """One family fitted to the samples: its Keras keyword arguments and how well it fits."""

    family: str
    params: dict[str, Param]
    max_rel_error: float


# ---------------------------------------------------------------- formulas (Keras 3, exact)


def _poly(s, initial, decay_steps, end, power, cycle):
    if cycle:
        # Keras: step 0 uses one period, otherwise the period grows to cover the step.
        mult = np.where(s == 0, 1.0, np.ceil(s / decay_steps))
        p = s / (decay_steps * mult)
    else:
        p = np.minimum(s, decay_steps) / decay_steps
    return (initial - end) * np.power(1.0 - p, power) + end


def _exp(s, initial, decay_steps, rate, staircase):
    p = np.floor(s / decay_steps) if staircase else s / decay_steps
    return initial * np.power(rate, p)


def _inverse(s, initial, decay_steps, rate, staircase):
    p = np.floor(s / decay_steps) if staircase else s / decay_steps
    return initial / (1.0 + rate * p)


def _piecewise(s, boundaries, values):
    # Keras: step <= b[0] -> v[0]; b[i-1] < step <= b[i] -> v[i]; step > b[-1] -> v[-1].
    return np.asarray(values, float)[np.searchsorted(np.asarray(boundaries, float), s, "left")]


def _cosine(s, initial, decay_steps, alpha, warmup_target=None, warmup_steps=0):
    def decay(step, start_lr):
        cos = 0.5 * (1.0 + np.cos(np.pi * step / decay_steps))
        return start_lr * ((1.0 - alpha) * cos + alpha)

    if warmup_target is None:
        return decay(np.minimum(s, decay_steps), initial)
    s = np.minimum(s, decay_steps + warmup_steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        warm = (warmup_target - initial) * s / warmup_steps + initial
    return np.where(s < warmup_steps, warm, decay(s - warmup_steps, warmup_target))


def _restarts(s, initial, first_decay_steps, t_mul, m_mul, alpha):
    f = s / first_decay_steps
    if t_mul == 1.0:
        k = np.floor(f)
        frac = f - k
    else:

        def done(n):  # fraction of the first period completed after n restarts
            return (1.0 - t_mul**n) / (1.0 - t_mul)

        k = np.floor(np.log(1.0 - f * (1.0 - t_mul)) / np.log(t_mul))
        # The log can land one off at a restart; the exact formula is integer-valued there.
        k = np.where(done(k + 1) <= f, k + 1, k)
        k = np.where(done(k) > f, k - 1, k)
        frac = (f - done(k)) / t_mul**k
    cos = 0.5 * m_mul**k * (1.0 + np.cos(np.pi * frac))
    return initial * ((1.0 - alpha) * cos + alpha)


def _step_decay(e, initial_lrate, drop, epochs_drop, offset=0):
    return initial_lrate * np.power(drop, np.floor((e + offset) / epochs_drop))


def _cyclic(it, base_lr, max_lr, step_size, mode, gamma=1.0):
    """CyclicLR's rate at batch `it` (clr_iterations): the triangle, scaled per policy."""
    cycle = np.floor(1.0 + it / (2.0 * step_size))
    x = np.abs(it / step_size - 2.0 * cycle + 1.0)
    if mode == "triangular":
        scale = np.ones_like(it)
    elif mode == "triangular2":
        scale = 1.0 / np.power(2.0, cycle - 1.0)
    elif mode == "exp_range":
        scale = np.power(gamma, it)
    else:
        raise ValueError(f"unknown CyclicLR mode {mode!r}")
    return base_lr + (max_lr - base_lr) * np.maximum(0.0, 1.0 - x) * scale


def evaluate(
    family: str, params: dict[str, Param], steps: Sequence[float] | np.ndarray
) -> np.ndarray:
    """The family's learning rate at `steps`, with Keras' formula (float64)."""
    s = np.asarray(steps, dtype=float)
    p = params
    if family == "constant":
        return np.full(s.shape, float(p["learning_rate"]))
    if family == "PiecewiseConstantDecay":
        return _piecewise(s, p["boundaries"], p["values"])
    if family == "ExponentialDecay":
        return _exp(
            s, p["initial_learning_rate"], p["decay_steps"], p["decay_rate"], p["staircase"]
        )
    if family == "InverseTimeDecay":
        return _inverse(
            s, p["initial_learning_rate"], p["decay_steps"], p["decay_rate"], p["staircase"]
        )
    if family == "PolynomialDecay":
        return _poly(
            s,
            p["initial_learning_rate"],
            p["decay_steps"],
            p["end_learning_rate"],
            p["power"],
            p["cycle"],
        )
    if family == "CosineDecay":
        return _cosine(
            s,
            p["initial_learning_rate"],
            p["decay_steps"],
            p["alpha"],
            p.get("warmup_target"),
            p.get("warmup_steps", 0),
        )
    if family == "CosineDecayRestarts":
        return _restarts(
            s,
            p["initial_learning_rate"],
            p["first_decay_steps"],
            p["t_mul"],
            p["m_mul"],
            p["alpha"],
        )
    if family == "step decay":
        return _step_decay(s, p["initial_lrate"], p["drop"], p["epochs_drop"])
    if family == "step decay (1 + epoch)":
        return _step_decay(s, p["initial_lrate"], p["drop"], p["epochs_drop"], offset=1)
    if family == "CyclicLR":
        return _cyclic(s, p["base_lr"], p["max_lr"], p["step_size"], p["mode"], p.get("gamma", 1.0))
    if family == "exponential decay":
        return p["initial_lrate"] * np.exp(-p["k"] * s)
    if family == "time-based decay":
        return p["initial_lrate"] / (1.0 + p["k"] * s)
    raise ValueError(f"unknown schedule family {family!r}")


# ---------------------------------------------------------------- fitting helpers


def _scale(y: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(y)))
    return np.maximum(np.abs(y), max(ABS_FLOOR * peak, np.finfo(float).tiny))


def _error(pred: np.ndarray, y: np.ndarray, scale: np.ndarray) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(np.asarray(pred, float) - y) / scale
    return float(np.max(err)) if np.all(np.isfinite(err)) else math.inf


def _same(a, b) -> np.ndarray:
    return np.abs(np.asarray(a) - np.asarray(b)) <= _SAME_RTOL * np.maximum(np.abs(a), np.abs(b))


def _num(x: float) -> float | int:
    """An integral value as int (decay_steps=10, not 10.0), anything else as float."""
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _roundest(lo: float, hi: float) -> float:
    """The number in (lo, hi] with the fewest significant digits (decay steps, t_mul)."""
    if not hi > lo:
        return hi
    q = 10.0 ** (math.floor(math.log10(abs(hi))) + 1) if hi != 0 else 1.0
    while q > abs(hi) * 1e-12:
        for mult in (5.0, 2.0, 1.0):
            # Printed to 12 digits and read back: 15 * 0.1 is 1.5000000000000002 in binary,
            # and a t_mul off by that ulp moves a restart across a sampled step.
            c = float(f"{math.floor(hi / (q * mult)) * q * mult:.12g}")
            if c > lo:
                return c
        q /= 10.0
    return hi


def _refine(model: Callable, x0, y, scale, lower=None, upper=None) -> np.ndarray:
    """Least-squares refinement on relative residuals; never returns something worse."""
    x0 = np.asarray(x0, float)
    lo = np.full(x0.shape, -np.inf) if lower is None else np.asarray(lower, float)
    hi = np.full(x0.shape, np.inf) if upper is None else np.asarray(upper, float)
    start = np.clip(x0, lo, hi)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    start = np.where(start <= lo, lo + 1e-9 * span + 1e-12, start)
    start = np.where(start >= hi, hi - 1e-9 * span - 1e-12, start)

    def residual(x):
        with np.errstate(all="ignore"):
            r = (np.asarray(model(x), float) - y) / scale
        return np.where(np.isfinite(r), r, 1e6)

    best = x0
    best_err = _error(model(x0), y, scale) if np.all(x0 >= lo) and np.all(x0 <= hi) else math.inf
    try:
        x = least_squares(residual, start, bounds=(lo, hi), x_scale="jac", max_nfev=150).x
    except (ValueError, np.linalg.LinAlgError):
        return best
    return x if _error(model(x), y, scale) <= best_err else best


def _pick(family: str, candidates: list[dict], s, y, scale, error=None) -> ScheduleFit | None:
    """The best candidate; among near-ties (within _NOISE) the earliest, i.e. roundest."""
    fits = []
    tidy = [{k: _tidy(v) for k, v in c.items()} for c in candidates]
    for params in [c for c in tidy if c not in candidates] + candidates:
        err = error(params) if error else _error(evaluate(family, params, s), y, scale)
        fits.append(ScheduleFit(family, params, err))
    if not fits:
        return None
    best = min(f.max_rel_error for f in fits)
    if not math.isfinite(best):
        return None
    return next(f for f in fits if f.max_rel_error <= max(best * 1.01, best + _NOISE))


def _tidy(v: Param) -> Param:
    """Least-squares dust (alpha=-4e-13) back to the zero it stands for."""
    return 0.0 if isinstance(v, float) and abs(v) < 1e-7 else v


def _tail_start(y: np.ndarray) -> int | None:
    """Index where the final flat run starts, if the curve reaches one (>= 2 samples)."""
    moving = np.nonzero(~_same(y, y[-1]))[0]
    if moving.size == 0:
        return None
    k = int(moving[-1]) + 1
    return k if k <= y.size - 2 else None


def _rises(y: np.ndarray) -> np.ndarray:
    return np.nonzero((y[1:] > y[:-1]) & ~_same(y[1:], y[:-1]))[0]


def _sig_digits(x: float, rtol: float = 1e-5) -> int:
    for n in range(1, 13):
        if abs(float(f"{x:.{n - 1}e}") - x) <= rtol * abs(x):
            return n
    return 13


def _canonical_decay(rate_for: Callable[[float], float], decaying: bool) -> tuple[int, float]:
    """(decay_steps, decay_rate) with the shortest decay_rate among 1-2-5 decay steps."""
    best = None
    for ds in (m * 10**e for e in range(6) for m in (1, 2, 5)):
        rate = rate_for(ds)
        if not 1e-4 <= abs(rate) <= 1e4:
            continue
        # Shortest rate first, then a rate in (0, 1), the largest such (fewest steps).
        key = (_sig_digits(rate), not (0 < rate < 1) if decaying else 0, -rate if decaying else ds)
        if best is None or key < best[0]:
            best = (key, ds, rate)
    return (1, rate_for(1)) if best is None else (best[1], best[2])


def _staircase(s, y, count: Callable[[float], np.ndarray]) -> float | None:
    """decay_steps for a staircase whose value after n drops gives count(value) == n."""
    with np.errstate(all="ignore"):
        n_raw = count(y)
    n = np.round(n_raw)
    if not np.all(np.isfinite(n_raw)) or np.any(np.abs(n_raw - n) > 1e-3) or np.any(n < 0):
        return None
    # floor(s / ds) == n for every sample  <=>  s / (n + 1) < ds <= s / n.
    lo = float(np.max(s / (n + 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = float(np.min(np.where(n > 0, s / n, np.inf)))
    return _roundest(lo, hi) if lo < hi and math.isfinite(hi) else None


def _power_guess(s, y, initial, end, decay_steps) -> float:
    if initial == end:
        return 1.0
    with np.errstate(all="ignore"):
        q = (y - end) / (initial - end)
        p = s / decay_steps
        ok = (p > 0) & (p < 1) & (q > 0.02) & (q < 0.98)
        powers = np.log(q[ok]) / np.log1p(-p[ok])
    powers = powers[np.isfinite(powers) & (powers > 0)]
    return float(np.median(powers)) if powers.size else 1.0


# ---------------------------------------------------------------- one fitter per family


def _fit_constant(s, y, scale):
    c = 0.5 * (float(np.max(y)) + float(np.min(y)))
    return _pick("constant", [{"learning_rate": c}], s, y, scale)


def _fit_piecewise(s, y, scale):
    changes = np.nonzero(~_same(y[1:], y[:-1]))[0]
    if changes.size == 0 or changes.size > _MAX_BOUNDARIES:
        return None
    # A boundary is in [last step at the old value, first step at the new one); between
    # sparse samples, take its roundest step.
    bounds = [_roundest(s[j] - 1.0, s[j + 1] - 1.0) for j in changes]
    params = {
        "boundaries": [_num(b) for b in bounds],
        "values": [float(y[0])] + [float(v) for v in y[changes + 1]],
    }
    return _pick("PiecewiseConstantDecay", [params], s, y, scale)


def _fit_exp_or_inverse(s_all, y_all, scale, family):
    # Estimate from the samples above the floor: a long decay underflows float32 to 0.
    above = y_all > ABS_FLOOR * np.max(y_all)
    s, y = s_all[above], y_all[above]
    if np.any(y_all < 0) or y.size < 2 or np.all(_same(y, y[0])):
        return None
    i = float(y[0])
    exp = family == "ExponentialDecay"
    keys = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")
    cands = []
    # Staircase: the first drop is one decay period, so it gives the rate directly.
    first = int(np.nonzero(~_same(y, i))[0][0])
    rate = y[first] / i if exp else i / y[first] - 1.0
    if rate > 0 and rate != 1:
        count = (lambda v: np.log(v / i) / np.log(rate)) if exp else (lambda v: (i / v - 1) / rate)
        ds = _staircase(s, y, count)
        if ds is not None:
            cands.append(dict(zip(keys, (i, _num(ds), float(rate), True), strict=True)))
    # Continuous: log(lr) (exponential) or 1/lr (inverse time) is linear in the step.
    if exp:
        g, c = np.polyfit(s, np.log(y), 1)
        x = _refine(lambda x: x[0] * np.exp(x[1] * s), [math.exp(c), g], y, scale[above])
        ds, rate = _canonical_decay(lambda d: math.exp(x[1] * d), decaying=x[1] < 0)
    else:
        slope, c = np.polyfit(s, 1.0 / y, 1)
        x = _refine(lambda x: x[0] / (1 + x[1] * s), [1 / c, slope / c], y, scale[above])
        ds, rate = _canonical_decay(lambda d: x[1] * d, decaying=True)
    cands.append(dict(zip(keys, (float(x[0]), ds, float(rate), False), strict=True)))
    return _pick(family, cands, s_all, y_all, scale)


def _refine_steps(model, x0, at: int, lo: float, y, scale, lower=None, upper=None):
    """Refine x (decay steps at x[at], known to exceed lo), then again with decay steps
    rounded to an integer. Rounded solution first, so that near-ties prefer it."""
    lower = np.full(len(x0), -np.inf) if lower is None else np.asarray(lower, float)
    lower[at] = lo + 1e-6
    upper = np.full(len(x0), np.inf) if upper is None else np.asarray(upper, float)
    x = _refine(model, x0, y, scale, lower, upper)
    d = float(round(x[at]))
    if not d > lo:
        return [x]
    rest = _refine(
        lambda z: model(np.insert(z, at, d)),
        np.delete(x, at),
        y,
        scale,
        np.delete(lower, at),
        np.delete(upper, at),
    )
    return [np.insert(rest, at, d), x]


def _poly_params(i, ds, e, power, cycle) -> dict:
    return {
        "initial_learning_rate": float(i),
        "decay_steps": _num(ds),
        "end_learning_rate": float(e),
        "power": float(power),
        "cycle": cycle,
    }


def _fit_polynomial(s, y, scale):
    i, smax = float(y[0]), float(s[-1])
    if np.all(_same(y, i)):
        return None
    rounded, free = [], []
    # x = (initial, decay_steps, end, power); power > 0, or the curve is not a decay.
    bounds = ([-np.inf, -np.inf, -np.inf, 1e-3], [np.inf, np.inf, np.inf, 100.0])

    def no_cycle(x):
        return _poly(s, *x, False)

    k = _tail_start(y)
    if k is not None and k >= 1:
        # Flat from s[k] on, moving at s[k-1]: decay_steps > s[k-1], and <= s[k] unless the
        # curve meets its end tangentially (power > 1) below float32 resolution.
        # Between sparse samples, scan that interval for a start (the fit is stiff near it).
        e, lo = float(y[-1]), float(s[k - 1])
        starts = [[i, d, e, _power_guess(s, y, i, e, d)] for d in np.linspace(s[k], lo, 33)[:-1]]
        x0 = min(starts, key=lambda x: _error(no_cycle(x), y, scale))
        sols = _refine_steps(no_cycle, x0, 1, lo, y, scale, *bounds)
        rounded, free = sols[:-1], sols[-1:]
    else:
        # Still moving at the last sample: decay_steps lies beyond it; fit the visible part.
        for ds0, p0 in ((2.0 * smax, 1.0), (1.2 * smax, 2.0), (4.0 * smax, 0.5)):
            c = (1.0 - smax / ds0) ** p0
            e0 = (float(y[-1]) - i * c) / (1.0 - c)
            free += _refine_steps(no_cycle, [i, ds0, e0, p0], 1, smax, y, scale, *bounds)
    cands = [_poly_params(*x, False) for x in rounded + free]
    rises = _rises(y)
    if rises.size:
        # cycle=True: the end value is reached at step decay_steps, the next step rises.
        a, b = float(s[rises[0]]), float(s[rises[0] + 1])
        ds_options = {a, _roundest(a - 0.5, b - 1.0)} | set(np.linspace(a, b - 1, 6).round())
        for ds in sorted(d for d in ds_options if d > 0):
            e0 = float(y[rises[0]]) if ds == a else float(np.min(y))
            p0 = _power_guess(s[s <= ds], y[s <= ds], i, e0, ds)
            x = _refine(
                lambda x, d=ds: _poly(s, x[0], d, x[1], x[2], True),
                [i, e0, p0],
                y,
                scale,
                lower=[-np.inf, -np.inf, 1e-3],
                upper=[np.inf, np.inf, 100.0],
            )
            cands.append(_poly_params(x[0], ds, x[1], x[2], True))
    return _pick("PolynomialDecay", cands, s, y, scale)


def _cos_params(i, ds, alpha, target=None, warmup=0.0) -> dict:
    params = {"initial_learning_rate": float(i), "decay_steps": _num(ds), "alpha": float(alpha)}
    if target is not None:
        params |= {"warmup_target": float(target), "warmup_steps": _num(warmup)}
    return params


def _fit_cosine(s, y, scale):
    i, smax = float(y[0]), float(s[-1])
    if np.all(_same(y, i)):
        return None
    # A linear rise first is a warmup: it ends at the peak, where the cosine starts.
    warmup = y[1] > y[0] and not _same(y[1], y[0])
    peak = int(np.argmax(y)) if warmup else 0
    w, top = float(s[peak]), float(y[peak])
    k = _tail_start(y)
    if k is not None and k > peak + 1:
        e, lo = float(y[-1]), float(s[k - 1]) - w
        # Halfway down the cosine is halfway through decay_steps.
        below = np.nonzero((s > w) & (y <= 0.5 * (top + e)))[0]
        ds_starts = [float(s[k]) - w] + ([2.0 * (float(s[below[0]]) - w)] if below.size else [])
    else:
        e, lo = 0.0, smax - w
        ds_starts = [1.05 * (smax - w), 1.5 * (smax - w), 3.0 * (smax - w)]
    rounded, free = [], []
    for ds0 in ds_starts:
        x0 = [i, max(ds0, lo + 1.0), e / top] + ([top] if warmup else [])
        # x = (initial, decay_steps, alpha[, warmup_target])
        sols = _refine_steps(
            lambda x: _cosine(s, *x[:3], *((x[3], w) if warmup else ())), x0, 1, lo, y, scale
        )
        rounded += sols[:-1]
        free += sols[-1:]
    cands = [_cos_params(*x[:3], *((x[3], w) if warmup else ())) for x in rounded + free]
    return _pick("CosineDecay", cands, s, y, scale)


def _restart_step(n: int, first: float, t_mul: float) -> float:
    return first * n if t_mul == 1.0 else first * (t_mul**n - 1.0) / (t_mul - 1.0)


def _t_for(n: int, first: float, step: float) -> float:
    """The t_mul >= 1 that puts restart n at `step` (restart positions grow with t_mul)."""
    if step < _restart_step(n, first, 1.0):
        return 1.0 - 1e-12  # every t_mul >= 1 puts restart n after `step`
    return brentq(lambda t: _restart_step(n, first, t) - step, 1.0, 1e3)


def _fit_restarts(s, y, scale):
    rises = _rises(y)
    if rises.size == 0 or np.any(y[: rises[0] + 1] <= 0):
        return None
    i = float(y[0])
    first = _roundest(float(s[rises[0]]), float(s[rises[0] + 1]))
    t_lo, t_hi = 1.0 - 1e-12, 1e3
    if rises.size == 1:
        t_lo = max(t_lo, _t_for(2, first, float(s[-1])))
    # Restart n lies in (s[j], s[j+1]]; intersect the t_mul ranges while they agree (later
    # restarts can alias with the sparse samples, and then they contradict the early ones).
    for n, j in enumerate(rises[1:], start=2):
        lo, hi = _t_for(n, first, float(s[j])), _t_for(n, first, float(s[j + 1]))
        if max(lo, t_lo) >= min(hi, t_hi):
            break
        t_lo, t_hi = max(lo, t_lo), min(hi, t_hi)
    t_mul = 2.0 if t_lo < 2.0 <= t_hi else _roundest(t_lo, min(t_hi, max(2 * t_lo, 2.0)))
    alpha0 = float(np.min(y[: rises[0] + 1])) / i
    m0 = (float(y[rises[0] + 1]) / i - alpha0) / (1.0 - alpha0) if alpha0 != 1 else 1.0
    x = _refine(lambda x: _restarts(s, x[0], first, t_mul, x[1], x[2]), [i, m0, alpha0], y, scale)
    params = {
        "initial_learning_rate": float(x[0]),
        "first_decay_steps": _num(first),
        "t_mul": float(t_mul),
        "m_mul": float(x[1]),
        "alpha": float(x[2]),
    }

    def error(p):
        # Keras' float32 log can put a restart step on the end of the previous period.
        exact = evaluate("CosineDecayRestarts", p, s)
        left = evaluate("CosineDecayRestarts", p, s - 1e-6 * first)
        with np.errstate(all="ignore"):
            err = np.minimum(np.abs(exact - y), np.abs(left - y)) / scale
        return float(np.max(err)) if np.all(np.isfinite(err)) else math.inf

    return _pick("CosineDecayRestarts", [params], s, y, scale, error)


# ---------------------------------------------------------------- public API


def _prepare(steps, lrs) -> tuple[np.ndarray, np.ndarray] | None:
    s = np.asarray(steps, dtype=float).ravel()
    y = np.asarray(lrs, dtype=float).ravel()
    if s.shape != y.shape:
        raise ValueError(f"steps and lrs differ in length: {s.size} != {y.size}")
    if s.size < 2 or not (np.all(np.isfinite(s)) and np.all(np.isfinite(y))):
        return None
    s, first = np.unique(s, return_index=True)
    y = y[first]
    return (s, y) if s.size >= 2 else None


def _complexity(fit: ScheduleFit) -> tuple[int, int]:
    """(number of parameters, family order): the simplicity order used by identify."""
    n = {
        "constant": 1,
        "ExponentialDecay": 3,
        "InverseTimeDecay": 3,
        "CosineDecay": 5 if "warmup_target" in fit.params else 3,
        "PolynomialDecay": 4,
        "CosineDecayRestarts": 5,
        "step decay": 3,
        "step decay (1 + epoch)": 3,
        "exponential decay": 2,
        "time-based decay": 2,
    }.get(fit.family)
    if fit.family == "PiecewiseConstantDecay":
        n = 2 * len(fit.params["boundaries"]) + 1
    if fit.family == "CyclicLR":  # triangular < triangular2 < exp_range (gamma)
        mode = str(fit.params.get("mode"))
        n = 4 + (CYCLIC_MODES.index(mode) if mode in CYCLIC_MODES else 9)
    order = FAMILIES + EPOCH_FAMILIES + BATCH_FAMILIES
    return (n or 99, order.index(fit.family))


def _choose(fits: list[ScheduleFit], s, y, rtol: float) -> ScheduleFit | None:
    """The simplest acceptable fit among those that follow the curve's shape as well as the
    best one does (see module docstring)."""
    ok = [f for f in fits if f.max_rel_error <= rtol]
    if not ok:
        return None
    flat = [f for f in ok if f.family == "constant" and f.max_rel_error <= EQUIVALENT_RTOL]
    if flat:
        return flat[0]
    span = float(np.max(y) - np.min(y))
    if span == 0:
        return min(ok, key=_complexity)
    shape_error = {
        id(f): float(np.max(np.abs(evaluate(f.family, f.params, s) - y))) / span for f in ok
    }
    best = min(shape_error.values())
    return min((f for f in ok if shape_error[id(f)] <= best + SHAPE_TOL), key=_complexity)


def fit_all(steps, lrs) -> list[ScheduleFit]:
    """Every family's best fit to the samples (lr at each training step), best fit first."""
    data = _prepare(steps, lrs)
    if data is None:
        return []
    s, y = data
    scale = _scale(y)
    fitters = (
        _fit_constant,
        _fit_piecewise,
        lambda *a: _fit_exp_or_inverse(*a, "ExponentialDecay"),
        lambda *a: _fit_exp_or_inverse(*a, "InverseTimeDecay"),
        _fit_cosine,
        _fit_polynomial,
        _fit_restarts,
    )
    fits = []
    for fitter in fitters:
        # A fitter that cannot make sense of this curve has no fit; the others still run.
        try:
            fit = fitter(s, y, scale)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            fit = None
        if fit is not None:
            fits.append(fit)
    return sorted(fits, key=lambda f: (f.max_rel_error, _complexity(f)))


def identify(steps, lrs, rtol: float = 1e-3) -> ScheduleFit | None:
    """The simplest family reproducing the samples within rtol (see module docstring)."""
    data = _prepare(steps, lrs)
    return None if data is None else _choose(fit_all(*data), *data, rtol)


def identify_epoch_schedule(epochs, lrs, rtol: float = 1e-3) -> ScheduleFit | None:
    """Recognise a LearningRateScheduler function from its value at each epoch.

    Families (as in the classic tutorial): "step decay" lr0 * drop**floor(epoch/epochs_drop),
    its off-by-one form "step decay (1 + epoch)" lr0 * drop**floor((1 + epoch)/epochs_drop),
    "exponential decay" lr0 * exp(-k*epoch), "time-based decay" lr0 / (1 + k*epoch), "constant".
    A step decay sampled over too few epochs to tell the two forms apart is the first form.
    """
    data = _prepare(epochs, lrs)
    if data is None:
        return None
    e, y = data
    scale = _scale(y)
    fits = [_fit_constant(e, y, scale)]
    if np.all(y > 0) and not np.all(_same(y, y[0])):
        lr0 = float(y[0])
        g, c = np.polyfit(e, np.log(y), 1)
        x = _refine(lambda x: x[0] * np.exp(-x[1] * e), [math.exp(c), -g], y, scale)
        params = {"initial_lrate": float(x[0]), "k": float(x[1])}
        fits.append(_pick("exponential decay", [params], e, y, scale))
        c_slope, c0 = np.polyfit(e, 1.0 / y, 1)
        x = _refine(lambda x: x[0] / (1 + x[1] * e), [1 / c0, c_slope / c0], y, scale)
        params = {"initial_lrate": float(x[0]), "k": float(x[1])}
        fits.append(_pick("time-based decay", [params], e, y, scale))
        drop = float(y[np.nonzero(~_same(y, lr0))[0][0]]) / lr0
        if 0 < drop != 1:
            # Both forms: floor((offset + epoch) / d) == n is the staircase in offset + epoch.
            for offset, family in ((0, "step decay"), (1, "step decay (1 + epoch)")):
                ed = _staircase(e + offset, y, lambda v: np.log(v / lr0) / np.log(drop))
                if ed is not None:
                    params = {"initial_lrate": lr0, "drop": drop, "epochs_drop": _num(ed)}
                    fits.append(_pick(family, [params], e, y, scale))
    fits = sorted((f for f in fits if f), key=lambda f: (f.max_rel_error, _complexity(f)))
    return _choose(fits, e, y, rtol)


def _cyclic_step_sizes(y: np.ndarray) -> list[int]:
    """Candidate half-periods: where the first rise ends, and half the first period."""
    rising = np.nonzero(~(y[1:] > y[:-1]) | _same(y[1:], y[:-1]))[0]
    out: set[int] = set()
    if rising.size:
        k = int(rising[0])  # the first batch that does not rise: the first peak
        out.update(range(max(1, k - 1), k + 2))
    back = np.nonzero(_same(y[1:], y[0]))[0]  # back at base_lr: one whole period
    if back.size and back[0] + 1 >= 2:
        out.update({int((back[0] + 1) // 2)})
    return sorted(out)


def _fit_cyclic(it: np.ndarray, y: np.ndarray, scale: np.ndarray) -> ScheduleFit | None:
    """CyclicLR: base_lr, max_lr, step_size (and exp_range's gamma), per mode; the simplest
    mode that fits within `_NOISE` of the best wins (two cycles are needed to tell
    triangular2 from triangular, a long gamma**it to tell exp_range)."""
    if y.size < 3 or np.all(_same(y, y[0])):
        return None
    fits: list[ScheduleFit] = []
    for step_size in _cyclic_step_sizes(y):
        for mode in CYCLIC_MODES:
            # Given the step size (and gamma), the rate is base + amplitude * shape(it).
            def shape(gamma: float, ss: int = step_size, m: str = mode) -> np.ndarray:
                return _cyclic(it, 0.0, 1.0, ss, m, gamma)

            def linear(gamma: float) -> tuple[float, float]:
                a = np.stack([np.ones_like(it), shape(gamma)], axis=1) / scale[:, None]
                coef = np.linalg.lstsq(a, y / scale, rcond=None)[0]
                return float(coef[0]), float(coef[0] + coef[1])

            gamma = 1.0
            if mode == "exp_range":
                base, top = linear(1.0)
                peaks = np.arange(step_size, it.max() + 1, 2 * step_size)
                peaks = peaks[np.isin(peaks, it)]
                if peaks.size >= 2:
                    heights = y[np.searchsorted(it, peaks[:2])] - base
                    if np.all(heights > 0):
                        gamma = float((heights[1] / heights[0]) ** (1.0 / (2 * step_size)))

                def model(x: np.ndarray) -> np.ndarray:
                    b, t = linear(float(x[0]))
                    return b + (t - b) * shape(float(x[0]))

                gamma = float(_refine(model, [gamma], y, scale, [1e-6], [1.0])[0])
            base, top = linear(gamma)
            params: dict[str, Param] = {
                "mode": mode,
                "base_lr": base,
                "max_lr": top,
                "step_size": step_size,
            }
            if mode == "exp_range":
                params["gamma"] = gamma
            fits.append(
                ScheduleFit("CyclicLR", params, _error(evaluate("CyclicLR", params, it), y, scale))
            )
    if not fits:
        return None
    best = min(f.max_rel_error for f in fits)
    if not math.isfinite(best):
        return None
    near = [f for f in fits if f.max_rel_error <= max(best * 1.01, best + _NOISE)]
    return min(near, key=lambda f: (CYCLIC_MODES.index(str(f.params["mode"])), f.max_rel_error))


def identify_batch_schedule(batches, lrs, rtol: float = 1e-3) -> ScheduleFit | None:
    """Recognise a callback that sets the rate at every batch (CyclicLR) from its value at
    each batch (the global batch index, 0 at the first batch of training)."""
    data = _prepare(batches, lrs)
    if data is None:
        return None
    it, y = data
    scale = _scale(y)
    fits = [f for f in (_fit_constant(it, y, scale), _fit_cyclic(it, y, scale)) if f]
    return _choose(sorted(fits, key=lambda f: (f.max_rel_error, _complexity(f))), it, y, rtol)


def changes_within_epochs(batches, lrs, steps_per_epoch: int) -> bool:
    """Whether the rate moves between batches of one epoch (a per-batch policy)."""
    data = _prepare(batches, lrs)
    if data is None or steps_per_epoch < 2:
        return False
    it, y = data
    epoch = np.floor(it / steps_per_epoch)
    same_epoch = epoch[1:] == epoch[:-1]
    return bool(np.any(same_epoch & ~_same(y[1:], y[:-1])))


# A spec's callback family (`[rubric.schedule] family`) -> the matcher's families it
# accepts. The matcher's own names are accepted too.
CALLBACK_FAMILIES: dict[str, tuple[str, ...]] = {
    "StepDecay": ("step decay", "step decay (1 + epoch)"),
    "TimeBasedDecay": ("time-based decay",),
    "EpochExponentialDecay": ("exponential decay",),
    "ConstantLR": ("constant",),
    "CyclicLR": ("CyclicLR",),
    "ReduceLROnPlateau": (),  # it reacts to the real losses: judged by its configuration
    **{name: (name,) for name in (*EPOCH_FAMILIES[1:], *BATCH_FAMILIES)},
}
_RATE_CALLBACKS = ("LearningRateScheduler", "ReduceLROnPlateau")

# Each family's parameters, in the order a call writes them: a Keras class's constructor
# arguments, a matcher family's fitted parameters (`ScheduleFit.params`).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "constant": ("learning_rate",),
    "PiecewiseConstantDecay": ("boundaries", "values"),
    "ExponentialDecay": ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
    "InverseTimeDecay": ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
    "CosineDecay": (
        "initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps",
    ),
    "PolynomialDecay": (
        "initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle",
    ),
    "CosineDecayRestarts": (
        "initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha",
    ),
    "step decay": ("initial_lrate", "drop", "epochs_drop"),
    "step decay (1 + epoch)": ("initial_lrate", "drop", "epochs_drop"),
    "exponential decay": ("initial_lrate", "k"),
    "time-based decay": ("initial_lrate", "k"),
    "CyclicLR": ("base_lr", "max_lr", "step_size", "mode", "gamma"),
}  # fmt: skip
# ReduceLROnPlateau is judged by its configuration (Keras' constructor arguments).
PLATEAU_PARAMETERS = ("monitor", "factor", "patience", "mode", "min_delta", "cooldown", "min_lr")


def family_parameters(family: str) -> tuple[str, ...] | None:
    """The parameters a spec may fix for `family` (`[rubric.schedule_params]`), or None for
    a name that is no family: a Keras class's arguments, a callback family's fitted ones
    (a step decay's also `form`, which of its two floors), ReduceLROnPlateau's
    configuration. A random family has none: nothing of it is fixed."""
    if family == "ReduceLROnPlateau":
        return PLATEAU_PARAMETERS
    if family in CALLBACK_FAMILIES:
        found: list[str] = []
        for matched in CALLBACK_FAMILIES[family]:
            found += [k for k in PARAMETERS[matched] if k not in found]
        if any(m.startswith("step decay") for m in CALLBACK_FAMILIES[family]):
            found.append("form")
        return tuple(found)
    if family in RANDOM_FAMILIES:
        return ()
    return PARAMETERS.get(family) if family in FAMILIES else None


def describe_written(class_name: str, config: Mapping[str, Any]) -> str:
    """A Keras schedule as the student's code wrote it, from its saved config:
    "ExponentialDecay(initial_learning_rate=0.31, decay_steps=10, decay_rate=0.96, ...)".

    A curve's fit gives one equivalent form of the same curve (an ExponentialDecay's
    decay_steps=1 with the per-step rate), which is not what the student wrote."""
    keys = PARAMETERS.get(class_name, ())
    args = ", ".join(f"{k}={_fmt(config[k])}" for k in keys if _shown(config.get(k)))
    return f"{class_name}({args})"


def _shown(value: Any) -> bool:
    return isinstance(value, bool | int | float | str | list) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


# Callback families whose curve is drawn per batch; the others per epoch.
PER_BATCH_FAMILIES = frozenset({"CyclicLR"})


def rate_setters(callbacks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Of the probe record's CALLBACK entries (grader/child/probe.py), those whose dry run
    moved the optimizer's rate or failed, and every LearningRateScheduler and
    ReduceLROnPlateau (which reacts to real losses, so an ordinary simulated run never
    moves it), in the order fit got them."""
    out = []
    for cb in callbacks:
        if not isinstance(cb, Mapping):
            continue
        run = cb.get("dry_run") or {}
        rates = [*run.get("batch_lrs", ()), *run.get("epoch_lrs", ())]
        before = run.get("lr_before")
        moved = any(not math.isclose(r, rates[0], rel_tol=1e-9) for r in rates) or (
            bool(rates) and before is not None and not math.isclose(rates[0], before)
        )
        # Keras' two rate callbacks set it by definition (a LearningRateScheduler may
        # return the build's own rate: a constant schedule still counts).
        if cb.get("class_name") in _RATE_CALLBACKS or moved or run.get("error"):
            out.append(cb)
    return out


def identify_dry_run(run: Mapping[str, Any], rtol: float = 1e-3) -> ScheduleFit | None:
    """The family of a callback dry run's rates: per batch when they move within an epoch
    (a cyclic policy), else per epoch (the rate at each epoch's first batch)."""
    batches, batch_lrs = list(run.get("batches") or ()), list(run.get("batch_lrs") or ())
    per_epoch = int(run.get("steps_per_epoch") or 1)
    if len(batches) == len(batch_lrs) and changes_within_epochs(batches, batch_lrs, per_epoch):
        return identify_batch_schedule(batches, batch_lrs, rtol=rtol)
    epoch_lrs = list(run.get("epoch_lrs") or ())
    return identify_epoch_schedule(list(range(len(epoch_lrs))), epoch_lrs, rtol=rtol)


# A rate drawn at random at every step between two bounds (seed 003's RandomScheduler):
# no formula of the step describes it, so it is judged by what its samples do instead.
RANDOM_FAMILIES: tuple[str, ...] = ("RandomUniform",)
# Samples may exceed a bound by float32 rounding (tf.random.uniform computes in float32).
RANDOM_BOUND_RTOL = 1e-6
# The samples must come this close (a fraction of the interval) to each bound: a uniform
# draw misses the lowest tenth in all of n samples with probability 0.9 ** n (< 1e-17 for
# the probe's ~380), a rate that keeps near one value always does.
RANDOM_REACH = 0.1
# Consecutive steps whose rates must differ: a new draw at every step repeats a value
# only by float32 coincidence.
RANDOM_CHANGING = 0.95


@dataclass(frozen=True)
class RandomFindings:
    """What a curve's samples do against the interval [low, high] they were asked to stay in.

    outside: samples beyond the interval (by more than float32 rounding); first_outside:
    the first such (step, rate). changes/pairs: consecutive sampled steps (step, step + 1)
    whose rates differ, out of those compared. reaches_low/high: the samples come within
    RANDOM_REACH of the interval of each bound.
    """

    low: float
    high: float
    count: int
    lowest: float
    highest: float
    outside: int
    first_outside: tuple[int, float] | None
    changes: int
    pairs: int
    reaches_low: bool
    reaches_high: bool

    @property
    def within(self) -> bool:
        return self.outside == 0

    @property
    def varies(self) -> bool:
        return self.pairs > 0 and self.changes >= RANDOM_CHANGING * self.pairs

    @property
    def spans(self) -> bool:
        return self.reaches_low and self.reaches_high

    @property
    def ok(self) -> bool:
        return self.within and self.varies and self.spans


def random_findings(
    steps: Sequence[int], lrs: Sequence[float], low: float, high: float
) -> RandomFindings:
    """Judge sampled rates as a uniform random draw in [low, high] at every step."""
    s = np.asarray(steps, dtype=np.int64)
    y = np.asarray(lrs, dtype=float)
    slack = RANDOM_BOUND_RTOL * max(abs(low), abs(high))
    bad = np.flatnonzero((y < low - slack) | (y > high + slack))
    consecutive = np.flatnonzero(np.diff(s) == 1)
    changed = int(np.count_nonzero(y[consecutive + 1] != y[consecutive]))
    reach = RANDOM_REACH * (high - low)
    return RandomFindings(
        low=float(low),
        high=float(high),
        count=int(y.size),
        lowest=float(y.min()) if y.size else math.nan,
        highest=float(y.max()) if y.size else math.nan,
        outside=int(bad.size),
        first_outside=(int(s[bad[0]]), float(y[bad[0]])) if bad.size else None,
        changes=changed,
        pairs=int(consecutive.size),
        reaches_low=bool(y.size) and float(y.min()) <= low + reach,
        reaches_high=bool(y.size) and float(y.max()) >= high - reach,
    )


_NAMES_ES = {
    "constant": "constante",
    "CyclicLR": "CyclicLR",
    "step decay": "decaimiento escalonado",
    "step decay (1 + epoch)": "decaimiento escalonado (1 + época)",
    "exponential decay": "decaimiento exponencial",
    "time-based decay": "decaimiento basado en tiempo",
}


def _fmt(v: Param) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, int):
        return str(v)
    return repr(float(f"{v:.4g}"))


def describe(fit: ScheduleFit | None, lang: str = "en") -> str:
    """Short text for a report, e.g. "PolynomialDecay(initial_learning_rate=0.3035, ...)"."""
    if fit is None:
        return i18n.text("schedules.none", lang)
    # The catalogs' [schedules.names] translate the families that are not Keras classes;
    # a Keras class (PolynomialDecay) is written as it is in every language.
    name = i18n.table("schedules.names", lang).get(fit.family, fit.family)
    if fit.family == "constant":
        return f"{name} {_fmt(fit.params['learning_rate'])}"
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in fit.params.items())
    sep = " " if fit.family in EPOCH_FAMILIES else ""
    return f"{name}{sep}({args})"
