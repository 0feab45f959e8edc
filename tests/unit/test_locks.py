"""What `make run` and `make stack` install is enough for everything they offer: every module the service's
code imports (the functions, the CLI, `stats --export` included) comes from requirements/run.txt, and what
`make stack` runs from run.txt plus requirements/stack.txt. Read from the code's own import statements, so a
new import of a package only the tests install fails here, not in a user's first hour."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.conftest import ROOT

FIRST_PARTY = {"ml", "service", "functions", "scripts", "benchmarks", "tests", "layers"}
# imported only by what installs its own lock: the Spark engine (`make spark-stats`, requirements/spark.txt)
OWN_LOCK = {"pyspark", "py4j"}
# provided by the platform where the code runs there: Lambda's Python runtime (requirements/lambda.txt locally)
PLATFORM = {"snapshot_restore_py"}


def _locked(*files: str) -> set[str]:
    names = set()
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            if match := re.match(r"^([A-Za-z0-9_.-]+)==", line):
                names.add(re.sub(r"[-_.]+", "-", match[1]).lower())
    return names


def _imports(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def _missing(code: list[Path], lock: set[str]) -> dict[str, list[str]]:
    owners = packages_distributions()
    missing = {}
    for module in sorted(_imports(code) - OWN_LOCK - PLATFORM):
        dists = [re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(module, [module])]
        if not set(dists) & lock:
            missing[module] = dists
    return missing


def _code(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


@pytest.mark.parametrize(
    "code, locks",
    [
        (["ml", "service", "functions"], ["requirements/run.txt"]),
        (
            [
                "scripts/stack.py",
                "scripts/cassandra_node.py",
                "scripts/servers.py",
                "scripts/starter_model.py",
                "scripts/lambda_local.py",
                "scripts/function_url.py",
                "layers/build.py",
            ],
            ["requirements/run.txt", "requirements/stack.txt"],
        ),
    ],
    ids=["make-run", "make-stack-and-lambda"],
)
def test_every_import_of_what_a_make_target_runs_is_in_its_locks(code, locks):
    paths = [p for entry in code for p in ([ROOT / entry] if entry.endswith(".py") else _code(entry))]
    assert _missing(paths, _locked(*locks)) == {}


def test_the_check_sees_a_package_only_the_tests_install(tmp_path):
    module = tmp_path / "uses_pytest.py"
    module.write_text("import pytest\nfrom hypothesis import given\n")
    assert set(_missing([module], _locked("requirements/run.txt"))) == {"pytest", "hypothesis"}
