"""Load a submission: read it, parse it, choose what the worker may run. Never executes it.

A notebook is read with nbformat; each code cell is parsed on its own, after IPython
syntax (magics, shell lines, `obj?` help) is blanked out line by line so that line
numbers stay those the student sees. Of the top-level statements only definitions
are kept as `CodeChunk`s for the worker: imports, functions, classes (with their
decorators), assignments of constants, and `if`/`try` blocks made only of those.
Everything else (data loading, the tuner, training, plots, prints...) is listed as a
`SkippedStatement` with a readable kind, so the report can say what was not run.

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
from grader.limits import Limits
from grader.results import Location, SkippedStatement

CODE_WIDTH = 80  # SkippedStatement.code is shortened to this many characters
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
    selector = _Selector()
    trees = []
    for cell, source in code:
        python, skipped = _neutralise(source, cell)
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
        shown = f": `{_shorten(code)}`" if code else ""
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


def _shorten(code: str) -> str:
    code = code.strip()
    return code if len(code) <= CODE_WIDTH else code[: CODE_WIDTH - 3] + "..."


# --- IPython syntax ------------------------------------------------------------------

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


def _neutralise(source: str, cell: int | None) -> tuple[str | None, list[SkippedStatement]]:
    """Blank out IPython syntax, keeping line numbers; None if the whole cell is not Python."""
    lines = source.split("\n")
    skipped: list[SkippedStatement] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        name = words[0] if words else ""
        if name not in _PYTHON_CELL_MAGICS:
            kind = "shell" if name in _SHELL_CELL_MAGICS else "magic"
            return None, [SkippedStatement(cell, first + 1, kind, _shorten(lines[first]))]
        skipped.append(SkippedStatement(cell, first + 1, "magic", _shorten(lines[first])))
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
        skipped.append(SkippedStatement(cell, i + 1, kind, _shorten(line)))
        indent = line[: len(line) - len(line.lstrip())]
        # Inside a block a `pass` keeps the block valid; at top level nothing is needed.
        lines[i] = f"{indent}pass" if indent else ""
        in_magic = line.endswith("\\")
    return "\n".join(lines), skipped


# --- choosing what to run ------------------------------------------------------------

_TUNERS = frozenset({"BayesianOptimization", "RandomSearch", "Hyperband", "GridSearch"})
_TUNER_RESULTS = frozenset(
    {
        "results_summary",
        "get_best_models",
        "get_best_hyperparameters",
        "get_best_trials",
        "search_space_summary",
    }
)
_DATA_CALLS = frozenset(
    {
        "load_data",
        "read_csv",
        "read_parquet",
        "read_excel",
        "read_json",
        "read_pickle",
        "loadtxt",
        "genfromtxt",
        "fetch_openml",
        "load_dataset",
        "image_dataset_from_directory",
        "get_file",
        "urlretrieve",
    }
)
_DATA_MODULES = frozenset({"np", "numpy", "tfds", "pickle", "joblib", "json", "torch"})
_PLOT_MODULES = frozenset({"plt", "matplotlib", "sns", "seaborn"})
_PLOT_CALLS = frozenset({"plot", "imshow", "show", "savefig", "plot_model"})
# When one statement does several things, the report names the most telling one.
_PRIORITY = (
    "shell",
    "magic",
    "tuner.search",
    "training",
    "evaluate",
    "tuner construction",
    "tuner results",
    "data loading",
    "random seed",
    "environment",
    "plot",
    "print",
)


def _call_parts(func: ast.expr) -> tuple[str, ...]:
    """`keras.optimizers.SGD` -> ("keras", "optimizers", "SGD"); a call in the chain is "()"."""
    parts: list[str] = []
    node: ast.expr = func
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                parts.append(node.id)
            return tuple(reversed(parts))


def _call_kind(parts: tuple[str, ...], plot_aliases: set[str]) -> str | None:
    if not parts:
        return None
    root, last = parts[0], parts[-1]
    if root == "get_ipython":
        return "shell" if last in ("system", "getoutput") else "magic"
    if last == "search" and len(parts) > 1 and root not in ("re", "regex"):
        return "tuner.search"
    if last in ("fit", "fit_generator", "train_on_batch"):
        return "training"
    if last in ("evaluate", "predict"):
        return "evaluate"
    if last in _TUNERS or last.endswith("Tuner"):
        return "tuner construction"
    if last in _TUNER_RESULTS:
        return "tuner results"
    if last in _DATA_CALLS or parts == ("open",) or (last == "load" and root in _DATA_MODULES):
        return "data loading"
    if last in ("set_random_seed", "set_seed") or (last == "seed" and len(parts) > 1):
        return "random seed"
    if parts[:2] == ("os", "environ") or last in ("putenv", "setenv"):
        return "environment"
    if root in plot_aliases or last in _PLOT_CALLS:
        return "plot"
    if parts in (("print",), ("display",), ("pprint",)):
        return "print"
    return None


def _statement_kind(stmt: ast.stmt, plot_aliases: set[str]) -> str:
    kinds = {
        _call_kind(_call_parts(node.func), plot_aliases)
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
    }
    for kind in _PRIORITY:
        if kind in kinds:
            return kind
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    if any(_call_parts(t)[:2] == ("os", "environ") for t in targets):
        return "environment"
    if isinstance(stmt, ast.Expr) and not isinstance(stmt.value, ast.Call):
        return "display"  # a bare expression only shows a value in Jupyter
    return "other statement"


def _is_constant(node: ast.expr | None, known: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in known
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant(e, known) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant(k, known) for k in node.keys) and all(
            _is_constant(v, known) for v in node.values
        )
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand, known)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left, known) and _is_constant(node.right, known)
    return False


def _target_names(target: ast.expr) -> list[str] | None:
    """Names bound by a plain-name target (`a`, `a, b`, `(a, *b)`); None for anything else."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        names: list[str] = []
        for element in target.elts:
            inner = _target_names(element)
            if inner is None:
                return None
            names += inner
        return names
    return None


def _constant_names(stmt: ast.stmt, known: set[str]) -> list[str] | None:
    """The names a constant assignment binds, or None if `stmt` is not one."""
    if isinstance(stmt, ast.Assign) and _is_constant(stmt.value, known):
        names: list[str] = []
        for target in stmt.targets:
            inner = _target_names(target)
            if inner is None:
                return None
            names += inner
        return names
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        ok = stmt.value is None or _is_constant(stmt.value, known)
        return [stmt.target.id] if ok else None
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        ok = stmt.target.id in known and _is_constant(stmt.value, known)
        return [stmt.target.id] if ok else None
    return None


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _keep_kind(stmt: ast.stmt, known: set[str]) -> str | None:
    """Why `stmt` is kept ("import", "class", ...), or None to skip it. Updates `known`."""
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        known.difference_update(alias.asname or alias.name.split(".")[0] for alias in stmt.names)
        return "import"
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        known.discard(stmt.name)
        return "class" if isinstance(stmt, ast.ClassDef) else "function"
    names = _constant_names(stmt, known)
    if names is not None:
        known.update(names)
        return "constant"
    if isinstance(stmt, ast.If | ast.Try):
        inner = set(known)
        if all(_benign_in_block(s, inner) for s in _block_statements(stmt)):
            known.clear()
            known.update(inner)
            return "block"
    return None


def _block_statements(stmt: ast.If | ast.Try) -> Iterator[ast.stmt]:
    yield from stmt.body
    if isinstance(stmt, ast.Try):
        for handler in stmt.handlers:
            yield from handler.body
        yield from stmt.finalbody
    yield from stmt.orelse


def _benign_in_block(stmt: ast.stmt, known: set[str]) -> bool:
    """Inside a kept if/try: definitions, plus what an import guard typically does."""
    if isinstance(stmt, ast.Pass | ast.Raise) or _is_docstring(stmt):
        return True
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and _call_parts(stmt.value.func) in (("print",), ("warnings", "warn"))
    ):
        return True
    return _keep_kind(stmt, known) is not None


def _bound_names(stmt: ast.stmt) -> Iterable[str]:
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id


def _used_names(stmt: ast.stmt) -> set[str]:
    return {
        node.id
        for node in ast.walk(stmt)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


class _Selector:
    """Walks the cells in order, keeping definitions and listing the rest."""

    def __init__(self) -> None:
        self.chunks: list[CodeChunk] = []
        self.skipped: list[SkippedStatement] = []
        self.known: set[str] = set()  # names currently bound to constants
        self.plot_aliases: set[str] = set(_PLOT_MODULES)
        self.data_names: set[str] = set()  # names bound by skipped data loading/preparation

    def select(self, tree: ast.Module, python: str, cell: int | None) -> None:
        lines = python.split("\n")  # once per cell: per statement it grows as lines × statements
        for stmt in tree.body:
            self._learn_aliases(stmt)
            if _is_docstring(stmt):
                continue
            kind = _keep_kind(stmt, self.known)
            start = _start_line(stmt)
            if kind is not None:
                self.chunks.append(CodeChunk(cell, start, _source(lines, stmt, start), kind))
                continue
            bound = set(_bound_names(stmt))
            # A name rebound at run time is no longer the constant we saw before.
            self.known.difference_update(bound)
            first_line = _source(lines, stmt, start).split("\n", 1)[0]
            kind = _statement_kind(stmt, self.plot_aliases)
            if kind == "other statement" and bound and self.data_names & _used_names(stmt):
                kind = "data preparation"  # e.g. reshaping or splitting the loaded arrays
            if kind in ("data loading", "data preparation"):
                self.data_names |= bound
            self.skipped.append(SkippedStatement(cell, start, kind, _shorten(first_line)))

    def _learn_aliases(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            module = (stmt.module or "") if isinstance(stmt, ast.ImportFrom) else ""
            for alias in stmt.names:
                if (module or alias.name).split(".")[0] in ("matplotlib", "seaborn"):
                    self.plot_aliases.add(alias.asname or alias.name.split(".")[0])


def _start_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _source(lines: list[str], stmt: ast.stmt, start: int) -> str:
    if start != stmt.lineno or not _is_simple(stmt):
        # Compound statements own their whole lines (decorators included).
        return "\n".join(lines[start - 1 : stmt.end_lineno])
    return _segment(lines, stmt)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """`ast.get_source_segment`, whose time grows with the square of a line's length (3.11).

    Column offsets are UTF-8 byte offsets, as in the AST.
    """
    end_line, end_col = node.end_lineno, node.end_col_offset
    if end_line is None or end_col is None or not 0 < node.lineno <= end_line <= len(lines):
        return ""
    part = lines[node.lineno - 1 : end_line]
    if len(part) == 1:
        return part[0].encode("utf-8")[node.col_offset : end_col].decode("utf-8", "replace")
    first = part[0].encode("utf-8")[node.col_offset :].decode("utf-8", "replace")
    last = part[-1].encode("utf-8")[:end_col].decode("utf-8", "replace")
    return "\n".join([first, *part[1:-1], last])


def _is_simple(stmt: ast.stmt) -> bool:
    return not isinstance(
        stmt,
        ast.FunctionDef
        | ast.AsyncFunctionDef
        | ast.ClassDef
        | ast.If
        | ast.Try
        | ast.For
        | ast.AsyncFor
        | ast.While
        | ast.With
        | ast.AsyncWith
        | ast.Match,
    )


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
            if isinstance(node, ast.Call) and _call_parts(node.func)[-len(wanted) :] == wanted:
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
                found[stmt.name] = Location(cell, _start_line(stmt))  # type: ignore[attr-defined]
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
