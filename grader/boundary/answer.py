"""The child's answer (`response.json`) parsed once into frozen dataclasses: `ChildAnswer`
and its parts, `parse_answer` and `parse_answer_data`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from grader.boundary import values as v
from grader.boundary.probe import ProbeRecord
from grader.boundary.values import (
    MAX_EPOCHS,
    MAX_HISTORY,
    MAX_NAME,
    MAX_SECONDS,
    MAX_TRIALS,
    BoundaryError,
    IncompleteAnswer,
    Scalar,
)
from grader.child.protocol import PROTOCOL, TrialStatus
from grader.results import Location

STAGES = ("start", "load", "probe", "serve", "search")  # the stages the child goes through
ANSWER_STATUSES = ("running", "serving", "ok", "error")


class AnswerStatus(StrEnum):
    RUNNING = "running"  # a partial answer: the child was stopped or died mid-way
    SERVING = "serving"  # the probe is done; it answers declarations (grader.runner.ChildSession)
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class ChildError:
    """The exception that ended the child's run, as it described it."""

    type: str
    message: str
    location: Location | None  # where in the student's file, when the traceback says


@dataclass(frozen=True)
class ChildFitCall:
    """One guarded `Model.fit` call of a trial (grader.child.search.FitCall)."""

    requested_epochs: Scalar  # what the student passed, as it was written
    clamped_to: int | None
    restored_callbacks: tuple[str, ...]
    stopped_by_time: bool


@dataclass(frozen=True)
class ChildTrial:
    id: str
    hyperparameters: Mapping[str, Scalar]
    objective_value: float | None  # the search objective (an accuracy), None if not scored
    epochs: int
    seconds: float
    status: TrialStatus
    history: Mapping[str, tuple[float | None, ...]]  # per metric, per epoch; NaN as None
    message: str
    fit_calls: tuple[ChildFitCall, ...]


@dataclass(frozen=True)
class BestModel:
    trial_id: str
    hyperparameters: Mapping[str, Scalar]
    objective_value: float | None
    model_json: str | None  # plain file names inside the scratch folder
    weights: str | None
    model_file: str | None  # None: the whole model could not be saved
    optimizer_class: str | None


@dataclass(frozen=True)
class ImportFailure:
    location: Location
    message: str


@dataclass(frozen=True)
class ChildAnswer:
    """Everything the child said, checked once (`parse_answer`)."""

    objective: str  # the objective the answer was read for (the trials' and best's key)
    status: AnswerStatus
    message: str
    stage: str  # one of STAGES
    error: ChildError | None
    probe: ProbeRecord | None
    trials: tuple[ChildTrial, ...]
    best: BestModel | None
    notes: tuple[str, ...]  # codes (grader.score.NOTES); unknown ones are never shown
    import_failures: tuple[ImportFailure, ...]
    timings: Mapping[str, float]  # seconds per child stage
    versions: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The answer in the child's JSON form again, plus its objective (for storage):
        `parse_answer_data(d, objective=d["objective"])` reads it back to an equal answer."""

        def location(loc: Location | None) -> dict[str, Any] | None:
            return None if loc is None else {"cell": loc.cell, "line": loc.line}

        best = self.best
        return {
            "protocol": PROTOCOL,
            "objective": self.objective,  # not the child's: the key its trials are read by
            "status": self.status.value,
            "message": self.message,
            "stage": self.stage,
            "error": None
            if self.error is None
            else {
                "type": self.error.type,
                "message": self.error.message,
                "location": location(self.error.location),
            },
            "probe": None if self.probe is None else self.probe.to_dict(),
            "trials": [
                {
                    "id": t.id,
                    "hyperparameters": dict(t.hyperparameters),
                    self.objective: t.objective_value,
                    "epochs": t.epochs,
                    "seconds": t.seconds,
                    "status": t.status.value,
                    "history": {k: list(v) for k, v in t.history.items()},
                    "message": t.message,
                    "fit_calls": [
                        {
                            "requested_epochs": c.requested_epochs,
                            "clamped_to": c.clamped_to,
                            "restored_callbacks": list(c.restored_callbacks),
                            "stopped_by_time": c.stopped_by_time,
                        }
                        for c in t.fit_calls
                    ],
                }
                for t in self.trials
            ],
            "best": None
            if best is None
            else {
                "trial_id": best.trial_id,
                "hyperparameters": dict(best.hyperparameters),
                self.objective: best.objective_value,
                "model_json": best.model_json,
                "weights": best.weights,
                "model_file": best.model_file,
                "optimizer_class": best.optimizer_class,
            },
            "notes": list(self.notes),
            "import_failures": [
                {"cell": f.location.cell, "line": f.location.line, "message": f.message}
                for f in self.import_failures
            ],
            "timings": dict(self.timings),
            "versions": dict(self.versions),
        }


def _file_name(value: Any, path: str, walk: v.Walk) -> str:
    """A model file the parent will look for: one plain name inside the scratch folder."""
    if not isinstance(value, str) or not value or len(value) > 100:
        raise v.refuse(
            path, value, "a model file must be a plain file name of at most 100 characters"
        )
    if value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise v.refuse(path, value, "a model file must be a plain file name in the scratch folder")
    return value


_NAMES = v.list_of(v.text(MAX_NAME), 1000, clip=True)
_SECONDS = v.number(0, MAX_SECONDS, "seconds", as_float=True)
_HYPERPARAMETERS = v.mapping_of(v.scalar(), 100)


def _field(data: Mapping[str, Any], key: str, parser: v.Parser, walk: v.Walk, default: Any) -> Any:
    """`data[key]` parsed; `default` when absent (an early partial answer lacks keys)."""
    if key not in data or (data[key] is None and default is None):
        return default
    return parser(data[key], key, walk)


def _child_error(value: Any, path: str, walk: v.Walk) -> ChildError:
    if not isinstance(value, Mapping):
        raise v.refuse(path, value, f"it must be an object, not {v.kind(value)}")
    location = value.get("location")
    return ChildError(
        type=v.text(MAX_NAME)(value.get("type", "Error"), f"{path}.type", walk),
        message=v.text()(value.get("message", ""), f"{path}.message", walk),
        location=None if location is None else v.location_of(location, f"{path}.location", walk),
    )


def _fit_call(value: Any, path: str, walk: v.Walk) -> ChildFitCall:
    if not isinstance(value, Mapping):
        raise v.refuse(path, value, f"it must be an object, not {v.kind(value)}")
    return ChildFitCall(
        requested_epochs=v.scalar()(
            value.get("requested_epochs"), f"{path}.requested_epochs", walk
        ),
        clamped_to=v.maybe(v.integer(0, MAX_EPOCHS, "epochs"))(
            value.get("clamped_to"), f"{path}.clamped_to", walk
        ),
        restored_callbacks=_NAMES(
            value.get("restored_callbacks", []), f"{path}.restored_callbacks", walk
        ),
        stopped_by_time=v.flag(
            value.get("stopped_by_time", False), f"{path}.stopped_by_time", walk
        ),
    )


def _history(objective: str) -> v.Parser:
    # Losses may diverge (NaN, inf: kept as None, as result.json writes them); an
    # accuracy Keras logs is a fraction, so one outside [0, 1] is refused.
    fractions = {"accuracy", "val_accuracy", objective}
    numbers = v.list_of(v.optional_float, MAX_HISTORY)

    def parse(value: Any, path: str, walk: v.Walk) -> Mapping[str, tuple[float | None, ...]]:
        if not isinstance(value, Mapping):
            raise v.refuse(path, value, f"it must be an object, not {v.kind(value)}")
        if len(value) > 200:
            raise v.refuse(path, value, "at most 200 metrics are allowed")
        out = {}
        for key, values in value.items():
            sub = f"{path}.{v.object_key(key, path)}"
            out[key] = numbers(values, sub, walk)
            if key in fractions:
                for i, number in enumerate(out[key]):
                    if number is not None:
                        v.fraction(number, f"{sub}[{i}]", walk)
        return MappingProxyType(out)

    return parse


def _trial(objective: str) -> v.Parser:
    history = _history(objective)

    def parse(value: Any, path: str, walk: v.Walk) -> ChildTrial:
        if not isinstance(value, Mapping):
            raise v.refuse(path, value, f"a trial must be an object, not {v.kind(value)}")
        get = value.get
        status = v.choice(*(s.value for s in TrialStatus))(
            get("status", TrialStatus.INVALID.value), f"{path}.status", walk
        )
        return ChildTrial(
            id=v.name(100)(get("id"), f"{path}.id", walk),
            hyperparameters=_HYPERPARAMETERS(
                get("hyperparameters", {}), f"{path}.hyperparameters", walk
            ),
            objective_value=v.maybe(v.fraction)(get(objective), f"{path}.{objective}", walk),
            epochs=v.integer(0, MAX_EPOCHS, "epochs")(get("epochs", 0), f"{path}.epochs", walk),
            seconds=_SECONDS(get("seconds", 0.0), f"{path}.seconds", walk),
            status=TrialStatus(status),
            history=history(get("history") or {}, f"{path}.history", walk),
            message=v.text()(get("message") or "", f"{path}.message", walk),
            fit_calls=v.list_of(_fit_call, 1000, clip=True)(
                get("fit_calls", []), f"{path}.fit_calls", walk
            ),
        )

    return parse


def _best(objective: str) -> v.Parser:
    def parse(value: Any, path: str, walk: v.Walk) -> BestModel:
        if not isinstance(value, Mapping):
            raise v.refuse(path, value, f"it must be an object, not {v.kind(value)}")
        get = value.get
        name = v.maybe(_file_name)
        return BestModel(
            trial_id=v.name(100)(get("trial_id"), f"{path}.trial_id", walk),
            hyperparameters=_HYPERPARAMETERS(
                get("hyperparameters", {}), f"{path}.hyperparameters", walk
            ),
            objective_value=v.maybe(v.fraction)(get(objective), f"{path}.{objective}", walk),
            model_json=name(get("model_json"), f"{path}.model_json", walk),
            weights=name(get("weights"), f"{path}.weights", walk),
            model_file=name(get("model_file"), f"{path}.model_file", walk),
            optimizer_class=v.maybe(v.text(MAX_NAME))(
                get("optimizer_class"), f"{path}.optimizer_class", walk
            ),
        )

    return parse


def _import_failure(value: Any, path: str, walk: v.Walk) -> ImportFailure:
    if not isinstance(value, Mapping):
        raise v.refuse(path, value, f"it must be an object, not {v.kind(value)}")
    return ImportFailure(
        location=v.location_of(value, path, walk),
        message=v.text(2000)(value.get("message", ""), f"{path}.message", walk),
    )


def parse_answer(raw: bytes, *, objective: str) -> ChildAnswer:
    """The child's `response.json` bytes as a checked `ChildAnswer`.

    Raises `IncompleteAnswer` when the bytes are empty or not one whole JSON document (the
    child had not written it yet, or died writing it), `BoundaryError` for anything else
    the grader will not read; the message names the field and what is wrong with it.
    """
    if not raw.strip():
        raise IncompleteAnswer("the child's answer is empty")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BoundaryError(
            "the child's answer is nested too deeply for the grader to read"
        ) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise IncompleteAnswer(f"the child's answer is not a whole JSON document ({exc})") from None
    return parse_answer_data(data, objective=objective)


def parse_answer_data(data: Any, *, objective: str) -> ChildAnswer:
    """`parse_answer` for an already decoded JSON value (a stored `ChildAnswer.to_dict()`)."""
    if not isinstance(data, Mapping):
        raise BoundaryError(f"the child's answer is {v.kind(data)}, not a JSON object")
    protocol = data.get("protocol")
    if type(protocol) is not int or protocol != PROTOCOL:
        raise v.refuse("protocol", protocol, f"the grader speaks protocol {PROTOCOL}")
    walk = v.Walk()
    status = v.choice(*ANSWER_STATUSES)(data.get("status"), "status", walk)
    probe = data.get("probe")
    return ChildAnswer(
        objective=objective,
        status=AnswerStatus(status),
        message=_field(data, "message", v.text(), walk, ""),
        stage=_field(data, "stage", v.choice(*STAGES), walk, "start"),
        error=_field(data, "error", _child_error, walk, None),
        probe=None if probe is None else ProbeRecord.parse(probe, walk=walk),
        trials=_field(data, "trials", v.list_of(_trial(objective), MAX_TRIALS), walk, ()),
        best=_field(data, "best", _best(objective), walk, None),
        notes=_field(data, "notes", v.list_of(v.name(100), 50), walk, ()),
        import_failures=_field(
            data, "import_failures", v.list_of(_import_failure, 200, clip=True), walk, ()
        ),
        timings=_field(
            data, "timings", v.mapping_of(_SECONDS, 50, 100), walk, MappingProxyType({})
        ),
        versions=_field(
            data, "versions", v.mapping_of(v.name(100), 50, 100), walk, MappingProxyType({})
        ),
    )
