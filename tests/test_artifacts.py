"""grader.artifacts: the best model's files read as data, from real Keras files and hostile ones."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
import pytest

from grader import artifacts
from grader.artifacts import MODEL_FILE, MODEL_JSON, from_data, read_artifacts, thaw
from grader.boundary import BestModel


def _best(model_file: str | None) -> BestModel:
    return BestModel(
        trial_id="0",
        hyperparameters={},
        objective_value=0.5,
        model_json=MODEL_JSON,
        weights="best.weights.h5",
        model_file=model_file,
        optimizer_class="SGD",
    )


BEST = _best(MODEL_FILE)


def _model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(800, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder as the child leaves it: best_model.json and best.keras."""
    folder = tmp_path_factory.mktemp("scratch")
    schedule = keras.optimizers.schedules.PolynomialDecay(0.3, 10, 0.29, power=1.0)
    model = _model(keras.optimizers.SGD(learning_rate=schedule))
    (folder / MODEL_JSON).write_text(model.to_json(), encoding="utf-8")
    model.save(str(folder / MODEL_FILE))
    return folder


def test_reads_what_keras_wrote(keras_files: Path) -> None:
    found = read_artifacts(keras_files, BEST)
    assert found.problems == ()
    arch = thaw(found.architecture)
    assert arch["input_shape"] == [None, 784]
    dense = [layer for layer in arch["layers"] if layer["class_name"] == "Dense"]
    assert [(d["units"], d["activation"]) for d in dense] == [(800, "relu"), (10, "softmax")]
    assert dense[0]["kernel_initializer"] == "GlorotUniform"
    assert found.compiled and found.loss == "categorical_crossentropy"
    assert [m["name"] for m in found.metrics] == ["accuracy"]
    assert found.optimizer["class_name"] == "SGD"
    assert found.optimizer["momentum"] == 0.0 and found.optimizer["nesterov"] is False
    lr = thaw(found.learning_rate)
    assert lr["kind"] == "schedule" and lr["class_name"] == "PolynomialDecay"
    assert lr["config"]["decay_steps"] == 10 and lr["config"]["end_learning_rate"] == 0.29
    # Frozen: a check cannot change what the next check sees.
    with pytest.raises(TypeError):
        found.optimizer["class_name"] = "Adam"  # type: ignore[index]


def test_a_constant_learning_rate(tmp_path: Path) -> None:
    model = _model(keras.optimizers.Adam(0.001))
    (tmp_path / MODEL_JSON).write_text(model.to_json(), encoding="utf-8")
    model.save(str(tmp_path / MODEL_FILE))
    found = read_artifacts(tmp_path, BEST)
    assert found.optimizer["class_name"] == "Adam"
    assert found.learning_rate["kind"] == "constant"
    assert found.learning_rate["value"] == pytest.approx(0.001)


def test_no_best_model_means_no_artifacts(tmp_path: Path) -> None:
    assert read_artifacts(tmp_path, None) is artifacts.NO_ARTIFACTS
    found = read_artifacts(tmp_path, _best(None))
    assert found.architecture is None and not found.compiled
    assert any("missing" in p for p in found.problems)


def test_links_and_pipes_are_refused_not_followed(tmp_path: Path, keras_files: Path) -> None:
    (tmp_path / MODEL_JSON).symlink_to(keras_files / MODEL_JSON)
    os.mkfifo(tmp_path / MODEL_FILE)  # a reader that opened it blocking would hang here
    found = read_artifacts(tmp_path, BEST)
    assert found.architecture is None and not found.compiled
    assert len(found.problems) == 2


def _zip(path: Path, config: object, raw: bytes | None = None) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", raw if raw is not None else json.dumps(config))


def test_a_huge_config_is_refused(tmp_path: Path) -> None:
    # Compresses to a few kB: the cap is on what the zip would unpack.
    _zip(tmp_path / MODEL_FILE, None, raw=b" " * (artifacts.MAX_CONFIG_JSON + 10))
    found = read_artifacts(tmp_path, BEST)
    assert not found.compiled
    assert any("config.json" in p for p in found.problems)


def test_not_a_zip_and_not_json(tmp_path: Path) -> None:
    (tmp_path / MODEL_FILE).write_bytes(b"PK\x03\x04 not really")
    (tmp_path / MODEL_JSON).write_text("[" * 100_000, encoding="utf-8")  # deep nesting
    found = read_artifacts(tmp_path, BEST)
    assert found.architecture is None and not found.compiled
    assert any("not valid JSON" in p for p in found.problems)
    assert any("not a readable Keras file" in p for p in found.problems)


@pytest.mark.parametrize(
    "compile_config",
    [
        "SGD",
        {"optimizer": ["SGD"], "loss": 3, "metrics": "accuracy"},
        {"optimizer": {"class_name": "SGD", "config": {"learning_rate": [0.1]}}},
        {"optimizer": {"class_name": "SGD", "config": "x"}, "loss": {"class_name": 5}},
    ],
)
def test_wrong_types_are_dropped_and_named(compile_config: object) -> None:
    found = from_data(None, {"compile_config": compile_config})
    assert found.problems  # said, never raised
    assert found.learning_rate is None


def test_wrong_architecture_types() -> None:
    for text in ('{"config": {"layers": 3}}', '{"config": {"layers": [1, 2]}}', "null"):
        found = from_data(text, None)
        assert found.architecture is None and found.problems
    layers = [{"class_name": "Dense", "config": {"units": "800", "activation": {"x": 1}}}]
    found = from_data(json.dumps({"config": {"layers": layers}}), None)
    (layer,) = found.architecture["layers"]
    assert "units" not in layer and layer["activation"] == "?"


def test_long_names_are_cut_and_big_configs_bounded() -> None:
    name = "S" * 10_000
    config = {
        "compile_config": {
            "optimizer": {
                "class_name": name,
                "config": {f"k{i}": list(range(5000)) for i in range(500)},
            }
        }
    }
    found = from_data(None, config)
    assert len(found.optimizer["class_name"]) == artifacts.MAX_NAME
    assert len(found.optimizer["config"]) <= 200
    assert all(len(v) <= 1000 for v in found.optimizer["config"].values())


def test_a_nan_in_the_schedule_is_kept_for_the_schedule_code_to_refuse() -> None:
    raw = (
        '{"compile_config": {"optimizer": {"class_name": "SGD", "config": {"learning_rate": '
        '{"class_name": "PolynomialDecay", "config": {"initial_learning_rate": NaN, '
        '"decay_steps": 10, "end_learning_rate": 0.29}}}}}}'
    )
    found = from_data(None, json.loads(raw))
    assert found.learning_rate["class_name"] == "PolynomialDecay"
    # A NaN constant rate is not a number the grader can use: dropped and named.
    raw_constant = (
        '{"compile_config": {"optimizer": {"class_name": "SGD", "config": {"learning_rate": NaN}}}}'
    )
    found = from_data(None, json.loads(raw_constant))
    assert found.learning_rate is None and found.problems
