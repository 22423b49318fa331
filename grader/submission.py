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
import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import nbformat

from grader.child.protocol import CodeChunk, filename_for
from grader.discover import Kind, SubmissionRef
from grader.errors import SubmissionError
from grader.results import Location, SkippedStatement

CODE_WIDTH = 80  # SkippedStatement.code is shortened to this many characters
_FIX_NOTEBOOK = "open it in Jupyter and save it again (File > Save), then resubmit"
_FIX_SYNTAX = "fix it and check that the notebook runs from top to bottom"


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


def load(ref: SubmissionRef) -> LoadedSubmission:
    """Read and parse a submission; raise `SubmissionError` if it cannot be graded.

    Status "rejected": empty, binary or non-UTF-8 file, or no code at all.
    Status "error": not a valid notebook, or a syntax error (`SubmissionSyntaxError`).
    """
    try:
        data = ref.path.read_bytes()
    except OSError as exc:
        raise SubmissionError(
            f"{ref.path} cannot be read: {exc.strerror or exc}",
            status="rejected",
            hint="check that the file exists and is readable",
        ) from None
    text = _decode(data, ref)
    if ref.kind == "ipynb":
        cells = _notebook_cells(text, ref)
        code = [(i, src) for i, (cell_type, src) in enumerate(cells, 1) if cell_type == "code"]
    else:
        cells = [("code", text)]
        code = [(None, text)]
    if not any(src.strip() for _, src in code):
        raise SubmissionError(
            f"{ref.path.name} has no code", status="rejected", hint="submit the exam notebook"
        )
    selector = _Selector()
    trees = []
    for cell, source in code:
        python, skipped = _neutralise(source, cell)
        selector.skipped.extend(skipped)
        if python is not None:
            tree = _parse(python, source, cell)
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


def _decode(data: bytes, ref: SubmissionRef) -> str:
    if not data.strip():
        raise SubmissionError(
            f"{ref.path.name} is empty", status="rejected", hint="submit the saved exam file"
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
            f"{ref.path.name} is not a text file in UTF-8 (byte {data[bad]:#04x} "
            f"at offset {bad}); it may be binary or saved in another encoding",
            status="rejected",
            hint="submit the .ipynb or .py file itself, saved as UTF-8",
        )
    # ast counts a lone "\r" as a line break too; one convention keeps line numbers aligned.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _notebook_cells(text: str, ref: SubmissionRef) -> list[tuple[str, str]]:
    name = ref.path.name
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            f"{name} is not a valid notebook: its JSON is broken at line {exc.lineno}, "
            f"column {exc.colno} ({exc.msg})",
            hint=_FIX_NOTEBOOK,
        ) from None
    if not isinstance(raw, dict) or not ({"cells", "worksheets"} & raw.keys()):
        raise SubmissionError(
            f"{name} is JSON but not a Jupyter notebook (it has no 'cells')", hint=_FIX_NOTEBOOK
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about e.g. missing cell ids
            # Schema problems are captured, not raised: Jupyter itself opens such files.
            notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as exc:  # nbformat raises many types for malformed notebooks
        raise SubmissionError(
            f"{name} is not a valid notebook ({type(exc).__name__}: {exc})", hint=_FIX_NOTEBOOK
        ) from None
    cells = []
    for number, cell in enumerate(notebook.get("cells", []), 1):
        cell_type, source = cell.get("cell_type"), cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not isinstance(cell_type, str) or not isinstance(source, str):
            raise SubmissionError(
                f"{name} is not a valid notebook: cell {number} has no type or source",
                hint=_FIX_NOTEBOOK,
            )
        cells.append((cell_type, source.replace("\r\n", "\n").replace("\r", "\n")))
    return cells


def _parse(python: str, original: str, cell: int | None) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in a string
            return ast.parse(python, filename=filename_for(cell))
    except SyntaxError as exc:
        line = exc.lineno or 1
        lines = original.split("\n")
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        where = Location(cell, line)
        shown = f": `{_shorten(code)}`" if code else ""
        raise SubmissionSyntaxError(
            f"{type(exc).__name__} in {where}: {exc.msg}{shown}", location=where, hint=_FIX_SYNTAX
        ) from None
    except (RecursionError, MemoryError):
        where = Location(cell, 1)
        raise SubmissionSyntaxError(
            f"the code in {where} is nested too deeply to parse", location=where, hint=_FIX_SYNTAX
        ) from None


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
        for stmt in tree.body:
            self._learn_aliases(stmt)
            if _is_docstring(stmt):
                continue
            kind = _keep_kind(stmt, self.known)
            start = _start_line(stmt)
            if kind is not None:
                self.chunks.append(CodeChunk(cell, start, _source(python, stmt, start), kind))
                continue
            bound = set(_bound_names(stmt))
            # A name rebound at run time is no longer the constant we saw before.
            self.known.difference_update(bound)
            first_line = _source(python, stmt, start).split("\n", 1)[0]
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


def _source(python: str, stmt: ast.stmt, start: int) -> str:
    if start != stmt.lineno or not _is_simple(stmt):
        # Compound statements own their whole lines (decorators included).
        lines = python.split("\n")[start - 1 : stmt.end_lineno]
        return "\n".join(lines)
    return ast.get_source_segment(python, stmt) or ""


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
