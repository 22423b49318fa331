"""Writes outside its scratch folder; raises if any write lands."""
import os
import sys

import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        import grader
        targets = [os.path.join(os.path.dirname(grader.__file__), "pwned.txt"),
                   os.path.join(sys.prefix, "pwned.txt"), "/usr/pwned.txt", "/etc/pwned.txt",
                   os.path.join(os.path.dirname(os.getcwd()), "pwned.txt")]
        for target in targets:
            try:
                with open(target, "w") as f:
                    f.write("pwned")
            except OSError:
                continue
            raise RuntimeError(f"LEAK: wrote {target}")
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
