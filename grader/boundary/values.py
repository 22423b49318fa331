"""The parser library the child's answer is read with: bounded, typed, read-only values.

`response.json` is read once, here, into frozen values; nothing after this point reads
the child's JSON. Every number is finite and within a range the rest of the grader (and
result.schema.json) accepts, every string and list is bounded, and free-form JSON (a
Keras config, a probe sub-record) is bounded in depth and size and made read-only. Long
free text (messages, tracebacks, warnings) is shortened; a value no honest child could
write (a negative duration, an accuracy of 1.5, a 100,000-character trial id, a model
file name with a "/") is refused with a `BoundaryError` that names the field, which ends
that submission with status `error`.

Each parser takes (value, path, walk) and returns the frozen value or raises
`BoundaryError` naming `path`; `Walk` counts the values one parse has read. The probe
record's schema (grader/boundary/probe.py) and the answer's own fields
(grader/boundary/answer.py) are written with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from grader.errors import SubmissionError
from grader.results import Location

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


class BoundaryError(SubmissionError):
    """A value in the child's answer is out of range or of a shape no honest child writes."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="error")


class IncompleteAnswer(BoundaryError):
    """The answer is empty or not a whole JSON document: for the runner, no answer at all."""


def show(value: Any) -> str:
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


def refuse(path: str, value: Any, problem: str) -> BoundaryError:
    return BoundaryError(f"the child's answer has {path} = {show(value)}; {problem}")


def kind(value: Any) -> str:
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


class Walk:
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


Parser = Callable[[Any, str, Walk], Any]


def freeze(value: Any, path: str, walk: Walk, depth: int = 0) -> Any:
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
        return clip(value, MAX_TEXT)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        raise refuse(path, value, f"the grader reads at most {MAX_DEPTH} levels of nesting")
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise refuse(path, value, f"at most {MAX_ITEMS} items are allowed")
        return tuple(freeze(v, f"{path}[{i}]", walk, depth + 1) for i, v in enumerate(value))
    if isinstance(value, Mapping):
        if len(value) > MAX_KEYS:
            raise refuse(path, value, f"at most {MAX_KEYS} keys are allowed")
        out = {}
        for key, item in value.items():
            object_key(key, path)
            out[key] = freeze(item, f"{path}.{key}", walk, depth + 1)
        return MappingProxyType(out)
    raise refuse(path, value, "it is not a JSON value")


def thaw(value: Any) -> Any:
    """A frozen value back to plain JSON types (dicts and lists), for storage."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def object_key(key: Any, path: str) -> str:
    if not isinstance(key, str) or len(key) > MAX_NAME:
        raise refuse(
            f"{path} (a key)", key, f"a key must be a string of at most {MAX_NAME} characters"
        )
    return key


# Parsers for typed fields: each takes (value, path, walk) and returns the frozen value or
# raises BoundaryError naming `path`.


def text(limit: int = MAX_TEXT) -> Parser:
    """Free text: shortened to `limit` characters, never refused for its length."""

    def parse(value: Any, path: str, walk: Walk) -> str:
        if not isinstance(value, str):
            raise refuse(path, value, f"it must be a string, not {kind(value)}")
        return clip(value, limit)

    return parse


def name(limit: int = MAX_NAME) -> Parser:
    """A name or identifier: a longer one is impossible, so it is refused."""

    def parse(value: Any, path: str, walk: Walk) -> str:
        if not isinstance(value, str):
            raise refuse(path, value, f"it must be a string, not {kind(value)}")
        if len(value) > limit:
            raise refuse(path, value, f"at most {limit} characters are allowed")
        return value

    return parse


def choice(*allowed: str) -> Parser:
    def parse(value: Any, path: str, walk: Walk) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise refuse(path, value, f"it must be one of {', '.join(allowed)}")
        return value

    return parse


def flag(value: Any, path: str, walk: Walk) -> bool:
    if not isinstance(value, bool):
        raise refuse(path, value, f"it must be true or false, not {kind(value)}")
    return value


def integer(low: int, high: int, what: str = "it") -> Parser:
    def parse(value: Any, path: str, walk: Walk) -> int:
        if type(value) is not int:  # JSON true is not 1 here
            raise refuse(path, value, f"{what} must be a whole number, not {kind(value)}")
        _in_range(value, low, high, path, what)
        return value

    return parse


def number(
    low: float,
    high: float,
    what: str = "it",
    *,
    none_if_not_finite: bool = False,
    as_float: bool = False,
) -> Parser:
    """A number in [low, high]; an int stays an int (3 is not 3.0 in a report) unless
    `as_float`. Python compares a huge int with a float bound exactly, so none overflows."""

    def parse(value: Any, path: str, walk: Walk) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse(path, value, f"{what} must be a number, not {kind(value)}")
        if isinstance(value, int) and abs(value) > MAX_INT:
            # float() of it would overflow wherever the grader computes with it.
            raise refuse(path, value, f"{what} is too large a number")
        if isinstance(value, float) and not math.isfinite(value):
            if none_if_not_finite:
                return None
            raise refuse(path, value, f"{what} must be a finite number")
        _in_range(value, low, high, path, what)
        return float(value) if as_float else value

    return parse


def _in_range(value: int | float, low: float, high: float, path: str, what: str) -> None:
    if value < low:
        problem = f"{what} cannot be negative" if low == 0 else f"{what} cannot be below {low:g}"
        raise refuse(path, value, problem)
    if value > high:
        raise refuse(path, value, f"{what} cannot exceed {high:g}")


def fraction(value: Any, path: str, walk: Walk) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise refuse(path, value, "an accuracy must be a finite number between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise refuse(path, value, "an accuracy must be between 0 and 1")
    return float(value)


def scalar(limit: int = 1000) -> Parser:
    """A hyperparameter's value: a finite number, a short string, a boolean or null."""

    def parse(value: Any, path: str, walk: Walk) -> Scalar:
        walk.count(path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return number(-math.inf, math.inf, "a value")(value, path, walk)
        if isinstance(value, str):
            return name(limit)(value, path, walk)
        raise refuse(path, value, "it must be a number, a string, a boolean or null")

    return parse


def maybe(parser: Parser) -> Parser:
    def parse(value: Any, path: str, walk: Walk) -> Any:
        return None if value is None else parser(value, path, walk)

    return parse


def optional_float(value: Any, path: str, walk: Walk) -> float | None:
    """A float the record allows to be None: a non-finite one becomes None."""
    if value is None:
        return None
    return number(-math.inf, math.inf, none_if_not_finite=True)(value, path, walk)


def list_of(parser: Parser, limit: int, *, clip: bool = False) -> Parser:
    """A bounded list; `clip`: keep the first `limit` items of a longer one (free text)."""

    def parse(value: Any, path: str, walk: Walk) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise refuse(path, value, f"it must be a list, not {kind(value)}")
        if len(value) > limit:
            if not clip:
                raise refuse(path, value, f"at most {limit} items are allowed")
            value = value[:limit]
        # Typed lists count too (histories, samples): 32 MB of numbers would otherwise
        # cost the parent many seconds before any limit stopped it.
        walk.count(path, len(value) + 1)
        return tuple(parser(v, f"{path}[{i}]", walk) for i, v in enumerate(value))

    return parse


def mapping_of(parser: Parser, limit: int, key_limit: int = MAX_NAME) -> Parser:
    """An object with any keys (names up to `key_limit` characters), each value parsed."""

    def parse(value: Any, path: str, walk: Walk) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise refuse(path, value, f"it must be an object, not {kind(value)}")
        if len(value) > limit:
            raise refuse(path, value, f"at most {limit} keys are allowed")
        walk.count(path)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > key_limit:
                raise refuse(f"{path} (a key)", key, f"at most {key_limit} characters are allowed")
            out[key] = parser(item, f"{path}.{key}", walk)
        return MappingProxyType(out)

    return parse


def record(fields: Mapping[str, Parser]) -> Parser:
    """An object whose known keys are typed (absent is fine) and the rest free-form JSON."""

    def parse(value: Any, path: str, walk: Walk) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise refuse(path, value, f"it must be an object, not {kind(value)}")
        if len(value) > MAX_KEYS:
            raise refuse(path, value, f"at most {MAX_KEYS} keys are allowed")
        walk.count(path)
        out = {}
        for key, item in value.items():
            object_key(key, path)
            parser = fields.get(key)
            sub = f"{path}.{key}"
            out[key] = parser(item, sub, walk) if parser else freeze(item, sub, walk, 1)
        return MappingProxyType(out)

    return parse


def json_value(value: Any, path: str, walk: Walk) -> Any:
    return freeze(value, path, walk)


def location_of(value: Any, path: str, walk: Walk) -> Location:
    if not isinstance(value, Mapping):
        raise refuse(path, value, f"a location must be an object, not {kind(value)}")
    cell = maybe(integer(1, 1_000_000, "a cell number"))(value.get("cell"), f"{path}.cell", walk)
    line = integer(1, 100_000_000, "a line number")(value.get("line"), f"{path}.line", walk)
    return Location(cell, line)


def location_mapping(value: Any, path: str, walk: Walk) -> Mapping[str, Any]:
    """A location inside the probe record: checked as a `Location`, kept as a mapping."""
    location = location_of(value, path, walk)
    return MappingProxyType({"cell": location.cell, "line": location.line})
