"""Choosing what the worker may run, statement by statement: of a cell's top-level statements
only definitions are kept as `CodeChunk`s (imports, functions, classes with their
decorators, assignments of constants, `if`/`try` blocks made only of those); everything
else (data loading, the tuner, training, plots, prints...) becomes a `SkippedStatement`
with a readable kind (`Selector`). Part of loading a submission (grader/submission.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from grader.child.protocol import CodeChunk
from grader.results import SkippedStatement

CODE_WIDTH = 80  # SkippedStatement.code is shortened to this many characters


def shorten(code: str) -> str:
    code = code.strip()
    return code if len(code) <= CODE_WIDTH else code[: CODE_WIDTH - 3] + "..."


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


def call_parts(func: ast.expr) -> tuple[str, ...]:
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
        _call_kind(call_parts(node.func), plot_aliases)
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
    }
    for kind in _PRIORITY:
        if kind in kinds:
            return kind
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    if any(call_parts(t)[:2] == ("os", "environ") for t in targets):
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
        and call_parts(stmt.value.func) in (("print",), ("warnings", "warn"))
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


class Selector:
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
            start = start_line(stmt)
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
            self.skipped.append(SkippedStatement(cell, start, kind, shorten(first_line)))

    def _learn_aliases(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            module = (stmt.module or "") if isinstance(stmt, ast.ImportFrom) else ""
            for alias in stmt.names:
                if (module or alias.name).split(".")[0] in ("matplotlib", "seaborn"):
                    self.plot_aliases.add(alias.asname or alias.name.split(".")[0])


def start_line(stmt: ast.stmt) -> int:
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
