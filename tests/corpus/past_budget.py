"""Trains past the budget by calling the Keras fit it saved before the grader's clamp.

`keras.Model.fit` is captured when the class is defined, before the search guards it, so the
grader's epoch clamp never sees the call. Only the optimizer's step counter, saved with
the best model's weights, tells: the `accuracy` check fails with the steps and the budget.
"""
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    REAL_FIT = keras.Model.fit  # a class attribute: the class body runs, unlike module code

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

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return MyHyperModel.REAL_FIT(M, x, y, batch_size=256, epochs=20, validation_data=xy_val, **kwargs)
