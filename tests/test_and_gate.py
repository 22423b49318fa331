"""and-gate-schedules graded end to end: the reference and every example of its folder.

The fastest end-to-end grade of the suite: the data is seed 003's 8-row table made in code
(no files), one epoch is one full-batch step, and the smoke budget is 2 trials of 100
epochs. Its one `grade validate` run, which grades the reference and the examples in one
batch, and the assertions that read its results are in tests/test_validate_shipped.py;
here, what the assignment needed of the child and the trainer.
"""

from __future__ import annotations

import pytest

from grader import spec as spec_module

ASSIGNMENT = spec_module.ASSIGNMENTS_DIR / "and-gate-schedules"


def test_the_architecture_is_saved_when_the_schedule_has_no_get_config() -> None:
    """Seed 003's RandomScheduler has no get_config(): a compiled model's to_json() raises,
    and the search used to end in an error. The architecture file now holds the layers
    without the compile config (the parent reads only those)."""
    import json

    import keras

    from grader.child.worker import architecture_json

    class NoConfig(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):  # type: ignore[no-untyped-def]
            return 0.01

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1, "sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(NoConfig()))
    with pytest.raises(NotImplementedError):
        model.to_json()
    saved = json.loads(architecture_json(model))
    assert "compile_config" not in saved
    assert [layer["class_name"] for layer in saved["config"]["layers"]] == ["InputLayer", "Dense"]
    plain = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1, "sigmoid")])
    assert architecture_json(plain) == plain.to_json()  # a serialisable model: unchanged


def test_a_model_compiled_with_a_students_schedule_and_metric_is_rebuilt() -> None:
    """The trainer rebuilds a fallback's architecture only: a serialisable schedule of the
    student's and the lr_spy metric function in the compile config used to make safe mode
    refuse the whole model (accuracy sent to review); the probe names a metric function
    as Keras saves it ('lr'), as the trained model's file does."""
    import keras

    from grader.child.probe import _metric_of
    from grader.trainer.server import rebuild

    class Own(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):  # type: ignore[no-untyped-def]
            return 0.01

        def get_config(self):  # type: ignore[no-untyped-def]
            return {}

    def lr(y_true, y_pred):  # type: ignore[no-untyped-def]
        return 0.0

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1, "sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(Own()),
                  metrics=["accuracy", lr])  # fmt: skip
    rebuilt = rebuild(model.to_json())
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["Dense"]
    saved = model.get_compile_config()["metrics"][1]
    assert _metric_of(saved)["name"] == "lr"
