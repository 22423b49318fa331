"""Training efficiency: the fit loop's achieved GFLOP/s against NumPy matmul, same shapes.

    .venv/bin/python bench/bench_efficiency.py [--epochs 2]

The exam's MLP (784 -> 800 -> 10, batch 256) does five matmuls per training step (two
forward, three backward: no gradient for the input). In one fresh process per setting,
back to back: NumPy (float32, its BLAS) times those five matmuls over one epoch's
batches (best of 3), then Keras times Model.fit over the same epoch after a warm-up
epoch (best of --epochs). Both
use the grader's environment (the child's threads, oneDNN on as TensorFlow's default),
and again with oneDNN off, to show what oneDNN buys. Goal: Keras / NumPy >= 0.7.
Only matmul FLOPs are counted, so the elementwise work counts against Keras.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BATCH, ROOT, Conditions, grader_env, machine, others_training, train_step_flops


def inner(epochs: int, trainval_dir: str, threads: int) -> dict[str, float]:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from grader import data

    split = data.load_train_val(
        Path(trainval_dir), validation_size=10000, num_classes=10, subset=None
    )
    n = len(split.x_train)
    sizes = [BATCH] * (n // BATCH) + ([n % BATCH] if n % BATCH else [])
    flops_epoch = sum(train_step_flops(b) for b in sizes)

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((784, 800), dtype=np.float32)
    w2 = rng.standard_normal((800, 10), dtype=np.float32)
    dy = rng.standard_normal((BATCH, 10), dtype=np.float32)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for start, b in zip(range(0, n, BATCH), sizes, strict=True):
            x = split.x_train[start : start + b]
            h = x @ w1
            _ = h @ w2
            g = dy[:b]
            _ = h.T @ g  # dW2
            dh = g @ w2.T  # dH
            _ = x.T @ dh  # dW1
        best = min(best, time.perf_counter() - t)
    numpy_gflops = flops_epoch / best / 1e9

    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # No op determinism: the grader's child has none (TRAINING_SETTINGS 3).
    keras.utils.set_random_seed(23)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(800, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.SGD(
            learning_rate=keras.optimizers.schedules.PolynomialDecay(0.3, 10, 0.29)
        ),
        metrics=["accuracy"],
    )
    fit = {"batch_size": BATCH, "verbose": 0}
    model.fit(split.x_train, split.y_train, epochs=1, **fit)  # warm-up: tracing, allocation
    # Best of `epochs` single-epoch fits, as NumPy's best of 3: on a shared machine the
    # fastest repeat is the one least disturbed by others.
    keras_epoch = keras_val_epoch = math.inf
    for _ in range(epochs):
        t = time.perf_counter()
        model.fit(split.x_train, split.y_train, epochs=1, **fit)
        keras_epoch = min(keras_epoch, time.perf_counter() - t)
        t = time.perf_counter()
        model.fit(
            split.x_train,
            split.y_train,
            epochs=1,
            validation_data=(split.x_val, split.y_val),
            **fit,
        )
        keras_val_epoch = min(keras_val_epoch, time.perf_counter() - t)
    return {
        "numpy_epoch_s": best,
        "numpy_gflops": numpy_gflops,
        "keras_epoch_s": keras_epoch,
        "keras_gflops": flops_epoch / keras_epoch / 1e9,
        "keras_with_validation_epoch_s": keras_val_epoch,
        "gflop_per_epoch": flops_epoch / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="Keras repeats (best of)")
    parser.add_argument("--inner", nargs=2, metavar=("TRAINVAL_DIR", "THREADS"))
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.epochs, args.inner[0], int(args.inner[1]))))
        return

    from common import settings

    run_settings, _ = settings("default")
    from grader import data

    trainval = str(data.trainval_dir(run_settings.cache))
    threads = run_settings.threads
    print(f"machine: {machine()}; grader children of others running: {others_training()}")
    for label, onednn in (("grader setting, oneDNN on", "1"), ("oneDNN off", "0")):
        with tempfile.TemporaryDirectory() as tmp:
            env = grader_env(Path(tmp) / "home", threads)
            env["TF_ENABLE_ONEDNN_OPTS"] = onednn
            command = [sys.executable, __file__, "--epochs", str(args.epochs)]
            done = subprocess.run(
                [*command, "--inner", trainval, str(threads)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{label} ({threads} threads): NumPy {r['numpy_gflops']:.1f} GFLOP/s "
            f"({r['numpy_epoch_s']:.2f} s/epoch), Keras fit {r['keras_gflops']:.1f} GFLOP/s "
            f"({r['keras_epoch_s']:.2f} s/epoch, {r['keras_with_validation_epoch_s']:.2f} s "
            f"with validation); ratio Keras/NumPy {r['keras_gflops'] / r['numpy_gflops']:.2f} "
            f"[{r['gflop_per_epoch']:.1f} GFLOP per epoch]"
        )


if __name__ == "__main__":
    if "--inner" in sys.argv:  # the measured process: its last line is the JSON
        main()
    else:
        with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
            main()
