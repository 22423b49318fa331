"""architecture: input_dim inputs -> Dense(hidden_units..., hidden_activation) ->
Dense(output_units, output_activation).

InputLayer and Flatten (a no-op on flat inputs) are ignored, and so are the layer
classes in params.ignore_layers; an Activation/ReLU/Softmax layer right after a linear
Dense counts as that Dense's activation. Anything else is a difference.

The architecture judged is the trained best model's (`best_model.json`, the one the parent
evaluates); the probe's is the fallback when that file is missing, and a probe that saw
another network than the one trained fails the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.checks.base import CheckContext, Verdict, failed, passed, register
from grader.results import Evidence

MESSAGES = {
    "ok": {
        "es": "Arquitectura {found}, como se pedía.",
        "en": "Architecture {found}, as required.",
    },
    "wrong": {
        "es": "La red construida es {found}; se esperaba {expected}.",
        "en": "The network built is {found}; expected {expected}.",
    },
    "what": {"es": "la arquitectura", "en": "the architecture"},
}

_IGNORED = ("InputLayer", "Flatten")
_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}


def _dense_chain(layers: list[Mapping[str, Any]], ignored: set[str]) -> list[dict[str, Any]]:
    """Layers as the checker compares them: Dense with merged activations, others as-is."""
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
            and chain[-1]["class_name"] == "Dense"
            and chain[-1]["activation"] == "linear"
        ):
            chain[-1]["activation"] = activation
            continue
        chain.append(
            {
                "class_name": cls,
                "units": layer.get("units"),
                "activation": layer.get("activation") or activation,
            }
        )
    return chain


def _describe(input_dim: Any, chain: list[Mapping[str, Any]]) -> str:
    parts = [f"{input_dim}"]
    for layer in chain:
        if layer["class_name"] == "Dense":
            parts.append(f"Dense({layer['units']}, {layer['activation']})")
        else:
            parts.append(str(layer["class_name"]))
    return " → ".join(parts)


def _found(arch: Mapping[str, Any], p: Mapping[str, Any], ignored: set[str]) -> tuple:
    """(description, input ok, chain) of one view of the architecture."""
    input_dim = p.get("input_dim", 784)
    chain = _dense_chain(list(arch.get("layers") or []), ignored)
    shape = arch.get("input_shape")
    # An undeclared input takes its size from the data (784 columns), which is fine.
    found_input = "?" if not shape else "×".join(str(d) for d in shape[1:])
    input_ok = not shape or list(shape[1:]) == [input_dim]
    return _describe(found_input if shape else input_dim, chain), input_ok, chain


@register("architecture", MESSAGES, requires=("build",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    p = ctx.params
    input_dim = p.get("input_dim", 784)
    hidden = list(p.get("hidden_units", []))
    hidden_act = p.get("hidden_activation", "relu")
    expected_chain = [{"class_name": "Dense", "units": u, "activation": hidden_act} for u in hidden]
    expected_chain.append(
        {
            "class_name": "Dense",
            "units": p.get("output_units"),
            "activation": p.get("output_activation", "softmax"),
        }
    )
    ignored = set(_IGNORED) | set(p.get("ignore_layers", []))
    arch, evidence = ctx.judged("architecture")
    found, input_ok, chain = _found(arch or {}, p, ignored)
    where = ctx.locate("Dense", "Sequential", "Model")
    probed = ctx.stage("build").get("architecture")
    if evidence is Evidence.ARTIFACT and isinstance(probed, Mapping):
        shown, _, probed_chain = _found(probed, p, ignored)
        if probed_chain != chain:
            text = ctx.disagreement(ctx.say("what"), probed=shown, trained=found)
            return failed(text, where, evidence)
    if input_ok and chain == expected_chain:
        return passed(ctx.say("ok", found=found), where, evidence=evidence)
    expected = _describe(input_dim, expected_chain)
    return failed(ctx.say("wrong", found=found, expected=expected), where, evidence)
