"""Pure training, the baseline the grader's overhead is measured against.

`python bench/train_only.py PLAN.json` trains the reference's model (the exam's MLP with
SGD and PolynomialDecay) for the given trials' hyperparameters and epochs on the same
split, with the grader's seed and thread settings, and no grader, tuner, probe or
sandbox around it. It prints JSON: the seconds spent in Model.fit (summed over trials)
and in the whole process (imports and data included).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

START = time.monotonic()


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    import keras
    import tensorflow as tf

    sys.path.insert(0, plan["root"])
    from grader import data

    tf.config.threading.set_intra_op_parallelism_threads(plan["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # No op determinism: the grader's child has none (TRAINING_SETTINGS 3).
    keras.utils.set_random_seed(plan["seed"])
    split = data.load_train_val(
        Path(plan["trainval_dir"]), validation_size=10000, num_classes=10, subset=None
    )
    fit_seconds = 0.0
    for trial in plan["trials"]:
        hp = trial["hyperparameters"]
        model = keras.Sequential(
            [
                keras.Input(shape=(784,)),
                keras.layers.Dense(800, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        schedule = keras.optimizers.schedules.PolynomialDecay(
            hp["initial_learning_rate"], 10, hp["end_learning_rate"]
        )
        model.compile(
            loss="categorical_crossentropy",
            optimizer=keras.optimizers.SGD(learning_rate=schedule),
            metrics=["accuracy"],
        )
        t = time.monotonic()
        model.fit(
            split.x_train,
            split.y_train,
            batch_size=256,
            epochs=trial["epochs"],
            validation_data=(split.x_val, split.y_val),
            verbose=0,
        )
        fit_seconds += time.monotonic() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "fit_seconds": fit_seconds,
                "process_seconds": time.monotonic() - START,
                "peak_rss_mib": peak,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
