"""Evaluate the best model on the test set, for the trusted parent, without student code.

The child leaves the architecture (`best_model.json`) and the weights (`best.weights.h5`)
in its scratch folder; everything there is hostile (grader/boundary/door.py). `evaluate_best`:

1. reads the architecture as data (grader/architecture.py) and measures it: over the
   spec's ceilings (`[limits]` eval_max_params, eval_max_macs) the submission ends as
   `resource_limit` with the figure, before anything is built;
2. copies the files through `copy_child_file` (no links, bounded) into the evaluator's
   folder, and has the evaluator process (grader/evaluator.py) rebuild the model in
   Keras' safe mode, predict the test images and read the optimizer's step counter,
   under a time and a memory limit;
3. computes accuracy and cross-entropy itself with NumPy.

Student code never computes a test prediction. A model that is not plain Keras (a
custom layer, a function) is not rebuilt: its accuracy goes to the instructor for review
(`Review`), as does one with no step counter or whose initial weights are not the ones
Keras draws under the run's seed (weights smuggled in through `build`). A model trained
past the budget's steps is a fact the `accuracy` check fails on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from grader import i18n
from grader.architecture import Architecture, describe, read_architecture
from grader.archive import read_member
from grader.boundary import copy_child_file, open_child_file, read_child_file
from grader.data import TestSet
from grader.errors import SubmissionError
from grader.evaluator import Evaluator, InitialWeights, ModelFiles
from grader.limits import Limits

_EPSILON = 1e-7  # Keras' backend epsilon, as categorical_crossentropy clips
JSON_LIMIT = 16 * 1024 * 1024
CONFIG_LIMIT = 4 * 1024 * 1024
MODEL_JSON, WEIGHTS = "best_model.json", "best.weights.h5"
INITIAL_JSON, INITIAL_WEIGHTS = "initial_model.json", "initial.weights.h5"

# The [evaluate] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("evaluate")


class Review(StrEnum):
    """Why the test accuracy cannot be given automatically: the instructor decides."""

    NOT_STANDARD = "not_standard"  # not plain Keras: the grader does not rebuild it
    NOT_REBUILDABLE = "not_rebuildable"  # plain Keras on paper, but safe mode refused it
    NO_COUNTER = "no_counter"  # no optimizer step counter saved with the weights, or 0
    INITIAL_WEIGHTS = "initial_weights"  # build(hp) returned weights Keras did not draw


@dataclass(frozen=True)
class Evaluation:
    """The parent's evaluation of the best model; `test_accuracy` None when not tested."""

    test_accuracy: float | None
    test_loss: float | None
    samples: int
    params: int | None = None  # of the best model, from its architecture
    macs: int | None = None  # multiply-adds per image
    steps: int | None = None  # optimizer steps saved with the weights (None: unknown)
    step_budget: int | None = None  # max_epochs * ceil(train_size / batch_size)
    reviews: tuple[Review, ...] = ()
    detail: str = ""  # what the instructor should know about the reviews

    @property
    def over_budget(self) -> bool:
        return (
            self.steps is not None
            and self.step_budget is not None
            and (self.steps > self.step_budget)
        )


def step_budget(max_epochs: int, train_size: int, batch_size: int) -> int:
    """Optimizer steps the budget allows one training run: epochs x batches per epoch."""
    return max_epochs * math.ceil(train_size / batch_size)


def scores(
    probabilities: np.ndarray,
    y_test: np.ndarray,
    lang: str = "en",
    *,
    labels: str = "one_hot",
    num_classes: int | None = None,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of predicted probabilities, as Keras' metrics compute them.

    `labels` is how y_test encodes the truth (grader/dataspec.py): "one_hot" rows against
    a softmax (categorical cross-entropy), "integer" class indices against a softmax of
    `num_classes` units (sparse categorical cross-entropy), "binary" 0/1 against one
    sigmoid unit (binary accuracy at > 0.5, binary cross-entropy).
    """
    n = len(y_test)
    if labels == "one_hot":
        needed: tuple[int, ...] = (n, *y_test.shape[1:])
    elif labels == "integer":
        needed = (n, int(num_classes or int(y_test.max()) + 1))
    else:
        needed = (n, 1)
    if probabilities.shape != needed:
        raise SubmissionError(_say("shape", lang, found=probabilities.shape[1:], needed=needed[1:]))
    if probabilities.dtype.kind != "f":
        raise SubmissionError(_say("not_numbers", lang))
    # NaN is kept: a diverged training predicts NaN, scores as chance and reports a NaN loss.
    p = np.clip(probabilities.astype(np.float64), _EPSILON, 1.0 - _EPSILON)
    if labels == "binary":
        truth = np.asarray(y_test, dtype=np.float64).reshape(n)
        q = p[:, 0]
        accuracy = float(np.mean((probabilities[:, 0] > 0.5) == (truth > 0.5)))
        loss = float(np.mean(-(truth * np.log(q) + (1.0 - truth) * np.log(1.0 - q))))
        return accuracy, loss
    classes = y_test.astype(np.int64) if labels == "integer" else np.argmax(y_test, 1)
    accuracy = float(np.mean(np.argmax(probabilities, 1) == classes))
    p = p / p.sum(axis=1, keepdims=True)
    if labels == "integer":
        loss = float(np.mean(-np.log(p[np.arange(n), classes])))
    else:
        loss = float(np.mean(-np.sum(y_test * np.log(p), axis=1)))
    return accuracy, loss


def measure(
    scratch: Path, name: str, limits: Limits, lang: str, images: tuple[int, ...]
) -> tuple[bytes, Architecture]:
    """The child's architecture file, read as data and within the spec's ceilings.

    `images`: the shape of one test image, which the shapes are computed from.
    """
    text = read_child_file(scratch, name, limit=JSON_LIMIT)
    architecture = read_architecture(text, images=images, lang=lang)
    within_ceilings(architecture, limits, lang)
    return text, architecture


def within_ceilings(
    architecture: Architecture, limits: Limits, lang: str, *, declared: bool = False
) -> None:
    """`SubmissionError` (resource_limit, with the figure) when the model passes the spec's
    parameter or multiply-add ceiling: the fallback's best model, or (`declared`) a model
    a submission declared, which the trainer then never builds."""
    for key, found, limit in (
        ("params", architecture.params, limits.eval_max_params),
        ("macs", architecture.macs, limits.eval_max_macs),
    ):
        if found > limit:
            text = f"declared_{key}" if declared else key
            message = _say(text, lang, found=describe(found), limit=describe(limit))
            raise SubmissionError(message, status="resource_limit")


@dataclass(frozen=True)
class Bounds:
    """What a fallback's best model may be: the spec's ceilings and file caps (`limits`)
    and the optimizer steps the budget allows one training (`budget_steps`: `step_budget`)."""

    limits: Limits
    budget_steps: int


def evaluate_best(
    scratch: Path,
    test: TestSet,
    evaluator: Evaluator,
    bounds: Bounds,
    *,
    seed: int,
    lang: str = "en",
) -> Evaluation:
    """Evaluate the child's best model; `SubmissionError` ends the submission (its status)."""
    x_test, y_test, limits = test.x_test, test.y_test, bounds.limits
    try:
        text, architecture = measure(scratch, MODEL_JSON, limits, lang, x_test.shape[1:])
    except FileNotFoundError as exc:
        raise SubmissionError(
            _say("unreadable", lang, detail=_say("missing_file", lang, name=MODEL_JSON))
        ) from exc
    folder = evaluator.request_folder()
    try:
        # Keras picks its loader by the name: only `.weights.h5` reads the Keras 3 layout.
        files = ModelFiles(folder / "model.json", folder / "model.weights.h5")
        files.model_json.write_bytes(text)
        try:
            copy_child_file(scratch, WEIGHTS, files.weights, limit=_weights_cap(architecture))
        except FileNotFoundError as exc:
            raise SubmissionError(
                _say("unreadable", lang, detail=_say("missing_file", lang, name=WEIGHTS))
            ) from exc
        initial = (
            _initial(scratch, folder, limits, lang, x_test.shape[1:])
            if architecture.standard
            else None
        )
        return _evaluate_copies(
            files,
            architecture,
            initial,
            x_test,
            y_test,
            evaluator,
            limits,
            seed,
            bounds.budget_steps,
            lang,
            (test.labels, test.num_classes),
        )
    finally:
        # The evaluator's folder lives as long as the batch: each request's copies go now.
        shutil.rmtree(folder, ignore_errors=True)


def _evaluate_copies(
    files: ModelFiles,
    architecture: Architecture,
    initial: ModelFiles | None,
    x_test: np.ndarray,
    y_test: np.ndarray,
    evaluator: Evaluator,
    limits: Limits,
    seed: int,
    budget_steps: int,
    lang: str,
    encoding: tuple[str, int | None] = ("one_hot", None),
) -> Evaluation:
    base = {
        "params": architecture.params,
        "macs": architecture.macs,
        "step_budget": budget_steps,
    }
    if not architecture.standard:
        # Not rebuilt at all; the step counter is still read, as data, from the weights.
        try:
            steps = _call(evaluator, files, None, limits, seed, None, lang).iterations
        except _NotRebuilt:
            steps = None
        return Evaluation(
            None,
            None,
            0,
            steps=steps,
            reviews=(Review.NOT_STANDARD,),
            detail="; ".join(architecture.problems),
            **base,
        )
    try:
        prediction = _call(evaluator, files, x_test, limits, seed, initial, lang)
    except _NotRebuilt as exc:
        return Evaluation(
            None, None, 0, reviews=(Review.NOT_REBUILDABLE,), detail=exc.message, **base
        )
    labels, num_classes = encoding
    accuracy, loss = scores(
        prediction.probabilities, y_test, lang, labels=labels, num_classes=num_classes
    )
    reviews: list[Review] = []
    details: list[str] = []
    if not prediction.iterations:
        # A model that finished a trial took at least one step: a counter at 0 was reset
        # (or the weights saved from another model), which proves nothing either.
        reviews.append(Review.NO_COUNTER)
    if prediction.initial_weights == InitialWeights.DIFFERENT:
        reviews.append(Review.INITIAL_WEIGHTS)
        details.append(_say("first_differing_weight", lang, weight=prediction.initial_detail))
    return Evaluation(
        accuracy,
        loss,
        len(y_test),
        steps=prediction.iterations,
        reviews=tuple(reviews),
        detail="; ".join(details),
        **base,
    )


class _NotRebuilt(SubmissionError):
    """The evaluator's safe mode refused a model the architecture reader accepted."""


def _call(
    evaluator: Evaluator,
    files: ModelFiles,
    images: np.ndarray | None,
    limits: Limits,
    seed: int,
    initial: ModelFiles | None,
    lang: str,
) -> Any:
    from grader.evaluator import EvaluatorLimit

    try:
        return evaluator.predict(
            files, images, seconds=float(limits.eval_seconds), seed=seed, initial=initial
        )
    except EvaluatorLimit as exc:
        raise SubmissionError(
            _say("evaluator_limit", lang, detail=exc.message), status="resource_limit"
        ) from None
    except SubmissionError as exc:
        raise _NotRebuilt(exc.message) from None


def _initial(
    scratch: Path, folder: Path, limits: Limits, lang: str, images: tuple[int, ...]
) -> ModelFiles | None:
    """The parent's copies of the child's initial model, when there is a usable one."""
    try:
        text, architecture = measure(scratch, INITIAL_JSON, limits, lang, images)
        if not architecture.standard:
            return None
        files = ModelFiles(folder / "initial.json", folder / "initial.weights.h5")
        files.model_json.write_bytes(text)
        copy_child_file(scratch, INITIAL_WEIGHTS, files.weights, limit=_weights_cap(architecture))
    except (FileNotFoundError, SubmissionError):
        # Missing or refused: there is nothing trustworthy to compare, which costs the
        # comparison only; the best model's own evaluation goes on.
        return None
    return files


def _weights_cap(architecture: Architecture) -> int:
    # float64 weights plus two optimizer slots each (momentum, Adam), and HDF5's overhead.
    return architecture.params * 8 * 3 + 16 * 1024 * 1024


def _say(key: str, lang: str, **fields: Any) -> str:
    texts = MESSAGES[key]
    return (texts.get(lang) or texts["en"]).format(**fields)


def saved_optimizer(scratch: Path, name: str = "best.keras") -> dict | None:
    """The optimizer config stored in the child's .keras file, read as JSON data.

    A .keras file is a zip whose config.json holds `compile_config.optimizer`; reading
    it this way cannot run any of the student's code. The file is opened through
    grader/boundary/door.py (no link, regular file only) and only config.json is read.
    """
    try:
        fd, _ = open_child_file(scratch, name, limit=2**40)
    except (FileNotFoundError, SubmissionError, OSError):
        return None
    try:
        with os.fdopen(fd, "rb") as handle:  # capped before zipfile reads (grader/archive.py)
            config = json.loads(read_member(handle, "config.json", limit=CONFIG_LIMIT).decode())
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile):
        return None
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    optimizer = compile_config.get("optimizer") if isinstance(compile_config, dict) else None
    return optimizer if isinstance(optimizer, dict) else None
