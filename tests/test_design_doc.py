"""docs/DESIGN.md names every module of the package, so it cannot drift silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_is_named_in_the_design_document() -> None:
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    modules = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "grader").rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py")
    ]
    # A check module or a CLI command is named through its folder.
    folders = ("grader/checks/", "grader/cli/")
    missing = [
        m
        for m in modules
        if m not in text and not (m.startswith(folders) and m.rsplit("/", 1)[0] + "/" in text)
    ]
    assert not missing, f"docs/DESIGN.md does not name: {missing}"


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
