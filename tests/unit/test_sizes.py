"""Units small enough to read at once: no product function over MAX_FUNCTION lines, no class over MAX_CLASS."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PRODUCT = ("ml", "service", "functions", "layers")
MAX_FUNCTION = 60
MAX_CLASS = 150


def _units(kinds: tuple[type, ...]):
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, kinds):
                    yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


@pytest.mark.parametrize(
    ("kinds", "limit"),
    [((ast.FunctionDef, ast.AsyncFunctionDef), MAX_FUNCTION), ((ast.ClassDef,), MAX_CLASS)],
    ids=["functions", "classes"],
)
def test_no_unit_is_too_long_to_read_at_once(kinds, limit):
    long = [f"{name}: {lines} lines" for name, lines in _units(kinds) if lines > limit]
    assert not long, "\n".join(long)
