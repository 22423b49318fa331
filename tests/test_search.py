"""The bounded search: epoch clamp, time limits, restored callbacks, clean stop."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from grader.child import search
from grader.child.protocol import ProgressEvent, ProgressLine
from grader.results import TrialStatus


def _data(rows: int = 512) -> tuple:
    rng = np.random.default_rng(0)
    x = rng.random((rows, 784), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, rows), 10)
    return x, y, (x[:128], y[:128])


class SmallHyperModel(keras_tuner.HyperModel):
    """The exam's calling convention with a small network (the clamps don't care)."""

    def __init__(self, *, drop_callbacks: bool = False, sleep: float = 0.0) -> None:
        super().__init__()
        self.drop_callbacks = drop_callbacks
        self.sleep = sleep

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, "softmax")])
        lr = hp.Float("initial_learning_rate", min_value=0.01, max_value=0.1)
        model.compile(
            loss="categorical_crossentropy",
            optimizer=keras.optimizers.SGD(learning_rate=lr),
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        if self.sleep:
            kwargs["callbacks"].append(_SleepPerBatch(self.sleep))
        if self.drop_callbacks:
            kwargs["callbacks"] = [keras.callbacks.EarlyStopping(monitor="val_accuracy")]
        return M.fit(x, y, batch_size=64, epochs=100, validation_data=xy_val, **kwargs)


class _SleepPerBatch(keras.callbacks.Callback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        time.sleep(self.seconds)


def _run(tmp_path: Path, hypermodel: keras_tuner.HyperModel, **limits: float):
    values = {"max_trials": 2, "max_epochs": 2, "trial_seconds": 60, "submission_seconds": 120}
    values.update(limits)
    return search.run_search(
        hypermodel,
        _data(),
        search.TunerSetup(seed=23, objective="val_accuracy"),
        limits=search.SearchLimits(**values),
        folder=search.TunerFolder(tmp_path, "p"),
    )


def test_epochs_are_clamped_and_recorded(tmp_path: Path) -> None:
    tuner = _run(tmp_path, SmallHyperModel(), max_epochs=2)
    assert len(tuner.oracle.trials) == 2
    for log in tuner.trial_logs.values():
        assert log.epochs == 2
        assert [c.requested_epochs for c in log.fit_calls] == [100]
        assert [c.clamped_to for c in log.fit_calls] == [2]
        assert len(log.history["val_accuracy"]) == 2


def test_fit_is_restored_after_the_search(tmp_path: Path) -> None:
    original = keras.Model.fit
    _run(tmp_path, SmallHyperModel(), max_trials=1, max_epochs=1)
    assert keras.Model.fit is original


def test_dropped_tuner_callbacks_are_put_back(tmp_path: Path) -> None:
    tuner = _run(tmp_path, SmallHyperModel(drop_callbacks=True), max_epochs=1)
    calls = [c for log in tuner.trial_logs.values() for c in log.fit_calls]
    assert calls and all("SaveBestEpoch" in c.restored_callbacks for c in calls)
    # The best-epoch checkpoint ran, so keras-tuner can rebuild the best model.
    assert tuner.get_best_models(1)[0] is not None


def test_callbacks_passed_on_are_not_duplicated(tmp_path: Path) -> None:
    tuner = _run(tmp_path, SmallHyperModel(), max_epochs=1, max_trials=1)
    calls = [c for log in tuner.trial_logs.values() for c in log.fit_calls]
    assert calls and all(c.restored_callbacks == [] for c in calls)


def test_trial_time_limit_stops_training_cleanly(tmp_path: Path) -> None:
    tuner = _run(
        tmp_path, SmallHyperModel(sleep=0.05), max_trials=1, max_epochs=50, trial_seconds=0.5
    )
    ((trial_id, log),) = tuner.trial_logs.items()
    trial = tuner.oracle.trials[trial_id]
    assert search.trial_status(trial, log) is TrialStatus.STOPPED
    assert 1 <= log.epochs < 50
    # Validation still ran for the cut epoch, so the trial has a score that counts.
    assert trial.score is not None
    assert log.seconds < 10


def test_submission_deadline_stops_new_trials(tmp_path: Path) -> None:
    tuner = _run(
        tmp_path,
        SmallHyperModel(sleep=0.05),
        max_trials=5,
        max_epochs=50,
        trial_seconds=60,
        submission_seconds=1.0,
    )
    assert tuner.stopped_for_time
    assert len(tuner.oracle.trials) == 1
    (trial,) = tuner.oracle.trials.values()
    assert trial.score is not None


def test_same_seed_same_search(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", SmallHyperModel(), max_epochs=1)
    second = _run(tmp_path / "b", SmallHyperModel(), max_epochs=1)
    scores = [[t.score for t in tuner.oracle.trials.values()] for tuner in (first, second)]
    hps = [
        [t.hyperparameters.values for t in tuner.oracle.trials.values()]
        for tuner in (first, second)
    ]
    assert scores[0] == scores[1]
    assert hps[0] == hps[1]


@pytest.mark.parametrize("epochs_arg", ["positional", "missing"])
def test_clamp_handles_positional_and_default_epochs(tmp_path: Path, epochs_arg: str) -> None:
    log = search.TrialLog()
    model = SmallHyperModel().build(keras_tuner.HyperParameters())
    x, y, _ = _data(128)
    with search.guarded_fit(
        max_epochs=1, deadline=time.monotonic() + 60, tuner_callbacks=[], log=log
    ):
        if epochs_arg == "positional":
            model.fit(x, y, 64, 7)
        else:
            model.fit(x, y, batch_size=64)
    assert log.epochs == 1
    expected = 7 if epochs_arg == "positional" else 1
    assert log.fit_calls[0].requested_epochs == expected


def test_the_backend_trainers_fit_is_clamped_too(tmp_path: Path) -> None:
    # What keras.Model.fit resolves to; calling it directly skipped the guard before.
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    original = TensorFlowTrainer.__dict__["fit"]
    log = search.TrialLog()
    model = SmallHyperModel().build(keras_tuner.HyperParameters())
    x, y, _ = _data(128)
    with search.guarded_fit(
        max_epochs=1, deadline=time.monotonic() + 60, tuner_callbacks=[], log=log
    ):
        TensorFlowTrainer.fit(model, x, y, batch_size=64, epochs=7, verbose=0)
    assert log.epochs == 1
    assert [(c.requested_epochs, c.clamped_to) for c in log.fit_calls] == [(7, 1)]
    assert TensorFlowTrainer.__dict__["fit"] is original
    assert "fit" not in keras.Model.__dict__  # restored exactly: inherited, as before


def test_progress_lines_follow_the_search(tmp_path: Path) -> None:
    progress = tmp_path / "progress.jsonl"
    tuner = search.run_search(
        SmallHyperModel(),
        _data(),
        search.TunerSetup(seed=23, objective="val_accuracy"),
        limits=search.SearchLimits(max_trials=2, max_epochs=2, trial_seconds=60,
                                   submission_seconds=120),
        folder=search.TunerFolder(tmp_path / "tuner", "p", progress=progress),
    )  # fmt: skip
    lines = [ProgressLine.parse(raw) for raw in progress.read_bytes().splitlines()]
    assert all(line is not None for line in lines)
    shown = [(line.event.value, line.trial, line.epoch) for line in lines]
    assert shown == [
        ("trial_start", 1, 0), ("epoch_end", 1, 1), ("epoch_end", 1, 2), ("trial_end", 1, 2),
        ("trial_start", 2, 0), ("epoch_end", 2, 1), ("epoch_end", 2, 2), ("trial_end", 2, 2),
    ]  # fmt: skip
    assert all((line.trials, line.epochs) == (2, 2) for line in lines)
    scores = [t.score for t in tuner.oracle.trials.values()]
    ends = [line.val_accuracy for line in lines if line.event is ProgressEvent.TRIAL_END]
    assert ends == pytest.approx(scores)
    epoch_values = [line.val_accuracy for line in lines if line.event is ProgressEvent.EPOCH_END]
    assert all(v is not None and 0 <= v <= 1 for v in epoch_values)


def test_epoch_lines_stop_at_the_soft_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(search, "PROGRESS_SOFT_LIMIT", 300)
    writer = search.ProgressWriter(tmp_path / "p.jsonl", trials=1, epochs=1000)
    writer.write(ProgressEvent.TRIAL_START, 1)
    for epoch in range(1, 1001):
        writer.write(ProgressEvent.EPOCH_END, 1, epoch=epoch, value=float("nan"))
    writer.write(ProgressEvent.TRIAL_END, 1, epoch=1000, value=0.5)
    writer.close()
    lines = [ProgressLine.parse(raw) for raw in (tmp_path / "p.jsonl").read_bytes().splitlines()]
    assert (
        lines[0].event is ProgressEvent.TRIAL_START and lines[-1].event is ProgressEvent.TRIAL_END
    )
    assert 1 < len(lines) < 10 and lines[1].val_accuracy is None  # NaN is written as null


class KwargsEpochsHyperModel(SmallHyperModel):
    """A fit that takes `epochs` from keras-tuner when it gives one (Hyperband does)."""

    def fit(self, hp, M, x, y, xy_val=None, **kwargs):
        kwargs.setdefault("epochs", 100)
        validation = {} if xy_val is None else {"validation_data": xy_val}
        return M.fit(x, y, batch_size=64, **validation, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tuner_name", "tuner_class"),
    [("RandomSearch", keras_tuner.RandomSearch), ("Hyperband", keras_tuner.Hyperband)],
)
def test_random_search_and_hyperband_run_bounded_and_seeded(
    tmp_path: Path, tuner_name: str, tuner_class: type
) -> None:
    """Each tuner of [calling] runs under the same guard: clamped fits, progress lines,
    restored callbacks, a best model; seeded as the notebook (two runs, same trials)."""

    def once(folder: Path, validation: str) -> tuple:
        progress = folder / "progress.jsonl"
        folder.mkdir()
        tuner = search.run_search(
            KwargsEpochsHyperModel(),
            _data(),
            search.TunerSetup(seed=23, objective="val_loss", tuner=tuner_name, direction="min",
                              validation=validation),
            limits=search.SearchLimits(max_trials=2, max_epochs=2, trial_seconds=60,
                                       submission_seconds=120),
            folder=search.TunerFolder(folder / "tuner", "p", progress=progress),
        )  # fmt: skip
        return tuner, progress

    tuner, progress = once(tmp_path / "a", "validation_data")
    assert isinstance(tuner, tuner_class)
    assert tuner.oracle.objective.direction == "min"
    assert 1 <= len(tuner.oracle.trials) <= 2
    calls = [c for log in tuner.trial_logs.values() for c in log.fit_calls]
    assert calls and all(c.clamped_to in (None, 1, 2) for c in calls)
    assert all(log.epochs <= 2 for log in tuner.trial_logs.values())
    assert all("val_loss" in log.history for log in tuner.trial_logs.values())
    lines = [ProgressLine.parse(raw) for raw in progress.read_bytes().splitlines()]
    assert lines and all(line is not None for line in lines)
    assert lines[-1].event is ProgressEvent.TRIAL_END
    assert tuner.get_best_models(1)[0] is not None
    again, _ = once(tmp_path / "b", "validation_data")
    values = [t.hyperparameters.values for t in tuner.oracle.trials.values()]
    assert values == [t.hyperparameters.values for t in again.oracle.trials.values()]


def test_an_unknown_tuner_is_refused_in_the_child(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tuner 'GridSearch'"):
        search.make_tuner(
            SmallHyperModel(),
            search.TunerSetup(seed=23, objective="val_accuracy", tuner="GridSearch"),
            limits=search.SearchLimits(1, 1, 60, 120),
            folder=search.TunerFolder(tmp_path, "p"),
        )
