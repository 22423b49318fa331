"""The fit's dry run and the callback protocol simulated, for the probe record
(grader/child/probe.py) and the declarations (grader/child/rates.py, grader/child/declare.py):
the student's `fit` called as keras-tuner's search calls it, against a marker that records
what it received (`dry_fit`), and each callback that may set the rate run through Keras'
callback protocol over a simulated training (`Simulation`, `best_callbacks`). Also the
helpers the record shares: `jsonable`, `finite`, `captured_warnings`.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.child.protocol import describe_exception

FAKE_HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# The callback dry run: how much of the training it simulates, and for how long.
DRY_RUN_SECONDS = 10.0  # per callback; a run cut short says "truncated"
DRY_RUN_MAX_EPOCHS = 30  # enough for a step decay's drops and a few cycles
DRY_RUN_MAX_BATCHES = 10_000  # per-batch rates kept (the boundary's list limit)
# Callbacks from these packages never set the rate, except the two named in _LR_CALLBACKS.
_LIBRARY_MODULES = ("keras", "keras_tuner", "tensorflow", "tf_keras", "grader")
_LR_CALLBACKS = ("LearningRateScheduler", "ReduceLROnPlateau")

# Attributes of the callbacks the checks judge; the rest are recorded by class name only.
_CALLBACK_FIELDS = {
    "EarlyStopping": (
        "monitor",
        "patience",
        "min_delta",
        "mode",
        "restore_best_weights",
        "baseline",
        "start_from_epoch",
    ),
    "ReduceLROnPlateau": (
        "monitor",
        "factor",
        "patience",
        "min_lr",
        "min_delta",
        "cooldown",
        "mode",
    ),
    "LearningRateScheduler": ("verbose",),
    "ModelCheckpoint": ("monitor", "save_best_only", "filepath"),
}


@contextmanager
def captured_warnings(into: list[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    into.extend(dict.fromkeys(str(w.message)[:500] for w in caught))


def finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("the learning rate takes a non-finite value (nan or inf)")
    return values


def marker_class() -> type:
    import keras

    class _TunerMarker(keras.callbacks.Callback):
        """Stands for one of the callbacks keras-tuner passes to HyperModel.fit."""

    return _TunerMarker


@dataclass(frozen=True)
class FitCall:
    """How keras-tuner's search calls the student's fit, and the training the dry run
    simulates: the (x, y, xy_val) it passes, how validation reaches fit ("xy_val",
    "validation_data" or ("validation_split", split)), the epochs and batches per epoch."""

    fit_data: tuple[Any, Any, Any]
    epochs: int
    validation: tuple[str, float | None] = ("xy_val", None)
    steps_per_epoch: int = 1


def dry_fit(
    instance: Any, hp: Any, model: Any, call: FitCall, metric_names: list[str]
) -> dict[str, Any]:
    """Call the student's fit as keras-tuner does, with Model.fit recording instead of training."""
    fit_data, epochs, validation = call.fit_data, call.epochs, call.validation
    steps_per_epoch = call.steps_per_epoch
    import keras

    out: dict[str, Any] = {
        "status": "error",
        "error": None,
        "warnings": [],
        "calls": [],
        "markers": "no_call",
        "returned_type": None,
    }
    marker_cls = marker_class()
    x, y, xy_val = fit_data
    optimizer = getattr(model, "optimizer", None)
    real_fit = keras.Model.__dict__.get("fit")
    original = keras.Model.fit
    signature = inspect.signature(original)

    def recorder(self: Any, *args: Any, **kwargs: Any) -> Any:
        call: dict[str, Any] = {"same_model": self is model, "bind_error": None}
        out["calls"].append(call)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            call["bind_error"] = str(exc)
            raise
        given = sorted(k for k in bound.arguments if k not in ("self", "kwargs"))
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self", None)
        simulated = Simulation(self, max(1, steps_per_epoch), metric_names)
        call.update(
            _describe_call(arguments, x, y, xy_val, marker_cls, optimizer, epochs, simulated)
        )
        call["given"] = given
        history = keras.callbacks.History()
        history.set_model(self)
        history.epoch = [0]
        # A fit that post-processes the history (returns history.history["val_accuracy"][-1])
        # must still work, so every key the compiled metrics would log is there.
        keys = [*FAKE_HISTORY_KEYS, *metric_names, *(f"val_{n}" for n in metric_names)]
        history.history = {k: [0.5] for k in keys}
        return history

    try:
        keras.Model.fit = recorder
        with captured_warnings(out["warnings"]):
            callbacks = [marker_cls(), marker_cls()]
            # The student's fit receives validation as keras-tuner's search passes it on.
            how, split = validation
            if how == "validation_data":
                returned = instance.fit(
                    hp, model, x, y, validation_data=xy_val, callbacks=callbacks
                )
            elif how == "validation_split":
                returned = instance.fit(
                    hp, model, x, y, validation_split=split, callbacks=callbacks
                )
            else:
                returned = instance.fit(hp, model, x, y, xy_val, callbacks=callbacks)
        out["returned_type"] = type(returned).__name__
        out["status"] = "ok"
    except Exception as exc:
        out["error"] = describe_exception(exc)
    finally:
        if real_fit is None:
            del keras.Model.fit
        else:
            keras.Model.fit = real_fit
    if out["calls"]:
        counts = {c.get("markers", 0) for c in out["calls"]}
        out["markers"] = "all" if counts == {2} else "none" if counts == {0} else "some"
    return out


def _describe_call(
    arguments: dict[str, Any],
    x: Any,
    y: Any,
    xy_val: Any,
    marker_cls: type,
    optimizer: Any,
    epochs: int,
    simulated: Simulation | None = None,
) -> dict[str, Any]:
    extra = arguments.pop("kwargs", {}) or {}
    callbacks = arguments.get("callbacks") or []
    if not isinstance(callbacks, list | tuple):
        callbacks = [callbacks]
    fit_epochs = arguments.get("epochs")
    sample_epochs = fit_epochs if isinstance(fit_epochs, int) and 0 < fit_epochs <= 1000 else epochs
    validation = arguments.get("validation_data")
    val_x, val_y = xy_val if isinstance(xy_val, tuple) and len(xy_val) == 2 else (None, None)
    return {
        "x": compare_data(arguments.get("x"), x, swapped=val_x),
        "y": compare_data(arguments.get("y"), y, swapped=val_y),
        "validation": compare_data(validation, xy_val, swapped=(x, y)),
        "validation_split": arguments.get("validation_split"),
        "batch_size": arguments.get("batch_size"),
        "epochs": fit_epochs,
        "shuffle": arguments.get("shuffle"),
        "verbose": arguments.get("verbose"),
        "initial_epoch": arguments.get("initial_epoch"),
        "steps_per_epoch": arguments.get("steps_per_epoch"),
        "extra_kwargs": sorted(extra),
        "markers": sum(isinstance(cb, marker_cls) for cb in callbacks),
        "callbacks": [
            _callback(cb, marker_cls, optimizer, sample_epochs, simulated) for cb in callbacks
        ],
    }


def compare_data(value: Any, reference: Any, swapped: Any = None) -> str:
    """How `value` relates to the data the probe passed in (see DATA in the docstring).

    Content is compared, not only shapes: the training and validation arrays the probe
    passes have the same shape, so a fit that trains on xy_val looks right by shape alone.
    """
    if value is None:
        return "none"
    if value is reference:
        return "same"
    if isinstance(reference, tuple) and isinstance(value, list | tuple):
        if len(value) != len(reference):
            return "different"
        pairs = list(zip(value, reference, strict=True))
        if all(a is b for a, b in pairs):
            return "same_elements"
        if all(_equal(a, b) for a, b in pairs):
            return "equal"
        if (
            isinstance(swapped, tuple)
            and len(swapped) == len(value)
            and all(_equal(a, b) for a, b in zip(value, swapped, strict=True))
        ):
            return "swapped"
        return "same_shape" if all(_shape(a) == _shape(b) for a, b in pairs) else "different"
    if _equal(value, reference):
        return "equal"
    if swapped is not None and _equal(value, swapped):
        return "swapped"
    same_shape = _shape(value) is not None and _shape(value) == _shape(reference)
    return "same_shape" if same_shape else "different"


_MAX_COMPARED = 4_000_000  # elements: the probe's arrays are 256 rows, a copy is as small


def _equal(value: Any, reference: Any) -> bool:
    """Equal content, compared only when the shapes already agree (cheap by then)."""
    shape = _shape(reference)
    if value is reference:
        return True
    if shape is None or _shape(value) != shape or math.prod(shape) > _MAX_COMPARED:
        return False
    try:
        return bool(np.array_equal(np.asarray(value), np.asarray(reference)))
    except Exception:  # an object that only looks like an array: not the tuner's data
        return False


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def _callback(
    cb: Any, marker_cls: type, optimizer: Any, epochs: int, simulated: Simulation | None = None
) -> dict[str, Any]:
    name = type(cb).__name__
    out: dict[str, Any] = {
        "class_name": name,
        "module": type(cb).__module__,
        "marker": isinstance(cb, marker_cls),
        "config": None,
    }
    fields = _CALLBACK_FIELDS.get(name)
    if fields:
        out["config"] = {f: getattr(cb, f, None) for f in fields}
    if name == "LearningRateScheduler" and callable(getattr(cb, "schedule", None)):
        out.update(_epoch_samples(cb.schedule, optimizer, epochs))
    out["dry_run"] = None
    if simulated is not None and not out["marker"] and can_set_learning_rate(cb):
        out["dry_run"] = simulated.run(cb, epochs)
    return out


def can_set_learning_rate(cb: Any) -> bool:
    """Keras' two rate-setting callbacks, and any callback class the student wrote."""
    import keras

    if not isinstance(cb, keras.callbacks.Callback):
        return False
    if type(cb).__name__ in _LR_CALLBACKS:
        return True
    module = type(cb).__module__ or ""
    return not any(module == m or module.startswith(m + ".") for m in _LIBRARY_MODULES)


class Simulation:
    """A dry run of Keras' callback protocol over a simulated schedule of batches.

    The calls are those `Model.fit` makes (keras/src/trainers, Keras 3): `on_train_begin`;
    per epoch `on_epoch_begin`, per batch `on_train_batch_begin` / `on_train_batch_end`
    (whose default calls the Keras 2 `on_batch_begin` / `on_batch_end` a CyclicLR written
    for Keras 2 overrides), `on_epoch_end`; `on_train_end`. No batch is trained: the rate a
    batch would use is read after its `on_train_batch_begin`, as the train step reads it.
    For an optimizer whose rate is a schedule the step counter is advanced per batch, so
    the schedule answers as in training.

    The run works on a copy of the callback (deep if possible): a CyclicLR keeps its batch
    count across fits, and a run on the student's own object would shift the real training.
    The model's optimizer rate and step counter are put back afterwards.
    """

    def __init__(self, model: Any, steps_per_epoch: int, metric_names: list[str]) -> None:
        self.model = model
        self.steps_per_epoch = steps_per_epoch
        self.metric_names = metric_names

    def _logs(self, epoch: int, *, validation: bool) -> dict[str, float]:
        # An ordinary run: the loss falls and the accuracy rises every epoch (so a
        # ReduceLROnPlateau never fires; it is judged from its configuration).
        decay = 0.9 ** (epoch + 1)
        logs = {"loss": 1.0 * decay, "accuracy": 1.0 - 0.5 * decay}
        logs.update({n: 1.0 - 0.5 * decay for n in self.metric_names if n not in logs})
        if validation:
            logs.update({f"val_{k}": v for k, v in list(logs.items())})
        return logs

    def run(self, cb: Any, fit_epochs: int) -> dict[str, Any]:
        import keras

        started = time.monotonic()
        epochs = max(1, min(int(fit_epochs), DRY_RUN_MAX_EPOCHS))
        out: dict[str, Any] = {
            "status": "error",
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": epochs,
            "batches": [],
            "batch_lrs": [],
            "epoch_lrs": [],
            "epoch_end_lrs": [],
            "lr_before": None,
            "copied": "none",
            "error": None,
            "seconds": 0.0,
        }
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            out["error"] = {"type": "ValueError", "message": "the model has no optimizer"}
            return out
        lr_object = getattr(optimizer, "_learning_rate", None)
        lr_value = read_lr(optimizer)
        out["lr_before"] = lr_value
        counter = getattr(optimizer, "_iterations", None)
        counter_value = variable_value(counter)
        by_step = isinstance(
            lr_object, keras.optimizers.schedules.LearningRateSchedule
        ) or not isinstance(lr_object, keras.Variable)
        stop_training = getattr(self.model, "stop_training", False)
        cb, out["copied"] = copy_callback(cb, self.model)
        deadline = started + DRY_RUN_SECONDS
        try:
            cb.set_model(self.model)
            cb.set_params({"verbose": 0, "epochs": epochs, "steps": self.steps_per_epoch})
            cb.on_train_begin({})
            done = True
            for epoch in range(epochs):
                cb.on_epoch_begin(epoch, {})
                for batch in range(self.steps_per_epoch):
                    step = epoch * self.steps_per_epoch + batch
                    if by_step and counter is not None:
                        counter.assign(step)
                    cb.on_train_batch_begin(batch, {})
                    lr = read_lr(optimizer)
                    if batch == 0:
                        out["epoch_lrs"].append(lr)
                    if step < DRY_RUN_MAX_BATCHES:
                        out["batches"].append(step)
                        out["batch_lrs"].append(lr)
                    cb.on_train_batch_end(batch, self._logs(epoch, validation=False))
                    if time.monotonic() > deadline:
                        done = False
                        break
                if not done:
                    out["epoch_lrs"] = out["epoch_lrs"][: len(out["epoch_end_lrs"])]
                    break
                cb.on_epoch_end(epoch, self._logs(epoch, validation=True))
                out["epoch_end_lrs"].append(read_lr(optimizer))
            if done:
                cb.on_train_end({})
            if not _all_finite(out["batch_lrs"] + out["epoch_lrs"] + out["epoch_end_lrs"]):
                raise ValueError(
                    "the learning rate is not a finite number (nan, inf or unreadable)"
                )
            out["status"] = "ok" if done else "truncated"
        except Exception as exc:
            out["error"] = describe_exception(exc)
            # The rates recorded before the error stay, when they are all numbers.
            keys = ("batches", "batch_lrs", "epoch_lrs", "epoch_end_lrs")
            if not _all_finite(out["batch_lrs"] + out["epoch_lrs"] + out["epoch_end_lrs"]):
                out.update({k: [] for k in keys})
            out["batches"] = out["batches"][: len(out["batch_lrs"])]
        finally:
            restore(optimizer, lr_object, lr_value, counter, counter_value)
            with suppress(Exception):
                self.model.stop_training = stop_training
        out["seconds"] = round(time.monotonic() - started, 3)
        return out


def _all_finite(values: list[Any]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values)


def read_lr(optimizer: Any) -> float | None:
    import keras

    try:
        return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)).reshape(()))
    except Exception:
        return None


def variable_value(variable: Any) -> Any:
    try:
        return variable.numpy() if variable is not None else None
    except Exception:
        return None


def restore(
    optimizer: Any, lr_object: Any, lr_value: float | None, counter: Any, counter_value: Any
) -> None:
    """Put the optimizer back as the dry run found it (the search builds its own models,
    but a build that returns a shared model would otherwise start from the run's rate)."""
    import keras

    try:
        if getattr(optimizer, "_learning_rate", None) is not lr_object:
            optimizer._learning_rate = lr_object
        if isinstance(lr_object, keras.Variable) and lr_value is not None:
            lr_object.assign(lr_value)
        if counter is not None and counter_value is not None:
            counter.assign(counter_value)
    except Exception:
        pass


def copy_callback(cb: Any, model: Any) -> tuple[Any, str]:
    """A copy to run; the model and its optimizer are shared, not copied (memo)."""
    memo = {id(model): model}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        memo[id(optimizer)] = optimizer
    try:
        return copy.deepcopy(cb, memo), "deep"
    except Exception:
        pass
    try:
        return copy.copy(cb), "shallow"
    except Exception:
        return cb, "none"


def _epoch_samples(schedule: Callable[..., Any], optimizer: Any, epochs: int) -> dict[str, Any]:
    """Replay LearningRateScheduler.on_epoch_begin for every epoch, without training."""
    import keras

    out: dict[str, Any] = {"samples": None, "samples_error": None, "conflicts_with_schedule": False}
    lr_object = getattr(optimizer, "_learning_rate", None)
    out["conflicts_with_schedule"] = isinstance(
        lr_object, keras.optimizers.schedules.LearningRateSchedule
    )
    try:
        lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) if optimizer else 0.0
        lrs = []
        for epoch in range(epochs):
            try:  # the same two call styles Keras tries, in the same order
                lr = schedule(epoch, lr)
            except TypeError:
                lr = schedule(epoch)
            lr = float(np.asarray(keras.ops.convert_to_numpy(lr)).reshape(()))
            lrs.append(lr)
        out["samples"] = {"epochs": list(range(epochs)), "lrs": finite(lrs)}
    except Exception as exc:
        out["samples_error"] = describe_exception(exc)
    return out


def best_callbacks(
    instance: Any,
    hp: Any,
    fit_data: tuple[Any, Any, Any],
    *,
    epochs: int,
    steps_per_epoch: int,
) -> dict[str, Any]:
    """The rate-setting callbacks dry-run again with the best trial's hyperparameters.

    The probe's dry run uses the default build's values; the search's best model used its
    own (a tuned base_lr changes a CyclicLR). The parent compares the rate saved with the
    best model against this run at the best epoch. A fresh build, so the callbacks start
    from the rate the build sets, as in the trial. The record (never raises):

        best_callbacks: {status: "ok" | "error", error: ERROR | None,
                         hyperparameters: {name: value}, callbacks: [CALLBACK]}
    """
    out: dict[str, Any] = {"status": "error", "error": None, "callbacks": []}
    try:
        out["hyperparameters"] = dict(hp.values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = instance.build(hp)
        call = FitCall(fit_data, epochs, steps_per_epoch=steps_per_epoch)
        fit = dry_fit(instance, hp, model, call, [])
        out["callbacks"] = [
            cb for call in fit["calls"] for cb in call["callbacks"] if cb.get("dry_run")
        ]
        out["error"] = fit["error"]
        out["status"] = fit["status"]
    except Exception as exc:
        out["error"] = describe_exception(exc)
    return jsonable(out)


# --- JSON --------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON types only: numpy scalars to Python, unknown objects to a short repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray) and value.size <= 64:
        return jsonable(value.tolist())
    return repr(value)[:200]
