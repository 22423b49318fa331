"""architecture: the network's layers, in order, as params.layers lists them.

Two ways to write the params. The list form, for any model of the seeds (input_shape
flat or an image, channels last):

    params = { input_shape = [32, 32, 3], layers = [
        { kind = "Conv2D", filters = 4, kernel_size = [3, 3], activation = "relu" },
        { kind = "MaxPooling2D", pool_size = [2, 2] }, { kind = "Dropout", rate = 0.25 },
        { kind = "Flatten" }, { kind = "Dense", units = 2, activation = "softmax" } ] }

where only the attributes a layer gives are judged (`{ kind = "Dropout" }` accepts any
rate). The exam's MLP shorthand means the same as its list: input_dim inputs ->
Dense(hidden_units..., hidden_activation[, hidden_initializer]) -> Dense(output_units,
output_activation); with it Flatten (a no-op on flat inputs) is ignored, and its
messages are the exam's. InputLayer is always ignored, and so are the layer classes in
params.ignore_layers; an Activation/ReLU/Softmax layer right after a linear Dense or
Conv2D counts as that layer's activation. Anything else is a difference, and the message
names the first layer that differs and what differs in it.

The architecture judged is the trained best model's (`best_model.json`, the one the parent
evaluates); the probe's is the fallback when that file is missing, and a probe that saw
another network than the one trained fails the check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from grader import i18n
from grader.checks.base import CheckContext, Verdict, failed, fmt, passed, register
from grader.checks.params import ParamError
from grader.results import Evidence

# Texts: the [checks.architecture] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.architecture")

KINDS = ("Dense", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "LeakyReLU")
# What each kind may fix, besides its kind (anything else given is a spec error).
_ATTRIBUTES = {
    "Dense": ("units", "activation", "kernel_initializer"),
    "Conv2D": ("filters", "kernel_size", "activation", "kernel_initializer"),
    "MaxPooling2D": ("pool_size",),
    "Flatten": (),
    "Dropout": ("rate",),
    "LeakyReLU": ("negative_slope",),
}


@dataclass(frozen=True)
class Layer:
    """One expected layer; None: that attribute is not judged."""

    kind: Literal["Dense", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "LeakyReLU"]
    units: int | None = None
    filters: int | None = None
    kernel_size: tuple[int, int] | int | None = None
    pool_size: tuple[int, int] | int | None = None
    activation: str | None = None
    kernel_initializer: str | None = None  # "lecun_normal" or "LecunNormal"
    rate: float | None = None
    negative_slope: float | None = None

    def __post_init__(self) -> None:
        allowed = _ATTRIBUTES[self.kind]
        for name in ("units", "filters", "kernel_size", "pool_size", "activation",
                     "kernel_initializer", "rate", "negative_slope"):  # fmt: skip
            if getattr(self, name) is not None and name not in allowed:
                raise ParamError(
                    name, f"is not an attribute of {self.kind}; it takes {', '.join(allowed)}"
                )

    def expected(self) -> dict[str, Any]:
        """The judged attributes, normalised as found layers are."""
        out: dict[str, Any] = {"class_name": self.kind}
        for name in _ATTRIBUTES[self.kind]:
            value = getattr(self, name)
            if value is not None:
                out[name] = _normal(name, value)
        return out


@dataclass(frozen=True)
class Params:
    """The list form (input_shape, layers) or the exam's MLP shorthand, not both."""

    input_shape: tuple[int, ...] | None = None
    layers: tuple[Layer, ...] | None = None
    # The MLP shorthand: input_dim -> Dense(hidden_units...) -> Dense(output_units).
    input_dim: int | None = None
    hidden_units: tuple[int, ...] | None = None
    hidden_activation: str = "relu"
    hidden_initializer: str | None = None
    output_units: int | None = None
    output_activation: str = "softmax"
    ignore_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shorthand = self.input_dim is not None or self.hidden_units is not None
        if self.layers is not None and (shorthand or self.output_units is not None):
            raise ParamError("layers", "cannot be given with the MLP shorthand (input_dim, "
                             "hidden_units, output_units): use one form")  # fmt: skip
        if self.layers is not None and not self.layers:
            raise ParamError("layers", "must list at least one layer")
        if self.layers is None and self.output_units is None:
            raise ParamError("output_units", "is missing (or give `layers`)")
        if self.input_shape is not None and self.input_dim is not None:
            raise ParamError("input_shape", "cannot be given with input_dim: use one")

    @property
    def shorthand(self) -> bool:
        return self.layers is None

    def expected_shape(self) -> tuple[int, ...]:
        if self.input_shape is not None:
            return self.input_shape
        return (self.input_dim if self.input_dim is not None else 784,)

    def expected_chain(self) -> list[dict[str, Any]]:
        if self.layers is not None:
            return [layer.expected() for layer in self.layers]
        hidden = {"class_name": "Dense", "activation": self.hidden_activation}
        if self.hidden_initializer is not None:
            hidden["kernel_initializer"] = _normal("kernel_initializer", self.hidden_initializer)
        chain = [{**hidden, "units": u} for u in self.hidden_units or ()]
        output = {"units": self.output_units, "activation": self.output_activation}
        return [*chain, {"class_name": "Dense", **output}]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _normal(name: str, value: Any) -> Any:
    """Values as compared: sizes as pairs, initializer names in snake case."""
    if name in ("kernel_size", "pool_size"):
        return (value, value) if isinstance(value, int) else tuple(value)
    if name == "kernel_initializer" and isinstance(value, str):
        return _snake(value)
    if name in ("rate", "negative_slope"):
        return float(value)
    return value


_IGNORED_SHORTHAND = ("InputLayer", "Flatten")
_IGNORED = ("InputLayer",)
_MERGES_ACTIVATION = ("Dense", "Conv2D")
_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}


def _found_value(name: str, value: Any) -> Any:
    """A recorded value normalised as the spec's; the probe's record is the child's word,
    so a value of the wrong shape stays as text (it then differs) rather than raising."""
    try:
        return _normal(name, value)
    except (TypeError, ValueError):
        return str(value)[:100]


def _dense_chain(layers: list[Mapping[str, Any]], ignored: set[str]) -> list[dict[str, Any]]:
    """Layers as the checker compares them, activation layers merged into the layer before."""
    chain: list[dict[str, Any]] = []
    for layer in layers:
        cls = layer.get("class_name")
        if cls in ignored:
            continue
        activation = _ACTIVATION_LAYERS.get(str(cls))
        if cls == "Activation":
            activation = layer.get("activation")
        if (
            activation
            and chain
            and chain[-1]["class_name"] in _MERGES_ACTIVATION
            and chain[-1]["activation"] == "linear"
        ):
            chain[-1]["activation"] = activation
            continue
        entry = {
            "class_name": cls,
            "units": layer.get("units"),
            "activation": layer.get("activation") or activation,
        }
        for name in ("filters", "kernel_size", "pool_size", "kernel_initializer", "rate",
                     "negative_slope"):  # fmt: skip
            if layer.get(name) is not None:
                entry[name] = _found_value(name, layer[name])
        chain.append(entry)
    return chain


def _short(chain: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The exam's comparison of a chain: kind, units and activation (kept byte for byte)."""
    keys = ("class_name", "units", "activation")
    return [{k: layer.get(k) for k in keys} for layer in chain]


def _describe(input_dim: Any, chain: list[Mapping[str, Any]]) -> str:
    parts = [f"{input_dim}"]
    for layer in chain:
        if layer["class_name"] == "Dense":
            parts.append(f"Dense({layer['units']}, {layer['activation']})")
        else:
            parts.append(str(layer["class_name"]))
    return " → ".join(parts)


def _size(value: Any) -> str:
    return "×".join(str(v) for v in value)


def _layer_text(
    layer: Mapping[str, Any], judged: Mapping[str, Any] | None = None, initializer: bool = False
) -> str:
    """Conv2D(4, 3×3, relu), Dense(16, relu), MaxPooling2D(2×2), Dropout(0.25), Flatten;
    with `judged`, only the attributes it holds (an expected layer shows what is asked).
    A found layer shows its initializer only with `initializer` (the spec judges them):
    every layer has one, and naming glorot_uniform everywhere would bury the message."""
    cls = str(layer.get("class_name"))
    shown = judged if judged is not None else layer
    parts = []
    for name in ("units", "filters"):
        if shown.get(name) is not None:
            parts.append(str(layer.get(name)))
    for name in ("kernel_size", "pool_size"):
        if shown.get(name) is not None and layer.get(name) is not None:
            parts.append(_size(layer[name]))
    for name in ("rate", "negative_slope"):
        if shown.get(name) is not None and layer.get(name) is not None:
            parts.append(fmt(layer[name]))
    if cls in _MERGES_ACTIVATION and shown.get("activation") is not None:
        parts.append(str(layer.get("activation")))
    show_initializer = initializer if judged is None else "kernel_initializer" in judged
    if show_initializer and layer.get("kernel_initializer"):
        parts.append(str(layer["kernel_initializer"]))
    return f"{cls}({', '.join(parts)})" if parts else cls


def _describe_layers(
    shape: str, chain: list[Mapping[str, Any]], judged: bool = False, initializers: bool = False
) -> str:
    texts = (_layer_text(c, c if judged else None, initializers) for c in chain)
    return " → ".join([shape, *texts])


def _matches(found: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """The attributes of `expected` that `found` does not have (kind first)."""
    if found.get("class_name") != expected["class_name"]:
        return ["kind"]
    return [k for k, v in expected.items() if k != "class_name" and found.get(k) != v]


def _first_difference(
    ctx: CheckContext, chain: list[Mapping[str, Any]], expected: list[Mapping[str, Any]]
) -> str:
    for index, (have, want) in enumerate(zip(chain, expected, strict=False), start=1):
        differs = _matches(have, want)
        if differs:
            return ctx.say(
                "first_difference",
                index=index,
                found=_layer_text(have, initializer="kernel_initializer" in want),
                expected=_layer_text(want, want),
                what=", ".join(differs),
            )
    index = min(len(chain), len(expected)) + 1
    if len(chain) < len(expected):
        rest = " → ".join(_layer_text(w, w) for w in expected[index - 1 :])
        return ctx.say("missing_layers", index=index, expected=rest)
    if len(chain) > len(expected):
        rest = " → ".join(_layer_text(c) for c in chain[index - 1 :])
        return ctx.say("extra_layers", index=index, found=rest)
    return ""


def _comparable(chain: list[Mapping[str, Any]], other: list[Mapping[str, Any]]) -> list[Any]:
    """`chain` on the keys both views recorded: a probe record stored before a key was
    recorded must not read as a different network."""
    keys = [set(a) & set(b) for a, b in zip(chain, other, strict=False)]
    return [len(chain), *({k: a.get(k) for k in ks} for a, ks in zip(chain, keys, strict=False))]


def _judges_initializers(p: Params) -> bool:
    return any("kernel_initializer" in layer for layer in p.expected_chain())


def _found(arch: Mapping[str, Any], p: Params, ignored: set[str]) -> tuple:
    """(description, input ok, chain) of one view of the architecture."""
    chain = _dense_chain(list(arch.get("layers") or []), ignored)
    shape = arch.get("input_shape")
    expected_shape = p.expected_shape()
    # An undeclared input takes its size from the data, which is fine.
    found_input = "?" if not shape else "×".join(str(d) for d in shape[1:])
    input_ok = not shape or tuple(shape[1:]) == expected_shape
    if p.shorthand:
        described = _describe(found_input if shape else expected_shape[0], _short(chain))
    else:
        shown = found_input if shape else _size(expected_shape)
        described = _describe_layers(shown, chain, initializers=_judges_initializers(p))
    return described, input_ok, chain


@register("architecture", MESSAGES, requires=("build",), evidence=Evidence.CHILD, params=Params)
def check(ctx: CheckContext) -> Verdict:
    p: Params = ctx.params
    expected_chain = p.expected_chain()
    base = _IGNORED_SHORTHAND if p.shorthand else _IGNORED
    ignored = set(base) | set(p.ignore_layers)
    arch, evidence = ctx.judged("architecture")
    found, input_ok, chain = _found(arch or {}, p, ignored)
    where = ctx.locate("Dense", "Conv2D", "Sequential", "Model")
    probed = ctx.record.build.get("architecture")
    if evidence is Evidence.ARTIFACT and isinstance(probed, Mapping):
        shown, _, probed_chain = _found(probed, p, ignored)
        if _comparable(probed_chain, chain) != _comparable(chain, probed_chain):
            text = ctx.disagreement(ctx.say("what"), probed=shown, trained=found)
            return failed(text, where, evidence)
    layers_ok = len(chain) == len(expected_chain) and not any(
        _matches(have, want) for have, want in zip(chain, expected_chain, strict=True)
    )
    if input_ok and layers_ok:
        return passed(ctx.say("ok", found=found), where, evidence=evidence)
    if p.shorthand:
        expected = _describe(p.expected_shape()[0], expected_chain)
        return failed(ctx.say("wrong", found=found, expected=expected), where, evidence)
    expected = _describe_layers(_size(p.expected_shape()), expected_chain, judged=True)
    parts = [ctx.say("wrong", found=found, expected=expected)]
    if not input_ok:
        shape = (arch or {}).get("input_shape") or []
        parts.append(
            ctx.say("wrong_input", found=_size(shape[1:]), expected=_size(p.expected_shape()))
        )
    if not layers_ok:
        parts.append(_first_difference(ctx, chain, expected_chain))
    return failed(" ".join(parts), where, evidence)
