"""The code an assignment's statements show students (`statement.<lang>.md`).

A student copies what the statement writes, so every fenced code block and every inline
code span that calls something must be Python that compiles: `grade validate` refuses a
statement whose code does not (`syntax_problems`), and the class summary sets that code
aside before comparing submissions (grader/similarity.py), since every student was given
it. An inline span that abbreviates with `...` (`BayesianOptimization(MyHyperModel(),
..., max_trials=10)`) is shorthand, not code to copy, and is left out of both.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

STATEMENT_GLOB = "statement.*.md"

# A fence may be indented (a block inside a list item); its info string names the language.
_FENCE = re.compile(r"^([ \t]*)(`{3,})([^\n`]*)\n(.*?)^[ \t]*\2[ \t]*$", re.S | re.M)
_INLINE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# Fenced blocks in another language (a shell command, a TOML table) are not Python.
_PYTHON_FENCES = ("", "python", "py", "python3", "ipython")
SHORTHAND = "..."


@dataclass(frozen=True)
class Snippet:
    """One piece of code in a statement: `line` is the 1-based line it starts on."""

    path: Path
    line: int
    code: str
    inline: bool

    def problem(self) -> str | None:
        """Python's complaint about the code (`SyntaxError` text), or None if it compiles."""
        try:
            ast.parse(self.code)
        except SyntaxError as exc:
            return exc.msg
        return None


def statements(folder: Path) -> list[Path]:
    """An assignment folder's statement files, one per language."""
    return sorted(folder.glob(STATEMENT_GLOB))


def snippets(path: Path) -> list[Snippet]:
    """Every Python block and every inline call of one statement, in reading order."""
    text = path.read_text(encoding="utf-8")
    found: list[Snippet] = []
    for match in _FENCE.finditer(text):
        if match.group(3).strip().lower() in _PYTHON_FENCES:
            code = textwrap.dedent(match.group(4))
            found.append(Snippet(path, _line_of(text, match.start(4)), code, inline=False))
    # Inline spans outside the blocks; a span may wrap onto the next line in Markdown.
    outside = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for match in _INLINE.finditer(outside):
        code = " ".join(match.group(2).split())
        if "(" in code and SHORTHAND not in code:
            found.append(Snippet(path, _line_of(outside, match.start(2)), code, inline=True))
    return sorted(found, key=lambda s: s.line)


def syntax_problems(folder: Path) -> list[str]:
    """`statement.en.md:23: <code>: <problem>` for each snippet that does not compile."""
    out = []
    for path in statements(folder):
        for snippet in snippets(path):
            problem = snippet.problem()
            if problem is not None:
                first = snippet.code.strip().splitlines()[0] if snippet.code.strip() else ""
                out.append(f"{path.name}:{snippet.line}: {first[:100]}: {problem}")
    return out


def code(folder: Path) -> list[str]:
    """The compiling code of every statement of an assignment (what students were given)."""
    return [s.code for path in statements(folder) for s in snippets(path) if s.problem() is None]


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
