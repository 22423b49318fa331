"""Inspect the student's HyperModel in the child process, before any training.

`run_probe` instantiates the class, builds a model with default hyperparameters,
samples its learning rate, reads the search space, builds at the corners of the
search space and runs the student's `fit` once with `keras.Model.fit` replaced by a
recorder (no training). Every stage records its own error; a stage whose input is
missing records ``{"status": "skipped"}``. Nothing raises out of `run_probe`.

The record (plain JSON data; the checks in `grader/checks/` read only this):

    probe_version: 1
    class_name: str
    seconds: float
    probe_error: ERROR                 # only when the probe itself failed (a grader bug)
    structure:
        status: "ok" | "error"         # ok = the class exists and could be instantiated
        exists, is_class, is_hypermodel, defines_build, defines_fit, instantiated: bool
        near_misses: [str]             # classes with a similar name when it does not exist
        found_type: str | None         # type name of the object bound to class_name
        bases: [str]                   # "module.Qualname" of the MRO, without object
        fit_signature: {params: [str], var_keyword: bool, var_positional: bool,
                        text: str} | None     # params exclude `self`
        error: ERROR | None            # instantiation error
    build:
        status: "ok" | "error" | "skipped"
        error: ERROR | None
        warnings: [str]                # e.g. "Argument `decay` is no longer supported ..."
        returned_type: str | None
        is_model, compiled: bool
        architecture: {input_shape: [int|None] | None,
                       layers: [{class_name, name, units?, filters?, kernel_size?,
                                 pool_size?, activation?, kernel_initializer?, use_bias?,
                                 rate?, negative_slope?, target_shape?}]}
        compile_config: JSON | None    # model.get_compile_config()
        loss: JSON                     # a string ("categorical_crossentropy") or
                                       # {"class_name", "config"}; repr string as last resort
        metrics: [{name: str, class_name: str | None, spec: JSON}]
        optimizer: {class_name, config: JSON | None, config_error: str | None,
                    momentum: float | None, nesterov: bool | None} | None
        learning_rate: LR | None
    search_space:
        status: "ok" | "skipped"       # read after the default build, even a failed one
        hyperparameters: [{name, type: "Float"|"Int"|"Choice"|"Boolean"|"Fixed",
                           min, max, step, sampling, default, values}]
        values: {name: value}          # the values the default build used
    corners:
        status: "ok" | "skipped"
        total_steps: int               # steps_per_epoch * epochs
        truncated: bool                # more than 4 numeric hyperparameters
        builds: [{values: {name: value}, ok: bool, error: ERROR | None,
                  lr_first: float | None, lr_last: float | None,
                  lr_min: float | None, lr_max: float | None}]
    fit:
        status: "ok" | "error" | "skipped"
        error: ERROR | None
        warnings: [str]
        calls: [CALL]                  # one per keras.Model.fit call
        markers: "all" | "some" | "none" | "no_call"   # tuner callbacks reaching fit
        returned_type: str | None
    best_callbacks:                    # added by the worker after the search (best_callbacks)
        status: "ok" | "error"
        error: ERROR | None
        hyperparameters: {name: value} # the best trial's
        callbacks: [CALLBACK]          # those with a dry run, rerun with these values

    ERROR = {type: str, message: str, location: {cell: int | None, line: int} | None}
    LR = {kind: "schedule" | "callable" | "constant", class_name: str,
          config: JSON | None, config_error: str | None, value: float | None,
          samples: {steps: [int], lrs: [float]} | None, samples_error: ERROR | str | None}
    CALL = {same_model: bool, given: [str] (arguments passed explicitly), x: DATA, y: DATA,
            validation: DATA, validation_split: float, batch_size: int | None, epochs: int | None,
            shuffle, verbose, initial_epoch, steps_per_epoch: JSON,
            extra_kwargs: [str], markers: int, bind_error: str | None,
            callbacks: [CALLBACK]}
    DATA = "same" | "same_elements" | "equal" | "swapped" | "same_shape" | "different" | "none"
                                       # same: the very object; same_elements: a tuple of the
                                       # very objects; equal: a copy (equal content); swapped:
                                       # the other split's data (x is xy_val's, or the
                                       # validation is x, y); same_shape: other data
    CALLBACK = {class_name, module, marker: bool, config: {...} | None,
                samples: {epochs: [int], lrs: [float]} | None, samples_error: str | None,
                conflicts_with_schedule: bool, dry_run: DRY_RUN | None}
    DRY_RUN = {status: "ok" | "error" | "truncated",   # truncated: the time ran out
               steps_per_epoch: int, epochs: int,     # the simulated schedule of batches
               batches: [int], batch_lrs: [float],    # global batch index, the rate it used
               epoch_lrs: [float],                    # the rate at each epoch's first batch
               epoch_end_lrs: [float],                # the rate after on_epoch_end
               lr_before: float | None,               # the optimizer's rate before the run
               copied: "deep" | "shallow" | "none",   # what the run worked on (see below)
               error: ERROR | None, seconds: float}
                                       # Only for callbacks that can set the rate
                                       # (LearningRateScheduler, ReduceLROnPlateau, the
                                       # student's own Callback subclasses); see _dry_run.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.child.declaration import space_record
from grader.child.protocol import describe_exception, sample_steps
from grader.child.simulate import FitCall, captured_warnings, dry_fit, finite, jsonable

PROBE_VERSION = 1
SAMPLE_SECONDS = 5.0  # one-by-one sampling stops after this (slow hand-written schedules)
MAX_CORNER_HPS = 4  # 2**4 = 16 builds at most


@dataclass(frozen=True)
class ProbeSetup:
    """What the probe asks of the student's class: its name, the training's length the
    schedule is sampled over (`steps_per_epoch` x `epochs`), and how the student's fit
    receives validation data, as the search will pass it (grader.child.search.search_call)."""

    class_name: str
    steps_per_epoch: int
    epochs: int
    validation: str = "xy_val"  # xy_val, validation_data or validation_split
    validation_split: float | None = None


def run_probe(
    namespace: dict[str, Any],
    setup: ProbeSetup,
    fit_data: tuple[Any, Any, Any],
    *,
    seed: int | None = None,
    on_first_build: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Probe `namespace[setup.class_name]`; never raises. See the module docstring for the
    record. `fit_data` is (x, y, xy_val) as the tuner hands them to the student's fit.

    With `seed`, the first build runs right after `keras.utils.set_random_seed(seed)`, and
    `on_first_build` gets the model it returned before anything else touches it: the
    parent's evaluator draws the same initial weights from a fresh build of its
    architecture, so a build that returns other weights shows.
    """
    class_name, steps_per_epoch, epochs = setup.class_name, setup.steps_per_epoch, setup.epochs
    started = time.monotonic()
    record: dict[str, Any] = {"probe_version": PROBE_VERSION, "class_name": class_name}
    total_steps = max(1, int(steps_per_epoch) * int(epochs))
    instance = None
    try:
        import keras_tuner

        record["structure"], instance = _structure(namespace, class_name)
        hp = keras_tuner.HyperParameters()
        model = None
        if instance is None:
            record["build"] = _skipped()
            record["search_space"] = _skipped()
        else:
            if seed is not None:
                import keras

                keras.utils.set_random_seed(seed)
            record["build"], model = _build(instance, hp, total_steps)
            if model is not None and on_first_build is not None:
                on_first_build(model)
            record["search_space"] = _search_space(hp)
        if model is None:
            record["fit"] = _skipped()
        else:
            metric_names = [m["name"] for m in record["build"]["metrics"] if m["name"]]
            call = FitCall(
                fit_data,
                int(epochs),
                (setup.validation, setup.validation_split),
                int(steps_per_epoch),
            )
            record["fit"] = dry_fit(instance, hp, model, call, metric_names)
            # The tuner hands `fit` the same hp: one declared there (a searched batch
            # size, say) is part of the search too, so the space is read again.
            record["search_space"] = _search_space(hp)
        if model is None or not record["search_space"].get("hyperparameters"):
            record["corners"] = _skipped()
        else:
            record["corners"] = _corners(instance, record["search_space"], total_steps)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        record["probe_error"] = describe_exception(exc)
    for stage in ("structure", "build", "search_space", "corners", "fit"):
        record.setdefault(stage, _skipped())
    record["seconds"] = round(time.monotonic() - started, 3)
    return jsonable(record)


def _skipped() -> dict[str, Any]:
    return {"status": "skipped"}


# --- structure -------------------------------------------------------------------------


def _structure(namespace: dict[str, Any], class_name: str) -> tuple[dict[str, Any], Any]:
    import keras_tuner

    out: dict[str, Any] = {
        "status": "error",
        "exists": class_name in namespace,
        "near_misses": [],
        "is_class": False,
        "found_type": None,
        "bases": [],
        "is_hypermodel": False,
        "defines_build": False,
        "defines_fit": False,
        "fit_signature": None,
        "instantiated": False,
        "error": None,
    }
    if class_name not in namespace:
        out["near_misses"] = near_misses(namespace, class_name)
        return out, None
    cls = namespace[class_name]
    out["found_type"] = type(cls).__name__
    if not isinstance(cls, type):
        return out, None
    out["is_class"] = True
    out["bases"] = [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__[1:] if c is not object]
    out["is_hypermodel"] = issubclass(cls, keras_tuner.HyperModel)
    # "Defines" means the student's own class hierarchy, not keras_tuner's defaults.
    own = [c for c in cls.__mro__ if not c.__module__.startswith(("keras_tuner", "builtins"))]
    out["defines_build"] = any("build" in vars(c) for c in own)
    out["defines_fit"] = any("fit" in vars(c) for c in own)
    fit = getattr(cls, "fit", None)
    if callable(fit):
        out["fit_signature"] = _signature(fit)
    try:
        instance = cls()
    except Exception as exc:
        out["error"] = describe_exception(exc)
        return out, None
    out["instantiated"] = True
    out["status"] = "ok"
    return out, instance


def near_misses(namespace: dict[str, Any], name: str) -> list[str]:
    """Classes whose name differs from `name` only in case, or is close to it."""
    classes = [k for k, v in namespace.items() if isinstance(v, type) and not k.startswith("_")]
    same_case = [k for k in classes if k.lower() == name.lower()]
    close = difflib.get_close_matches(name, classes, n=3, cutoff=0.75)
    return list(dict.fromkeys(same_case + close))


def _signature(func: Callable[..., Any]) -> dict[str, Any] | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    kinds = inspect.Parameter
    return {
        "params": [
            p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        ],
        "var_keyword": any(p.kind is kinds.VAR_KEYWORD for p in params),
        "var_positional": any(p.kind is kinds.VAR_POSITIONAL for p in params),
        "text": str(sig),
    }


# --- build -----------------------------------------------------------------------------


def _build(instance: Any, hp: Any, total_steps: int) -> tuple[dict[str, Any], Any]:
    import keras

    out: dict[str, Any] = {
        "status": "error",
        "error": None,
        "warnings": [],
        "returned_type": None,
        "is_model": False,
        "compiled": False,
    }
    try:
        with captured_warnings(out["warnings"]):
            model = instance.build(hp)
    except Exception as exc:
        out["error"] = describe_exception(exc)
        return out, None
    out["returned_type"] = type(model).__name__
    out["is_model"] = isinstance(model, keras.Model)
    if not out["is_model"]:
        return out, None
    out["status"] = "ok"
    out["compiled"] = bool(getattr(model, "compiled", False))
    out["architecture"] = _architecture(model)
    out.update(_compiled(model))
    optimizer = getattr(model, "optimizer", None)
    out["optimizer"] = _optimizer(optimizer) if optimizer is not None else None
    out["learning_rate"] = learning_rate_record(optimizer, total_steps) if optimizer else None
    return out, model


def _architecture(model: Any) -> dict[str, Any]:
    try:
        input_shape = list(model.input_shape) if model.inputs else None
    except Exception:  # an unbuilt Sequential has no inputs yet; that is data, not an error
        input_shape = None
    layers = []
    for layer in model.layers:
        entry: dict[str, Any] = {"class_name": type(layer).__name__, "name": layer.name}
        try:
            config = layer.get_config()
        except Exception:
            config = {}
        for key in ("units", "filters", "use_bias", "rate", "negative_slope", "target_shape"):
            if key in config:
                entry[key] = config[key]
        for key in ("kernel_size", "pool_size"):
            if isinstance(config.get(key), list | tuple):
                entry[key] = list(config[key])
        if "activation" in config:
            entry["activation"] = _activation_name(config["activation"])
        if "kernel_initializer" in config:
            entry["kernel_initializer"] = _initializer_name(config["kernel_initializer"])
        layers.append(entry)
    return {"input_shape": input_shape, "layers": layers}


def _initializer_name(value: Any) -> Any:
    """An initializer as the model file names it: its class ("LecunNormal") or string."""
    if isinstance(value, dict):
        return value.get("class_name")
    return value if isinstance(value, str) else type(value).__name__


def _activation_name(value: Any) -> Any:
    if isinstance(value, dict):  # a serialised activation object or function
        return value.get("config", {}).get("name") or value.get("class_name")
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return value


def _compiled(model: Any) -> dict[str, Any]:
    """Loss and metrics as the student passed them to compile()."""
    try:
        config = model.get_compile_config()
    except Exception:
        config = None
    if config is not None:
        loss = _spec_of(config.get("loss"))
        metrics_in = config.get("metrics") or []
    else:  # an unserialisable custom loss/metric: describe the live objects instead
        loss = _spec_of(getattr(model, "loss", None))
        compiled_metrics = getattr(model, "_compile_metrics", None)
        metrics_in = list(getattr(compiled_metrics, "_user_metrics", None) or [])
    if isinstance(metrics_in, dict):  # multi-output style {"output": [...]}
        metrics_in = [m for v in metrics_in.values() for m in (v if isinstance(v, list) else [v])]
    if not isinstance(metrics_in, list | tuple):
        metrics_in = [metrics_in]
    metrics = [_metric_of(m) for m in metrics_in]
    return {"compile_config": config, "loss": loss, "metrics": metrics}


def _spec_of(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and "class_name" in value:
        return {"class_name": value["class_name"], "config": value.get("config")}
    if callable(value) and not hasattr(value, "get_config"):
        return {"class_name": "function", "config": {"name": getattr(value, "__name__", "?")}}
    try:
        return {"class_name": type(value).__name__, "config": value.get_config()}
    except Exception:
        return repr(value)[:200]


def _metric_of(value: Any) -> dict[str, Any]:
    spec = _spec_of(value)
    if isinstance(spec, str):
        return {"name": spec, "class_name": None, "spec": spec}
    if isinstance(spec, dict):
        config = spec.get("config") or {}
        name = config.get("name") if isinstance(config, dict) else None
        if spec.get("class_name") == "function" and isinstance(config, str):
            # A compile config holds a metric function (seed 003's lr_spy) as Keras
            # serialises it, its name as the config: the name it is logged and saved under.
            name = config
        return {"name": name, "class_name": spec["class_name"], "spec": spec}
    return {"name": None, "class_name": None, "spec": spec}


def _optimizer(optimizer: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "class_name": type(optimizer).__name__,
        "config": None,
        "config_error": None,
    }
    try:
        out["config"] = optimizer.get_config()
    except Exception as exc:  # a hand-written schedule without get_config ends up here
        out["config_error"] = f"{type(exc).__name__}: {exc}"[:500]
    config = out["config"] or {}
    out["momentum"] = _float_or_none(config.get("momentum", getattr(optimizer, "momentum", None)))
    nesterov = config.get("nesterov", getattr(optimizer, "nesterov", None))
    out["nesterov"] = bool(nesterov) if nesterov is not None else None
    return out


# --- learning rate -----------------------------------------------------------------------


def learning_rate_record(
    optimizer: Any, total_steps: int, *, samples: bool = True
) -> dict[str, Any]:
    """What the optimizer's learning rate is and the values it takes over training."""
    import keras

    lr = getattr(optimizer, "_learning_rate", None)
    if lr is None:  # not a Keras 3 optimizer: fall back to the public attribute
        lr = getattr(optimizer, "learning_rate", None)
    schedule_cls = keras.optimizers.schedules.LearningRateSchedule
    out: dict[str, Any] = {
        "class_name": type(lr).__name__,
        "config": None,
        "config_error": None,
        "value": None,
        "samples": None,
        "samples_error": None,
    }
    if isinstance(lr, schedule_cls) or (callable(lr) and not isinstance(lr, keras.Variable)):
        out["kind"] = "schedule" if isinstance(lr, schedule_cls) else "callable"
        try:
            out["config"] = lr.get_config()
        except Exception as exc:
            out["config_error"] = f"{type(exc).__name__}: {exc}"[:300]
        if samples:
            try:
                steps = sample_steps(total_steps)
                done, lrs = _sample_schedule(lr, steps)
                out["samples"] = {"steps": steps[: len(lrs)], "lrs": lrs}
                if not done:
                    out["samples_error"] = f"sampling stopped after {SAMPLE_SECONDS:g} s"
            except Exception as exc:
                out["samples_error"] = describe_exception(exc)
        return out
    out["kind"] = "constant"
    try:
        out["value"] = float(keras.ops.convert_to_numpy(lr))
        out["samples"] = {"steps": [0, total_steps], "lrs": [out["value"]] * 2}
    except Exception as exc:
        out["samples_error"] = describe_exception(exc)
    return out


def _sample_schedule(schedule: Any, steps: list[int]) -> tuple[bool, list[float]]:
    """Learning rates at `steps`: one vectorised call if it agrees with scalar calls."""
    import keras

    def at(step: int) -> float:
        try:
            value = schedule(keras.ops.convert_to_tensor(step, dtype="int64"))
        except TypeError:  # a plain callable: Keras calls it with no argument
            value = schedule()
        return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(()))

    probes = {s: at(s) for s in (steps[0], steps[len(steps) // 2], steps[-1])}
    try:
        vector = np.asarray(
            keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(steps, dtype="int64"))),
            dtype=float,
        )
        if vector.shape == (len(steps),) and all(
            math.isclose(vector[steps.index(s)], v, rel_tol=1e-6, abs_tol=1e-12)
            for s, v in probes.items()
        ):
            return True, finite(vector.tolist())
    except Exception:
        pass
    deadline = time.monotonic() + SAMPLE_SECONDS
    lrs = []
    for step in steps:
        if time.monotonic() > deadline:
            return False, finite(lrs)
        lrs.append(at(step))
    return True, finite(lrs)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- search space ------------------------------------------------------------------------


def _search_space(hp: Any) -> dict[str, Any]:
    entries = [space_record(type(p).__name__, {**p.get_config(), "name": p.name}) for p in hp.space]
    return {"status": "ok", "hyperparameters": entries, "values": dict(hp.values)}


def _corners(instance: Any, space: dict[str, Any], total_steps: int) -> dict[str, Any]:
    """Build at every min/max combination of the numeric hyperparameters."""
    import keras
    import keras_tuner

    numeric = [
        h
        for h in space["hyperparameters"]
        if h["type"] in ("Float", "Int") and h["min"] is not None and h["max"] is not None
    ]
    chosen = numeric[:MAX_CORNER_HPS]
    builds = []
    for combo in itertools.product(*[(h["min"], h["max"]) for h in chosen]):
        values = {h["name"]: v for h, v in zip(chosen, combo, strict=True)}
        entry: dict[str, Any] = {"values": values, "ok": False, "error": None}
        entry.update(dict.fromkeys(("lr_first", "lr_last", "lr_min", "lr_max")))
        keras.backend.clear_session()
        hp = keras_tuner.HyperParameters()
        # Preset values win over each declaration's default (HyperParameters._register).
        hp.values.update(values)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = instance.build(hp)
            lr = learning_rate_record(model.optimizer, total_steps)
            entry["ok"] = True
            lrs = (lr.get("samples") or {}).get("lrs") or []
            if lrs:
                entry.update(lr_first=lrs[0], lr_last=lrs[-1], lr_min=min(lrs), lr_max=max(lrs))
        except Exception as exc:
            entry["error"] = describe_exception(exc)
        builds.append(entry)
    keras.backend.clear_session()
    return {
        "status": "ok",
        "total_steps": total_steps,
        "truncated": len(numeric) > len(chosen),
        "builds": builds,
    }
