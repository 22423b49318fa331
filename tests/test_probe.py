"""The probe on the exam's reference class and on the mistakes students make.

Student code is compiled under "<cell 4>" as the worker does, so locations are checked
too. No training happens: keras.Model.fit is replaced during the dry run.
"""

from __future__ import annotations

import json

import keras
import pytest
from probe_helpers import (
    REFERENCE,
    VARIANTS,
    namespace_for,
    probe_namespace,
    probe_source,
    variant,
)


def line_of(source: str, text: str) -> int:
    """1-based line of the first line containing `text`."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_reference_record_is_complete_json_and_timed() -> None:
    record = probe_source(REFERENCE)
    json.dumps(record, allow_nan=False)  # plain JSON, no NaN
    assert record["probe_version"] == 1
    assert record["seconds"] > 0  # timed, not judged: no timed tests (bench/ measures)
    s = record["structure"]
    assert s["status"] == "ok" and s["is_hypermodel"] and s["defines_fit"]
    assert s["fit_signature"]["params"] == ["hp", "M", "x", "y", "xy_val"]
    assert s["fit_signature"]["var_keyword"] is True


def test_reference_build_architecture_optimizer_and_schedule() -> None:
    b = probe_source(REFERENCE)["build"]
    assert b["status"] == "ok" and b["is_model"] and b["compiled"]
    assert b["architecture"]["input_shape"] == [None, 784]
    dense = [(layer["units"], layer["activation"]) for layer in b["architecture"]["layers"]]
    assert dense == [(800, "relu"), (10, "softmax")]
    assert b["loss"] == "categorical_crossentropy"
    assert [m["name"] for m in b["metrics"]] == ["accuracy"]
    assert b["optimizer"]["class_name"] == "SGD"
    assert b["optimizer"]["momentum"] == 0.0 and b["optimizer"]["nesterov"] is False
    lr = b["learning_rate"]
    assert lr["kind"] == "schedule" and lr["class_name"] == "PolynomialDecay"
    assert lr["config"]["decay_steps"] == 10
    steps, lrs = lr["samples"]["steps"], lr["samples"]["lrs"]
    assert steps[:3] == [0, 1, 2] and steps[-1] == 196 * 100
    # Default hyperparameters are the minima: 0.2983 decaying linearly to 0.28 in 10 steps.
    assert lrs[0] == pytest.approx(0.2983, rel=1e-6)
    assert lrs[5] == pytest.approx(0.2983 - 0.5 * (0.2983 - 0.28), rel=1e-6)
    assert lrs[10] == pytest.approx(0.28, rel=1e-6) and lrs[-1] == pytest.approx(0.28, rel=1e-6)


def test_reference_search_space_and_corners() -> None:
    record = probe_source(REFERENCE)
    space = {h["name"]: h for h in record["search_space"]["hyperparameters"]}
    assert space["initial_learning_rate"]["type"] == "Float"
    assert (space["initial_learning_rate"]["min"], space["initial_learning_rate"]["max"]) == (
        0.2983,
        0.32,
    )
    assert (space["end_learning_rate"]["min"], space["end_learning_rate"]["max"]) == (0.28, 0.2983)
    builds = record["corners"]["builds"]
    assert len(builds) == 4 and all(b["ok"] for b in builds)
    top = next(
        b
        for b in builds
        if b["values"] == {"initial_learning_rate": 0.32, "end_learning_rate": 0.28}
    )
    assert top["lr_first"] == pytest.approx(0.32, rel=1e-6)
    assert top["lr_last"] == pytest.approx(0.28, rel=1e-6)


def test_reference_dry_fit_records_the_call() -> None:
    fit = probe_source(REFERENCE)["fit"]
    assert fit["status"] == "ok" and fit["markers"] == "all"
    assert fit["returned_type"] == "History"
    (call,) = fit["calls"]
    assert call["batch_size"] == 256 and call["epochs"] == 100
    assert call["validation"] == "same" and call["x"] == "same" and call["same_model"]
    early = [c for c in call["callbacks"] if c["class_name"] == "EarlyStopping"]
    assert early[0]["config"]["monitor"] == "val_accuracy"
    assert early[0]["config"]["patience"] == 20
    assert sum(c["marker"] for c in call["callbacks"]) == 2


def test_model_fit_is_restored_even_when_the_students_fit_raises() -> None:
    original = keras.Model.fit
    record = probe_source(VARIANTS["fit_raises"])
    assert keras.Model.fit is original
    assert "fit" not in keras.Model.__dict__ or keras.Model.__dict__["fit"] is original
    assert record["fit"]["status"] == "error"
    assert record["fit"]["error"]["type"] == "ZeroDivisionError"
    source = VARIANTS["fit_raises"]
    assert record["fit"]["error"]["location"] == {"cell": 4, "line": line_of(source, "10 / 0")}


def test_build_error_is_recorded_with_its_cell_and_line() -> None:
    source = VARIANTS["build_raises"]
    record = probe_source(source)
    b = record["build"]
    assert b["status"] == "error" and b["error"]["type"] == "NameError"
    assert "undefined_name" in b["error"]["message"]
    assert b["error"]["location"] == {"cell": 4, "line": line_of(source, "undefined_name")}
    assert record["fit"]["status"] == "skipped" and record["corners"]["status"] == "skipped"
    # The hyperparameters declared before the error are still known.
    assert len(record["search_space"]["hyperparameters"]) == 2


def test_keras2_lr_keeps_the_keras_message() -> None:
    source = VARIANTS["keras2_lr"]
    b = probe_source(source)["build"]
    assert b["status"] == "error" and b["error"]["type"] == "ValueError"
    assert "'lr'" in b["error"]["message"]
    assert b["error"]["location"]["line"] == line_of(source, "SGD(lr=")


def test_keras2_decay_is_a_recorded_warning_with_a_constant_rate() -> None:
    b = probe_source(VARIANTS["keras2_decay"])["build"]
    assert b["status"] == "ok"
    assert any("`decay`" in w for w in b["warnings"])
    assert b["learning_rate"]["kind"] == "constant"
    assert b["learning_rate"]["value"] == pytest.approx(0.1)


def test_misnamed_class_lists_the_near_miss() -> None:
    record = probe_source(VARIANTS["misnamed"])
    s = record["structure"]
    assert s["status"] == "error" and not s["exists"]
    assert s["near_misses"] == ["MyHypermodel"]
    assert record["build"]["status"] == "skipped"


def test_wrong_base_class_is_recorded_but_still_probed() -> None:
    record = probe_source(VARIANTS["wrong_base"])
    assert record["structure"]["is_hypermodel"] is False
    assert record["build"]["status"] == "ok"


def test_hand_written_schedule_without_config_is_sampled() -> None:
    lr = probe_source(VARIANTS["hand_written"])["build"]["learning_rate"]
    assert lr["class_name"] == "LinearDecay" and lr["kind"] == "schedule"
    assert lr["config_error"] and "NotImplementedError" in lr["config_error"]
    assert lr["samples"]["lrs"][0] == pytest.approx(0.2983, rel=1e-6)
    assert lr["samples"]["lrs"][10] == pytest.approx(0.28, rel=1e-6)


def test_scalar_only_schedule_is_sampled_one_step_at_a_time() -> None:
    scalar_only = variant(
        ("keras.optimizers.schedules.PolynomialDecay(", "Halving("),
        before=(
            "class Halving(keras.optimizers.schedules.LearningRateSchedule):\n"
            "    def __init__(self, a, b, c):\n"
            "        self.a = a\n"
            "    def __call__(self, step):\n"
            "        return self.a if int(step) < 100 else self.a / 2\n"
        ),
    )
    lr = probe_source(scalar_only)["build"]["learning_rate"]
    steps, lrs = lr["samples"]["steps"], lr["samples"]["lrs"]
    assert lrs[steps.index(99)] == pytest.approx(0.2983, rel=1e-6)
    assert lrs[steps.index(100)] == pytest.approx(0.2983 / 2, rel=1e-6)


def test_learning_rate_scheduler_is_replayed_per_epoch() -> None:
    call = probe_source(VARIANTS["lr_scheduler"])["fit"]["calls"][0]
    (scheduler,) = [c for c in call["callbacks"] if c["class_name"] == "LearningRateScheduler"]
    lrs = scheduler["samples"]["lrs"]
    assert len(lrs) == 100
    assert lrs[9] == pytest.approx(0.3) and lrs[10] == pytest.approx(0.15)
    assert lrs[20] == pytest.approx(0.075)


def test_reduce_lr_on_plateau_config() -> None:
    call = probe_source(VARIANTS["plateau"])["fit"]["calls"][0]
    (plateau,) = [c for c in call["callbacks"] if c["class_name"] == "ReduceLROnPlateau"]
    assert plateau["config"]["factor"] == pytest.approx(0.32)
    assert plateau["config"]["patience"] == 5


def test_dropped_callbacks_and_wrong_settings() -> None:
    assert probe_source(VARIANTS["dropped_callbacks"])["fit"]["markers"] == "none"
    call = probe_source(VARIANTS["wrong_fit"])["fit"]["calls"][0]
    assert call["batch_size"] == 128
    early = next(c for c in call["callbacks"] if c["class_name"] == "EarlyStopping")
    assert early["config"]["monitor"] == "val_loss"
    split = probe_source(VARIANTS["validation_split"])["fit"]["calls"][0]
    assert split["validation"] == "none" and split["validation_split"] == 0.2


def test_extra_hyperparameter_gives_more_corners() -> None:
    record = probe_source(VARIANTS["extra_hp"])
    names = [h["name"] for h in record["search_space"]["hyperparameters"]]
    assert names == ["initial_learning_rate", "end_learning_rate", "decay_steps"]
    assert len(record["corners"]["builds"]) == 8


def test_a_hyperparameter_declared_in_fit_is_in_the_search_space() -> None:
    source = variant(
        (
            "return M.fit(x, y, batch_size=256,",
            "return M.fit(x, y, batch_size=hp.Choice('batch_size', [128, 256]),",
        )
    )
    record = probe_source(source)
    space = {h["name"]: h for h in record["search_space"]["hyperparameters"]}
    assert list(space) == ["initial_learning_rate", "end_learning_rate", "batch_size"]
    assert space["batch_size"]["type"] == "Choice" and space["batch_size"]["values"] == [128, 256]
    assert record["fit"]["status"] == "ok"


def test_fit_returning_a_value_from_the_history_still_works() -> None:
    source = variant(
        (
            "return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)",
            "h = M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)\n"
            "        return h.history['val_accuracy'][-1]",
        )
    )
    fit = probe_source(source)["fit"]
    assert fit["status"] == "ok" and fit["returned_type"] == "float"


def test_a_module_level_object_under_the_class_name_is_not_a_class() -> None:
    record = probe_namespace(namespace_for("MyHyperModel = 3\n"))
    assert record["structure"]["exists"] and not record["structure"]["is_class"]
    assert record["structure"]["found_type"] == "int"


def test_an_init_that_raises_is_recorded() -> None:
    source = variant(
        (
            "    def build(self, hp):",
            "    def __init__(self):\n        raise RuntimeError('no')\n    def build(self, hp):",
        )
    )
    s = probe_source(source)["structure"]
    assert s["status"] == "error" and s["error"]["type"] == "RuntimeError"
    assert s["error"]["location"]["cell"] == 4
