"""Groups of near-identical submissions, for the instructor to look at (never a verdict).

Code is normalised before comparing, so that renaming variables, reformatting or editing
comments does not hide a copy: Python tokens only (comments, blank lines and layout
dropped), and every identifier the student introduced replaced by one placeholder, while
keywords, builtins, attribute names (`keras.layers.Dense`) and literals stay. Each block
(a cell's code up to the next `def`, `class` or decorator) is cut into 5-token shingles on
its own, so moving a function or a method elsewhere changes nothing.

Before comparing, what every student was given is set aside, as MOSS does with a base
file and with passages common to many programs:
- the base code: the reference solution and the code of the assignment's statements
  (grader/statements.py), which a correct answer repeats;
- the class's common code: a shingle found in more than half of the submissions (and in
  at least `COMMON_MIN`) is the course's notebook (its data loading, plots, the tuner),
  not one student's work. A statement that fixes the architecture makes every variant of
  it share most of its code; without this the shipped examples formed one group at 1.0.

Two submissions are "near identical" when the Jaccard similarity of what remains reaches
the threshold and each has at least `MIN_SHINGLES` of its own; groups are the connected
pairs, and each flagged pair carries the passages the two share, with their places.
"""

from __future__ import annotations

import builtins
import io
import keyword
import logging
import tokenize
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from grader import submission
from grader.errors import SubmissionError

SHINGLE = 5
THRESHOLD = 0.8
MIN_SHINGLES = 20  # less code of one's own than this says nothing about copying
# A shingle in more than this share of the submissions, and in at least COMMON_MIN of
# them, is the class's common code: two students who copy from each other share theirs.
COMMON_SHARE = 0.5
COMMON_MIN = 3
PASSAGES = 3  # shared passages shown per flagged pair, the longest first
PASSAGE_LINES = 12  # lines of code shown per passage

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
# A token that starts a new block: a function, a class or a decorator.
_BLOCK_STARTS = ("def", "class", "@")


@dataclass(frozen=True)
class Token:
    """One normalised token and where it is: 1-based notebook cell (None: a script)."""

    text: str
    cell: int | None
    line: int


@dataclass(frozen=True)
class Passage:
    """Code two submissions share: the first one's lines (shown) and the second's place."""

    cell: int | None
    first: int
    last: int
    other_cell: int | None
    other_first: int
    other_last: int
    code: tuple[str, ...]  # the first submission's lines, at most PASSAGE_LINES


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    similarity: float
    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class Group:
    """Submissions whose own code is near identical; `similarity` is the highest pair's."""

    ids: tuple[str, ...]
    similarity: float
    pairs: tuple[Pair, ...] = ()


def code_cells(path: Path) -> list[tuple[int | None, str]]:
    """The code a file holds: (notebook cell number, counting every cell, and its source),
    or a script's text with cell None; [] if unreadable.

    A submission's bytes are hostile: read bounded and without blocking (a pipe), and JSON
    nested too deeply, or of the wrong shape, counts as no code rather than an exception.
    """
    try:
        text = submission.read_file(path).decode("utf-8")
    except (SubmissionError, UnicodeDecodeError):
        return []
    if path.suffix.lower() != ".ipynb":
        return [(None, text)] if len(text) <= submission.MAX_CODE_CHARS else []
    try:
        # Bounded as `load` bounds it: nesting and the number of values checked first.
        cells = submission.notebook_json(text, path.name).get("cells", [])
    except (SubmissionError, RecursionError):
        return []
    out: list[tuple[int | None, str]] = []
    for number, cell in enumerate(cells if isinstance(cells, list) else [], 1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(part for part in source if isinstance(part, str))
            out.append((number, source if isinstance(source, str) else ""))
    # Tokenising is linear but slow: more code than `load` accepts is not compared.
    return out if sum(len(s) for _, s in out) <= submission.MAX_CODE_CHARS else []


def blocks(cells: Iterable[tuple[int | None, str]]) -> list[list[Token]]:
    """Normalised tokens of the cells, cut into blocks at each `def`, `class` or decorator
    that starts a line; a cell Python cannot tokenise (magics) is left out."""
    out: list[list[Token]] = []
    for cell, source in cells:
        # Magics and shell lines are blanked, not removed, so line numbers stay the cell's.
        lines = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        )
        try:
            found = list(tokenize.generate_tokens(io.StringIO(lines + "\n").readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        current: list[Token] = []
        previous, line_start = "", True
        for tok in found:
            if tok.type in _SKIPPED:
                line_start = line_start or tok.type in (tokenize.NEWLINE, tokenize.NL)
                continue
            text = tok.string
            if line_start and text in _BLOCK_STARTS and current:
                out.append(current)
                current = []
            if tok.type == tokenize.NAME and text not in _KEPT_NAMES and previous != ".":
                text = "_"
            current.append(Token(text, cell, tok.start[0]))
            previous, line_start = tok.string, False
        if current:
            out.append(current)
    return out


def tokens(cells: Iterable[tuple[int | None, str]]) -> list[str]:
    """The normalised token texts of the cells, in order."""
    return [t.text for block in blocks(cells) for t in block]


def _key(items: Sequence[Token]) -> int:
    return hash(tuple(t.text for t in items))


def shingle_places(block_list: Sequence[Sequence[Token]]) -> dict[int, list[Sequence[Token]]]:
    """Each shingle (hash of `SHINGLE` tokens within one block) with its occurrences."""
    places: dict[int, list[Sequence[Token]]] = {}
    for block in block_list:
        for i in range(len(block) - SHINGLE + 1):
            window = block[i : i + SHINGLE]
            places.setdefault(_key(window), []).append(window)
    return places


def shingles(block_list: Sequence[Sequence[Token]]) -> frozenset[int]:
    return frozenset(shingle_places(block_list))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def base_shingles(paths: Sequence[Path] = (), texts: Sequence[str] = ()) -> frozenset[int]:
    """What every student was given: the files' code (a reference, a starter) and code
    texts (a statement's blocks and calls)."""
    found: set[int] = set()
    for path in paths:
        found |= shingles(blocks(code_cells(path)))
    for text in texts:
        found |= shingles(blocks([(None, text)]))
    return frozenset(found)


def common_shingles(own: Mapping[str, frozenset[int]]) -> frozenset[int]:
    """Shingles in more than `COMMON_SHARE` of the submissions and in `COMMON_MIN` or more."""
    counts = Counter(s for found in own.values() for s in found)
    needed = max(COMMON_MIN, int(COMMON_SHARE * len(own)) + 1)
    return frozenset(s for s, n in counts.items() if n >= needed)


def groups(
    files: dict[str, Path],
    base: Sequence[Path] = (),
    threshold: float = THRESHOLD,
    base_texts: Sequence[str] = (),
) -> list[Group]:
    """Near-identical groups among `files` (id -> path), given and common code set aside,
    biggest first; each flagged pair with the passages its two submissions share."""
    subtract = base_shingles(base, base_texts)
    places: dict[str, dict[int, list[Sequence[Token]]]] = {}
    sources: dict[str, dict[int | None, list[str]]] = {}
    for sid, path in files.items():
        try:
            cells = code_cells(path)
            places[sid] = shingle_places(blocks(cells))
            sources[sid] = {cell: text.splitlines() for cell, text in cells}
        except Exception:  # one submission's odd content leaves it out, never the others
            logging.getLogger("grader.batch").exception("similarity skipped %s", sid)
    given = {sid: frozenset(p) - subtract for sid, p in places.items()}
    common = common_shingles(given)
    own = {sid: found - common for sid, found in given.items()}
    own = {sid: found for sid, found in own.items() if len(found) >= MIN_SHINGLES}
    parent = {sid: sid for sid in own}

    def root(sid: str) -> str:
        while parent[sid] != sid:
            parent[sid] = parent[parent[sid]]
            sid = parent[sid]
        return sid

    flagged: list[Pair] = []
    for a, b in combinations(sorted(own), 2):
        score = jaccard(own[a], own[b])
        if score >= threshold:
            parent[root(b)] = root(a)
            shared = own[a] & own[b]
            passages = _passages(places[a], places[b], shared, sources[a])
            flagged.append(Pair(a, b, round(score, 3), passages))
    members: dict[str, list[str]] = {}
    for sid in own:
        members.setdefault(root(sid), []).append(sid)
    found = []
    for ids in members.values():
        if len(ids) < 2:
            continue
        pairs = tuple(p for p in flagged if p.a in ids)
        best = max(p.similarity for p in pairs)
        found.append(Group(ids=tuple(sorted(ids)), similarity=best, pairs=pairs))
    return sorted(found, key=lambda g: (-len(g.ids), -g.similarity, g.ids))


def _passages(
    mine: Mapping[int, list[Sequence[Token]]],
    theirs: Mapping[int, list[Sequence[Token]]],
    shared: frozenset[int],
    source: Mapping[int | None, list[str]],
) -> tuple[Passage, ...]:
    """The runs of lines of `mine` that shared shingles cover, each with the lines of
    `theirs` holding the same shingles; the longest `PASSAGES`."""
    lines: dict[int | None, dict[int, set[int]]] = {}  # cell -> line -> shingles on it
    for key in shared:
        for window in mine.get(key, ()):
            for tok in window:
                lines.setdefault(tok.cell, {}).setdefault(tok.line, set()).add(key)
    runs: list[tuple[int | None, int, int, set[int]]] = []
    for cell, by_line in lines.items():
        start = previous = None
        keys: set[int] = set()
        for line in sorted(by_line):
            if previous is not None and line > previous + 1:
                runs.append((cell, start, previous, keys))  # type: ignore[arg-type]
                start, keys = None, set()
            start = line if start is None else start
            keys |= by_line[line]
            previous = line
        if start is not None and previous is not None:
            runs.append((cell, start, previous, keys))
    runs.sort(key=lambda r: (-(r[2] - r[1]), r[0] or 0, r[1]))
    out = []
    for cell, first, last, keys in runs[:PASSAGES]:
        other = [tok for key in keys for window in theirs.get(key, ()) for tok in window]
        cells = Counter(tok.cell for tok in other)
        other_cell = cells.most_common(1)[0][0] if cells else None
        other_first, other_last = _densest(
            Counter(tok.line for tok in other if tok.cell == other_cell)
        )
        text = source.get(cell, [])[first - 1 : min(last, first + PASSAGE_LINES - 1)]
        out.append(
            Passage(
                cell=cell,
                first=first,
                last=last,
                other_cell=other_cell,
                other_first=other_first,
                other_last=other_last,
                code=tuple(text),
            )
        )
    return tuple(out)


def _densest(lines: Counter[int]) -> tuple[int, int]:
    """The run of consecutive lines holding the most of the shared tokens: where the other
    submission has the passage (a short shingle may also occur elsewhere in it)."""
    best, best_count = (0, 0), -1
    start = previous = None
    count = 0
    for line in sorted(lines):
        if previous is not None and line > previous + 1:
            if count > best_count:
                best, best_count = (start, previous), count  # type: ignore[assignment]
            start, count = None, 0
        start = line if start is None else start
        count += lines[line]
        previous = line
    if start is not None and previous is not None and count > best_count:
        best = (start, previous)
    return best
