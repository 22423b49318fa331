"""What the parent and the trainer say to each other, one JSON line each way.

Imported by both (no TensorFlow here). The parent writes requests on the trainer's stdin
and reads answers on its stdout; during a search the trainer also asks the parent, on
the same channel, for the submission's declaration at a trial's hyperparameters
(`NEED_DECLARATION`), and the parent answers with the checked `Declaration` or an abort.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LOG_FILE = "evaluator.log"
NEED_DECLARATION = "declare"  # trainer -> parent: {"need": "declare", "n", "purpose", ...}
PROGRESS = "progress"  # trainer -> parent: {"progress": ProgressLine fields}


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
