"""What every check shares: its input (`CheckContext`), its answer (`Verdict`), the registry.

Messages: each check's templates live in the language catalogs, in the table
`[checks.<id>]` of grader/i18n/<lang>.toml; the module passes `i18n.messages("checks.<id>")`
(a `{key: {lang: text}}` view of that table) to `@register`. A module may still pass a
plain `MESSAGES = {key: {"es": ..., "en": ...}}` dict (English is required, the fallback of
every other language). An instructor may override any of them (or the shared ones in
`COMMON_MESSAGES`, `[checks.common]`) from the spec, per key and language, without
touching code:

    [rubric.optimizer]
    messages = { wrong_class = { es = "Usa SGD, no {found}.", en = "Use SGD, not {found}." } }

`validate_rubric` rejects an override whose key the check does not have or whose
placeholders the check does not provide. Templates are `str.format` strings.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from grader import i18n
from grader.artifacts import NO_ARTIFACTS, ModelArtifacts
from grader.boundary import ProbeRecord
from grader.checks.params import NoParams
from grader.results import Baseline, CheckStatus, Evidence, Location

if TYPE_CHECKING:  # annotations only: both import far more than the checks need
    from grader.evaluate import Evaluation
    from grader.submission import LoadedSubmission

Messages = Mapping[str, Mapping[str, str]]

# Stages of the probe record a check may depend on (see grader/probe.py).
STAGES = ("structure", "build", "fit")

# The messages every check may give (the catalogs' [checks.common] table).
COMMON_MESSAGES = i18n.messages("checks.common")


@dataclass(frozen=True)
class Verdict:
    """A check's answer; `fraction` of the item's points is given when it passed."""

    status: CheckStatus
    message: str
    location: Location | None = None
    fraction: float = 1.0
    # What the verdict rests on; None: the check's declared default (see `register`).
    evidence: Evidence | None = None


@dataclass(frozen=True)
class CheckContext:
    """Everything a check may look at. `run_checks` fills the per-item fields.

    The caller gives the record and the outcome; `params`, `messages` and
    `class_name` are set from the spec for each rubric item.
    """

    record: ProbeRecord = field(default_factory=ProbeRecord)
    lang: str = "es"
    loaded: LoadedSubmission | None = None  # for locations
    test_accuracy: float | None = None
    reference_test_accuracy: float | None = None  # calibrated mean (grader/calibrate.py)
    reference_sd: float | None = None  # its standard deviation over the calibration seeds
    budget: str = ""
    baselines: tuple[Baseline, ...] = ()
    # The optimizer config read from the saved best model (grader.evaluate.saved_optimizer);
    # None when no model was saved or its schedule could not be serialised.
    saved_optimizer: Mapping[str, Any] | None = None
    # The trained best model's files as the parent read them (grader/artifacts.py).
    artifacts: ModelArtifacts = NO_ARTIFACTS
    # The parent's evaluation of the best model (grader.evaluate.Evaluation): steps
    # trained, the step budget, why it needs review. None when there was no best model.
    evaluation: Evaluation | None = None
    val_accuracy: float | None = None  # the child's word (its search's objective), unverified
    # The check's own params dataclass (NoParams, or the `params=` of its `register`): each
    # check declares its own, with no common base, so a check reads its fields as it knows them.
    params: Any = field(default_factory=NoParams)
    messages: Messages = field(default_factory=lambda: MappingProxyType({}))
    class_name: str = "MyHyperModel"

    def __post_init__(self) -> None:
        # A plain mapping (a test's, a record read back from storage) goes through the schema.
        if not isinstance(self.record, ProbeRecord):
            object.__setattr__(self, "record", ProbeRecord.parse(self.record))

    def judged(self, key: str) -> tuple[Any, Evidence]:
        """`key` of the build stage from the trained model's files when they hold it, else
        from the probe record (the child's word), with which of the two it is."""
        view = self.artifacts.build_view()
        if key in view and view[key] is not None:
            return view[key], Evidence.ARTIFACT
        return self.record.build.get(key), Evidence.CHILD

    def disagreement(self, what: str, probed: Any, trained: Any) -> str:
        """The message for a probe record that contradicts the trained model's files."""
        return self.say("disagreement", what=what, probed=probed, trained=trained)

    def say(self, key: str, **fields: Any) -> str:
        """The message `key` in this context's language, filled with `fields`."""
        texts = self.messages.get(key) or COMMON_MESSAGES[key]
        template = texts.get(self.lang) or texts[i18n.FALLBACK]
        return template.format(class_name=self.class_name, **fields)

    def locate(self, *call_names: str, anywhere: bool = False) -> Location | None:
        """First call to any of `call_names` inside the class (or anywhere), if loaded."""
        if self.loaded is None:
            return None
        from grader.submission import find_calls

        within = None if anywhere else self.class_name
        for name in call_names:
            found = find_calls(self.loaded, name, within=within)
            if found:
                return found[0]
        return None

    def keyword(self, call_name: str, keyword: str) -> Location | None:
        """First `call_name(keyword=...)` anywhere in the file, if loaded."""
        if self.loaded is None:
            return None
        from grader.submission import find_keyword

        found = find_keyword(self.loaded, call_name, keyword)
        return found[0] if found else None

    def class_location(self, name: str | None = None) -> Location | None:
        if self.loaded is None:
            return None
        from grader.submission import definitions

        return definitions(self.loaded, "class").get(name or self.class_name)


CheckFunction = Callable[[CheckContext], Verdict]


@dataclass(frozen=True)
class Check:
    id: str
    run: CheckFunction
    messages: Messages
    requires: tuple[str, ...]  # probe stages that must be "ok" (see STAGES)
    evidence: Evidence | None = None  # what its verdicts rest on unless they say otherwise
    params: type = NoParams  # the frozen dataclass its [rubric.<id>].params are read into


REGISTRY: dict[str, Check] = {}


def register(
    check_id: str,
    messages: Messages,
    *,
    requires: tuple[str, ...] = (),
    evidence: Evidence | None = None,
    params: type = NoParams,
) -> Callable[[CheckFunction], CheckFunction]:
    """Make `func` the check `check_id` (the key used in the spec's [rubric.<id>]).

    `evidence` is what its verdicts rest on when a verdict does not say (None: the check
    does not say, and reports show no marker). `params` is the frozen dataclass the
    spec's `[rubric.<id>].params` are validated and read into (grader/checks/params.py);
    the check receives that instance as `ctx.params`."""
    for key, texts in messages.items():
        # English is the fallback of every other language, so it must be there.
        if i18n.FALLBACK not in texts:
            raise ValueError(f"check {check_id}: message {key!r} has no {i18n.FALLBACK} text")
    unknown = set(requires) - set(STAGES)
    if unknown:
        raise ValueError(f"check {check_id}: unknown stages {sorted(unknown)}")

    def decorate(func: CheckFunction) -> CheckFunction:
        REGISTRY[check_id] = Check(
            check_id, func, MappingProxyType(dict(messages)), requires, evidence, params
        )
        return func

    return decorate


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# --- helpers the checks share ------------------------------------------------------------


def passed(
    message: str,
    location: Location | None = None,
    fraction: float = 1.0,
    evidence: Evidence | None = None,
) -> Verdict:
    return Verdict(CheckStatus.PASSED, message, location, fraction, evidence)


def failed(
    message: str, location: Location | None = None, evidence: Evidence | None = None
) -> Verdict:
    return Verdict(CheckStatus.FAILED, message, location, 0.0, evidence)


def skipped(message: str, location: Location | None = None) -> Verdict:
    return Verdict(CheckStatus.SKIPPED, message, location, 0.0)


def needs_review(message: str, location: Location | None = None) -> Verdict:
    return Verdict(CheckStatus.NEEDS_REVIEW, message, location, 0.0)


def error_location(error: Mapping[str, Any] | None) -> Location | None:
    """The student-code location the probe recorded with an exception."""
    loc = (error or {}).get("location")
    if not isinstance(loc, Mapping) or loc.get("line") is None:
        return None
    return Location(loc.get("cell"), int(loc["line"]))


def error_text(error: Mapping[str, Any] | None, limit: int = 300) -> str:
    if not error:
        return "?"
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def keras2_hint(ctx: CheckContext, message: str) -> str:
    """The Keras 2 explanation matching an error or warning text, or ''."""
    if re.search(r"""['"`]lr['"`]""", message):
        return ctx.say("keras2_lr")
    if "`decay`" in message or "'decay'" in message:
        return ctx.say("keras2_decay")
    return ""


def fmt(value: Any) -> str:
    """A value as the student would write it in Python."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def join(parts: list[str]) -> str:
    """Sentences into one message, ending each with a full stop if it has none."""
    sentences = [p.strip() for p in parts if p and p.strip()]
    return " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences)
