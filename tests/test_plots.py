"""The reports' plots: drawn from the result dict alone, safe to inline, deterministic."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sample_results import graded_result

from grader import plots, report
from grader.results import Assessment, GradeResult, Status, TrialResult, TrialStatus

LABELS = report.UI["en"]["plot"]


def _data(result: GradeResult | None = None) -> dict:
    return report.result_dict(result or graded_result())


def test_a_full_result_gets_all_four_plots() -> None:
    svgs = plots.render(_data(), LABELS)
    assert list(svgs) == list(plots.PLOTS)
    for name, svg in svgs.items():
        assert svg.startswith('<svg viewBox="0 0 ') and f'id="plot-{name}"' in svg, name
        assert f"<title>{LABELS[f'{name}_title']}</title>" in svg


def test_svg_is_safe_to_inline_in_one_page() -> None:
    svgs = plots.render(_data(), LABELS)
    page = "".join(svgs.values())
    for forbidden in ("http:", "https:", "<?xml", "<!DOCTYPE", "<metadata", "xmlns", "<script"):
        assert forbidden not in page, forbidden
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids repeat across plots"
    # Every internal reference (clip paths, reused markers) points at an id of its own plot.
    for name, svg in svgs.items():
        own = set(re.findall(r'\bid="([^"]+)"', svg))
        refs = re.findall(r'(?:href="#|url\(#)([^")]+)', svg)
        assert refs, name
        assert set(refs) <= own, (name, set(refs) - own)
    # matplotlib's global `*{...}` style rule is scoped to its own plot.
    assert '<style type="text/css">*{' not in page
    # Sized by the page (phones), not in points.
    assert not re.search(r"<svg [^>]*\bwidth=", page)


def test_output_is_deterministic() -> None:
    assert plots.render(_data(), LABELS) == plots.render(_data(), LABELS)


def test_text_is_text_and_localised() -> None:
    es = plots.render(_data(), report.UI["es"]["plot"])
    en = plots.render(_data(), LABELS)
    assert ">Tu planificador<" in es["learning_rate"] and ">Your schedule<" in en["learning_rate"]
    assert "(PolynomialDecay)" in en["learning_rate"]
    # Values use the language's decimal separator.
    assert "> 85,12 %<" in es["accuracy"] and "> 85.12 %<" in en["accuracy"]
    assert ">initial_learning_rate<" in en["trials"]


def test_student_strings_are_not_mathtext_or_markup() -> None:
    trial = TrialResult("0", {"$lr$ <b>": 0.3, "units": 800}, 0.8, 1, 1.0, TrialStatus.COMPLETED)
    result = dataclasses.replace(graded_result(), trials=(trial,), best_hyperparameters={})
    svg = plots.render(_data(result), LABELS)["trials"]
    assert "$lr$ &lt;b&gt;" in svg and "<b>" not in svg


def test_plots_without_data_are_left_out() -> None:
    empty = GradeResult.without_results(
        Assessment("a", "smoke", 10.0),
        id="x",
        sha256="",
        status=Status.ERROR,
        message="boom",
    )
    assert plots.render(_data(empty), LABELS) == {}
    # Baselines alone still make the accuracy plot (the student's bar is missing).
    only_baselines = dataclasses.replace(empty, baselines=graded_result().baselines)
    assert list(plots.render(_data(only_baselines), LABELS)) == ["accuracy"]


def test_non_finite_history_values_are_gaps() -> None:
    trial = dataclasses.replace(
        graded_result().trials[0],
        history={"loss": [0.7, float("nan")], "val_loss": [0.6, float("inf")]},
    )
    result = dataclasses.replace(graded_result(), trials=(trial,))
    svgs = plots.render(_data(result), LABELS)  # NaN became null in the dict
    assert "history" in svgs and ">Loss<" in svgs["history"]
    assert ">Accuracy<" not in svgs["history"]  # no accuracy data: one panel only


@pytest.mark.parametrize(
    ("best", "expected"),
    [
        ({"initial_learning_rate": 0.3, "end_learning_rate": 0.285}, "01"),  # by hyperparameters
        ({}, "00"),  # no best hyperparameters: the highest val_accuracy
    ],
)
def test_best_trial(best: dict, expected: str) -> None:
    result = dataclasses.replace(graded_result(), best_hyperparameters=best)
    trial = plots.best_trial(_data(result))
    assert trial is not None and trial["id"] == expected
