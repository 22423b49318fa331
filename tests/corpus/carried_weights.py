"""Weights trained elsewhere, carried in the submission and loaded by build(hp).

A student who read the grader could train the exam's model at home for as long as they
like, paste its weights into the notebook (here a stand-in: a fixed pattern, base64) and
set them in build(hp). Under the trusted path a declaration holds configs, never weights:
the trainer draws the initial weights from the seed as Keras does, so this trains exactly
as the reference does.
"""
import base64
import io

import keras
import keras_tuner
import numpy as np

_rng = np.random.default_rng(11)
_buffer = io.BytesIO()
np.save(_buffer, _rng.normal(0.0, 0.05, (784, 800)).astype("float32"))
CARRIED = base64.b64encode(_buffer.getvalue()).decode("ascii")


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        kernel = np.load(io.BytesIO(base64.b64decode(CARRIED)))
        M.layers[0].kernel.assign(kernel)
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
