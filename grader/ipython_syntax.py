"""IPython syntax in a notebook cell (magics, shell lines, `obj?` help) blanked out line by
line, so that the rest parses as Python with the line numbers the student sees, each
blanked line listed as a `SkippedStatement` (`neutralise`). Part of loading a submission
(grader/submission.py); nothing here executes anything.
"""

from __future__ import annotations

import re

from grader.results import SkippedStatement
from grader.selection import shorten

# Cell magics whose body is still Python; any other cell magic skips its whole cell.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system"})
_SHELL_LINE_MAGICS = frozenset({"pip", "conda", "mamba", "sx", "system"})
_ENV_LINE_MAGICS = frozenset({"env", "set_env"})
# `files = !ls` and `t = %time f()`: an assignment whose value is IPython syntax.
_ASSIGNED_MAGIC = re.compile(r"[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*([!%])")


class _LineScanner:
    """Follows brackets, strings and backslashes to know where logical lines start."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.continued = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> int:
        """Advance over one physical line; return where its comment starts (or its length)."""
        i, n, end = 0, len(line), len(line)
        while i < n:
            c = line[i]
            if self.quote:
                if c == "\\":
                    i += 2
                elif line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                else:
                    i += 1
                continue
            if c == "#":
                end = i
                break
            if c in "'\"":
                self.quote = line[i : i + 3] if line[i : i + 3] in ("'''", '"""') else c
                i += len(self.quote)
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        escaped_newline = i > n
        if self.quote and len(self.quote) == 1 and not escaped_newline:
            self.quote = None  # an unterminated string: the parser will report it
        self.continued = self.quote is None and end == n and line.endswith("\\")
        return end


def _ipython_kind(line: str) -> str | None:
    """The SkippedStatement kind if this logical line is IPython syntax, else None."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("%"):
        words = text.lstrip("%").split()
        name = words[0] if words else ""
        if name in _SHELL_LINE_MAGICS:
            return "shell"
        return "environment" if name in _ENV_LINE_MAGICS else "magic"
    if text.startswith("!"):
        return "shell"
    if text.startswith("?"):
        return "magic"
    match = _ASSIGNED_MAGIC.match(text)
    if match:
        return "shell" if match.group(2) == "!" else "magic"
    # `obj?` / `obj??`: a line whose code (not comment, not string) ends with "?".
    probe = _LineScanner()
    code = line[: probe.feed(line)].rstrip()
    if code.endswith("?") and probe.at_statement_start:
        return "magic"
    return None


def neutralise(source: str, cell: int | None) -> tuple[str | None, list[SkippedStatement]]:
    """Blank out IPython syntax, keeping line numbers; None if the whole cell is not Python."""
    lines = source.split("\n")
    skipped: list[SkippedStatement] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        name = words[0] if words else ""
        if name not in _PYTHON_CELL_MAGICS:
            kind = "shell" if name in _SHELL_CELL_MAGICS else "magic"
            return None, [SkippedStatement(cell, first + 1, kind, shorten(lines[first]))]
        skipped.append(SkippedStatement(cell, first + 1, "magic", shorten(lines[first])))
        lines[first] = ""
    scanner = _LineScanner()
    in_magic = False  # a magic line ending in "\" continues on the next line
    for i, line in enumerate(lines):
        if in_magic:
            in_magic = line.endswith("\\")
            lines[i] = ""
            continue
        kind = _ipython_kind(line) if scanner.at_statement_start else None
        if kind is None:
            scanner.feed(line)
            continue
        skipped.append(SkippedStatement(cell, i + 1, kind, shorten(line)))
        indent = line[: len(line) - len(line.lstrip())]
        # Inside a block a `pass` keeps the block valid; at top level nothing is needed.
        lines[i] = f"{indent}pass" if indent else ""
        in_magic = line.endswith("\\")
    return "\n".join(lines), skipped
