"""`python -m grader.trainer.server FOLDER THREADS SEED`: the trainer process.

Serves one JSON line per request on stdin, answers on stdout (its own output and
TensorFlow's go to `evaluator.log` in its folder). Two requests:

- `{"op": "search", ...}` (`wire.SearchRequest`): the search on the submission's
  declarations (`grader.trainer.search`); during it the trainer writes
  `{"need": "declare", "n", "purpose", "hyperparameters"}` lines and reads the parent's
  reply (`{"declaration": {...}}` or `{"abort": "why"}`), and `{"progress": ...}` lines.
  It ends with the trials, the best trial, and the best model's test predictions.
- a predict request (no "op"): a model the sandboxed child trained (a submission that
  cannot be declared) rebuilt from its architecture in safe mode, its weights loaded,
  the test images predicted; plus the optimizer's step counter and the initial-weights
  comparison, which police training beside student code.

The process is started with the run's seed as PYTHONHASHSEED and fixed thread counts, as
the child is (grader.runner.child_env): the same numbers as the student's notebook.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np

from grader.child.declaration import Declaration
from grader.trainer.wire import (
    LOG_FILE,
    NEED_DECLARATION,
    InitialWeights,
    PredictAnswer,
    SearchAnswer,
    SearchBest,
    SearchRequest,
    SearchTrial,
    TrainerStatus,
)


class Channel:
    """The answers channel: one JSON line per message, flushed."""

    def __init__(self, out: IO[str], requests: IO[str]) -> None:
        self.out, self.requests = out, requests
        self.asked = 0

    def say(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, allow_nan=False) + "\n")
        self.out.flush()

    def ask(self, purpose: str, hyperparameters: dict[str, Any]) -> Declaration:
        from grader.trainer.search import Abort

        self.asked += 1
        self.say(
            {
                "need": NEED_DECLARATION,
                "n": self.asked,
                "purpose": purpose,
                "hyperparameters": hyperparameters,
            }
        )
        line = self.requests.readline()
        if not line:
            raise Abort("the parent closed the channel")
        reply = json.loads(line)
        if "abort" in reply:
            raise Abort(str(reply["abort"])[:2000])
        declaration = Declaration.from_data(reply["declaration"])
        if declaration.n != self.asked:
            raise Abort(f"declaration {declaration.n} answers request {self.asked}")
        return declaration


def main(argv: list[str]) -> int:
    folder, threads = Path(argv[1]), int(argv[2])
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    # TensorFlow's start-up lines and any warning go to the log, never to the answers
    # channel nor to the instructor's terminal.
    log = os.open(folder / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    freeze_imports()
    channel = Channel(answers, sys.stdin)
    channel.say({"ready": True, "keras": keras.__version__})
    images: dict[str, np.ndarray] = {}
    for line in sys.stdin:
        request: Any = None
        try:
            request = json.loads(line)
            if request.get("op") == "search":
                answer: SearchAnswer | PredictAnswer = search(
                    SearchRequest.from_line(request), channel, images
                )
            else:
                answer = serve(request, images)
        except Exception as exc:  # one bad model costs one answer, not the trainer
            searching = isinstance(request, dict) and request.get("op") == "search"
            answer = (SearchAnswer if searching else PredictAnswer)(
                TrainerStatus.ERROR, _problem(exc)
            )
        channel.say(answer.to_json())
    return 0


def freeze_imports() -> None:
    """Import what a search uses, then move every object alive so far out of the garbage
    collector's sight (`gc.freeze`), as the child does (grader.child.worker.preimport).

    keras-tuner collects twice per build (its own `gc.collect` and Keras' `clear_session`
    in `Tuner._try_build`), and a full collection walked the ~384,000 import-time objects
    for 0.18 s here (AMD EPYC family 26): about 2 s of every `default` search, none of it
    training. Frozen once, before any model or data exists, so nothing a search leaves
    behind is ever frozen; which objects are collected when changes no number.
    """
    import keras_tuner  # noqa: F401

    from grader.trainer import search as trusted  # noqa: F401

    gc.freeze()


def search(request: SearchRequest, channel: Channel, images: dict[str, np.ndarray]) -> SearchAnswer:
    """The search on the declarations the parent relays; the best model's predictions."""
    from grader.trainer import search as trusted

    channel.asked = 0
    data = load_split(Path(request.split_dir), request.subset)
    try:
        best_model, found = trusted.run(request, data, channel.ask, channel.say)
    except trusted.Abort as exc:
        return SearchAnswer(TrainerStatus.ABORTED, str(exc)[:2000])
    except trusted.StudentFailure as exc:
        return SearchAnswer(TrainerStatus.STUDENT_ERROR, str(exc)[:2000])
    except Exception as exc:
        # keras-tuner gives up after consecutive failed trials (the student's build or fit
        # raised each time): that is the student's, like any error out of the search.
        return SearchAnswer(
            TrainerStatus.STUDENT_ERROR, _problem(exc), traceback.format_exc(limit=3)[-2000:]
        )
    best = found["best"]
    answer = SearchAnswer(
        TrainerStatus.OK,
        trials=tuple(SearchTrial.from_json(t) for t in found["trials"]),
        best=None if best is None else SearchBest.from_json(best),
        notes=tuple(found["notes"]),
    )
    if best_model is not None and request.images is not None:
        name = request.images
        if name not in images:
            images.clear()
            images[name] = np.load(name, allow_pickle=False)
        probabilities = np.asarray(best_model.predict(images[name], batch_size=1000, verbose=0))
        output = Path(request.folder) / "predictions.npy"
        np.save(output, probabilities.astype(np.float32), allow_pickle=False)
        answer = dataclasses.replace(answer, predictions=str(output))
    return answer


def load_split(folder: Path, subset: int | None) -> tuple[Any, Any, tuple[Any, Any]]:
    """The prepared split (grader.datasets.prepare_split's four arrays), as the child reads
    it: the first `subset` rows of training and validation when asked."""
    arrays = {
        name: np.load(folder / f"{name}.npy", allow_pickle=False)
        for name in ("x_train", "y_train", "x_val", "y_val")
    }
    if subset is not None:
        arrays = {name: array[:subset] for name, array in arrays.items()}
    return arrays["x_train"], arrays["y_train"], (arrays["x_val"], arrays["y_val"])


# --- predicting a model the sandboxed child trained ---------------------------------


def serve(request: dict[str, Any], images: dict[str, np.ndarray]) -> PredictAnswer:
    """One request: rebuild, load the weights, predict, read the step counter."""
    folder = Path(request["folder"])
    weights = Path(request["weights"])
    iterations = saved_iterations(weights)
    if request.get("images") is None:
        return PredictAnswer(TrainerStatus.OK, iterations=iterations)
    try:
        model = rebuild(Path(request["model_json"]).read_text(encoding="utf-8"))
        load_weights(model, weights)
    except Exception as exc:
        return PredictAnswer(
            TrainerStatus.ERROR,
            "the best model could not be rebuilt safely from its architecture and "
            f"weights ({_problem(exc)}); use standard Keras layers only",
        )
    name = request["images"]
    if name not in images:
        images.clear()
        images[name] = np.load(name, allow_pickle=False)
    probabilities = np.asarray(model.predict(images[name], batch_size=1000, verbose=0))
    output = folder / "predictions.npy"
    np.save(output, probabilities.astype(np.float32), allow_pickle=False)
    state, detail = InitialWeights.UNCHECKED, "no initial weights were saved"
    if request.get("initial"):
        state, detail = compare_initial(
            Path(request["initial"]["model_json"]),
            Path(request["initial"]["weights"]),
            int(request["seed"]),
        )
    return PredictAnswer(
        TrainerStatus.OK,
        predictions=str(output),
        iterations=iterations,
        initial_weights=state,
        initial_detail=detail,
    )


def rebuild(model_json: str) -> Any:
    """A model from its architecture in Keras' safe mode, with no custom objects at all."""
    import keras

    config = json.loads(model_json)
    if isinstance(config, dict):
        # Only the architecture is rebuilt (the compile config is read as data by
        # grader/artifacts.py): compiling it would need the student's own schedule class or
        # metric function (seed 003's RandomScheduler with get_config, its lr_spy), which
        # safe mode rightly refuses, and predicting needs no optimizer.
        config.pop("compile_config", None)
    model = keras.saving.deserialize_keras_object(config, custom_objects=None, safe_mode=True)
    if not isinstance(model, keras.Model):
        raise TypeError(f"the architecture describes a {type(model).__name__}, not a model")
    return model


def load_weights(model: Any, weights: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        # The file also holds the optimizer's state, which an uncompiled model skips.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(str(weights))


def saved_iterations(weights: Path) -> int | None:
    """The optimizer's step counter in a Keras 3 `.weights.h5` file, or None.

    Keras 3 stores the optimizer's variables under `optimizer/vars/<n>`, the step counter
    (`iterations`, an int64 scalar) first; nothing else is looked at.
    """
    import h5py

    try:
        with h5py.File(weights, "r") as store:
            counter = store.get("optimizer/vars/0")
            if not isinstance(counter, h5py.Dataset) or counter.shape != ():
                return None
            if counter.dtype.kind not in "iu":
                return None
            return int(counter[()])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compare_initial(model_json: Path, weights: Path, seed: int) -> tuple[str, str]:
    """Whether the child's saved initial weights are the ones Keras draws under `seed`.

    The child saved them right after seeding, from the first model `build(hp)` returned.
    A fresh build of the same architecture after the same seeding draws the same
    initializer seeds in the same order, so an honest build matches bit for bit.
    """
    import keras

    try:
        text = model_json.read_text(encoding="utf-8")
        keras.utils.set_random_seed(seed)
        fresh = rebuild(text)
        saved = rebuild(text)
        load_weights(saved, weights)
    except Exception as exc:
        return InitialWeights.UNCHECKED, f"not comparable ({_problem(exc)})"
    if len(fresh.weights) != len(saved.weights):
        return InitialWeights.UNCHECKED, "the saved initial weights do not fit the architecture"
    for drawn, given in zip(fresh.weights, saved.weights, strict=True):
        if not np.array_equal(np.asarray(drawn), np.asarray(given)):
            return InitialWeights.DIFFERENT, str(getattr(drawn, "path", drawn.name))
    return InitialWeights.SAME, ""


def _problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
