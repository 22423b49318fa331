"""The grader's search is the exam notebook's search, to the last digit.

At a tiny budget (7 trials x 1 epoch on the whole split: with 2,000 images the numbers
agreed even while the child still turned on TensorFlow's op determinism, which a student's
notebook does not, and which changes trial 0's val_accuracy on the whole split; 7 trials,
because with two hyperparameters the first 6 are random and only the 7th is the Bayesian
oracle's, whose values are `numpy.float64`, which makes Keras' PolynomialDecay compute in
float64: a grader that lost that type trained the exam's Bayesian trials differently),
`grade_one` on the reference notebook (the child declares, the grader's trainer trains:
grader/training.py) and a plain run of that same notebook (its own
code, cell after cell, in a fresh Python with TensorFlow's defaults, the way a student
runs it; only max_trials, epochs, the tuner's folder and the subset substituted, as
bench/bench_peer.py rewrites it) must give the same trials, the same hyperparameters, the
same val_accuracy per trial and the same test accuracy. This is what makes a grade under
`--budget exam` the number the student's own notebook prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import data
from grader import spec as spec_module
from grader.calibrate import reference_ref
from grader.pipeline import grade_one
from grader.settings import RunSettings

pytestmark = pytest.mark.slow

SUBSET = None  # the whole split: see the module's docstring
ROOT = Path(__file__).resolve().parent.parent

_EPILOGUE = """
import json as _json
_trials = [
    {"hyperparameters": t.hyperparameters.values, "score": t.score}
    for _, t in sorted(tuner.oracle.trials.items())
]
_json.dump({"trials": _trials, "test_accuracy": float(score[1]),
            "oracle_seed": tuner.oracle.seed}, open(OUT, "w"))
"""


def notebook_program(
    notebook: Path, *, trials: int, epochs: int, subset: int | None, work: Path
) -> str:
    """The notebook's code cells as one program, with the budget's numbers substituted."""
    nb = nbformat.read(notebook, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    edits = {
        "max_trials=10": f"max_trials={trials}",
        "epochs=100": f"epochs={epochs}",
        'directory="/tmp"': f'directory="{work}"',
    }
    if subset is not None:
        edits["y_train = y_train_val[:-10000]; y_val = y_train_val[-10000:]"] = (
            "y_train = y_train_val[:-10000]; y_val = y_train_val[-10000:]\n"
            f"x_train, y_train = x_train[:{subset}], y_train[:{subset}]\n"
            f"x_val, y_val = x_val[:{subset}], y_val[:{subset}]"
        )
    for old, new in edits.items():
        assert old in code, f"the reference notebook no longer contains {old!r}"
        code = code.replace(old, new)
    return code + _EPILOGUE


def run_notebook(program: str, work: Path) -> dict:
    """A plain run: fresh Python, TensorFlow's defaults, Keras reading its own cache."""
    home = work / "home"
    target = home / ".keras" / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    source = data.locate()
    for name in data.FILE_NAMES:
        (target / name).symlink_to(source.directory / name)
    out = work / "notebook.json"
    script = work / "notebook.py"
    script.write_text(f"OUT = {str(out)!r}\n" + program, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KERAS_HOME": str(home / ".keras"),
        "MPLBACKEND": "Agg",
        "KERAS_BACKEND": "tensorflow",
    }
    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=work, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_grader_search_equals_notebook_search(tmp_path: Path) -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    smoke = spec.budget("smoke")
    assert smoke.max_epochs == 1
    budget = dataclasses.replace(smoke, max_trials=7, submission_seconds=7 * smoke.trial_seconds)
    cache = data.prepare(cache_dir=tmp_path / "cache")
    test = data.load_test(cache, num_classes=spec.num_classes)
    settings = RunSettings(spec=spec, budget=budget, cache=cache, lang="en", subset=SUBSET)
    ref = reference_ref(spec)
    result = grade_one(ref, settings, test)
    assert result.test_accuracy is not None, result.message
    # Through the trusted path: the trainer trained the reference's declarations.
    assert result.training == "grader"

    program = notebook_program(
        spec.reference,
        trials=budget.max_trials,
        epochs=budget.max_epochs,
        subset=SUBSET,
        work=tmp_path / "tuner",
    )
    plain = run_notebook(program, tmp_path)

    graded = [(t.hyperparameters, t.val_accuracy) for t in result.trials]
    notebook = [(t["hyperparameters"], t["score"]) for t in plain["trials"]]
    assert len(graded) == 7
    assert graded == notebook
    # Keras' evaluate averages in float32; both are a count of right answers over 10,000.
    assert round(result.test_accuracy * 10000) == round(plain["test_accuracy"] * 10000)
