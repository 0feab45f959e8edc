"""Comments say why, never how much: fail on a measured figure, a date or an issue reference in the
comments and docstrings of product code (ml/, service/, functions/, layers/).

Figures with units (``21 ms``, ``13 %``, ``2.5x``, ``40 MB``), counts of a measurement (``989 of 1,000``),
dates and references to issues or sessions rot as the code and the machine change: they belong in
BENCHMARKS.md or docs/decisions.md, where they carry the command that measured them. ``make lint`` runs it.

    python scripts/check_comments.py [PATH ...]
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("ml", "service", "functions", "layers")
_UNIT = r"(?:ms|us|µs|ns|sec|seconds?|minutes?|min|hours?|%|x|×|KB|kB|KiB|MB|MiB|GB|GiB|TB|req/s|rps|fps)"
RULES = {
    "a measured figure": re.compile(rf"(?<![\w.])[~≈]?\d[\d,]*(?:\.\d+)?(?:\s?{_UNIT}|\s+s)(?![\w/])"),
    "a count of a measurement": re.compile(r"\b\d[\d,]* (?:of|in|out of) \d[\d,]*\b"),
    "a date": re.compile(r"\b20\d\d-\d\d(?:-\d\d)?\b"),
    "an issue or session reference": re.compile(r"(?i)\b(?:issue|session|round|ticket)s?\s*#?\d+|(?<![\w&])#\d{2,}\b"),
}


def texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring in ``path``."""
    source = path.read_text()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                start = node.body[0].lineno
                for offset, line in enumerate(doc.splitlines()):
                    yield start + offset, line


def findings(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        for line, text in texts(path):
            for what, rule in RULES.items():
                found = rule.search(text)
                if found:
                    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    yield f"{shown}:{line}: {what} ({found.group(0).strip()!r}): {text.strip()[:100]}"


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or [p for d in PRODUCT for p in sorted((ROOT / d).rglob("*.py"))]
    found = list(findings(paths))
    for line in found:
        print(line)
    if found:
        print(
            f"{len(found)} comment(s) quote figures, dates or issues: move them to BENCHMARKS.md or docs/decisions.md"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
