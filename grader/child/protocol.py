"""What the parent and the child say to each other: the request, the answer, their pieces.

Shared by both sides of the trust boundary. The parent writes `request.json` (its own
data, trusted); the child writes `response.json` and progress lines, which the parent
parses into typed values in `grader.boundary` and never trusts beyond that.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

PROTOCOL = 1
REQUEST_LIMIT = 16 * 1024 * 1024
RESPONSE_NAME = "response.json"
PROGRESS_NAME = "progress.jsonl"
# `python -m grader.child.worker --wait`: a spare that reads its request's path from stdin.
WAIT = "--wait"


class TrialStatus(StrEnum):
    """Mirrors keras_tuner's TrialStatus, plus the grader's own stop."""

    COMPLETED = "completed"
    STOPPED = "stopped"  # cut by the grader's time limit; its epochs still count
    FAILED = "failed"  # the student's build/fit raised
    INVALID = "invalid"


@dataclass(frozen=True)
class CodeChunk:
    """One top-level statement the worker will run, with where it came from."""

    cell: int | None  # 1-based index among all cells; None for a .py file
    line: int  # 1-based line within the cell (or file) where the statement starts
    source: str  # the statement's exact text (decorators included)
    kind: str  # "import", "function", "class", "constant" or "block" (an if/try of those)


@dataclass(frozen=True)
class SearchBudget:
    """The budget's search limits, as the child's fallback search applies them."""

    max_trials: int = 0
    max_epochs: int = 0
    trial_seconds: float = 1e9
    submission_seconds: float = 1e9


@dataclass(frozen=True)
class DataRef:
    """Where the prepared split is (the only data folder the sandbox shows) and its shape."""

    split_dir: str = ""
    validation_size: int = 0
    num_classes: int = 0
    input_dim: int = 0
    input_shape: tuple[int, ...] = ()
    labels: str = "one_hot"
    subset: int | None = None


@dataclass(frozen=True)
class ProbePlan:
    """What the probe simulates: batches per epoch of the whole split and of what is
    trained (fewer under --subset), and the epochs the spec's fit asks for."""

    steps_per_epoch: int = 1
    trained_steps_per_epoch: int = 1
    epochs: int = 1


@dataclass(frozen=True)
class ServePlan:
    """The trusted path: declare at the trainer's request (grader/child/declare.py); the
    rate tables' fallback batches per epoch and the budget's epochs."""

    steps_per_epoch: int
    max_epochs: int


@dataclass(frozen=True)
class ChildRequest:
    """What the parent asks of one child (`request.json`): its own data, trusted.

    `to_json`/`from_json` are the two ends of the file; the defaults let a test ask a bare
    child (a fake worker) for nothing but a seed. docs/DESIGN.md shows the JSON.
    """

    seed: int
    submission_id: str = ""
    chunks: tuple[CodeChunk, ...] = ()
    cells: tuple[str, ...] = ()
    class_name: str = "MyHyperModel"
    objective: str = "val_accuracy"
    executions_per_trial: int = 1
    tuner: str = "BayesianOptimization"
    objective_direction: str = ""
    validation: str = "xy_val"
    validation_split: float | None = None
    budget: SearchBudget = SearchBudget()
    data: DataRef = DataRef()
    probe: ProbePlan = ProbePlan()
    threads: int = 1
    search: bool = True  # the child runs the search itself (the sandbox path)
    serve: ServePlan | None = None  # the trusted path: it declares instead
    protocol: int = PROTOCOL

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["data"]["input_shape"] = list(self.data.input_shape)
        data["cells"] = list(self.cells)
        if self.serve is None:
            del data["serve"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_data(), allow_nan=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChildRequest:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("protocol") != PROTOCOL:
            raise ValueError(f"not a protocol {PROTOCOL} request")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["chunks"] = tuple(CodeChunk(**c) for c in data.get("chunks", ()))
        fields["cells"] = tuple(data.get("cells", ()))
        fields["budget"] = SearchBudget(**data.get("budget", {}))
        shape = dict(data.get("data", {}))
        shape["input_shape"] = tuple(shape.get("input_shape", ()))
        fields["data"] = DataRef(**shape)
        fields["probe"] = ProbePlan(**data.get("probe", {}))
        fields["serve"] = ServePlan(**data["serve"]) if data.get("serve") else None
        return cls(**fields)


SAMPLE_FIRST_STEPS = 300  # every step here: a short decay (decay_steps=10) shows in full
SAMPLE_SPACED = 200  # plus this many spread over the whole training


def sample_steps(total_steps: int) -> list[int]:
    """The steps at which the probe samples a learning rate, and the parent computes the
    expected and the trained curves, so that all of them line up step by step."""
    import numpy as np

    spaced = np.linspace(0, total_steps, SAMPLE_SPACED).round().astype(int).tolist()
    return sorted(set(range(min(SAMPLE_FIRST_STEPS, total_steps + 1))) | set(spaced))


def filename_for(cell: int | None) -> str:
    """The pseudo file name code from `cell` is compiled under, so tracebacks name the cell."""
    return f"<cell {cell}>" if cell is not None else "<submission>"


def location_from_traceback(tb: Any) -> dict[str, int | None] | None:
    """The innermost frame in the student's code, as {cell, line}."""
    found = None
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith("<cell ") or frame.filename == "<submission>":
            cell = int(frame.filename[6:-1]) if frame.filename.startswith("<cell ") else None
            found = {"cell": cell, "line": frame.lineno}
    return found


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as the protocol's ERROR: {type, message, location}."""
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "location": location_from_traceback(exc.__traceback__),
    }


# progress.jsonl: one JSON object per line, appended by the child as the search runs and
# read by the parent (grader.limits.ProgressReader) to time each trial with its own clock
# and to show the batch's progress. A line is at most PROGRESS_LINE_LIMIT bytes (a real one
# is about 120); the file at most PROGRESS_LIMIT (the child stops writing epoch lines at
# PROGRESS_SOFT_LIMIT, so a long exam run with many fit calls never reaches the cap).
PROGRESS_LINE_LIMIT = 1024
PROGRESS_SOFT_LIMIT = 4 * 1024 * 1024
PROGRESS_LIMIT = 8 * 1024 * 1024


class ProgressEvent(StrEnum):
    TRIAL_START = "trial_start"  # a trial was created; its model is about to be built
    EPOCH_END = "epoch_end"  # one epoch of the trial's training (validation included) ended
    TRIAL_END = "trial_end"  # the trial finished, failed or was stopped


@dataclass(frozen=True)
class ProgressLine:
    """One line of progress.jsonl.

    `{"event": "epoch_end", "trial": 2, "trials": 4, "epoch": 3, "epochs": 4,
    "val_accuracy": 0.8512}`: `trial` is 1-based among the search's `trials` (max_trials),
    `epoch` counts the trial's epochs so far (all its fit calls) against the budget's
    `epochs` (max_epochs); `val_accuracy` is the objective when known (an epoch's, or the
    trial's score at trial_end), otherwise null. Nothing in it is a time: the parent times
    trials with its own clock, never with what the child says.
    """

    event: ProgressEvent
    trial: int
    trials: int
    epoch: int = 0
    epochs: int = 0
    val_accuracy: float | None = None

    def to_json(self) -> str:
        value = self.val_accuracy
        if value is not None and not 0.0 <= value <= 1.0:  # NaN fails both comparisons
            value = None
        return json.dumps(
            {
                "event": self.event.value,
                "trial": self.trial,
                "trials": self.trials,
                "epoch": self.epoch,
                "epochs": self.epochs,
                "val_accuracy": value,
            },
            allow_nan=False,
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, raw: bytes) -> ProgressLine | None:
        """The line from its bytes (no newline), or None unless it is exactly this shape."""
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(data, dict) or set(data) != _PROGRESS_KEYS:
            return None
        counts = [data[key] for key in ("trial", "trials", "epoch", "epochs")]
        if not all(type(n) is int and 0 <= n < 1_000_000 for n in counts):
            return None
        value = data["val_accuracy"]
        if value is not None and (type(value) not in (int, float) or not 0 <= value <= 1):
            return None
        try:
            event = ProgressEvent(data["event"])
        except ValueError:
            return None
        trial, trials, epoch, epochs = counts
        if not 1 <= trial <= trials:
            return None
        return cls(event, trial, trials, epoch, epochs, None if value is None else float(value))


_PROGRESS_KEYS = frozenset({"event", "trial", "trials", "epoch", "epochs", "val_accuracy"})


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
