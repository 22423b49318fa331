"""What the student's `build(hp)` and `fit` would train, declared as data (issue 20).

`declare` answers one `DeclareRequest`: it runs the student's `build(hp)` at the request's
hyperparameter values and the student's `fit` exactly as keras-tuner's search calls it,
with `keras.Model.fit` replaced by a recorder (nothing trains), and returns a
`Declaration` as data (`Declaration.to_data()`): the model's Keras config, the compile
config, the one `Model.fit` call's plan, and tables of learning rates where the student
wrote them as code. The trusted trainer trains exactly that.

What cannot be written that way is UNDECLARABLE, with short reasons naming the thing
(the sandbox then trains the submission itself): objects that are not Keras' own,
conditional hyperparameters, anything but one `Model.fit` call on the built model with the
tuner's data passed through unchanged, fit arguments the plan has no place for, callbacks
the trainer cannot rebuild. An exception from the student's build or fit before training
would start is an ERROR (the trial fails, as in keras-tuner); anything that depends on
training (a fit that raises after `Model.fit`, a callback that raises at epoch 3) is
UNDECLARABLE, since whether it happens depends on the training the sandbox would run.

Everything here runs in the child, beside the student's code, so it holds for honest code
only; the parent checks the declaration's shape (`Declaration.from_json`) and the trainer
deserialises only standard Keras objects, in safe mode.

The callbacks the trainer rebuilds from their constructor arguments (`KERAS_CALLBACKS`)
have those arguments recorded as the student passed them (`record_constructor_arguments`,
installed by the worker before any student code runs): Keras' `__init__` transforms some
(EarlyStopping stores `min_delta` with the monitor's sign), so they are never read back
from the attributes.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras
import keras_tuner
import numpy as np

from grader.child import probe, simulate
from grader.child.declaration import (
    DECLARATION_LIMIT,
    FLOAT64,
    KERAS_CALLBACKS,
    MAX_CALLBACKS,
    MAX_FLOAT64,
    MAX_REASONS,
    TUNER_MARKERS,
    CallbackKind,
    CallbackPlan,
    ConfigPath,
    Declaration,
    DeclarationError,
    DeclareRequest,
    FitPlan,
    Float64Paths,
    Outcome,
    RatePer,
    RateTable,
)
from grader.child.foreign import foreign_config, foreign_objects, is_keras
from grader.child.protocol import PROTOCOL, describe_exception
from grader.child.rates import Span, callback_rates, said, tabulate

KERAS_BATCH_SIZE = 32  # Model.fit's batch size when none is given
REASON_TEXT = 300  # characters of one reason
_FIT_SIGNATURE = inspect.signature(keras.Model.fit)
# Model.fit and train_on_batch, and every class keras.Model resolves them through (the
# backend trainer): a student calling `TensorFlowTrainer.fit(model, ...)` is recorded too.
_TRAINING_METHODS = {
    name: (getattr(keras.Model, name), tuple(
        cls for cls in keras.Model.__mro__ if cls.__dict__.get(name) is getattr(keras.Model, name)
    ))
    for name in ("fit", "train_on_batch")
}  # fmt: skip


# --- constructor arguments of the callbacks the trainer rebuilds ---------------------------

# Per instance: (the arguments as passed, its plain attributes right after __init__). The
# attributes let a later `early_cb.patience = 5` show, which the arguments would not.
_ARGUMENTS: weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def record_constructor_arguments() -> None:
    """Record the constructor arguments of every `KERAS_CALLBACKS` callback made from now on.

    Wraps each class's `__init__` for the rest of the process (calling it again changes
    nothing). The worker calls it before any student code runs.
    """
    for name in KERAS_CALLBACKS:
        cls = getattr(keras.callbacks, name)
        if not getattr(cls.__init__, "_grader_records", False):
            cls.__init__ = _recording_init(cls.__init__)


def _recording_init(original: Callable[..., None]) -> Callable[..., None]:
    signature = inspect.signature(original)
    params = list(signature.parameters.values())
    self_name = params[0].name
    var_keyword = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)

    @functools.wraps(original)  # keeps the signature: Keras and students may inspect it
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            arguments = dict(signature.bind(self, *args, **kwargs).arguments)
        except TypeError:  # unreachable: the original accepted these arguments
            return
        arguments.pop(self_name, None)
        if var_keyword is not None:
            arguments.update(arguments.pop(var_keyword, {}))
        _ARGUMENTS[self] = (arguments, _plain_state(self))

    __init__._grader_records = True  # type: ignore[attr-defined]
    return __init__


def _plain_state(obj: Any) -> dict[str, str]:
    plain = (bool, int, float, str, type(None), np.generic)
    return {k: repr(v) for k, v in vars(obj).items() if isinstance(v, plain)}


# --- the declaration -----------------------------------------------------------------------


@dataclass
class _Found:
    """What build and fit declared so far, or why it cannot be declared."""

    hyperparameters: dict[str, Any]
    build_count: int = 0
    model: dict[str, Any] | None = None
    compile: dict[str, Any] | None = None
    learning_rate: RateTable | None = None
    fit: FitPlan | None = None
    reasons: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    float64: Float64Paths = field(default_factory=Float64Paths)


def declare(
    instance: Any,
    request: DeclareRequest,
    *,
    fit_data: tuple[Any, Any, Any],
    steps_per_epoch: int,
    max_epochs: int,
    validation: tuple[str, float | None],
) -> dict[str, Any]:
    """The declaration of `instance` (the student's HyperModel) at the request's values,
    as `Declaration.to_data()`; never raises.

    `fit_data` is (x, y, xy_val), passed to the student's fit as keras-tuner's search
    passes it (`validation`: "xy_val", "validation_data" or ("validation_split", split)).
    The tables of learning rates cover the steps the trainer can train: the batches per
    epoch counted from `x` and the declared batch size as Keras counts them
    (`steps_per_epoch` only when `x` has no length), times the declared epochs capped at
    `max_epochs`.
    """
    try:
        found = _Declarer(
            instance, request, fit_data, int(steps_per_epoch), int(max_epochs), validation
        ).run()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a fault of this module: the sandbox trains instead
        found = _Found(_thaw(request.hyperparameters))
        found.reasons.append(f"the grader could not declare it ({said(exc)})")
    return _finish(request, found)


class _Declarer:
    def __init__(
        self,
        instance: Any,
        request: DeclareRequest,
        fit_data: tuple[Any, Any, Any],
        steps_per_epoch: int,
        max_epochs: int,
        validation: tuple[str, float | None],
    ) -> None:
        self.instance = instance
        self.request = request
        self.x, self.y, self.xy_val = fit_data
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.max_epochs = max(1, max_epochs)
        self.how, self.split = validation
        self.model: Any = None
        self.markers: tuple[Any, ...] = ()
        self.float64: frozenset[str] = frozenset()  # the request's (run)

    def run(self) -> _Found:
        asked = _thaw(self.request.hyperparameters)
        hp = keras_tuner.HyperParameters.from_config(asked)
        # The values keras-tuner holds as numpy.float64 (its Bayesian oracle's), as the
        # student's build gets them in the notebook (grader.child.declaration's docstring).
        self.float64 = frozenset(asked.get(FLOAT64, ()))
        for name in self.float64:
            hp.values[name] = np.float64(hp.values[name])
        found = _Found(hp.get_config())
        built: list[str] = []
        model: Any = None
        keras.backend.clear_session()  # as keras-tuner's _try_build: layer names from 0
        with _declared_names(hp, built):
            try:
                model = self.instance.build(hp)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                found.error = describe_exception(exc)
        if found.error is None and not isinstance(model, keras.Model):
            # keras-tuner's own check (Tuner._try_build): the trial fails with this.
            found.error = {
                "type": "FatalTypeError",
                "message": "Expected the model-building function, or HyperModel.build() to "
                f"return a valid Keras Model instance. Received: {_short(model)} of type "
                f"{type(model)}.",
                "location": None,
            }
        fitted: list[str] = []
        if found.error is None:
            self.model = model
            with _declared_names(hp, fitted):
                self._fit(hp, found)
        self._hyperparameters(hp, built, fitted, found)
        return found

    # --- hyperparameters ---

    def _hyperparameters(self, hp: Any, built: list[str], fitted: list[str], found: _Found) -> None:
        names = [p.name for p in hp.space]
        in_build = set(built)
        # The trainer declares the first build_count entries in build and the rest in fit,
        # as keras-tuner sees them in the notebook; the space keeps keras-tuner's order
        # (the oracle's), so build's entries must come first.
        found.build_count = 1 + max((i for i, n in enumerate(names) if n in in_build), default=-1)
        reasons = found.reasons
        for name in names[: found.build_count]:
            if name not in in_build and name in fitted:
                reasons.append(f"hyperparameter {name}, declared in fit, comes before build's")
        reasons.extend(f"hyperparameter {p.name} is conditional" for p in hp.space if p.conditions)
        for name, value in hp.values.items():
            number = np.float64 if name in self.float64 else float
            plain = type(value) in (bool, int, str) or (
                type(value) is number and math.isfinite(value)
            )
            if not plain:
                reasons.append(f"hyperparameter {name} is {_short(value)}, not a plain value")
        try:
            found.hyperparameters = _json(hp.get_config())
        except (TypeError, ValueError) as exc:
            reasons.append(f"the search space is not JSON ({said(exc)})")

    # --- fit ---

    def _fit(self, hp: Any, found: _Found) -> None:
        marker = simulate.marker_class()
        self.markers = tuple(marker() for _ in range(TUNER_MARKERS))
        recorder = _Recorder(self)
        raised: BaseException | None = None
        returned: Any = None
        with recorder.installed():
            try:
                returned = self._call_fit(hp)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                raised = exc
        if raised is not None and not recorder.calls:
            found.error = describe_exception(raised)  # before training: the trial fails
            return
        reasons = found.reasons
        if raised is not None:
            reasons.append(f"fit raised after Model.fit ({said(raised)})")
        if recorder.train_on_batch:
            reasons.append("fit calls Model.train_on_batch")
        if len(recorder.calls) != 1:
            count = len(recorder.calls)
            if count:
                reasons.append(f"fit calls Model.fit {count} times")
            elif recorder.elsewhere:
                reasons.append("fit calls Model.fit only on another model than build's")
            else:
                reasons.append("fit never calls Model.fit")
            return
        call = recorder.calls[0]
        if raised is None and returned is not call.history:
            # keras-tuner scores what fit returns: only Model.fit's History is what the
            # trainer's own fit returns.
            reasons.append(
                f"fit returns a {type(returned).__name__}, not the History of build's model"
            )
        reasons.extend(call.reasons)
        found.model, found.compile = call.model, call.compile
        found.float64 = call.float64
        found.learning_rate, found.fit = call.learning_rate, call.plan

    def _call_fit(self, hp: Any) -> Any:
        """The student's fit, called as keras-tuner's search calls it (simulate.dry_fit)."""
        callbacks = list(self.markers)
        if self.how == "validation_data":
            return self.instance.fit(
                hp, self.model, self.x, self.y, validation_data=self.xy_val, callbacks=callbacks
            )
        if self.how == "validation_split":
            return self.instance.fit(
                hp, self.model, self.x, self.y, validation_split=self.split, callbacks=callbacks
            )
        return self.instance.fit(hp, self.model, self.x, self.y, self.xy_val, callbacks=callbacks)

    # --- the Model.fit call ---

    def analyse(self, call: _Call, model: Any, arguments: dict[str, Any]) -> None:
        """Fill `call` from the one Model.fit call, as the model is at that moment."""
        reasons = call.reasons
        self._check_data(arguments, reasons)
        for name in ("sample_weight", "class_weight", "steps_per_epoch", "validation_steps",
                     "validation_batch_size"):  # fmt: skip
            if arguments.get(name) is not None:
                reasons.append(f"fit passes {name}")
        for name, default in (("initial_epoch", 0), ("validation_freq", 1)):
            if not _number_is(arguments.get(name), default):
                reasons.append(f"fit passes {name}={_short(arguments.get(name))}")
        batch_size = arguments.get("batch_size")
        if batch_size is not None:
            batch_size = _whole(batch_size)
            if batch_size is None:
                reasons.append(f"fit passes batch_size={_short(arguments.get('batch_size'))}")
        epochs = 1 if arguments.get("epochs") is None else _whole(arguments["epochs"])
        if epochs is None or epochs > 1_000_000:
            reasons.append(f"fit passes epochs={_short(arguments.get('epochs'))}")
        shuffle = arguments.get("shuffle")
        if isinstance(shuffle, np.bool_):
            shuffle = bool(shuffle)
        if type(shuffle) is not bool:
            reasons.append(f"fit passes shuffle={_short(shuffle)}")
        callbacks = _callback_list(arguments.get("callbacks"), reasons)
        call.model, in_model = self._model_config(model, reasons)
        reasons.extend(foreign_objects(model))
        schedule, call.compile, in_compile = self._compile_config(model, reasons)
        if len(in_model) + len(in_compile) > MAX_FLOAT64:
            reasons.append(f"the configs hold more than {MAX_FLOAT64} numpy.float64 numbers")
        call.float64 = Float64Paths(in_model, in_compile)
        if reasons or epochs is None or type(shuffle) is not bool:
            return  # undeclarable already: the tables below are the expensive part
        trained = min(epochs, self.max_epochs)
        steps = self._steps(batch_size)
        if schedule is not None:
            values = tabulate(schedule, model.optimizer, steps * trained, reasons)
            if values is not None and call.compile is not None:
                call.learning_rate = RateTable(
                    RatePer.STEP, tuple(values), type(schedule).__name__[:200]
                )
                # The trainer substitutes its own table schedule; Keras' config needs a number.
                call.compile["optimizer"]["config"]["learning_rate"] = values[0]
        plans = self._callbacks(callbacks, model, steps, trained, batch_size, reasons)
        call.plan = FitPlan(batch_size, epochs, shuffle, tuple(plans))

    def _check_data(self, arguments: dict[str, Any], reasons: list[str]) -> None:
        if arguments.get("x") is not self.x:
            reasons.append("fit does not pass the tuner's x to Model.fit unchanged")
        if arguments.get("y") is not self.y:
            reasons.append("fit does not pass the tuner's y to Model.fit unchanged")
        given, split = arguments.get("validation_data"), arguments.get("validation_split")
        if self.how == "validation_split":
            if given is not None or not _number_is(split, self.split):
                reasons.append("fit does not pass the tuner's validation_split unchanged")
            return
        xy_val = self.xy_val
        same = given is xy_val or (
            isinstance(given, tuple | list)
            and isinstance(xy_val, tuple)
            and len(given) == len(xy_val) == 2
            and all(a is b for a, b in zip(given, xy_val, strict=True))
        )
        if not same:
            reasons.append("fit does not pass the tuner's validation data unchanged")
        if not _number_is(split, 0):
            reasons.append(f"fit passes validation_split={_short(split)}")

    def _rows(self) -> tuple[int, int] | None:
        """(training rows, validation rows) as Keras splits them, or None if uncountable."""
        try:
            rows = len(self.x)
            val_rows = len(self.xy_val[0]) if self.how != "validation_split" else 0
        except TypeError:
            return None
        if self.how == "validation_split":
            # keras/src/trainers/data_adapters/array_slicing.py: train_validation_split
            split_at = math.floor(rows * (1.0 - float(self.split or 0.0)))
            return split_at, rows - split_at
        return rows, val_rows

    def _steps(self, batch_size: int | None) -> int:
        rows = self._rows()
        if rows is None:
            return self.steps_per_epoch
        return max(1, math.ceil(rows[0] / (batch_size or KERAS_BATCH_SIZE)))

    def _validation_steps(self, batch_size: int | None) -> int:
        rows = self._rows()
        return 1 if rows is None else math.ceil(rows[1] / (batch_size or KERAS_BATCH_SIZE))

    def _model_config(
        self, model: Any, reasons: list[str]
    ) -> tuple[dict[str, Any] | None, tuple[ConfigPath, ...]]:
        """(the model's config, where it holds a numpy.float64)."""
        # Written without its compile config, as worker.architecture_json does: Keras
        # leaves it out when get_compile_config() returns None (an instance attribute, for
        # this one call); a student schedule without get_config() would raise there, and
        # the compile config is read on its own below. Serialised as `model.to_json()`
        # does, but read before JSON, where a float64 is still one.
        model.get_compile_config = lambda: None
        try:
            raw = keras.saving.serialize_keras_object(model)
            config = json.loads(json.dumps(raw))
        except Exception as exc:
            reasons.append(f"the model cannot be written as a Keras config ({said(exc)})")
            return None, ()
        finally:
            del model.get_compile_config
        config.pop("compile_config", None)
        try:
            config = _json(config)
        except ValueError as exc:
            reasons.append(f"the model config is not JSON ({said(exc)})")
            return None, ()
        reasons.extend(foreign_config(config, "model"))
        return config, _float64_paths(raw, skip=("compile_config",))

    def _compile_config(
        self, model: Any, reasons: list[str]
    ) -> tuple[Any, dict[str, Any] | None, tuple[ConfigPath, ...]]:
        """(the student's schedule to tabulate or None, the compile config, where it holds
        a numpy.float64)."""
        lr = getattr(getattr(model, "optimizer", None), "_learning_rate", None)
        schedule = None
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            schedule = None if is_keras(type(lr)) else lr
        elif callable(lr) and not isinstance(lr, keras.Variable):
            reasons.append("the learning rate is a function, not a number or a schedule")
        patched = False
        if schedule is not None:
            # Serialised for its place only (the table replaces it): a schedule without
            # get_config() would make the whole compile config unwritable.
            try:
                schedule.get_config = dict
                patched = True
            except AttributeError:
                pass
        try:
            raw = model.get_compile_config()
            config = _json(raw)
        except Exception as exc:
            reasons.append(f"the compile config cannot be written ({said(exc)})")
            return schedule, None, ()
        finally:
            if patched:
                del schedule.get_config
        if not isinstance(config, dict):
            reasons.append("the model has no compile config")
            return schedule, None, ()
        float64 = _float64_paths(raw)
        if schedule is not None:
            inner = config.get("optimizer")
            inner = inner.get("config") if isinstance(inner, dict) else None
            if not isinstance(inner, dict) or "learning_rate" not in inner:
                reasons.append("the optimizer's config has no learning_rate")
                return schedule, None, ()
            inner["learning_rate"] = 0.0  # the table's first rate, once tabulated
            rate = ("optimizer", "config", "learning_rate")
            float64 = tuple(p for p in float64 if p[:3] != rate)
        reasons.extend(foreign_config(config, "compile config"))
        return schedule, config, float64

    # --- callbacks ---

    def _callbacks(
        self,
        callbacks: list[Any],
        model: Any,
        steps: int,
        epochs: int,
        batch_size: int | None,
        reasons: list[str],
    ) -> list[CallbackPlan]:
        plans: list[CallbackPlan] = []
        setters: list[str] = []  # callbacks that set the learning rate
        rebuilt = {getattr(keras.callbacks, name): name for name in KERAS_CALLBACKS}
        names = _metric_names(model)
        for cb in callbacks:
            name = type(cb).__name__
            if any(cb is m for m in self.markers):
                plans.append(CallbackPlan(CallbackKind.TUNER))
            elif not isinstance(cb, keras.callbacks.Callback):
                reasons.append(f"callback {name} is not a Keras Callback")
            elif type(cb) in rebuilt:
                args = _constructor_arguments(cb, name, reasons)
                plans.append(CallbackPlan(CallbackKind.KERAS, name, args))
                if name == "ReduceLROnPlateau":
                    setters.append(name)
            elif type(cb) is keras.callbacks.LearningRateScheduler:
                # Keras' own callback, run as Keras runs it: it sets the rate at each
                # epoch's start from schedule(epoch, rate), so one batch per epoch will do.
                rates = callback_rates(cb, model, names, reasons, Span(1, epochs, 1))
                if rates is not None:
                    function = getattr(cb.schedule, "__name__", type(cb.schedule).__name__)
                    table = RateTable(RatePer.EPOCH, tuple(rates[1]), str(function)[:200])
                    plans.append(CallbackPlan(CallbackKind.RATES, name, rates=table))
                    setters.append(name)
            elif simulate.can_set_learning_rate(cb):  # a callback class the student wrote
                val_steps = self._validation_steps(batch_size)
                span = Span(steps, epochs, val_steps)
                rates = callback_rates(cb, model, names, reasons, span, stateful=True)
                if rates is not None and rates[2]:
                    table = RateTable(RatePer.STEP, tuple(rates[0]), name[:200])
                    plans.append(CallbackPlan(CallbackKind.RATES, name, rates=table))
                    setters.append(name)
                # A callback that sets no rate and touches nothing changes no number the
                # training produces (it prints, say): the plan leaves it out.
            else:
                reasons.append(f"callback {name} is not one the grader rebuilds")
        if len(setters) > 1:
            reasons.append(f"{len(setters)} callbacks set the learning rate ({', '.join(setters)})")
        return plans


# --- the recorder standing in for Model.fit -------------------------------------------------


@dataclass
class _Call:
    history: Any
    reasons: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None
    compile: dict[str, Any] | None = None
    learning_rate: RateTable | None = None
    plan: FitPlan | None = None
    float64: Float64Paths = field(default_factory=Float64Paths)


class _Recorder:
    """Stands in for Model.fit and train_on_batch while the student's fit runs.

    Only calls on the model build returned count: that model's one Model.fit call is the
    declaration. A call on any other model trains nothing either (it gets a History that
    says nothing) and is left out: whatever the student's process does with another
    model, its weights included, the trainer trains the declaration alone (a declaration
    holds configs, never weights; tests/corpus/train_elsewhere.py).
    """

    def __init__(self, declarer: _Declarer) -> None:
        self.declarer = declarer
        self.calls: list[_Call] = []
        self.elsewhere = 0  # Model.fit calls on other models
        self.train_on_batch = 0

    def fit(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        # Keras' own failures before training, in Keras' order, so the student's fit sees
        # the same exception (a wrong argument; a model never compiled).
        bound = _FIT_SIGNATURE.bind(model, *args, **kwargs)
        if not getattr(model, "compiled", False):
            raise ValueError("You must call `compile()` before using the model.")
        bound.apply_defaults()  # an argument left out is Keras' default
        arguments = dict(bound.arguments)
        arguments.pop("self", None)
        call = _Call(_fake_history(model))
        if model is not self.declarer.model:
            self.elsewhere += 1
            return call.history
        self.calls.append(call)
        if len(self.calls) == 1:  # a second call is undeclarable whatever it asks
            try:
                self.declarer.analyse(call, model, arguments)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # never into the student's fit
                call.reasons.append(f"the grader could not read the fit call ({said(exc)})")
        return call.history

    def record_train_on_batch(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        if model is self.declarer.model:
            self.train_on_batch += 1
        return 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Model.fit and train_on_batch replaced on every class they resolve through."""
        replacements = {"fit": self.fit, "train_on_batch": self.record_train_on_batch}
        saved = []
        for name, (_, owners) in _TRAINING_METHODS.items():
            for cls in (keras.Model, *owners):
                saved.append((cls, name, cls.__dict__.get(name)))
                setattr(cls, name, _as_method(replacements[name]))
        try:
            yield
        finally:
            for cls, name, previous in reversed(saved):
                if previous is None:
                    if name in cls.__dict__:
                        delattr(cls, name)  # keras.Model inherits them: leave nothing behind
                else:
                    setattr(cls, name, previous)


def _as_method(bound: Callable[..., Any]) -> Callable[..., Any]:
    def method(model: Any, *args: Any, **kwargs: Any) -> Any:
        return bound(model, *args, **kwargs)

    return method


def _fake_history(model: Any) -> Any:
    history = keras.callbacks.History()
    history.set_model(model)
    history.epoch = [0]
    # A fit that looks into the history before returning it must still run.
    names = _metric_names(model)
    keys = [*simulate.FAKE_HISTORY_KEYS, *names, *(f"val_{n}" for n in names)]
    history.history = {k: [0.5] for k in keys}
    return history


def _metric_names(model: Any) -> list[str]:
    try:
        return [m["name"] for m in probe._compiled(model)["metrics"] if m["name"]]
    except Exception:
        return []


def _callback_list(value: Any, reasons: list[str]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        callbacks = list(value)
    elif isinstance(value, keras.callbacks.Callback):
        callbacks = [value]  # Keras flattens a lone callback into a list
    else:
        reasons.append(f"fit passes callbacks={_short(value)}")
        return []
    if len(callbacks) > MAX_CALLBACKS:
        reasons.append(f"fit passes {len(callbacks)} callbacks (at most {MAX_CALLBACKS})")
        return []
    return callbacks


def _constructor_arguments(cb: Any, name: str, reasons: list[str]) -> dict[str, Any]:
    entry = _ARGUMENTS.get(cb)
    if entry is None:
        reasons.append(f"{name}'s constructor arguments were not recorded")
        return {}
    arguments, state = entry
    now = _plain_state(cb)
    changed = sorted(k for k in set(state) | set(now) if state.get(k) != now.get(k))
    if changed:
        reasons.append(f"{name}'s attributes were changed after it was made ({', '.join(changed)})")
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in KERAS_CALLBACKS[name]:
            reasons.append(f"{name} argument {key} is not one the grader rebuilds")
            continue
        if isinstance(value, np.generic):
            value = value.item()
        plain = value is None or type(value) in (bool, int)
        plain = plain or (type(value) is float and math.isfinite(value))
        if plain or (type(value) is str and len(value) <= 200):
            out[key] = value
        else:
            reasons.append(f"{name} argument {key} is {_short(value)}, not a plain value")
    return out


# --- the answer ------------------------------------------------------------------------------


def _finish(request: DeclareRequest, found: _Found) -> dict[str, Any]:
    """`found` as a declaration `Declaration.from_data` accepts; one that it refuses is
    UNDECLARABLE with its reason, down to the request's own hyperparameters."""
    data = _data(request, found)
    try:
        return _accepted(data)
    except (DeclarationError, TypeError, ValueError, RecursionError) as exc:
        refused = f"the declaration is not one the grader accepts ({said(exc)})"
    found.reasons.append(refused)
    try:
        return _accepted(_data(request, found))
    except (DeclarationError, TypeError, ValueError, RecursionError):
        pass
    # The request's hyperparameters were accepted when it was read; the student's error
    # description is bounded by describe_exception.
    plain = _Found(_thaw(request.hyperparameters), reasons=found.reasons, error=found.error)
    if plain.error is not None:
        plain.error = {**plain.error, "type": str(plain.error.get("type"))[:200]}
    return _accepted(_data(request, plain))


def _data(request: DeclareRequest, found: _Found) -> dict[str, Any]:
    outcome = (
        Outcome.ERROR if found.error else Outcome.UNDECLARABLE if found.reasons else Outcome.OK
    )
    ok = outcome is Outcome.OK
    reasons = list(dict.fromkeys(r[:REASON_TEXT] for r in found.reasons))
    if len(reasons) > MAX_REASONS:
        reasons = [*reasons[: MAX_REASONS - 1], f"and {len(reasons) - MAX_REASONS + 1} more"]
    return {
        "protocol": PROTOCOL,
        "n": request.n,
        "outcome": outcome.value,
        "hyperparameters": found.hyperparameters,
        "build_count": found.build_count,
        "model": found.model if ok else None,
        "compile": found.compile if ok else None,
        "learning_rate": found.learning_rate.to_data() if ok and found.learning_rate else None,
        "fit": found.fit.to_data() if ok and found.fit else None,
        "reasons": reasons if outcome is Outcome.UNDECLARABLE else [],
        "error": found.error if outcome is Outcome.ERROR else None,
        FLOAT64: found.float64.to_data() if ok else None,
    }


def _accepted(data: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    if len(text.encode("utf-8")) > DECLARATION_LIMIT:
        raise DeclarationError(f"larger than {DECLARATION_LIMIT:,} bytes")
    return Declaration.from_data(json.loads(text)).to_data()


# --- small helpers ----------------------------------------------------------------------------


@contextmanager
def _declared_names(hp: Any, into: list[str]) -> Iterator[None]:
    """Record the name of every hyperparameter declared on `hp` meanwhile (each goes
    through HyperParameters._retrieve: Float, Int, Choice, Boolean, Fixed)."""
    original = hp._retrieve

    def retrieve(parameter: Any) -> Any:
        into.append(parameter.name)
        return original(parameter)

    hp._retrieve = retrieve
    try:
        yield
    finally:
        vars(hp).pop("_retrieve", None)


def _float64_paths(value: Any, skip: tuple[str, ...] = ()) -> tuple[ConfigPath, ...]:
    """Where `value` (a config as Keras' serialisation returns it, before JSON) holds a
    numpy.float64, in a fixed order (the declaration's key depends on it); top-level keys
    in `skip` are left out."""
    found: list[ConfigPath] = []
    stack: list[tuple[Any, ConfigPath]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if type(item) is np.float64:
            found.append(path)
        elif isinstance(item, dict):
            stack.extend(
                (v, (*path, k))
                for k, v in item.items()
                if isinstance(k, str) and not (not path and k in skip)
            )
        elif isinstance(item, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(item))
    return tuple(sorted(found, key=lambda p: json.dumps(p)))


def _json(value: Any) -> Any:
    """A copy through JSON; ValueError/TypeError when it is not JSON with finite numbers."""
    return json.loads(json.dumps(value, allow_nan=False))


def _thaw(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _whole(value: Any) -> int | None:
    if isinstance(value, np.integer):
        value = int(value)
    return value if type(value) is int and value >= 1 else None


def _number_is(value: Any, expected: Any) -> bool:
    if isinstance(value, np.generic):
        value = value.item()
    return type(value) in (int, float) and value == expected


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
