"""Evaluate the best model on the test set, in the trusted parent.

The child hands over the architecture (JSON) and the weights; the parent rebuilds the
model in Keras' safe mode (no custom objects, no lambdas), predicts the test images
and computes accuracy and cross-entropy itself with NumPy. Nothing the student wrote
(`compile`, `evaluate`, metrics) takes part, so none of it can change the grade.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import SubmissionError

_EPSILON = 1e-7  # Keras' backend epsilon, as categorical_crossentropy clips


@dataclass(frozen=True)
class Evaluation:
    test_accuracy: float
    test_loss: float
    samples: int


def scores(probabilities: np.ndarray, y_onehot: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean categorical cross-entropy) of predicted probabilities."""
    if probabilities.shape != y_onehot.shape:
        raise SubmissionError(
            f"the model predicts shape {probabilities.shape[1:]} per image; "
            f"the test set needs {y_onehot.shape[1:]} (one probability per class)"
        )
    accuracy = float(np.mean(np.argmax(probabilities, 1) == np.argmax(y_onehot, 1)))
    p = np.clip(probabilities.astype(np.float64), _EPSILON, 1.0 - _EPSILON)
    p = p / p.sum(axis=1, keepdims=True)
    loss = float(np.mean(-np.sum(y_onehot * np.log(p), axis=1)))
    return accuracy, loss


def evaluate(model_json: Path, weights: Path, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    # TensorFlow's start-up chatter would bury the batch's progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    try:
        model = keras.models.model_from_json(model_json.read_text(encoding="utf-8"))
        with warnings.catch_warnings():
            # The weights file also holds the student's optimizer state, which the
            # uncompiled model does not need; Keras warns that it skips it.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(weights))
    except Exception as exc:
        raise SubmissionError(
            "the best model could not be rebuilt safely from its architecture and weights "
            f"({type(exc).__name__}: {str(exc)[:300]}); use standard Keras layers only",
        ) from exc
    probabilities = np.asarray(model.predict(x_test, batch_size=1000, verbose=0))
    accuracy, loss = scores(probabilities, y_test)
    return Evaluation(accuracy, loss, len(x_test))


def scores_from_file(predictions: Path, y_test: np.ndarray) -> Evaluation:
    """Score probabilities a sandboxed child computed: read as data, never unpickled."""
    try:
        probabilities = np.load(predictions, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"the model's predictions could not be read ({exc})") from exc
    if probabilities.dtype.kind != "f" or not np.all(np.isfinite(probabilities)):
        raise SubmissionError("the model's predictions are not finite numbers (NaN or inf)")
    accuracy, loss = scores(probabilities, y_test)
    return Evaluation(accuracy, loss, len(y_test))


def saved_optimizer(model_file: Path, limit: int = 4 * 1024 * 1024) -> dict | None:
    """The optimizer config stored in a .keras file, read as JSON data (nothing is built).

    A .keras file is a zip whose config.json holds `compile_config.optimizer`; reading
    it this way cannot run any of the student's code.
    """
    try:
        with zipfile.ZipFile(model_file) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > limit:
                return None
            config = json.loads(archive.read(info).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    optimizer = compile_config.get("optimizer") if isinstance(compile_config, dict) else None
    return optimizer if isinstance(optimizer, dict) else None
