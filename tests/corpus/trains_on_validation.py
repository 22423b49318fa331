"""Trains on the validation data it receives and validates on it too: same shapes as the
training data in the probe, other content; fit_config must fail."""
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
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
        x_val, y_val = xy_val
        return M.fit(x_val, y_val, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
