"""Groups of near-identical submissions, for the instructor to look at (never a verdict).

Code is normalised before comparing, so that renaming variables, reformatting or editing
comments does not hide a copy: Python tokens only (comments, blank lines and layout
dropped), and every identifier the student introduced replaced by one placeholder, while
keywords, builtins, attribute names (`keras.layers.Dense`) and literals stay. Submissions are
compared as sets of 5-token shingles with the exercise's own code subtracted first (as MOSS
does with a base file): code every student was given, or that the reference solution
contains, would otherwise make every correct answer look copied. Two submissions are "near
identical" when the Jaccard similarity of what remains reaches the threshold; groups are the
connected pairs.
"""

from __future__ import annotations

import builtins
import io
import keyword
import logging
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from grader import submission
from grader.errors import SubmissionError

SHINGLE = 5
THRESHOLD = 0.8
MIN_SHINGLES = 20  # less code of one's own than this says nothing about copying

_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))
_SKIPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


@dataclass(frozen=True)
class Group:
    """Submissions whose own code is near identical; `similarity` is the highest pair's."""

    ids: tuple[str, ...]
    similarity: float


def code_cells(path: Path) -> list[str]:
    """The code a file holds: a notebook's code cells, or a script's text ([] if unreadable).

    A submission's bytes are hostile: read bounded and without blocking (a pipe), and JSON
    nested too deeply, or of the wrong shape, counts as no code rather than an exception.
    """
    try:
        text = submission.read_file(path).decode("utf-8")
    except (SubmissionError, UnicodeDecodeError):
        return []
    if path.suffix.lower() != ".ipynb":
        return [text] if len(text) <= submission.MAX_CODE_CHARS else []
    try:
        # Bounded as `load` bounds it: nesting and the number of values checked first.
        cells = submission.notebook_json(text, path.name).get("cells", [])
    except (SubmissionError, RecursionError):
        return []
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(part for part in source if isinstance(part, str))
            out.append(source if isinstance(source, str) else "")
    # Tokenising is linear but slow: more code than `load` accepts is not compared.
    return out if sum(map(len, out)) <= submission.MAX_CODE_CHARS else []


def tokens(cells: Iterable[str]) -> list[str]:
    """Normalised tokens of the cells; a cell Python cannot tokenise (magics) is left out."""
    out: list[str] = []
    for cell in cells:
        lines = "\n".join(
            line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        try:
            found = list(tokenize.generate_tokens(io.StringIO(lines + "\n").readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        previous = ""
        for tok in found:
            if tok.type in _SKIPPED:
                continue
            text = tok.string
            if tok.type == tokenize.NAME and text not in _KEPT_NAMES and previous != ".":
                text = "_"
            out.append(text)
            previous = tok.string
    return out


def shingles(items: Sequence[str], size: int = SHINGLE) -> frozenset[int]:
    return frozenset(hash(tuple(items[i : i + size])) for i in range(len(items) - size + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def groups(
    files: dict[str, Path], base: Sequence[Path] = (), threshold: float = THRESHOLD
) -> list[Group]:
    """Near-identical groups among `files` (id -> path), base code subtracted, biggest first."""
    subtract: frozenset[int] = frozenset()
    for path in base:
        subtract |= shingles(tokens(code_cells(path)))
    own = {}
    for sid, path in files.items():
        try:
            mine = shingles(tokens(code_cells(path))) - subtract
        except Exception:  # one submission's odd content leaves it out, never the others
            logging.getLogger("grader.batch").exception("similarity skipped %s", sid)
            continue
        if len(mine) >= MIN_SHINGLES:
            own[sid] = mine
    parent = {sid: sid for sid in own}

    def root(sid: str) -> str:
        while parent[sid] != sid:
            parent[sid] = parent[parent[sid]]
            sid = parent[sid]
        return sid

    best: dict[str, float] = {}
    for a, b in combinations(sorted(own), 2):
        score = jaccard(own[a], own[b])
        if score >= threshold:
            ra, rb = root(a), root(b)
            parent[rb] = ra
            best[ra] = max(best.get(ra, 0.0), best.pop(rb, 0.0), score)
    members: dict[str, list[str]] = {}
    for sid in own:
        members.setdefault(root(sid), []).append(sid)
    found = [
        Group(ids=tuple(sorted(ids)), similarity=round(best[r], 3))
        for r, ids in members.items()
        if len(ids) > 1
    ]
    return sorted(found, key=lambda g: (-len(g.ids), -g.similarity, g.ids))
