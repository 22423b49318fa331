"""A schedule of its own that tells the probe one curve and trains with another.

While the grader's probe is on the stack it is the exam's PolynomialDecay; anywhere else
(the declaration's table, training) it is ten times larger. The trusted path trains the
declared table, and the schedule check compares that table, declared at the default
values, with what the probe sampled at the same values: they disagree, and the check
says so with both.
"""
import inspect

import keras
import keras_tuner


def _probed():
    return any("grader/child/probe" in frame.filename for frame in inspect.stack())


class Sneaky(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial, end):
        self.honest = keras.optimizers.schedules.PolynomialDecay(initial, 10, end)
        self.initial, self.end = initial, end

    def __call__(self, step):
        value = self.honest(step)
        return value if _probed() else value * 10.0

    def get_config(self):
        return {"initial": self.initial, "end": self.end}


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        opt = keras.optimizers.SGD(learning_rate=Sneaky(initial_learning_rate, end_learning_rate))
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
