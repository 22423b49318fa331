"""The rubric checks on probe records of real student code, judged with the real spec.

Each variant in probe_helpers.VARIANTS is saved as a .py file, loaded with
grader.submission (so locations are real) and probed once per module.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from probe_helpers import VARIANTS, probe_file, variant

from grader import spec as spec_module
from grader.artifacts import DeclaredEvidence, ModelArtifacts, from_data
from grader.checks import (
    CHECK_MODULES,
    REGISTRY,
    SHARED_MODULES,
    CheckContext,
    run_checks,
    validate_rubric,
)
from grader.checks.base import COMMON_MESSAGES, Check, placeholders
from grader.child.simulate import compare_data
from grader.errors import SpecError
from grader.results import Baseline, CheckResult, CheckStatus, Evidence

ASSIGNMENT = "fashion-mnist-polynomial-decay"
SPEC = spec_module.load(ASSIGNMENT)
Probed = Callable[[str], tuple[Any, dict[str, Any]]]


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Probed:
    root = tmp_path_factory.mktemp("students")
    cache: dict[str, tuple[Any, dict[str, Any]]] = {}

    def get(name: str) -> tuple[Any, dict[str, Any]]:
        if name not in cache:
            cache[name] = probe_file(VARIANTS[name], root / name)
        return cache[name]

    return get


def grade(
    probed: Probed, name: str, *, spec: spec_module.Spec = SPEC, lang: str = "en", **outcome: Any
) -> dict[str, CheckResult]:
    loaded, record = probed(name)
    context = CheckContext(record=record, lang=lang, loaded=loaded, budget="smoke", **outcome)
    return {r.id: r for r in run_checks(spec, context)}


def line_of(name: str, text: str) -> int:
    """Line in the .py file (the prelude has 2 lines) of the first line containing text."""
    source = "import keras\nimport keras_tuner\n" + VARIANTS[name]
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


# --- the reference passes everything ------------------------------------------------------


def saved_as_probed(probed: Probed, name: str) -> dict[str, Any]:
    """The optimizer config a saved model holds when training used what the probe saw."""
    optimizer = probed(name)[1]["build"]["optimizer"]
    return {"class_name": optimizer["class_name"], "config": optimizer["config"]}


def test_reference_passes_every_check_with_full_points(probed: Probed) -> None:
    results = grade(
        probed,
        "reference",
        test_accuracy=0.885,
        reference_test_accuracy=0.8883,
        saved_optimizer=saved_as_probed(probed, "reference"),
    )
    assert list(results) == [item.id for item in SPEC.rubric]
    for r in results.values():
        assert r.status is CheckStatus.PASSED, (r.id, r.message)
        assert r.points == r.max_points
    assert sum(r.points for r in results.values()) == SPEC.max_score


def test_reference_messages_say_what_was_found_and_where(probed: Probed) -> None:
    results = grade(probed, "reference", lang="es")
    assert "como se pedía" in results["optimizer"].message
    assert "PolynomialDecay(initial_learning_rate=0.2983" in results["schedule"].message
    assert "784 → Dense(800, relu) → Dense(10, softmax)" in results["architecture"].message
    assert results["optimizer"].location.line == line_of("reference", "SGD(")
    assert results["fit_config"].location.line == line_of("reference", "return M.fit(")
    assert results["structure"].title == "Estructura de MyHyperModel"


def test_accuracy_is_skipped_without_a_test_accuracy(probed: Probed) -> None:
    result = grade(probed, "reference")["accuracy"]
    assert result.status is CheckStatus.SKIPPED and result.points == 0


# --- each check fails on its mistake ------------------------------------------------------

FAILURES = [
    ("misnamed", "structure", "found `MyHypermodel`", "class MyHypermodel("),
    (
        "wrong_base",
        "structure",
        "expected a subclass of keras_tuner.HyperModel",
        "class MyHyperModel",
    ),
    (
        "bad_signature",
        "structure",
        "fit(self, hp, M, x, y, xy_val, **kwargs)",
        "class MyHyperModel",
    ),
    ("build_raises", "structure", "NameError", "undefined_name"),
    ("keras2_lr", "structure", "`lr=` is Keras 2", "SGD(lr="),
    ("wrong_architecture", "architecture", "Dense(512, sigmoid)", "Dense("),
    ("wrong_loss_metrics", "loss_metrics", "The loss is 'mse'", "M.compile("),
    ("adam", "optimizer", "The optimizer is Adam", "Adam("),
    # As the code wrote it (decay_steps=100), not a fitted equivalent (decay_steps=1).
    (
        "exponential",
        "schedule",
        "ExponentialDecay(initial_learning_rate=0.2983, decay_steps=100, "
        "decay_rate=0.96, staircase=False)",
        "SGD(",
    ),
    ("lr_scheduler", "schedule", "LearningRateScheduler callback", "SGD("),
    ("plateau", "schedule", "ReduceLROnPlateau(monitor='val_accuracy', factor=0.32", "SGD("),
    ("keras2_decay", "schedule", "`decay=` is Keras 2", "SGD("),
    ("exponential", "schedule_params", "There is no PolynomialDecay", None),
    (
        "decay_steps_20",
        "schedule_params",
        "decay_steps=20, power=1, cycle=False; expected decay_steps=10",
        "PolynomialDecay(",
    ),
    ("wrong_ranges", "search_space", "[0.2983, 0.4]; expected [0.2983, 0.32]", "hp.Float("),
    ("end_above_initial", "search_space", "rises from 0.2983 to 0.33", "hp.Float("),
    ("extra_hp", "search_space", 'hp.Int("decay_steps", min_value=5, max_value=20)', "hp.Float("),
    ("wrong_fit", "fit_config", "batch_size=128; expected batch_size=256", "return M.fit("),
    ("validation_split", "fit_config", "validation_split=0.2", "return M.fit("),
    ("dropped_callbacks", "callbacks_passthrough", "None of the callbacks", "return M.fit("),
]


@pytest.mark.parametrize(("name", "check_id", "phrase", "where"), FAILURES)
def test_failure(probed: Probed, name: str, check_id: str, phrase: str, where: str | None) -> None:
    result = grade(probed, name)[check_id]
    assert result.status is CheckStatus.FAILED, result.message
    assert result.points == 0
    assert phrase in result.message
    if where is not None:
        assert result.location is not None
        assert result.location.line == line_of(name, where)


def test_every_check_has_a_failing_case() -> None:
    # accuracy's and consistency's failing cases are built from outcomes (below), not
    # from student code alone.
    assert {check for _, check, _, _ in FAILURES} | {"accuracy", "consistency"} == set(REGISTRY)


def test_the_mistake_costs_only_its_own_check(probed: Probed) -> None:
    results = grade(probed, "adam")
    assert results["optimizer"].status is CheckStatus.FAILED
    # The schedule is judged by behaviour: a PolynomialDecay on Adam is still one.
    assert results["schedule"].status is CheckStatus.PASSED
    assert results["fit_config"].status is CheckStatus.PASSED


def test_hand_written_polynomial_schedule_passes(probed: Probed) -> None:
    results = grade(probed, "hand_written")
    assert results["schedule"].status is CheckStatus.PASSED, results["schedule"].message
    assert "LinearDecay" in results["schedule"].message
    assert results["schedule_params"].status is CheckStatus.PASSED


def test_learning_rate_scheduler_message_names_the_epoch_schedule(probed: Probed) -> None:
    message = grade(probed, "lr_scheduler", lang="es")["schedule"].message
    assert "decaimiento escalonado" in message
    assert "constante 0.3" in message
    assert "keras.optimizers.schedules.PolynomialDecay" in message


def test_dropped_callbacks_still_pass_fit_config(probed: Probed) -> None:
    results = grade(probed, "dropped_callbacks")
    assert results["fit_config"].status is CheckStatus.PASSED, results["fit_config"].message


def test_misnamed_class_skips_the_rest_but_not_accuracy(probed: Probed) -> None:
    results = grade(probed, "misnamed", lang="es", test_accuracy=0.88, reference_test_accuracy=0.88)
    assert "distingue mayúsculas" in results["structure"].message
    for check_id in ("architecture", "schedule", "fit_config", "callbacks_passthrough"):
        assert results[check_id].status is CheckStatus.SKIPPED
        assert results[check_id].message == "Omitido: no se pudo construir MyHyperModel."
    assert results["accuracy"].status is CheckStatus.PASSED


def test_build_error_skips_build_checks(probed: Probed) -> None:
    results = grade(probed, "build_raises")
    assert results["structure"].location.line == line_of("build_raises", "undefined_name")
    for check_id in ("architecture", "loss_metrics", "optimizer", "schedule", "search_space"):
        assert results[check_id].status is CheckStatus.SKIPPED
        assert "did not return a Keras model" in results[check_id].message


def test_fit_error_skips_fit_checks(probed: Probed) -> None:
    results = grade(probed, "fit_raises")
    assert results["schedule"].status is CheckStatus.PASSED
    for check_id in ("fit_config", "callbacks_passthrough"):
        assert results[check_id].status is CheckStatus.SKIPPED
        assert "failed when run without training" in results[check_id].message


def test_no_probe_record_skips_all_but_accuracy() -> None:
    context = CheckContext(record={}, lang="en", test_accuracy=0.9, reference_test_accuracy=0.88)
    results = {r.id: r for r in run_checks(SPEC, context)}
    assert results["structure"].status is CheckStatus.SKIPPED
    assert "never got to inspect MyHyperModel" in results["structure"].message
    assert results["optimizer"].status is CheckStatus.SKIPPED
    assert results["accuracy"].status is CheckStatus.PASSED


# --- accuracy -----------------------------------------------------------------------------


def accuracy(test: float | None, reference: float | None, lang: str = "en") -> CheckResult:
    context = CheckContext(
        record={},
        lang=lang,
        test_accuracy=test,
        reference_test_accuracy=reference,
        budget="default",
        baselines=(Baseline("Adam, tuned learning rate", 0.898),),
    )
    return {r.id: r for r in run_checks(SPEC, context)}["accuracy"]


@pytest.mark.parametrize(
    ("test", "status", "points"),
    [
        (0.90, CheckStatus.PASSED, 1.0),
        (0.87, CheckStatus.PASSED, 1.0),
        (0.85, CheckStatus.PASSED, 0.5),
        (0.80, CheckStatus.FAILED, 0.0),
    ],
)
def test_accuracy_bands(test: float, status: CheckStatus, points: float) -> None:
    result = accuracy(test, 0.88)
    assert (result.status, result.points) == (status, points)
    assert "Adam, tuned learning rate 89.80 %" in result.message


def test_accuracy_skips_without_reference_for_the_budget() -> None:
    result = accuracy(0.87, None, lang="es")
    assert result.status is CheckStatus.SKIPPED
    assert "presupuesto 'default'" in result.message and "87,00 %" in result.message


# --- the spec drives the verdicts ----------------------------------------------------------


def copy_spec(tmp_path: Path, *edits: tuple[str, str]) -> spec_module.Spec:
    source = SPEC.path.parent
    shutil.copy(source / "reference.ipynb", tmp_path / "reference.ipynb")
    text = (source / "assignment.toml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / "assignment.toml").write_text(text, encoding="utf-8")
    return spec_module.load(tmp_path / "assignment.toml")


def test_changing_params_and_points_in_the_toml_changes_the_verdict(
    probed: Probed, tmp_path: Path
) -> None:
    assert grade(probed, "decay_steps_20")["schedule_params"].status is CheckStatus.FAILED
    spec = copy_spec(
        tmp_path,
        ("params = { decay_steps = 10,", "params = { decay_steps = 20,"),
        ("[rubric.schedule_params]\npoints = 1.0", "[rubric.schedule_params]\npoints = 2.5"),
    )
    result = grade(probed, "decay_steps_20", spec=spec)["schedule_params"]
    assert result.status is CheckStatus.PASSED
    assert (result.points, result.max_points) == (2.5, 2.5)


def test_changing_a_range_with_dataclasses_replace_changes_the_verdict(probed: Probed) -> None:
    assert grade(probed, "wrong_ranges")["search_space"].status is CheckStatus.FAILED
    rubric = []
    for item in SPEC.rubric:
        if item.id == "search_space":
            # The params are the check's frozen dataclass (grader/checks/search_space.py).
            hyperparameters = tuple(
                dataclasses.replace(h, max=0.4) if h.name == "initial_learning_rate" else h
                for h in item.params.hyperparameters
            )
            params = dataclasses.replace(item.params, hyperparameters=hyperparameters)
            item = dataclasses.replace(item, params=params)
        rubric.append(item)
    spec = dataclasses.replace(SPEC, rubric=tuple(rubric))
    assert grade(probed, "wrong_ranges", spec=spec)["search_space"].status is CheckStatus.PASSED
    assert grade(probed, "reference", spec=spec)["search_space"].status is CheckStatus.FAILED


def test_a_message_override_in_the_toml_is_used(probed: Probed, tmp_path: Path) -> None:
    spec = copy_spec(
        tmp_path,
        (
            'params = { class_name = "SGD"',
            'messages = { wrong_class = { es = "Usa SGD, no {found}." } }\n'
            'params = { class_name = "SGD"',
        ),
    )
    es = grade(probed, "adam", spec=spec, lang="es")["optimizer"].message
    en = grade(probed, "adam", spec=spec, lang="en")["optimizer"].message
    assert es == "Usa SGD, no Adam."
    assert en.startswith("The optimizer is Adam")  # English falls back to the built-in text


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ('messages = { nope = { es = "x" } }', "not a message of check 'optimizer'"),
        ('messages = { wrong_class = { es = "{oops}" } }', "unknown placeholder"),
    ],
)
def test_bad_message_overrides_are_spec_errors(tmp_path: Path, override: str, error: str) -> None:
    # Refused when the spec loads (grader.checks.rubric.parse_item), before any grading.
    with pytest.raises(SpecError, match=error):
        copy_spec(
            tmp_path,
            ('params = { class_name = "SGD"', override + '\nparams = { class_name = "SGD"'),
        )


def test_an_unknown_check_id_is_a_spec_error() -> None:
    bogus = dataclasses.replace(SPEC.rubric[0], id="nonexistent")
    spec = dataclasses.replace(SPEC, rubric=(*SPEC.rubric, bogus))
    with pytest.raises(SpecError, match="nonexistent"):
        validate_rubric(spec)
    with pytest.raises(SpecError):
        run_checks(spec, CheckContext(record={}))


def test_hidden_items_can_be_left_out(probed: Probed) -> None:
    rubric = tuple(
        dataclasses.replace(i, hidden=True) if i.id == "accuracy" else i for i in SPEC.rubric
    )
    spec = dataclasses.replace(SPEC, rubric=rubric)
    _, record = probed("reference")
    shown = run_checks(spec, CheckContext(record=record), include_hidden=False)
    assert "accuracy" not in [r.id for r in shown]
    everything = run_checks(spec, CheckContext(record=record))
    assert next(r for r in everything if r.id == "accuracy").hidden


def test_a_check_that_crashes_becomes_a_failed_result(
    probed: Probed, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: CheckContext) -> Any:
        raise KeyError("surprise")

    original = REGISTRY["optimizer"]
    monkeypatch.setitem(
        REGISTRY, "optimizer", Check("optimizer", boom, original.messages, ("build",))
    )
    results = grade(probed, "reference")
    assert results["optimizer"].status is CheckStatus.FAILED
    assert "The grader failed on this check (KeyError" in results["optimizer"].message
    assert results["schedule"].status is CheckStatus.PASSED


# --- messages -----------------------------------------------------------------------------


def test_every_message_exists_in_both_languages_with_the_same_placeholders() -> None:
    for check_id, check in REGISTRY.items():
        for key, texts in {**COMMON_MESSAGES, **check.messages}.items():
            assert set(texts) == {"es", "en"}, (check_id, key)
            assert placeholders(texts["es"]) == placeholders(texts["en"]), (check_id, key)
            assert texts["es"] != texts["en"], (check_id, key)


# --- adding a check (docs/DESIGN.md, "Adding a check") ------------------------------------

ROOT = Path(__file__).resolve().parent.parent
CHECKS_DIR = ROOT / "grader" / "checks"


def _registers(path: Path) -> list[str]:
    """The check ids a module registers: its `@register("<id>", ...)` decorators."""
    import ast

    ids = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "id", getattr(deco.func, "attr", None)) == "register"
                    and deco.args
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    ids.append(deco.args[0].value)
    return ids


def test_every_check_module_is_discovered_and_registers_the_check_it_is_named_after() -> None:
    """One module per check, discovered in grader/checks/ (no list to forget): each module
    but the shared ones and `_` helpers registers exactly the check named after it, nothing
    else registers one, and the registry holds exactly those, run by their own modules."""
    modules = sorted(p.stem for p in CHECKS_DIR.glob("*.py") if p.stem != "__init__")
    expected = [m for m in modules if m not in SHARED_MODULES and not m.startswith("_")]
    assert list(CHECK_MODULES) == expected
    assert {m: _registers(CHECKS_DIR / f"{m}.py") for m in modules} == {
        m: [m] if m in CHECK_MODULES else [] for m in modules
    }
    assert sorted(REGISTRY) == expected
    assert {i: c.run.__module__ for i, c in REGISTRY.items()} == {
        i: f"grader.checks.{i}" for i in REGISTRY
    }


def _catalogs() -> dict[str, dict[str, Any]]:
    import tomllib

    folder = ROOT / "grader" / "i18n"
    return {p.stem: tomllib.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.toml")}


def test_every_check_has_its_texts_in_every_language_catalog() -> None:
    """`[checks.<id>]` in every shipped catalog (grader/i18n/<lang>.toml), with the same keys
    as the messages the check registered, each text with the English one's placeholders."""
    catalogs = _catalogs()
    assert {"en", "es"} <= set(catalogs)
    for check_id, check in REGISTRY.items():
        for lang, catalog in catalogs.items():
            texts = catalog.get("checks", {}).get(check_id)
            assert isinstance(texts, dict), f"grader/i18n/{lang}.toml has no [checks.{check_id}]"
            assert set(texts) == set(check.messages), (lang, check_id)
            for key, template in texts.items():
                english = catalogs["en"]["checks"][check_id][key]
                assert placeholders(template) == placeholders(english), (lang, check_id, key)


def test_every_check_is_documented_and_used_by_a_shipped_assignment() -> None:
    """The recipe's other places: docs/authoring.md's table of each check's params, and a
    `[rubric.<id>]` entry in at least one shipped assignment (so validate grades it)."""
    authoring = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", authoring, flags=re.M))
    assert set(REGISTRY) <= documented, sorted(set(REGISTRY) - documented)
    used = {
        item.id
        for path in spec_module.ASSIGNMENTS_DIR.glob("*/assignment.toml")
        for item in spec_module.load(path.parent).rubric
    }
    assert set(REGISTRY) <= used, sorted(set(REGISTRY) - used)
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert "\n## Adding a check\n" in design


# --- consistency: the trained model is the inspected one ----------------------------------


def test_consistency_passes_when_the_saved_model_matches(probed: Probed) -> None:
    saved = saved_as_probed(probed, "reference")
    result = grade(probed, "reference", saved_optimizer=saved)["consistency"]
    assert result.status is CheckStatus.PASSED, result.message
    assert "SGD + PolynomialDecay" in result.message


def test_consistency_fails_when_training_used_another_optimizer(probed: Probed) -> None:
    saved = saved_as_probed(probed, "reference")
    switched = {**saved, "class_name": "Adam"}
    result = grade(probed, "reference", saved_optimizer=switched)["consistency"]
    assert result.status is CheckStatus.FAILED
    assert "SGD → Adam" in result.message


def test_consistency_fails_when_the_schedule_changed(probed: Probed) -> None:
    saved = saved_as_probed(probed, "reference")
    config = dict(saved["config"])
    schedule = dict(config["learning_rate"])
    schedule["config"] = {**schedule["config"], "decay_steps": 1000}
    config["learning_rate"] = schedule
    result = grade(probed, "reference", saved_optimizer={**saved, "config": config})
    assert result["consistency"].status is CheckStatus.FAILED
    assert "decay_steps 10 → 1000" in result["consistency"].message


def test_consistency_is_skipped_without_a_saved_model(probed: Probed) -> None:
    result = grade(probed, "reference")["consistency"]
    assert result.status is CheckStatus.SKIPPED and result.points == 0


# --- the trained model's files are what is graded (grader/artifacts.py) -------------------


def _mlp_json(hidden: int = 800, activation: str = "relu") -> str:
    """`model.to_json()` of the exam's MLP, as Keras 3 writes it (trimmed to what is read)."""

    def dense(units: int, act: str) -> dict[str, Any]:
        config = {"name": f"dense_{units}", "units": units, "activation": act}
        return {"module": "keras.layers", "class_name": "Dense", "config": config}

    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 784]},
        },
        dense(hidden, activation),
        dense(10, "softmax"),
    ]
    return json.dumps({"module": "keras", "class_name": "Sequential", "config": {"layers": layers}})


def trained(probed: Probed, name: str, **changes: Any) -> ModelArtifacts:
    """The files the search would leave if it trained what the probe of `name` saw.

    The probe records `model.get_compile_config()`, which is what a .keras file stores.
    `changes` replace parts of that compile config (optimizer=..., loss=...).
    """
    compile_config = {**(probed(name)[1]["build"]["compile_config"] or {}), **changes}
    return from_data(_mlp_json(), {"compile_config": compile_config})


def _optimizer(class_name: str, learning_rate: Any, **config: Any) -> dict[str, Any]:
    return {"class_name": class_name, "config": {"learning_rate": learning_rate, **config}}


EXPONENTIAL = {
    "module": "keras.optimizers.schedules",
    "class_name": "ExponentialDecay",
    "config": {"initial_learning_rate": 0.001, "decay_steps": 1000, "decay_rate": 0.9},
}
ARTIFACT_CHECKS = ("architecture", "loss_metrics", "optimizer", "schedule", "schedule_params")


def test_reference_is_graded_on_its_trained_model(probed: Probed) -> None:
    results = grade(probed, "reference", artifacts=trained(probed, "reference"))
    for check_id in (*ARTIFACT_CHECKS, "consistency"):
        assert results[check_id].status is CheckStatus.PASSED, results[check_id].message
        assert results[check_id].evidence is Evidence.ARTIFACT
    # No file holds how fit is called or what the search space is: the child's word.
    for check_id in ("structure", "search_space", "fit_config", "callbacks_passthrough"):
        assert results[check_id].evidence is Evidence.CHILD
    assert results["schedule"].message.startswith("The optimizer's learning rate follows")


def test_without_files_the_checks_say_they_rest_on_the_child(probed: Probed) -> None:
    results = grade(probed, "reference")
    for check_id in ARTIFACT_CHECKS:
        assert results[check_id].status is CheckStatus.PASSED
        assert results[check_id].evidence is Evidence.CHILD


def test_decoy_shown_to_the_probe_fails_on_the_trained_model(probed: Probed) -> None:
    # The probe saw the reference; the search trained Adam with an ExponentialDecay.
    decoy = trained(probed, "reference", optimizer=_optimizer("Adam", EXPONENTIAL))
    results = grade(probed, "reference", artifacts=decoy, lang="es")
    schedule = results["schedule"]
    assert schedule.status is CheckStatus.FAILED and schedule.evidence is Evidence.ARTIFACT
    assert "ExponentialDecay" in schedule.message and "PolynomialDecay" in schedule.message
    assert "se califica el modelo entrenado" in schedule.message
    assert results["optimizer"].status is CheckStatus.FAILED
    assert "Adam(momentum=None" in results["optimizer"].message
    assert results["schedule_params"].status is CheckStatus.FAILED
    assert results["consistency"].status is CheckStatus.FAILED
    assert results["consistency"].max_points == 1.0


def test_decoy_message_in_english_names_both(probed: Probed) -> None:
    decoy = trained(probed, "reference", optimizer=_optimizer("SGD", EXPONENTIAL))
    message = grade(probed, "reference", artifacts=decoy)["schedule"].message
    assert "has as its learning rate ExponentialDecay" in message
    assert "your code showed PolynomialDecay when inspected" in message


def test_architecture_is_judged_on_the_trained_model(probed: Probed) -> None:
    files = trained(probed, "reference")
    wrong = from_data(_mlp_json(512, "sigmoid"), None)
    files = dataclasses.replace(files, architecture=wrong.architecture)
    result = grade(probed, "reference", artifacts=files)["architecture"]
    assert result.status is CheckStatus.FAILED and result.evidence is Evidence.ARTIFACT
    assert "Dense(512, sigmoid)" in result.message and "Dense(800, relu)" in result.message


@pytest.mark.parametrize(
    ("name", "check_id", "phrase"),
    [
        ("adam", "optimizer", "The optimizer is Adam"),
        (
            "exponential",
            "schedule",
            "ExponentialDecay(initial_learning_rate=0.2983, decay_steps=100",
        ),
        ("exponential", "schedule_params", "There is no PolynomialDecay"),
        ("wrong_loss_metrics", "loss_metrics", "The loss is 'mse'"),
        ("decay_steps_20", "schedule_params", "decay_steps=20, power=1, cycle=False"),
    ],
)
def test_honest_mistakes_fail_on_the_trained_model_too(
    probed: Probed, name: str, check_id: str, phrase: str
) -> None:
    result = grade(probed, name, artifacts=trained(probed, name))[check_id]
    assert result.status is CheckStatus.FAILED and result.evidence is Evidence.ARTIFACT
    assert phrase in result.message
    assert "when inspected" not in result.message  # the probe and the files agree


def test_loss_seen_by_the_probe_but_not_trained_is_a_disagreement(probed: Probed) -> None:
    files = trained(probed, "reference", loss="mse")
    result = grade(probed, "reference", artifacts=files)["loss_metrics"]
    assert result.status is CheckStatus.FAILED
    assert "loss='mse'" in result.message and "'categorical_crossentropy'" in result.message


def test_fixed_schedule_settings_changed_for_training_are_a_disagreement(probed: Probed) -> None:
    schedule = probed("reference")[1]["build"]["compile_config"]["optimizer"]["config"]
    lr = schedule["learning_rate"]
    changed = {**lr, "config": {**lr["config"], "decay_steps": 1000}}
    files = trained(probed, "reference", optimizer=_optimizer("SGD", changed, momentum=0.0))
    result = grade(probed, "reference", artifacts=files)["schedule_params"]
    assert result.status is CheckStatus.FAILED
    assert "decay_steps=1000" in result.message and "decay_steps=10," in result.message


def test_a_nan_in_the_trained_schedule_fails_the_schedule(probed: Probed) -> None:
    lr = probed("reference")[1]["build"]["compile_config"]["optimizer"]["config"]["learning_rate"]
    broken = {**lr, "config": {**lr["config"], "end_learning_rate": float("nan")}}
    files = trained(probed, "reference", optimizer=_optimizer("SGD", broken, momentum=0.0))
    result = grade(probed, "reference", artifacts=files)["schedule"]
    assert result.status is CheckStatus.FAILED and result.evidence is Evidence.ARTIFACT
    assert "not a finite number" in result.message


def test_a_students_own_schedule_class_falls_back_to_the_probe(probed: Probed) -> None:
    own = {"module": None, "class_name": "LinearDecay", "config": {"initial": 0.3}}
    optimizer = _optimizer("SGD", own, momentum=0.0)
    # Its model has no compile config to record (no get_config): as if Keras saved one.
    files = trained(
        probed,
        "hand_written",
        optimizer=optimizer,
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    result = grade(probed, "hand_written", artifacts=files)["schedule"]
    assert result.status is CheckStatus.PASSED, result.message
    assert result.evidence is Evidence.CHILD


# --- validation stays validation ---------------------------------------------------------

FIT_VARIANTS = {
    "trains_on_validation": variant(("return M.fit(x, y,", "return M.fit(xy_val[0], xy_val[1],")),
    "validates_on_training": variant(("validation_data=xy_val", "validation_data=(x, y)")),
    "copies_the_data": variant(
        ("return M.fit(x, y,", "return M.fit(x.copy(), y.copy(),"),
        ("validation_data=xy_val", "validation_data=(xy_val[0].copy(), xy_val[1])"),
    ),
}


@pytest.fixture(scope="module")
def fit_probed(tmp_path_factory: pytest.TempPathFactory) -> Probed:
    root = tmp_path_factory.mktemp("fit")
    return functools.cache(lambda name: probe_file(FIT_VARIANTS[name], root / name))


def _fit_result(fit_probed: Probed, name: str) -> CheckResult:
    loaded, record = fit_probed(name)
    context = CheckContext(record=record, lang="en", loaded=loaded, budget="smoke")
    return {r.id: r for r in run_checks(SPEC, context)}["fit_config"]


def test_training_on_the_validation_data_fails(fit_probed: Probed) -> None:
    result = _fit_result(fit_probed, "trains_on_validation")
    assert result.status is CheckStatus.FAILED
    assert "Model.fit trains on the validation data: its x is xy_val's" in result.message


def test_validating_on_the_training_data_fails(fit_probed: Probed) -> None:
    result = _fit_result(fit_probed, "validates_on_training")
    assert result.status is CheckStatus.FAILED
    assert "validation_data is the training data (x, y)" in result.message


def test_an_equal_copy_of_the_data_is_the_data(fit_probed: Probed) -> None:
    result = _fit_result(fit_probed, "copies_the_data")
    assert result.status is CheckStatus.PASSED, result.message


def test_data_of_the_same_shape_is_not_the_tuners(probed: Probed) -> None:
    loaded, record = probed("reference")
    call = {**record["fit"]["calls"][0], "y": "same_shape"}
    record = {**record, "fit": {**record["fit"], "calls": [call]}}
    context = CheckContext(record=record, lang="en", loaded=loaded, budget="smoke")
    result = {r.id: r for r in run_checks(SPEC, context)}["fit_config"]
    assert result.status is CheckStatus.FAILED
    assert "Model.fit gets other data as y than the y your fit receives" in result.message


def test_an_omitted_setting_passes_only_when_keras_default_is_the_expected_one(
    probed: Probed,
) -> None:
    """Seed 001's fit gives no batch_size: Keras' 32 is what its rubric asks for."""
    loaded, record = probed("reference")
    first = record["fit"]["calls"][0]
    given = [g for g in first["given"] if g != "batch_size"]
    call = {**first, "batch_size": None, "given": given}
    record = {**record, "fit": {**record["fit"], "calls": [call]}}

    def fit_config(spec: spec_module.Spec) -> CheckResult:
        context = CheckContext(record=record, lang="en", loaded=loaded, budget="smoke")
        return {r.id: r for r in run_checks(spec, context)}["fit_config"]

    exam = fit_config(SPEC)  # the exam asks for 256: leaving it out is still wrong
    assert exam.status is CheckStatus.FAILED
    assert "batch_size is not given (Keras uses 32); expected batch_size=256" in exam.message
    rubric = tuple(
        dataclasses.replace(item, params=dataclasses.replace(item.params, batch_size=32))
        if item.id == "fit_config"
        else item
        for item in SPEC.rubric
    )
    result = fit_config(dataclasses.replace(SPEC, rubric=rubric))
    assert result.status is CheckStatus.PASSED, result.message


def test_compare_data_compares_content_not_only_shape() -> None:
    x, other = np.zeros((4, 3)), np.ones((4, 3))
    assert compare_data(x, x) == "same"
    assert compare_data(x.copy(), x) == "equal"
    assert compare_data(other, x) == "same_shape"
    assert compare_data(other, x, swapped=other) == "swapped"
    assert compare_data((x, other), (x, other)) == "same_elements"
    assert compare_data((x.copy(), other.copy()), (x, other)) == "equal"
    assert compare_data((other, x), (x, other), swapped=(other, x)) == "swapped"
    assert compare_data((other, other), (x, other)) == "same_shape"
    assert compare_data(np.zeros((5, 3)), x) == "different"


def test_consistency_ignores_a_searched_schedule_setting_only() -> None:
    """Seed 001 searches ExponentialDecay's decay_rate: it differs per trial, not in kind."""
    from grader.checks.consistency import differences

    def sgd(decay_rate: float, decay_steps: int = 1407) -> dict[str, Any]:
        config = {"decay_rate": decay_rate, "decay_steps": decay_steps, "staircase": False}
        lr = {"class_name": "ExponentialDecay", "config": config}
        return {"class_name": "SGD", "config": {"momentum": 0.0, "learning_rate": lr}}

    assert differences(sgd(0.1), sgd(0.587)) == ["decay_rate 0.1 → 0.587"]
    assert differences(sgd(0.1), sgd(0.587), frozenset({"decay_rate"})) == []
    searched = frozenset({"decay_rate"})
    assert differences(sgd(0.1), sgd(0.1, 100000), searched) == ["decay_steps 1407 → 100000"]


# --- trained by the grader: what the trainer trained, not what the probe saw --------------


def _plan(batch_size: int | None = 256, epochs: int = 100, **early: Any) -> dict[str, Any]:
    """A declared fit plan (FitPlan.to_data) with the tuner's callbacks and EarlyStopping."""
    stopper = {"monitor": "val_accuracy", "patience": 20, **early}
    tuner = {"kind": "tuner", "class_name": "", "args": {}, "rates": None}
    return {
        "batch_size": batch_size,
        "epochs": epochs,
        "shuffle": True,
        "callbacks": [
            tuner,
            tuner,
            {"kind": "keras", "class_name": "EarlyStopping", "args": stopper, "rates": None},
        ],
    }


def _space(low: float = 0.2983) -> tuple[dict[str, Any], ...]:
    def entry(name: str, lo: float, hi: float) -> dict[str, Any]:
        config = {"name": name, "default": lo, "conditions": [], "min_value": lo,
                  "max_value": hi, "step": None, "sampling": "linear"}  # fmt: skip
        return {"class_name": "Float", "config": config}

    return (entry("initial_learning_rate", low, 0.32), entry("end_learning_rate", 0.28, 0.2983))


def declared(probed: Probed, **evidence: Any) -> ModelArtifacts:
    return dataclasses.replace(
        trained(probed, "reference"),
        declared=DeclaredEvidence(**{"fits": (_plan(),), "space": _space(), **evidence}),
    )


def test_trained_by_the_grader_the_fit_and_space_judged_are_the_declared_ones(
    probed: Probed,
) -> None:
    results = grade(probed, "reference", artifacts=declared(probed))
    for check_id in ("fit_config", "search_space", "callbacks_passthrough"):
        assert results[check_id].status is CheckStatus.PASSED, results[check_id].message
        assert results[check_id].evidence is Evidence.ARTIFACT


def test_a_fit_that_shows_the_probe_256_and_declares_128_fails_on_what_trained(
    probed: Probed,
) -> None:
    # The probe saw the reference's fit (256, EarlyStopping on val_accuracy, patience 20).
    lying = declared(probed, fits=(_plan(), _plan(128, patience=3)))
    result = grade(probed, "reference", artifacts=lying)["fit_config"]
    assert result.status is CheckStatus.FAILED and result.evidence is Evidence.ARTIFACT
    assert "trained 2 different Model.fit settings" in result.message
    assert "batch_size=128; expected batch_size=256" in result.message
    assert "EarlyStopping(monitor='val_accuracy', patience=3)" in result.message
    # A stopper whose arguments were left to Keras' defaults is judged on those defaults.
    bare = _plan()
    bare["callbacks"][2]["args"] = {}
    result = grade(probed, "reference", artifacts=declared(probed, fits=(bare,)))["fit_config"]
    assert "EarlyStopping(monitor='val_loss', patience=0)" in result.message
    # Left out, the batch size is Keras' own 32.
    result = grade(probed, "reference", artifacts=declared(probed, fits=(_plan(None),)))
    assert "batch_size is not given (Keras uses 32)" in result["fit_config"].message


def test_early_stopping_defaults_are_keras_own() -> None:
    import inspect

    import keras

    from grader.checks.fit_config import EARLY_STOPPING_DEFAULTS

    signature = inspect.signature(keras.callbacks.EarlyStopping)
    for name, value in EARLY_STOPPING_DEFAULTS.items():
        assert signature.parameters[name].default == value


def test_tuner_callbacks_dropped_in_the_declaration_fail_whatever_the_probe_saw(
    probed: Probed,
) -> None:
    dropped = _plan()
    dropped["callbacks"] = dropped["callbacks"][2:]
    some = _plan()
    some["callbacks"] = some["callbacks"][1:]
    for plans, found in (((dropped,), "None"), ((_plan(), some), "Only some")):
        result = grade(probed, "reference", artifacts=declared(probed, fits=plans))
        verdict = result["callbacks_passthrough"]
        assert verdict.status is CheckStatus.FAILED and verdict.evidence is Evidence.ARTIFACT
        assert verdict.message.startswith(found)


def test_a_space_declared_wider_than_the_probe_saw_fails_on_what_was_searched(
    probed: Probed,
) -> None:
    wide = declared(probed, space=_space(low=0.01))
    result = grade(probed, "reference", artifacts=wide)["search_space"]
    assert result.status is CheckStatus.FAILED and result.evidence is Evidence.ARTIFACT
    assert "initial_learning_rate" in result.message and "0.01" in result.message
