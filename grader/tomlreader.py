"""Typed access to one table of a TOML file an instructor wrote (assignment.toml's, read by
grader/spec.py, grader/dataspec.py and grader/validate.py): every error is a `SpecError`
naming the file and the dotted key, and `finish` refuses a key nobody read (a typo).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader import i18n
from grader.errors import SpecError


class TomlReader:
    """Typed access to one TOML table; every error names the dotted key."""

    def __init__(self, data: dict[str, Any], path: Path, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.path}: key '{self._key(key)}' {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if not ok:
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(key, f"must be {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, key: str, kind: type, default: Any = ...) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive, got {value!r}")
        return value

    def table(self, key: str) -> TomlReader:
        return TomlReader(self.get(key, dict), self.path, f"{self._key(key)}.")

    def texts(self, key: str) -> MappingProxyType:
        value = self.get(key, (str, dict))
        known = i18n.languages()  # a language is known when it has a catalog (grader/i18n)
        if isinstance(value, str):
            value = {lang: value for lang in known}
        unknown = set(value) - set(known)
        if unknown:
            raise self.fail(key, f"has unknown language(s) {sorted(unknown)}; use {known}")
        return MappingProxyType(dict(value))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "is not a known key (typo?)")
