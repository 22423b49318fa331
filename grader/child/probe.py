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

import copy
import difflib
import inspect
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.child.protocol import describe_exception, sample_steps

PROBE_VERSION = 1
SAMPLE_SECONDS = 5.0  # one-by-one sampling stops after this (slow hand-written schedules)
MAX_CORNER_HPS = 4  # 2**4 = 16 builds at most
FAKE_HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# The callback dry run: how much of the training it simulates, and for how long.
DRY_RUN_SECONDS = 10.0  # per callback; a run cut short says "truncated"
DRY_RUN_MAX_EPOCHS = 30  # enough for a step decay's drops and a few cycles
DRY_RUN_MAX_BATCHES = 10_000  # per-batch rates kept (the boundary's list limit)
# Callbacks from these packages never set the rate, except the two named in _LR_CALLBACKS.
_LIBRARY_MODULES = ("keras", "keras_tuner", "tensorflow", "tf_keras", "grader")
_LR_CALLBACKS = ("LearningRateScheduler", "ReduceLROnPlateau")

# Attributes of the callbacks the checks judge; the rest are recorded by class name only.
_CALLBACK_FIELDS = {
    "EarlyStopping": (
        "monitor",
        "patience",
        "min_delta",
        "mode",
        "restore_best_weights",
        "baseline",
        "start_from_epoch",
    ),
    "ReduceLROnPlateau": (
        "monitor",
        "factor",
        "patience",
        "min_lr",
        "min_delta",
        "cooldown",
        "mode",
    ),
    "LearningRateScheduler": ("verbose",),
    "ModelCheckpoint": ("monitor", "save_best_only", "filepath"),
}


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
            record["fit"] = _dry_fit(
                instance,
                hp,
                model,
                fit_data,
                int(epochs),
                metric_names,
                validation=(setup.validation, setup.validation_split),
                steps_per_epoch=int(steps_per_epoch),
            )
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


@contextmanager
def _captured_warnings(into: list[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    into.extend(dict.fromkeys(str(w.message)[:500] for w in caught))


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
        with _captured_warnings(out["warnings"]):
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
            return True, _finite(vector.tolist())
    except Exception:
        pass
    deadline = time.monotonic() + SAMPLE_SECONDS
    lrs = []
    for step in steps:
        if time.monotonic() > deadline:
            return False, _finite(lrs)
        lrs.append(at(step))
    return True, _finite(lrs)


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("the learning rate takes a non-finite value (nan or inf)")
    return values


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- search space ------------------------------------------------------------------------


def _search_space(hp: Any) -> dict[str, Any]:
    entries = []
    for p in hp.space:
        config = p.get_config()
        entries.append(
            {
                "name": p.name,
                "type": type(p).__name__,
                "min": config.get("min_value"),
                "max": config.get("max_value"),
                "step": config.get("step"),
                "sampling": config.get("sampling"),
                "default": config.get("default"),
                "values": config.get("values"),
            }
        )
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


# --- fit dry run -------------------------------------------------------------------------


def _marker_class() -> type:
    import keras

    class _TunerMarker(keras.callbacks.Callback):
        """Stands for one of the callbacks keras-tuner passes to HyperModel.fit."""

    return _TunerMarker


def _dry_fit(
    instance: Any,
    hp: Any,
    model: Any,
    fit_data: tuple,
    epochs: int,
    metric_names: list[str],
    validation: tuple[str, float | None] = ("xy_val", None),
    steps_per_epoch: int = 1,
) -> dict[str, Any]:
    """Call the student's fit as keras-tuner does, with Model.fit recording instead of training."""
    import keras

    out: dict[str, Any] = {
        "status": "error",
        "error": None,
        "warnings": [],
        "calls": [],
        "markers": "no_call",
        "returned_type": None,
    }
    marker_cls = _marker_class()
    x, y, xy_val = fit_data
    optimizer = getattr(model, "optimizer", None)
    real_fit = keras.Model.__dict__.get("fit")
    original = keras.Model.fit
    signature = inspect.signature(original)

    def recorder(self: Any, *args: Any, **kwargs: Any) -> Any:
        call: dict[str, Any] = {"same_model": self is model, "bind_error": None}
        out["calls"].append(call)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            call["bind_error"] = str(exc)
            raise
        given = sorted(k for k in bound.arguments if k not in ("self", "kwargs"))
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self", None)
        simulated = _Simulation(self, max(1, steps_per_epoch), metric_names)
        call.update(
            _describe_call(arguments, x, y, xy_val, marker_cls, optimizer, epochs, simulated)
        )
        call["given"] = given
        history = keras.callbacks.History()
        history.set_model(self)
        history.epoch = [0]
        # A fit that post-processes the history (returns history.history["val_accuracy"][-1])
        # must still work, so every key the compiled metrics would log is there.
        keys = [*FAKE_HISTORY_KEYS, *metric_names, *(f"val_{n}" for n in metric_names)]
        history.history = {k: [0.5] for k in keys}
        return history

    try:
        keras.Model.fit = recorder
        with _captured_warnings(out["warnings"]):
            callbacks = [marker_cls(), marker_cls()]
            # The student's fit receives validation as keras-tuner's search passes it on.
            how, split = validation
            if how == "validation_data":
                returned = instance.fit(
                    hp, model, x, y, validation_data=xy_val, callbacks=callbacks
                )
            elif how == "validation_split":
                returned = instance.fit(
                    hp, model, x, y, validation_split=split, callbacks=callbacks
                )
            else:
                returned = instance.fit(hp, model, x, y, xy_val, callbacks=callbacks)
        out["returned_type"] = type(returned).__name__
        out["status"] = "ok"
    except Exception as exc:
        out["error"] = describe_exception(exc)
    finally:
        if real_fit is None:
            del keras.Model.fit
        else:
            keras.Model.fit = real_fit
    if out["calls"]:
        counts = {c.get("markers", 0) for c in out["calls"]}
        out["markers"] = "all" if counts == {2} else "none" if counts == {0} else "some"
    return out


def _describe_call(
    arguments: dict[str, Any],
    x: Any,
    y: Any,
    xy_val: Any,
    marker_cls: type,
    optimizer: Any,
    epochs: int,
    simulated: _Simulation | None = None,
) -> dict[str, Any]:
    extra = arguments.pop("kwargs", {}) or {}
    callbacks = arguments.get("callbacks") or []
    if not isinstance(callbacks, list | tuple):
        callbacks = [callbacks]
    fit_epochs = arguments.get("epochs")
    sample_epochs = fit_epochs if isinstance(fit_epochs, int) and 0 < fit_epochs <= 1000 else epochs
    validation = arguments.get("validation_data")
    val_x, val_y = xy_val if isinstance(xy_val, tuple) and len(xy_val) == 2 else (None, None)
    return {
        "x": compare_data(arguments.get("x"), x, swapped=val_x),
        "y": compare_data(arguments.get("y"), y, swapped=val_y),
        "validation": compare_data(validation, xy_val, swapped=(x, y)),
        "validation_split": arguments.get("validation_split"),
        "batch_size": arguments.get("batch_size"),
        "epochs": fit_epochs,
        "shuffle": arguments.get("shuffle"),
        "verbose": arguments.get("verbose"),
        "initial_epoch": arguments.get("initial_epoch"),
        "steps_per_epoch": arguments.get("steps_per_epoch"),
        "extra_kwargs": sorted(extra),
        "markers": sum(isinstance(cb, marker_cls) for cb in callbacks),
        "callbacks": [
            _callback(cb, marker_cls, optimizer, sample_epochs, simulated) for cb in callbacks
        ],
    }


def compare_data(value: Any, reference: Any, swapped: Any = None) -> str:
    """How `value` relates to the data the probe passed in (see DATA in the docstring).

    Content is compared, not only shapes: the training and validation arrays the probe
    passes have the same shape, so a fit that trains on xy_val looks right by shape alone.
    """
    if value is None:
        return "none"
    if value is reference:
        return "same"
    if isinstance(reference, tuple) and isinstance(value, list | tuple):
        if len(value) != len(reference):
            return "different"
        pairs = list(zip(value, reference, strict=True))
        if all(a is b for a, b in pairs):
            return "same_elements"
        if all(_equal(a, b) for a, b in pairs):
            return "equal"
        if (
            isinstance(swapped, tuple)
            and len(swapped) == len(value)
            and all(_equal(a, b) for a, b in zip(value, swapped, strict=True))
        ):
            return "swapped"
        return "same_shape" if all(_shape(a) == _shape(b) for a, b in pairs) else "different"
    if _equal(value, reference):
        return "equal"
    if swapped is not None and _equal(value, swapped):
        return "swapped"
    same_shape = _shape(value) is not None and _shape(value) == _shape(reference)
    return "same_shape" if same_shape else "different"


_MAX_COMPARED = 4_000_000  # elements: the probe's arrays are 256 rows, a copy is as small


def _equal(value: Any, reference: Any) -> bool:
    """Equal content, compared only when the shapes already agree (cheap by then)."""
    shape = _shape(reference)
    if value is reference:
        return True
    if shape is None or _shape(value) != shape or math.prod(shape) > _MAX_COMPARED:
        return False
    try:
        return bool(np.array_equal(np.asarray(value), np.asarray(reference)))
    except Exception:  # an object that only looks like an array: not the tuner's data
        return False


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def _callback(
    cb: Any, marker_cls: type, optimizer: Any, epochs: int, simulated: _Simulation | None = None
) -> dict[str, Any]:
    name = type(cb).__name__
    out: dict[str, Any] = {
        "class_name": name,
        "module": type(cb).__module__,
        "marker": isinstance(cb, marker_cls),
        "config": None,
    }
    fields = _CALLBACK_FIELDS.get(name)
    if fields:
        out["config"] = {f: getattr(cb, f, None) for f in fields}
    if name == "LearningRateScheduler" and callable(getattr(cb, "schedule", None)):
        out.update(_epoch_samples(cb.schedule, optimizer, epochs))
    out["dry_run"] = None
    if simulated is not None and not out["marker"] and can_set_learning_rate(cb):
        out["dry_run"] = simulated.run(cb, epochs)
    return out


def can_set_learning_rate(cb: Any) -> bool:
    """Keras' two rate-setting callbacks, and any callback class the student wrote."""
    import keras

    if not isinstance(cb, keras.callbacks.Callback):
        return False
    if type(cb).__name__ in _LR_CALLBACKS:
        return True
    module = type(cb).__module__ or ""
    return not any(module == m or module.startswith(m + ".") for m in _LIBRARY_MODULES)


class _Simulation:
    """A dry run of Keras' callback protocol over a simulated schedule of batches.

    The calls are those `Model.fit` makes (keras/src/trainers, Keras 3): `on_train_begin`;
    per epoch `on_epoch_begin`, per batch `on_train_batch_begin` / `on_train_batch_end`
    (whose default calls the Keras 2 `on_batch_begin` / `on_batch_end` a CyclicLR written
    for Keras 2 overrides), `on_epoch_end`; `on_train_end`. No batch is trained: the rate a
    batch would use is read after its `on_train_batch_begin`, as the train step reads it.
    For an optimizer whose rate is a schedule the step counter is advanced per batch, so
    the schedule answers as in training.

    The run works on a copy of the callback (deep if possible): a CyclicLR keeps its batch
    count across fits, and a run on the student's own object would shift the real training.
    The model's optimizer rate and step counter are put back afterwards.
    """

    def __init__(self, model: Any, steps_per_epoch: int, metric_names: list[str]) -> None:
        self.model = model
        self.steps_per_epoch = steps_per_epoch
        self.metric_names = metric_names

    def _logs(self, epoch: int, *, validation: bool) -> dict[str, float]:
        # An ordinary run: the loss falls and the accuracy rises every epoch (so a
        # ReduceLROnPlateau never fires; it is judged from its configuration).
        decay = 0.9 ** (epoch + 1)
        logs = {"loss": 1.0 * decay, "accuracy": 1.0 - 0.5 * decay}
        logs.update({n: 1.0 - 0.5 * decay for n in self.metric_names if n not in logs})
        if validation:
            logs.update({f"val_{k}": v for k, v in list(logs.items())})
        return logs

    def run(self, cb: Any, fit_epochs: int) -> dict[str, Any]:
        import keras

        started = time.monotonic()
        epochs = max(1, min(int(fit_epochs), DRY_RUN_MAX_EPOCHS))
        out: dict[str, Any] = {
            "status": "error",
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": epochs,
            "batches": [],
            "batch_lrs": [],
            "epoch_lrs": [],
            "epoch_end_lrs": [],
            "lr_before": None,
            "copied": "none",
            "error": None,
            "seconds": 0.0,
        }
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            out["error"] = {"type": "ValueError", "message": "the model has no optimizer"}
            return out
        lr_object = getattr(optimizer, "_learning_rate", None)
        lr_value = _read_lr(optimizer)
        out["lr_before"] = lr_value
        counter = getattr(optimizer, "_iterations", None)
        counter_value = _variable_value(counter)
        by_step = isinstance(
            lr_object, keras.optimizers.schedules.LearningRateSchedule
        ) or not isinstance(lr_object, keras.Variable)
        stop_training = getattr(self.model, "stop_training", False)
        cb, out["copied"] = _copy_callback(cb, self.model)
        deadline = started + DRY_RUN_SECONDS
        try:
            cb.set_model(self.model)
            cb.set_params({"verbose": 0, "epochs": epochs, "steps": self.steps_per_epoch})
            cb.on_train_begin({})
            done = True
            for epoch in range(epochs):
                cb.on_epoch_begin(epoch, {})
                for batch in range(self.steps_per_epoch):
                    step = epoch * self.steps_per_epoch + batch
                    if by_step and counter is not None:
                        counter.assign(step)
                    cb.on_train_batch_begin(batch, {})
                    lr = _read_lr(optimizer)
                    if batch == 0:
                        out["epoch_lrs"].append(lr)
                    if step < DRY_RUN_MAX_BATCHES:
                        out["batches"].append(step)
                        out["batch_lrs"].append(lr)
                    cb.on_train_batch_end(batch, self._logs(epoch, validation=False))
                    if time.monotonic() > deadline:
                        done = False
                        break
                if not done:
                    out["epoch_lrs"] = out["epoch_lrs"][: len(out["epoch_end_lrs"])]
                    break
                cb.on_epoch_end(epoch, self._logs(epoch, validation=True))
                out["epoch_end_lrs"].append(_read_lr(optimizer))
            if done:
                cb.on_train_end({})
            if not _all_finite(out["batch_lrs"] + out["epoch_lrs"] + out["epoch_end_lrs"]):
                raise ValueError(
                    "the learning rate is not a finite number (nan, inf or unreadable)"
                )
            out["status"] = "ok" if done else "truncated"
        except Exception as exc:
            out["error"] = describe_exception(exc)
            # The rates recorded before the error stay, when they are all numbers.
            keys = ("batches", "batch_lrs", "epoch_lrs", "epoch_end_lrs")
            if not _all_finite(out["batch_lrs"] + out["epoch_lrs"] + out["epoch_end_lrs"]):
                out.update({k: [] for k in keys})
            out["batches"] = out["batches"][: len(out["batch_lrs"])]
        finally:
            _restore(optimizer, lr_object, lr_value, counter, counter_value)
            with suppress(Exception):
                self.model.stop_training = stop_training
        out["seconds"] = round(time.monotonic() - started, 3)
        return out


def _all_finite(values: list[Any]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values)


def _read_lr(optimizer: Any) -> float | None:
    import keras

    try:
        return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)).reshape(()))
    except Exception:
        return None


def _variable_value(variable: Any) -> Any:
    try:
        return variable.numpy() if variable is not None else None
    except Exception:
        return None


def _restore(
    optimizer: Any, lr_object: Any, lr_value: float | None, counter: Any, counter_value: Any
) -> None:
    """Put the optimizer back as the dry run found it (the search builds its own models,
    but a build that returns a shared model would otherwise start from the run's rate)."""
    import keras

    try:
        if getattr(optimizer, "_learning_rate", None) is not lr_object:
            optimizer._learning_rate = lr_object
        if isinstance(lr_object, keras.Variable) and lr_value is not None:
            lr_object.assign(lr_value)
        if counter is not None and counter_value is not None:
            counter.assign(counter_value)
    except Exception:
        pass


def _copy_callback(cb: Any, model: Any) -> tuple[Any, str]:
    """A copy to run; the model and its optimizer are shared, not copied (memo)."""
    memo = {id(model): model}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        memo[id(optimizer)] = optimizer
    try:
        return copy.deepcopy(cb, memo), "deep"
    except Exception:
        pass
    try:
        return copy.copy(cb), "shallow"
    except Exception:
        return cb, "none"


def _epoch_samples(schedule: Callable[..., Any], optimizer: Any, epochs: int) -> dict[str, Any]:
    """Replay LearningRateScheduler.on_epoch_begin for every epoch, without training."""
    import keras

    out: dict[str, Any] = {"samples": None, "samples_error": None, "conflicts_with_schedule": False}
    lr_object = getattr(optimizer, "_learning_rate", None)
    out["conflicts_with_schedule"] = isinstance(
        lr_object, keras.optimizers.schedules.LearningRateSchedule
    )
    try:
        lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) if optimizer else 0.0
        lrs = []
        for epoch in range(epochs):
            try:  # the same two call styles Keras tries, in the same order
                lr = schedule(epoch, lr)
            except TypeError:
                lr = schedule(epoch)
            lr = float(np.asarray(keras.ops.convert_to_numpy(lr)).reshape(()))
            lrs.append(lr)
        out["samples"] = {"epochs": list(range(epochs)), "lrs": _finite(lrs)}
    except Exception as exc:
        out["samples_error"] = describe_exception(exc)
    return out


def best_callbacks(
    instance: Any,
    hp: Any,
    fit_data: tuple[Any, Any, Any],
    *,
    epochs: int,
    steps_per_epoch: int,
) -> dict[str, Any]:
    """The rate-setting callbacks dry-run again with the best trial's hyperparameters.

    The probe's dry run uses the default build's values; the search's best model used its
    own (a tuned base_lr changes a CyclicLR). The parent compares the rate saved with the
    best model against this run at the best epoch. A fresh build, so the callbacks start
    from the rate the build sets, as in the trial. The record (never raises):

        best_callbacks: {status: "ok" | "error", error: ERROR | None,
                         hyperparameters: {name: value}, callbacks: [CALLBACK]}
    """
    out: dict[str, Any] = {"status": "error", "error": None, "callbacks": []}
    try:
        out["hyperparameters"] = dict(hp.values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = instance.build(hp)
        fit = _dry_fit(instance, hp, model, fit_data, epochs, [], steps_per_epoch=steps_per_epoch)
        out["callbacks"] = [
            cb for call in fit["calls"] for cb in call["callbacks"] if cb.get("dry_run")
        ]
        out["error"] = fit["error"]
        out["status"] = fit["status"]
    except Exception as exc:
        out["error"] = describe_exception(exc)
    return jsonable(out)


# --- JSON --------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON types only: numpy scalars to Python, unknown objects to a short repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray) and value.size <= 64:
        return jsonable(value.tolist())
    return repr(value)[:200]
