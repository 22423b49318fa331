"""`grade validate` of every shipped assignment, end to end, one run each.

One parametrised test (`test_every_shipped_assignment_validates`) over the table of
tests/validate_helpers.py (`CASES`, one row per assignments/*/assignment.toml): the
reference gets full marks (on a subset: every point a subset can judge; accuracy is
skipped, no calibration applies to one), every example of examples/ gets its EXPECTED.toml
verdict, and what a row adds (the reference's trials, accuracy floor, hyperparameters).
The `validated` fixture (tests/conftest.py) runs each row once in this module; the tests
below it read the same runs for what is particular to one assignment (its messages, its
report's plot), so no assignment is graded twice.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from validate_helpers import CASES, EXAM, Validated, assert_valid_on_subset

from grader import report
from grader import spec as spec_module
from grader.child.simulate import DRY_RUN_MAX_EPOCHS
from grader.errors import ExitCode
from grader.results import CheckStatus, GradeResult, Status
from grader.validate import Expectation, Graded, judge, read_expected, render

pytestmark = pytest.mark.slow  # each row trains: the whole module is a handful of grades


def one(assignment: str) -> pytest.MarkDecorator:
    """Run the test on `assignment`'s row of the table (its shared `validated` run)."""
    return pytest.mark.parametrize("validated", [assignment], indirect=True)


def test_the_table_has_every_shipped_assignment() -> None:
    shipped = sorted(p.parent.name for p in spec_module.ASSIGNMENTS_DIR.glob("*/assignment.toml"))
    assert sorted(CASES) == shipped


@pytest.mark.parametrize("validated", sorted(CASES), indirect=True)
def test_every_shipped_assignment_validates(validated: Validated) -> None:
    case, validation = validated.case, validated.validation
    expected = read_expected(
        validated.folder / "examples" / "EXPECTED.toml", spec_module.load(validated.folder)
    )
    if case.subset is None:  # the whole data: the accuracy is judged as well
        reference = validation.reference
        assert reference.status is Status.GRADED, reference.message
        assert validation.lost == () and validation.not_judged == ()
        assert sorted(v.id for v in validation.examples) == sorted(expected)
        assert [(v.id, v.problems) for v in validation.examples if v.problems] == []
        assert validation.ok, render(validation, "en")
    else:
        reference = assert_valid_on_subset(validation, expected)
        text = render(validation, "en")
        assert "not judged under --subset" in text and "accuracy" in text
    assert validation.exit_code == ExitCode.OK
    assert render(validation, "en").startswith(f"{case.assignment}: valid (budget 'smoke')")
    assert "válida" in render(validation, "es")
    # The reports stay in --out: the instructor can read why each example got its verdict.
    for sid in ("reference", *expected):
        assert (validated.out / sid / "report.html").is_file(), sid
    if case.trials is not None:  # trained and tested on the data the row gave
        trials, epochs = case.trials
        assert len(reference.trials) == trials
        assert all(t.epochs == epochs for t in reference.trials)
    if case.min_test_accuracy is not None:
        assert reference.test_accuracy is not None
        assert reference.test_accuracy > case.min_test_accuracy
    if case.searched:
        assert set(reference.best_hyperparameters) == case.searched
    if case.within is not None:
        name, low, high = case.within
        assert low <= reference.best_hyperparameters[name] <= high


# --- the Fashion exam (a copy with two examples) ------------------------------------------------


@one(EXAM)
def test_examples_that_differ_from_expected_are_each_named(validated: Validated) -> None:
    validation, folder = validated.validation, validated.folder
    subset = validated.case.subset
    spec = spec_module.load(folder)
    expected = read_expected(folder / "examples" / "EXPECTED.toml", spec)
    wrong = {
        "syntax_error": dataclasses.replace(
            expected["syntax_error"],
            status=Status.GRADED,
            fail=frozenset({"schedule"}),
            error_location=None,
        ),
        "no_hypermodel": Expectation(
            id="no_hypermodel", status=Status.GRADED, fail=frozenset(), message_contains="Adam"
        ),
    }
    results = {sid: report.read_result(validation.out / sid / report.RESULT_FILE) for sid in wrong}
    graded = Graded(validation.reference, results)
    judged = judge(spec, "smoke", graded, wrong, lang="en", subset=subset)
    problems = {v.id: v.problems for v in judged.examples}
    assert any("status error, expected graded" in p for p in problems["syntax_error"])
    assert any("should fail schedule" in p for p in problems["syntax_error"])
    assert any("fails structure, which is in neither" in p for p in problems["no_hypermodel"])
    assert any("no message contains 'Adam'" in p for p in problems["no_hypermodel"])
    assert judged.lost == () and not judged.ok and judged.exit_code == ExitCode.NOT_VALID
    text = render(judged, "en")
    assert "NOT valid" in text and "example no_hypermodel:" in text
    assert "the reference" not in text  # the reference itself is fine: not listed


# --- and-gate-schedules -------------------------------------------------------------------------


@one("and-gate-schedules")
def test_the_seeds_scheduler_and_lr_spy_are_accepted(validated: Validated) -> None:
    checks = {c.id: c for c in validated.result("reference").checks}
    assert "new random value at every step between lower_bound and upper_bound" in (
        checks["schedule"].message
    )
    assert "RandomScheduler" in checks["schedule"].message
    assert checks["loss_metrics"].status is CheckStatus.PASSED  # lr_spy logged besides accuracy
    assert "metrics=['accuracy', function(name='lr')]" in checks["loss_metrics"].message
    # A serialisable schedule (get_config) earns the same marks, not more.
    right = validated.result("right")
    assert right.score == validated.result("reference").score == right.max_score


@one("and-gate-schedules")
def test_each_wrong_schedule_is_named_by_what_it_does(validated: Validated) -> None:
    message = {sid: {c.id: c for c in validated.result(sid).checks}["schedule"].message for sid in (
        "wrong_schedule", "fixed_bounds", "drawn_once")}  # fmt: skip
    assert message["wrong_schedule"].startswith(
        "The optimizer's learning rate is ExponentialDecay("
    )
    assert "Built with lower_bound=0.001, upper_bound=0.5" in message["fixed_bounds"]
    assert message["drawn_once"].startswith("The optimizer's learning rate is constant")


# --- cifar10-cats-dogs-step-decay (on a generated archive) ---------------------------------------

CIFAR = "cifar10-cats-dogs-step-decay"
CIFAR_EXPECTED = sorted(
    read_expected(
        spec_module.ASSIGNMENTS_DIR / CIFAR / "examples" / "EXPECTED.toml", spec_module.load(CIFAR)
    )
)


def _failed(result: GradeResult) -> set[str]:
    return {c.id for c in result.checks if c.status is CheckStatus.FAILED}


@one(CIFAR)
@pytest.mark.parametrize("sid", CIFAR_EXPECTED)
def test_each_cifar_example_fails_exactly_its_expected_checks(
    validated: Validated, sid: str
) -> None:
    expected = validated.expected
    result = validated.result(sid)
    assert result.status.value == expected[sid]["status"], result.message
    # Under a subset nothing is budget-dependent: may_fail (accuracy) is skipped, so the
    # failed checks are exactly the expected ones.
    assert _failed(result) == set(expected[sid]["fail"]), {
        c.id: c.message for c in result.checks if c.status is CheckStatus.FAILED
    }


@one(CIFAR)
def test_the_messages_say_what_the_callback_does(validated: Validated) -> None:
    by_id = {sid: {c.id: c for c in validated.result(sid).checks} for sid in validated.expected}
    reference = {c.id: c for c in validated.result("reference").checks}
    # The reference's step decay is recognised in the seed's form, from the dry run.
    assert "step decay (initial_lrate=" in reference["schedule"].message
    assert "form='epoch'" in reference["schedule_params"].message
    # Without the floor the rate decays smoothly: an exponential decay, not a step decay.
    no_floor = by_id["no_floor"]["schedule"].message
    assert "exponential decay" in no_floor and "StepDecay" in no_floor
    # The off-by-one form is still a step decay; only its form is wrong.
    assert by_id["off_by_one"]["schedule"].status is CheckStatus.PASSED
    assert "step decay (1 + epoch)" in by_id["off_by_one"]["schedule"].message
    assert "form='1 + epoch'; expected" in by_id["off_by_one"]["schedule_params"].message
    assert "SGD has momentum=0; expected 0.5" in by_id["no_momentum"]["optimizer"].message
    assert "Dropout" in by_id["wrong_architecture"]["architecture"].message


# --- fashion-mnist-cyclic-lr ---------------------------------------------------------------------

CYCLIC = "fashion-mnist-cyclic-lr"
# The report's colours for the student's curve and the expected one (grader/plots.py).
YOU, EXPECTED_COLOUR = "#0072b2", "#e69f00"


def _failed_messages(result: dict) -> dict[str, str]:
    return {
        c["id"]: c["message"] for c in result["checks"] if c["status"] == CheckStatus.FAILED.value
    }


@one(CYCLIC)
def test_each_cyclic_example_fails_exactly_its_checks_with_a_precise_message(
    validated: Validated,
) -> None:
    results = {e: validated.result(e) for e in validated.expected}
    failed = {e: _failed_messages(r.to_dict()) for e, r in results.items()}
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


@one(CYCLIC)
def test_the_trained_rates_are_compared_with_the_simulation(validated: Validated) -> None:
    # The grader trained the reference (its CyclicLR only sets the rate: declared as a table
    # per batch), so no rate was saved by the child: the table it declared at the default
    # values is compared with the probe's dry run at the same values, batch by batch.
    result = validated.result("reference")
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


@one(CYCLIC)
def test_the_report_draws_the_per_batch_cycles_over_the_expected_curve(
    validated: Validated,
) -> None:
    page = (validated.out / "reference" / "report.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="learning-rate">(.*?)</section>', page, re.S)
    assert section is not None, "no learning-rate plot in the reference's report"
    svg = section.group(1)
    assert "<svg" in svg and "Training step" in svg and "(CyclicLR)" in svg
    # Each colour draws the curve and its legend sample (3 vertices): the curve is longer.
    student = max(_paths(svg, YOU), key=len)
    expected = max(_paths(svg, EXPECTED_COLOUR), key=len)
    # The dry run's batches (30 epochs of 176, fewer when a loaded machine cuts it at 10 s)
    # on a linear x axis: peaks (smallest SVG y) at batches 352, 1056, 1760, ..., each half
    # as high as the one before (triangular2), and base_lr (the largest SVG y) between.
    result = validated.result("reference").to_dict()
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


# --- fashion-mnist-selu-exponential-decay ------------------------------------------------------


@one("fashion-mnist-selu-exponential-decay")
def test_nadam_and_piecewise_get_messages_naming_what_to_use(validated: Validated) -> None:
    """The issue's two messages, in the spec's language (Spanish) as students read them."""
    nadam = {c.id: c for c in validated.result("nadam").checks}
    assert (
        nadam["optimizer"].message == "El optimizador es Nadam; se esperaba keras.optimizers.SGD."
    )
    piecewise = {c.id: c for c in validated.result("piecewise_constant").checks}
    assert "PiecewiseConstantDecay" in piecewise["schedule"].message
    assert "ExponentialDecay" in piecewise["schedule"].message
