"""What the parent and the trainer say to each other, one JSON line each way.

Imported by both (no TensorFlow here). The parent writes requests on the trainer's stdin
and reads answers on its stdout; during a search the trainer also asks the parent, on
the same channel, for the submission's declaration at a trial's hyperparameters
(`NEED_DECLARATION`), and the parent answers with the checked `Declaration` or an abort.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

LOG_FILE = "evaluator.log"
NEED_DECLARATION = "declare"  # trainer -> parent: {"need": "declare", "n", "purpose", ...}
PROGRESS = "progress"  # trainer -> parent: {"progress": ProgressLine fields}
# How the trainer asks for declarations and trains them: part of every stored search's and
# shared training's key, bumped when the same declarations would train other numbers, so
# nothing trained the old way is ever reused. 2: numpy.float64 values and config entries
# kept as such (before, the Bayesian trials' float64 schedules trained in float32).
TRAINER_FORMAT = 2


class InitialWeights:
    """What the trainer found comparing the child's initial weights with a fresh build."""

    SAME = "same"
    DIFFERENT = "different"
    UNCHECKED = "unchecked"  # nothing to compare, or the comparison could not be made


class Purpose:
    """Why the trainer asks for a declaration (keras-tuner's own calls of `build`)."""

    SPACE = "space"  # keras-tuner reads the search space before the first trial
    TRIAL = "trial"  # a trial's model
    BEST = "best"  # the best trial's model, rebuilt to load its best epoch


@dataclass(frozen=True)
class SearchRequest:
    """Parent -> trainer: run the search on the declarations the parent will relay."""

    folder: str  # the trainer's own folder for this request (tuner files, predictions)
    split_dir: str  # the prepared training and validation arrays
    subset: int | None
    seed: int
    tuner: str  # BayesianOptimization, RandomSearch or Hyperband
    objective: str
    direction: str  # "" (keras-tuner infers it), "max" or "min"
    executions_per_trial: int
    max_trials: int
    max_epochs: int
    trial_seconds: float
    submission_seconds: float
    validation: str  # xy_val, validation_data or validation_split
    validation_split: float | None
    images: str | None  # the test images (.npy) the best model predicts; None: no test

    def to_line(self) -> dict[str, Any]:
        return {"op": "search", **asdict(self)}

    @classmethod
    def from_line(cls, data: dict[str, Any]) -> SearchRequest:
        fields = {k: v for k, v in data.items() if k != "op"}
        return cls(**fields)


class TrainerStatus:
    """How a trainer's answer ended."""

    OK = "ok"
    ABORTED = "aborted"  # the parent refused a declaration (the answer's message says why)
    STUDENT_ERROR = "student_error"  # the declared model or fit failed while training
    ERROR = "error"  # the grader's own failure (a bug, a model it could not rebuild)


def _text(value: Any, limit: int = 2000) -> str:
    return "" if value is None else str(value)[:limit]


@dataclass(frozen=True)
class SearchTrial:
    """One trial of the trainer's search, as keras-tuner ran it."""

    id: str
    hyperparameters: dict[str, Any]
    score: float | None  # the objective; None when the trial was not scored
    epochs: int
    seconds: float
    status: str  # completed, stopped (by the trial clock), failed or invalid
    history: dict[str, list[float | None]]  # per metric, per epoch
    message: str
    fit_calls: tuple[dict[str, Any], ...]  # the capped fit: requested_epochs, clamped_to, ...
    declaration: str | None  # the key of the declaration the trial trained

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchTrial:
        return cls(
            id=str(data["id"]),
            hyperparameters=dict(data.get("hyperparameters") or {}),
            score=data.get("score"),
            epochs=int(data.get("epochs") or 0),
            seconds=float(data.get("seconds") or 0.0),
            status=str(data.get("status", "invalid")),
            history={k: list(v) for k, v in (data.get("history") or {}).items()},
            message=_text(data.get("message")),
            fit_calls=tuple(dict(c) for c in data.get("fit_calls") or ()),
            declaration=data.get("declaration"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fit_calls": [dict(c) for c in self.fit_calls]}


@dataclass(frozen=True)
class SearchBest:
    """The search's best trial and the key of the declaration it trained."""

    trial_id: str
    hyperparameters: dict[str, Any]
    score: float
    declaration: str  # "" when the trial's log was lost

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchBest:
        return cls(
            trial_id=str(data["trial_id"]),
            hyperparameters=dict(data.get("hyperparameters") or {}),
            score=float(data["score"]),
            declaration=str(data.get("declaration") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchAnswer:
    """Trainer -> parent: how a `SearchRequest` ended (`grader.trainer.server.search`). It is
    also what `training.SearchStore` keeps of a search, read back with `from_json`."""

    status: str  # a TrainerStatus
    message: str = ""
    detail: str = ""  # the end of a traceback, for grader.log
    trials: tuple[SearchTrial, ...] = ()
    best: SearchBest | None = None
    notes: tuple[str, ...] = ()  # search_stopped_for_time, callbacks_restored, epochs_clamped
    predictions: str | None = None  # the best model's test predictions (.npy), when asked

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchAnswer:
        best = data.get("best")
        return cls(
            status=str(data.get("status")),
            message=_text(data.get("message")),
            detail=_text(data.get("detail")),
            trials=tuple(SearchTrial.from_json(t) for t in data.get("trials") or ()),
            best=SearchBest.from_json(best) if best else None,
            notes=tuple(str(n) for n in data.get("notes") or ()),
            predictions=None if data.get("predictions") is None else str(data["predictions"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "detail": self.detail,
            "trials": [t.to_json() for t in self.trials],
            "best": None if self.best is None else self.best.to_json(),
            "notes": list(self.notes),
            "predictions": self.predictions,
        }


@dataclass(frozen=True)
class PredictAnswer:
    """Trainer -> parent: a fallback's best model rebuilt and predicted (`serve`)."""

    status: str  # a TrainerStatus: ok or error
    message: str = ""
    predictions: str | None = None  # the predictions' file (.npy); None: no images asked
    iterations: int | None = None  # the optimizer's step counter saved with the weights
    initial_weights: str = InitialWeights.UNCHECKED
    initial_detail: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PredictAnswer:
        iterations = data.get("iterations")
        return cls(
            status=str(data.get("status")),
            message=_text(data.get("message", "the evaluator failed"), 1000),
            predictions=None if data.get("predictions") is None else str(data["predictions"]),
            iterations=iterations if type(iterations) is int else None,
            initial_weights=str(data.get("initial_weights", InitialWeights.UNCHECKED)),
            initial_detail=_text(data.get("initial_detail"), 500),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
