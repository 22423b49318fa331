"""The trainer's answers as typed messages (grader/trainer/wire.py): what server.py writes,
evaluator.py and training.py read back, and training.SearchStore keeps."""

from __future__ import annotations

import json

from grader.trainer.wire import (
    InitialWeights,
    PredictAnswer,
    SearchAnswer,
    SearchBest,
    SearchTrial,
    TrainerStatus,
)

TRIAL = {
    "id": "00",
    "hyperparameters": {"lr": 0.01},
    "score": 0.81,
    "epochs": 2,
    "seconds": 3.5,
    "status": "completed",
    "history": {"loss": [0.9, None], "val_accuracy": [0.7, 0.81]},
    "message": "",
    "fit_calls": [
        {
            "requested_epochs": 100,
            "clamped_to": 2,
            "restored_callbacks": [],
            "stopped_by_time": False,
        }
    ],
    "declaration": "abc",
}


def test_a_search_answer_round_trips_through_json() -> None:
    answer = SearchAnswer(
        TrainerStatus.OK,
        trials=(SearchTrial.from_json(TRIAL),),
        best=SearchBest("00", {"lr": 0.01}, 0.81, "abc"),
        notes=("epochs_clamped",),
        predictions="/tmp/x/predictions.npy",
    )
    again = SearchAnswer.from_json(json.loads(json.dumps(answer.to_json())))
    assert again == answer
    assert again.trials[0].to_json() == TRIAL


def test_a_search_answer_stored_before_the_types_still_reads() -> None:
    # What SearchStore kept when the reply was a dict: no message, no detail.
    stored = {"status": "ok", "trials": [TRIAL], "best": None, "notes": [], "predictions": None}
    answer = SearchAnswer.from_json(stored)
    assert answer.best is None and answer.trials[0].declaration == "abc"
    assert (
        SearchAnswer.from_json({"status": "aborted", "message": "x" * 5000}).message == "x" * 2000
    )


def test_a_predict_answer_keeps_only_what_the_parent_reads() -> None:
    assert PredictAnswer.from_json({"status": "error"}).message == "the evaluator failed"
    odd = PredictAnswer.from_json({"status": "ok", "iterations": True, "initial_detail": "d" * 900})
    assert odd.iterations is None and len(odd.initial_detail) == 500
    assert odd.initial_weights == InitialWeights.UNCHECKED
    answer = PredictAnswer(TrainerStatus.OK, predictions="/p.npy", iterations=12)
    assert PredictAnswer.from_json(answer.to_json()) == answer
