"""Trains for a million epochs through the backend trainer's own fit, past every guard.

The grader patches `keras.Model.fit` and the backend trainer's `fit` in the child; this
finds the unpatched function among the live objects (`gc`), so no Python patching can
catch it: no epoch clamp, no trial time limit inside the child. Only the parent stops it:
its own clock for the trial (progress.jsonl), or the hard limit for the whole child.
It behaves while the grader inspects it (the probe's fit records, never trains).
"""
import gc
import inspect

import keras
import keras_tuner


def _real_fit():
    # The child freezes its imports out of the collector's sight (gc.freeze): thaw them
    # first, as a student who read the grader would, so gc.get_objects() lists them again.
    gc.unfreeze()
    return next(
        f for f in gc.get_objects()
        if inspect.isfunction(f) and f.__name__ == "fit"
        and f.__code__.co_filename.endswith("backend/tensorflow/trainer.py")
    )


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, 10, end_learning_rate)
        opt = keras.optimizers.SGD(learning_rate=lr_schedule)
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    calls = 0

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        # The first call is the grader's inspection (the probe): behave, as a student who
        # read the grader would, and train forever only in the search.
        MyHyperModel.calls += 1
        fit = M.fit if MyHyperModel.calls == 1 else _real_fit().__get__(M)
        return fit(x, y, batch_size=256, epochs=10**6, validation_data=xy_val, **kwargs)
