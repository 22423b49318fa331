"""and-gate-schedules graded end to end: the reference and every example of its folder.

The fastest end-to-end grade of the suite: the data is seed 003's 8-row table made in code
(no files), one epoch is one full-batch step, and the smoke budget is 2 trials of 100
epochs. One `grade validate` run (module-scoped) grades the reference and the examples in
one batch; every assertion reads its results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import report
from grader import spec as spec_module
from grader.batch import BatchOptions
from grader.errors import ExitCode
from grader.results import CheckStatus, Status
from grader.settings import Source
from grader.validate import Validation, read_expected, validate

ASSIGNMENT = spec_module.ASSIGNMENTS_DIR / "and-gate-schedules"


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Validation, Path]:
    out = tmp_path_factory.mktemp("out")
    source = Source(ASSIGNMENT, "smoke", "en", cache_dir=tmp_path_factory.mktemp("cache"))
    validation = validate(source, out=out, batch=BatchOptions(echo=lambda line: None))
    return validation, out


def _result(out: Path, sid: str) -> report.GradeResult:
    return report.read_result(out / sid / report.RESULT_FILE)


@pytest.mark.slow
def test_the_reference_gets_full_marks_and_every_example_its_verdict(validated) -> None:
    validation, _ = validated
    assert validation.reference.status is Status.GRADED
    assert validation.lost == () and validation.not_judged == ()
    expected = read_expected(
        ASSIGNMENT / "examples" / "EXPECTED.toml", spec_module.load(ASSIGNMENT)
    )
    assert sorted(v.id for v in validation.examples) == sorted(expected)
    assert [(v.id, v.problems) for v in validation.examples if v.problems] == []
    assert validation.ok and validation.exit_code == ExitCode.OK


@pytest.mark.slow
def test_the_seeds_scheduler_and_lr_spy_are_accepted(validated) -> None:
    _, out = validated
    checks = {c.id: c for c in _result(out, "reference").checks}
    assert "new random value at every step between lower_bound and upper_bound" in (
        checks["schedule"].message
    )
    assert "RandomScheduler" in checks["schedule"].message
    assert checks["loss_metrics"].status is CheckStatus.PASSED  # lr_spy logged besides accuracy
    assert "metrics=['accuracy', function(name='lr')]" in checks["loss_metrics"].message
    # A serialisable schedule (get_config) earns the same marks, not more.
    right = _result(out, "right")
    assert right.score == _result(out, "reference").score == right.max_score


@pytest.mark.slow
def test_each_wrong_schedule_is_named_by_what_it_does(validated) -> None:
    _, out = validated
    message = {sid: {c.id: c for c in _result(out, sid).checks}["schedule"].message for sid in (
        "wrong_schedule", "fixed_bounds", "drawn_once")}  # fmt: skip
    assert message["wrong_schedule"].startswith(
        "The optimizer's learning rate is ExponentialDecay("
    )
    assert "Built with lower_bound=0.001, upper_bound=0.5" in message["fixed_bounds"]
    assert message["drawn_once"].startswith("The optimizer's learning rate is constant")


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
