"""A Keras architecture (`model.to_json()`) read as data: layers, shapes, size, cost.

The parent must know what it is about to build before it builds it: an architecture of
standard layers can still hold billions of parameters and stall the batch for hours.
`read_architecture` parses the JSON the child left (never through Keras) and computes,
for the layer kinds it knows, the parameter count and the multiply-adds per image. A
layer it does not know, or any object that is not a plain Keras one (a student's class,
a function, a lambda), makes the model `standard=False`: the grader will not rebuild it,
and its accuracy goes to the instructor for review (grader/evaluate.py).

Shapes are carried from the images the evaluator will feed (`images`, the test set's
shape per image) through the model, each layer's input being the output Keras computes
for the layer before it (in a Sequential model), or for the layer its node names (in a
functional one), exactly as Keras does when it rebuilds and runs the model. The shapes the
child saved (the model's and each layer's `build_config.input_shape`, an `InputLayer`'s
`batch_shape`, a node's tensor shape) are never used: each is compared with the computed
one, and a model whose saved shapes disagree is refused with both figures (a model that
claims 1x1 inputs to conv layers it runs on 28x28 images would otherwise be estimated at
a 784th of its cost). Multiply-adds count one per weight use (Dense, Conv2D) and one per
element for element-wise layers (pooling counts its window); they are an estimate of
cost, not an exact FLOP count.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader import i18n
from grader.errors import SubmissionError

Shape = tuple[int | None, ...]  # batch dimension first

# Every layer kind whose parameters and cost this module computes. Anything else is
# "not rebuildable safely": the grader does not build what it cannot measure first.
KNOWN_LAYERS = frozenset(
    {
        "InputLayer",
        "Dense",
        "Conv2D",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "Flatten",
        "Dropout",
        "Activation",
        "Reshape",
        "BatchNormalization",
        "LeakyReLU",
        "ReLU",
        "Softmax",
        "GaussianNoise",
        "Rescaling",
    }
)
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
MAX_CALLS = 100  # of one layer in a functional model (a shared layer is called a few times)
_MAX_JSON = 16 * 1024 * 1024


@dataclass(frozen=True)
class LayerInfo:
    class_name: str
    name: str
    input_shape: Shape | None
    output_shape: Shape | None
    params: int
    macs: int  # multiply-adds per image


@dataclass(frozen=True)
class Architecture:
    """What `read_architecture` found; `standard` is False when `problems` is not empty."""

    model_class: str
    input_shape: Shape | None
    layers: tuple[LayerInfo, ...]
    params: int
    macs: int  # per image
    problems: tuple[str, ...]  # why the model is not plain Keras ("layer 'x' is MyLayer")

    @property
    def standard(self) -> bool:
        return not self.problems


def read_architecture(
    text: str | bytes, *, images: Sequence[int], lang: str = "en"
) -> Architecture:
    """Parse `model.to_json()` output for a model fed `images`-shaped inputs.

    `SubmissionError` when it is not an architecture, or when a shape the child saved
    disagrees with the one computed from `images` (the message gives both, in `lang`).
    """
    if len(text) > _MAX_JSON:
        raise SubmissionError(f"the model's architecture is over {_MAX_JSON} bytes of JSON")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SubmissionError(f"the model's architecture is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise SubmissionError("the model's architecture is not a Keras model description")
    model_class = str(data.get("class_name"))
    problems: list[str] = []
    if model_class not in MODEL_CLASSES or not _plain_keras(data, model_class):
        problems.append(f"the model class is {model_class!r}, not a plain Keras model")
    raw_layers = data["config"].get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SubmissionError("the model's architecture lists no layers")
    for index, raw in enumerate(raw_layers):
        if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
            raise SubmissionError(f"layer {index} of the model's architecture is not an object")
    model_input: Shape = (None, *images)
    shapes = _Shapes(lang)
    build = data.get("build_config")
    for saved in (
        build.get("input_shape") if isinstance(build, dict) else None,
        data["config"].get("build_input_shape"),
    ):
        shapes.check(model_class, saved, model_input)
    if model_class == "Sequential":
        layers = _sequential_layers(raw_layers, model_input, shapes, problems)
    else:
        layers = _functional_layers(data["config"], raw_layers, model_input, shapes, problems)
    return Architecture(
        model_class=model_class,
        input_shape=model_input,
        layers=tuple(layers),
        params=sum(layer.params for layer in layers),
        macs=sum(layer.macs for layer in layers),
        problems=tuple(problems),
    )


class _Shapes:
    """Compares a shape the child saved with the one computed; refuses a disagreement."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def check(self, where: str, saved: Any, computed: Shape | None) -> None:
        if saved is None or computed is None:
            return  # nothing saved, or nothing computed to compare it with
        shape = _shape(saved)
        # The batch dimension is free; a None the child saved for another one matches any.
        if (
            shape is None
            or len(shape) != len(computed)
            or any(s is not None and s != c for s, c in zip(shape[1:], computed[1:], strict=True))
        ):
            shown = _show(shape) if shape is not None else repr(saved)[:80]
            raise SubmissionError(
                i18n.say(
                    "evaluate.shape_mismatch",
                    self.lang,
                    layer=where,
                    saved=shown,
                    computed=_show(computed),
                )
            )


def _show(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _sequential_layers(
    raw_layers: list[dict[str, Any]], model_input: Shape, shapes: _Shapes, problems: list[str]
) -> list[LayerInfo]:
    """Each layer fed the one before it, the first fed the images."""
    layers: list[LayerInfo] = []
    previous: Shape | None = model_input
    for raw in raw_layers:
        info, problem = _layer(raw, previous, shapes)
        if problem:
            problems.append(problem)
        layers.append(info)
        previous = info.output_shape
    return layers


def _functional_layers(
    config: dict[str, Any],
    raw_layers: list[dict[str, Any]],
    model_input: Shape,
    shapes: _Shapes,
    problems: list[str],
) -> list[LayerInfo]:
    """Each layer fed, node by node, the output its node names (`keras_history`).

    One input layer, fed the images; a layer called several times costs each call. A
    node whose input is not one earlier layer's output (several inputs, a nested model)
    leaves that layer's shape unknown, which makes the model not standard.
    """
    inputs = config.get("input_layers")
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], str):
        inputs = [inputs]  # Keras writes one input as [name, 0, 0], several as a list of those
    entries = inputs if isinstance(inputs, list) else []
    names = [str(entry[0]) for entry in entries if isinstance(entry, list) and entry]
    if len(names) != 1 or len(entries) != 1:
        problems.append(f"the model has {len(entries)} inputs, not one")
    outputs: dict[tuple[str, int], Shape | None] = {}
    layers: list[LayerInfo] = []
    for raw in raw_layers:
        name = str(raw.get("name") or raw["config"].get("name"))
        nodes = raw.get("inbound_nodes")
        if raw.get("class_name") == "InputLayer" or not nodes:
            calls: list[Any] = [None]
        elif not isinstance(nodes, list) or len(nodes) > MAX_CALLS:
            problems.append(f"layer {name!r} is called more than {MAX_CALLS} times")
            calls = [None]
        else:
            calls = nodes
        first: LayerInfo | None = None
        for index, node in enumerate(calls):
            # One node at a time: a layer's second call may take its own first call's output.
            if node is None:
                shape = model_input if name in names[:1] else None
            else:
                shape = _node_input(node, outputs, shapes)
            # Keras saves the build shape of the first call only.
            info, problem = _layer(raw, shape, shapes, first_call=index == 0)
            if problem and problem not in problems:  # any call it cannot price: not standard
                problems.append(problem)
            outputs[(name, index)] = info.output_shape
            if first is None:
                first = info
            else:  # the same weights called again: more work, no more parameters
                first = dataclasses.replace(first, macs=first.macs + info.macs)
        assert first is not None
        layers.append(first)
    return layers


def _node_input(
    node: Any, outputs: dict[tuple[str, int], Shape | None], shapes: _Shapes
) -> Shape | None:
    """The computed shape a functional node is called on, or None when it cannot be known."""
    args = node.get("args") if isinstance(node, dict) else None
    tensor = args[0] if isinstance(args, list) and len(args) == 1 else None
    config = tensor.get("config") if isinstance(tensor, dict) else None
    history = config.get("keras_history") if isinstance(config, dict) else None
    if (
        not isinstance(tensor, dict)
        or tensor.get("class_name") != "__keras_tensor__"
        or not isinstance(history, list)
        or len(history) != 3
        or not isinstance(history[1], int)
        or history[2] != 0
    ):
        return None
    computed = outputs.get((str(history[0]), history[1]))
    shapes.check(f"{history[0]}", config.get("shape"), computed)
    return computed


def _plain_keras(obj: Mapping[str, Any], class_name: str) -> bool:
    """A Keras object by its serialised form: a `keras...` module, no registered name."""
    module = obj.get("module")
    registered = obj.get("registered_name")
    return (
        isinstance(module, str)
        and (module == "keras" or module.startswith("keras."))
        and registered in (None, class_name)
    )


def _foreign_objects(value: Any, depth: int = 0) -> list[str]:
    """Serialised objects inside a layer config that are not plain Keras (or functions)."""
    if depth > 20:
        return ["a config nested too deep"]
    found: list[str] = []
    if isinstance(value, dict):
        name = value.get("class_name")
        foreign = name in ("function", "__lambda__") or not _plain_keras(value, str(name))
        if isinstance(name, str) and "module" in value and foreign:
            found.append(str(value.get("registered_name") or name))
        for item in value.values():
            found.extend(_foreign_objects(item, depth + 1))
    elif isinstance(value, list):
        for item in value:
            found.extend(_foreign_objects(item, depth + 1))
    return found


def _shape(value: Any) -> Shape | None:
    if not isinstance(value, list | tuple) or not value or len(value) > 8:
        return None
    dims: list[int | None] = []
    for dim in value:
        if dim is None:
            dims.append(None)
        elif isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0:
            dims.append(dim)
        else:
            return None
    return tuple(dims)


def _layer(
    raw: Mapping[str, Any], input_shape: Shape | None, shapes: _Shapes, *, first_call: bool = True
) -> tuple[LayerInfo, str | None]:
    """The layer fed `input_shape` (computed, never read from the child's file)."""
    class_name = str(raw.get("class_name"))
    config: Mapping[str, Any] = raw["config"]
    name = str(config.get("name", class_name))
    build = raw.get("build_config")
    if first_call:
        saved = build.get("input_shape") if isinstance(build, dict) else None
        shapes.check(name, saved, input_shape)
    if class_name == "InputLayer":
        shapes.check(
            name, config.get("batch_shape") or config.get("batch_input_shape"), input_shape
        )

    def unknown(problem: str) -> tuple[LayerInfo, str]:
        return LayerInfo(class_name, name, input_shape, None, 0, 0), problem

    if class_name not in KNOWN_LAYERS or not _plain_keras(raw, class_name):
        return unknown(f"layer {name!r} is {class_name}, not a standard Keras layer it knows")
    foreign = _foreign_objects(config)
    if foreign:
        return unknown(f"layer {name!r} uses {', '.join(sorted(set(foreign)))}, not plain Keras")
    if input_shape is None or any(d is None for d in input_shape[1:]):
        return unknown(f"layer {name!r} has no known input shape")
    try:
        output, params, macs = _MEASURES[class_name](config, input_shape)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return unknown(f"layer {name!r} ({class_name}) has a config the grader cannot read: {exc}")
    return LayerInfo(class_name, name, input_shape, output, params, macs), None


def _elements(shape: Shape) -> int:
    return math.prod(int(d) for d in shape[1:] if d is not None)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return value


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{value!r} is not a pair of integers")
    return _positive_int(value[0]), _positive_int(value[1])


def _same(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    return shape, 0, _elements(shape)


def _input(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    return shape, 0, 0


def _dense(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    units = _positive_int(config["units"])
    inputs = int(shape[-1] or 0)
    bias = units if config.get("use_bias", True) else 0
    positions = _elements(shape) // inputs if inputs else 0
    return (*shape[:-1], units), inputs * units + bias, positions * inputs * units


def _channels_first(config: Mapping[str, Any]) -> bool:
    return config.get("data_format") == "channels_first"


def _spatial(shape: Shape, config: Mapping[str, Any]) -> tuple[int, int, int]:
    """(height, width, channels) of a 4-D shape."""
    if len(shape) != 4:
        raise ValueError(f"expects a 4-D input, got {len(shape) - 1}-D per image")
    dims = [int(d or 0) for d in shape[1:]]
    return (dims[1], dims[2], dims[0]) if _channels_first(config) else (dims[0], dims[1], dims[2])


def _window(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    span = (kernel - 1) * dilation + 1
    if size < span:
        raise ValueError(f"window {span} is larger than the input size {size}")
    return (size - span) // stride + 1


def _out_shape(config: Mapping[str, Any], height: int, width: int, channels: int) -> Shape:
    if _channels_first(config):
        return (None, channels, height, width)
    return (None, height, width, channels)


def _conv2d(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    height, width, channels = _spatial(shape, config)
    filters = _positive_int(config["filters"])
    kh, kw = _pair(config["kernel_size"])
    sh, sw = _pair(config.get("strides", 1))
    dh, dw = _pair(config.get("dilation_rate", 1))
    groups = _positive_int(config.get("groups", 1))
    padding = str(config.get("padding", "valid")).lower()
    out_h = _window(height, kh, sh, dh, padding)
    out_w = _window(width, kw, sw, dw, padding)
    per_output = kh * kw * (channels // groups)
    params = per_output * filters + (filters if config.get("use_bias", True) else 0)
    return _out_shape(config, out_h, out_w, filters), params, out_h * out_w * filters * per_output


def _pooling2d(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    height, width, channels = _spatial(shape, config)
    ph, pw = _pair(config.get("pool_size", 2))
    sh, sw = _pair(config.get("strides") or (ph, pw))
    padding = str(config.get("padding", "valid")).lower()
    out_h = _window(height, ph, sh, 1, padding)
    out_w = _window(width, pw, sw, 1, padding)
    return _out_shape(config, out_h, out_w, channels), 0, out_h * out_w * channels * ph * pw


def _global_pooling2d(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    _, _, channels = _spatial(shape, config)
    if config.get("keepdims"):
        return _out_shape(config, 1, 1, channels), 0, _elements(shape)
    return (None, channels), 0, _elements(shape)


def _flatten(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    return (None, _elements(shape)), 0, 0


def _reshape(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    target = config["target_shape"]
    if not isinstance(target, list | tuple) or not target:
        raise ValueError(f"target_shape {target!r} is not a shape")
    total = _elements(shape)
    known = [d for d in target if d != -1]
    dims = [_positive_int(d) for d in known]
    if len(known) < len(target) - 1:
        raise ValueError("target_shape has more than one -1")
    rest = total // math.prod(dims) if dims else total
    out = tuple(rest if d == -1 else int(d) for d in target)
    if math.prod(out) != total:
        raise ValueError(f"cannot reshape {total} values to {tuple(target)}")
    return (None, *out), 0, 0


def _batch_normalization(config: Mapping[str, Any], shape: Shape) -> tuple[Shape, int, int]:
    axes = config.get("axis", -1)
    axes = axes if isinstance(axes, list | tuple) else [axes]
    features = math.prod(int(shape[a] or 0) for a in axes)
    trainable = int(bool(config.get("center", True))) + int(bool(config.get("scale", True)))
    # The moving mean and variance are stored weights too, so they count.
    return shape, (2 + trainable) * features, 2 * _elements(shape)


_MEASURES: dict[str, Callable[[Mapping[str, Any], Shape], tuple[Shape, int, int]]] = {
    "InputLayer": _input,
    "Dense": _dense,
    "Conv2D": _conv2d,
    "MaxPooling2D": _pooling2d,
    "AveragePooling2D": _pooling2d,
    "GlobalAveragePooling2D": _global_pooling2d,
    "GlobalMaxPooling2D": _global_pooling2d,
    "Flatten": _flatten,
    "Dropout": _same,
    "GaussianNoise": _same,
    "Activation": _same,
    "LeakyReLU": _same,
    "ReLU": _same,
    "Softmax": _same,
    "Rescaling": _same,
    "Reshape": _reshape,
    "BatchNormalization": _batch_normalization,
}


def describe(count: float) -> str:
    """A large count as the reports show it: 636010 -> '6.4e5', 12 -> '12'."""
    return (
        f"{count:.0f}" if count < 10_000 else f"{count:.1e}".replace("e+0", "e").replace("e+", "e")
    )
