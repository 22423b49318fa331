"""assignments/fashion-mnist-cyclic-lr (seed 004): a CyclicLR callback in triangular2.

The spec, statements and EXPECTED.toml are checked against each other without training.
One `grade validate` on a 1,000-image subset under `smoke` (module-scoped: every slow
assertion reads it) grades the reference and the four examples end to end: the reference
gets full marks, each example fails exactly its expected checks with its message, and the
reference's report draws the dry run's per-batch triangular2 curve over the expected one.
"""

from __future__ import annotations

import math
import re
import tomllib

import pytest
from validate_helpers import assert_valid_on_subset

from grader import report
from grader import spec as spec_module
from grader import validate as validate_module
from grader.batch import BatchOptions
from grader.checks.params import present
from grader.child.simulate import DRY_RUN_MAX_EPOCHS
from grader.fingerprint import spec_hash
from grader.results import CheckStatus
from grader.settings import Source
from grader.validate import read_expected, validate

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


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> validate_module.Validation:
    out = tmp_path_factory.mktemp("validate")
    source = Source(FOLDER, lang="en", cache_dir=tmp_path_factory.mktemp("cache"))
    return validate(source, out=out, subset=SUBSET, batch=BatchOptions(echo=lambda _line: None))


@pytest.mark.slow
def test_the_reference_and_every_example_get_their_verdicts(validated) -> None:
    assert_valid_on_subset(validated, EXAMPLES)


def _failed(result: dict) -> dict[str, str]:
    return {
        c["id"]: c["message"] for c in result["checks"] if c["status"] == CheckStatus.FAILED.value
    }


@pytest.mark.slow
def test_each_example_fails_exactly_its_checks_with_a_precise_message(validated) -> None:
    results = {e: report.read_result(validated.out / e / report.RESULT_FILE) for e in EXAMPLES}
    failed = {e: _failed(r.to_dict()) for e, r in results.items()}
    failed = {e: {k: v for k, v in f.items() if k != "accuracy"} for e, f in failed.items()}
    assert {e: sorted(f) for e, f in failed.items()} == {
        "adam_clipvalue": ["optimizer"],
        "exp_range": ["schedule_params"],
        "no_callback": ["schedule", "schedule_params"],
        "right": [],
    }
    assert failed["adam_clipvalue"]["optimizer"] == (
        "The optimizer is Adam(clipvalue=1.0); expected keras.optimizers.SGD."
    )
    # The policy, recovered from the dry run, against the one asked.
    exp_range = failed["exp_range"]["schedule_params"]
    assert exp_range.startswith("CyclicLR with mode='exp_range', step_size=352; expected ")
    assert exp_range.endswith("mode='triangular2', step_size=352.")
    assert (
        "No callback passed to fit changes the optimizer's learning rate (callbacks: [])"
        in (failed["no_callback"]["schedule"])
    )


@pytest.mark.slow
def test_the_trained_rates_are_compared_with_the_simulation(validated) -> None:
    # The grader trained the reference (its CyclicLR only sets the rate: declared as a table
    # per batch), so no rate was saved by the child: the table it declared at the default
    # values is compared with the probe's dry run at the same values, batch by batch.
    result = report.read_result(validated.out / "reference" / report.RESULT_FILE)
    assert result.training == "grader"
    schedule = next(c for c in result.checks if c.id == "schedule")
    assert "which are the simulation's" in schedule.message, schedule.message


def _paths(svg: str, colour: str) -> list[list[tuple[float, float]]]:
    """The vertices of every line drawn in `colour` (matplotlib writes `M x y L x y ...`)."""
    out = []
    for match in re.finditer(r'<path d="([^"]+)"[^>]*?style="[^"]*?stroke: ?' + colour, svg):
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", match.group(1))]
        out.append(list(zip(numbers[0::2], numbers[1::2], strict=True)))
    return out


@pytest.mark.slow
def test_the_report_draws_the_per_batch_cycles_over_the_expected_curve(validated) -> None:
    page = (validated.out / "reference" / "report.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="learning-rate">(.*?)</section>', page, re.S)
    assert section is not None, "no learning-rate plot in the reference's report"
    svg = section.group(1)
    assert "<svg" in svg and "Training step" in svg and "(CyclicLR)" in svg
    # Each colour draws the curve and its legend sample (3 vertices): the curve is longer.
    student = max(_paths(svg, YOU), key=len)
    expected = max(_paths(svg, EXPECTED), key=len)
    # The dry run's batches (30 epochs of 176, fewer when a loaded machine cuts it at 10 s)
    # on a linear x axis: peaks (smallest SVG y) at batches 352, 1056, 1760, ..., each half
    # as high as the one before (triangular2), and base_lr (the largest SVG y) between.
    result = report.read_result(validated.out / "reference" / report.RESULT_FILE).to_dict()
    last = result["learning_rate"]["student"]["steps"][-1]
    assert 2 * 2 * 352 <= last <= DRY_RUN_MAX_EPOCHS * 176 - 1  # two whole cycles at least
    xs, ys = [p[0] for p in student], [p[1] for p in student]
    left, right, base = min(xs), max(xs), max(ys)

    def at(batch: float) -> float:  # the SVG y of the vertex nearest that batch
        x = left + (right - left) * batch / last
        return min(student, key=lambda p: abs(p[0] - x))[1]

    first, second = base - at(352), base - at(1056)
    assert first > 0 and base - min(ys) == pytest.approx(first, rel=0.02)
    assert second == pytest.approx(first / 2, rel=0.05)
    if last >= 1760:
        assert base - at(1760) == pytest.approx(first / 4, rel=0.1)
    assert at(704) == pytest.approx(base, abs=0.02 * first)
    # The reference computes the spec's curve: the two lines coincide vertex for vertex.
    assert len(expected) == len(student)
    assert all(
        a == pytest.approx(b, abs=0.5)
        for p, q in zip(student, expected, strict=True)
        for a, b in zip(p, q, strict=True)
    )


def test_examples_expected_toml_is_valid_toml() -> None:
    text = (FOLDER / "examples" / "EXPECTED.toml").read_text(encoding="utf-8")
    assert set(tomllib.loads(text)) == set(EXAMPLES)
