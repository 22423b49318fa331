"""The parent's only door into the child's scratch folder: everything there is hostile.

The child runs student code, and student code can put anything in its scratch folder: a
symbolic link to the reference solution or to the test labels, a named pipe that blocks a
reader forever, a device, a file of many gigabytes, a folder where a file is expected. So
the parent never opens a child's file by path with `open()`, never follows a link, never
copies by path (`shutil.copy` follows links) and never reads more than a cap:

- `open_child_file` opens one name directly inside the scratch folder with
  `O_NOFOLLOW | O_NONBLOCK` (a pipe cannot block the open nor the read), then checks with
  `fstat` on the open descriptor (not the path, which could be swapped in between) that it
  is a regular file within the size cap;
- `read_child_file` reads it whole (bounded), `copy_child_file` copies its bytes from that
  descriptor to a file the parent creates itself (exclusively, never following a link).

Any refusal is a `HostileFile` (a `SubmissionError`): it ends that submission with a
message that says which file and why, never the batch.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader.child.protocol import PROTOCOL, TrialStatus
from grader.errors import SubmissionError
from grader.results import Location

_CHUNK = 1 << 20


class HostileFile(SubmissionError):
    """A file the child left is not a plain, bounded, regular file inside its scratch."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="error")


def _check_name(name: str) -> None:
    # One path component only: no "..", no sub-folder through which a link could lead out.
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise HostileFile(f"the grader refused the file name {name!r} from the child")


def open_child_file(scratch: Path, name: str, *, limit: int) -> tuple[int, int]:
    """An open descriptor on `scratch/name` and its size; the caller closes it.

    Raises `HostileFile` for a link, anything but a regular file, or a file over `limit`
    bytes; `FileNotFoundError` when there is no such file (for the caller to decide).
    """
    _check_name(name)
    dir_fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(
                name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                dir_fd=dir_fd,
            )
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            # ELOOP: a symbolic link (O_NOFOLLOW); ENXIO: a socket; anything else unreadable.
            raise HostileFile(
                f"the child's file {name} is not a regular file the grader may read "
                f"({exc.strerror or exc}); a link, a pipe or a device is refused"
            ) from None
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HostileFile(
                f"the child's file {name} is not a regular file (a pipe, a device or a "
                "folder); the grader does not read it"
            )
        if info.st_size > limit:
            raise HostileFile(
                f"the child's file {name} is {info.st_size} bytes, over the grader's cap of "
                f"{limit} bytes"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def read_child_file(scratch: Path, name: str, *, limit: int) -> bytes:
    """The bytes of `scratch/name`, read through `open_child_file` (at most `limit`)."""
    fd, _ = open_child_file(scratch, name, limit=limit)
    try:
        parts: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # the file grew after fstat
                raise HostileFile(f"the child's file {name} grew past the cap of {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def copy_child_file(scratch: Path, name: str, target: Path, *, limit: int) -> int:
    """Copy `scratch/name` into `target` (a new file of the parent's); returns its size.

    The bytes come from the descriptor `open_child_file` checked, never from a path that
    could be a link; `target` is created exclusively and not followed if it is a link.
    """
    fd, _ = open_child_file(scratch, name, limit=limit)
    try:
        out = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        total = 0
        try:
            while chunk := os.read(fd, _CHUNK):
                total += len(chunk)
                if total > limit:
                    raise HostileFile(f"the child's file {name} grew past the cap of {limit} bytes")
                os.write(out, chunk)
        finally:
            os.close(out)
        return total
    finally:
        os.close(fd)


# --- the child's answer, parsed once -------------------------------------------------------
#
# `response.json` is read once, here, into frozen values; nothing after this point reads
# the child's JSON. Every number is finite and within a range the rest of the grader (and
# result.schema.json) accepts, every string and list is bounded, and free-form JSON (a
# Keras config, a probe sub-record) is bounded in depth and size and made read-only. Long
# free text (messages, tracebacks, warnings) is shortened; a value no honest child could
# write (a negative duration, an accuracy of 1.5, a 100,000-character trial id, a model
# file name with a "/") is refused with a `BoundaryError` that names the field, which ends
# that submission with status `error`.

Scalar = str | int | float | bool | None

MAX_DEPTH = 24  # levels of free-form JSON under a typed field (Keras configs use about 6)
MAX_NODES = 300_000  # values in one answer (the reference's: about 3,000)
MAX_TEXT = 4000  # characters of free text kept (messages, tracebacks)
MAX_NAME = 200  # characters of a name (class, key, metric, exception type)
MAX_ITEMS = 10_000  # items in a free-form list or a learning-rate sample
MAX_KEYS = 1000  # keys in a free-form object
MAX_TRIALS = 1000
MAX_HISTORY = 10_000  # epochs recorded for one metric of one trial
MAX_SECONDS = 1e6  # about 11.5 days: longer than any budget's hard limit
MAX_EPOCHS = 1_000_000
MAX_STEPS = 10**9
MAX_INT = 2**63  # no value a child reports is larger (numpy's int64)
STAGES = ("start", "load", "probe", "serve", "search")  # the stages the child goes through
ANSWER_STATUSES = ("running", "serving", "ok", "error")


class BoundaryError(SubmissionError):
    """A value in the child's answer is out of range or of a shape no honest child writes."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="error")


class IncompleteAnswer(BoundaryError):
    """The answer is empty or not a whole JSON document: for the runner, no answer at all."""


def _show(value: Any) -> str:
    """A value as a message quotes it: short, whatever its size."""
    if isinstance(value, str):
        if len(value) > 40:
            return f"{value[:40]!r}… ({len(value)} characters)"
        return repr(value)
    if isinstance(value, Mapping):
        return f"an object of {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _refuse(path: str, value: Any, problem: str) -> BoundaryError:
    return BoundaryError(f"the child's answer has {path} = {_show(value)}; {problem}")


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


class _Walk:
    """What one parse has read so far, so that no answer costs more than MAX_NODES values."""

    def __init__(self) -> None:
        self.nodes = 0

    def count(self, path: str, nodes: int = 1) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise BoundaryError(
                f"the child's answer holds more than {MAX_NODES} values (the last one read "
                f"at {path}); the grader reads no more"
            )


_Parser = Callable[[Any, str, _Walk], Any]


def _freeze(value: Any, path: str, walk: _Walk, depth: int = 0) -> Any:
    """Free-form JSON, bounded and read-only: objects as MappingProxyType, lists as tuples.

    Non-finite numbers become None (JSON has none; a config may still hold one), long
    strings are shortened; too deep, too long or too wide a structure is refused.
    """
    walk.count(path)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _clip(value, MAX_TEXT)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        raise _refuse(path, value, f"the grader reads at most {MAX_DEPTH} levels of nesting")
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise _refuse(path, value, f"at most {MAX_ITEMS} items are allowed")
        return tuple(_freeze(v, f"{path}[{i}]", walk, depth + 1) for i, v in enumerate(value))
    if isinstance(value, Mapping):
        if len(value) > MAX_KEYS:
            raise _refuse(path, value, f"at most {MAX_KEYS} keys are allowed")
        out = {}
        for key, item in value.items():
            _key(key, path)
            out[key] = _freeze(item, f"{path}.{key}", walk, depth + 1)
        return MappingProxyType(out)
    raise _refuse(path, value, "it is not a JSON value")


def _thaw(value: Any) -> Any:
    """A frozen value back to plain JSON types (dicts and lists), for storage."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key(key: Any, path: str) -> str:
    if not isinstance(key, str) or len(key) > MAX_NAME:
        raise _refuse(
            f"{path} (a key)", key, f"a key must be a string of at most {MAX_NAME} characters"
        )
    return key


# Parsers for typed fields: each takes (value, path, walk) and returns the frozen value or
# raises BoundaryError naming `path`.


def _text(limit: int = MAX_TEXT) -> _Parser:
    """Free text: shortened to `limit` characters, never refused for its length."""

    def parse(value: Any, path: str, walk: _Walk) -> str:
        if not isinstance(value, str):
            raise _refuse(path, value, f"it must be a string, not {_kind(value)}")
        return _clip(value, limit)

    return parse


def _name(limit: int = MAX_NAME) -> _Parser:
    """A name or identifier: a longer one is impossible, so it is refused."""

    def parse(value: Any, path: str, walk: _Walk) -> str:
        if not isinstance(value, str):
            raise _refuse(path, value, f"it must be a string, not {_kind(value)}")
        if len(value) > limit:
            raise _refuse(path, value, f"at most {limit} characters are allowed")
        return value

    return parse


def _choice(*allowed: str) -> _Parser:
    def parse(value: Any, path: str, walk: _Walk) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _refuse(path, value, f"it must be one of {', '.join(allowed)}")
        return value

    return parse


def _flag(value: Any, path: str, walk: _Walk) -> bool:
    if not isinstance(value, bool):
        raise _refuse(path, value, f"it must be true or false, not {_kind(value)}")
    return value


def _int(low: int, high: int, what: str = "it") -> _Parser:
    def parse(value: Any, path: str, walk: _Walk) -> int:
        if type(value) is not int:  # JSON true is not 1 here
            raise _refuse(path, value, f"{what} must be a whole number, not {_kind(value)}")
        _in_range(value, low, high, path, what)
        return value

    return parse


def _number(
    low: float,
    high: float,
    what: str = "it",
    *,
    none_if_not_finite: bool = False,
    as_float: bool = False,
) -> _Parser:
    """A number in [low, high]; an int stays an int (3 is not 3.0 in a report) unless
    `as_float`. Python compares a huge int with a float bound exactly, so none overflows."""

    def parse(value: Any, path: str, walk: _Walk) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(path, value, f"{what} must be a number, not {_kind(value)}")
        if isinstance(value, int) and abs(value) > MAX_INT:
            # float() of it would overflow wherever the grader computes with it.
            raise _refuse(path, value, f"{what} is too large a number")
        if isinstance(value, float) and not math.isfinite(value):
            if none_if_not_finite:
                return None
            raise _refuse(path, value, f"{what} must be a finite number")
        _in_range(value, low, high, path, what)
        return float(value) if as_float else value

    return parse


def _in_range(value: int | float, low: float, high: float, path: str, what: str) -> None:
    if value < low:
        problem = f"{what} cannot be negative" if low == 0 else f"{what} cannot be below {low:g}"
        raise _refuse(path, value, problem)
    if value > high:
        raise _refuse(path, value, f"{what} cannot exceed {high:g}")


def _fraction(value: Any, path: str, walk: _Walk) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(path, value, "an accuracy must be a finite number between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise _refuse(path, value, "an accuracy must be between 0 and 1")
    return float(value)


def _scalar(limit: int = 1000) -> _Parser:
    """A hyperparameter's value: a finite number, a short string, a boolean or null."""

    def parse(value: Any, path: str, walk: _Walk) -> Scalar:
        walk.count(path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return _number(-math.inf, math.inf, "a value")(value, path, walk)
        if isinstance(value, str):
            return _name(limit)(value, path, walk)
        raise _refuse(path, value, "it must be a number, a string, a boolean or null")

    return parse


def _maybe(parser: _Parser) -> _Parser:
    def parse(value: Any, path: str, walk: _Walk) -> Any:
        return None if value is None else parser(value, path, walk)

    return parse


def _optional_float(value: Any, path: str, walk: _Walk) -> float | None:
    """A float the record allows to be None: a non-finite one becomes None."""
    if value is None:
        return None
    return _number(-math.inf, math.inf, none_if_not_finite=True)(value, path, walk)


def _list_of(parser: _Parser, limit: int, *, clip: bool = False) -> _Parser:
    """A bounded list; `clip`: keep the first `limit` items of a longer one (free text)."""

    def parse(value: Any, path: str, walk: _Walk) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _refuse(path, value, f"it must be a list, not {_kind(value)}")
        if len(value) > limit:
            if not clip:
                raise _refuse(path, value, f"at most {limit} items are allowed")
            value = value[:limit]
        # Typed lists count too (histories, samples): 32 MB of numbers would otherwise
        # cost the parent many seconds before any limit stopped it.
        walk.count(path, len(value) + 1)
        return tuple(parser(v, f"{path}[{i}]", walk) for i, v in enumerate(value))

    return parse


def _mapping_of(parser: _Parser, limit: int, key_limit: int = MAX_NAME) -> _Parser:
    """An object with any keys (names up to `key_limit` characters), each value parsed."""

    def parse(value: Any, path: str, walk: _Walk) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
        if len(value) > limit:
            raise _refuse(path, value, f"at most {limit} keys are allowed")
        walk.count(path)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > key_limit:
                raise _refuse(f"{path} (a key)", key, f"at most {key_limit} characters are allowed")
            out[key] = parser(item, f"{path}.{key}", walk)
        return MappingProxyType(out)

    return parse


def _record(fields: Mapping[str, _Parser]) -> _Parser:
    """An object whose known keys are typed (absent is fine) and the rest free-form JSON."""

    def parse(value: Any, path: str, walk: _Walk) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
        if len(value) > MAX_KEYS:
            raise _refuse(path, value, f"at most {MAX_KEYS} keys are allowed")
        walk.count(path)
        out = {}
        for key, item in value.items():
            _key(key, path)
            parser = fields.get(key)
            sub = f"{path}.{key}"
            out[key] = parser(item, sub, walk) if parser else _freeze(item, sub, walk, 1)
        return MappingProxyType(out)

    return parse


def _json(value: Any, path: str, walk: _Walk) -> Any:
    return _freeze(value, path, walk)


def _location(value: Any, path: str, walk: _Walk) -> Location:
    if not isinstance(value, Mapping):
        raise _refuse(path, value, f"a location must be an object, not {_kind(value)}")
    cell = _maybe(_int(1, 1_000_000, "a cell number"))(value.get("cell"), f"{path}.cell", walk)
    line = _int(1, 100_000_000, "a line number")(value.get("line"), f"{path}.line", walk)
    return Location(cell, line)


def _location_record(value: Any, path: str, walk: _Walk) -> Mapping[str, Any]:
    """A location inside the probe record: checked as a `Location`, kept as a mapping."""
    location = _location(value, path, walk)
    return MappingProxyType({"cell": location.cell, "line": location.line})


# The probe record, stage by stage, as grader/child/probe.py's docstring describes it. What a
# check compares or converts (names, flags, numbers, samples, locations) is typed; what the
# student passed through unchanged (fit arguments, Keras configs) stays free-form JSON.
_ERROR = _record(
    {"type": _text(MAX_NAME), "message": _text(), "location": _maybe(_location_record)}
)


def _error_or_text(value: Any, path: str, walk: _Walk) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _clip(value, MAX_TEXT)
    return _ERROR(value, path, walk)


_STATUS = _choice("ok", "error", "skipped")
_TEXTS = _list_of(_text(1000), 1000, clip=True)
_NAMES = _list_of(_text(MAX_NAME), 1000, clip=True)
_SAMPLES_BY_STEP = _record(
    {
        "steps": _list_of(_int(0, MAX_STEPS, "a training step"), MAX_ITEMS),
        "lrs": _list_of(_number(-math.inf, math.inf, "a learning rate"), MAX_ITEMS),
    }
)
_SAMPLES_BY_EPOCH = _record(
    {
        "epochs": _list_of(_int(0, MAX_EPOCHS, "an epoch"), MAX_ITEMS),
        "lrs": _list_of(_number(-math.inf, math.inf, "a learning rate"), MAX_ITEMS),
    }
)
_LR_LIST = _list_of(_number(-math.inf, math.inf, "a learning rate", as_float=True), MAX_ITEMS)
# A callback's dry run (grader/child/probe.py, DRY_RUN): the rates a simulated training saw.
_DRY_RUN = _record(
    {
        "status": _choice("ok", "error", "truncated"),
        "steps_per_epoch": _int(1, MAX_STEPS, "a step count"),
        "epochs": _int(0, MAX_EPOCHS, "an epoch count"),
        "batches": _list_of(_int(0, MAX_STEPS, "a training step"), MAX_ITEMS),
        "batch_lrs": _LR_LIST,
        "epoch_lrs": _LR_LIST,
        "epoch_end_lrs": _LR_LIST,
        "lr_before": _optional_float,
        "copied": _choice("deep", "shallow", "none"),
        "error": _maybe(_ERROR),
        "seconds": _number(0, MAX_SECONDS, "seconds"),
    }
)
_CALLBACKS = _list_of(
    _record(
        {
            "class_name": _text(MAX_NAME),
            "module": _text(1000),
            "marker": _flag,
            "config": _maybe(_mapping_of(_json, MAX_KEYS)),
            "samples": _maybe(_SAMPLES_BY_EPOCH),
            "samples_error": _error_or_text,
            "conflicts_with_schedule": _flag,
            "dry_run": _maybe(_DRY_RUN),
        }
    ),
    1000,
    clip=True,
)
_LEARNING_RATE = _record(
    {
        "kind": _choice("schedule", "callable", "constant"),
        "class_name": _text(MAX_NAME),
        "config": _json,
        "config_error": _maybe(_text()),
        "value": _optional_float,
        "samples": _maybe(_SAMPLES_BY_STEP),
        "samples_error": _error_or_text,
    }
)
_HP_VALUES = _mapping_of(_scalar(), MAX_KEYS)
_STAGE_PARSERS: dict[str, _Parser] = {
    "structure": _record(
        {
            "status": _STATUS,
            **dict.fromkeys(
                ("exists", "is_class", "is_hypermodel", "defines_build", "defines_fit"), _flag
            ),
            "instantiated": _flag,
            "near_misses": _NAMES,
            "found_type": _maybe(_text(MAX_NAME)),
            "bases": _list_of(_text(1000), 1000, clip=True),
            "fit_signature": _maybe(
                _record(
                    {
                        "params": _NAMES,
                        "var_keyword": _flag,
                        "var_positional": _flag,
                        "text": _text(),
                    }
                )
            ),
            "error": _maybe(_ERROR),
        }
    ),
    "build": _record(
        {
            "status": _STATUS,
            "error": _maybe(_ERROR),
            "warnings": _TEXTS,
            "returned_type": _maybe(_text(MAX_NAME)),
            "is_model": _flag,
            "compiled": _flag,
            "architecture": _record(
                {
                    "input_shape": _json,
                    "layers": _list_of(
                        _record({"class_name": _text(MAX_NAME), "name": _text(MAX_NAME)}),
                        MAX_ITEMS,
                    ),
                }
            ),
            "compile_config": _json,
            "loss": _json,
            "metrics": _list_of(
                _record({"class_name": _maybe(_text(MAX_NAME)), "spec": _json}), 1000
            ),
            "optimizer": _maybe(
                _record(
                    {
                        "class_name": _text(MAX_NAME),
                        "config": _json,
                        "config_error": _maybe(_text()),
                        "momentum": _optional_float,
                        "nesterov": _maybe(_flag),
                    }
                )
            ),
            "learning_rate": _maybe(_LEARNING_RATE),
        }
    ),
    "search_space": _record(
        {
            "status": _STATUS,
            "hyperparameters": _list_of(
                _record(
                    {
                        "name": _name(),
                        "type": _text(MAX_NAME),
                        "min": _maybe(_number(-math.inf, math.inf, "a bound")),
                        "max": _maybe(_number(-math.inf, math.inf, "a bound")),
                        "step": _maybe(_number(-math.inf, math.inf, "a step")),
                        "default": _scalar(),
                        "values": _maybe(_list_of(_scalar(), MAX_ITEMS)),
                    }
                ),
                MAX_KEYS,
            ),
            "values": _HP_VALUES,
        }
    ),
    "corners": _record(
        {
            "status": _STATUS,
            "total_steps": _int(0, MAX_STEPS, "a step count"),
            "truncated": _flag,
            "builds": _list_of(
                _record(
                    {
                        "values": _HP_VALUES,
                        "ok": _flag,
                        "error": _maybe(_ERROR),
                        **dict.fromkeys(
                            ("lr_first", "lr_last", "lr_min", "lr_max"), _optional_float
                        ),
                    }
                ),
                1000,
            ),
        }
    ),
    "fit": _record(
        {
            "status": _STATUS,
            "error": _maybe(_ERROR),
            "warnings": _TEXTS,
            "calls": _list_of(
                _record(
                    {
                        "same_model": _flag,
                        "given": _NAMES,
                        # "same", "same_shape", ...: compared with known values by the checks.
                        **dict.fromkeys(("x", "y", "validation"), _maybe(_text(MAX_NAME))),
                        "extra_kwargs": _NAMES,
                        "markers": _int(0, MAX_ITEMS, "a count"),
                        "bind_error": _maybe(_text()),
                        "callbacks": _CALLBACKS,
                    }
                ),
                1000,
                clip=True,
            ),
            "markers": _choice("all", "some", "none", "no_call"),
            "returned_type": _maybe(_text(MAX_NAME)),
        }
    ),
    # Written by the worker after the search (grader/child/probe.py, best_callbacks).
    "best_callbacks": _record(
        {
            "status": _STATUS,
            "error": _maybe(_ERROR),
            "hyperparameters": _HP_VALUES,
            "callbacks": _CALLBACKS,
        }
    ),
}
_PROBE = _record(
    {
        "probe_version": _int(1, 1, "the probe version"),
        "class_name": _text(MAX_NAME),
        "seconds": _number(0, MAX_SECONDS, "seconds"),
        "probe_error": _ERROR,
        **_STAGE_PARSERS,
    }
)


@dataclass(frozen=True, eq=False)
class ProbeRecord(Mapping[str, Any]):
    """The probe record (grader/child/probe.py's docstring), checked and read-only.

    A `Mapping`, so the checks read it as they always have (`record.get("build")`,
    `ctx.stage("fit")`); its objects are MappingProxyType and its lists tuples, all the
    way down. Build it with `ProbeRecord.parse`, never from a raw dict.
    """

    data: Mapping[str, Any]

    @classmethod
    def parse(cls, value: Any, *, path: str = "probe") -> ProbeRecord:
        return cls(_PROBE(value, path, _Walk()))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types again (for storage); `parse` reads it back."""
        return _thaw(self.data)


# --- the answer's own fields ----------------------------------------------------------------


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


def _file_name(value: Any, path: str, walk: _Walk) -> str:
    """A model file the parent will look for: one plain name inside the scratch folder."""
    if not isinstance(value, str) or not value or len(value) > 100:
        raise _refuse(
            path, value, "a model file must be a plain file name of at most 100 characters"
        )
    if value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise _refuse(path, value, "a model file must be a plain file name in the scratch folder")
    return value


_SECONDS = _number(0, MAX_SECONDS, "seconds", as_float=True)
_HYPERPARAMETERS = _mapping_of(_scalar(), 100)


def _field(data: Mapping[str, Any], key: str, parser: _Parser, walk: _Walk, default: Any) -> Any:
    """`data[key]` parsed; `default` when absent (an early partial answer lacks keys)."""
    if key not in data or (data[key] is None and default is None):
        return default
    return parser(data[key], key, walk)


def _child_error(value: Any, path: str, walk: _Walk) -> ChildError:
    if not isinstance(value, Mapping):
        raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
    location = value.get("location")
    return ChildError(
        type=_text(MAX_NAME)(value.get("type", "Error"), f"{path}.type", walk),
        message=_text()(value.get("message", ""), f"{path}.message", walk),
        location=None if location is None else _location(location, f"{path}.location", walk),
    )


def _fit_call(value: Any, path: str, walk: _Walk) -> ChildFitCall:
    if not isinstance(value, Mapping):
        raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
    return ChildFitCall(
        requested_epochs=_scalar()(value.get("requested_epochs"), f"{path}.requested_epochs", walk),
        clamped_to=_maybe(_int(0, MAX_EPOCHS, "epochs"))(
            value.get("clamped_to"), f"{path}.clamped_to", walk
        ),
        restored_callbacks=_NAMES(
            value.get("restored_callbacks", []), f"{path}.restored_callbacks", walk
        ),
        stopped_by_time=_flag(value.get("stopped_by_time", False), f"{path}.stopped_by_time", walk),
    )


def _history(objective: str) -> _Parser:
    # Losses may diverge (NaN, inf: kept as None, as result.json writes them); an
    # accuracy Keras logs is a fraction, so one outside [0, 1] is refused.
    fractions = {"accuracy", "val_accuracy", objective}
    numbers = _list_of(_optional_float, MAX_HISTORY)

    def parse(value: Any, path: str, walk: _Walk) -> Mapping[str, tuple[float | None, ...]]:
        if not isinstance(value, Mapping):
            raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
        if len(value) > 200:
            raise _refuse(path, value, "at most 200 metrics are allowed")
        out = {}
        for key, values in value.items():
            sub = f"{path}.{_key(key, path)}"
            out[key] = numbers(values, sub, walk)
            if key in fractions:
                for i, number in enumerate(out[key]):
                    if number is not None:
                        _fraction(number, f"{sub}[{i}]", walk)
        return MappingProxyType(out)

    return parse


def _trial(objective: str) -> _Parser:
    history = _history(objective)

    def parse(value: Any, path: str, walk: _Walk) -> ChildTrial:
        if not isinstance(value, Mapping):
            raise _refuse(path, value, f"a trial must be an object, not {_kind(value)}")
        get = value.get
        status = _choice(*(s.value for s in TrialStatus))(
            get("status", TrialStatus.INVALID.value), f"{path}.status", walk
        )
        return ChildTrial(
            id=_name(100)(get("id"), f"{path}.id", walk),
            hyperparameters=_HYPERPARAMETERS(
                get("hyperparameters", {}), f"{path}.hyperparameters", walk
            ),
            objective_value=_maybe(_fraction)(get(objective), f"{path}.{objective}", walk),
            epochs=_int(0, MAX_EPOCHS, "epochs")(get("epochs", 0), f"{path}.epochs", walk),
            seconds=_SECONDS(get("seconds", 0.0), f"{path}.seconds", walk),
            status=TrialStatus(status),
            history=history(get("history") or {}, f"{path}.history", walk),
            message=_text()(get("message") or "", f"{path}.message", walk),
            fit_calls=_list_of(_fit_call, 1000, clip=True)(
                get("fit_calls", []), f"{path}.fit_calls", walk
            ),
        )

    return parse


def _best(objective: str) -> _Parser:
    def parse(value: Any, path: str, walk: _Walk) -> BestModel:
        if not isinstance(value, Mapping):
            raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
        get = value.get
        name = _maybe(_file_name)
        return BestModel(
            trial_id=_name(100)(get("trial_id"), f"{path}.trial_id", walk),
            hyperparameters=_HYPERPARAMETERS(
                get("hyperparameters", {}), f"{path}.hyperparameters", walk
            ),
            objective_value=_maybe(_fraction)(get(objective), f"{path}.{objective}", walk),
            model_json=name(get("model_json"), f"{path}.model_json", walk),
            weights=name(get("weights"), f"{path}.weights", walk),
            model_file=name(get("model_file"), f"{path}.model_file", walk),
            optimizer_class=_maybe(_text(MAX_NAME))(
                get("optimizer_class"), f"{path}.optimizer_class", walk
            ),
        )

    return parse


def _import_failure(value: Any, path: str, walk: _Walk) -> ImportFailure:
    if not isinstance(value, Mapping):
        raise _refuse(path, value, f"it must be an object, not {_kind(value)}")
    return ImportFailure(
        location=_location(value, path, walk),
        message=_text(2000)(value.get("message", ""), f"{path}.message", walk),
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
        raise BoundaryError(f"the child's answer is {_kind(data)}, not a JSON object")
    protocol = data.get("protocol")
    if type(protocol) is not int or protocol != PROTOCOL:
        raise _refuse("protocol", protocol, f"the grader speaks protocol {PROTOCOL}")
    walk = _Walk()
    status = _choice(*ANSWER_STATUSES)(data.get("status"), "status", walk)
    probe = data.get("probe")
    return ChildAnswer(
        objective=objective,
        status=AnswerStatus(status),
        message=_field(data, "message", _text(), walk, ""),
        stage=_field(data, "stage", _choice(*STAGES), walk, "start"),
        error=_field(data, "error", _child_error, walk, None),
        probe=None if probe is None else ProbeRecord(_PROBE(probe, "probe", walk)),
        trials=_field(data, "trials", _list_of(_trial(objective), MAX_TRIALS), walk, ()),
        best=_field(data, "best", _best(objective), walk, None),
        notes=_field(data, "notes", _list_of(_name(100), 50), walk, ()),
        import_failures=_field(
            data, "import_failures", _list_of(_import_failure, 200, clip=True), walk, ()
        ),
        timings=_field(data, "timings", _mapping_of(_SECONDS, 50, 100), walk, MappingProxyType({})),
        versions=_field(
            data, "versions", _mapping_of(_name(100), 50, 100), walk, MappingProxyType({})
        ),
    )
