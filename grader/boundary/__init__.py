"""The parent's only door into the child's scratch folder, and the one reading of what the
child says: everything there is hostile.

- `door.py`: files opened without following links, regular files only, size caps, reads
  that cannot block (`open_child_file`, `read_child_file`, `copy_child_file`, `HostileFile`);
- `values.py`: the parser library (bounded, typed, read-only values; `BoundaryError`);
- `probe.py`: the probe record's schema and `ProbeRecord`;
- `answer.py`: `response.json` parsed once into the frozen, range-checked `ChildAnswer`.

Importers use `from grader.boundary import X` for every name below.
"""

from __future__ import annotations

from grader.boundary.answer import (
    ANSWER_STATUSES,
    STAGES,
    AnswerStatus,
    BestModel,
    ChildAnswer,
    ChildError,
    ChildFitCall,
    ChildTrial,
    ImportFailure,
    parse_answer,
    parse_answer_data,
)
from grader.boundary.door import HostileFile, copy_child_file, open_child_file, read_child_file
from grader.boundary.probe import ProbeRecord
from grader.boundary.values import (
    MAX_DEPTH,
    MAX_EPOCHS,
    MAX_HISTORY,
    MAX_INT,
    MAX_ITEMS,
    MAX_KEYS,
    MAX_NAME,
    MAX_NODES,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_TEXT,
    MAX_TRIALS,
    BoundaryError,
    IncompleteAnswer,
    Scalar,
)

__all__ = [
    "ANSWER_STATUSES",
    "MAX_DEPTH",
    "MAX_EPOCHS",
    "MAX_HISTORY",
    "MAX_INT",
    "MAX_ITEMS",
    "MAX_KEYS",
    "MAX_NAME",
    "MAX_NODES",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_TEXT",
    "MAX_TRIALS",
    "STAGES",
    "AnswerStatus",
    "BestModel",
    "BoundaryError",
    "ChildAnswer",
    "ChildError",
    "ChildFitCall",
    "ChildTrial",
    "HostileFile",
    "ImportFailure",
    "IncompleteAnswer",
    "ProbeRecord",
    "Scalar",
    "copy_child_file",
    "open_child_file",
    "parse_answer",
    "parse_answer_data",
    "read_child_file",
]
