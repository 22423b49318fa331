"""Rubric params as typed data: each check declares them as a small frozen dataclass.

`[rubric.<id>].params` in assignment.toml is read into the check's dataclass when the
spec loads (`grader.checks.rubric.parse_item`, called by grader/spec.py), so a typo or a
wrong type is a SpecError naming the dotted key, never a silently ignored setting. Checks
receive the dataclass, not a dict.

The dataclass's type hints are the schema: `bool`, `int`, `float` (an int is accepted),
`str`, `Literal[...]` (the allowed values), `X | None` (absent: the default),
`tuple[T, ...]` and `tuple[T1, T2]` (TOML arrays), a nested frozen dataclass (a TOML
table) and `Mapping[str, Any]` (a table kept as it is). Cross-field rules live in the
dataclass's `__post_init__`, which raises `ParamError(key, problem)`. A dataclass with a
`REST` class attribute collects the keys it does not declare into that field (the
schedule's own parameters, which depend on its family) and validates them itself.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Union, get_args, get_origin

from grader.errors import SpecError


class ParamError(ValueError):
    """A param that does not fit its declaration; `key` is relative to the params table."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key, self.problem = key, problem


@dataclasses.dataclass(frozen=True)
class NoParams:
    """The params of a check that takes none: any key in the spec is a typo."""


def known_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name != getattr(cls, "REST", None)]


def build(cls: type, raw: Mapping[str, Any], check_id: str = "") -> Any:
    """`raw` (a TOML table) as an instance of the dataclass `cls`; ParamError when it does
    not fit (the key is dotted from the table's root: `layers[2].kind`)."""
    if not isinstance(raw, Mapping):
        raise ParamError("", f"must be a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    rest_name = getattr(cls, "REST", None)
    declared = known_keys(cls)
    values: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in raw.items():
        if key in declared:
            values[key] = _convert(hints[key], value, key)
        elif rest_name:
            rest[key] = value
        else:
            owner = f" of check '{check_id}'" if check_id else ""
            raise ParamError(
                key, f"is not a known parameter{owner}; known: {', '.join(declared) or 'none'}"
            )
    if rest_name:
        values[rest_name] = MappingProxyType(rest)
    for f in dataclasses.fields(cls):
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in values and no_default:
            raise ParamError(f.name, "is missing")
    try:
        return cls(**values)
    except ParamError:
        raise
    except (TypeError, ValueError) as exc:
        raise ParamError("", str(exc)) from None


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # `X | None`: X's own message, which names the element
            return _convert(options[0], value, key)
        for option in options:
            try:
                return _convert(option, value, key)
            except ParamError:
                continue
        kinds = " or ".join(_describe(a) for a in options)
        raise ParamError(key, f"must be {kinds}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args or isinstance(value, bool) != isinstance(args[0], bool):
            raise ParamError(key, f"must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ParamError(key, f"must be an array, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ParamError(key, f"must have {len(args)} elements, got {len(value)}")
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ParamError(key, f"must be a table, got {type(value).__name__} {value!r}")
        return MappingProxyType(dict(value))
    if dataclasses.is_dataclass(hint):
        try:
            return build(hint, value)
        except ParamError as exc:
            inner = f"{key}.{exc.key}" if exc.key else key
            raise ParamError(inner, exc.problem) from None
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ParamError(key, f"must be {_describe(hint)}, got {type(value).__name__} {value!r}")


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return f"one of {list(get_args(hint))}"
    if origin is tuple:
        return "an array"
    if dataclasses.is_dataclass(hint) or origin in (Mapping, dict):
        return "a table"
    return getattr(hint, "__name__", str(hint))


def complete(params: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Each check's params once the whole rubric is read (`{check id: params}`).

    A params dataclass with a `complete(rubric)` method takes a default from another
    check's params there (schedule_params' family is the schedule check's) and checks its
    values against it; a `ParamError` is a SpecError naming the dotted key."""
    out = dict(params)
    for check_id, value in params.items():
        hook = getattr(value, "complete", None)
        if hook is None:
            continue
        try:
            out[check_id] = hook(params)
        except ParamError as exc:
            where = f"rubric.{check_id}.params"
            raise SpecError(f"{path}: {where}.{exc.key} {exc.problem}") from None
    return out


def present(params: Any) -> dict[str, Any]:
    """The params the spec gave (fields not None) as a plain dict, nested dataclasses too:
    for checks that judge only what the rubric names ("only the keys present")."""
    if not dataclasses.is_dataclass(params):
        return dict(params or {})
    out: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if value is None:
            continue
        if f.name == getattr(params, "REST", None):
            out.update(value)
        elif isinstance(value, tuple):
            out[f.name] = [present(v) if dataclasses.is_dataclass(v) else v for v in value]
        else:
            out[f.name] = present(value) if dataclasses.is_dataclass(value) else value
    return out
