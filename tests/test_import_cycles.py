"""The tree has no import cycle: every first-party import points one way.

Read with `ast`, not by importing, so a cycle Python happens to tolerate (an import inside a
function, a name looked up late) still counts. Imports under `if TYPE_CHECKING:` do not run and
are left out. Importing `a.b.c` runs the package `a.b` first, but that is not an edge: a package
`__init__` re-exporting its submodules is not a cycle unless a submodule imports from the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_party_packages(root: Path) -> list[Path]:
    """The top-level packages of the tree: directories at `root` with an `__init__.py`."""
    return sorted(path.parent for path in root.glob("*/__init__.py"))


def module_files(root: Path, packages: Iterable[Path]) -> dict[str, Path]:
    """Every module of `packages` by its dotted name (a package by its own name)."""
    modules = {}
    for package in packages:
        for path in package.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse)
        else:
            yield from _imports(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (at `path`) imports outside `if TYPE_CHECKING:`."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in _imports([ast.parse(path.read_text(), str(path))]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                prefixes = (".".join(parts[:i]) for i in range(len(parts), 0, -1))
                targets.update(next(([p] for p in prefixes if p in known), []))
            continue
        anchor = package[: len(package) - node.level + 1] if node.level else []
        base = ".".join([*anchor, *([node.module] if node.module else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in known:
                targets.add(submodule)
            elif base in known:
                targets.add(base)
    targets.discard(name)
    return targets


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports, for every package under `root`."""
    modules = module_files(root, first_party_packages(root))
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that comes back to its start) in each strongly connected group of `graph`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    start = min(group)
    path, seen = [start], {start}
    while True:
        step = min(t for t in graph[path[-1]] if t in group)
        if step in seen:
            return [*path[path.index(step) :], step]
        path.append(step)
        seen.add(step)


def test_the_tree_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert {"stream_app.session", "stream_app.client_connection", "proxy.server"} <= set(graph)
    assert "stream_app.session" in graph["stream_app.client_connection"]
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": "def thing():\n    from pkg import a\n",
        },
    )
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_a_cycle_across_packages_and_relative_imports_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "one/__init__.py": "from .inner import x\n",
            "one/inner.py": "import two.mod\n",
            "two/__init__.py": "",
            "two/mod.py": "from one import x\n",
        },
    )
    assert cycles(import_graph(root)) == [["one", "one.inner", "two.mod", "one"]]


def test_imports_under_type_checking_and_of_a_package_s_own_modules_are_not_cycles(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import A\nfrom pkg.b import B\n",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\nclass A: ...\n",
            "pkg/b.py": "from pkg.a import A\nclass B(A): ...\n",
        },
    )
    graph = import_graph(root)
    assert graph == {"pkg": {"pkg.a", "pkg.b"}, "pkg.a": set(), "pkg.b": {"pkg.a"}}
    assert cycles(graph) == []
