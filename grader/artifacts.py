"""The trained best model's files, read by the parent as data: what the checks grade.

The probe record is the child's word: student code runs in the same interpreter as the
probe and can show it a decoy. The files the search leaves for the best model are what
the parent itself uses (`best_model.json` is the architecture it rebuilds and evaluates)
or what Keras wrote from the trained model object (`best.keras`, whose `config.json`
holds the compile config: loss, metrics, optimizer and its learning-rate schedule). So
the checks judge these, and fall back to the probe record only for what no file holds.

Everything is read through `grader.boundary` (no path is opened, no link followed, every
read capped) and parsed as JSON; nothing is built with Keras, nothing is imported. The
result uses the same shapes the probe record uses for its `build` stage (see
grader/child/probe.py), so a check compares the two views with one piece of code.
Any value that is not what Keras writes (a wrong type, a huge config, a NaN where a
number is expected) is dropped and named in `problems`; reading never raises.

Both files are written by the child after the search, so a student who forges them can
still lie: they raise the bar (the architecture must be the model that gets evaluated),
they do not end the contest. docs/SECURITY.md says what remains.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from grader import archive
from grader.boundary import BestModel, open_child_file, read_child_file
from grader.errors import GraderError

MODEL_JSON = "best_model.json"
MODEL_FILE = "best.keras"
MAX_MODEL_JSON = 4 * 1024 * 1024  # a plain MLP's architecture is a few kB
MAX_MODEL_FILE = 512 * 1024 * 1024  # the zip holds the weights too; only its index is read
MAX_CONFIG_JSON = 4 * 1024 * 1024  # config.json inside the zip
MAX_LAYERS = 1000
MAX_NAME = 100  # class names, layer names, activations: longer ones are cut
MAX_DEPTH = 32  # nesting of any JSON value kept


@dataclass(frozen=True)
class DeclaredEvidence:
    """What the grader's trainer trained on the trusted path (grader.training), as data.

    The child chose it, but it is no claim about a training that happened elsewhere: the
    trainer trained exactly this, so the checks that judge training (fit_config,
    search_space, callbacks_passthrough, schedule) judge it rather than the probe's
    record, which student code can steer (it may show the probe one thing and declare
    another). Plain data, so that a shared training (grader.reuse) keeps it.
    """

    # A rate written as code: the table declared at the default hyperparameters, the
    # values the probe sampled too. What trains at any values is the table of that
    # trial's declaration, so a schedule that shows the probe one curve and the
    # declaration another is caught (schedule check).
    rates: tuple[float, ...] | None = None
    # The same for the callbacks that set the rate: (class name, ("step" | "epoch", rates)).
    callback_rates: tuple[tuple[str, tuple[str, tuple[float, ...]]], ...] = ()
    # Every distinct fit plan the trainer trained (grader.child.declaration.FitPlan's
    # `to_data`), in the order first trained.
    fits: tuple[Mapping[str, Any], ...] = ()
    # The hyperparameters the trainer searched: keras-tuner's `{class_name, config}`
    # entries of every declaration, the first of each name, in the order declared.
    space: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ModelArtifacts:
    """What the best model's files say; `None` for what could not be read.

    `architecture`, `loss`, `metrics`, `optimizer` and `learning_rate` have the shape of
    the probe record's `build` stage (grader/child/probe.py docstring), frozen.
    """

    architecture: Mapping[str, Any] | None = None
    compiled: bool = False  # a compile config was read (loss, metrics, optimizer)
    loss: Any = None
    metrics: tuple[Mapping[str, Any], ...] = ()
    optimizer: Mapping[str, Any] | None = None
    learning_rate: Mapping[str, Any] | None = None
    problems: tuple[str, ...] = ()  # for the instructor: what was refused and why
    # The trusted path (grader.training): what the grader's trainer trained; None when the
    # child trained (the sandbox fallback) or nothing was trained.
    declared: DeclaredEvidence | None = None

    @property
    def declared_rates(self) -> tuple[float, ...] | None:
        return None if self.declared is None else self.declared.rates

    @property
    def declared_callback_rates(self) -> tuple[tuple[str, tuple[str, tuple[float, ...]]], ...]:
        return () if self.declared is None else self.declared.callback_rates

    def build_view(self) -> Mapping[str, Any]:
        """The artifacts as a probe `build` stage (only the keys they provide)."""
        view: dict[str, Any] = {}
        if self.architecture is not None:
            view["architecture"] = self.architecture
        if self.compiled:
            view.update(loss=self.loss, metrics=self.metrics, optimizer=self.optimizer)
            view["learning_rate"] = self.learning_rate
        return MappingProxyType(view)


NO_ARTIFACTS = ModelArtifacts()


def read_artifacts(scratch: Path, best: BestModel | None) -> ModelArtifacts:
    """The best model's architecture and compile config from the child's scratch folder.

    The file names are the parent's own constants; `best` (the child's word, already
    range-checked at the boundary) only says whether the whole model could be saved.
    """
    if best is None:
        return NO_ARTIFACTS
    problems: list[str] = []
    text, config = read_artifact_data(scratch, best, problems)
    return from_data(text, config, problems)


def read_artifact_data(
    scratch: Path, best: BestModel, problems: list[str]
) -> tuple[str | None, dict[str, Any] | None]:
    """The two artifacts as plain data (architecture text, .keras config.json), read once.

    Kept with a shared training (grader.reuse) so that a copy of a program is judged on
    the same trained files as the first, not on the probe's word.
    """
    raw = _read(scratch, MODEL_JSON, MAX_MODEL_JSON, problems)
    text = None if raw is None else raw.decode("utf-8", "replace")
    config = _zip_config(scratch, problems) if best.model_file == MODEL_FILE else None
    return text, (thaw(config) if config is not None else None)


def from_data(
    model_json: bytes | str | None,
    keras_config: Mapping[str, Any] | None,
    problems: list[str] | None = None,
) -> ModelArtifacts:
    """Artifacts from `model.to_json()` text and a .keras file's config.json (parsed)."""
    problems = [] if problems is None else problems
    architecture = None if model_json is None else parse_architecture(model_json, problems)
    if not isinstance(keras_config, Mapping):
        return ModelArtifacts(architecture=architecture, problems=tuple(problems))
    compiled = parse_compile_config(keras_config.get("compile_config"), problems)
    return _freeze_artifacts(architecture, compiled, problems)


def _read(scratch: Path, name: str, limit: int, problems: list[str]) -> bytes | None:
    try:
        return read_child_file(scratch, name, limit=limit)
    except FileNotFoundError:
        problems.append(f"{name}: missing")
    except (GraderError, OSError) as exc:
        problems.append(f"{name}: {getattr(exc, 'message', exc)}")
    return None


def _zip_config(scratch: Path, problems: list[str]) -> Mapping[str, Any] | None:
    """config.json of best.keras, read from the descriptor boundary checked."""
    try:
        fd, _ = open_child_file(scratch, MODEL_FILE, limit=MAX_MODEL_FILE)
    except FileNotFoundError:
        problems.append(f"{MODEL_FILE}: missing")
        return None
    except (GraderError, OSError) as exc:
        problems.append(f"{MODEL_FILE}: {getattr(exc, 'message', exc)}")
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            # Directory and member capped before zipfile reads them (grader/archive.py).
            raw = archive.read_member(handle, "config.json", limit=MAX_CONFIG_JSON)
    except archive.ArchiveRefused as exc:
        problems.append(f"{MODEL_FILE}: refused, {exc}")
        return None
    except (OSError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile, EOFError) as exc:
        problems.append(f"{MODEL_FILE}: not a readable Keras file ({type(exc).__name__})")
        return None
    data = _loads(raw, f"{MODEL_FILE}/config.json", problems)
    return data if isinstance(data, Mapping) else None


def _loads(raw: bytes, what: str, problems: list[str]) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        problems.append(f"{what}: not valid JSON ({type(exc).__name__})")
        return None


# --- architecture ----------------------------------------------------------------------


def parse_architecture(text: bytes | str, problems: list[str]) -> Mapping[str, Any] | None:
    """`model.to_json()` as {input_shape, layers: [{class_name, name, units?, ...}]}."""
    data = _loads(text.encode() if isinstance(text, str) else text, MODEL_JSON, problems)
    config = data.get("config") if isinstance(data, Mapping) else None
    raw_layers = config.get("layers") if isinstance(config, Mapping) else None
    if not isinstance(raw_layers, list):
        problems.append(f"{MODEL_JSON}: not a Keras model description")
        return None
    if len(raw_layers) > MAX_LAYERS:
        problems.append(f"{MODEL_JSON}: {len(raw_layers)} layers, over {MAX_LAYERS}")
        return None
    layers = []
    input_shape = _shape(data.get("build_input_shape"))
    for raw in raw_layers:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("config"), Mapping):
            problems.append(f"{MODEL_JSON}: a layer is not an object")
            return None
        layer = _layer(raw)
        if input_shape is None:
            c = raw["config"]
            build = raw.get("build_config")
            input_shape = _shape(
                c.get("batch_shape") if layer["class_name"] == "InputLayer" else None
            )
            if input_shape is None and isinstance(build, Mapping):
                input_shape = _shape(build.get("input_shape"))
        layers.append(layer)
    return _freeze({"input_shape": input_shape, "layers": layers, "model_class": _name(data)})


def _layer(raw: Mapping[str, Any]) -> dict[str, Any]:
    c = raw["config"]
    out: dict[str, Any] = {"class_name": _name(raw), "name": _text(c.get("name"))}
    for key in ("units", "filters"):
        if _is_int(c.get(key)):
            out[key] = c[key]
    if isinstance(c.get("use_bias"), bool):
        out["use_bias"] = c["use_bias"]
    if _is_number(c.get("rate")):
        out["rate"] = float(c["rate"])
    if _is_number(c.get("negative_slope")):
        out["negative_slope"] = float(c["negative_slope"])
    for key in ("kernel_size", "pool_size"):  # Conv2D, MaxPooling2D: [3, 3]
        size = c.get(key)
        if isinstance(size, list) and 1 <= len(size) <= 3 and all(_is_int(v) for v in size):
            out[key] = list(size)
    if "activation" in c:
        out["activation"] = _activation(c["activation"])
    if "kernel_initializer" in c:
        out["kernel_initializer"] = _activation(c["kernel_initializer"])
    return out


def _activation(value: Any) -> str | None:
    """An activation or initializer by name: "relu", {"class_name": "GlorotUniform"}..."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        config = value.get("config")
        if value.get("class_name") == "function" and isinstance(config, str):
            return _text(config)
        return _name(value)
    return None


def _shape(value: Any) -> list[int | None] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= 8:
        return None
    if not all(v is None or (_is_int(v) and v >= 0) for v in value):
        return None
    return list(value)


# --- compile config --------------------------------------------------------------------


def parse_compile_config(value: Any, problems: list[str]) -> dict[str, Any] | None:
    """{loss, metrics, optimizer, learning_rate} of `model.get_compile_config()`."""
    if not isinstance(value, Mapping):
        problems.append(f"{MODEL_FILE}: no compile config (the model was not compiled)")
        return None
    metrics_in = value.get("metrics")
    if isinstance(metrics_in, Mapping):  # multi-output style {"output": [...]}
        metrics_in = [m for v in metrics_in.values() for m in (v if isinstance(v, list) else [v])]
    if metrics_in is None:
        metrics_in = []
    if not isinstance(metrics_in, list):
        metrics_in = [metrics_in]
    optimizer = _optimizer(value.get("optimizer"), problems)
    return {
        "loss": _object_spec(value.get("loss")),
        "metrics": [_metric(m) for m in metrics_in[:50]],
        "optimizer": optimizer,
        "learning_rate": _learning_rate(optimizer, problems),
    }


def _object_spec(value: Any) -> Any:
    """A loss or metric as the probe records it: a string or {class_name, config}."""
    if value is None or isinstance(value, str):
        return _text(value) if isinstance(value, str) else None
    if isinstance(value, Mapping) and isinstance(value.get("class_name"), str):
        config = value.get("config")
        if value["class_name"] == "function" and isinstance(config, str):
            config = {"name": config}  # Keras serialises a function as its name
        return {"class_name": _name(value), "config": _plain(config)}
    return None


def _metric(value: Any) -> dict[str, Any]:
    spec = _object_spec(value)
    if isinstance(spec, str):
        return {"name": spec, "class_name": None, "spec": spec}
    if isinstance(spec, Mapping):
        config = spec.get("config") or {}
        name = config.get("name") if isinstance(config, Mapping) else None
        return {"name": _text(name) if isinstance(name, str) else None, **spec, "spec": spec}
    return {"name": None, "class_name": None, "spec": None}


def _optimizer(value: Any, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("class_name"), str):
        problems.append(f"{MODEL_FILE}: the compile config has no optimizer")
        return None
    config = value.get("config")
    config = _plain(config) if isinstance(config, Mapping) else {}
    momentum = config.get("momentum")
    nesterov = config.get("nesterov")
    return {
        "class_name": _name(value),
        "module": _text(value.get("module")) if isinstance(value.get("module"), str) else None,
        "config": config,
        "momentum": float(momentum) if _is_number(momentum) else None,
        "nesterov": nesterov if isinstance(nesterov, bool) else None,
    }


def _learning_rate(optimizer: Mapping[str, Any] | None, problems: list[str]) -> Any:
    """The optimizer's learning rate as the probe's LR record (without samples)."""
    if optimizer is None:
        return None
    lr = optimizer["config"].get("learning_rate")
    if _is_number(lr):
        return {"kind": "constant", "class_name": "float", "config": None, "value": float(lr)}
    if isinstance(lr, Mapping) and isinstance(lr.get("class_name"), str):
        config = lr.get("config")
        if not isinstance(config, Mapping):
            problems.append(f"{MODEL_FILE}: the learning-rate schedule has no config")
            config = None
        return {
            "kind": "schedule",
            "class_name": _name(lr),
            "module": _text(lr.get("module")) if isinstance(lr.get("module"), str) else None,
            "registered_name": _text(lr["registered_name"])
            if isinstance(lr.get("registered_name"), str)
            else None,
            "config": config,
            "value": None,
        }
    problems.append(
        f"{MODEL_FILE}: the optimizer's learning rate is neither a number nor a schedule"
    )
    return None


# --- values ----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def _name(obj: Mapping[str, Any]) -> str:
    name = obj.get("class_name")
    return _text(name) if isinstance(name, str) else "?"


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON value kept as is, cut where it nests too deep or a string is too long.

    Non-finite floats stay (float('nan')): the schedule code refuses them by name.
    """
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {_text(k): _plain(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value[:1000]]
    if isinstance(value, str):
        return value if len(value) <= 10 * MAX_NAME else value[: 10 * MAX_NAME]
    return value


def _freeze(value: Any) -> Any:
    """Deeply read-only: mappings as MappingProxyType, lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _freeze_artifacts(
    architecture: Mapping[str, Any] | None, compiled: dict[str, Any] | None, problems: list[str]
) -> ModelArtifacts:
    if compiled is None:
        return ModelArtifacts(architecture=architecture, problems=tuple(problems))
    return ModelArtifacts(
        architecture=architecture,
        compiled=True,
        loss=_freeze(compiled["loss"]),
        metrics=_freeze(compiled["metrics"]),
        optimizer=_freeze(compiled["optimizer"]),
        learning_rate=_freeze(compiled["learning_rate"]),
        problems=tuple(problems),
    )


def thaw(value: Any) -> Any:
    """A frozen value back to plain JSON types (for comparisons and messages)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


__all__ = [
    "NO_ARTIFACTS",
    "ModelArtifacts",
    "from_data",
    "read_artifact_data",
    "read_artifacts",
    "thaw",
]
