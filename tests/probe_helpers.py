"""Student code for the probe and check tests: the exam's reference class and its variants.

`probe_source` runs a class in-process the way the worker does (compiled under a
"<cell N>" pseudo file name) and probes it; `probe_file` goes through
grader.submission so the checks also get locations. Records are cached per source:
several tests judge the same variant.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from grader.child.probe import ProbeSetup, run_probe

PRELUDE = "import keras\nimport keras_tuner\n"

# Section 3 of the exam (two long lines wrapped).
REFERENCE = """\
class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation='relu'))
        M.add(keras.layers.Dense(10, activation='softmax'))
        initial_learning_rate = hp.Float(
            "initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        decay_steps = 10
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, decay_steps, end_learning_rate)
        opt = keras.optimizers.SGD(learning_rate=lr_schedule)
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M
    def fit(self, hp, M, x, y, xy_val, **kwargs):
        patience = 10
        early_cb = keras.callbacks.EarlyStopping(
            monitor='val_accuracy', patience=2*patience, min_delta=0.0)
        kwargs['callbacks'].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
"""

SCHEDULE_LINES = """\
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, decay_steps, end_learning_rate)
"""

HAND_WRITTEN_POLY = '''\
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """PolynomialDecay with power 1, written by hand (no get_config)."""
    def __init__(self, initial, steps, end):
        self.initial, self.steps, self.end = initial, steps, end
    def __call__(self, step):
        t = keras.ops.minimum(keras.ops.cast(step, "float32"), self.steps) / self.steps
        return (self.initial - self.end) * (1 - t) + self.end
'''

STEP_DECAY = """\
import math
def step_decay(epoch):
    return 0.3 * math.pow(0.5, math.floor(epoch / 10))
"""


def variant(*pairs: tuple[str, str], source: str = REFERENCE, before: str = "") -> str:
    """The reference with each (old, new) replaced once; old must occur."""
    for old, new in pairs:
        assert old in source, f"not in the source: {old!r}"
        source = source.replace(old, new, 1)
    return before + source


VARIANTS: dict[str, str] = {
    "reference": REFERENCE,
    "adam": variant(
        (
            "keras.optimizers.SGD(learning_rate=lr_schedule)",
            "keras.optimizers.Adam(learning_rate=lr_schedule)",
        )
    ),
    "exponential": variant(
        (
            SCHEDULE_LINES,
            "        lr_schedule = keras.optimizers.schedules.ExponentialDecay(\n"
            "            initial_learning_rate, 100, 0.96)\n",
        )
    ),
    "hand_written": variant(
        ("keras.optimizers.schedules.PolynomialDecay(", "LinearDecay("), before=HAND_WRITTEN_POLY
    ),
    "lr_scheduler": variant(
        (
            "keras.optimizers.SGD(learning_rate=lr_schedule)",
            "keras.optimizers.SGD(learning_rate=0.3)",
        ),
        (
            "kwargs['callbacks'].append(early_cb)",
            "kwargs['callbacks'].append(early_cb)\n"
            "        kwargs['callbacks'].append(keras.callbacks.LearningRateScheduler(step_decay))",
        ),
        before=STEP_DECAY,
    ),
    "plateau": variant(
        (
            "keras.optimizers.SGD(learning_rate=lr_schedule)",
            "keras.optimizers.SGD(learning_rate=0.3)",
        ),
        (
            "kwargs['callbacks'].append(early_cb)",
            "kwargs['callbacks'].append(early_cb)\n"
            "        kwargs['callbacks'].append(keras.callbacks.ReduceLROnPlateau("
            "monitor='val_accuracy', factor=0.32, patience=5))",
        ),
    ),
    "keras2_lr": variant(
        (
            "keras.optimizers.SGD(learning_rate=lr_schedule)",
            "keras.optimizers.SGD(lr=0.1, decay=1e-4)",
        )
    ),
    "keras2_decay": variant(
        (
            "keras.optimizers.SGD(learning_rate=lr_schedule)",
            "keras.optimizers.SGD(learning_rate=0.1, decay=1e-4)",
        )
    ),
    "dropped_callbacks": variant(
        ("validation_data=xy_val, **kwargs)", "validation_data=xy_val, callbacks=[early_cb])")
    ),
    "wrong_fit": variant(
        ("batch_size=256", "batch_size=128"), ("monitor='val_accuracy'", "monitor='val_loss'")
    ),
    "validation_split": variant(
        ("validation_data=xy_val, **kwargs)", "validation_split=0.2, **kwargs)")
    ),
    "build_raises": variant(
        ("        decay_steps = 10\n", "        decay_steps = undefined_name\n")
    ),
    "misnamed": variant(("class MyHyperModel(", "class MyHypermodel(")),
    "wrong_base": variant(("class MyHyperModel(keras_tuner.HyperModel):", "class MyHyperModel:")),
    "bad_signature": variant(
        (
            "def fit(self, hp, M, x, y, xy_val, **kwargs):",
            "def fit(self, hp, M, x, y, xy_val, callbacks):",
        ),
        ("kwargs['callbacks'].append(early_cb)", "kwargs = {'callbacks': callbacks + [early_cb]}"),
    ),
    "wrong_ranges": variant(("max_value=0.3200", "max_value=0.4000")),
    "end_above_initial": variant(
        ("min_value=0.2800, max_value=0.2983", "min_value=0.2800, max_value=0.3300")
    ),
    "extra_hp": variant(
        ("        decay_steps = 10\n", '        decay_steps = hp.Int("decay_steps", 5, 20)\n')
    ),
    "wrong_architecture": variant(
        ("Dense(units=800, activation='relu')", "Dense(units=512, activation='sigmoid')")
    ),
    "wrong_loss_metrics": variant(
        ('loss="categorical_crossentropy"', 'loss="mse"'),
        ('metrics=["accuracy"]', 'metrics=["mae"]'),
    ),
    "decay_steps_20": variant(("        decay_steps = 10\n", "        decay_steps = 20\n")),
    "fit_raises": variant(("        patience = 10\n", "        patience = 10 / 0\n")),
}

_ROWS = 64
_rng = np.random.default_rng(0)
X = _rng.random((_ROWS, 784), dtype=np.float32)
Y = np.eye(10, dtype=np.float32)[_rng.integers(0, 10, _ROWS)]
XY_VAL = (X[:16].copy(), Y[:16].copy())
FIT_DATA = (X, Y, XY_VAL)


def namespace_for(source: str, *, cell: int = 4) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__student__"}
    exec(compile(PRELUDE, "<cell 1>", "exec"), namespace)
    exec(compile(source, f"<cell {cell}>", "exec"), namespace)
    return namespace


def probe_namespace(namespace: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The probe record of `namespace`; `overrides` are ProbeSetup's fields, `fit_data`,
    `seed` or `on_first_build`."""
    fit_data = overrides.pop("fit_data", FIT_DATA)
    extra = {k: overrides.pop(k) for k in ("seed", "on_first_build") if k in overrides}
    setup = {"class_name": "MyHyperModel", "steps_per_epoch": 196, "epochs": 100, **overrides}
    return run_probe(namespace, ProbeSetup(**setup), fit_data, **extra)


@functools.cache
def probe_source(source: str, cell: int = 4) -> dict[str, Any]:
    """The probe record of `source` run as notebook cell `cell` (cached)."""
    return probe_namespace(namespace_for(source, cell=cell))


def probe_file(source: str, directory: Path) -> tuple[Any, dict[str, Any]]:
    """(LoadedSubmission, probe record) of `source` saved as a .py file in `directory`."""
    from grader.child.worker import compile_chunk
    from grader.discover import SubmissionRef
    from grader.submission import load

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "student.py"
    path.write_text(PRELUDE + source, encoding="utf-8")
    loaded = load(SubmissionRef("student", path, "py"))
    namespace: dict[str, Any] = {"__name__": "__student__"}
    for chunk in loaded.chunks:
        exec(compile_chunk(chunk), namespace)
    return loaded, probe_namespace(namespace)
