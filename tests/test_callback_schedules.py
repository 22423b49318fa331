"""Learning rates set by callbacks: the probe's dry run, the matcher, the checks, the plot.

The curves come from real callbacks: seed 002's schedule functions through Keras'
`LearningRateScheduler`, and `CyclicLR` below, written after seed 004 (the bckenstler
Keras implementation the course uses, with Keras 3's optimizer API).
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType
from typing import Any

import keras
import numpy as np
import pytest
from probe_helpers import namespace_for, probe_namespace

from grader import plots, report, schedules
from grader.artifacts import ModelArtifacts
from grader.boundary import ProbeRecord
from grader.checks import CheckContext
from grader.checks.base import REGISTRY
from grader.checks.params import build
from grader.child import simulate
from grader.evaluate import Evaluation
from grader.results import CheckStatus, Evidence

CYCLIC_LR = '''\
class CyclicLR(keras.callbacks.Callback):
    """Smith's cyclical learning rate, per batch (seed 004: triangular, triangular2,
    exp_range), as the keras CLR callback computes it."""
    def __init__(self, base_lr=0.001, max_lr=0.006, step_size=2000.0, mode="triangular",
                 gamma=1.0):
        super().__init__()
        self.base_lr, self.max_lr, self.step_size = base_lr, max_lr, step_size
        self.mode, self.gamma = mode, gamma
        self.clr_iterations = 0.0
    def clr(self):
        cycle = np.floor(1 + self.clr_iterations / (2 * self.step_size))
        x = np.abs(self.clr_iterations / self.step_size - 2 * cycle + 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:
            scale = self.gamma ** self.clr_iterations
        return float(self.base_lr + (self.max_lr - self.base_lr) * max(0.0, 1 - x) * scale)
    def on_train_begin(self, logs=None):
        self.model.optimizer.learning_rate = (
            self.base_lr if self.clr_iterations == 0 else self.clr())
    def on_batch_end(self, batch, logs=None):
        self.clr_iterations += 1
        self.model.optimizer.learning_rate = self.clr()
'''

# Seed 002's functions; the second is the off-by-one form students write.
SEED_002 = """\
def step_decay(epoch):
    initial_lrate = 0.1
    drop = 0.5
    epochs_drop = 10.0
    lrate = initial_lrate * math.pow(drop, math.floor((epoch)/epochs_drop))
    return lrate
def step_decay_1(epoch):
    initial_lrate = 0.1
    drop = 0.5
    epochs_drop = 10.0
    return initial_lrate * math.pow(drop, math.floor((1 + epoch)/epochs_drop))
def exp_decay(epoch):
    initial_lrate = 0.1
    k = 0.1
    lrate = initial_lrate * np.exp(-k*epoch)
    return lrate
def time_decay(epoch):
    return 0.1 / (1 + (0.1 / 50) * epoch)
def constant(epoch):
    return 0.01
"""

NAMESPACE = namespace_for("import math\nimport numpy as np\n" + SEED_002 + CYCLIC_LR)
STEPS_PER_EPOCH = 10


def _model(learning_rate: Any = 0.1) -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model


def _dry_run(callback: Any, epochs: int = 30, learning_rate: Any = 0.1) -> dict[str, Any]:
    return simulate.Simulation(_model(learning_rate), STEPS_PER_EPOCH, []).run(callback, epochs)


# --- the matcher on real callbacks ------------------------------------------------------

EPOCH_CASES = [
    ("step_decay", "step decay", {"initial_lrate": 0.1, "drop": 0.5, "epochs_drop": 10}),
    (
        "step_decay_1",
        "step decay (1 + epoch)",
        {"initial_lrate": 0.1, "drop": 0.5, "epochs_drop": 10},
    ),
    ("exp_decay", "exponential decay", {"initial_lrate": 0.1, "k": 0.1}),
    ("time_decay", "time-based decay", {"initial_lrate": 0.1, "k": 0.002}),
    ("constant", "constant", {"learning_rate": 0.01}),
]


@pytest.mark.parametrize(("function", "family", "params"), EPOCH_CASES)
def test_learning_rate_scheduler_functions_are_named_with_their_parameters(
    function: str, family: str, params: dict[str, float]
) -> None:
    run = _dry_run(keras.callbacks.LearningRateScheduler(NAMESPACE[function]))
    assert run["status"] == "ok" and run["epochs"] == 30
    fit = schedules.identify_dry_run(run)
    assert fit is not None and fit.family == family, fit
    for key, value in params.items():
        assert fit.params[key] == pytest.approx(value, rel=1e-3), key


CYCLIC_CASES = [
    ("triangular", {}),
    ("triangular2", {}),
    ("exp_range", {"gamma": 0.99}),
]


@pytest.mark.parametrize(("mode", "extra"), CYCLIC_CASES)
def test_cyclic_policies_are_named_with_base_max_step_size_and_gamma(
    mode: str, extra: dict[str, float]
) -> None:
    # Seed 004's call: CyclicLR(base_lr=0.00001, max_lr=0.001, step_size=8, mode=...).
    callback = NAMESPACE["CyclicLR"](base_lr=0.00001, max_lr=0.001, step_size=8, mode=mode, **extra)
    run = _dry_run(callback)
    assert run["batches"][:3] == [0, 1, 2] and len(run["batch_lrs"]) == 30 * STEPS_PER_EPOCH
    fit = schedules.identify_dry_run(run)
    assert fit is not None and fit.family == "CyclicLR", fit
    assert fit.params["mode"] == mode and fit.params["step_size"] == 8
    assert fit.params["base_lr"] == pytest.approx(0.00001, rel=1e-3)
    assert fit.params["max_lr"] == pytest.approx(0.001, rel=1e-3)
    if mode == "exp_range":
        assert fit.params["gamma"] == pytest.approx(0.99, rel=1e-4)
    np.testing.assert_allclose(
        schedules.evaluate("CyclicLR", fit.params, run["batches"]), run["batch_lrs"], rtol=1e-5
    )


def test_the_two_step_decay_forms_are_told_apart() -> None:
    epochs = np.arange(30)
    plain = [0.1 * 0.5 ** math.floor(e / 10) for e in epochs]
    shifted = [0.1 * 0.5 ** math.floor((1 + e) / 10) for e in epochs]
    assert schedules.identify_epoch_schedule(epochs, plain).family == "step decay"
    assert schedules.identify_epoch_schedule(epochs, shifted).family == "step decay (1 + epoch)"
    # The first form cannot reproduce the second: its stairs fall one epoch late.
    assert not np.allclose(
        schedules.evaluate(
            "step decay", {"initial_lrate": 0.1, "drop": 0.5, "epochs_drop": 10}, epochs
        ),
        shifted,
    )


# --- the dry run --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_dry_run_sees_the_rates_training_uses() -> None:
    """A real (tiny) fit records the rate of every batch; the dry run must give the same."""
    seen: list[float] = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    make = NAMESPACE["CyclicLR"]
    x = np.zeros((40, 4), dtype="float32")
    y = np.zeros((40, 2), dtype="float32")
    model = _model()
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=3,
        verbose=0,
        callbacks=[make(base_lr=0.01, max_lr=0.1, step_size=4, mode="triangular2"), Recorder()],
    )
    run = simulate.Simulation(_model(), STEPS_PER_EPOCH, []).run(
        make(base_lr=0.01, max_lr=0.1, step_size=4, mode="triangular2"), 3
    )
    np.testing.assert_allclose(run["batch_lrs"], seen, rtol=1e-6)


def test_the_dry_run_leaves_the_students_callback_and_optimizer_as_they_were() -> None:
    callback = NAMESPACE["CyclicLR"](base_lr=0.01, max_lr=0.1, step_size=4)
    model = _model(0.5)
    run = simulate.Simulation(model, STEPS_PER_EPOCH, []).run(callback, 5)
    assert run["status"] == "ok" and run["copied"] == "deep"
    assert max(run["batch_lrs"]) == pytest.approx(0.1)
    # A CyclicLR keeps its batch count across fits: the real training must start at 0.
    assert callback.clr_iterations == 0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)


def test_a_callback_on_an_optimizer_with_a_schedule_fails_as_in_keras() -> None:
    """Keras 3 refuses to set the rate of an optimizer built with a LearningRateSchedule
    (TypeError in the first on_epoch_begin): the schedule stays, and training stops."""
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    run = _dry_run(keras.callbacks.LearningRateScheduler(NAMESPACE["step_decay"]), 3, schedule)
    assert run["status"] == "error" and run["error"]["type"] == "TypeError"
    assert "not settable" in run["error"]["message"]


HYPERMODEL = """\
class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential(
            [keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
        base = hp.Float("base_lr", min_value=1e-4, max_value=1e-3)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=base),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        return model
    def fit(self, hp, model, x, y, xy_val, **kwargs):
        clr = CyclicLR(base_lr=hp.get("base_lr"), max_lr=0.01, step_size=20,
                       mode="triangular2")
        kwargs["callbacks"] += [clr, keras.callbacks.EarlyStopping(patience=3)]
        return model.fit(x, y, epochs=8, batch_size=32, validation_data=xy_val, **kwargs)
"""


@pytest.fixture(scope="module")
def cyclic_record() -> dict[str, Any]:
    source = "import numpy as np\n" + CYCLIC_LR + HYPERMODEL
    return probe_namespace(namespace_for(source), steps_per_epoch=STEPS_PER_EPOCH, epochs=100)


def test_the_probe_dry_runs_the_students_own_callback_only(cyclic_record: dict) -> None:
    (call,) = cyclic_record["fit"]["calls"]
    runs = {cb["class_name"]: cb["dry_run"] for cb in call["callbacks"] if not cb["marker"]}
    assert runs["EarlyStopping"] is None  # a Keras callback that never sets the rate
    run = runs["CyclicLR"]
    assert run["status"] == "ok" and run["epochs"] == 8  # the fit's epochs, not the spec's
    assert run["steps_per_epoch"] == STEPS_PER_EPOCH
    assert len(run["epoch_lrs"]) == len(run["epoch_end_lrs"]) == 8
    fit = schedules.identify_dry_run(run)
    assert fit is not None and fit.params["mode"] == "triangular2"
    # The boundary takes it as typed data.
    parsed = ProbeRecord.parse(cyclic_record)
    assert parsed.fit["calls"][0]["callbacks"][2]["dry_run"]["batch_lrs"][0] == run["batch_lrs"][0]


def test_best_callbacks_runs_again_with_the_best_hyperparameters() -> None:
    import keras_tuner

    namespace = namespace_for("import numpy as np\n" + CYCLIC_LR + HYPERMODEL)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("base_lr", 0.0005)
    data = (np.zeros((8, 784), "float32"), np.zeros((8, 10), "float32"), None)
    record = simulate.best_callbacks(
        namespace["MyHyperModel"](), hp, data, epochs=100, steps_per_epoch=STEPS_PER_EPOCH
    )
    assert record["status"] == "ok" and record["hyperparameters"] == {"base_lr": 0.0005}
    (cb,) = record["callbacks"]
    assert cb["class_name"] == "CyclicLR" and cb["dry_run"]["batch_lrs"][0] == pytest.approx(0.0005)


# --- the checks ---------------------------------------------------------------------------


def _callback(run: dict[str, Any], name: str = "CyclicLR", **extra: Any) -> dict[str, Any]:
    return {
        "class_name": name,
        "module": "__student__",
        "marker": False,
        "config": None,
        "samples": None,
        "samples_error": None,
        "conflicts_with_schedule": False,
        "dry_run": run,
        **extra,
    }


def _record(callbacks: list[dict], best: list[dict] | None = None) -> dict[str, Any]:
    record = {
        "probe_version": 1,
        "class_name": "MyHyperModel",
        "build": {
            "status": "ok",
            "learning_rate": {"kind": "constant", "class_name": "float", "value": 0.1},
        },
        "fit": {"status": "ok", "calls": [{"callbacks": callbacks}]},
    }
    if best is not None:
        record["best_callbacks"] = {"status": "ok", "hyperparameters": {}, "callbacks": best}
    return record


def _cyclic_run(mode: str, base: float = 1e-4, top: float = 1e-2) -> dict[str, Any]:
    batches = list(range(300))
    lrs = [
        float(v)
        for v in schedules.evaluate(
            "CyclicLR",
            {"mode": mode, "base_lr": base, "max_lr": top, "step_size": 20, "gamma": 0.995},
            batches,
        )
    ]
    ends = [
        lrs[(e + 1) * STEPS_PER_EPOCH] if (e + 1) * STEPS_PER_EPOCH < 300 else lrs[-1]
        for e in range(30)
    ]
    return {
        "status": "ok",
        "steps_per_epoch": STEPS_PER_EPOCH,
        "epochs": 30,
        "batches": batches,
        "batch_lrs": lrs,
        "epoch_lrs": lrs[::STEPS_PER_EPOCH],
        "epoch_end_lrs": ends,
        "lr_before": base,
        "copied": "deep",
        "error": None,
        "seconds": 0.1,
    }


def _check(check_id: str, record: dict, params: dict, **context: Any) -> Any:
    ctx = CheckContext(
        record=ProbeRecord.parse(record),
        lang="en",
        params=build(REGISTRY[check_id].params, params, check_id),
        messages=REGISTRY[check_id].messages,
        **context,
    )
    return REGISTRY[check_id].run(ctx)


def test_schedule_check_accepts_a_callback_family_on_the_childs_word() -> None:
    record = _record([_callback(_cyclic_run("triangular2"))])
    verdict = _check("schedule", record, {"family": "CyclicLR"})
    assert verdict.status is CheckStatus.PASSED, verdict.message
    assert verdict.evidence is Evidence.CHILD
    assert "mode='triangular2'" in verdict.message and "simulation" in verdict.message
    verdict = _check("schedule", record, {"family": "StepDecay"})
    assert verdict.status is CheckStatus.FAILED and "CyclicLR" in verdict.message


def test_a_dry_run_cut_short_before_the_first_peak_says_so_when_it_fails() -> None:
    # A slow callback (or a loaded machine) stops the run inside the first rise: a ramp is
    # no known curve, and the message must say why the curve may be incomplete.
    run = _cyclic_run("triangular2")
    kept = 15  # batches, below the first peak at step_size = 20
    cut = {
        **run,
        "status": "truncated",
        "batches": run["batches"][:kept],
        "batch_lrs": run["batch_lrs"][:kept],
        "epoch_lrs": run["epoch_lrs"][:1],
        "epoch_end_lrs": run["epoch_end_lrs"][:1],
    }
    verdict = _check("schedule", _record([_callback(cut)]), {"family": "CyclicLR"})
    assert verdict.status is CheckStatus.FAILED
    assert verdict.message.endswith("The simulation was cut short by time after 1 epochs.")


def test_schedule_params_check_the_cyclic_mode_and_step_size() -> None:
    record = _record([_callback(_cyclic_run("exp_range"))])
    wanted = {"family": "CyclicLR", "mode": "triangular2", "step_size": 20}
    verdict = _check("schedule_params", record, wanted)
    assert verdict.status is CheckStatus.FAILED and "mode='exp_range'" in verdict.message
    record = _record([_callback(_cyclic_run("triangular2"))])
    assert _check("schedule_params", record, wanted).status is CheckStatus.PASSED


def test_step_decay_form_is_a_schedule_param() -> None:
    lrs = [0.1 * 0.5 ** math.floor((1 + e) / 10) for e in range(30)]
    run = {
        **_cyclic_run("triangular"),
        "batches": [],
        "batch_lrs": [],
        "epoch_lrs": lrs,
        "epoch_end_lrs": lrs,
    }
    record = _record([_callback(run, "LearningRateScheduler")])
    ok = _check(
        "schedule_params",
        record,
        {"family": "StepDecay", "form": "1 + epoch", "epochs_drop": 10, "drop": 0.5},
    )
    assert ok.status is CheckStatus.PASSED, ok.message
    wrong = _check("schedule_params", record, {"family": "StepDecay", "form": "epoch"})
    assert wrong.status is CheckStatus.FAILED


def test_a_constant_learning_rate_scheduler_still_sets_the_rate() -> None:
    flat = {
        **_cyclic_run("triangular"),
        "batch_lrs": [0.1] * 300,
        "epoch_lrs": [0.1] * 30,
        "epoch_end_lrs": [0.1] * 30,
        "lr_before": 0.1,
    }
    record = _record([_callback(flat, "LearningRateScheduler")])
    verdict = _check("schedule", record, {"family": "ConstantLR"})
    assert verdict.status is CheckStatus.PASSED and "constant 0.1" in verdict.message


def test_plateau_is_judged_by_its_configuration() -> None:
    config = {"monitor": "val_loss", "factor": 0.5, "patience": 3, "min_lr": 1e-5}
    flat = {
        **_cyclic_run("triangular"),
        "batch_lrs": [0.1] * 300,
        "epoch_lrs": [0.1] * 30,
        "epoch_end_lrs": [0.1] * 30,
        "lr_before": 0.1,
    }
    record = _record([_callback(flat, "ReduceLROnPlateau", config=config)])
    verdict = _check("schedule", record, {"family": "ReduceLROnPlateau"})
    assert verdict.status is CheckStatus.PASSED and "factor=0.5" in verdict.message
    params = _check("schedule_params", record, {"family": "ReduceLROnPlateau", "factor": 0.2})
    assert params.status is CheckStatus.FAILED and "factor=0.5" in params.message


def _saved(value: float) -> ModelArtifacts:
    return ModelArtifacts(
        compiled=True,
        learning_rate=MappingProxyType(
            {"kind": "constant", "class_name": "float", "config": None, "value": value}
        ),
    )


def test_the_rate_saved_with_the_best_model_must_be_the_dry_runs() -> None:
    best = _cyclic_run("triangular2", base=5e-4)
    record = _record([_callback(_cyclic_run("triangular2"))], best=[_callback(best)])
    at_epoch_3 = best["epoch_end_lrs"][2]
    steps = Evaluation(test_accuracy=0.9, test_loss=0.3, samples=10, steps=3 * STEPS_PER_EPOCH)
    params = {"family": "CyclicLR"}
    ok = _check("schedule", record, params, artifacts=_saved(at_epoch_3), evaluation=steps)
    assert ok.status is CheckStatus.PASSED and "end of epoch 3" in ok.message, ok.message
    forged = _check("schedule", record, params, artifacts=_saved(0.05), evaluation=steps)
    assert forged.status is CheckStatus.FAILED and "is not the one" in forged.message
    uneven = Evaluation(test_accuracy=0.9, test_loss=0.3, samples=10, steps=31)
    why = _check("schedule", record, params, artifacts=_saved(0.05), evaluation=uneven)
    assert why.status is CheckStatus.PASSED and "not whole epochs" in why.message


def test_a_callback_fighting_an_optimizer_schedule_is_explained() -> None:
    run = {
        **_cyclic_run("triangular"),
        "status": "error",
        "batches": [],
        "batch_lrs": [],
        "epoch_lrs": [],
        "epoch_end_lrs": [],
        "error": {"type": "TypeError", "message": "... not settable ...", "location": None},
    }
    record = _record([_callback(run, "LearningRateScheduler", conflicts_with_schedule=True)])
    record["build"]["learning_rate"] = {"kind": "schedule", "class_name": "ExponentialDecay"}
    verdict = _check("schedule", record, {"family": "StepDecay"})
    assert verdict.status is CheckStatus.FAILED and "raises TypeError" in verdict.message
    other = _check("schedule", record, {"family": "PolynomialDecay"})
    assert "raises TypeError" in other.message


# --- the plot -----------------------------------------------------------------------------


def _plot(family: str, steps: list[int], values: list[float]) -> Any:
    curve = {"steps": steps, "values": values}
    result = {
        "learning_rate": {
            "student": curve,
            "expected": curve,
            "family": family,
            "hyperparameters": {},
            "total_steps": steps[-1] + 1,
        }
    }
    return plots._learning_rate(result, report.UI["en"]["plot"])


def test_plot_draws_a_cyclic_policy_per_batch_and_a_step_decay_as_stairs() -> None:
    run = _cyclic_run("triangular2")
    cyclic = _plot("CyclicLR", run["batches"], run["batch_lrs"]).axes[0]
    assert cyclic.get_xscale() == "linear" and cyclic.get_xlabel() == "Training step"
    assert len(cyclic.get_lines()[0].get_xdata()) == 300
    lrs = [0.1 * 0.5 ** math.floor(e / 10) for e in range(30)]
    stairs = _plot("StepDecay", list(range(30)), lrs).axes[0]
    assert stairs.get_xlabel() == "Epoch" and stairs.get_xscale() == "linear"
    assert {line.get_drawstyle() for line in stairs.get_lines()} == {"steps-post"}
    assert list(stairs.get_lines()[0].get_xdata())[-2:] == [29, 30]  # the last epoch is whole
    # And the SVG renders.
    result = {
        "learning_rate": {
            "student": {"steps": list(range(30)), "values": lrs},
            "expected": None,
            "family": "StepDecay",
            "hyperparameters": {},
            "total_steps": 30,
        }
    }
    assert "<svg" in plots.render(result, report.UI["en"]["plot"])["learning_rate"]


def _spec_with(schedule: dict, schedule_params: dict, space: list[dict]) -> Any:
    from grader import spec as spec_module
    from grader.checks.base import REGISTRY
    from grader.checks.params import build, present

    spec = spec_module.load("fashion-mnist-polynomial-decay")
    new = {"schedule": schedule, "schedule_params": schedule_params}
    rubric = []
    for item in spec.rubric:
        raw = None
        if item.id in new:
            raw = new[item.id]
        elif item.id == "search_space":
            raw = {**present(item.params), "hyperparameters": space}
        if raw is not None:  # params are the check's dataclass, as the spec parser builds it
            item = dataclasses.replace(item, params=build(REGISTRY[item.id].params, raw, item.id))
        rubric.append(item)
    return dataclasses.replace(spec, rubric=tuple(rubric))


def test_report_curves_of_a_callback_beside_the_specs_curve() -> None:
    from grader import excerpts

    run = _cyclic_run("triangular2", base=2e-4)
    record = _record([_callback(run)])
    record["search_space"] = {"status": "ok", "hyperparameters": [], "values": {"base_lr": 2e-4}}
    spec = _spec_with(
        {"family": "CyclicLR"},
        {"family": "CyclicLR", "mode": "triangular", "step_size": 20, "max_lr": 1e-2},
        [{"name": "base_lr", "type": "Float", "min": 1e-4, "max": 1e-3}],
    )
    curves = excerpts.learning_rate_curves(ProbeRecord.parse(record), spec)
    assert curves is not None and curves.family == "CyclicLR"
    assert curves.student is not None and curves.student.steps == tuple(range(300))
    assert curves.expected is not None and curves.expected.steps == curves.student.steps
    # Same first cycle, then the student's triangular2 halves where the spec's does not.
    assert curves.expected.values[20] == pytest.approx(curves.student.values[20])
    assert curves.expected.values[60] == pytest.approx(1e-2)
    assert curves.student.values[60] == pytest.approx(2e-4 + (1e-2 - 2e-4) / 2)

    # A step decay: per epoch, in the form the spec names.
    lrs = [0.1 * 0.5 ** math.floor((1 + e) / 10) for e in range(30)]
    epochs = {**run, "batches": [], "batch_lrs": [], "epoch_lrs": lrs, "epoch_end_lrs": lrs}
    record = _record([_callback(epochs, "LearningRateScheduler")])
    fixed = {"family": "StepDecay", "form": "1 + epoch", "drop": 0.5, "epochs_drop": 10}
    spec = _spec_with({"family": "StepDecay"}, {**fixed, "initial_lrate": 0.1}, [])
    curves = excerpts.learning_rate_curves(ProbeRecord.parse(record), spec)
    assert curves.student.steps == tuple(range(30)) and curves.expected.values == tuple(lrs)
