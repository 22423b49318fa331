"""Tries to read the test labels; raises if it can."""
import glob
import os

import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        patterns = ["/usr/share/datasets/fashion-mnist/t10k-*", "/root/.cache/grader/*/test/*",
                    os.path.expanduser("~/.cache/grader/*/test/*"), "/root/.keras/datasets/*/t10k*",
                    "/tmp/*/*/test/*", "/tmp/*/test/*"]
        found = [path for pattern in patterns for path in glob.glob(pattern)]
        for top in ("/usr/share/datasets", "/root", "/work", "/tmp", "/home"):
            for folder, _, files in os.walk(top):
                found += [os.path.join(folder, f) for f in files
                          if f.startswith("t10k")
                          or (os.path.basename(folder) == "test" and f.endswith(".npy"))]
        for path in found:
            try:
                with open(path, "rb") as f:
                    f.read(16)
            except OSError:
                continue
            raise RuntimeError(f"LEAK: read {path}")
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
