"""Load a submission: read it, parse it, choose what the worker may run. Never executes it.

A notebook is read with nbformat; each code cell is parsed on its own, after IPython
syntax (magics, shell lines, `obj?` help) is blanked out line by line so that line
numbers stay those the student sees. Of the top-level statements only definitions
are kept as `CodeChunk`s for the worker: imports, functions, classes (with their
decorators), assignments of constants, and `if`/`try` blocks made only of those.
Everything else (data loading, the tuner, training, plots, prints...) is listed as a
`SkippedStatement` with a readable kind, so the report can say what was not run.
The blanking is grader/ipython_syntax.py's, the choice grader/selection.py's.

Locations follow docs/DESIGN.md: 1-based cell index among all cells (markdown
included) and 1-based line within the cell; for a `.py` file the cell is None.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tokenize
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

import nbformat

from grader import i18n
from grader.child.protocol import CodeChunk, filename_for
from grader.discover import Kind, SubmissionRef
from grader.errors import SubmissionError
from grader.ipython_syntax import neutralise
from grader.limits import Limits
from grader.results import Location, SkippedStatement
from grader.selection import Selector, call_parts, shorten, start_line

_FIX_NOTEBOOK = i18n.Texts("submission.hint_notebook")  # _FIX_NOTEBOOK[lang]
_FIX_SYNTAX = i18n.Texts("submission.hint_syntax")  # in the report's language: _FIX_SYNTAX[lang]

# Limits on what the parent is willing to read and parse. A submission is hostile input to
# the trusted parent: without them a notebook nested thousands of levels deep, a 1,500-term
# `1+1+...` (RecursionError in ast, compile and any recursive walker), a 5,000-digit integer
# (int max str digits) or a megabyte-long line (quadratic work) would raise out of `load` or
# stall the batch. The exam notebook is about 40 KB with 60 cells, lines under 120
# characters and nesting under 30 levels, so each limit sits far above any real submission.
MAX_FILE_BYTES = 64 * 1024 * 1024  # notebooks carry their outputs (plots) too
MAX_CELLS = 2_000
MAX_CODE_CHARS = 1_000_000  # all code cells together
MAX_LINE_CHARS = 20_000
MAX_JSON_DEPTH = 100  # nbformat itself needs about 6
# JSON values of a notebook, object keys included, counted before `json.loads` builds them:
# each costs it 30-75 bytes (measured: a million `{}` 64 MB, a million keys 75 MB), so a
# 64 MB file of `[{},{},...]` would take 1.4 GB. The exam notebook has about 2,000.
MAX_JSON_VALUES = 2_000_000
# Markdown and raw cells together keep this many characters, in file order; the rest is
# cut before nbformat sees it. Nothing grades them: they are kept only so that cell numbers
# (and the child's tracebacks, which quote cells by number) match the notebook.
MAX_TEXT_CHARS = 1_000_000
# Below CPython's own compiler limit (about 1,000 nested expressions, RecursionError) with
# room to spare for the parent's recursive walkers (`_is_constant`, `ast.unparse`).
MAX_AST_DEPTH = 200

# Texts of the limits (the student reads them; `load(lang=...)` picks the language).
# The [submission] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("submission")
_HINT_SMALLER = i18n.Texts("submission.hint_smaller")


@dataclass(frozen=True)
class LoadedSubmission:
    ref: SubmissionRef
    sha256: str  # of the file's bytes
    kind: Kind
    cells: tuple[str, ...]  # every cell's source (markdown too): cells[i] is cell i + 1
    chunks: tuple[CodeChunk, ...]
    skipped: tuple[SkippedStatement, ...]
    # (cell, parsed code) for every code cell, for find_calls & co.
    trees: tuple[tuple[int | None, ast.Module], ...] = field(repr=False, compare=False, default=())


class SubmissionSyntaxError(SubmissionError):
    """The student's code does not parse; `location` says where."""

    def __init__(self, message: str, *, location: Location, hint: str | None = None) -> None:
        super().__init__(message, status="error", hint=hint)
        self.location = location


class OverLimit(SubmissionError):
    """Loading went over the time or memory ceiling (`limit` says which): rejected."""

    def __init__(self, message: str, *, limit: str, hint: str | None = None) -> None:
        super().__init__(message, status="rejected", hint=hint)
        self.limit = limit


def load(ref: SubmissionRef, *, lang: str = "en") -> LoadedSubmission:
    """Read and parse a submission in this process; `SubmissionError` if it cannot be graded.

    Status "rejected": empty, binary or non-UTF-8 file, a link, no code at all, or over a
    limit (`MAX_FILE_BYTES`, `MAX_CELLS`, `MAX_CODE_CHARS`, `MAX_LINE_CHARS`,
    `MAX_JSON_DEPTH`, `MAX_JSON_VALUES`). Status "error": not a valid notebook, a syntax
    error, or code nested deeper than `MAX_AST_DEPTH` (`SubmissionSyntaxError`, with the
    cell and line). Nothing else escapes: the texts of the limits are in `lang`. A
    student's file is loaded with `load_within`, which adds the spec's time and memory
    ceiling; this form is for files the grader trusts (the reference, examples, tests).
    """
    return parse(read_file(ref.path, lang=lang), ref, lang=lang)


def parse(data: bytes, ref: SubmissionRef, *, lang: str = "en") -> LoadedSubmission:
    """`load` of bytes already read (`read_file`); `ref.path` only names the file."""
    try:
        return _load(data, ref, lang)
    except RecursionError:
        # The limits are meant to stop every bomb before this; a shape they missed still
        # costs this submission only, never the caller.
        raise SubmissionError(
            _say("cannot_load", lang, name=ref.path.name, error="RecursionError"),
            status="rejected",
            hint=_HINT_SMALLER[_lang(lang)],
        ) from None
    except MemoryError:
        raise OverLimit(
            _say("cannot_load", lang, name=ref.path.name, error="MemoryError"),
            limit="memory",
            hint=_HINT_SMALLER[_lang(lang)],
        ) from None


# `python -m grader.loadcheck`'s exit statuses: it finished parsing (whatever the verdict),
# or it ran out of the memory it was given.
LOADCHECK_DONE, LOADCHECK_MEMORY = 0, 3
_LOADCHECK = (sys.executable, "-m", "grader.loadcheck")


def load_within(ref: SubmissionRef, limits: Limits, *, lang: str = "en") -> LoadedSubmission:
    """`load` under the spec's `[limits]` ceiling: `load_seconds` and `load_memory_mb`.

    The file is read here once (no link followed, a pipe never blocks, size capped), and
    its bytes are parsed first by a separate process (`python -m grader.loadcheck`, this
    module's own code) whose address space is capped at `load_memory_mb` and which is
    killed after `load_seconds`. Only when it finished within both does this process parse
    the same bytes, which costs what the check just showed it costs. Over either, the
    submission is "rejected" with the limit named (`OverLimit`).
    """
    data = read_file(ref.path, lang=lang)
    command = [*_LOADCHECK, ref.kind, str(limits.load_memory_mb)]
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        close_fds=True,
    ) as proc:
        try:
            _, errors = proc.communicate(data, timeout=limits.load_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise OverLimit(
                _say("load_time", lang, name=ref.path.name, seconds=limits.load_seconds),
                limit="time",
                hint=_HINT_SMALLER[_lang(lang)],
            ) from None
    # Killed by a signal nobody sent (the C allocator aborting) is memory too.
    if proc.returncode == LOADCHECK_MEMORY or proc.returncode < 0:
        raise OverLimit(
            _say("load_memory", lang, name=ref.path.name, megabytes=limits.load_memory_mb),
            limit="memory",
            hint=_HINT_SMALLER[_lang(lang)],
        )
    if proc.returncode != LOADCHECK_DONE:  # a bug of the grader's, not the student's
        tail = errors.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"grader.loadcheck exited with {proc.returncode}: {tail}")
    return parse(data, ref, lang=lang)


def read_file(path: Path, *, lang: str = "en") -> bytes:
    """The bytes of a submission file: a regular file of at most `MAX_FILE_BYTES`.

    Opened without following a link (discovery refuses links; this holds for any caller)
    and without blocking (a named pipe would hang a plain read forever), and checked on
    the open descriptor; `SubmissionError` (status "rejected") otherwise.
    """
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SubmissionError(
                i18n.say("discover.link", lang, name=path.name), status="rejected"
            ) from None
        raise SubmissionError(
            _say("unreadable", lang, name=path.name, error=exc.strerror or exc),
            status="rejected",
            hint=_say("hint_unreadable", lang),
        ) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(_say("not_regular", lang, name=path.name), status="rejected")
        if info.st_size > MAX_FILE_BYTES:
            raise SubmissionError(
                _say("file_too_big", lang, name=path.name, size=info.st_size, limit=MAX_FILE_BYTES),
                status="rejected",
                hint=_HINT_SMALLER[_lang(lang)],
            )
        data = fh.read(MAX_FILE_BYTES + 1)  # it may have grown since fstat
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(
            _say("file_too_big", lang, name=path.name, size=len(data), limit=MAX_FILE_BYTES),
            status="rejected",
        )
    return data


def file_sha256(path: Path) -> str:
    """SHA-256 of a submission file as `read_file` reads it (no link followed, a pipe never
    blocking, the size capped); "" when it cannot be read, which matches no stored result."""
    try:
        return hashlib.sha256(read_file(path)).hexdigest()
    except SubmissionError:
        return ""


def _lang(lang: str) -> str:
    return lang if lang in i18n.catalogs() else i18n.FALLBACK


def _say(key: str, lang: str, **fields: object) -> str:
    return MESSAGES[key][_lang(lang)].format(**fields)


def _where(location: Location, lang: str) -> str:
    """A place inside a sentence ("la celda 3, la línea 4"): the catalog's location.in_*."""
    if location.cell:
        return i18n.say("location.in_cell_line", lang, cell=location.cell, line=location.line)
    return i18n.say("location.in_line", lang, line=location.line)


def _load(data: bytes, ref: SubmissionRef, lang: str) -> LoadedSubmission:
    text = _decode(data, ref, lang)
    if ref.kind == "ipynb":
        cells = _notebook_cells(text, ref, lang)
        code = [(i, src) for i, (cell_type, src) in enumerate(cells, 1) if cell_type == "code"]
    else:
        cells = [("code", text)]
        code = [(None, text)]
    if not any(src.strip() for _, src in code):
        raise SubmissionError(
            _say("no_code", lang, name=ref.path.name),
            status="rejected",
            hint=_say("hint_no_code", lang),
        )
    _check_code_size(code, ref.path.name, lang)
    selector = Selector()
    trees = []
    for cell, source in code:
        python, skipped = neutralise(source, cell)
        selector.skipped.extend(skipped)
        if python is not None:
            tree = _parse(python, source, cell, lang)
            trees.append((cell, tree))
            selector.select(tree, python, cell)
    return LoadedSubmission(
        ref=ref,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=ref.kind,
        cells=tuple(src for _, src in cells),
        chunks=tuple(selector.chunks),
        skipped=tuple(sorted(selector.skipped, key=lambda s: (s.cell or 0, s.line))),
        trees=tuple(trees),
    )


# --- reading -------------------------------------------------------------------------


def _decode(data: bytes, ref: SubmissionRef, lang: str = "en") -> str:
    if not data.strip():
        raise SubmissionError(
            _say("empty", lang, name=ref.path.name),
            status="rejected",
            hint=_say("hint_empty", lang),
        )
    # A NUL byte is valid UTF-8 but never appears in a notebook or a script.
    bad = data.find(b"\x00")
    if bad < 0:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = exc.start
    if bad >= 0:
        raise SubmissionError(
            _say("not_utf8", lang, name=ref.path.name, byte=f"{data[bad]:#04x}", offset=bad),
            status="rejected",
            hint=_say("hint_not_utf8", lang),
        )
    # ast counts a lone "\r" as a line break too; one convention keeps line numbers aligned.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def notebook_json(text: str, name: str, lang: str = "en") -> dict[str, Any]:
    """A notebook's JSON object, parsed only once its nesting and its number of values are
    known to be within `MAX_JSON_DEPTH` and `MAX_JSON_VALUES`; `SubmissionError` otherwise.

    Everything else that parses a student's notebook (grader/similarity.py) goes through
    here too, so no reader builds more than the limits allow.
    """
    _check_json_shape(text, name, lang)  # before json.loads, which recurses per level
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            _say("broken_json", lang, name=name, line=exc.lineno, column=exc.colno, error=exc.msg),
            hint=_FIX_NOTEBOOK[_lang(lang)],
        ) from None
    except ValueError:  # an integer over the int max str digits limit
        raise SubmissionError(
            _say("json_number", lang, name=name, digits=sys.get_int_max_str_digits()),
            hint=_FIX_NOTEBOOK[_lang(lang)],
        ) from None
    if not isinstance(raw, dict) or not ({"cells", "worksheets"} & raw.keys()):
        raise SubmissionError(
            _say("not_notebook", lang, name=name), hint=_FIX_NOTEBOOK[_lang(lang)]
        )
    return raw


def _notebook_cells(text: str, ref: SubmissionRef, lang: str = "en") -> list[tuple[str, str]]:
    name = ref.path.name
    bounded = _bounded_notebook(notebook_json(text, name, lang), name, lang)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about e.g. missing cell ids
            # Schema problems are captured, not raised: Jupyter itself opens such files.
            notebook = nbformat.reads(
                json.dumps(bounded), as_version=4, capture_validation_error={}
            )
    except Exception as exc:  # nbformat raises many types for malformed notebooks
        raise SubmissionError(
            _say("invalid_notebook", lang, name=name, error=f"{type(exc).__name__}: {exc}"[:300]),
            hint=_FIX_NOTEBOOK[_lang(lang)],
        ) from None
    found = notebook.get("cells", [])
    if not isinstance(found, list) or len(found) > MAX_CELLS:  # an old format's worksheets
        count = len(found) if isinstance(found, list) else 0
        raise SubmissionError(
            _say("too_many_cells", lang, name=name, count=count, limit=MAX_CELLS),
            status="rejected",
        )
    cells = []
    for number, cell in enumerate(found, 1):
        cell_type = cell.get("cell_type") if isinstance(cell, dict) else None
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(cell_type, str) or not isinstance(source, str):
            raise _no_source(name, number, lang)
        cells.append((cell_type, source.replace("\r\n", "\n").replace("\r", "\n")))
    return cells


def _bounded_notebook(raw: dict[str, Any], name: str, lang: str) -> dict[str, Any]:
    """What nbformat is given: each cell's type and source, nothing else the student wrote.

    nbformat validates everything it parses, and its repair of an invalid notebook
    re-validates once per error: 80,000 invalid outputs (a 3 MB file) kept it busy for 70 s
    at 4.5 GB (bench/RESULTS.md). The grader reads only cell types and sources, so outputs,
    attachments and metadata are dropped here, the cells counted (`MAX_CELLS`) and the text
    cells cut to `MAX_TEXT_CHARS` together; what is left is bounded by the file's code.
    """
    version = raw.get("nbformat")
    bounded: dict[str, Any] = {"metadata": {}}
    for key in ("nbformat", "nbformat_minor"):
        if _is_small_int(raw.get(key)):
            bounded[key] = raw[key]
    worksheets = raw.get("worksheets") if "cells" not in raw else None
    groups = (
        [ws.get("cells") if isinstance(ws, dict) else None for ws in worksheets]
        if isinstance(worksheets, list)
        else [raw.get("cells")]
    )
    if not all(isinstance(group, list) for group in groups):
        raise SubmissionError(
            _say("cells_not_list", lang, name=name), hint=_FIX_NOTEBOOK[_lang(lang)]
        )
    count = sum(len(group) for group in groups)
    if count > MAX_CELLS:
        # Before nbformat, whose validation of a huge notebook takes minutes.
        raise SubmissionError(
            _say("too_many_cells", lang, name=name, count=count, limit=MAX_CELLS),
            status="rejected",
            hint=_HINT_SMALLER[_lang(lang)],
        )
    text_left = [MAX_TEXT_CHARS]
    number = 0
    kept_groups = []
    for group in groups:
        kept = []
        for cell in group:
            number += 1
            kept.append(_bounded_cell(cell, number, version, text_left, name, lang))
        kept_groups.append(kept)
    if isinstance(worksheets, list):
        bounded["worksheets"] = [{"cells": cells, "metadata": {}} for cells in kept_groups]
    else:
        bounded["cells"] = kept_groups[0]
    return bounded


def _bounded_cell(
    cell: Any, number: int, version: Any, text_left: list[int], name: str, lang: str
) -> dict[str, Any]:
    """One cell as nbformat needs it (`text_left`: characters text cells may still keep)."""
    cell_type = cell.get("cell_type") if isinstance(cell, dict) else None
    if not isinstance(cell_type, str):
        raise _no_source(name, number, lang)
    kept: dict[str, Any] = {"cell_type": cell_type[:40], "metadata": {}}
    for key in ("source", "input"):  # nbformat 3 keeps a code cell's source in "input"
        if key not in cell:
            continue
        source = cell[key]
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise _no_source(name, number, lang)
        if cell_type != "code":
            source = source[: text_left[0]]
            text_left[0] -= len(source)
        kept[key] = source
    cell_id = cell.get("id")
    if isinstance(cell_id, str) and len(cell_id) <= 64:
        kept["id"] = cell_id
    if cell_type == "code":
        kept["outputs"] = []
        if version == 4:
            kept["execution_count"] = None
    if _is_small_int(cell.get("level")):  # nbformat 3's heading cells
        kept["level"] = cell["level"]
    return kept


def _is_small_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000


def _no_source(name: str, number: int, lang: str) -> SubmissionError:
    return SubmissionError(
        _say("cell_without_source", lang, name=name, number=number),
        hint=_FIX_NOTEBOOK[_lang(lang)],
    )


# A JSON string, escapes included: removed before counting, so brackets inside cell
# source never count as nesting (JSON strings hold no raw newline: line numbers stay).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKET_STEP)


def _check_json_shape(text: str, name: str, lang: str) -> None:
    """Reject JSON nested over `MAX_JSON_DEPTH` levels (naming the line where it goes over)
    or holding more than `MAX_JSON_VALUES` values.

    Linear and in C loops (regex, translate, count, accumulate): a 10 MB notebook takes
    0.2 s. Once strings are removed, every value but the first follows a `,` or a `:` or
    opens a container, so that count bounds the values json.loads would build (keys too).
    """
    structure = _JSON_STRING.sub("", text)
    values = 1 + sum(structure.count(mark) for mark in ",:[{")
    if values > MAX_JSON_VALUES:
        raise SubmissionError(
            _say("json_too_many_values", lang, name=name, count=values, limit=MAX_JSON_VALUES),
            status="rejected",
            hint=_HINT_SMALLER[_lang(lang)],
        )
    brackets = structure.encode("ascii", "replace").translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) <= MAX_JSON_DEPTH:
        return
    depth = 0
    for offset, char in enumerate(structure):  # only to find where: stops within the limit
        depth += _BRACKET_STEP.get(ord(char), 0)
        if depth > MAX_JSON_DEPTH:
            line = structure.count("\n", 0, offset) + 1
            raise SubmissionError(
                _say("json_too_deep", lang, name=name, limit=MAX_JSON_DEPTH, line=line),
                status="rejected",
                hint=_HINT_SMALLER[_lang(lang)],
            )


def _check_code_size(code: list[tuple[int | None, str]], name: str, lang: str) -> None:
    """Reject more code, or longer lines, than any exam answer has (see the limits above)."""
    total = sum(len(source) for _, source in code)
    if total > MAX_CODE_CHARS:
        raise SubmissionError(
            _say("too_much_code", lang, name=name, count=total, limit=MAX_CODE_CHARS),
            status="rejected",
            hint=_HINT_SMALLER[_lang(lang)],
        )
    for cell, source in code:
        for number, line in enumerate(source.split("\n"), 1):
            if len(line) > MAX_LINE_CHARS:
                where = _where(Location(cell, number), lang)
                raise SubmissionError(
                    _say("line_too_long", lang, where=where, count=len(line), limit=MAX_LINE_CHARS),
                    status="rejected",
                    hint=_HINT_SMALLER[_lang(lang)],
                )


def _parse(python: str, original: str, cell: int | None, lang: str = "en") -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in a string
            tree = ast.parse(python, filename=filename_for(cell))
    except SyntaxError as exc:
        line = exc.lineno or 1
        lines = original.split("\n")
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        where = Location(cell, line)
        if "integer string conversion" in str(exc.msg):
            # Python's own text tells the student to call sys.set_int_max_str_digits().
            digits = sys.get_int_max_str_digits()
            raise SubmissionSyntaxError(
                _say("big_integer", lang, where=_where(where, lang), digits=digits),
                location=where,
                hint=_FIX_SYNTAX[_lang(lang)],
            ) from None
        shown = f": `{shorten(code)}`" if code else ""
        raise SubmissionSyntaxError(
            _say(
                "syntax",
                lang,
                kind=type(exc).__name__,
                where=_where(where, lang),
                error=exc.msg,
                code=shown,
            ),
            location=where,
            hint=_FIX_SYNTAX[_lang(lang)],
        ) from None
    except (RecursionError, MemoryError):
        where = Location(cell, _busiest_line(python))
        raise SubmissionSyntaxError(
            _say("too_deep", lang, where=_where(where, lang), limit=MAX_AST_DEPTH),
            location=where,
            hint=_FIX_SYNTAX[_lang(lang)],
        ) from None
    deep = _too_deep(tree)
    if deep is not None:
        where = Location(cell, deep)
        raise SubmissionSyntaxError(
            _say("too_deep", lang, where=_where(where, lang), limit=MAX_AST_DEPTH),
            location=where,
            hint=_FIX_SYNTAX[_lang(lang)],
        )
    return tree


def _too_deep(tree: ast.Module) -> int | None:
    """The line of the first statement nested over `MAX_AST_DEPTH` levels, or None.

    Iterative: a recursive walk would itself hit the recursion limit it guards against.
    """
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        if isinstance(node, ast.stmt):
            line = node.lineno
        if depth > MAX_AST_DEPTH:
            return line
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return None


def _busiest_line(python: str) -> int:
    """The first line of the logical line with the most tokens (1 if it cannot tell).

    When the parser itself gives up (RecursionError), the culprit is a huge expression:
    the logical line with by far the most tokens.
    """
    best, best_count, start, count = 1, 0, None, 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(python).readline):
            if start is None and tok.type not in (tokenize.NL, tokenize.COMMENT):
                start = tok.start[0]
            count += 1
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if count > best_count:
                    best, best_count = start, count
                start, count = None, 0
    except (tokenize.TokenError, SyntaxError, RecursionError, MemoryError):
        pass
    if count > best_count and start is not None:
        best = start
    return best


# --- looking things up ---------------------------------------------------------------


def _scopes(loaded: LoadedSubmission, within: str | None) -> Iterator[tuple[int | None, ast.AST]]:
    for cell, tree in loaded.trees:
        if within is None:
            yield cell, tree
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.ClassDef | ast.FunctionDef) and stmt.name == within:
                yield cell, stmt


def _matching_calls(
    loaded: LoadedSubmission, name: str, within: str | None
) -> Iterator[tuple[int | None, ast.Call]]:
    wanted = tuple(name.split("."))
    for cell, scope in _scopes(loaded, within):
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and call_parts(node.func)[-len(wanted) :] == wanted:
                yield cell, node


def _in_order(found: Iterable[tuple[int | None, ast.AST]]) -> tuple[Location, ...]:
    ordered = sorted(found, key=lambda f: (f[0] or 0, f[1].lineno, f[1].col_offset))
    return tuple(Location(cell, node.lineno) for cell, node in ordered)


def find_calls(
    loaded: LoadedSubmission, name: str, *, within: str | None = None
) -> tuple[Location, ...]:
    """Where `name(...)` is called, in file order, anywhere in the code (skipped or not).

    `name` matches the end of the called name: "SGD" matches `keras.optimizers.SGD(...)`,
    "optimizers.SGD" too. `within` limits the search to a top-level class or function.
    """
    return _in_order(_matching_calls(loaded, name, within))


def find_keyword(
    loaded: LoadedSubmission, call_name: str, keyword: str, *, within: str | None = None
) -> tuple[Location, ...]:
    """Where a call to `call_name` passes `keyword=...` (e.g. SGD(lr=...)), in file order."""
    return _in_order(
        (cell, kw)
        for cell, call in _matching_calls(loaded, call_name, within)
        for kw in call.keywords
        if kw.arg == keyword
    )


def definitions(
    loaded: LoadedSubmission, kind: Literal["class", "function"] | None = None
) -> dict[str, Location]:
    """Top-level classes and/or functions by name (the last definition wins, as when run)."""
    types: tuple[type, ...] = {
        "class": (ast.ClassDef,),
        "function": (ast.FunctionDef, ast.AsyncFunctionDef),
        None: (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
    }[kind]
    found: dict[str, Location] = {}
    for cell, tree in loaded.trees:
        for stmt in tree.body:
            if isinstance(stmt, types):
                found[stmt.name] = Location(cell, start_line(stmt))  # type: ignore[attr-defined]
    return found


# --- the program that runs -------------------------------------------------------------


def normalised_program(loaded: LoadedSubmission) -> str:
    """The code the worker runs, in a form that only a change to that code changes.

    Each kept chunk, in order, as `ast.unparse` of its parse: comments, blank lines,
    layout, quote style and redundant parentheses go; docstrings, string contents,
    names, values and the order of definitions stay, as the running program can see
    them. Notebook outputs, execution counts, metadata, markdown cells and the skipped
    statements were never chunks. Each chunk is headed by its kind (the worker forgives
    a failed import only in an "import" chunk), on a comment line that unparse cannot
    produce. Two submissions with the same normalised program train identically under
    the same settings (grader.reuse).
    """
    parts = []
    for chunk in loaded.chunks:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d", seen at load
                text = ast.unparse(ast.parse(chunk.source))
        except (SyntaxError, RecursionError, ValueError):
            # Unparse gives up on some pathological trees; the exact text is still a
            # faithful (if less forgiving) normal form.
            text = chunk.source
        parts.append(f"# {chunk.kind}\n{text}")
    return "\n".join(parts) + "\n"


def program_sha256(loaded: LoadedSubmission) -> str:
    """SHA-256 of `normalised_program(loaded)`."""
    return hashlib.sha256(normalised_program(loaded).encode("utf-8")).hexdigest()
