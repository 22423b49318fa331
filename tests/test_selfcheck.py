"""`grade check NOTEBOOK`: the student's self-check on every example submission.

The assignment is copied with one check made hidden, to show that hidden checks neither
run nor appear. Training uses a 2,000-image subset (as tests/test_batch.py does) so the
module takes one short search per example; the pipeline itself is the real one.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from grader import i18n, report, selfcheck
from grader import spec as spec_module
from grader.cli import main as cli_main
from grader.errors import ExitCode
from grader.results import Status
from grader.settings import Source

# Every test reads or runs `grade check` (177 s in one process, tests/conftest.py).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
EXPECTED = tomllib.loads((SUBMISSIONS / "EXPECTED.toml").read_text(encoding="utf-8"))
SUBSET = 2000
HIDDEN = "loss_metrics"  # no example fails it, so hiding it changes no verdict
HIDDEN_TITLE = "Pérdida y métricas"
# reference_py is the reference exported as a script: test_batch shows they grade alike.
EXAMPLES = sorted(sid for sid in EXPECTED if sid != "reference_py")
MARK = {"passed": "✓", "failed": "✗", "skipped": "–", "needs_review": "?"}


def _path(sid: str) -> Path:
    folder = SUBMISSIONS / sid
    return folder if folder.is_dir() else next(SUBMISSIONS.glob(f"{sid}.*"))


@pytest.fixture(scope="module")
def assignment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real assignment with [rubric.loss_metrics] hidden."""
    folder = tmp_path_factory.mktemp("assignment") / "fashion-mnist-polynomial-decay"
    shutil.copytree(spec_module.load("fashion-mnist-polynomial-decay").directory, folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    marker = f"[rubric.{HIDDEN}]\n"
    assert marker in text
    toml.write_text(text.replace(marker, marker + "hidden = true\n"), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def checked(
    tmp_path_factory: pytest.TempPathFactory, assignment: Path, cache_dir: Path
) -> dict[str, tuple[selfcheck.SelfCheck, str]]:
    """Every example self-checked once: its outcome and what the terminal showed."""
    out = tmp_path_factory.mktemp("self-check")
    done = {}
    for sid in EXAMPLES:
        screen = io.StringIO()
        console = Console(file=screen, width=120, color_system=None)
        outcome = selfcheck.check(
            _path(sid),
            Source(assignment, cache_dir=cache_dir),
            out=out,
            subset=SUBSET,
            console=console,
        )
        done[sid] = (outcome, screen.getvalue())
    return done


@pytest.mark.parametrize("sid", EXAMPLES)
def test_checklist_shows_each_examples_verdicts(
    checked: dict[str, tuple[selfcheck.SelfCheck, str]], sid: str
) -> None:
    outcome, screen = checked[sid]
    expected = EXPECTED[sid]
    result = outcome.result
    assert result.status.value == expected["status"], result.message
    lines = screen.splitlines()
    must_fail = set(expected.get("fail", []))
    may_fail = set(expected.get("may_fail", []))
    must_skip = set(expected.get("skipped", []))
    for check in result.checks:
        row = next(line for line in lines if check.title in line and line[:1] in "✓✗–?")
        mark = row[0]
        assert mark == MARK[check.status.value], row
        if check.id in must_fail:
            assert mark == "✗", row
        elif check.id in must_skip:
            assert mark == "–", row
        elif check.id not in may_fail:
            assert mark != "✗", (row, check.message)
        if mark != "✓":
            assert check.message.split()[0] in screen  # the reason is printed below it
    assert outcome.passed == (expected["status"] == "graded" and not must_fail)
    if result.status is not Status.GRADED:
        assert expected.get("message_contains", "") in screen
    assert f"{outcome.report}" in screen


@pytest.mark.parametrize("sid", EXAMPLES)
def test_hidden_checks_neither_run_nor_appear(
    checked: dict[str, tuple[selfcheck.SelfCheck, str]], sid: str
) -> None:
    outcome, screen = checked[sid]
    assert HIDDEN not in {c.id for c in outcome.result.checks}
    html = outcome.report.read_text(encoding="utf-8")
    stored = json.loads((outcome.report.parent / "result.json").read_text(encoding="utf-8"))
    for text in (screen, html, json.dumps(stored, ensure_ascii=False)):
        assert HIDDEN_TITLE not in text
    # Not even a count of them ("includes 1 hidden check").
    assert report.UI["es"]["hidden_one"].replace("{n}", "1") not in html
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    accuracy = next(item.points for item in spec.rubric if item.id == "accuracy")
    # Out of the self-check's total: the hidden check, and the accuracy it cannot judge on
    # a subset (a model trained past the budget is judged: wrong_fit_config's batch of 32);
    # an error result has the same total (never 0).
    checks = {c.id: c for c in outcome.result.checks}
    judged = "accuracy" in checks and checks["accuracy"].max_points > 0
    total = spec.max_score - 0.5 - (0 if judged else accuracy)
    assert outcome.result.max_score == pytest.approx(total)


@pytest.mark.parametrize("sid", EXAMPLES)
def test_report_has_its_plots_and_code(
    checked: dict[str, tuple[selfcheck.SelfCheck, str]], sid: str
) -> None:
    outcome, _ = checked[sid]
    html = outcome.report.read_text(encoding="utf-8")
    assert "Autocomprobación" in html  # the note says what a self-check leaves out
    result = outcome.result
    if result.status is not Status.GRADED:
        assert "<svg" not in html
        return
    located = [c for c in result.checks if c.location is not None]
    assert located and all(c.snippet for c in located)
    assert html.count('<pre class="code">') == len(located)
    expected_plots = {"accuracy"}
    if result.learning_rate is not None:
        expected_plots.add("learning_rate")
    if any(t.val_accuracy is not None for t in result.trials):
        expected_plots |= {"history", "trials"}
    for name in expected_plots:
        assert f'id="plot-{name}"' in html, name
    if sid == "reference":
        assert expected_plots == {"accuracy", "learning_rate", "history", "trials"}
        lr = result.learning_rate
        assert lr is not None and lr.student is not None and lr.expected is not None
        # The reference's schedule is the expected one, sample for sample (float32 noise).
        assert lr.student.values == pytest.approx(lr.expected.values, rel=1e-6)


def test_cli_prints_the_checklist_and_exits_1_when_not_graded(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        [
            "check",
            str(SUBMISSIONS / "syntax_error.ipynb"),
            "--assignment",
            "fashion-mnist-polynomial-decay",
            "--lang",
            "en",
            "--out",
            str(tmp_path),
            "--cache-dir",
            str(cache_dir),
        ]
    )
    out = capsys.readouterr().out
    assert code == ExitCode.NOT_ALL_GRADED
    assert "✗ The submission could not be scored (Error)." in out
    assert "SyntaxError in cell 7, line 2" in out
    assert f"Report: {tmp_path / 'syntax_error' / 'report.html'}" in out.replace("\n", "")


def test_cli_refuses_a_folder_of_submissions(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_main(["check", str(SUBMISSIONS), "--assignment", "fashion-mnist-polynomial-decay"])
        == ExitCode.USAGE
    )
    assert "the self-check takes one" in capsys.readouterr().err


def test_what_a_subset_cannot_judge_is_out_of_the_total_and_says_why(
    checked: dict[str, tuple[selfcheck.SelfCheck, str]],
) -> None:
    outcome, screen = checked["reference"]
    accuracy = next(c for c in outcome.result.checks if c.id == "accuracy")
    assert (accuracy.status.value, accuracy.points, accuracy.max_points) == ("skipped", 0, 0)
    # Said in the notebook's language with the numbers it trained on, not "no calibration".
    assert accuracy.message.startswith(
        "No se juzga aquí: la autocomprobación entrena con 2000 imágenes; la corrección, "
        "con 50\u00a0000."
    )
    assert "calibración" not in accuracy.message
    assert accuracy.message.split(":")[0] in screen
    visible = sum(c.max_points for c in outcome.result.checks)
    assert outcome.result.max_score == visible
    assert f"/ {i18n.number(visible, 'es')}" in screen


def test_without_out_the_report_goes_to_a_new_temporary_folder(
    tmp_path: Path,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "my-work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ["check", str(SUBMISSIONS / "syntax_error.ipynb")]
    assert cli_main([*argv, "--assignment", "fashion-mnist-polynomial-decay",
                     "--cache-dir", str(cache_dir)]) == ExitCode.NOT_ALL_GRADED  # fmt: skip
    out = capsys.readouterr().out.replace("\n", "")
    assert list(work.iterdir()) == []  # nothing left where the student works
    shown = re.search(r"Informe: (\S+report\.html)", out)
    assert shown is not None, out
    html = Path(shown.group(1))
    assert html.is_file() and html.parent.parent.name.startswith(selfcheck.OUT_PREFIX)
    assert html.is_relative_to(Path(tempfile.gettempdir()))
    shutil.rmtree(html.parent.parent)
