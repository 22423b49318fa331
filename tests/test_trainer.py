"""The trainer trains what was declared, as the student's own build would have.

Two facts the trusted path (grader/training.py, grader/trainer/) rests on, each shown by
training both forms to the last bit:

- a model, optimizer and schedule that cross a process as Keras configs (deserialised in
  safe mode, compiled by `grader.trainer.search._compile_arguments`) train to the same
  weights as the student's objects did, under the same seed;
- the labels `grader.child.declaration.canonical_model`/`canonical_compile` set aside
  (the model's, a Sequential's layers', the optimizer's and the schedule's names) change
  no number, so declarations that differ only in them may share one training.

TensorFlow runs in a subprocess: this test process, like the grader's parent, never
imports it (tests/test_evaluate.py checks that of a whole grade).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.child.declaration import (
    CallbackKind,
    CallbackPlan,
    Declaration,
    DeclarationError,
    FitPlan,
    Outcome,
    canonical_compile,
    canonical_model,
)

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from grader.child.declaration import Declaration, canonical_compile, canonical_model
    from grader.trainer.search import _compile_arguments

    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 512), 10)

    def student(named):
        kw = (lambda n: {"name": n}) if named else (lambda n: {})
        M = keras.Sequential(**kw("my_model"))
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu", **kw("hidden")))
        M.add(keras.layers.Dense(10, activation="softmax", **kw("output")))
        schedule = keras.optimizers.schedules.PolynomialDecay(0.31, 10, 0.29, **kw("decay"))
        opt = keras.optimizers.SGD(learning_rate=schedule, **kw("my_sgd"))
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    def declared(model):
        config = json.loads(model.to_json())
        return config, config.pop("compile_config")

    def trainer(config, compile_config):
        declaration = Declaration.from_data({
            "n": 1, "outcome": "ok", "hyperparameters": {"space": [], "values": {}},
            "build_count": 0, "model": config, "compile": compile_config,
            "learning_rate": None, "reasons": [], "error": None,
            "fit": {"batch_size": 256, "epochs": 2, "shuffle": True, "callbacks": []},
        })
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
        model.compile(**_compile_arguments(declaration))
        return model, declaration

    def train(make):
        keras.utils.set_random_seed(23)
        model = make()
        model.fit(x, y, batch_size=256, epochs=2, shuffle=True, verbose=0)
        return [np.asarray(w).tolist() for w in model.weights]

    keras.utils.set_random_seed(23)
    named_config, named_compile = declared(student(True))
    plain_config, plain_compile = declared(student(False))
    keys = []

    def from_declaration(config, compile_config):
        def make():
            model, declaration = trainer(config, compile_config)
            keys.append(declaration.key())
            return model
        return make

    out = {
        "student_plain": train(lambda: student(False)),
        "student_named": train(lambda: student(True)),
        "trainer_plain": train(from_declaration(plain_config, plain_compile)),
        "trainer_named": train(from_declaration(named_config, named_compile)),
        "canonical_equal": canonical_model(named_config) == canonical_model(plain_config)
        and canonical_compile(named_compile) == canonical_compile(plain_compile),
        "raw_equal": named_config == plain_config,
        "keys": keys,
    }
    json.dump(out, sys.stdout)
    """
)


def _run(script: str) -> dict:
    """`script`'s JSON output, run in a fresh Python with TensorFlow (never in this one)."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow",
             "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "23"},
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def trained() -> dict:
    return _run(_SCRIPT)


@pytest.mark.slow
def test_a_declared_model_trains_to_the_student_builds_weights(trained: dict) -> None:
    assert trained["trainer_plain"] == trained["student_plain"]


@pytest.mark.slow
def test_names_are_labels_that_change_no_number(trained: dict) -> None:
    # The names differ in the configs...
    assert not trained["raw_equal"]
    # ...not once their labels are set aside, so both share one key...
    assert trained["canonical_equal"]
    assert trained["keys"][0] == trained["keys"][1]
    # ...and both forms, the student's and the declared, train to the same bits.
    assert trained["student_named"] == trained["student_plain"]
    assert trained["trainer_named"] == trained["student_plain"]


_FLOAT64_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from grader.child.declaration import Declaration
    from grader.child.declare import _float64_paths
    from grader.trainer.search import _compile_arguments, with_float64

    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 512), 10)
    # A Bayesian trial's values (numpy.float64), decaying over the 32 steps trained.
    VALUES = (np.float64(0.3048029736840056), np.float64(0.28015057303903057))

    def student(number):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        first, end = (number(v) for v in VALUES)
        schedule = keras.optimizers.schedules.PolynomialDecay(first, 100, end)
        opt = keras.optimizers.SGD(learning_rate=schedule, momentum=number(0.5))
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    def declare(model, restore):
        raw = model.get_compile_config()
        config = json.loads(model.to_json())
        config.pop("compile_config")
        paths = [list(p) for p in _float64_paths(raw)]
        return Declaration.from_data({
            "n": 1, "outcome": "ok", "hyperparameters": {"space": [], "values": {}},
            "build_count": 0, "model": config, "compile": json.loads(json.dumps(raw)),
            "learning_rate": None, "reasons": [], "error": None,
            "fit": {"batch_size": 32, "epochs": 2, "shuffle": True, "callbacks": []},
            # restore=False: what the trainer trained before it told float64 apart
            "float64": {"model": [], "compile": paths} if restore else None,
        })

    def trainer(declaration):
        def make():
            made = keras.saving.deserialize_keras_object(
                with_float64(declaration.model, declaration.float64.model), safe_mode=True
            )
            made.compile(**_compile_arguments(declaration))
            return made
        return make

    def train(make):
        keras.utils.set_random_seed(23)
        model = make()
        model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0)
        return [np.asarray(w).tolist() for w in model.weights]

    def rate_dtype(declaration):
        return str(trainer(declaration)().optimizer._learning_rate(1).dtype)

    told, untold = declare(student(np.float64), True), declare(student(np.float64), False)
    out = {
        "student_float64": train(lambda: student(np.float64)),
        "student_float": train(lambda: student(float)),
        "trainer": train(trainer(told)),
        "trainer_without": train(trainer(untold)),
        "paths": told.float64.to_data(),
        "dtype": rate_dtype(told),
        "dtype_without": rate_dtype(untold),
    }
    json.dump(out, sys.stdout)
    """
)


@pytest.mark.slow
def test_a_float64_the_student_built_with_is_trained_as_float64() -> None:
    """A Bayesian trial's numpy.float64 values make Keras' PolynomialDecay compute in
    float64 (the exam's four Bayesian trials): the declaration says where, and the trainer
    rebuilds the schedule with them, to the student's weights; without that it trains
    what a Python float would (the test shows the difference is real)."""
    out = _run(_FLOAT64_SCRIPT)
    rate = ["optimizer", "config", "learning_rate", "config"]
    assert out["paths"]["compile"] == [
        [*rate, "end_learning_rate"],
        [*rate, "initial_learning_rate"],
        ["optimizer", "config", "momentum"],
    ]
    assert (out["dtype"], out["dtype_without"]) == ("<dtype: 'float64'>", "<dtype: 'float32'>")
    assert out["student_float64"] != out["student_float"]
    assert out["trainer"] == out["student_float64"]
    assert out["trainer_without"] == out["student_float"]


_FREEZE_SCRIPT = """
import gc, json, weakref
from grader.trainer import server
server.freeze_imports()
frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
import keras
# What keras-tuner's _try_build does before each build, on a model left in a cycle.
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.cycle = [model]
gone = weakref.ref(model)
del model
keras.backend.clear_session()
gc.collect()
print(json.dumps({"frozen": frozen, "tracked": tracked, "collected": gone() is None}))
"""


@pytest.mark.slow
def test_the_trainer_freezes_its_imports_and_nothing_a_search_makes() -> None:
    """keras-tuner collects twice per build: with the import-time objects frozen, a
    collection walks only what the search made (0.18 s less each here), and a model the
    search dropped is still collected."""
    out = _run(_FREEZE_SCRIPT)
    assert out["frozen"] > 100_000  # TensorFlow, Keras and keras-tuner's objects
    assert out["tracked"] < out["frozen"] / 100
    assert out["collected"]


def _declaration(**changes: object) -> dict:
    data: dict = {
        "n": 3,
        "outcome": "ok",
        "hyperparameters": {"space": [], "values": {}},
        "build_count": 0,
        "model": {"class_name": "Sequential", "config": {"layers": []}},
        "compile": {"optimizer": "sgd"},
        "learning_rate": None,
        "fit": {"batch_size": 256, "epochs": 100, "shuffle": True, "callbacks": []},
        "reasons": [],
        "error": None,
    }
    data.update(changes)
    return data


def test_a_declaration_round_trips_as_data() -> None:
    plan = FitPlan(
        256,
        100,
        True,
        (
            CallbackPlan(CallbackKind.TUNER),
            CallbackPlan(
                CallbackKind.KERAS, "EarlyStopping", {"monitor": "val_accuracy", "patience": 20}
            ),
        ),
    )
    declaration = Declaration.from_data(_declaration(fit=plan.to_data()))
    assert declaration.outcome is Outcome.OK and declaration.fit == plan
    assert Declaration.from_json(declaration.to_json()) == declaration


def test_where_a_config_holds_a_float64_is_part_of_what_trains() -> None:
    compile_config = {"optimizer": {"class_name": "SGD", "config": {"momentum": 0.5}}}
    plain = Declaration.from_data(_declaration(compile=compile_config))
    told = Declaration.from_data(
        _declaration(
            compile=compile_config,
            float64={"model": [], "compile": [["optimizer", "config", "momentum"]]},
        )
    )
    assert told.float64.compile == (("optimizer", "config", "momentum"),)
    assert Declaration.from_json(told.to_json()) == told
    assert told.key() != plain.key()
    # None said, or an empty list: the key a declaration had before float64 was told apart.
    empty = Declaration.from_data(
        _declaration(compile=compile_config, float64={"model": [], "compile": []})
    )
    assert empty.key() == plain.key() and "float64" not in plain.what_trains()


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"extra": 1}, "unexpected keys extra"),
        ({"n": -1}, "n:"),
        ({"outcome": "trained"}, "outcome"),
        ({"fit": {"batch_size": 0, "epochs": 1, "shuffle": True, "callbacks": []}}, "batch_size"),
        ({"fit": {"batch_size": 1, "epochs": 1, "shuffle": "yes", "callbacks": []}}, "shuffle"),
        (
            {
                "fit": {
                    "batch_size": 1,
                    "epochs": 1,
                    "shuffle": True,
                    "callbacks": [
                        {"kind": "keras", "class_name": "CSVLogger", "args": {}, "rates": None}
                    ],
                }
            },
            "not rebuilt by the grader",
        ),
        (
            {
                "fit": {
                    "batch_size": 1,
                    "epochs": 1,
                    "shuffle": True,
                    "callbacks": [
                        {
                            "kind": "keras",
                            "class_name": "EarlyStopping",
                            "args": {"on_epoch_end": "x"},
                            "rates": None,
                        }
                    ],
                }
            },
            "not accepted",
        ),
        ({"learning_rate": {"per": "step", "values": []}}, "values"),
        ({"learning_rate": {"per": "step", "values": [0.1, -1.0]}}, "values[1]"),
        (
            {"hyperparameters": {"space": [{"class_name": "Eval", "config": {}}], "values": {}}},
            "not a keras-tuner hyperparameter",
        ),
        ({"build_count": 2}, "build_count"),
        ({"outcome": "undeclarable"}, "reasons"),
        ({"outcome": "error"}, "error"),
        ({"reasons": ["custom layer"]}, "no error and no reasons"),
        ({"float64": {"model": [["config", "nowhere"]], "compile": []}}, "leads nowhere"),
        ({"float64": {"model": [], "compile": [["optimizer"]]}}, "a number with a fraction"),
        ({"float64": {"model": [], "compile": [[]]}}, "a list of 1 to"),
        (
            {
                "outcome": "undeclarable",
                "reasons": ["custom layer"],
                "float64": {"model": [], "compile": []},
            },
            "only an ok declaration",
        ),
    ],
)
def test_a_declaration_not_of_the_protocols_shape_is_refused(changes: dict, said: str) -> None:
    with pytest.raises(DeclarationError, match=re.escape(said)):
        Declaration.from_data(_declaration(**changes))


def test_non_finite_numbers_and_deep_nesting_are_refused() -> None:
    raw = json.dumps(_declaration()).replace('"batch_size": 256', '"batch_size": NaN')
    with pytest.raises(DeclarationError, match="not JSON"):
        Declaration.from_json(raw)
    deep: dict = {}
    for _ in range(60):
        deep = {"a": deep}
    with pytest.raises(DeclarationError, match="nested deeper"):
        Declaration.from_data(_declaration(model={"class_name": "Sequential", "config": deep}))


def test_only_labels_are_canonicalised() -> None:
    model = {
        "class_name": "Sequential",
        "config": {
            "name": "mine",
            "layers": [{"class_name": "Dense", "config": {"name": "h", "units": 8,
                        "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}}}],
        },
    }  # fmt: skip
    assert canonical_model(model)["config"] == {
        "layers": [{"class_name": "Dense", "config": {"units": 8,
                    "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}}}],
    }  # fmt: skip
    functional = {"class_name": "Functional", "config": {"name": "f", "layers": []}}
    assert canonical_model(functional) == functional  # wired by name: kept
    compiled = {
        "optimizer": {"class_name": "SGD", "config": {"name": "sgd", "learning_rate": {
            "class_name": "PolynomialDecay", "config": {"name": "p", "decay_steps": 10}}}},
        "metrics": [{"class_name": "MeanMetricWrapper", "config": {"name": "acc"}}],
    }  # fmt: skip
    out = canonical_compile(compiled)
    assert "name" not in out["optimizer"]["config"]
    assert out["optimizer"]["config"]["learning_rate"]["config"] == {"decay_steps": 10}
    assert out["metrics"] == compiled["metrics"]  # a metric's name is the key it logs
