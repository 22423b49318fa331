"""The bounded search (runs in the child, around the student's MyHyperModel).

The grader, not the student, builds the tuner, exactly as the exam does:
`BayesianOptimization(MyHyperModel(), objective="val_accuracy", max_trials=...,
executions_per_trial=1, overwrite=True)` right after `keras.utils.set_random_seed(seed)`,
and `tuner.search(x, y, (x_val, y_val))`. The spec's [calling] may name RandomSearch or
Hyperband instead (built the same way; Hyperband's `max_epochs` is the budget's, and its
trials are capped at the budget's max_trials too), an objective direction, and
`validation_data=` or `validation_split=` as the way `search` receives validation.
The budget is enforced from outside the student's code:

- every `Model.fit` the student's `fit` makes is clamped to `max_epochs` (the student's
  EarlyStopping still applies inside that);
- a trial's training stops cleanly (at a batch boundary, validation still runs) when the
  trial's or the submission's time is up, and the epochs done count;
- no new trial starts once the submission's time is up: the finished trials count;
- the tuner's own callbacks (its best-epoch checkpoint among them) are put back when the
  student's `fit` drops them, and that is recorded;
- every trial's start, epochs and end are appended to `<scratch>/progress.jsonl`
  (`ProgressWriter`, format in `grader.child.protocol.ProgressLine`), one flushed line each.

All of this is Python patching inside the student's own process, so it holds only for
honest code: student code can undo any of it. What bounds a hostile submission is outside
the child: the parent times each trial from progress.jsonl with its own clock
(`grader.limits.TrialClock`) and kills the child at the hard limit when it says nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from grader.child.protocol import (
    PROGRESS_SOFT_LIMIT,
    ProgressEvent,
    ProgressLine,
    TrialStatus,
)


@dataclass(frozen=True)
class SearchLimits:
    max_trials: int
    max_epochs: int
    trial_seconds: float
    submission_seconds: float


@dataclass(frozen=True)
class TunerSetup:
    """The search as the spec's [calling] runs it: the tuner class, its objective (and
    direction: "" lets keras-tuner infer it, as the exam does), the executions per trial,
    the notebook's seed, and how `tuner.search` receives the validation data."""

    seed: int
    objective: str
    executions_per_trial: int = 1
    tuner: str = "BayesianOptimization"
    direction: str = ""
    validation: str = "xy_val"  # xy_val, validation_data or validation_split
    validation_split: float | None = None


@dataclass(frozen=True)
class TunerFolder:
    """Where the tuner writes: keras-tuner's `directory`/`project_name`, and the
    progress.jsonl the parent times each trial from (None: no progress lines)."""

    directory: Path
    project_name: str = "search"
    progress: Path | None = None


@dataclass
class FitCall:
    """What one guarded `Model.fit` call asked for and what the grader changed."""

    requested_epochs: int | None
    clamped_to: int | None
    restored_callbacks: list[str]
    stopped_by_time: bool = False


@dataclass
class TrialLog:
    """The grader's own account of a trial, filled by the guard while it trains."""

    fit_calls: list[FitCall] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0


class _TimeLimit(keras.callbacks.Callback):
    """Stops training at the next batch once the deadline (time.monotonic) has passed."""

    def __init__(self, deadline: float, call: FitCall) -> None:
        super().__init__()
        self.deadline = deadline
        self.call = call

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True
            self.call.stopped_by_time = True


class ProgressWriter:
    """Appends progress lines to one file; each line is one unbuffered `write`.

    O_APPEND and a single write per line keep every line whole, so the parent never reads
    half a line from an honest child. Epoch lines stop at PROGRESS_SOFT_LIMIT (trial lines
    go on): the parent's cap is twice that, and an honest child must never reach it.
    """

    def __init__(self, path: Path | None, *, trials: int, epochs: int) -> None:
        self.trials, self.epochs = trials, epochs
        self.written = 0
        self._fd: int | None = None
        if path is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._fd = os.open(path, flags, 0o644)

    def write(
        self, event: ProgressEvent, trial: int, *, epoch: int = 0, value: float | None = None
    ) -> None:
        if self._fd is None:
            return
        line = ProgressLine(event, trial, self.trials, epoch, self.epochs, _finite(value))
        data = (line.to_json() + "\n").encode("utf-8")
        if event is ProgressEvent.EPOCH_END and self.written + len(data) > PROGRESS_SOFT_LIMIT:
            return
        self.written += len(data)
        os.write(self._fd, data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _EpochRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs, whatever the student's fit returns, and reports each epoch."""

    def __init__(self, log: TrialLog, on_epoch: Callable[[int, dict], None] | None = None):
        super().__init__()
        self.log = log
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.log.epochs += 1
        for key, value in (logs or {}).items():
            self.log.history.setdefault(key, []).append(float(value))
        if self.on_epoch is not None:
            self.on_epoch(self.log.epochs, dict(logs or {}))


_ORIGINAL_FIT = keras.Model.fit
_FIT_SIGNATURE = inspect.signature(_ORIGINAL_FIT)
# Every class `keras.Model.fit` resolves through (the backend trainer, TensorFlowTrainer
# here): a student calling `TensorFlowTrainer.fit(model, ...)` reaches training without
# `keras.Model.fit`, so the guard is put on each of them too.
_FIT_OWNERS = tuple(cls for cls in keras.Model.__mro__ if cls.__dict__.get("fit") is _ORIGINAL_FIT)


@contextlib.contextmanager
def guarded_fit(
    *,
    max_epochs: int,
    deadline: float,
    tuner_callbacks: list[keras.callbacks.Callback],
    log: TrialLog,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> Iterator[None]:
    """Replace `keras.Model.fit` while one trial runs; always restored afterwards.

    Patching the classes (not the model) catches every way an honest fit reaches
    training: `M.fit(...)`, `super().fit` in a subclassed model, a helper function, the
    backend trainer's `fit` called directly. `on_epoch(epochs_so_far, logs)` runs after
    each epoch.
    """

    def fit(model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        bound = _FIT_SIGNATURE.bind(model, *args, **kwargs)
        arguments = bound.arguments
        extra = arguments.pop("kwargs", {})
        requested = arguments.get("epochs", 1)
        epochs = min(int(requested), max_epochs) if requested is not None else max_epochs
        callbacks = list(arguments.get("callbacks") or [])
        missing = [cb for cb in tuner_callbacks if not any(cb is c for c in callbacks)]
        call = FitCall(
            requested_epochs=requested,
            clamped_to=epochs if requested != epochs else None,
            restored_callbacks=[type(cb).__name__ for cb in missing],
        )
        log.fit_calls.append(call)
        callbacks += missing
        callbacks += [_TimeLimit(deadline, call), _EpochRecorder(log, on_epoch)]
        arguments.update(epochs=epochs, callbacks=callbacks, verbose=0)
        return _ORIGINAL_FIT(**arguments, **extra)

    owners = (keras.Model, *_FIT_OWNERS)
    saved = [(cls, cls.__dict__.get("fit")) for cls in owners]
    for cls in owners:
        cls.fit = fit
    try:
        yield
    finally:
        for cls, previous in saved:
            if previous is None:
                del cls.fit  # keras.Model inherits fit: leave no attribute of ours behind
            else:
                cls.fit = previous


class _Bounded:
    """The grader's budget around each trial of any keras-tuner tuner (a mixin: it comes
    first in the bases, the tuner class second)."""

    oracle: Any

    def _bound(
        self,
        *,
        limits: SearchLimits,
        started: float,
        on_trial_end: Callable[[TrialLog, Any], None] | None,
        progress: ProgressWriter | None,
    ) -> None:
        self.limits = limits
        self.submission_deadline = started + limits.submission_seconds
        self.trial_logs: dict[str, TrialLog] = {}
        self.stopped_for_time = False
        self._on_trial_end_hook = on_trial_end
        self.progress = progress or ProgressWriter(
            None, trials=limits.max_trials, epochs=limits.max_epochs
        )
        self.trial_number = 0  # 1-based index of the running trial, as progress lines count

    def pre_create_trial(self) -> None:
        # Ending the search through the oracle's own max_trials makes keras-tuner stop
        # as it does at the end of a full search: finished trials stay, nothing aborts.
        if time.monotonic() >= self.submission_deadline and not self.stopped_for_time:
            self.stopped_for_time = True
            self.oracle.max_trials = len(self.oracle.trials)
        super().pre_create_trial()

    def on_trial_begin(self, trial: Any) -> None:
        self.trial_number += 1
        self.progress.write(ProgressEvent.TRIAL_START, self.trial_number)
        super().on_trial_begin(trial)

    def _report_epoch(self, epochs: int, logs: dict) -> None:
        value = logs.get(self.oracle.objective.name)
        self.progress.write(
            ProgressEvent.EPOCH_END,
            self.trial_number,
            epoch=epochs,
            value=None if value is None else float(value),
        )

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        log = self.trial_logs.setdefault(trial.trial_id, TrialLog())
        deadline = min(time.monotonic() + self.limits.trial_seconds, self.submission_deadline)
        start = time.monotonic()
        try:
            with guarded_fit(
                max_epochs=self.limits.max_epochs,
                deadline=deadline,
                tuner_callbacks=list(kwargs.get("callbacks") or []),
                log=log,
                on_epoch=self._report_epoch,
            ):
                return super()._build_and_fit_model(trial, *args, **kwargs)
        finally:
            log.seconds += time.monotonic() - start

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        log = self.trial_logs.get(trial.trial_id, TrialLog())
        if self._on_trial_end_hook is not None:
            self._on_trial_end_hook(log, trial)
        # After the answer holds the trial: whatever the parent sees ended is in response.json.
        score = trial.score
        self.progress.write(
            ProgressEvent.TRIAL_END,
            self.trial_number,
            epoch=log.epochs,
            value=None if score is None else float(score),
        )


def trial_status(trial: Any, log: TrialLog) -> TrialStatus:
    status = str(trial.status).upper()
    if status == "COMPLETED":
        stopped = any(call.stopped_by_time for call in log.fit_calls)
        return TrialStatus.STOPPED if stopped else TrialStatus.COMPLETED
    if status == "FAILED":
        return TrialStatus.FAILED
    return TrialStatus.INVALID


def trial_record(trial: Any, log: TrialLog, objective: str) -> dict[str, Any]:
    """A trial as plain data (the child's answer is JSON, never objects)."""
    score = trial.score
    return {
        "id": str(trial.trial_id),
        "hyperparameters": {k: _plain(v) for k, v in trial.hyperparameters.values.items()},
        objective: None if score is None else float(score),
        "epochs": log.epochs,
        "seconds": round(log.seconds, 3),
        "status": trial_status(trial, log).value,
        "history": log.history,
        "message": _last_lines(trial.message or "", 12),
        "fit_calls": [call.__dict__ for call in log.fit_calls],
    }


class BoundedBayesianOptimization(_Bounded, keras_tuner.BayesianOptimization):
    """keras-tuner's BayesianOptimization with the grader's budget around each trial."""

    def __init__(self, hypermodel: Any, *, limits: SearchLimits, started: float,
                 on_trial_end: Callable[[TrialLog, Any], None] | None = None,
                 progress: ProgressWriter | None = None, **kwargs: Any) -> None:  # fmt: skip
        keras_tuner.BayesianOptimization.__init__(
            self, hypermodel, max_trials=limits.max_trials, **kwargs
        )
        self._bound(limits=limits, started=started, on_trial_end=on_trial_end, progress=progress)


class BoundedRandomSearch(_Bounded, keras_tuner.RandomSearch):
    """keras-tuner's RandomSearch with the grader's budget around each trial."""

    def __init__(self, hypermodel: Any, *, limits: SearchLimits, started: float,
                 on_trial_end: Callable[[TrialLog, Any], None] | None = None,
                 progress: ProgressWriter | None = None, **kwargs: Any) -> None:  # fmt: skip
        keras_tuner.RandomSearch.__init__(self, hypermodel, max_trials=limits.max_trials, **kwargs)
        self._bound(limits=limits, started=started, on_trial_end=on_trial_end, progress=progress)


class BoundedHyperband(_Bounded, keras_tuner.Hyperband):
    """keras-tuner's Hyperband with the grader's budget around each trial.

    Hyperband sizes its brackets from `max_epochs` (the budget's) and sets each trial's
    `epochs`/`initial_epoch` itself; its oracle has no trial count, so the budget's
    max_trials is set on it as on the others: the oracle's own stop ends the search, and
    the progress lines' trial numbers stay within their declared total.
    """

    def __init__(self, hypermodel: Any, *, limits: SearchLimits, started: float,
                 on_trial_end: Callable[[TrialLog, Any], None] | None = None,
                 progress: ProgressWriter | None = None, **kwargs: Any) -> None:  # fmt: skip
        keras_tuner.Hyperband.__init__(self, hypermodel, max_epochs=limits.max_epochs, **kwargs)
        self.oracle.max_trials = limits.max_trials
        self._bound(limits=limits, started=started, on_trial_end=on_trial_end, progress=progress)


TUNERS: dict[str, type] = {
    "BayesianOptimization": BoundedBayesianOptimization,
    "RandomSearch": BoundedRandomSearch,
    "Hyperband": BoundedHyperband,
}


def make_tuner(
    hypermodel: keras_tuner.HyperModel,
    setup: TunerSetup,
    *,
    limits: SearchLimits,
    folder: TunerFolder,
    on_trial_end: Callable[[TrialLog, Any], None] | None = None,
) -> Any:
    """The tuner the exam builds (or the spec's [calling] tuner), with the grader's budget
    around each trial.

    Seeded exactly as the exam's notebook: `keras.utils.set_random_seed(seed)` and then
    the tuner *without* an oracle seed, so the oracle draws its seed from the freshly
    seeded Python RNG (`random.randint(1, 10000)`), as it does in the student's notebook.
    Passing `seed=` would run a different search from the one the student ran.
    The same holds for RandomSearch and Hyperband, whose oracles draw their seed the same
    way. `folder.progress` is the progress.jsonl to append to (None: no progress lines).
    `setup.direction` ("max"/"min") makes the objective a `keras_tuner.Objective`; ""
    passes the name alone, as the exam does, and keras-tuner infers the direction.
    """
    if setup.tuner not in TUNERS:  # the parent validated it; a request is still checked here
        raise ValueError(f"unknown tuner {setup.tuner!r}; known: {', '.join(TUNERS)}")
    objective = setup.objective
    goal: Any = keras_tuner.Objective(objective, setup.direction) if setup.direction else objective
    # Built before the seed is set: creating the progress file draws no random numbers,
    # but nothing else may run between the seed and the tuner, as in the notebook.
    writer = ProgressWriter(folder.progress, trials=limits.max_trials, epochs=limits.max_epochs)
    keras.utils.set_random_seed(setup.seed)
    return TUNERS[setup.tuner](
        hypermodel,
        limits=limits,
        started=time.monotonic(),
        on_trial_end=on_trial_end,
        progress=writer,
        objective=goal,
        executions_per_trial=setup.executions_per_trial,
        overwrite=True,
        directory=str(folder.directory),
        project_name=folder.project_name,
    )


def search_call(
    tuner: Any,
    data: tuple[Any, Any, tuple[Any, Any]],
    validation: str = "xy_val",
    validation_split: float | None = None,
) -> None:
    """`tuner.search` called as the spec's [calling] says.

    "xy_val" is the exam's `tuner.search(x_train, y_train, (x_val, y_val))`;
    "validation_data" passes `validation_data=(x_val, y_val)`; "validation_split" passes
    the training data alone with `validation_split=` (Keras holds out its last fraction).
    """
    x, y, xy_val = data
    if validation == "xy_val":
        tuner.search(x, y, xy_val)
    elif validation == "validation_data":
        tuner.search(x, y, validation_data=xy_val)
    elif validation == "validation_split":
        tuner.search(x, y, validation_split=validation_split)
    else:
        raise ValueError(f"unknown validation {validation!r}")


def run_search(
    hypermodel: keras_tuner.HyperModel,
    data: tuple[Any, Any, tuple[Any, Any]],
    setup: TunerSetup,
    *,
    limits: SearchLimits,
    folder: TunerFolder,
) -> Any:
    """Run the search the exam runs (or the spec's), under the budget; returns the tuner."""
    tuner = make_tuner(hypermodel, setup, limits=limits, folder=folder)
    search_call(tuner, data, setup.validation, setup.validation_split)
    return tuner


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _last_lines(text: str, n: int) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:])
