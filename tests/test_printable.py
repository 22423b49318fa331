"""grader.printable: no control character a student wrote leaves the grader raw.

An exception message, a file name, printed output or the child's own stage name can hold
terminal escape sequences (a clipboard write, erase-line, a fake "Graded 10/10" written
over the real line). Each exit is checked here with the same hostile text: the terminal
lines (plain and live), report.md, report.html, grades.csv, summary.html, Gradescope's
results.json and grader.log.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from sample_results import graded_result

from grader import batch, executor, gradescope, progress, report, summary
from grader import spec as spec_module
from grader.discover import SubmissionRef
from grader.printable import printable, printable_data
from grader.results import GradeResult, Status

# OSC 52 (write the clipboard), erase the line, return to its start, a fake verdict; then
# a one-character CSI (C1), DEL and a right-to-left override.
ATTACK = "\x1b]52;c;ZXZpbA==\x07\x1b[2K\rGraded 10/10\x9b31m\x7f\u202egnp.exe"
CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n", "\t"}
CONTROLS |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def raw_controls(text: str) -> set[str]:
    return set(text) & CONTROLS


def hostile() -> GradeResult:
    result = graded_result(f"ana{ATTACK}")
    checks = (dataclasses.replace(result.checks[0], message=f"bad {ATTACK}"), *result.checks[1:])
    return dataclasses.replace(
        result, status=Status.ERROR, message=f"RuntimeError: {ATTACK}", checks=checks
    )


def test_controls_are_shown_escaped_and_line_breaks_and_tabs_kept() -> None:
    assert printable("a\x1b[2Kb\r\nc\td\re\x00") == "a\\x1b[2Kb\nc\td\\x0de\\x00"
    assert printable("\x9b\x7f\u202e\u2066") == "\\x9b\\x7f\\u202e\\u2066"
    assert printable("ñandú 🎓 ‍") == "ñandú 🎓 ‍"  # letters, emoji and joiners stay
    assert raw_controls(printable(ATTACK)) == set()
    assert printable_data({"k\x1b": [f"v{ATTACK}", 1, None]}) == {
        "k\\x1b": [f"v{printable(ATTACK)}", 1, None]
    }


def test_reports_gradebook_and_gradescope_hold_no_raw_control(tmp_path: Path) -> None:
    result = hostile()
    md, html = (
        path.read_text(encoding="utf-8") for path in sorted(report.render_reports(
            result, tmp_path, lang="en"))
    )  # fmt: skip
    csv = report.write_gradebook([result], tmp_path, ["structure"]).read_text(encoding="utf-8")
    text = gradescope.dumps(gradescope.to_results(result, lang="es"))
    strings = json.dumps(json.loads(text), ensure_ascii=False)  # the decoded strings
    for name, written in (("md", md), ("html", html), ("csv", csv), ("gradescope", strings)):
        assert raw_controls(written) == set(), name
        assert "Graded 10/10" in written and "\\x1b" in written, name  # shown, not obeyed


def test_the_class_summary_holds_no_raw_control(tmp_path: Path) -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    result = hostile()
    refs = [SubmissionRef(result.id, tmp_path / "ana.py", "py")]
    page = summary.render(summary.summarise([result], refs, spec, lang="en"))
    assert raw_controls(page) == set()
    assert "Graded 10/10" in page


def test_terminal_lines_hold_no_raw_control(tmp_path: Path) -> None:
    lines: list[str] = []
    plain = progress.PlainProgress(lines.append)
    plain.begin(1)
    plain.expect(1)
    plain.finished(hostile())
    plain.say(f"said {ATTACK}")
    buffer = io.StringIO()
    live = progress.RichProgress(
        max_trials=2, console=Console(file=buffer, color_system=None, width=400)
    )
    live.begin(1)
    live.expect(1)
    live.started(f"ana{ATTACK}[bold]", tmp_path)  # rich markup in a file name stays text
    live.progress.refresh()
    live.finished(hostile())
    live.close()
    for text in (*lines, buffer.getvalue()):
        assert raw_controls(text) == set(), text
    assert "Graded 10/10" in lines[0] and "[bold]" in buffer.getvalue()


def test_grader_log_holds_no_raw_control(tmp_path: Path) -> None:
    log = tmp_path / batch.LOG_FILE
    with batch._log_faults(log):
        try:
            raise RuntimeError(ATTACK)
        except RuntimeError:
            executor.LOG.exception("fault on %s", f"ana{ATTACK}")
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "Graded 10/10" in text
    assert raw_controls(text) == set()


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_sanitised_cell_is_still_never_a_formula(tmp_path: Path, delimiter: str) -> None:
    """The escaping that already held stays: `\\x1b=...` does not start a formula, and
    neither does the text after a separator."""
    cell = report.csv_cell(f"\x1b=HYPERLINK(1){delimiter}=cmd")
    assert not cell.startswith("=") and f"{delimiter}=" not in cell
