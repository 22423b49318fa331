"""What the score stage copies into the result for the reports: code snippets, LR curves."""

from __future__ import annotations

import pytest

from grader import excerpts
from grader import spec as spec_module
from grader.boundary import ProbeRecord
from grader.child.protocol import sample_steps
from grader.results import CheckResult, CheckStatus, Location, SnippetLine

CELLS = ("# Title (markdown)", "import keras", "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6")


@pytest.mark.parametrize(
    ("location", "lines"),
    [
        (Location(3, 3), [1, 2, 3, 4, 5]),  # two either side
        (Location(3, 1), [1, 2, 3]),  # clipped at the top
        (Location(3, 6), [4, 5, 6]),  # and at the bottom
        (Location(2, 1), [1]),
        (Location(None, 1), [1]),  # .py: the file is the only "cell"
        (Location(None, 2), []),  # a line past its end...
        (Location(9, 1), []),  # ...or a cell that does not exist gives nothing
        (Location(3, 7), []),
        (None, []),
    ],
)
def test_snippet_window(location: Location | None, lines: list[int]) -> None:
    cells = CELLS if location is None or location.cell is not None else ("x = 1",)
    assert [s.line for s in excerpts.snippet(cells, location)] == lines


def test_snippet_text_is_kept_but_bounded() -> None:
    long = "x = '" + "a" * 500 + "'\t# end"
    got = excerpts.snippet(("\tif x:\n" + long,), Location(None, 1))
    assert got[0] == SnippetLine(1, "    if x:")  # tabs expanded like an editor would
    assert len(got[1].text) == excerpts.MAX_LINE_CHARS and got[1].text.endswith("…")


def test_with_snippets_fills_each_located_check() -> None:
    checks = (
        CheckResult("a", "A", CheckStatus.PASSED, 1, 1, "", location=Location(3, 2)),
        CheckResult("b", "B", CheckStatus.SKIPPED, 0, 1, ""),
    )
    filled = excerpts.with_snippets(checks, CELLS)
    assert [s.text for s in filled[0].snippet] == ["a = 1", "b = 2", "c = 3", "d = 4"]
    assert filled[1].snippet == ()


def _record(lrs: list[float] | None, values: dict, total: int = 1960) -> ProbeRecord:
    steps = sample_steps(total)
    samples = {"steps": steps[: len(lrs)], "lrs": lrs} if lrs is not None else None
    return ProbeRecord.parse(
        {
            "build": {"status": "ok", "learning_rate": {"kind": "schedule", "samples": samples}},
            "search_space": {"status": "ok", "values": values},
            "corners": {"status": "ok", "total_steps": total},
        }
    )


def test_learning_rate_curves_compare_like_with_like() -> None:
    # PolynomialDecay, decay_steps=10, power=1, no cycle
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    steps = sample_steps(1960)
    exponential = [0.31 * 0.96 ** (s / 10) for s in steps]
    curves = excerpts.learning_rate_curves(
        _record(exponential, {"initial_learning_rate": 0.31}), spec
    )
    assert curves is not None and curves.family == "PolynomialDecay"
    assert curves.total_steps == 1960
    # The student's initial value is used; the missing end value is the spec's minimum.
    assert curves.hyperparameters == {"initial_learning_rate": 0.31, "end_learning_rate": 0.28}
    assert curves.student is not None and curves.expected is not None
    assert curves.expected.steps == curves.student.steps == tuple(steps)
    assert curves.expected.values[0] == pytest.approx(0.31)
    assert curves.expected.values[steps.index(5)] == pytest.approx(0.295)
    assert curves.expected.values[-1] == pytest.approx(0.28)


def test_learning_rate_curves_without_samples_or_build() -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    curves = excerpts.learning_rate_curves(_record(None, {}), spec)
    assert curves is not None and curves.student is None
    assert curves.expected is not None and curves.expected.steps == tuple(sample_steps(1960))
    assert excerpts.learning_rate_curves(ProbeRecord(), spec) is None
    failed = ProbeRecord.parse({"build": {"status": "error"}})
    assert excerpts.learning_rate_curves(failed, spec) is None
