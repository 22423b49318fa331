"""The child's declarations (grader/child/declare.py): what build(hp) and fit would train.

Student code runs in-process, compiled under "<cell 4>" as the worker compiles it
(probe_helpers), and nothing trains: Model.fit is replaced by the recorder. The last
tests run the worker's serve loop, in-process and as the real `python -m
grader.child.worker` subprocess (no sandbox).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np
import pytest
from probe_helpers import FIT_DATA, PRELUDE, REFERENCE, VARIANTS, namespace_for, variant

from grader.child import declare
from grader.child.dataset import Split
from grader.child.declaration import (
    FLOAT64,
    CallbackKind,
    CallbackPlan,
    Declaration,
    DeclarationError,
    DeclareRequest,
    Outcome,
    RatePer,
)

declare.record_constructor_arguments()  # as the worker does, before any student code runs

TUNER, KERAS, RATES = CallbackKind.TUNER, CallbackKind.KERAS, CallbackKind.RATES
ORIGINAL_FIT = keras.Model.fit
FIT_LINE = "return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)"


def declared(
    source: str,
    values: dict[str, Any] | None = None,
    *,
    space: list[Any] | None = None,
    float64: list[str] | None = None,
    max_epochs: int = 4,
    validation: tuple[str, float | None] = ("xy_val", None),
) -> Declaration:
    """The declaration of `source`'s MyHyperModel, checked as the parent checks it."""
    namespace = namespace_for(source)
    asked: dict[str, Any] = {"space": space or [], "values": values or {}}
    if float64:  # the names keras-tuner holds as numpy.float64
        asked[FLOAT64] = float64
    request = DeclareRequest(3, asked)
    data = declare.declare(
        namespace["MyHyperModel"](),
        request,
        fit_data=FIT_DATA,
        steps_per_epoch=7,
        max_epochs=max_epochs,
        validation=validation,
    )
    declaration = Declaration.from_json(json.dumps(data, allow_nan=False))
    assert declaration.n == 3 and declaration.to_data() == data
    return declaration


def reasons_of(source: str, **kwargs: Any) -> tuple[str, ...]:
    declaration = declared(source, **kwargs)
    assert declaration.outcome is Outcome.UNDECLARABLE, declaration
    assert declaration.model is None and declaration.fit is None
    return declaration.reasons


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def fit_with(arguments: str) -> str:
    """The reference whose Model.fit call also passes `arguments`."""
    return variant((FIT_LINE, FIT_LINE.replace("**kwargs)", f"{arguments}, **kwargs)")))


def constant_rate(source: str = REFERENCE) -> str:
    """`source` with SGD at a constant 0.3 (a callback can set only such a rate)."""
    return variant(
        ("keras.optimizers.SGD(learning_rate=lr_schedule)", "keras.optimizers.SGD(0.3)"),
        source=source,
    )


def with_callback(expression: str, *, before: str = "", source: str = REFERENCE) -> str:
    return variant(
        (
            "kwargs['callbacks'].append(early_cb)",
            "kwargs['callbacks'].append(early_cb)\n"
            f"        kwargs['callbacks'].append({expression})",
        ),
        source=source,
        before=before,
    )


# --- what the exam's reference declares ---------------------------------------------------


def test_the_exam_reference_declares_what_the_exam_trains() -> None:
    declaration = declared(REFERENCE, {"initial_learning_rate": 0.31})
    assert declaration.outcome is Outcome.OK
    space = declaration.hyperparameters["space"]
    assert [e["config"]["name"] for e in space] == ["initial_learning_rate", "end_learning_rate"]
    assert declaration.build_count == 2
    # The value the request set is the one built; the other one is its default.
    assert dict(declaration.values) == {"initial_learning_rate": 0.31, "end_learning_rate": 0.28}
    model = declaration.model
    assert model is not None and model["class_name"] == "Sequential"
    assert "compile_config" not in model
    dense = [
        (layer["config"]["units"], layer["config"]["activation"])
        for layer in model["config"]["layers"]
        if layer["class_name"] == "Dense"
    ]
    assert dense == [(800, "relu"), (10, "softmax")]
    optimizer = declaration.compile["optimizer"]  # type: ignore[index]
    assert optimizer["class_name"] == "SGD"
    schedule = optimizer["config"]["learning_rate"]
    assert schedule["class_name"] == "PolynomialDecay"
    assert schedule["config"]["decay_steps"] == 10
    assert schedule["config"]["initial_learning_rate"] == 0.31
    assert declaration.learning_rate is None  # a Keras schedule: the config says it all
    fit = declaration.fit
    assert fit is not None and (fit.batch_size, fit.epochs, fit.shuffle) == (256, 100, True)
    early = {"monitor": "val_accuracy", "patience": 20, "min_delta": 0.0}
    assert fit.callbacks == (
        CallbackPlan(TUNER),
        CallbackPlan(TUNER),
        CallbackPlan(KERAS, "EarlyStopping", early),
    )


def test_bayesian_values_are_built_as_numpy_float64_and_the_declaration_says_where() -> None:
    """keras-tuner's Bayesian oracle proposes each Float as a numpy.float64, and Keras'
    PolynomialDecay then computes in float64: the request names those values, the
    student's build gets them as the notebook's does, and the declaration says where its
    configs hold one, so the trainer can rebuild the same schedule."""
    values = {"initial_learning_rate": 0.3048029736840056, "end_learning_rate": 0.2801505730}
    space = list(declared(REFERENCE).hyperparameters["space"])
    plain = declared(REFERENCE, values, space=space)
    bayesian = declared(REFERENCE, values, space=space, float64=list(values))
    assert not plain.float64
    rate = ("optimizer", "config", "learning_rate", "config")
    assert bayesian.float64.compile == (
        (*rate, "end_learning_rate"),
        (*rate, "initial_learning_rate"),
    )
    assert bayesian.float64.model == ()
    # The same numbers in JSON, another training: another key.
    assert bayesian.compile == plain.compile and bayesian.key() != plain.key()
    # A student who makes them Python floats builds what the random trials build.
    cast = variant(
        ("lr_schedule = keras.optimizers.schedules.PolynomialDecay(\n"
         "            initial_learning_rate,",
         "lr_schedule = keras.optimizers.schedules.PolynomialDecay(\n"
         "            float(initial_learning_rate),"),
        ("decay_steps, end_learning_rate)", "decay_steps, float(end_learning_rate))"),
    )  # fmt: skip
    casting = declared(cast, values, space=space, float64=list(values))
    assert not casting.float64 and casting.key() == plain.key()


@pytest.mark.parametrize(
    "named",
    [["units"], ["rate", "rate"], ["missing"]],
    ids=["an int", "a name twice", "no such value"],
)
def test_a_request_names_only_values_with_a_fraction_as_float64(named: list[str]) -> None:
    asked = {"space": [], "values": {"units": 8, "rate": 0.5}, FLOAT64: named}
    line = json.dumps({"op": "declare", "n": 1, "hyperparameters": asked})
    with pytest.raises(DeclarationError, match="names of values with a fraction"):
        DeclareRequest.from_json(line)


def test_a_hyperparameter_declared_in_fit_comes_after_build_count() -> None:
    source = variant(
        ("batch_size=256,", "batch_size=hp.Choice('batch_size', [128, 256]),"),
        source=fit_with("shuffle=False"),
    )
    first = declared(source)
    names = [e["config"]["name"] for e in first.hyperparameters["space"]]
    assert names == ["initial_learning_rate", "end_learning_rate", "batch_size"]
    assert first.build_count == 2
    assert first.fit is not None and (first.fit.batch_size, first.fit.shuffle) == (128, False)
    # A later trial's request holds the whole space, as keras-tuner's oracle learnt it:
    # batch_size is still fit's.
    second = declared(
        source,
        {**first.values, "batch_size": 256},
        space=list(first.hyperparameters["space"]),
    )
    assert second.build_count == 2 and second.fit is not None and second.fit.batch_size == 256


def test_keras_defaults_fill_what_fit_leaves_out() -> None:
    source = variant((FIT_LINE, "return M.fit(x, y, validation_data=xy_val, **kwargs)"))
    fit = declared(source).fit
    assert fit is not None and (fit.batch_size, fit.epochs, fit.shuffle) == (None, 1, True)


def test_validation_is_judged_as_the_search_passes_it() -> None:
    passed_on = variant(
        ("xy_val, **kwargs):", "xy_val=None, **kwargs):"),
        ("validation_data=xy_val, **kwargs)", "**kwargs)"),
    )
    assert declared(passed_on, validation=("validation_split", 0.2)).outcome is Outcome.OK
    assert declared(passed_on, validation=("validation_data", None)).outcome is Outcome.OK
    assert reasons_of(passed_on) == ("fit does not pass the tuner's validation data unchanged",)
    reasons = reasons_of(VARIANTS["validation_split"])
    assert "fit does not pass the tuner's validation data unchanged" in reasons
    assert "fit passes validation_split=0.2" in reasons


# --- learning rates written as code -------------------------------------------------------


class RateSpy(keras.callbacks.Callback):
    """The rate each batch of a real training ran at, read before any later callback's
    on_train_batch_end can change it."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        # A schedule answers for the counter, which the step just moved on: ask it again.
        schedule = self.model.optimizer._learning_rate
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            rate = keras.ops.convert_to_numpy(schedule(self.model.optimizer.iterations - 1))
        self.rates.append(float(rate))


def trained_rates(model: Any, callbacks: list[Any], *, batch_size: int, epochs: int) -> list[float]:
    spy = RateSpy()
    x, y, _ = FIT_DATA
    model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[spy, *callbacks], verbose=0)
    return spy.rates


HALVING = """\
class Halving(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, a, b, c):
        self.a = a
    def __call__(self, step):
        return self.a if int(step) < 100 else self.a / 2
"""


def test_a_student_schedule_is_tabulated_step_by_step() -> None:
    source = VARIANTS["hand_written"]
    # 64 rows at batch 10: Keras runs ceil(64 / 10) = 7 batches per epoch; 3 epochs.
    declaration = declared(
        variant(("batch_size=256", "batch_size=10"), source=source), max_epochs=3
    )
    assert declaration.outcome is Outcome.OK
    table = declaration.learning_rate
    assert table is not None and table.per is RatePer.STEP and len(table.values) == 21
    assert table.name == "LinearDecay"
    schedule = namespace_for(source)["LinearDecay"](0.2983, 10, 0.28)
    expected = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(21)]
    assert table.values == pytest.approx(expected, rel=1e-6)
    assert table.values[0] == pytest.approx(0.2983) and table.values[20] == pytest.approx(0.28)
    model = namespace_for(source)["MyHyperModel"]().build(keras_tuner.HyperParameters())
    assert trained_rates(model, [], batch_size=10, epochs=3) == pytest.approx(table.values)
    # The trainer puts its table schedule in; the config keeps a number in its place.
    learning_rate = declaration.compile["optimizer"]["config"]["learning_rate"]  # type: ignore[index]
    assert learning_rate == table.values[0]


def test_a_schedule_keras_cannot_run_in_its_training_step_is_undeclarable() -> None:
    source = variant(("keras.optimizers.schedules.PolynomialDecay(", "Halving("), before=HALVING)
    (reason,) = reasons_of(source)
    assert reason.startswith("schedule Halving fails in Keras' compiled training step")
    # Keras' own training fails on it the same way: int() of the traced step counter.
    model = namespace_for(source)["MyHyperModel"]().build(keras_tuner.HyperParameters())
    x, y, _ = FIT_DATA
    with pytest.raises(Exception) as raised:
        model.fit(x[:8], y[:8], epochs=1, verbose=0)
    assert f"({type(raised.value).__name__}: " in reason


def test_a_learning_rate_scheduler_is_tabulated_per_epoch() -> None:
    declaration = declared(VARIANTS["lr_scheduler"], max_epochs=25)
    assert declaration.outcome is Outcome.OK
    fit = declaration.fit
    assert fit is not None and [p.kind for p in fit.callbacks] == [TUNER, TUNER, KERAS, RATES]
    plan = fit.callbacks[3]
    assert plan.class_name == "LearningRateScheduler" and plan.rates is not None
    assert (plan.rates.per, plan.rates.name) == (RatePer.EPOCH, "step_decay")
    assert plan.rates.values == pytest.approx([0.3] * 10 + [0.15] * 10 + [0.075] * 5)


def test_a_scheduler_of_the_current_rate_is_followed_epoch_after_epoch() -> None:
    source = with_callback(
        "keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)",
        source=constant_rate(),
    )
    fit = declared(source, max_epochs=5).fit
    assert fit is not None and fit.callbacks[3].rates is not None
    rate, expected = np.float32(0.3), []
    for _ in range(5):  # Keras reads the optimizer's float32 rate back each epoch
        rate = np.float32(float(rate) * 0.5)
        expected.append(float(rate))
    assert list(fit.callbacks[3].rates.values) == expected
    model = namespace_for(source)["MyHyperModel"]().build(keras_tuner.HyperParameters())
    halving = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    assert trained_rates(model, [halving], batch_size=64, epochs=5) == expected


CYCLIC = '''\
class CyclicLR(keras.callbacks.Callback):
    """assignments/fashion-mnist-cyclic-lr/reference.ipynb's, as the student wrote it."""
    def __init__(self, base_lr=0.001, max_lr=0.006, step_size=2000., mode='triangular'):
        super().__init__()
        self.base_lr, self.max_lr, self.step_size, self.mode = base_lr, max_lr, step_size, mode
        self.clr_iterations = 0.
    def scale(self, cycle):
        return 1. if self.mode == 'triangular' else 1 / (2. ** (cycle - 1))
    def clr(self):
        cycle = np.floor(1 + self.clr_iterations / (2 * self.step_size))
        x = np.abs(self.clr_iterations / self.step_size - 2 * cycle + 1)
        amplitude = (self.max_lr - self.base_lr) * np.maximum(0, 1 - x)
        return self.base_lr + amplitude * self.scale(cycle)
    def on_train_begin(self, logs=None):
        first = self.base_lr if self.clr_iterations == 0 else self.clr()
        self.model.optimizer.learning_rate = first
    def on_train_batch_end(self, batch, logs=None):
        self.clr_iterations += 1
        self.model.optimizer.learning_rate = self.clr()
'''


def cyclic(step: int) -> float:
    """triangular2 with base 0.01, max 0.1, step_size 4, written out again."""
    if step == 0:
        return float(np.float32(0.01))
    cycle = np.floor(1 + step / 8)
    x = abs(step / 4 - 2 * cycle + 1)
    return float(np.float32(0.01 + 0.09 * max(0.0, 1 - x) / 2 ** (cycle - 1)))


def test_a_cyclic_lr_callback_is_tabulated_batch_by_batch() -> None:
    source = with_callback(
        "CyclicLR(base_lr=0.01, max_lr=0.1, step_size=4, mode='triangular2')",
        source=constant_rate(variant(("batch_size=256", "batch_size=16"))),
        before="import numpy as np\n" + CYCLIC,
    )
    declaration = declared(source, max_epochs=6)  # 64 rows / 16 = 4 batches per epoch
    assert declaration.outcome is Outcome.OK, declaration.reasons
    plan = declaration.fit.callbacks[3]  # type: ignore[union-attr]
    assert (plan.kind, plan.class_name) == (RATES, "CyclicLR") and plan.rates is not None
    assert (plan.rates.per, plan.rates.name) == (RatePer.STEP, "CyclicLR")
    assert list(plan.rates.values) == [cyclic(step) for step in range(24)]
    namespace = namespace_for(source)
    model = namespace["MyHyperModel"]().build(keras_tuner.HyperParameters())
    clr = namespace["CyclicLR"](base_lr=0.01, max_lr=0.1, step_size=4, mode="triangular2")
    assert trained_rates(model, [clr], batch_size=16, epochs=6) == list(plan.rates.values)


def test_a_stateful_callback_shared_by_every_trial_is_undeclarable_from_the_second() -> None:
    source = with_callback(
        "self.clr",
        source=variant(
            (
                "class MyHyperModel(keras_tuner.HyperModel):\n",
                "class MyHyperModel(keras_tuner.HyperModel):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.clr = CyclicLR(base_lr=0.01, max_lr=0.1, step_size=4)\n",
            ),
            source=constant_rate(variant(("batch_size=256", "batch_size=16"))),
        ),
        before="import numpy as np\n" + CYCLIC,
    )
    instance = namespace_for(source)["MyHyperModel"]()
    outcomes = []
    for n in (1, 2):
        data = declare.declare(
            instance,
            DeclareRequest(n, {"space": [], "values": {}}),
            fit_data=FIT_DATA,
            steps_per_epoch=7,
            max_epochs=3,  # 12 batches: a cycle and a half, so the next trial starts elsewhere
            validation=("xy_val", None),
        )
        outcomes.append(Declaration.from_data(data))
    assert outcomes[0].outcome is Outcome.OK  # the first trial starts as the object was made
    assert outcomes[1].reasons == (
        "callback CyclicLR is one object for every trial and carries its state",
    )


def test_a_callback_that_sets_nothing_is_left_out() -> None:
    printer = (
        "class Printer(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n"
        "        print(epoch)\n"
    )
    fit = declared(with_callback("Printer()", before=printer)).fit
    assert fit is not None and [p.kind for p in fit.callbacks] == [TUNER, TUNER, KERAS]


# --- what is undeclarable, and why --------------------------------------------------------

MY_LAYER = "class MyLayer(keras.layers.Layer):\n    def call(self, x):\n        return x\n"
OUTPUT = "M.add(keras.layers.Dense(10, activation='softmax'))"
STOPPER = """\
class Stopper(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = epoch >= 2
"""
ON_PLATEAU = """\
class OnPlateau(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if logs['val_loss'] > 1.0:
            self.model.optimizer.learning_rate = 0.01
"""

UNDECLARABLE: dict[str, tuple[str, str]] = {
    "custom layer": (
        variant((OUTPUT, f"M.add(MyLayer())\n        {OUTPUT}"), before=MY_LAYER),
        "custom layer MyLayer",
    ),
    "lambda layer": (
        variant((OUTPUT, f"M.add(keras.layers.Lambda(lambda t: t))\n        {OUTPUT}")),
        "Lambda layer (code in the model)",
    ),
    "optimizer class": (
        variant(
            ("keras.optimizers.SGD(learning_rate", "MyOpt(learning_rate"),
            before="class MyOpt(keras.optimizers.SGD):\n    pass\n",
        ),
        "optimizer class MyOpt is not Keras'",
    ),
    "loss function": (
        variant(
            ('loss="categorical_crossentropy"', "loss=categorical_crossentropy"),
            before="def categorical_crossentropy(t, p):\n    return keras.ops.mean(t - p)\n",
        ),
        "loss function categorical_crossentropy is not Keras'",
    ),
    "metric function": (
        variant(
            ('metrics=["accuracy"]', 'metrics=["accuracy", spy]'),
            before="def spy(t, p):\n    return keras.ops.mean(p)\n",
        ),
        "metric function spy is not Keras'",
    ),
    "activation function": (
        variant(
            ("activation='relu'", "activation=my_relu"),
            before="def my_relu(t):\n    return keras.ops.relu(t)\n",
        ),
        "function my_relu (activation of layer dense) is not Keras'",
    ),
    "conditional hyperparameter": (
        variant(
            (
                "        decay_steps = 10\n",
                "        hp.Choice('kind', ['a', 'b'])\n"
                "        decay_steps = hp.Int('decay_steps', 5, 20, parent_name='kind',"
                " parent_values=['a'])\n",
            )
        ),
        "hyperparameter decay_steps is conditional",
    ),
    "two fit calls": (
        variant((FIT_LINE, "M.fit(x, y, epochs=1, **kwargs)\n        " + FIT_LINE)),
        "fit calls Model.fit 2 times",
    ),
    "training on xy_val": (
        variant(
            (
                "M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val,",
                "M.fit(xy_val[0], xy_val[1], batch_size=256, epochs=100, validation_data=(x, y),",
            )
        ),
        "fit does not pass the tuner's x to Model.fit unchanged",
    ),
    "validation subset": (
        variant(("validation_data=xy_val", "validation_data=(xy_val[0][:8], xy_val[1][:8])")),
        "fit does not pass the tuner's validation data unchanged",
    ),
    "sample_weight": (fit_with("sample_weight=x[:, 0]"), "fit passes sample_weight"),
    "class_weight": (fit_with("class_weight={0: 2.0}"), "fit passes class_weight"),
    "initial_epoch": (fit_with("initial_epoch=1"), "fit passes initial_epoch=1"),
    "steps_per_epoch": (fit_with("steps_per_epoch=5"), "fit passes steps_per_epoch"),
    "validation_steps": (fit_with("validation_steps=2"), "fit passes validation_steps"),
    "validation_batch_size": (
        fit_with("validation_batch_size=64"),
        "fit passes validation_batch_size",
    ),
    "validation_freq": (fit_with("validation_freq=2"), "fit passes validation_freq=2"),
    "keras callback not rebuilt": (
        with_callback("keras.callbacks.LambdaCallback()"),
        "callback LambdaCallback is not one the grader rebuilds",
    ),
    "callback that stops training": (
        with_callback("Stopper()", before=STOPPER),
        "callback Stopper stops training",
    ),
    "rates that follow the logs": (
        with_callback("OnPlateau()", before=ON_PLATEAU, source=constant_rate()),
        "callback OnPlateau sets rates that depend on the logs or on chance",
    ),
    "two rate setters": (
        with_callback(
            "keras.callbacks.ReduceLROnPlateau()",
            source=with_callback(
                "keras.callbacks.LearningRateScheduler(lambda epoch: 0.1)", source=constant_rate()
            ),
        ),
        "2 callbacks set the learning rate (ReduceLROnPlateau, LearningRateScheduler)",
    ),
    "callback changed after it was made": (
        variant(
            (
                "kwargs['callbacks'].append(early_cb)",
                "early_cb.patience = 3\n        kwargs['callbacks'].append(early_cb)",
            )
        ),
        "EarlyStopping's attributes were changed after it was made (patience)",
    ),
    "argument the grader does not rebuild": (
        with_callback("keras.callbacks.TerminateOnNaN(raise_error=True)"),
        "TerminateOnNaN argument raise_error is not one the grader rebuilds",
    ),
    "returns a number": (
        variant(
            (
                FIT_LINE,
                FIT_LINE.replace("return M.fit(", "return max(M.fit(")
                + ".history['val_accuracy'])",
            )
        ),
        "fit returns a float, not the History of build's model",
    ),
    "another model": (
        variant((FIT_LINE, FIT_LINE.replace("M.fit(", "self.build(hp).fit("))),
        "fit calls Model.fit only on another model than build's",
    ),
    "train_on_batch": (
        variant((FIT_LINE, "M.train_on_batch(x[:2], y[:2])\n        " + FIT_LINE)),
        "fit calls Model.train_on_batch",
    ),
    "raises after Model.fit": (
        variant(
            (
                FIT_LINE,
                FIT_LINE.replace("return ", "h = ") + "\n        raise RuntimeError('after')",
            )
        ),
        "fit raised after Model.fit (RuntimeError: after)",
    ),
}


@pytest.mark.parametrize("case", list(UNDECLARABLE))
def test_undeclarable_submissions_say_why(case: str) -> None:
    source, reason = UNDECLARABLE[case]
    assert reason in reasons_of(source)


def test_weights_and_other_models_are_not_declared_and_change_nothing_declared() -> None:
    """A declaration holds configs, never weights; only build's model's call is declared.

    Weights set in build or fit, or trained on another model inside fit (through the
    backend trainer, which the recorder replaces too: nothing trains), leave exactly the
    reference's declaration (tests/corpus/carried_weights.py, train_elsewhere.py).
    """
    set_in_build = variant(
        (
            "        return M\n",
            "        M.set_weights([w * 0 for w in M.get_weights()])\n        return M\n",
        )
    )
    elsewhere = variant(
        (
            "        patience = 10\n",
            "        other = keras.models.clone_model(M)\n"
            "        other.compile(loss='mse', optimizer='adam')\n"
            "        before = other.get_weights()\n"
            "        TensorFlowTrainer.fit(other, x, y, batch_size=8, epochs=3, verbose=0)\n"
            "        assert all((a == b).all() for a, b in zip(before, other.get_weights()))\n"
            "        M.set_weights(other.get_weights())\n"
            "        patience = 10\n",
        ),
        before="from keras.src.backend.tensorflow.trainer import TensorFlowTrainer\n",
    )
    reference = declared(REFERENCE).key()
    for source in (set_in_build, elsewhere):
        declaration = declared(source)
        assert declaration.outcome is Outcome.OK, declaration.reasons
        assert declaration.key() == reference


def test_a_callback_that_sets_a_schedules_rate_fails_as_keras_would() -> None:
    setter = (
        "class Setter(keras.callbacks.Callback):\n"
        "    def on_train_begin(self, logs=None):\n"
        "        self.model.optimizer.learning_rate = 0.1\n"
    )
    (reason,) = reasons_of(with_callback("Setter()", before=setter))
    assert reason.startswith("callback Setter raised at the start of training (TypeError:")


# --- errors: the trial fails, as in keras-tuner -------------------------------------------


def test_build_raising_is_the_students_error_at_their_line() -> None:
    source = VARIANTS["build_raises"]
    declaration = declared(source)
    assert declaration.outcome is Outcome.ERROR and declaration.error is not None
    assert declaration.error.type == "NameError"
    assert (declaration.error.cell, declaration.error.line) == (
        4,
        line_of(source, "undefined_name"),
    )


def test_fit_raising_before_model_fit_is_the_students_error() -> None:
    source = VARIANTS["fit_raises"]
    error = declared(source).error
    assert error is not None and error.type == "ZeroDivisionError"
    assert error.line == line_of(source, "10 / 0")


def test_build_returning_no_model_fails_as_keras_tuner_fails_it() -> None:
    error = declared(variant(("        return M\n", "        return 'M'\n"))).error
    assert error is not None and error.type == "FatalTypeError"
    assert "return a valid Keras Model instance" in error.message


def test_an_uncompiled_model_fails_where_fit_calls_model_fit() -> None:
    source = variant(
        (
            "        M.compile(",
            "        if False: M.compile(",
        )
    )
    error = declared(source).error
    assert error is not None and error.type == "ValueError" and "compile()" in error.message
    assert error.line == line_of(source, "return M.fit(")


def test_model_fit_is_put_back_whatever_fit_did() -> None:
    declared(VARIANTS["fit_raises"])
    declared(UNDECLARABLE["two fit calls"][0])
    assert keras.Model.fit is ORIGINAL_FIT and "fit" not in keras.Model.__dict__
    assert "train_on_batch" not in keras.Model.__dict__


# --- the worker's serve mode --------------------------------------------------------------


def write_split(folder: Path) -> None:
    x, y, (x_val, y_val) = FIT_DATA
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("x_train", x), ("y_train", y), ("x_val", x_val), ("y_val", y_val)):
        np.save(folder / f"{name}.npy", array)


def test_serve_answers_requests_in_files_and_stops_at_a_malformed_line(tmp_path: Path) -> None:
    from grader.child import worker

    x, y, (x_val, y_val) = FIT_DATA
    answer = worker.Answer(tmp_path / "response.json")
    request = {"class_name": "MyHyperModel", "serve": {"steps_per_epoch": 2, "max_epochs": 3}}
    lines = io.StringIO(
        DeclareRequest(5, {"space": [], "values": {}}).to_json() + "\n" + '{"op": "declare"}\n'
    )
    cls = namespace_for(REFERENCE)["MyHyperModel"]
    with pytest.raises(DeclarationError):
        worker.serve(request, cls, Split(x, y, x_val, y_val), tmp_path, answer, lines)
    assert Declaration.from_json((tmp_path / "declare-5.json").read_bytes()).outcome is Outcome.OK
    assert json.loads((tmp_path / "response.json").read_text())["status"] == "serving"
    assert not list(tmp_path.glob("*.tmp"))
    ended = io.StringIO(
        '{"op": "end"}\n' + DeclareRequest(6, {"space": [], "values": {}}).to_json()
    )
    worker.serve(request, cls, Split(x, y, x_val, y_val), tmp_path, answer, ended)
    assert not (tmp_path / "declare-6.json").exists()


def test_the_worker_serves_two_declarations_and_ends_on_eof(tmp_path: Path) -> None:
    from grader.runner import child_env

    write_split(tmp_path / "split")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    statements = [*PRELUDE.splitlines(), REFERENCE]
    chunks, line = [], 1
    for text in statements:
        kind = "import" if text.startswith("import") else "class"
        chunks.append({"cell": None, "line": line, "source": text, "kind": kind})
        line += text.count("\n") + 1
    request = {
        "protocol": 1,
        "submission_id": "student",
        "chunks": chunks,
        "cells": [],
        "class_name": "MyHyperModel",
        "seed": 23,
        "objective": "val_accuracy",
        "executions_per_trial": 1,
        "validation": "xy_val",
        "budget": {
            "max_trials": 2,
            "max_epochs": 3,
            "trial_seconds": 60,
            "submission_seconds": 240,
        },
        "data": {
            "split_dir": str(tmp_path / "split"),
            "validation_size": 16,
            "num_classes": 10,
            "input_dim": 784,
            "input_shape": [784],
            "labels": "one_hot",
            "subset": None,
        },
        "probe": {"steps_per_epoch": 2, "trained_steps_per_epoch": 2, "epochs": 2},
        "threads": 1,
        "search": False,
        "serve": {"steps_per_epoch": 2, "max_epochs": 3},
    }
    (scratch / "request.json").write_text(json.dumps(request), encoding="utf-8")
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "grader.child.worker", str(scratch / "request.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(seed=23, threads=1, home=home),
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: status(scratch) in ("serving", "ok", "error"), child)
        assert status(scratch) == "serving"
        assert child.stdin is not None
        for n, values in ((0, {}), (1, {"initial_learning_rate": 0.31})):
            asked = DeclareRequest(n, {"space": [], "values": values})
            child.stdin.write((asked.to_json() + "\n").encode())
            child.stdin.flush()
            wait_for(lambda n=n: (scratch / f"declare-{n}.json").exists(), child)
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    first, second = (
        Declaration.from_json((scratch / f"declare-{n}.json").read_bytes()) for n in (0, 1)
    )
    assert (first.n, second.n) == (0, 1)
    assert first.outcome is second.outcome is Outcome.OK
    assert second.values["initial_learning_rate"] == 0.31
    answer = json.loads((scratch / "response.json").read_text())
    assert answer["status"] == "ok" and answer["trials"] == []
    assert answer["timings"]["declare"] > 0


def status(scratch: Path) -> str | None:
    try:
        return json.loads((scratch / "response.json").read_text())["status"]
    except (FileNotFoundError, ValueError):
        return None


def wait_for(condition: Any, child: subprocess.Popen[bytes], seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if child.poll() is not None and not condition():
            raise AssertionError(f"the worker ended: {child.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the worker did not answer in time"
        time.sleep(0.05)
