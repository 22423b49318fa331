"""The parent's evaluation: architecture read as data, ceilings, the evaluator process.

The models are made by a separate Python process (`_MAKE_MODELS`), so this test process,
like the grader's parent, never imports TensorFlow: the last test checks that grading a
whole submission leaves it out of the parent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grader import checks
from grader.architecture import describe, read_architecture
from grader.boundary import HostileFile
from grader.checks.base import CheckContext
from grader.data import TestSet
from grader.errors import SubmissionError
from grader.evaluate import (
    Bounds,
    Evaluation,
    Review,
    evaluate_best,
    measure,
    saved_optimizer,
    step_budget,
)
from grader.evaluator import Evaluator, InitialWeights, ModelFiles
from grader.limits import Limits
from grader.results import CheckStatus
from grader.sandbox import Sandbox
from grader.spec import load as load_spec

SEED = 23
ROOT = Path(__file__).resolve().parent.parent


def _layer(class_name: str, config: dict, input_shape: list | None = None) -> dict:
    layer = {"module": "keras.layers", "class_name": class_name, "config": config}
    layer["registered_name"] = None
    if input_shape is not None:
        layer["build_config"] = {"input_shape": input_shape}
    return layer


def _sequential(*layers: dict) -> str:
    config = {"name": "sequential", "layers": list(layers)}
    return json.dumps(
        {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
    )


def _input(*shape: int) -> dict:
    return _layer("InputLayer", {"batch_shape": [None, *shape], "name": "input_layer"})


def _dense(units: int, inputs: int, activation: str | dict = "relu") -> dict:
    config = {"name": f"dense_{units}", "units": units, "activation": activation, "use_bias": True}
    return _layer("Dense", config, [None, inputs])


EXAM_MLP = _sequential(_input(784), _dense(800, 784), _dense(10, 800, "softmax"))


# --- the architecture, read as data ------------------------------------------------------


def test_exam_mlp_is_measured_without_keras() -> None:
    architecture = read_architecture(EXAM_MLP, images=(784,))
    assert architecture.standard
    assert architecture.params == 784 * 800 + 800 + 800 * 10 + 10 == 636010
    assert architecture.macs == 784 * 800 + 800 * 10
    assert architecture.input_shape == (None, 784)
    assert [layer.class_name for layer in architecture.layers] == ["InputLayer", "Dense", "Dense"]


def test_convolutional_model_counts() -> None:
    text = _sequential(
        _input(28, 28, 1),
        _layer("Conv2D", {"name": "c", "filters": 8, "kernel_size": [3, 3], "padding": "valid"}),
        _layer("BatchNormalization", {"name": "b", "axis": -1}),
        _layer("MaxPooling2D", {"name": "p", "pool_size": [2, 2]}),
        _layer("Flatten", {"name": "f"}),
        _layer("Dropout", {"name": "d", "rate": 0.5}),
        _layer("Dense", {"name": "o", "units": 10, "activation": "softmax"}),
    )
    architecture = read_architecture(text, images=(28, 28, 1))
    assert architecture.standard, architecture.problems
    conv, norm, pool, flat, _, dense = architecture.layers[1:]
    assert conv.output_shape == (None, 26, 26, 8) and conv.params == 3 * 3 * 1 * 8 + 8
    assert conv.macs == 26 * 26 * 8 * 9
    assert norm.params == 4 * 8
    assert pool.output_shape == (None, 13, 13, 8)
    assert flat.output_shape == (None, 13 * 13 * 8)
    assert dense.params == 13 * 13 * 8 * 10 + 10


@pytest.mark.parametrize(
    "layer, named",
    [
        (
            {
                "module": None,
                "class_name": "MyDense",
                "config": {"name": "mine"},
                "registered_name": "Custom>MyDense",
            },
            "MyDense",
        ),
        (_layer("Lambda", {"name": "l", "function": "abc"}, [None, 800]), "Lambda"),
        (
            _dense(
                10,
                800,
                {
                    "module": "__student__",
                    "class_name": "function",
                    "config": "swish2",
                    "registered_name": "function",
                },
            ),
            "function",
        ),
    ],
)
def test_what_is_not_plain_keras_is_not_standard(layer: dict, named: str) -> None:
    architecture = read_architecture(
        _sequential(_input(784), _dense(800, 784), layer), images=(784,)
    )
    assert not architecture.standard
    assert named in " ".join(architecture.problems)


def test_an_architecture_that_is_not_json_ends_the_submission() -> None:
    with pytest.raises(SubmissionError):
        read_architecture("{not json", images=(784,))
    with pytest.raises(SubmissionError):
        read_architecture(
            json.dumps({"class_name": "Sequential", "config": {"layers": []}}), images=(784,)
        )


def test_an_enormous_model_is_refused_with_its_figure(tmp_path: Path) -> None:
    huge = _sequential(_input(784), _dense(65536, 784), _dense(32768, 65536), _dense(10, 32768))
    (tmp_path / "best_model.json").write_text(huge, encoding="utf-8")
    params = read_architecture(huge, images=(784,)).params
    with pytest.raises(SubmissionError) as caught:
        measure(tmp_path, "best_model.json", Limits(), "en", (784,))
    assert caught.value.status == "resource_limit"
    assert f"has {describe(params)} parameters; the grader's limit is 5.0e7" in caught.value.message
    with pytest.raises(SubmissionError) as spanish:
        measure(tmp_path, "best_model.json", Limits(), "es", (784,))
    assert "parámetros" in spanish.value.message
    # The multiply-adds ceiling holds on its own.
    with pytest.raises(SubmissionError, match="multiply-adds"):
        measure(
            tmp_path,
            "best_model.json",
            Limits(eval_max_params=10**12, eval_max_macs=10**6),
            "en",
            (784,),
        )


def test_a_linked_architecture_is_refused(tmp_path: Path) -> None:
    target = ROOT / "grader" / "evaluate.py"  # any file of the grader's
    (tmp_path / "best_model.json").symlink_to(target)
    with pytest.raises(HostileFile):
        measure(tmp_path, "best_model.json", Limits(), "en", (784,))


def test_saved_optimizer_does_not_follow_a_link(tmp_path: Path) -> None:
    import zipfile

    outside = tmp_path / "outside.keras"  # a readable model file outside the scratch folder
    config = {"compile_config": {"optimizer": {"class_name": "SGD", "config": {}}}}
    with zipfile.ZipFile(outside, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    shutil.copy(outside, scratch / "best.keras")
    assert saved_optimizer(scratch) == {"class_name": "SGD", "config": {}}
    (scratch / "best.keras").unlink()
    (scratch / "best.keras").symlink_to(outside)
    assert saved_optimizer(scratch) is None


def test_step_budget_is_epochs_times_batches() -> None:
    assert step_budget(4, 50000, 256) == 4 * 196
    assert step_budget(1, 300, 256) == 2


def test_spec_reads_and_validates_the_evaluation_limits(tmp_path: Path) -> None:
    spec = load_spec("fashion-mnist-polynomial-decay")
    assert spec.limits.eval_max_params == 50_000_000 and spec.limits.eval_seconds == 120
    folder = tmp_path / "spec"
    shutil.copytree(spec.path.parent, folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("eval_seconds = 120", "eval_seconds = 0"), encoding="utf-8")
    from grader.errors import SpecError

    with pytest.raises(SpecError, match=r"limits\.eval_seconds"):
        load_spec(toml)


# --- the accuracy check on the evaluation ------------------------------------------------


def _accuracy(evaluation: Evaluation, lang: str = "en") -> tuple[CheckStatus, float, str]:
    spec = load_spec("fashion-mnist-polynomial-decay")
    context = CheckContext(
        record={},
        lang=lang,
        test_accuracy=evaluation.test_accuracy,
        reference_test_accuracy=0.85,
        reference_sd=0.01,
        budget="smoke",
        evaluation=evaluation,
        val_accuracy=0.91,
    )
    (result,) = [c for c in checks.run_checks(spec, context) if c.id == "accuracy"]
    return result.status, result.points, result.message


def test_training_past_the_budget_fails_accuracy() -> None:
    status, points, message = _accuracy(Evaluation(0.99, 0.1, 10000, steps=60, step_budget=8))
    assert status is CheckStatus.FAILED and points == 0
    assert "60 optimizer steps" in message and "allows 8" in message
    _, _, spanish = _accuracy(Evaluation(0.99, 0.1, 10000, steps=60, step_budget=8), "es")
    assert "60 pasos" in spanish and "permite 8" in spanish
    assert _accuracy(Evaluation(0.99, 0.1, 10000, steps=8, step_budget=8))[0] is CheckStatus.PASSED


def test_a_model_not_rebuilt_needs_review_with_the_childs_word() -> None:
    evaluation = Evaluation(
        None, None, 0, steps=4, step_budget=8, reviews=(Review.NOT_STANDARD,), detail="MyDense"
    )
    status, points, message = _accuracy(evaluation)
    assert status is CheckStatus.NEEDS_REVIEW and points == 0
    assert "MyDense" in message and "91.00 %" in message and "not verified" in message
    spanish = _accuracy(evaluation, "es")[2]
    assert "revisión" in spanish and "no verificado" in spanish


# --- the evaluator process ---------------------------------------------------------------

_MAKE_MODELS = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from pathlib import Path
    import shutil
    import h5py, keras, numpy as np
    out, seed = Path(sys.argv[1]), int(sys.argv[2])

    def build():
        model = keras.Sequential([
            keras.Input((784,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ])
        schedule = keras.optimizers.schedules.PolynomialDecay(0.3, 10, 0.29)
        model.compile(optimizer=keras.optimizers.SGD(schedule), loss="categorical_crossentropy")
        return model

    keras.utils.set_random_seed(seed)
    model = build()
    (out / "initial_model.json").write_text(model.to_json())
    model.save_weights(str(out / "initial.weights.h5"))
    model.layers[0].kernel.assign(np.full((784, 32), 0.01, "float32"))
    model.save_weights(str(out / "tampered.weights.h5"))
    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 512), 10)
    model.fit(x, y, batch_size=256, epochs=3, verbose=0)  # 6 optimizer steps
    (out / "best_model.json").write_text(model.to_json())
    model.save_weights(str(out / "best.weights.h5"))
    bare = keras.models.model_from_json(model.to_json())
    bare.set_weights(model.get_weights())
    bare.save_weights(str(out / "zerocounter.weights.h5"))
    shutil.copy(out / "zerocounter.weights.h5", out / "nocounter.weights.h5")
    with h5py.File(out / "nocounter.weights.h5", "a") as store:
        del store["optimizer"]
    np.save(out / "x.npy", x[:50])
    np.save(out / "expected.npy", model.predict(x[:50], verbose=0))

    # A functional CNN with a layer called twice, for the shapes carried through the graph.
    images = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu")(images)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    shared = keras.layers.Dense(16, activation="relu")
    h = shared(shared(h))
    cnn = keras.Model(images, keras.layers.Dense(10, activation="softmax")(h))
    (out / "functional.json").write_text(cnn.to_json())
    (out / "functional.params").write_text(str(cnn.count_params()))
    """
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, "-c", _MAKE_MODELS, str(out), str(SEED)], check=True)
    return out


@pytest.fixture(scope="module")
def evaluator() -> Iterator[Evaluator]:
    from grader.sandbox import Sandbox

    handle = Evaluator(memory_mb=3072, threads=1, sandbox=Sandbox(None))
    yield handle
    handle.close()


def _scratch(models: Path, tmp_path: Path, **names: str) -> Path:
    """A child's scratch folder: `names` maps the child's file names to the models'."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    files = {
        "best_model.json": "best_model.json",
        "best.weights.h5": "best.weights.h5",
        "initial_model.json": "initial_model.json",
        "initial.weights.h5": "initial.weights.h5",
        **names,
    }
    for name, source in files.items():
        if source:
            shutil.copy(models / source, scratch / name)
    return scratch


def _evaluate(
    models: Path, scratch: Path, evaluator: Evaluator, lang: str = "en", **limits: int
) -> Evaluation:
    x = np.load(models / "x.npy")
    labels = np.argmax(np.load(models / "expected.npy"), axis=1)
    test = TestSet(x, np.eye(10, dtype=np.float32)[labels])
    bounds = Bounds(Limits(**limits), budget_steps=8)
    return evaluate_best(scratch, test, evaluator, bounds, seed=SEED, lang=lang)


def test_the_evaluator_predicts_and_reads_the_step_counter(
    models: Path, evaluator: Evaluator, tmp_path: Path
) -> None:
    evaluation = _evaluate(models, _scratch(models, tmp_path), evaluator)
    # The labels are the trained model's own predictions: the same weights give 100 %.
    assert evaluation.test_accuracy == 1.0 and evaluation.samples == 50
    assert evaluation.steps == 6 and evaluation.step_budget == 8 and not evaluation.over_budget
    assert evaluation.params == 784 * 32 + 32 + 32 * 10 + 10
    # An honest build: its initial weights are the ones a fresh build draws.
    assert evaluation.reviews == ()


def test_initial_weights_set_by_build_need_review(
    models: Path, evaluator: Evaluator, tmp_path: Path
) -> None:
    scratch = _scratch(models, tmp_path, **{"initial.weights.h5": "tampered.weights.h5"})
    evaluation = _evaluate(models, scratch, evaluator)
    assert evaluation.reviews == (Review.INITIAL_WEIGHTS,)
    assert evaluation.test_accuracy == 1.0  # measured, but not given automatically
    assert _accuracy(evaluation)[0] is CheckStatus.NEEDS_REVIEW
    # Where the weights differ, in the report's language (the prefix was English only).
    assert evaluation.detail.startswith("first differing weight: ")
    spanish = _evaluate(models, scratch, evaluator, "es")
    assert spanish.detail.startswith("primer peso distinto: ")


@pytest.mark.parametrize("weights, steps", [("nocounter", None), ("zerocounter", 0)])
def test_weights_without_a_step_counter_need_review(
    models: Path, evaluator: Evaluator, tmp_path: Path, weights: str, steps: int | None
) -> None:
    scratch = _scratch(models, tmp_path, **{"best.weights.h5": f"{weights}.weights.h5"})
    evaluation = _evaluate(models, scratch, evaluator)
    assert evaluation.steps == steps and evaluation.reviews == (Review.NO_COUNTER,)
    assert evaluation.test_accuracy == 1.0


def test_a_custom_layer_is_not_rebuilt_but_its_counter_is_read(
    models: Path, evaluator: Evaluator, tmp_path: Path
) -> None:
    scratch = _scratch(models, tmp_path)
    data = json.loads((scratch / "best_model.json").read_text())
    data["config"]["layers"][1].update(module=None, registered_name="Custom>MyDense")
    (scratch / "best_model.json").write_text(json.dumps(data))
    evaluation = _evaluate(models, scratch, evaluator)
    assert evaluation.test_accuracy is None and evaluation.reviews == (Review.NOT_STANDARD,)
    assert evaluation.steps == 6


def test_linked_weights_are_refused(models: Path, evaluator: Evaluator, tmp_path: Path) -> None:
    scratch = _scratch(models, tmp_path, **{"best.weights.h5": ""})
    (scratch / "best.weights.h5").symlink_to(models / "best.weights.h5")
    with pytest.raises(HostileFile):
        _evaluate(models, scratch, evaluator)


def test_a_slow_evaluation_is_a_resource_limit_and_the_evaluator_restarts(
    models: Path, tmp_path: Path
) -> None:
    from grader.sandbox import Sandbox

    handle = Evaluator(memory_mb=3072, threads=1, sandbox=Sandbox(None))
    try:
        with pytest.raises(SubmissionError) as caught:
            _evaluate(models, _scratch(models, tmp_path), handle, eval_seconds=0)
        assert caught.value.status == "resource_limit"
        assert "0 s" in caught.value.message
        assert handle.pid is None  # killed
        again = tmp_path / "again"
        again.mkdir()
        evaluation = _evaluate(models, _scratch(models, again), handle)
        assert evaluation.test_accuracy == 1.0 and handle.starts == 2
        # TensorFlow's start-up lines went to the evaluator's own log.
        assert (handle.folder / "evaluator.log").exists()
    finally:
        handle.close()


def test_a_warmed_evaluator_starts_without_waiting_and_serves_the_first_request(
    models: Path, tmp_path: Path
) -> None:
    """`warm` (called as the child starts) only spawns: TensorFlow's import runs beside the
    child's, and the first evaluation uses that same process."""
    from grader.sandbox import Sandbox

    handle = Evaluator(memory_mb=3072, threads=1, sandbox=Sandbox(None))
    try:
        began = time.monotonic()
        handle.warm()
        assert time.monotonic() - began < 2.0  # an import of TensorFlow takes 10 s here
        assert handle.pid is not None and handle.starts == 1
        handle.warm()  # already running: nothing new
        evaluation = _evaluate(models, _scratch(models, tmp_path), handle)
        assert evaluation.test_accuracy == 1.0 and handle.starts == 1
    finally:
        handle.close()


def test_the_evaluator_refuses_what_the_files_do_not_describe(
    models: Path, evaluator: Evaluator
) -> None:
    folder = evaluator.request_folder()
    (folder / "model.json").write_text(EXAM_MLP)  # 784-800-10: not the saved 784-32-10
    shutil.copy(models / "best.weights.h5", folder / "model.weights.h5")
    with pytest.raises(SubmissionError, match="could not be rebuilt"):
        evaluator.predict(
            ModelFiles(folder / "model.json", folder / "model.weights.h5"),
            np.zeros((2, 784), np.float32),
            seconds=60,
            seed=SEED,
        )
    assert InitialWeights.SAME == "same"


# --- the parent never imports TensorFlow -------------------------------------------------

_GRADE_IN_PROCESS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from grader import data, spec as spec_module
    from grader.discover import discover
    from grader.pipeline import grade_one
    from grader.settings import RunSettings
    from grader.sandbox import resolve

    spec = spec_module.load("fashion-mnist-polynomial-decay")
    cache = data.prepare(cache_dir=Path(sys.argv[1]))
    settings = RunSettings(
        spec=spec, budget=spec.budget("smoke"), cache=cache, lang="en", subset=2000,
        threads=1, sandbox=resolve(no_sandbox=False),
    )
    (ref,) = discover([Path(sys.argv[2])]).submissions
    result = grade_one(ref, settings, data.load_test(cache))
    print(json.dumps({
        "status": result.status.value, "message": result.message,
        "test_accuracy": result.test_accuracy,
        "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
        "h5py": "h5py" in sys.modules,
        "checks": {c.id: c.status.value for c in result.checks},
        "accuracy": [c.message for c in result.checks if c.id == "accuracy"],
    }))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_grading_a_submission_never_imports_tensorflow_in_the_parent(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _GRADE_IN_PROCESS,
            str(tmp_path / "cache"),
            str(ROOT / "submissions" / "reference"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=900,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "graded", report["message"]
    assert report["test_accuracy"] is not None and report["test_accuracy"] > 0.2
    # Honest: within the step budget, a counter saved, the initial weights Keras draws
    # (skipped only because a subset has no calibration to compare with).
    assert report["checks"]["accuracy"] == "skipped", report["accuracy"]
    assert not report["tensorflow"] and not report["keras"] and not report["h5py"]
    # TensorFlow's start-up lines stayed in the evaluator's log.
    assert "cuda" not in done.stderr.lower() and "tensorflow" not in done.stderr.lower()


# --- how a check that needs review is shown ----------------------------------------------


def test_needs_review_shows_in_summary_gradescope_and_reports(tmp_path: Path) -> None:
    from grader import gradescope, report, summary
    from grader.results import CheckResult, GradeResult, Status

    spec = load_spec("fashion-mnist-polynomial-decay")
    check = CheckResult(
        id="accuracy",
        title="Test accuracy",
        status=CheckStatus.NEEDS_REVIEW,
        points=0.0,
        max_points=1.0,
        message="Needs the instructor's review: the grader does not rebuild the best model.",
    )
    result = GradeResult(
        id="ana", sha256="0" * 64, assignment=spec.id, budget="smoke", status=Status.GRADED,
        score=0.0, max_score=1.0, checks=(check,),
    )  # fmt: skip
    rows = summary.summarise([result], [], spec, lang="en")["checks"]
    assert next(r for r in rows if r["id"] == "accuracy")["review"] == 1
    (test,) = gradescope.to_results(result, lang="es")["tests"]
    assert test["status"] == "failed" and test["score"] == 0
    assert test["output"].startswith("Pendiente de revisión") and test["extra_data"]["needs_review"]
    html, md = report.render_reports(result, tmp_path, lang="en")
    assert "s-needs_review" in html.read_text(encoding="utf-8")
    assert "Needs review" in md.read_text(encoding="utf-8")


def test_other_settings_close_the_idle_evaluator_first() -> None:
    """One idle evaluator per process: a process grading with one set of settings after
    another (tests, `grade validate`) must not keep a TensorFlow process for each."""
    from grader import evaluator as module

    module.close_all()
    first = module.shared(memory_mb=3072, threads=1, sandbox=Sandbox(None))
    assert module.shared(memory_mb=3072, threads=1, sandbox=Sandbox(None)) is first
    assert first.folder.is_dir()
    second = module.shared(memory_mb=2048, threads=1, sandbox=Sandbox(None))
    assert second is not first and not first.folder.exists()  # closed, folder removed
    assert list(module._SHARED.values()) == [second]
    module.close_all()


# --- shapes are computed from the images, never read from the child's file (issue 21) ----


def test_a_functional_models_shapes_follow_its_graph(models: Path) -> None:
    """Keras' own JSON of a functional CNN: each node is fed the output it names, the layer
    called twice costs two calls, and the parameters equal Keras' count."""
    text = (models / "functional.json").read_text(encoding="utf-8")
    found = read_architecture(text, images=(28, 28, 1))
    assert found.standard, found.problems
    assert found.params == int((models / "functional.params").read_text())
    conv1 = 26 * 26 * 8 * 9
    pool = 13 * 13 * 8 * 4
    conv2 = 13 * 13 * 16 * 9 * 8
    average = 13 * 13 * 16
    assert found.macs == conv1 + pool + conv2 + average + 2 * 16 * 16 + 16 * 10


def _claim(text: str, shape: list, *, layer: str) -> str:
    """`text` with `layer`'s saved input shapes (build config and node) set to `shape`."""
    data = json.loads(text)
    for raw in data["config"]["layers"]:
        if raw["name"] == layer:
            raw["build_config"]["input_shape"] = shape
            for node in raw.get("inbound_nodes", []):
                node["args"][0]["config"]["shape"] = shape
    return json.dumps(data)


def test_saved_shapes_that_shrink_the_cost_are_refused_with_both_figures(models: Path) -> None:
    """Conv layers that claim 1x1 inputs would be priced at a 784th of what they cost on
    the 28x28 test images; the parent refuses them, naming the saved and the real shape."""
    text = (models / "functional.json").read_text(encoding="utf-8")
    names = [raw["name"] for raw in json.loads(text)["config"]["layers"]]
    lie = _claim(text, [None, 1, 1, 8], layer=names[3])  # the second Conv2D
    with pytest.raises(SubmissionError) as caught:
        read_architecture(lie, images=(28, 28, 1))
    assert "(None, 1, 1, 8)" in caught.value.message
    assert "(None, 13, 13, 8)" in caught.value.message
    # A Sequential MLP whose first Dense claims one input instead of 784, in Spanish.
    data = json.loads(EXAM_MLP)
    data["config"]["layers"][1]["build_config"]["input_shape"] = [None, 1]
    with pytest.raises(SubmissionError) as spanish:
        read_architecture(json.dumps(data), images=(784,), lang="es")
    assert "(None, 1)" in spanish.value.message and "(None, 784)" in spanish.value.message
    assert "imágenes de test" in spanish.value.message


def test_a_model_built_for_other_images_is_refused(tmp_path: Path) -> None:
    """The images decide the shapes: an input layer for 784 values fed 28x28x1 images."""
    with pytest.raises(SubmissionError, match=r"\(None, 784\).*\(None, 28, 28, 1\)"):
        read_architecture(EXAM_MLP, images=(28, 28, 1))
    (tmp_path / "best_model.json").write_text(EXAM_MLP, encoding="utf-8")
    assert measure(tmp_path, "best_model.json", Limits(), "en", (784,))[1].macs == 635200
