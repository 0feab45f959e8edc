"""Imports go one way: functions/ -> service/ -> ml/. An import back up fails here, function-level
imports included (they are how a layer usually sneaks a dependency in)."""

from __future__ import annotations

import ast

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
