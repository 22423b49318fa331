"""A build(hp) that returns pre-set weights (how memorised weights would be smuggled in).

The weights here are a fixed pattern, not test-set knowledge, but the grader cannot tell
the two apart: the model's initial weights are not the ones Keras draws under the grading
seed, so the `accuracy` check goes to the instructor for review.
"""
import keras
import keras_tuner
import numpy as np


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        pattern = np.random.default_rng(7).normal(0.0, 0.05, (784, 800)).astype("float32")
        M.layers[0].kernel.assign(pattern)
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, 10, end_learning_rate)
        opt = keras.optimizers.SGD(learning_rate=lr_schedule)
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
