"""A rubric item read against the registered checks: its params into the check's dataclass
(grader/checks/params.py) and its message overrides checked against the check's messages.

Apart from params.py, which only reads TOML into dataclasses, because this needs the
registry (grader/checks/base.py), and base.py needs params.py's `NoParams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader import i18n
from grader.checks.base import COMMON_MESSAGES, REGISTRY, placeholders
from grader.checks.params import ParamError, build
from grader.errors import SpecError


def parse_item(
    check_id: str, params: Any, messages: Any, path: Path
) -> tuple[Any, MappingProxyType]:
    """The check's params dataclass and its message overrides, validated; SpecError
    naming the dotted key otherwise (unknown check, parameter, message or placeholder)."""
    check = REGISTRY.get(check_id)
    if check is None:
        raise SpecError(
            f"{path}: [rubric.{check_id}] names no known check",
            hint=f"known checks: {', '.join(sorted(REGISTRY))}",
        )
    where = f"rubric.{check_id}.params"
    try:
        built = build(check.params, params, check_id)
    except ParamError as exc:
        key = f"{where}.{exc.key}" if exc.key else where
        raise SpecError(f"{path}: {key} {exc.problem}") from None
    validate_messages(check_id, messages, path)
    frozen = {k: MappingProxyType(dict(v)) for k, v in messages.items()}
    return built, MappingProxyType(frozen)


def validate_messages(check_id: str, messages: Any, path: Path) -> None:
    """SpecError unless every override names a message of the check, in known languages,
    with only the placeholders that message is filled with."""
    check = REGISTRY[check_id]
    if not isinstance(messages, Mapping):
        raise SpecError(f"{path}: rubric.{check_id}.messages must be a table")
    defaults = {**COMMON_MESSAGES, **check.messages}
    for key, texts in messages.items():
        at = f"{path}: [rubric.{check_id}].messages.{key}"
        if key not in defaults:
            raise SpecError(
                f"{at} is not a message of check '{check_id}'",
                hint=f"known: {', '.join(sorted(defaults))}",
            )
        known = i18n.languages()  # the languages with a catalog (grader/i18n, --lang-dir)
        if not isinstance(texts, Mapping) or not set(texts) <= set(known):
            raise SpecError(
                f"{at} must be a table of texts in {', '.join(known)}",
                hint="a language is known when grader/i18n or --lang-dir has its catalog",
            )
        allowed = set().union(*(placeholders(t) for t in defaults[key].values()))
        for lang, text in texts.items():
            if not isinstance(text, str):
                raise SpecError(f"{at}.{lang} must be a string")
            extra = placeholders(text) - allowed - {"class_name"}
            if extra:
                raise SpecError(
                    f"{at}.{lang} uses unknown placeholder(s) {sorted(extra)}",
                    hint=f"available: {', '.join(sorted(allowed)) or 'none'}",
                )
