"""Imports run one way: no module of graphc imports, directly or through others, a module
that imports it back, whether at module level or inside a function (a function-level
import only hides a cycle; it does not remove it)."""
from __future__ import annotations

import ast
import pathlib

import networkx as nx
import pytest

import graphc

PACKAGE = pathlib.Path(graphc.__file__).parent


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The graphc modules ``path`` imports anywhere in its code (docstrings excluded)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import f``
            # imports ``mod``
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules)
    found.discard(name)
    return found


def import_graph() -> nx.DiGraph:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for path in paths:
        for target in imported_modules(path, modules):
            graph.add_edge(module_name(path), target)
    return graph


def test_the_import_graph_is_read():
    graph = import_graph()
    # known edges, so a parser that reads nothing cannot pass the cycle test
    assert graph.has_edge("graphc.api.data", "graphc.bind")
    assert graph.has_edge("graphc.ops", "graphc.bind")
    assert graph.has_edge("graphc.bind", "graphc.ir")
    assert graph.number_of_edges() > 40


def test_no_import_cycles():
    cycles = sorted(" -> ".join(c + [c[0]]) for c in nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("lower, higher", [
    ("graphc.ir", "graphc.bind"), ("graphc.bind", "graphc.ops"), ("graphc.ops", "graphc.api"),
    ("graphc.api", "graphc.printing")])
def test_layers_import_downward_only(lower, higher):
    """``ir <- bind <- ops <- api <- printing``: a lower layer (a module, or a package with
    its modules) never reaches a higher one."""
    graph = import_graph()

    def layer(name):
        return [m for m in graph if m == name or m.startswith(name + ".")]
    reached = {m for low in layer(lower) for m in nx.descendants(graph, low)}
    assert not reached & set(layer(higher))


def test_a_function_level_cycle_is_found(tmp_path):
    """The checker itself: a cycle hidden in a function body is reported."""
    pkg = tmp_path / "graphc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from .high import g\n")
    (pkg / "high.py").write_text("from . import low\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        cycles = list(nx.simple_cycles(import_graph()))
    finally:
        PACKAGE = saved
    assert sorted(cycles[0]) == ["graphc.high", "graphc.low"]
