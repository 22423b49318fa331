"""assignments/fashion-mnist-cyclic-lr (seed 004): a CyclicLR callback in triangular2.

The spec, statements and EXPECTED.toml are checked against each other without training.
Its `grade validate` on a 1,000-image subset under `smoke` (tests/test_validate_shipped.py)
grades the reference and the four examples end to end: the reference gets full marks, each
example fails exactly its expected checks with its message, and the reference's report
draws the dry run's per-batch triangular2 curve over the expected one.
"""

from __future__ import annotations

import math
import re
import tomllib

import pytest

from grader import spec as spec_module
from grader.checks.params import present
from grader.fingerprint import spec_hash
from grader.validate import read_expected

FOLDER = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-cyclic-lr"
SUBSET = 1000
EXAMPLES = ("adam_clipvalue", "exp_range", "no_callback", "right")
# The report's colours for the student's curve and the expected one (grader/plots.py).
YOU, EXPECTED = "#0072b2", "#e69f00"


def _params(spec: spec_module.Spec, check: str) -> dict:
    return next(present(item.params) for item in spec.rubric if item.id == check)


def test_the_spec_states_the_seeds_exercise() -> None:
    spec = spec_module.load(FOLDER)
    assert spec.data.validation_size == 15000 and spec.data.split == "last"
    assert _params(spec, "schedule") == {"family": "CyclicLR", "rtol": 1e-3}
    fixed = _params(spec, "schedule_params")
    # step_size is 2 epochs of the training part at the fit's batch size.
    batch_size = _params(spec, "fit_config")["batch_size"]
    per_epoch = math.ceil((60000 - spec.data.validation_size) / batch_size)
    assert fixed["mode"] == "triangular2" and fixed["step_size"] == 2 * per_epoch == 352
    assert set(spec.budgets) == {"smoke", "default", "full"}
    assert all(b.source for b in spec.baselines)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_number_of_the_statement_is_the_specs(lang: str) -> None:
    spec = spec_module.load(FOLDER)
    text = (FOLDER / f"statement.{lang}.md").read_text(encoding="utf-8")
    declared = {
        name: (float(low), float(high))
        for name, low, high in re.findall(
            r'hp\.Float\("(\w+)", min_value=([\d.e-]+), max_value=([\d.e-]+)\)', text
        )
    }
    space = _params(spec, "search_space")["hyperparameters"]
    assert declared == {hp["name"]: (hp["min"], hp["max"]) for hp in space}
    fit = _params(spec, "fit_config")
    assert f"batch_size={fit['batch_size']}" in text and f"epochs={fit['epochs']}" in text
    fixed = _params(spec, "schedule_params")
    assert f"step_size={fixed['step_size']}" in text and f"mode='{fixed['mode']}'" in text
    assert "momentum=0.9" in text and "LeakyReLU(negative_slope=0.1)" in text


def test_expected_toml_covers_every_example() -> None:
    spec = spec_module.load(FOLDER)
    expected = read_expected(FOLDER / "examples" / "EXPECTED.toml", spec)
    assert sorted(expected) == sorted(p.stem for p in (FOLDER / "examples").glob("*.ipynb"))
    assert sorted(expected) == list(EXAMPLES)


def test_the_calibrations_are_the_specs() -> None:
    from grader import calibrate

    spec = spec_module.load(FOLDER)
    for budget in ("smoke", "default"):
        path = FOLDER / "calibration" / f"{budget}.json"
        if not path.exists():  # computed on a quiet machine: grade calibrate --budget ...
            pytest.skip(f"{path.relative_to(FOLDER)} not computed yet")
        stored = calibrate.load(path)
        assert stored is not None and stored.subset is None, budget
        # Calibrated with this reference, data and budget: not stale on any machine.
        assert stored.fingerprint["spec"] == spec_hash(spec, spec.budget(budget), None)
        assert len(stored.runs) == spec.budget(budget).calibration_seeds


def test_examples_expected_toml_is_valid_toml() -> None:
    text = (FOLDER / "examples" / "EXPECTED.toml").read_text(encoding="utf-8")
    assert set(tomllib.loads(text)) == set(EXAMPLES)
