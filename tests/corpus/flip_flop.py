"""Declares Adam and SGD by turns, hoping the best model's rebuild shows SGD.

keras-tuner builds the best model again after the search to load its best epoch. A child
that answers differently each time could train its best trial with Adam and show SGD when
the best model is rebuilt. What is judged is the declaration the best trial trained, and
the report says the child declared two things for the same values.
"""
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    calls = 0

    def build(self, hp):
        MyHyperModel.calls += 1
        optimizer_class = keras.optimizers.Adam if MyHyperModel.calls % 2 else keras.optimizers.SGD
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, 10, end_learning_rate)
        M.compile(loss="categorical_crossentropy", optimizer=optimizer_class(learning_rate=lr_schedule),
                  metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
