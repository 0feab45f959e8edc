"""Imports go one way: functions/ -> service/ -> ml/. An import back up fails here, function-level
imports included (they are how a layer usually sneaks a dependency in)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

LAYERS = {"functions": 2, "service": 1, "ml": 0}  # a module may import its own layer and those below


def imported_packages(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_import_goes_up_a_layer():
    upward = []
    for layer, rank in LAYERS.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for package in imported_packages(path) & LAYERS.keys():
                if LAYERS[package] > rank:
                    upward.append(f"{relative} imports {package}")
    assert not upward, "imports going up a layer:\n" + "\n".join(upward)


LOADERS_BY_PATH = ("spec_from_file_location", "SourceFileLoader", "run_path", "exec_module")


def test_no_layer_loads_code_by_path():
    """Loading a file by path hides an import from the test above: every module is imported by name."""
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
            names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
            found += [f"{path.relative_to(ROOT).as_posix()} uses {name}" for name in names & set(LOADERS_BY_PATH)]
    assert not found, "\n".join(found)


def _module_imports(layer: str) -> dict[str, set[str]]:
    """module -> the modules of the same layer it imports (``from pkg import mod`` counted as ``pkg.mod``)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / layer).rglob("*.py")}
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name and not name.startswith(m + ".")}
    return graph


@pytest.mark.parametrize("layer", ["ml", "service"])
def test_no_import_circles_inside_a_layer(layer):
    """Two modules that import each other (directly or around a longer circle) cannot be read, or
    tested, one without the other."""
    graph = _module_imports(layer)
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not circles, "\n".join(sorted(set(circles)))
