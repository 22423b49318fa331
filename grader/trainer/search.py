"""The search on what a submission declared: the exam's tuner, trained by the grader.

Runs in the trainer process, which never imports student code. keras-tuner drives a
`DeclaredHyperModel`: each time keras-tuner builds a model (to read the search space,
for each trial, and for the best model), the hypermodel asks the parent for the
submission's `Declaration` at that trial's hyperparameters; the parent gets it from the
sandboxed child, checks it, and relays it. The hypermodel then declares the same
hyperparameters on keras-tuner's `hp` (build's in build, fit's in fit, as keras-tuner
sees them in the notebook), deserialises the model and its compile config in Keras' safe
mode and trains with the declared fit plan, its epochs capped at the budget's.

Seeded exactly as the exam's notebook (and as `grader.child.search` seeds the sandbox's
search): `keras.utils.set_random_seed(seed)` right before the tuner, without an oracle
seed. A model deserialised from its config draws its initial weights as the student's
own build does (the initializers take their seeds from Python's `random` in the same
order), so the grader's search is the notebook's search (tests/test_notebook_identity.py).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.engine.hyperparameters import hp_types

from grader.child.declaration import (
    FLOAT64,
    CallbackKind,
    CallbackPlan,
    ConfigPath,
    Declaration,
    Outcome,
    RatePer,
    RateTable,
)
from grader.child.protocol import ProgressEvent, ProgressLine
from grader.trainer.wire import Purpose, SearchRequest

Ask = Callable[[str, dict[str, Any]], Declaration]
Say = Callable[[dict[str, Any]], None]


class Abort(keras_tuner.errors.FatalError):
    """The parent stopped the search (a declaration it refused, or one it cannot train)."""


class StudentFailure(Exception):
    """The student's build or fit raised in the child: this trial fails, as in keras-tuner."""


class TableSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate per optimizer step, from a table (the student's schedule written as
    code, tabulated by the child): step i trains at values[i], the last value after it."""

    def __init__(self, values: list[float]) -> None:
        self.values = [float(v) for v in values]

    def __call__(self, step: Any) -> Any:
        table = keras.ops.convert_to_tensor(self.values, dtype="float32")
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.values) - 1)
        return keras.ops.take(table, index)

    def get_config(self) -> dict[str, Any]:
        return {"values": self.values}


class _BatchRates(keras.callbacks.Callback):
    """Sets the rate each batch trains at from a table (a student's per-batch callback)."""

    def __init__(self, values: tuple[float, ...]) -> None:
        super().__init__()
        self.values = values
        self.step = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.step = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        index = min(self.step, len(self.values) - 1)
        self.model.optimizer.learning_rate = self.values[index]
        self.step += 1


def _epoch_rates(values: tuple[float, ...]) -> keras.callbacks.Callback:
    """Keras' own LearningRateScheduler, fed the table the student's function gave."""

    def schedule(epoch: int, lr: float) -> float:
        return values[min(epoch, len(values) - 1)]

    return keras.callbacks.LearningRateScheduler(schedule)


class _TimeLimit(keras.callbacks.Callback):
    """Stops training at the next batch once the trial's time is up (the epochs done count)."""

    def __init__(self, deadline: float, log: TrialLog) -> None:
        super().__init__()
        self.deadline, self.log = deadline, log

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True
            self.log.stopped_by_time = True


class _Epochs(keras.callbacks.Callback):
    def __init__(self, log: TrialLog, on_epoch: Callable[[int, dict], None]) -> None:
        super().__init__()
        self.log, self.on_epoch = log, on_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.log.epochs += 1
        for key, value in (logs or {}).items():
            self.log.history.setdefault(key, []).append(float(value))
        self.on_epoch(self.log.epochs, dict(logs or {}))


@dataclass
class TrialLog:
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0
    stopped_by_time: bool = False
    requested_epochs: int | None = None
    clamped_to: int | None = None
    restored_callbacks: list[str] = field(default_factory=list)
    declaration: str = ""  # the key of what this trial trained (`Declaration.key`)


class DeclaredHyperModel(keras_tuner.HyperModel):
    """keras-tuner's hypermodel over the submission's declarations (module docstring)."""

    def __init__(self, ask: Ask, *, max_epochs: int) -> None:
        super().__init__()
        self.ask = ask
        self.max_epochs = max_epochs
        self.purpose = Purpose.SPACE
        self.current: Declaration | None = None
        self.log: TrialLog | None = None  # the running trial's
        self.callbacks: list[keras.callbacks.Callback] = []  # the grader's, per trial

    def build(self, hp: Any) -> Any:
        declaration = self.ask(self.purpose, request_of(hp))
        if declaration.outcome is Outcome.ERROR:
            error = declaration.error
            raise StudentFailure(f"{error.type}: {error.message}" if error else "build failed")
        if declaration.outcome is not Outcome.OK:
            raise Abort("; ".join(declaration.reasons))
        _declare(hp, declaration, 0, declaration.build_count)
        self.current = declaration
        if self.log is not None:
            self.log.declaration = declaration.key()
        config = with_float64(declaration.model, declaration.float64.model)
        model = keras.saving.deserialize_keras_object(config, custom_objects=None, safe_mode=True)
        if not isinstance(model, keras.Model):
            raise Abort(f"the declared model is a {type(model).__name__}")
        model.compile(**_compile_arguments(declaration))
        return model

    def fit(self, hp: Any, model: Any, x: Any, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        declaration = self.current
        if declaration is None or declaration.fit is None:
            raise Abort("fit before any declared build")
        _declare(hp, declaration, declaration.build_count, None)
        plan = declaration.fit
        tuner_callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks = _callbacks(plan.callbacks, tuner_callbacks, declaration.learning_rate)
        log = self.log or TrialLog()
        placed = [cb for cb in callbacks if any(cb is t for t in tuner_callbacks)]
        missing = [cb for cb in tuner_callbacks if not any(cb is p for p in placed)]
        log.restored_callbacks = [type(cb).__name__ for cb in missing]
        epochs = min(plan.epochs, self.max_epochs)
        log.requested_epochs = plan.epochs
        log.clamped_to = epochs if epochs != plan.epochs else None
        if args:  # the exam's positional validation: tuner.search(x, y, (x_val, y_val))
            kwargs["validation_data"] = args[0]
        return model.fit(
            x,
            y,
            batch_size=plan.batch_size,
            epochs=epochs,
            shuffle=plan.shuffle,
            callbacks=[*callbacks, *missing, *self.callbacks],
            verbose=0,
            **kwargs,
        )


def request_of(hp: Any) -> dict[str, Any]:
    """keras-tuner's `hp.get_config()`, plus the names of the values it holds as
    numpy.float64 (its Bayesian oracle's proposals), which JSON would make Python floats:
    the child gives the student's build what keras-tuner gives it in the notebook."""
    config = hp.get_config()
    float64 = sorted(name for name, value in hp.values.items() if type(value) is np.float64)
    if float64:
        config[FLOAT64] = float64
    return config


def with_float64(config: Any, paths: tuple[ConfigPath, ...]) -> Any:
    """A copy of a declared config with its float64 places numpy.float64 again, as the
    student's build made them: Keras keeps them through `from_config`, and a schedule
    built on one computes its rates in float64 (grader.child.declaration's docstring)."""
    config = json.loads(json.dumps(config))
    for path in paths:
        *parents, last = path
        place = config
        for step in parents:
            place = place[step]
        place[last] = np.float64(place[last])
    return config


def _declare(hp: Any, declaration: Declaration, start: int, stop: int | None) -> None:
    """Declare entries [start:stop] of the child's space on keras-tuner's `hp`, in order,
    and check that they take the values the child built with."""
    for entry in declaration.hyperparameters["space"][start:stop]:
        parameter = hp_types.deserialize(dict(entry))
        value = hp._retrieve(parameter)
        declared = declaration.values.get(parameter.name)
        if value != declared:
            raise Abort(
                f"hyperparameter {parameter.name}: the child built with {declared!r}, "
                f"the search gave {value!r}"
            )


def _compile_arguments(declaration: Declaration) -> dict[str, Any]:
    """`model.compile`'s arguments from the declared compile config, as Keras' own
    `compile_from_config` deserialises them (safe mode), without building the optimizer
    early: the student's compile leaves that to the first training step."""
    # A copy: Keras' deserialiser replaces nested configs by the objects it builds.
    config = with_float64(declaration.compile or {}, declaration.float64.compile)
    table = declaration.learning_rate
    arguments = keras.saving.deserialize_keras_object(config, safe_mode=True)
    if not isinstance(arguments, dict):
        raise Abort("the compile config is not a mapping")
    if table is not None:
        optimizer = arguments.get("optimizer")
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise Abort("a learning-rate table without a Keras optimizer")
        settings = optimizer.get_config()
        settings["learning_rate"] = TableSchedule(list(table.values))
        arguments["optimizer"] = type(optimizer).from_config(settings)
    return arguments


def _callbacks(
    plans: tuple[CallbackPlan, ...],
    tuner_callbacks: list[keras.callbacks.Callback],
    learning_rate: RateTable | None,
) -> list[keras.callbacks.Callback]:
    """The fit's callbacks in the declared order: the tuner's where the student put them."""
    given = iter(tuner_callbacks)
    out: list[keras.callbacks.Callback] = []
    for plan in plans:
        if plan.kind is CallbackKind.TUNER:
            tuner_callback = next(given, None)
            if tuner_callback is not None:
                out.append(tuner_callback)
        elif plan.kind is CallbackKind.KERAS:
            out.append(getattr(keras.callbacks, plan.class_name)(**dict(plan.args)))
        elif plan.rates is not None:
            if plan.rates.per is RatePer.EPOCH:
                out.append(_epoch_rates(plan.rates.values))
            else:
                out.append(_BatchRates(plan.rates.values))
    return out


class _Declared:
    """The grader's bookkeeping around keras-tuner's trials (a mixin, first in the bases)."""

    oracle: Any
    hypermodel: Any

    def _setup(self, request: SearchRequest, say: Say, started: float) -> None:
        self.request = request
        self.say = say
        self.submission_deadline = started + request.submission_seconds
        self.logs: dict[str, TrialLog] = {}
        self.order: list[str] = []
        self.number = 0
        self.stopped_for_time = False

    def pre_create_trial(self) -> None:
        if time.monotonic() >= self.submission_deadline and not self.stopped_for_time:
            self.stopped_for_time = True
            self.oracle.max_trials = len(self.oracle.trials)
        super().pre_create_trial()

    def on_trial_begin(self, trial: Any) -> None:
        self.number += 1
        log = self.logs.setdefault(trial.trial_id, TrialLog())
        self.order.append(trial.trial_id)
        model = self.hypermodel
        model.purpose, model.log = Purpose.TRIAL, log
        self._progress(ProgressEvent.TRIAL_START)
        super().on_trial_begin(trial)

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        log = self.logs[trial.trial_id]
        deadline = min(time.monotonic() + self.request.trial_seconds, self.submission_deadline)
        self.hypermodel.callbacks = [
            _TimeLimit(deadline, log),
            _Epochs(log, self._epoch),
        ]
        start = time.monotonic()
        try:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        finally:
            log.seconds += time.monotonic() - start

    def _epoch(self, epochs: int, logs: dict) -> None:
        value = logs.get(self.oracle.objective.name)
        self._progress(ProgressEvent.EPOCH_END, epoch=epochs, value=value)

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        log = self.logs.get(trial.trial_id, TrialLog())
        self._progress(ProgressEvent.TRIAL_END, epoch=log.epochs, value=trial.score)
        self.hypermodel.log = None

    def _progress(self, event: ProgressEvent, *, epoch: int = 0, value: Any = None) -> None:
        number = max(1, min(self.number, self.request.max_trials))
        finite = None if value is None or not math.isfinite(float(value)) else float(value)
        line = ProgressLine(
            event, number, self.request.max_trials, epoch, self.request.max_epochs, finite
        )
        self.say({"progress": line.to_json()})


class _Bayesian(_Declared, keras_tuner.BayesianOptimization):
    pass


class _Random(_Declared, keras_tuner.RandomSearch):
    pass


class _Hyperband(_Declared, keras_tuner.Hyperband):
    pass


def run(request: SearchRequest, data: Any, ask: Ask, say: Say) -> tuple[Any, dict[str, Any]]:
    """The search; returns (the best model or None, the trials as data)."""
    hypermodel = DeclaredHyperModel(ask, max_epochs=request.max_epochs)
    goal: Any = (
        keras_tuner.Objective(request.objective, request.direction)
        if request.direction
        else request.objective
    )
    common: dict[str, Any] = {
        "objective": goal,
        "executions_per_trial": request.executions_per_trial,
        "overwrite": True,
        "directory": f"{request.folder}/tuner",
        "project_name": "search",
    }
    started = time.monotonic()
    # Nothing may run between the seed and the tuner, as in the notebook: the oracle draws
    # its own seed from Python's freshly seeded `random`.
    keras.utils.set_random_seed(request.seed)
    tuner: Any
    if request.tuner == "Hyperband":
        tuner = _Hyperband(hypermodel, max_epochs=request.max_epochs, **common)
        tuner.oracle.max_trials = request.max_trials
    elif request.tuner == "RandomSearch":
        tuner = _Random(hypermodel, max_trials=request.max_trials, **common)
    else:
        tuner = _Bayesian(hypermodel, max_trials=request.max_trials, **common)
    tuner._setup(request, say, started)
    x, y, xy_val = data
    if request.validation == "xy_val":
        tuner.search(x, y, xy_val)
    elif request.validation == "validation_data":
        tuner.search(x, y, validation_data=xy_val)
    else:
        tuner.search(x, y, validation_split=request.validation_split)
    trials = [_trial(tuner, trial_id) for trial_id in tuner.order]
    completed = [t for t in trials if t["score"] is not None]
    best_model = None
    best: dict[str, Any] | None = None
    if completed:
        best_trial = tuner.oracle.get_best_trials(1)[0]
        hypermodel.purpose = Purpose.BEST
        best_model = tuner.get_best_models(num_models=1)[0]
        best = {
            "trial_id": str(best_trial.trial_id),
            "hyperparameters": _values(best_trial.hyperparameters.values),
            "score": float(best_trial.score),
            # What the best trial trained (a rebuild that declared something else must not
            # be what is judged: the weights are the trial's).
            "declaration": tuner.logs[best_trial.trial_id].declaration
            if best_trial.trial_id in tuner.logs
            else "",
        }
    notes = []
    if tuner.stopped_for_time:
        notes.append("search_stopped_for_time")
    if any(tuner.logs[t].restored_callbacks for t in tuner.order):
        notes.append("callbacks_restored")
    if any(tuner.logs[t].clamped_to is not None for t in tuner.order):
        notes.append("epochs_clamped")
    return best_model, {"trials": trials, "best": best, "notes": notes}


def _trial(tuner: Any, trial_id: str) -> dict[str, Any]:
    trial = tuner.oracle.trials[trial_id]
    log = tuner.logs[trial_id]
    status = str(trial.status).upper()
    if status == "COMPLETED":
        status = "stopped" if log.stopped_by_time else "completed"
    elif status == "FAILED":
        status = "failed"
    else:
        status = "invalid"
    score = trial.score
    return {
        "id": str(trial_id),
        "hyperparameters": _values(trial.hyperparameters.values),
        "score": None if score is None or not math.isfinite(float(score)) else float(score),
        "epochs": log.epochs,
        "seconds": round(log.seconds, 3),
        "status": status,
        "history": log.history,
        "message": "\n".join((trial.message or "").strip().splitlines()[-12:]),
        "fit_calls": [
            {
                "requested_epochs": log.requested_epochs,
                "clamped_to": log.clamped_to,
                "restored_callbacks": log.restored_callbacks,
                "stopped_by_time": log.stopped_by_time,
            }
        ]
        if log.requested_epochs is not None
        else [],
        "declaration": log.declaration,
    }


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, bool | int | float | str) or v is None else str(v)
        for k, v in values.items()
    }
