"""The one sanitiser for text a student controls, applied where text leaves the grader.

File names (ids), exception messages, printed output, code and the child's own words
reach the instructor's terminal, grades.csv, the reports, the class summary, Gradescope's
results.json and grader.log. A control character there is an instruction to whatever
shows it: an escape sequence can write the terminal's clipboard, erase a line and print a
fake "Graded 10/10" over it, a carriage return can hide what came before, a bidirectional
override can make a line read backwards. So every such exit passes its text through
`printable`: control characters other than newline and tab (C0, DEL, C1 and the Unicode
bidirectional embeddings, overrides and isolates) are shown escaped, `\\x1b` or
`\\u202e`, visible to the instructor and inert everywhere; a Windows line end is a line
end. The escaping each format already does (HTML, Markdown, CSV formulas) stays.

result.json is the record, not an exit: JSON already escapes C0 characters, and every view
of it (reports, summary, Gradescope, gradebook, terminal) is made through this function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

_KEPT = {ord("\n"), ord("\t")}
_CONTROLS = [
    *(c for c in range(0x20) if c not in _KEPT),
    *range(0x7F, 0xA0),  # DEL and the C1 controls (0x9b is a one-character CSI)
    *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
    *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab shown escaped."""
    return text.replace("\r\n", "\n").translate(_ESCAPES)


def printable_data(value: Any) -> Any:
    """`printable` applied to every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {printable_data(k): printable_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_data(v) for v in value]
    return value


def template_value(value: Any) -> Any:
    """Jinja's `finalize` for the grader's templates: every `{{ ... }}` passes through here.

    Markup (an SVG plot inserted with `|safe`) stays Markup; numbers stay numbers.
    """
    if isinstance(value, Markup):
        return Markup(printable(str(value)))
    if isinstance(value, str):
        return printable(value)
    return value
