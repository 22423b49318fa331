"""Same program, same grade, once: one training shared by the copies of a program.

Two submissions whose executed code is the same once comments, layout, notebook outputs,
metadata, markdown and the statements the grader skips are set aside
(`grader.submission.normalised_program`) train identically under the same settings. The
expensive part of a grade, the child's outcome (probe and search) and the parent's
evaluation of its best model, is kept in the results store (`trainings` table of
`<out>/results.sqlite`) under `program_key`: the normalised program plus everything that
changes training (budget, subset, seed, limits, sandbox, spec, grader version). Every file
is still loaded and scored on its own (`grader.pipeline.grade_one`), so each report has
its own id, file, locations, skipped statements and notes.

Why the store and not only memory: a resubmission that only edits comments, a re-run after
an interruption and the worker processes of `--jobs N` all find it, and it is as durable
as the rows it serves. Each lookup opens its own short SQLite connection, so any grading
process on this machine can use it; where the file is absent (a remote Dask worker) it is
simply not used.

Only what a re-run would reproduce is shared:
- an outcome whose child ended by itself (`ChildEnd.FINISHED`) and whose evaluation did
  not fail; a timeout, a limit or a crash may come from the machine's load at that moment;
- an outcome that names places in the student's file (an error's location, a failed
  import, a traceback's `<cell N>`) only with a file whose executed code has the same
  layout (`layout_key`), since those places are true only there.
`--force` neither reads nor skips anything: it trains again and records the new outcome.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from grader import __version__, store
from grader.artifacts import DeclaredEvidence
from grader.boundary import ChildAnswer, parse_answer_data
from grader.child.protocol import ChildRequest, filename_for
from grader.errors import GraderError
from grader.evaluate import Evaluation
from grader.results import to_jsonable
from grader.runner import ChildEnd, ChildOutcome
from grader.settings import RunSettings
from grader.submission import LoadedSubmission, program_sha256
from grader.trainer.wire import TRAINER_FORMAT

FORMAT = 3  # 2: the trained files kept with the training; 3: what the grader trained too
# How the child names places in the student's file: the pseudo file names it compiles
# the code under (`filename_for`: "<submission>" and "<cell N>").
_FILE_MARKERS = (filename_for(None), "<cell ")


@dataclass(frozen=True)
class Training:
    """The expensive part of one grade: what the child did and what the parent measured."""

    outcome: ChildOutcome
    evaluation: Evaluation | None
    saved_optimizer: Mapping[str, Any] | None
    timings: dict[str, float]  # "child", "evaluate": what the training cost when it ran
    # The trained best model's files as data (grader.artifacts.read_artifact_data): a copy
    # is judged on them, exactly as the first file was, never on the probe's word alone.
    model_json: str | None = None
    keras_config: dict[str, Any] | None = None
    training: str = ""  # who trained it (GradeResult.training)
    # What the grader's trainer trained (the trusted path): a copy's checks judge it too.
    declared: DeclaredEvidence | None = None


def program_key(loaded: LoadedSubmission, settings: RunSettings) -> str:
    """The normalised program plus every setting that changes how it trains.

    Like the calibration's fingerprint, the thread count is left out: it changes only
    the order of float additions, and a batch with more jobs must still share.
    """
    values = {
        "format": FORMAT,
        "program": program_sha256(loaded),
        "assignment": settings.spec.id,
        "spec_sha256": settings.spec.sha256,
        "grader": __version__,
        "budget": settings.budget.name,
        "limits": settings.budget.search_limits(),
        "subset": settings.subset,
        "seed": settings.effective_seed,
        "resource_limits": to_jsonable(settings.effective_limits),
        "sandbox": settings.sandbox.enabled,
        "training": settings.training,
        "trainer": TRAINER_FORMAT,
    }
    return store.settings_hash(values)


def layout_key(request: ChildRequest) -> str:
    """The executed code with its places: every chunk's cell, line and exact text."""
    chunks = [[c.cell, c.line, c.source] for c in request.chunks]
    return hashlib.sha256(json.dumps(chunks).encode("utf-8")).hexdigest()


def names_places(value: Any) -> bool:
    """Whether `value` (a child outcome, an answer...) mentions a place in the student's
    file: a `{cell, line}` or `location` entry, or a pseudo file name in some text."""
    if isinstance(value, str):
        return any(marker in value for marker in _FILE_MARKERS)
    if isinstance(value, Enum) or value is None or isinstance(value, int | float | bool):
        return False
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = {f.name for f in dataclasses.fields(value)}
        if {"cell", "line"} <= names or getattr(value, "location", None) is not None:
            return True  # a Location, an ImportFailure, an error with its place
        return any(names_places(getattr(value, name)) for name in names)
    if isinstance(value, Mapping):
        if value.get("location") is not None or {"cell", "line"} <= value.keys():
            return True
        return any(names_places(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(names_places(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """`value` as JSON data; the child's answer in its own JSON form (`to_dict`)."""
    if isinstance(value, ChildAnswer):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def encode(training: Training) -> str:
    # Key order kept: hyperparameters and histories are shown in the order they came.
    return json.dumps({"format": FORMAT, "training": _plain(training)})


def decode(text: str) -> Training | None:
    """The training stored as `text`, or None if it no longer reads as one.

    Rebuilt from the type hints of `Training` and of what it holds (outcome, answer,
    evaluation...), so a field added or retyped there is decoded without a change here;
    one that cannot be is a miss, and the program is trained again.
    """
    try:
        raw = json.loads(text)
        if raw.get("format") != FORMAT:
            return None
        return _build(Training, raw["training"])
    except (ValueError, TypeError, KeyError, AttributeError, NameError, GraderError):
        return None


def _build(hint: Any, value: Any) -> Any:
    """`value` (decoded JSON) as an instance of the type `hint`; TypeError if it is not."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if hint is ChildAnswer:
        # Read back through the boundary's own parser, as the child's answer was.
        if not isinstance(value, dict):
            raise TypeError("the answer is not an object")
        return parse_answer_data(value, objective=str(value["objective"]))
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _build(arg, value)
            except (TypeError, ValueError, KeyError, GraderError):
                continue
        raise TypeError(f"{value!r} is none of {hint}")
    if value is None:
        raise TypeError(f"None where {hint} was expected")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"{hint.__name__} expects an object")
        hints = typing.get_type_hints(hint)
        fields = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: _build(hints[k], v) for k, v in value.items() if k in fields})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin in (dict, Mapping, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"{hint} expects an object")
        item = args[1] if args else Any
        return {k: _build(item, v) for k, v in value.items()}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError(f"{value!r} is not a {hint.__name__}")
    return value


def find(settings: RunSettings, loaded: LoadedSubmission, request: ChildRequest) -> Training | None:
    """The stored training of this program usable for this file, or None (train it)."""
    reuse = settings.reuse
    if reuse is None or not reuse.read:
        return None
    text = store.read_training(reuse.store, program_key(loaded, settings), layout_key(request))
    return None if text is None else decode(text)


def record(
    settings: RunSettings,
    loaded: LoadedSubmission,
    request: ChildRequest,
    training: Training,
    *,
    evaluation_failed: bool,
) -> bool:
    """Store `training` for the copies of this program, if a re-run would reproduce it."""
    reuse = settings.reuse
    if reuse is None or training.outcome.end is not ChildEnd.FINISHED or evaluation_failed:
        return False
    layout = layout_key(request) if names_places(training.outcome) else ""
    key = program_key(loaded, settings)
    return store.write_training(reuse.store, key, layout, encode(training))
