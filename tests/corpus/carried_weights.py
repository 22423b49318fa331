"""Weights trained elsewhere, carried in the submission and loaded by build(hp).

A student who read the grader could train the exam's model at home for as long as they
like, paste its weights into the notebook (here a stand-in: literal numbers) and set them in
build(hp). Under the trusted path a declaration holds configs, never weights:
the trainer draws the initial weights from the seed as Keras does, so this trains exactly
as the reference does.
"""
import keras
import keras_tuner
import numpy as np

# The carried weights (a stand-in for ones trained at home: a literal the loader keeps).
CARRIED_BIAS = [0.31, -0.12, 0.05, 0.27, -0.33, 0.18, -0.07, 0.22, -0.25, 0.09]
CARRIED_SCALE = 0.5


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        M.layers[0].kernel.assign(M.layers[0].kernel * CARRIED_SCALE)
        M.layers[1].bias.assign(np.array(CARRIED_BIAS, dtype="float32"))
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
