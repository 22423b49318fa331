"""docs/DESIGN.md names every module of the package, so it cannot drift silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# --- the module table -------------------------------------------------------------------------

DESIGN = ROOT / "docs" / "DESIGN.md"
# What the table covers: every file of the package but the package's own __init__.py (the
# table is its contents), caches and hidden files.
_NOT_MODULES = ("grader/__init__.py",)


def _section(title: str) -> str:
    text = DESIGN.read_text(encoding="utf-8")
    assert f"\n## {title}\n" in text, f"docs/DESIGN.md has no section {title!r}"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _module_rows() -> list[tuple[tuple[str, ...], str, str]]:
    """The rows of DESIGN.md's module table: (paths the first cell names, where they run,
    what they do)."""
    rows = []
    for line in _section("Modules").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 3, f"a module row has three cells: {line[:80]}"
        rows.append((tuple(re.findall(r"`([^`]+)`", cells[0])), cells[1], cells[2]))
    assert rows, "docs/DESIGN.md's module table has no rows"
    return rows


def _package_files() -> list[str]:
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "grader").rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not path.name.startswith(".")
        and path.suffix != ".pyc"
        and path.relative_to(ROOT).as_posix() not in _NOT_MODULES
    )


def _covers(named: str, file: str) -> bool:
    """Whether a path the table names (a module, or a folder ending in /) covers `file`.
    A sub-package named module by module covers its __init__.py too."""
    if named.endswith("/"):
        return file.startswith(named)
    if file == named:
        return True
    folder = named.rsplit("/", 1)[0] + "/"
    return file == folder + "__init__.py" and folder != "grader/"


def test_every_module_is_named_in_the_design_document() -> None:
    """The module table names each module and folder of grader/ in exactly one row, and
    nothing else: a module added, moved, split or deleted needs its row (a name only
    mentioned in prose does not count)."""
    named = [p for paths, _, _ in _module_rows() for p in paths]
    files = _package_files()
    problems = {
        "names what is not under grader/": [p for p in named if not p.startswith("grader/")],
        "names in more than one row": sorted({p for p in named if named.count(p) > 1}),
        "names what does not exist": [
            p
            for p in named
            if not ((ROOT / p).is_dir() if p.endswith("/") else (ROOT / p).is_file())
        ],
        "names empty folders": [
            p for p in named if p.endswith("/") and not any(f.startswith(p) for f in files)
        ],
        "has no row for": [f for f in files if not any(_covers(p, f) for p in named)],
    }
    problems = {what: paths for what, paths in problems.items() if paths}
    assert not problems, f"docs/DESIGN.md's module table {problems}"


def _module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules_of(named: str) -> list[Path]:
    path = ROOT / named  # one that does not exist is the first test's to report
    return sorted(path.rglob("*.py")) if named.endswith("/") else [p for p in [path] if p.is_file()]


def test_each_row_says_where_its_modules_run() -> None:
    """A row's "runs in" names the room of its modules (docs/DESIGN.md's three rooms) and
    every room that imports them, and no other: the shared message types say all of theirs."""
    importers: dict[str, set[str]] = {}
    for path in sorted((ROOT / "grader").rglob("*.py")):
        for name in _grader_imports(path):
            importers.setdefault(name, set()).add(_room(path))
    for paths, runs_in, _ in _module_rows():
        said = set(re.findall(r"\b(parent|child|trainer)\b", runs_in))
        rooms: set[str] = set()
        for named in paths:
            rooms.add(_room(ROOT / named))  # a folder of data files runs where it is read
            for module in _modules_of(named):
                rooms.add(_room(module))
                rooms |= importers.get(_module_name(module.relative_to(ROOT).as_posix()), set())
        assert said == rooms, f"{', '.join(paths)}: the table says {runs_in!r}; it is {rooms}"


def _defined(paths: list[Path]) -> set[str]:
    """The names a module defines or imports, at any depth (classes, functions, assignments)."""
    import ast

    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def test_the_types_a_row_names_are_its_modules() -> None:
    """A grader class a row names (`RunSettings`, `ChildAnswer`...) is defined or imported by
    that row's modules: a type that moves takes its sentence with it."""
    everywhere = _defined(sorted((ROOT / "grader").rglob("*.py")))
    for paths, _, what in _module_rows():
        own = _defined([m for named in paths for m in _modules_of(named)])
        types = {
            t.split(".")[0]
            for t in re.findall(r"`([A-Z][A-Za-z0-9]*(?:\.[A-Z_]+)?)`", what)
            if t.split(".")[0] in everywhere
        }
        elsewhere = sorted(types - own)
        assert not elsewhere, f"{', '.join(paths)} neither define nor import {elsewhere}"


# A dotted name in backquotes whose head is a module of grader: `grader.boundary.read_child_file`,
# `evaluate.scores`; file names (`summary.html`, `results.sqlite`) are not code.
_FILE_SUFFIXES = frozenset(
    {"csv", "gz", "h5", "html", "ipynb", "j2", "json", "jsonl", "keras", "log", "md", "npy"}
    | {"npz", "py", "sqlite", "toml", "txt", "zip"}
)


def _resolve(parts: list[str]) -> tuple[Path, list[str]] | None:
    """The module a dotted name starts with (the longest that exists) and the rest."""
    for n in range(len(parts), 0, -1):
        base = ROOT.joinpath("grader", *parts[:n])
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), parts[n:]
        if (base / "__init__.py").is_file():
            return base / "__init__.py", parts[n:]
    return None


def test_the_code_the_design_document_names_exists() -> None:
    """`grader.module.name` and `module.name` (a module at the package's top) in
    docs/DESIGN.md name a module that exists and a name it defines or imports. A short name
    whose head is not a top-level module (`probe.steps_per_epoch`, a request's field) is not
    read as code."""
    wrong = []
    for token in re.findall(r"`([^`\s]+)`", DESIGN.read_text(encoding="utf-8")):
        token = re.sub(r"\(.*$", "", token)
        if not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", token):
            continue
        parts = token.split(".")
        if parts[-1] in _FILE_SUFFIXES:
            continue
        if parts[0] == "grader":
            found = _resolve(parts[1:])
            if found is None:
                wrong.append(f"{token}: no such module")
                continue
        elif (ROOT / "grader" / f"{parts[0]}.py").is_file():
            found = _resolve(parts)
        else:
            continue  # not a module of the package (`model.to_json`, `timings.preimport`)
        assert found is not None
        module, rest = found
        if rest and rest[0] not in _defined([module]):
            wrong.append(f"{token}: {module.relative_to(ROOT)} has no {rest[0]}")
    assert not wrong, f"docs/DESIGN.md names code that does not exist: {wrong}"


def _grader_imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grader"):
            names.update(
                node.module if node.module != "grader" else f"grader.{a.name}" for a in node.names
            )
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("grader"))
    return names


# What the three rooms share: message types only, no TensorFlow, no student code.
SHARED = frozenset({"grader.child.protocol", "grader.child.declaration", "grader.trainer.wire"})


def _room(path: Path) -> str:
    parts = path.relative_to(ROOT / "grader").parts
    return parts[0] if parts[0] in ("child", "trainer") and len(parts) > 1 else "parent"


def test_the_trust_boundary_shows_in_the_imports() -> None:
    """Three rooms (docs/DESIGN.md): the child (student code) imports only child code; the
    trainer (TensorFlow, no student code) only its own and the shared message types; the
    parent (no TensorFlow) neither of them beyond the shared message types."""
    for path in sorted((ROOT / "grader").rglob("*.py")):
        imported = _grader_imports(path)
        room = _room(path)
        if room == "child":
            outside = {n for n in imported if not n.startswith("grader.child")}
            assert not outside, f"{path} (runs in the sandbox) imports parent code: {outside}"
        elif room == "trainer":
            outside = {
                n for n in imported if not n.startswith("grader.trainer") and n not in SHARED
            }
            assert not outside, f"{path} (the trainer) imports beyond its room: {outside}"
        else:
            other = {
                n
                for n in imported
                if n.startswith(("grader.child", "grader.trainer")) and n not in SHARED
            }
            assert not other, f"{path} (the parent) imports child or trainer code: {other}"


def test_the_trainer_and_the_parent_never_import_tensorflow_at_module_level() -> None:
    """The parent never imports TensorFlow; the shared message types neither (the parent
    imports them). The trainer imports it, but only in its own room."""
    import ast

    heavy = ("tensorflow", "keras", "keras_tuner")
    for path in sorted((ROOT / "grader").rglob("*.py")):
        room = _room(path)
        module = "grader." + ".".join(path.relative_to(ROOT / "grader").with_suffix("").parts)
        if room != "parent" and module not in SHARED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: the parent may start processes that do
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad = [n for n in names if n.split(".")[0] in heavy]
            assert not bad, f"{path} imports {bad} at module level"


# A path the documents name in this repository's top-level folders; `<...>` placeholders
# and globs end it, and an invented example (my-assignment) is not a file to find.
_PATH = re.compile(
    r"(?<![\w/.~-])((?:assignments|bench|docs|grader|submissions|templates|tests)/[\w./-]*)"
)
_EXAMPLES = ("assignments/my-assignment/",)


@pytest.mark.parametrize("document", ["README.md", "docs/DESIGN.md", "docs/authoring.md"])
def test_the_guides_point_only_to_files_in_the_repository(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    named = {m.rstrip(".") for m in _PATH.findall(text)}
    missing = sorted(p for p in named if not (ROOT / p).exists() and not p.startswith(_EXAMPLES))
    assert not missing, f"{document} names files that are not in the repository: {missing}"
