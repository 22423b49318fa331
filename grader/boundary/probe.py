"""The probe record's schema (grader/child/probe.py's docstring describes the record) and
`ProbeRecord`, the checked, read-only record the checks read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from grader.boundary import values as v
from grader.boundary.values import (
    MAX_EPOCHS,
    MAX_ITEMS,
    MAX_KEYS,
    MAX_NAME,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_TEXT,
)

# The probe record, stage by stage, as grader/child/probe.py's docstring describes it. What a
# check compares or converts (names, flags, numbers, samples, locations) is typed; what the
# student passed through unchanged (fit arguments, Keras configs) stays free-form JSON.
_ERROR = v.record(
    {"type": v.text(MAX_NAME), "message": v.text(), "location": v.maybe(v.location_mapping)}
)


def _error_or_text(value: Any, path: str, walk: v.Walk) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return v.clip(value, MAX_TEXT)
    return _ERROR(value, path, walk)


_STATUS = v.choice("ok", "error", "skipped")
_TEXTS = v.list_of(v.text(1000), 1000, clip=True)
_NAMES = v.list_of(v.text(MAX_NAME), 1000, clip=True)
_SAMPLES_BY_STEP = v.record(
    {
        "steps": v.list_of(v.integer(0, MAX_STEPS, "a training step"), MAX_ITEMS),
        "lrs": v.list_of(v.number(-math.inf, math.inf, "a learning rate"), MAX_ITEMS),
    }
)
_SAMPLES_BY_EPOCH = v.record(
    {
        "epochs": v.list_of(v.integer(0, MAX_EPOCHS, "an epoch"), MAX_ITEMS),
        "lrs": v.list_of(v.number(-math.inf, math.inf, "a learning rate"), MAX_ITEMS),
    }
)
_LR_LIST = v.list_of(v.number(-math.inf, math.inf, "a learning rate", as_float=True), MAX_ITEMS)
# A callback's dry run (grader/child/simulate.py, DRY_RUN_*): the rates a simulated training saw.
_DRY_RUN = v.record(
    {
        "status": v.choice("ok", "error", "truncated"),
        "steps_per_epoch": v.integer(1, MAX_STEPS, "a step count"),
        "epochs": v.integer(0, MAX_EPOCHS, "an epoch count"),
        "batches": v.list_of(v.integer(0, MAX_STEPS, "a training step"), MAX_ITEMS),
        "batch_lrs": _LR_LIST,
        "epoch_lrs": _LR_LIST,
        "epoch_end_lrs": _LR_LIST,
        "lr_before": v.optional_float,
        "copied": v.choice("deep", "shallow", "none"),
        "error": v.maybe(_ERROR),
        "seconds": v.number(0, MAX_SECONDS, "seconds"),
    }
)
_CALLBACKS = v.list_of(
    v.record(
        {
            "class_name": v.text(MAX_NAME),
            "module": v.text(1000),
            "marker": v.flag,
            "config": v.maybe(v.mapping_of(v.json_value, MAX_KEYS)),
            "samples": v.maybe(_SAMPLES_BY_EPOCH),
            "samples_error": _error_or_text,
            "conflicts_with_schedule": v.flag,
            "dry_run": v.maybe(_DRY_RUN),
        }
    ),
    1000,
    clip=True,
)
_LEARNING_RATE = v.record(
    {
        "kind": v.choice("schedule", "callable", "constant"),
        "class_name": v.text(MAX_NAME),
        "config": v.json_value,
        "config_error": v.maybe(v.text()),
        "value": v.optional_float,
        "samples": v.maybe(_SAMPLES_BY_STEP),
        "samples_error": _error_or_text,
    }
)
_HP_VALUES = v.mapping_of(v.scalar(), MAX_KEYS)
_STAGE_PARSERS: dict[str, v.Parser] = {
    "structure": v.record(
        {
            "status": _STATUS,
            **dict.fromkeys(
                ("exists", "is_class", "is_hypermodel", "defines_build", "defines_fit"), v.flag
            ),
            "instantiated": v.flag,
            "near_misses": _NAMES,
            "found_type": v.maybe(v.text(MAX_NAME)),
            "bases": v.list_of(v.text(1000), 1000, clip=True),
            "fit_signature": v.maybe(
                v.record(
                    {
                        "params": _NAMES,
                        "var_keyword": v.flag,
                        "var_positional": v.flag,
                        "text": v.text(),
                    }
                )
            ),
            "error": v.maybe(_ERROR),
        }
    ),
    "build": v.record(
        {
            "status": _STATUS,
            "error": v.maybe(_ERROR),
            "warnings": _TEXTS,
            "returned_type": v.maybe(v.text(MAX_NAME)),
            "is_model": v.flag,
            "compiled": v.flag,
            "architecture": v.record(
                {
                    "input_shape": v.json_value,
                    "layers": v.list_of(
                        v.record({"class_name": v.text(MAX_NAME), "name": v.text(MAX_NAME)}),
                        MAX_ITEMS,
                    ),
                }
            ),
            "compile_config": v.json_value,
            "loss": v.json_value,
            "metrics": v.list_of(
                v.record({"class_name": v.maybe(v.text(MAX_NAME)), "spec": v.json_value}), 1000
            ),
            "optimizer": v.maybe(
                v.record(
                    {
                        "class_name": v.text(MAX_NAME),
                        "config": v.json_value,
                        "config_error": v.maybe(v.text()),
                        "momentum": v.optional_float,
                        "nesterov": v.maybe(v.flag),
                    }
                )
            ),
            "learning_rate": v.maybe(_LEARNING_RATE),
        }
    ),
    "search_space": v.record(
        {
            "status": _STATUS,
            "hyperparameters": v.list_of(
                v.record(
                    {
                        "name": v.name(),
                        "type": v.text(MAX_NAME),
                        "min": v.maybe(v.number(-math.inf, math.inf, "a bound")),
                        "max": v.maybe(v.number(-math.inf, math.inf, "a bound")),
                        "step": v.maybe(v.number(-math.inf, math.inf, "a step")),
                        "default": v.scalar(),
                        "values": v.maybe(v.list_of(v.scalar(), MAX_ITEMS)),
                    }
                ),
                MAX_KEYS,
            ),
            "values": _HP_VALUES,
        }
    ),
    "corners": v.record(
        {
            "status": _STATUS,
            "total_steps": v.integer(0, MAX_STEPS, "a step count"),
            "truncated": v.flag,
            "builds": v.list_of(
                v.record(
                    {
                        "values": _HP_VALUES,
                        "ok": v.flag,
                        "error": v.maybe(_ERROR),
                        **dict.fromkeys(
                            ("lr_first", "lr_last", "lr_min", "lr_max"), v.optional_float
                        ),
                    }
                ),
                1000,
            ),
        }
    ),
    "fit": v.record(
        {
            "status": _STATUS,
            "error": v.maybe(_ERROR),
            "warnings": _TEXTS,
            "calls": v.list_of(
                v.record(
                    {
                        "same_model": v.flag,
                        "given": _NAMES,
                        # "same", "same_shape", ...: compared with known values by the checks.
                        **dict.fromkeys(("x", "y", "validation"), v.maybe(v.text(MAX_NAME))),
                        "extra_kwargs": _NAMES,
                        "markers": v.integer(0, MAX_ITEMS, "a count"),
                        "bind_error": v.maybe(v.text()),
                        "callbacks": _CALLBACKS,
                    }
                ),
                1000,
                clip=True,
            ),
            "markers": v.choice("all", "some", "none", "no_call"),
            "returned_type": v.maybe(v.text(MAX_NAME)),
        }
    ),
    # Written by the worker after the search (grader/child/simulate.py, best_callbacks).
    "best_callbacks": v.record(
        {
            "status": _STATUS,
            "error": v.maybe(_ERROR),
            "hyperparameters": _HP_VALUES,
            "callbacks": _CALLBACKS,
        }
    ),
}
_PROBE = v.record(
    {
        "probe_version": v.integer(1, 1, "the probe version"),
        "class_name": v.text(MAX_NAME),
        "seconds": v.number(0, MAX_SECONDS, "seconds"),
        "probe_error": _ERROR,
        **_STAGE_PARSERS,
    }
)


STAGE_NAMES = ("structure", "build", "search_space", "corners", "fit", "best_callbacks")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY  # one read-only empty stage, shared: an absent stage


@dataclass(frozen=True)
class ProbeRecord:
    """The probe record (grader/child/probe.py's docstring), checked and read-only.

    Its top-level keys are fields: the checks read a stage as an attribute
    (`record.build.get("optimizer")`), an absent stage as an empty mapping. Inside a stage
    the objects are MappingProxyType and the lists tuples, all the way down. Build it with
    `ProbeRecord.parse` (the schema above), or `ProbeRecord()` for no record at all.
    """

    probe_version: int | None = None  # None: no probe record (the child never probed)
    class_name: str | None = None
    seconds: float | None = None
    probe_error: Mapping[str, Any] | None = None  # the probe's own failure, if any
    structure: Mapping[str, Any] = field(default_factory=_empty)
    build: Mapping[str, Any] = field(default_factory=_empty)
    search_space: Mapping[str, Any] = field(default_factory=_empty)
    corners: Mapping[str, Any] = field(default_factory=_empty)
    fit: Mapping[str, Any] = field(default_factory=_empty)
    best_callbacks: Mapping[str, Any] = field(
        default_factory=_empty
    )  # written by the worker after the search

    @classmethod
    def parse(cls, value: Any, *, path: str = "probe", walk: v.Walk | None = None) -> ProbeRecord:
        """`value` checked against the schema; `walk`: the count of the answer it is part of.
        Top-level keys the schema does not name are dropped: nothing reads them."""
        data = _PROBE(value, path, v.Walk() if walk is None else walk)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def stage(self, name: str) -> Mapping[str, Any]:
        """The stage called `name` (one of STAGE_NAMES), for a check that picks it at run time."""
        if name not in STAGE_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types again (for storage), absent keys left out; `parse` reads it back."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value is not _EMPTY:
                out[f.name] = v.thaw(value)
        return out
