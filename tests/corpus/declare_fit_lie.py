"""Shows the probe the exam's fit, and declares another one to the grader's trainer.

A student who read the grader looks for `grader.child.declare` on the stack: the probe
sees batch_size=256, EarlyStopping(val_accuracy, patience 20) and the tuner's callbacks
passed on; the declaration says batch_size=128, patience 1 and drops the tuner's
callbacks. What the trainer trains is the declaration, and fit_config and
callbacks_passthrough judge it, not the probe's record.
"""
import inspect

import keras
import keras_tuner


def _declaring():
    return any("grader/child/declare" in frame.filename for frame in inspect.stack())


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
        M.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=lr_schedule),
                  metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        if _declaring():
            kwargs.pop("callbacks", None)
            early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
            return M.fit(x, y, batch_size=128, epochs=100, validation_data=xy_val,
                         callbacks=[early_cb], **kwargs)
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
