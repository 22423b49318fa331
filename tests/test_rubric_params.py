"""Rubric params as typed data, and the checks that judge the seeds' models with them.

Spec errors: a wrong [rubric.<id>].params key, type or value, or a message override the
check does not have, fails when the spec loads and names the dotted key. The
architecture, optimizer and loss checks are run on what the parent reads from a saved
model (grader/artifacts.py on `model.to_json()` of models built here with Keras, never
trained) and on compile records of the shape the artifacts hold.
"""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from grader import spec as spec_module
from grader.artifacts import ModelArtifacts, parse_architecture
from grader.checks import REGISTRY, CheckContext
from grader.checks.base import COMMON_MESSAGES
from grader.checks.params import ParamError, build
from grader.errors import SpecError
from grader.fingerprint import spec_hash
from grader.results import CheckStatus

SHIPPED = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"
PROBED = {"probe_version": 1, "build": {"status": "ok"}}


def _spec_with(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "a"
    shutil.copytree(SHIPPED, folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text, old
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")
    return toml


# --- the spec refuses params and messages its checks do not declare ----------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "hidden_units = [800]",
            "hiden_units = [800]",
            r"rubric\.architecture\.params\.hiden_units is not a known parameter of check "
            r"'architecture'; known: input_shape, layers, input_dim, hidden_units",
        ),
        (
            "hidden_units = [800]",
            'hidden_units = ["800"]',
            r"rubric\.architecture\.params\.hidden_units\[0\] must be int, got str '800'",
        ),
        (
            'output_activation = "softmax" }',
            'output_activation = "softmax", layers = [{ kind = "Dense", units = 10 }] }',
            r"rubric\.architecture\.params\.layers cannot be given with the MLP shorthand",
        ),
        (
            'loss = "categorical_crossentropy"',
            'loss = "categorical_crossentropy", from_logit = true',
            r"rubric\.loss_metrics\.params\.from_logit is not a known parameter of check "
            r"'loss_metrics'",
        ),
        (
            "momentum = [0.0, 0.0]",
            "momentum = [0.9, 0.1]",
            r"rubric\.optimizer\.params\.momentum is \[0\.9, 0\.1\]: the low end is above",
        ),
        (
            "nesterov = [false]",
            'nesterov = ["no"]',
            r"rubric\.optimizer\.params\.nesterov\[0\] must be bool",
        ),
        (
            "decay_steps = 10,",
            "decay_step = 10,",
            r"rubric\.schedule_params\.params\.decay_step is not a parameter of PolynomialDecay; "
            r"its parameters: initial_learning_rate, decay_steps, end_learning_rate, power, cycle",
        ),
        (
            'type = "Float", min = 0.2983',
            'type = "Floats", min = 0.2983',
            r"rubric\.search_space\.params\.hyperparameters\[0\]\.type must be one of "
            r"\['Float', 'Int', 'Choice', 'Boolean'\], got 'Floats'",
        ),
        (
            "batch_size = 256",
            "batch_size = 256.5",
            r"rubric\.fit_config\.params\.batch_size must be int, got float 256\.5",
        ),
        (
            'fit_signature = ["hp", "M", "x", "y", "xy_val"] }',
            'fit_signature = ["hp", "M", "x", "y", "xy_val"], base = "x" }',
            r"rubric\.structure\.params\.base is not a known parameter of check 'structure'",
        ),
        (
            'family = "PolynomialDecay", rtol = 1e-3 }',
            'family = "PolynomialDecay", rtl = 1e-3 }',
            r"rubric\.schedule\.params\.rtl is not a known parameter of check 'schedule'",
        ),
        (
            "partial_fraction = 0.5 }",
            "partial_fraction = 1.5 }",
            r"rubric\.accuracy\.params\.partial_fraction must be in \[0, 1\], got 1\.5",
        ),
        (
            'title = { es = "Callbacks del tuner", en = "Tuner callbacks" }',
            'title = { es = "Callbacks del tuner", en = "Tuner callbacks" }\n'
            "params = { strict = true }",
            r"rubric\.callbacks_passthrough\.params\.strict is not a known parameter of check "
            r"'callbacks_passthrough'; known: none",
        ),
        (
            'title = { es = "Optimizador SGD", en = "SGD optimizer" }',
            'title = { es = "Optimizador SGD", en = "SGD optimizer" }\n'
            'messages = { wrong_clas = { es = "x" } }',
            r"\[rubric\.optimizer\]\.messages\.wrong_clas is not a message of check 'optimizer'",
        ),
    ],
)
def test_bad_params_are_spec_errors_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        spec_module.load(_spec_with(tmp_path, old, new))


def test_schedule_params_take_the_schedule_checks_family() -> None:
    # The exam's [rubric.schedule_params] names no family: it is the schedule check's.
    exam = {item.id: item.params for item in spec_module.load(SHIPPED).rubric}
    assert exam["schedule_params"].family == exam["schedule"].family == "PolynomialDecay"
    selu = spec_module.load("fashion-mnist-selu-exponential-decay")
    assert {i.id: i.params for i in selu.rubric}["schedule_params"].family == "ExponentialDecay"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (  # staircase is ExponentialDecay's: the exam's schedule (PolynomialDecay) has none
            "decay_steps = 10, power = 1.0, cycle = false }",
            "decay_steps = 10, staircase = false }",
            r"rubric\.schedule_params\.params\.staircase is not a parameter of PolynomialDecay; "
            r"its parameters: initial_learning_rate, decay_steps, end_learning_rate, power, cycle$",
        ),
        (  # named explicitly, the family's own parameters are the rule
            "decay_steps = 10, power = 1.0, cycle = false }",
            'family = "ExponentialDecay", decay_steps = 10, power = 1.0 }',
            r"params\.power is not a parameter of ExponentialDecay; its parameters: "
            r"initial_learning_rate, decay_steps, decay_rate, staircase$",
        ),
        (
            'family = "PolynomialDecay", rtol = 1e-3 }',
            'family = "PolinomialDecay", rtol = 1e-3 }',
            r"rubric\.schedule\.params\.family is 'PolinomialDecay', not a schedule family; "
            r"known: constant, PiecewiseConstantDecay, ExponentialDecay",
        ),
        (  # with the schedule check gone there is no family to take
            '[rubric.schedule]\npoints = 1.0\ntitle = { es = "Planificador PolynomialDecay", '
            'en = "PolynomialDecay schedule" }\nparams = { family = "PolynomialDecay", '
            "rtol = 1e-3 }\n",
            "",
            r"rubric\.schedule_params\.params\.family is missing: the rubric has no "
            r"\[rubric\.schedule\] check to take it from",
        ),
    ],
)
def test_schedule_params_a_family_does_not_have_are_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        spec_module.load(_spec_with(tmp_path, old, new))


def test_the_exam_spec_reads_into_the_checks_dataclasses() -> None:
    spec = spec_module.load(SHIPPED)
    params = {item.id: item.params for item in spec.rubric}
    for check_id, value in params.items():
        assert isinstance(value, REGISTRY[check_id].params)
        assert dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen
    assert params["architecture"].expected_chain() == [
        {"class_name": "Dense", "activation": "relu", "units": 800},
        {"class_name": "Dense", "units": 10, "activation": "softmax"},
    ]
    assert params["optimizer"].range("momentum") == (0.0, 0.0)
    assert dict(params["schedule_params"].values) == {
        "decay_steps": 10,
        "power": 1.0,
        "cycle": False,
    }


# --- [calling] ----------------------------------------------------------------------------


EXAM_HASHES = {  # calibrate.spec_hash of the exam's spec before [calling] grew (committed)
    ("smoke", None): "3fa1cffd6cd4a766",
    ("default", None): "abded545047eb354",
    ("exam", None): "6faf622f8c6a6a16",
}


def test_the_exam_spec_hash_is_unchanged() -> None:
    spec = spec_module.load(SHIPPED)
    for (budget, subset), value in EXAM_HASHES.items():
        assert spec_hash(spec, spec.budget(budget), subset) == value
    assert spec.calling == spec_module.Calling()


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        ('tuner = "RandomSearch"', spec_module.Calling(tuner="RandomSearch")),
        (
            'tuner = "Hyperband"\nvalidation = "validation_split"\nvalidation_split = 0.25',
            spec_module.Calling("Hyperband", "", "validation_split", 0.25),
        ),
    ],
)
def test_calling_reads_tuner_and_validation_and_changes_the_hash(
    tmp_path: Path, new: str, expected: spec_module.Calling
) -> None:
    spec = spec_module.load(_spec_with(tmp_path, 'tuner = "BayesianOptimization"', new))
    assert spec.calling == expected
    assert spec_hash(spec, spec.budget("smoke"), None) != EXAM_HASHES[("smoke", None)]
    request = spec.calling.request()
    assert request["tuner"] == expected.tuner and request["validation"] == expected.validation


def test_objective_with_a_direction(tmp_path: Path) -> None:
    toml = _spec_with(
        tmp_path,
        'objective = "val_accuracy"',
        'objective = { name = "val_binary_accuracy", direction = "max" }',
    )
    spec = spec_module.load(toml)
    assert (spec.objective, spec.calling.direction) == ("val_binary_accuracy", "max")
    assert spec.calling.request()["objective_direction"] == "max"


def test_a_loss_objective_is_refused_until_the_parent_reads_losses(tmp_path: Path) -> None:
    toml = _spec_with(
        tmp_path,
        'objective = "val_accuracy"',
        'objective = { name = "val_loss", direction = "min" }',
    )
    with pytest.raises(SpecError, match=r"'calling\.objective' is 'val_loss'; the grader"):
        spec_module.load(toml)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ('tuner = "GridSearch"', r"'calling\.tuner' is 'GridSearch'; use one of"),
        (
            'tuner = "BayesianOptimization"\nvalidation = "validation_split"',
            r"'calling\.validation_split' must be a fraction in \(0, 1\), got None",
        ),
        (
            'tuner = "BayesianOptimization"\nvalidation_split = 0.2',
            r"'calling\.validation_split' is only read with validation = \"validation_split\"",
        ),
        (
            'tuner = "BayesianOptimization"\nvalidation = "split"',
            r"'calling\.validation' must be one of",
        ),
    ],
)
def test_bad_calling_is_a_spec_error(tmp_path: Path, new: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_module.load(_spec_with(tmp_path, 'tuner = "BayesianOptimization"', new))


def test_a_direction_outside_max_min_is_refused(tmp_path: Path) -> None:
    toml = _spec_with(
        tmp_path,
        'objective = "val_accuracy"',
        'objective = { name = "val_accuracy", direction = "down" }',
    )
    with pytest.raises(SpecError, match=r"'calling\.objective\.direction' must be one of"):
        spec_module.load(toml)


# --- running one check on artifacts --------------------------------------------------------


def run(check_id: str, params: Any, lang: str = "en", **artifacts: Any) -> Any:
    check = REGISTRY[check_id]
    messages = {key: dict(texts) for key, texts in {**COMMON_MESSAGES, **check.messages}.items()}
    if isinstance(params, Mapping):
        params = build(check.params, params, check_id)
    ctx = CheckContext(
        record=PROBED,
        lang=lang,
        params=params,
        messages=MappingProxyType(messages),
        artifacts=ModelArtifacts(**artifacts),
    )
    return check.run(ctx)


def toml_params(text: str) -> dict[str, Any]:
    return tomllib.loads(text)["params"]


# --- architecture: the CIFAR-10 CNN of seed 002, the SELU MLP of seed 001 -------------------


CNN_PARAMS = toml_params(
    """
params = { input_shape = [32, 32, 3], layers = [
    { kind = "Conv2D", filters = 4, kernel_size = [3, 3], activation = "relu" },
    { kind = "Conv2D", filters = 8, kernel_size = 3, activation = "relu" },
    { kind = "MaxPooling2D", pool_size = [2, 2] },
    { kind = "Dropout", rate = 0.25 },
    { kind = "Flatten" },
    { kind = "Dense", units = 16, activation = "relu" },
    { kind = "Dropout" },
    { kind = "Dense", units = 2, activation = "softmax" },
] }
"""
)


def seed_cnn(**change: Any) -> Any:
    """Seed 002's CNN, with one layer's argument changed: {"conv2": {"filters": 16}}."""
    import keras

    def args(name: str, **kwargs: Any) -> dict[str, Any]:
        return {**kwargs, **change.get(name, {})}

    layers = [
        keras.Input(shape=change.get("input", (32, 32, 3))),
        keras.layers.Conv2D(**args("conv1", filters=4, kernel_size=(3, 3), activation="relu")),
        keras.layers.Conv2D(**args("conv2", filters=8, kernel_size=(3, 3), activation="relu")),
        keras.layers.MaxPooling2D(**args("pool", pool_size=(2, 2))),
        keras.layers.Dropout(**args("drop1", rate=0.25)),
        keras.layers.Flatten(),
        keras.layers.Dense(**args("dense", units=16, activation="relu")),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(2, activation="softmax"),
    ]
    return _architecture(keras.Sequential(layers))


def _architecture(model: Any) -> Any:
    problems: list[str] = []
    arch = parse_architecture(model.to_json(), problems)
    assert not problems
    return arch


def test_the_seed_cnn_passes() -> None:
    verdict = run("architecture", CNN_PARAMS, architecture=seed_cnn())
    assert verdict.status is CheckStatus.PASSED, verdict.message
    assert verdict.message == (
        "Architecture 32×32×3 → Conv2D(4, 3×3, relu) → Conv2D(8, 3×3, relu) → "
        "MaxPooling2D(2×2) → Dropout(0.25) → Flatten → Dense(16, relu) → Dropout(0.5) → "
        "Dense(2, softmax), as required."
    )


EXPECTED_CNN = (
    "expected 32×32×3 → Conv2D(4, 3×3, relu) → Conv2D(8, 3×3, relu) → MaxPooling2D(2×2) → "
    "Dropout(0.25) → Flatten → Dense(16, relu) → Dropout → Dense(2, softmax)."
)


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        (
            {"conv2": {"filters": 16}},
            "Layer 2 is Conv2D(16, 3×3, relu); expected Conv2D(8, 3×3, relu) (filters).",
        ),
        (
            {"conv1": {"kernel_size": (5, 5)}},
            "Layer 1 is Conv2D(4, 5×5, relu); expected Conv2D(4, 3×3, relu) (kernel_size).",
        ),
        (
            {"dense": {"activation": "tanh"}},
            "Layer 6 is Dense(16, tanh); expected Dense(16, relu) (activation).",
        ),
        (
            {"pool": {"pool_size": (3, 3)}},
            "Layer 3 is MaxPooling2D(3×3); expected MaxPooling2D(2×2) (pool_size).",
        ),
        (
            {"drop1": {"rate": 0.5}},
            "Layer 4 is Dropout(0.5); expected Dropout(0.25) (rate).",
        ),
    ],
)
def test_a_cnn_that_differs_names_the_first_layer_and_what(
    change: dict[str, Any], difference: str
) -> None:
    verdict = run("architecture", CNN_PARAMS, architecture=seed_cnn(**change))
    assert verdict.status is CheckStatus.FAILED
    assert EXPECTED_CNN in verdict.message
    assert verdict.message.endswith(difference), verdict.message


def test_a_cnn_with_a_dense_for_a_conv_names_the_kind() -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    verdict = run("architecture", CNN_PARAMS, architecture=_architecture(model))
    assert verdict.status is CheckStatus.FAILED
    assert verdict.message.endswith("Layer 1 is Flatten; expected Conv2D(4, 3×3, relu) (kind)."), (
        verdict.message
    )


def test_a_cnn_missing_its_last_layers_says_which() -> None:
    import keras

    model = keras.Sequential(
        [keras.Input(shape=(32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu")]
    )
    verdict = run("architecture", CNN_PARAMS, architecture=_architecture(model))
    assert "Layers are missing from layer 2 on: expected Conv2D(8, 3×3, relu) →" in (
        verdict.message
    )


def test_a_cnn_on_another_input_shape_fails_and_says_so() -> None:
    verdict = run("architecture", CNN_PARAMS, architecture=seed_cnn(input=(28, 28, 3)))
    assert verdict.status is CheckStatus.FAILED
    assert "The input is 28×28×3; expected 32×32×3." in verdict.message


def test_the_spanish_message_names_the_layer_too() -> None:
    verdict = run("architecture", CNN_PARAMS, "es", architecture=seed_cnn(conv2={"filters": 16}))
    assert verdict.message.endswith(
        "La capa 2 es Conv2D(16, 3×3, relu); se esperaba Conv2D(8, 3×3, relu) (filters)."
    )


SELU_PARAMS = toml_params(
    """
params = { input_shape = [28, 28], layers = [
    { kind = "Flatten" },
    { kind = "Dense", units = 300, activation = "selu", kernel_initializer = "lecun_normal" },
    { kind = "Dense", units = 100, activation = "selu", kernel_initializer = "lecun_normal" },
    { kind = "Dense", units = 10, activation = "softmax" },
] }
"""
)


def selu_mlp(initializer: str) -> Any:
    import keras

    return _architecture(
        keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(),
                keras.layers.Dense(300, activation="selu", kernel_initializer=initializer),
                keras.layers.Dense(100, activation="selu", kernel_initializer=initializer),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
    )


def test_selu_with_lecun_normal_passes_and_glorot_fails() -> None:
    assert run("architecture", SELU_PARAMS, architecture=selu_mlp("lecun_normal")).status is (
        CheckStatus.PASSED
    )
    verdict = run("architecture", SELU_PARAMS, architecture=selu_mlp("glorot_uniform"))
    assert verdict.status is CheckStatus.FAILED
    assert verdict.message.endswith(
        "Layer 2 is Dense(300, selu, glorot_uniform); expected "
        "Dense(300, selu, lecun_normal) (kernel_initializer)."
    ), verdict.message


def test_the_exam_shorthand_means_the_same_as_its_layer_list() -> None:
    import keras

    shorthand = toml_params(
        'params = { input_dim = 784, hidden_units = [800], hidden_activation = "relu", '
        'output_units = 10, output_activation = "softmax" }'
    )
    listed = toml_params(
        'params = { input_shape = [784], layers = [ { kind = "Dense", units = 800, '
        'activation = "relu" }, { kind = "Dense", units = 10, activation = "softmax" } ] }'
    )

    def mlp(hidden: int) -> Any:
        return _architecture(
            keras.Sequential(
                [
                    keras.Input(shape=(784,)),
                    keras.layers.Dense(hidden, activation="relu"),
                    keras.layers.Dense(10, activation="softmax"),
                ]
            )
        )

    for hidden, status in ((800, CheckStatus.PASSED), (300, CheckStatus.FAILED)):
        a = run("architecture", shorthand, architecture=mlp(hidden))
        b = run("architecture", listed, architecture=mlp(hidden))
        assert a.status is b.status is status
    # The shorthand keeps the exam's messages word for word.
    assert run("architecture", shorthand, architecture=mlp(300)).message == (
        "The network built is 784 → Dense(300, relu) → Dense(10, softmax); "
        "expected 784 → Dense(800, relu) → Dense(10, softmax)."
    )


def test_a_layer_attribute_its_kind_does_not_take_is_refused() -> None:
    check = REGISTRY["architecture"]
    with pytest.raises(ParamError, match=r"layers\[0\]\.units is not an attribute of Conv2D"):
        build(check.params, {"layers": [{"kind": "Conv2D", "units": 4}]}, "architecture")
    with pytest.raises(ParamError, match=r"layers\[0\]\.kind must be one of"):
        build(check.params, {"layers": [{"kind": "Conv3D"}]}, "architecture")


def test_leaky_relu_layers_of_seed_004() -> None:
    import keras

    params = toml_params(
        'params = { input_shape = [20], layers = [ { kind = "Dense", units = 64 }, '
        '{ kind = "LeakyReLU", negative_slope = 0.1 }, { kind = "Dropout", rate = 0.1 }, '
        '{ kind = "Dense", units = 2, activation = "softmax" } ] }'
    )

    def model(slope: float) -> Any:
        return _architecture(
            keras.Sequential(
                [
                    keras.Input(shape=(20,)),
                    keras.layers.Dense(64),
                    keras.layers.LeakyReLU(negative_slope=slope),
                    keras.layers.Dropout(0.1),
                    keras.layers.Dense(2, activation="softmax"),
                ]
            )
        )

    assert run("architecture", params, architecture=model(0.1)).status is CheckStatus.PASSED
    verdict = run("architecture", params, architecture=model(0.3))
    assert verdict.message.endswith(
        "Layer 2 is LeakyReLU(0.3); expected LeakyReLU(0.1) (negative_slope)."
    ), verdict.message


# --- optimizer -----------------------------------------------------------------------------


def optimizer(class_name: str, **config: Any) -> dict[str, Any]:
    """The optimizer as grader/artifacts.py reads it from a saved model."""
    return {
        "class_name": class_name,
        "module": "keras.optimizers",
        "config": {"name": class_name.lower(), **config},
        "momentum": config.get("momentum"),
        "nesterov": config.get("nesterov"),
    }


def run_optimizer(params: dict[str, Any], opt: dict[str, Any], lang: str = "en") -> Any:
    return run("optimizer", params, lang, compiled=True, optimizer=opt)


def test_nadam_betas_pass_and_a_wrong_beta_is_named() -> None:
    params = {"class_name": "Nadam", "beta_1": 0.9, "beta_2": [0.99, 0.999]}
    ok = run_optimizer(params, optimizer("Nadam", beta_1=0.9, beta_2=0.999))
    assert ok.status is CheckStatus.PASSED
    assert ok.message == "Optimizer Nadam (beta_1=0.9, beta_2=0.999), as required."
    bad = run_optimizer(params, optimizer("Nadam", beta_1=0.8, beta_2=0.999))
    assert bad.status is CheckStatus.FAILED
    assert bad.message == "Nadam has beta_1=0.8; expected beta_1=0.9."


def test_adam_without_the_asked_clipvalue_is_named() -> None:
    params = {"class_name": "Adam", "clipvalue": 1.0}
    assert run_optimizer(params, optimizer("Adam", clipvalue=1.0)).status is CheckStatus.PASSED
    missing = run_optimizer(params, optimizer("Adam", clipvalue=None))
    assert missing.message == (
        "Adam does not set clipvalue; expected clipvalue=1 "
        "(keras.optimizers.Adam(..., clipvalue=1))."
    )
    es = run_optimizer(params, optimizer("Adam", clipvalue=0.5), "es")
    assert es.message == "Adam tiene clipvalue=0.5; se esperaba clipvalue=1."


def test_a_wrong_class_names_the_gradient_clipping_it_sets() -> None:
    # Seed 004's Adam(clipvalue=1.0) where SGD is asked (fashion-mnist-cyclic-lr).
    params = {"class_name": "SGD", "momentum": [0.9, 0.9]}
    adam = optimizer("Adam", clipvalue=1.0, clipnorm=None, global_clipnorm=None)
    assert run_optimizer(params, adam).message == (
        "The optimizer is Adam(clipvalue=1.0); expected keras.optimizers.SGD."
    )
    both = optimizer("Adam", clipvalue=0.5, global_clipnorm=2)
    assert run_optimizer(params, both, "es").message == (
        "El optimizador es Adam(clipvalue=0.5, global_clipnorm=2.0); "
        "se esperaba keras.optimizers.SGD."
    )
    # No clipping: the message is the one the Fashion exam's adam example always had.
    plain = optimizer("Adam", clipvalue=None, clipnorm=None, global_clipnorm=None)
    assert run_optimizer(params, plain).message == (
        "The optimizer is Adam; expected keras.optimizers.SGD."
    )


def test_a_list_of_accepted_classes() -> None:
    params = {"class_name": ["SGD", "Nadam"]}
    assert run_optimizer(params, optimizer("Nadam")).status is CheckStatus.PASSED
    es = run_optimizer(params, optimizer("Adam"), "es")
    assert es.message == (
        "El optimizador es Adam; se esperaba keras.optimizers.SGD o keras.optimizers.Nadam."
    )
    en = run_optimizer(params, optimizer("Adam"))
    assert en.message.endswith("expected keras.optimizers.SGD or keras.optimizers.Nadam.")


def test_sgd_momentum_and_nesterov_as_before() -> None:
    params = {"class_name": "SGD", "momentum": [0.9, 0.9], "nesterov": [True]}
    ok = run_optimizer(params, optimizer("SGD", momentum=0.9, nesterov=True))
    assert ok.message == "Optimizer SGD (momentum=0.9, nesterov=True), as required."
    bad = run_optimizer(params, optimizer("SGD", momentum=0.0, nesterov=False), "es")
    assert bad.message == (
        "SGD tiene momentum=0; se esperaba 0.9. SGD tiene nesterov=False; se esperaba "
        "nesterov=True."
    )


# --- loss and metrics ------------------------------------------------------------------------


def metric(name: str, class_name: str | None = None) -> dict[str, Any]:
    return {"name": name, "class_name": class_name, "spec": name}


def run_loss(params: dict[str, Any], loss: Any, metrics: list[dict[str, Any]]) -> Any:
    return run(
        "loss_metrics", params, compiled=True, loss=loss, metrics=tuple(metrics), optimizer=None
    )


@pytest.mark.parametrize(
    ("loss", "found"),
    [
        ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
        (
            {"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": False}},
            "SparseCategoricalCrossentropy",
        ),
        ({"class_name": "function", "config": {"name": "sparse_categorical_crossentropy"}}, ""),
        # How Keras 3 saves loss=keras.losses.sparse_categorical_crossentropy (a function).
        (
            {
                "module": "builtins",
                "class_name": "function",
                "config": "sparse_categorical_crossentropy",
                "registered_name": "function",
            },
            "keras.losses.sparse_categorical_crossentropy",
        ),
    ],
)
def test_sparse_categorical_in_each_form_passes(loss: Any, found: str) -> None:
    params = {"loss": "sparse_categorical_crossentropy"}
    verdict = run_loss(params, loss, [metric("accuracy")])
    assert verdict.status is CheckStatus.PASSED, verdict.message
    assert found in verdict.message


def test_categorical_where_sparse_is_asked_fails() -> None:
    verdict = run_loss(
        {"loss": "sparse_categorical_crossentropy"},
        "categorical_crossentropy",
        [metric("accuracy")],
    )
    assert verdict.message == (
        "The loss is 'categorical_crossentropy'; expected 'sparse_categorical_crossentropy'."
    )


def test_binary_crossentropy_with_its_accuracy_and_not_categorical_accuracy() -> None:
    params = {"loss": "binary_crossentropy"}
    good = run_loss(params, "binary_crossentropy", [metric("accuracy", "BinaryAccuracy")])
    assert good.status is CheckStatus.PASSED
    bad = run_loss(params, "binary_crossentropy", [metric("accuracy", "CategoricalAccuracy")])
    assert bad.message == (
        "The metric 'accuracy' is CategoricalAccuracy, which does not match the loss "
        "binary_crossentropy; expected metrics=['accuracy']."
    )


def test_from_logits_either_way() -> None:
    logits = {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}}
    probabilities = {"class_name": "CategoricalCrossentropy", "config": {"from_logits": False}}
    asked_logits = {"loss": "categorical_crossentropy", "from_logits": True}
    assert run_loss(asked_logits, logits, [metric("accuracy")]).status is CheckStatus.PASSED
    needs = run_loss(asked_logits, probabilities, [metric("accuracy")])
    assert "expected 'categorical_crossentropy' with from_logits=True" in needs.message
    unasked = run_loss({}, logits, [metric("accuracy")])
    assert unasked.message.startswith("The loss uses from_logits=True")


def test_a_list_of_losses_and_of_metrics() -> None:
    params = {"loss": ["binary_crossentropy", "categorical_crossentropy"], "metrics": ["auc"]}
    # A metric other than accuracy counts when it is logged under its name.
    passed = run_loss(params, "categorical_crossentropy", [metric("auc", "AUC")])
    assert passed.status is CheckStatus.PASSED, passed.message
    missing = run_loss(params, "binary_crossentropy", [metric("accuracy")])
    assert "needs a metric logged as 'auc'" in missing.message


def test_the_probe_and_the_model_file_describe_a_cnn_alike() -> None:
    """What the child's probe records of a live model and what the parent reads from its
    JSON agree (kernel sizes as tuples and lists, initializers as objects): no
    disagreement for the same network, one for another network."""
    import keras

    from grader.child.probe import _architecture as probe_architecture

    def model(filters: int) -> Any:
        return keras.Sequential(
            [
                keras.Input(shape=(32, 32, 3)),
                keras.layers.Conv2D(4, (3, 3), activation="relu"),
                keras.layers.Conv2D(filters, (3, 3), activation="relu"),
                keras.layers.MaxPooling2D(pool_size=(2, 2)),
                keras.layers.Dropout(0.25),
                keras.layers.Flatten(),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )

    check = REGISTRY["architecture"]
    messages = {key: dict(texts) for key, texts in {**COMMON_MESSAGES, **check.messages}.items()}

    def verdict(probed: Any, trained: Any) -> Any:
        record = {"probe_version": 1, "build": {"status": "ok", "architecture": probed}}
        ctx = CheckContext(
            record=record,
            lang="en",
            params=build(check.params, CNN_PARAMS, "architecture"),
            messages=MappingProxyType(messages),
            artifacts=ModelArtifacts(architecture=trained),
        )
        return check.run(ctx)

    same = verdict(probe_architecture(model(8)), _architecture(model(8)))
    assert same.status is CheckStatus.PASSED, same.message
    other = verdict(probe_architecture(model(16)), _architecture(model(8)))
    assert other.status is CheckStatus.FAILED
    assert other.message.startswith("The model the search trained has the architecture")
    # A probe record from before conv layers were described (no kernel_size...) agrees.
    old = probe_architecture(model(8))
    old["layers"] = [
        {k: v for k, v in layer.items() if k not in ("kernel_size", "pool_size", "filters")}
        for layer in old["layers"]
    ]
    assert verdict(old, _architecture(model(8))).status is CheckStatus.PASSED


def test_every_schedule_family_has_its_parameters_named() -> None:
    from grader import schedules

    for family in (*schedules.FAMILIES, *schedules.CALLBACK_FAMILIES, *schedules.RANDOM_FAMILIES):
        assert schedules.family_parameters(family) is not None, family
    assert schedules.family_parameters("StepDecay") == (
        "initial_lrate", "drop", "epochs_drop", "form",
    )  # fmt: skip
    assert schedules.family_parameters("Polynomial") is None
    # A saved config is written as the student's call, whatever equivalent form a fit finds.
    config = {"name": "ExponentialDecay", "initial_learning_rate": 0.31, "decay_steps": 10,
              "decay_rate": 0.96, "staircase": False}  # fmt: skip
    assert schedules.describe_written("ExponentialDecay", config) == (
        "ExponentialDecay(initial_learning_rate=0.31, decay_steps=10, decay_rate=0.96, "
        "staircase=False)"
    )
