"""Objects in a declaration that are not Keras' own: a custom layer, loss, metric or
function, or a layer that runs code (`CODE_LAYERS`). Each is a reason the submission
cannot be declared (grader/child/declare.py): the trainer rebuilds only standard Keras.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

# Keras layers whose config carries code (a function's bytecode, a foreign module): the
# trainer's safe-mode rebuild refuses them, and what they compute is not data.
CODE_LAYERS = frozenset({"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"})


def is_keras(cls: type) -> bool:
    return _keras_module(cls.__module__)


def _keras_module(module: Any) -> bool:
    return isinstance(module, str) and (module == "keras" or module.startswith("keras."))


def _is_function(value: Any) -> bool:
    kinds = (types.FunctionType, types.BuiltinFunctionType, functools.partial, np.ufunc)
    return isinstance(value, kinds)


def _function_module(value: Any) -> Any:
    if isinstance(value, functools.partial):
        value = value.func
    return getattr(value, "__module__", None)


def _function_name(value: Any) -> str:
    if isinstance(value, functools.partial):
        value = value.func
    return str(getattr(value, "__name__", type(value).__name__))


def foreign_objects(model: Any) -> list[str]:
    """The live objects in the model and its compile arguments that are not Keras' own.

    The configs alone cannot tell: Keras writes any function by its name only (a student's
    `categorical_crossentropy`, TensorFlow's `tf.nn.relu`), and the trainer would rebuild
    Keras' function of that name.
    """
    reasons = []
    if not is_keras(type(model)):
        reasons.append(f"model class {type(model).__name__} is not Keras'")
    for layer in model._flatten_layers(include_self=False, recursive=True):
        name = type(layer).__name__
        if not is_keras(type(layer)):
            reasons.append(f"custom layer {name}")
            continue
        if name in CODE_LAYERS:
            reasons.append(f"{name} layer (code in the model)")
        for attribute, value in vars(layer).items():
            if _is_function(value) and not _keras_module(_function_module(value)):
                reasons.append(
                    f"function {_function_name(value)} ({attribute} of layer {layer.name}) "
                    "is not Keras'"
                )
    compiled = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    optimizer = compiled.get("optimizer")
    if optimizer is not None and not isinstance(optimizer, str) and not is_keras(type(optimizer)):
        reasons.append(f"optimizer class {type(optimizer).__name__} is not Keras'")
    kinds = {"loss": "loss", "metrics": "metric", "weighted_metrics": "metric",
             "loss_weights": "loss weight"}  # fmt: skip
    for key, kind in kinds.items():
        for leaf in _leaves(compiled.get(key)):
            if leaf is None or isinstance(leaf, str | int | float | bool):
                continue
            if _is_function(leaf):
                if not _keras_module(_function_module(leaf)):
                    reasons.append(f"{kind} function {_function_name(leaf)} is not Keras'")
            elif not is_keras(type(leaf)):
                reasons.append(f"{kind} class {type(leaf).__name__} is not Keras'")
            else:  # a Keras wrapper of a function (MeanMetricWrapper(fn=...))
                for value in vars(leaf).values():
                    if _is_function(value) and not _keras_module(_function_module(value)):
                        reasons.append(
                            f"{kind} {type(leaf).__name__} wraps function "
                            f"{_function_name(value)}, not Keras'"
                        )
    return reasons


def _leaves(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            yield item


def foreign_config(config: Any, where: str) -> list[str]:
    """Objects in a Keras config whose module is not Keras' (a student's class writes
    module null or its own module; nested ones too: an initializer, a regularizer)."""
    reasons = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            if not {"module", "class_name", "config"} <= set(item):
                continue
            module, name = item["module"], item["class_name"]
            if name == "function" and module == "builtins":
                continue  # a function, written by name: judged on the live object
            if not _keras_module(module):
                reasons.append(f"custom object {name} in the {where}")
    return reasons
