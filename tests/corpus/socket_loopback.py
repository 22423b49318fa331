"""Connects to a listener the test opens on the host's loopback (port 47311); raises if it can."""
import socket

import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", 47311))
        except OSError:
            pass
        else:
            raise RuntimeError("LEAK: connected to the host")
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
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
