"""The code stays easy to navigate: no module over 600 lines and no import cycles between modules.

Both checks keep an explicit list of today's known offenders, outside the work that untied the
others. A list may only shrink: the test fails when a new offender appears, and also when a listed
one is gone (then delete it from the list, so the list stays true).

Import cycles are read by grimp (the library import-linter uses) from every import statement,
function-level and TYPE_CHECKING ones included. A package whose __init__ imports its children
counts as importing them, so a child that imports a sibling through its package
(`from cnnstudio.core.spec import X` inside core/spec/) makes a cycle: import siblings directly.
"""

from __future__ import annotations

from pathlib import Path

import grimp

import cnnstudio

MAX_LINES = 600
PACKAGE_DIR = Path(cnnstudio.__file__).parent

# Modules over MAX_LINES today (paths relative to cnnstudio/): none. A new one fails the test; list
# it here only with the reason it cannot be split yet.
KNOWN_LONG_MODULES: set[str] = set()

# Import cycles today (each a strongly connected component of the import graph): none. A new one
# fails the test; list it here only with the reason it cannot be untied yet.
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_lengths(root: Path = PACKAGE_DIR) -> dict[str, int]:
    """Lines of every .py file under root, by path relative to root."""
    return {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's strongly connected components with more than one node (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def import_cycles() -> list[frozenset[str]]:
    graph = grimp.build_graph("cnnstudio", cache_dir=None)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    return strongly_connected(edges)


def _describe(cycles) -> str:
    return "\n".join(
        "  import each other: " + ", ".join(sorted(cycle)) for cycle in sorted(cycles, key=sorted)
    )


def test_strongly_connected_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": set()}
    assert set(strongly_connected(graph)) == {frozenset("abc"), frozenset("de")}
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    long_chain = {str(i): {str(i + 1)} for i in range(5000)} | {"5000": {"0"}}  # deeper than recursion
    assert strongly_connected(long_chain) == [frozenset(long_chain)]


def test_no_module_is_over_600_lines_except_the_known_ones():
    lengths = module_lengths()
    long = {path for path, lines in lengths.items() if lines > MAX_LINES}
    new = sorted(long - KNOWN_LONG_MODULES)
    assert not new, f"Modules over {MAX_LINES} lines: split them along their seams: " + ", ".join(
        f"cnnstudio/{path} ({lengths[path]} lines)" for path in new
    )
    fixed = sorted(KNOWN_LONG_MODULES - long)
    assert not fixed, (
        f"These modules are now at most {MAX_LINES} lines (or gone): remove them from "
        f"KNOWN_LONG_MODULES: {', '.join(fixed)}"
    )


def test_no_new_import_cycles_and_the_known_list_is_true():
    cycles = set(import_cycles())
    new = cycles - KNOWN_CYCLES
    assert not new, (
        "New import cycles between cnnstudio modules (a function-level import counts too; give the "
        "shared piece its own module, or import siblings directly rather than through their package):\n"
        + _describe(new)
    )
    gone = KNOWN_CYCLES - cycles
    assert not gone, "These import cycles are untied: remove them from KNOWN_CYCLES:\n" + _describe(gone)


def test_the_cycle_check_sees_function_level_imports(tmp_path, monkeypatch):
    # A package with a function-level import back into its sibling: grimp must see that cycle.
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclepkg import b\n")
    (package / "b.py").write_text("def later():\n    from cyclepkg.a import something\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    assert strongly_connected(edges) == [frozenset({"cyclepkg.a", "cyclepkg.b"})]


def test_the_cycle_check_sees_imports_through_a_re_exporting_package(tmp_path, monkeypatch):
    # __init__ re-exports a child; a sibling importing the name through the package closes a cycle.
    package = tmp_path / "reexportpkg"
    package.mkdir()
    (package / "__init__.py").write_text("from reexportpkg.a import thing\n")
    (package / "a.py").write_text("from reexportpkg.b import helper\n\nthing = helper\n")
    (package / "b.py").write_text("def helper():\n    from reexportpkg import thing\n\n    return thing\n")
    (package / "c.py").write_text("from reexportpkg.a import thing\n")  # a direct import: no cycle
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("reexportpkg", cache_dir=None)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    assert strongly_connected(edges) == [frozenset({"reexportpkg", "reexportpkg.a", "reexportpkg.b"})]
