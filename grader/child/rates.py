"""Learning rates written as code, tabulated as Keras' training step runs them: a schedule
(`tabulate`, one traced loop as the train step's `tf.function` runs it) and a rate-setting
callback (`callback_rates`, dry runs of the callback protocol against a simulated training). The
tables go into a declaration (grader/child/declare.py); what cannot be tabulated within
the time limits below is a reason the submission cannot be declared.
"""

from __future__ import annotations

import functools
import json
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from grader.child import simulate
from grader.child.declaration import MAX_TABLE

SCHEDULE_SECONDS = 10.0  # tabulating one student schedule; over it: undeclarable
CALLBACK_SECONDS = 30.0  # both dry runs of one rate-setting callback; over it: undeclarable


def tabulate(schedule: Any, optimizer: Any, total: int, reasons: list[str]) -> list[float] | None:
    """`schedule`'s rate at steps 0..total-1, as Keras' training step computes it.

    The train step runs in a `tf.function` without autograph (keras/src/backend/
    tensorflow/trainer.py) and calls `schedule(optimizer.iterations)` there: a schedule is
    traced once and run per step, so Python-side code in it runs once (a `random.random()`
    is a constant), and Python control flow on the step fails. The table is computed the
    same way: one traced loop over the steps, checked at 17 steps against the traced call
    on the optimizer's own counter (unless the schedule is random), else one traced call
    per step, within SCHEDULE_SECONDS.
    """
    import tensorflow as tf

    name = type(schedule).__name__
    if total > MAX_TABLE:
        reasons.append(f"schedule {name} would need {total:,} rates (at most {MAX_TABLE:,})")
        return None
    deadline = time.monotonic() + SCHEDULE_SECONDS
    counter = optimizer._iterations
    saved = simulate.variable_value(counter)
    plain = tf.autograph.experimental.do_not_convert
    one = tf.function(plain(lambda: schedule(counter)))

    def at(step: int) -> float:
        counter.assign(step)
        return _scalar(one())

    try:
        try:
            first = at(0)
        except Exception as exc:
            reasons.append(f"schedule {name} fails in Keras' compiled training step ({said(exc)})")
            return None
        values = _traced_loop(schedule, total)
        if values is not None and at(0) == first:  # not random: the loop must agree
            samples = sorted(set(np.linspace(0, total - 1, 17).round().astype(int).tolist()))
            if not all(
                math.isclose(values[s], at(s), rel_tol=1e-6, abs_tol=1e-12) for s in samples
            ):
                values = None
        if values is None:
            values = []
            for step in range(total):
                if time.monotonic() > deadline:
                    reasons.append(f"schedule {name} too slow to tabulate ({total:,} steps)")
                    return None
                try:
                    values.append(at(step))
                except Exception as exc:
                    reasons.append(f"schedule {name} raised at step {step} ({said(exc)})")
                    return None
    finally:
        if saved is not None:
            counter.assign(saved)
    for step, value in enumerate(values):
        if not math.isfinite(value) or value < 0:
            reasons.append(f"schedule {name} gives {value} at step {step}, not a rate")
            return None
    return values


def _traced_loop(schedule: Any, total: int) -> list[float] | None:
    """schedule(step) for every step in one traced loop, or None when it cannot run so."""
    import tensorflow as tf

    def loop() -> Any:
        def body(i: Any, rates: Any) -> tuple[Any, Any]:
            rate = tf.reshape(tf.cast(schedule(tf.cast(i, tf.int64)), tf.float64), [])
            return i + 1, rates.write(i, rate)

        rates = tf.TensorArray(tf.float64, size=total)
        _, rates = tf.while_loop(lambda i, _: i < total, body, (tf.constant(0), rates))
        return rates.stack()

    try:
        traced = tf.function(tf.autograph.experimental.do_not_convert(loop))
        return [float(v) for v in np.asarray(traced(), dtype=np.float64).reshape(-1)]
    except Exception:
        return None


def _scalar(value: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).reshape(()))


@dataclass
class _Run:
    """One dry run of a callback (see `_dry_run`)."""

    rates: list[float | None] = field(default_factory=list)  # the rate each batch used
    epoch_rates: list[float | None] = field(default_factory=list)  # at each epoch's first batch
    touched: list[str] = field(default_factory=list)  # what else it changed
    error: BaseException | None = None
    where: str = ""
    slow: bool = False
    callback: Any = None  # the copy it ran, in the state the run left it


class _Stopped(Exception):
    """The callback set model.stop_training."""


class _TooSlow(Exception):
    """The dry run's time ran out."""


@dataclass(frozen=True)
class Span:
    """The training a callback's dry runs simulate: batches per epoch, epochs, and
    validation batches per epoch."""

    steps: int
    epochs: int
    val_steps: int


def callback_rates(
    cb: Any,
    model: Any,
    metric_names: list[str],
    reasons: list[str],
    span: Span,
    *,
    stateful: bool = False,
) -> tuple[list[float], list[float], bool] | None:
    """(per-batch rates, per-epoch rates, whether it set any) of a callback judged to only
    set the learning rate; None (with the reason) otherwise.

    Judged by two dry runs of Keras' callback protocol over the trained steps, with
    different simulated logs (one improving, one worsening): it only sets the rate when
    both runs give the same rates and, in each, it raised nothing, never set
    `model.stop_training`, and left the model's weights, its config, its optimizer's
    config and the compile arguments as they were.

    `stateful`: the callback keeps state of its own (a student's class). The same object
    met again, in a later declaration, is one the student's fit hands to every trial
    (made in the HyperModel's __init__, say): a third run from the state the first one
    left, the next trial's start, must give the same rates, or the trials would differ.

    What this cannot see: effects outside the model (globals, files, other callbacks),
    rates that depend on the logs in ways neither simulated run triggers, on the clock or
    on the real data, and weights set to the values they already had.
    """
    name = type(cb).__name__
    steps, epochs, val_steps = span.steps, span.epochs, span.val_steps
    total = steps * epochs
    if total > MAX_TABLE:
        reasons.append(f"callback {name} would need {total:,} rates (at most {MAX_TABLE:,})")
        return None
    deadline = time.monotonic() + CALLBACK_SECONDS
    runs = []
    for logs in (_improving, _worsening):
        run = _dry_run(
            cb, model, functools.partial(logs, metric_names),
            steps=steps, epochs=epochs, val_steps=val_steps, deadline=deadline,
        )  # fmt: skip
        if run.error is not None:
            reasons.append(f"callback {name} raised at {run.where} ({said(run.error)})")
            return None
        if run.slow:
            reasons.append(f"callback {name} too slow to simulate ({total:,} batches)")
            return None
        if run.touched:
            reasons.extend(f"callback {name} {what}" for what in run.touched)
            return None
        runs.append(run)
    first, second = runs
    if first.rates != second.rates:
        reasons.append(f"callback {name} sets rates that depend on the logs or on chance")
        return None
    if stateful and _met_before(cb):
        again = _dry_run(
            first.callback, model, functools.partial(_improving, metric_names),
            steps=steps, epochs=epochs, val_steps=val_steps, deadline=deadline,
        )  # fmt: skip
        if again.error is not None or again.slow or again.rates != first.rates:
            reasons.append(f"callback {name} is one object for every trial and carries its state")
            return None
    rates = first.rates
    if not all(r is not None and math.isfinite(r) and r >= 0 for r in rates):
        reasons.append(f"callback {name} sets a learning rate that is not a rate")
        return None
    lr = getattr(model.optimizer, "_learning_rate", None)
    before = simulate.read_lr(model.optimizer)
    # An optimizer with a schedule refuses any rate set on it (a TypeError, seen above):
    # a run that got here set none. Otherwise every batch ran at the optimizer's own rate.
    changed = isinstance(lr, keras.Variable) and any(r != before for r in rates)
    return list(rates), list(first.epoch_rates), changed  # type: ignore[arg-type]


# The student's callbacks dry-run by an earlier declaration of this process.
_MET: weakref.WeakSet[Any] = weakref.WeakSet()


def _met_before(cb: Any) -> bool:
    try:
        met = cb in _MET
        _MET.add(cb)
    except TypeError:  # an unhashable callback: never met, as far as this can tell
        return False
    return met


def _improving(names: list[str], epoch: int) -> dict[str, float]:
    # simulate.Simulation's run: the loss falls and the accuracy rises every epoch.
    decay = 0.9 ** (epoch + 1)
    return _logs(names, loss=decay, accuracy=1.0 - 0.5 * decay)


def _worsening(names: list[str], epoch: int) -> dict[str, float]:
    return _logs(names, loss=1.0 + 0.1 * epoch, accuracy=max(0.0, 0.5 - 0.01 * epoch))


def _logs(names: list[str], *, loss: float, accuracy: float) -> dict[str, float]:
    logs = {"loss": loss, "accuracy": accuracy}
    logs.update({n: accuracy for n in names if n not in logs})
    return logs


def _dry_run(
    cb: Any,
    model: Any,
    logs: Callable[[int], dict[str, float]],
    *,
    steps: int,
    epochs: int,
    val_steps: int,
    deadline: float,
) -> _Run:
    """Keras' callback protocol over `epochs` x `steps` simulated batches (simulate.Simulation).

    The calls are those `Model.fit` makes (keras/src/trainers, Keras 3), validation's
    included: on_train_begin; per epoch on_epoch_begin, per batch on_train_batch_begin /
    on_train_batch_end, then on_test_begin, per validation batch on_test_batch_begin /
    on_test_batch_end, on_test_end, then on_epoch_end; on_train_end. No batch trains: the
    rate a batch uses is read after its on_train_batch_begin, as the train step reads it,
    and the optimizer's step counter moves as in training (a callback may read it). The
    run works on a copy of the callback; the optimizer and the model are put back.
    """
    run = _Run()
    optimizer = model.optimizer
    lr_object = getattr(optimizer, "_learning_rate", None)
    lr_before = simulate.read_lr(optimizer)
    counter = getattr(optimizer, "_iterations", None)
    counter_value = simulate.variable_value(counter)
    stop_training = getattr(model, "stop_training", False)
    before = _model_state(model)
    copied, _ = simulate.copy_callback(cb, model)
    run.callback = copied

    def check() -> None:
        if getattr(model, "stop_training", False):
            raise _Stopped

    try:
        model.stop_training = False
        if counter is not None:
            counter.assign(0)  # from here each batch's end counts it, as the train step does
        run.where = "the start of training"
        copied.set_model(model)
        copied.set_params({"verbose": 0, "epochs": epochs, "steps": steps})
        copied.on_train_begin({})
        check()
        epoch_logs: dict[str, float] = {}
        for epoch in range(epochs):
            run.where = f"epoch {epoch}"
            train_logs = logs(epoch)
            val_logs = {k: v * 1.05 if k == "loss" else v * 0.95 for k, v in train_logs.items()}
            copied.on_epoch_begin(epoch, {})
            check()
            for batch in range(steps):
                step = epoch * steps + batch
                copied.on_train_batch_begin(batch, {})
                check()
                run.rates.append(_rate(optimizer))
                if counter is not None:
                    counter.assign(step + 1)  # the train step counts the batch
                copied.on_train_batch_end(batch, dict(train_logs))
                check()
                if time.monotonic() > deadline:
                    raise _TooSlow
            run.epoch_rates.append(run.rates[epoch * steps])
            copied.on_test_begin({})
            for batch in range(val_steps):
                copied.on_test_batch_begin(batch, {})
                copied.on_test_batch_end(batch, dict(val_logs))
            copied.on_test_end(dict(val_logs))
            check()
            epoch_logs = {**train_logs, **{f"val_{k}": v for k, v in val_logs.items()}}
            copied.on_epoch_end(epoch, dict(epoch_logs))
            check()
        run.where = "the end of training"
        copied.on_train_end(dict(epoch_logs))
        check()
    except _Stopped:
        run.touched.append("stops training")
    except _TooSlow:
        run.slow = True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        run.error = exc
    finally:
        after = _model_state(model)
        for what, old, new in zip(_STATE_PARTS, before, after, strict=True):
            if old != new:
                run.touched.append(what)
        if getattr(model, "optimizer", None) is not optimizer:
            model.optimizer = optimizer
        simulate.restore(optimizer, lr_object, lr_before, counter, counter_value)
        model.stop_training = stop_training
    return run


def _rate(optimizer: Any) -> float | None:
    """The rate the next batch trains at (simulate.read_lr, without its conversions when it
    is the optimizer's own variable: this runs once per simulated batch)."""
    variable = getattr(optimizer, "_learning_rate", None)
    if isinstance(variable, keras.Variable):
        return float(np.asarray(variable.numpy()).reshape(()))
    return simulate.read_lr(optimizer)


_STATE_PARTS = (
    "changes the model's weights",
    "changes the model's config",
    "changes the optimizer's settings",
    "replaces the optimizer or the compile arguments",
)


def _model_state(model: Any) -> tuple[Any, ...]:
    """What a callback that only sets the rate leaves as it found it (see `rates`)."""
    digest = [np.asarray(keras.ops.convert_to_numpy(v)).tobytes() for v in model.weights]
    try:
        config = json.dumps(model.get_config(), sort_keys=True, default=repr)
    except Exception as exc:
        config = f"unreadable: {type(exc).__name__}"
    optimizer = getattr(model, "optimizer", None)
    try:
        settings = dict(optimizer.get_config())
        settings.pop("learning_rate", None)  # the one thing it may set
        settings_text = json.dumps(settings, sort_keys=True, default=repr)
    except Exception as exc:
        settings_text = f"unreadable: {type(exc).__name__}"
    compiled = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    identity = (id(optimizer), *(id(v) for v in compiled.values()))
    return (digest, config, settings_text, identity)


def said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
