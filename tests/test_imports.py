"""No import cycles in grader/: the module graph, read from the source, has no loop.

Every import counts, at module level and inside functions (a function-level import that
closes a loop is still a cycle: it only hides it until the function runs); imports under
`if TYPE_CHECKING:` are annotations only and do not count. `from grader.x import y` is an
edge to `grader.x.y` when that is a module, else to `grader.x` (its `__init__`). Importing
`grader.x.y` runs `grader/x/__init__.py` first, so it is an edge to `grader.x` too, unless
the importer is inside `grader.x` (whose `__init__` is then already running); `grader`'s
own `__init__` holds no import and is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Cycles known and being removed elsewhere, each with the reason it is still here.
# (A frozenset of the modules of one strongly connected component.)
KNOWN: dict[frozenset[str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "grader").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _packages_run(target: str, module: str, path: Path) -> set[str]:
    """The packages whose `__init__` importing `target` runs first, from outside them."""
    inside = _package(module, path)
    parts = target.split(".")
    found = set()
    for n in range(2, len(parts)):
        package = ".".join(parts[:n])
        if not (inside == package or inside.startswith(package + ".")):
            found.add(package)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each grader module -> the grader modules it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    package = _package(module, path).split(".")
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, base] if base else package)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                # `import grader.a.b` names the module itself; a name inside it names it too.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and target.startswith("grader"):
                    graph[module].add(target)
                    graph[module].update(_packages_run(target, module, path))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One loop (as a path that returns to its start) per strongly connected component of
    more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_loop(graph, c) for c in components]


def _loop(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return sorted(component)  # unreachable for a strongly connected component


def test_the_graph_reads_every_kind_of_import() -> None:
    graph = import_graph()
    assert "grader.errors" in graph["grader.spec"]  # module level
    assert "grader.checks.base" in graph["grader.checks"]  # `from package import module`
    # grader.spec reads a rubric through grader.checks.rubric: grader/checks/__init__ runs.
    assert {"grader.checks.rubric", "grader.checks"} <= graph["grader.spec"]
    assert "grader.checks" not in graph["grader.checks.rubric"]  # already running


def test_the_cycle_finder_finds_a_loop_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    tree = ast.parse("def f():\n    import x\nif TYPE_CHECKING:\n    import y\n")
    assert [a.name for n in _imports(tree) for a in n.names] == ["x"]


def test_grader_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    unknown = [c for c in found if frozenset(c) not in KNOWN]
    gone = set(KNOWN) - {frozenset(c) for c in found}
    assert not gone, f"known cycles no longer there, remove them from KNOWN: {gone}"
    assert not unknown, "import cycles in grader/:\n" + "\n".join(" -> ".join(c) for c in unknown)
