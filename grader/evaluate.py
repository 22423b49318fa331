"""Evaluate the best model on the test set, in the trusted parent.

The child hands over the architecture (JSON) and the weights; the parent rebuilds the
model in Keras' safe mode (no custom objects, no lambdas), predicts the test images
and computes accuracy and cross-entropy itself with NumPy. Nothing the student wrote
(`compile`, `evaluate`, metrics) takes part, so none of it can change the grade.
"""

from __future__ import annotations

import os
import warnings
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
