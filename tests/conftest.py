"""Shared fixtures: real MNIST files, the shipped test model, golden images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden"
MODEL_STORE = FIXTURES / "modelstore"  # a file object store holding one promoted model
SHIPPED_VERSION = (MODEL_STORE / "models" / "LATEST").read_text().strip()  # retrained by `make golden`


@pytest.fixture(scope="session")
def mnist_data():
    from ml import mnist

    directory = Path(os.environ.get("MNIST_DIR") or ROOT / "data" / "mnist")
    if mnist.missing_or_bad(directory):
        pytest.fail(f"MNIST is not in {directory}; run `make data` (`make test` does)")
    return mnist.load(mnist.DirectorySource(directory))


@pytest.fixture(scope="session")
def shipped_predictor():
    from ml.predictor import Predictor
    from ml.registry import ModelRegistry
    from ml.storage.filestore import FileObjectStore

    registry = ModelRegistry(FileObjectStore(MODEL_STORE))
    return Predictor(registry.load(registry.latest_version()))


def pytest_collection_modifyitems(items):
    """The slow tiers by where a test lives and what it uses (explicit markers name the rest)."""
    for item in items:
        if (ROOT / "tests" / "e2e") in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
        if "cassandra_node" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cassandra)
        # under `-n 2` (make test), tests sharing a costly server run on one worker, which starts it once
        if item.get_closest_marker("cassandra"):
            item.add_marker(pytest.mark.xdist_group("cassandra"))
        elif item.module.__name__.endswith("test_s3_store"):
            item.add_marker(pytest.mark.xdist_group("s3"))


def golden_images() -> list[Path]:
    return sorted(GOLDEN.iterdir())


def not_digit_images() -> list[Path]:
    """Drawn in the golden images' hand and styles, but not digits: predict refuses them."""
    return sorted((GOLDEN.parent / "golden_not_digits").iterdir())


@pytest.fixture(scope="session")
def cassandra_node(tmp_path_factory):
    """One real Apache Cassandra 5.0 node for the whole run, set up as production runs one: clients must
    speak TLS (a CA made for the run: ``node.tls_ca``), PasswordAuthenticator on, the commit log synced
    periodically; free ports.

    Started from Maven Central's jars by scripts/cassandra_node.py, stopped at the end even when tests
    fail. Without Java 17 or Maven the Cassandra tests skip saying why, except under CI=true, where
    they fail: CI must never pass without having talked to a real node.

    With CASSANDRA_TEST_NODE naming the file that ``python -m scripts.cassandra_node serve --describe FILE``
    wrote, the run uses that node instead, which many runs share (mutation testing's sessions): it is neither
    started nor stopped here, and the keyspaces this run made are dropped at its end."""
    from scripts.cassandra_node import NODE_FILE_VAR, NodeError, classpath, java_17, tests_node

    if os.environ.get(NODE_FILE_VAR):
        from tests.fixtures.cassandra import attached_node

        yield from attached_node(os.environ[NODE_FILE_VAR])
        return
    try:
        java_17()
        cp = classpath(quiet=True)
    except NodeError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a real Cassandra node is required under CI=true: {exc}")
        pytest.skip(f"no Cassandra node can run here: {exc}")
    node = tests_node(tmp_path_factory.mktemp("cassandra"))
    node.start(cp)
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


@pytest.fixture
def model_store(tmp_path: Path) -> Path:
    """A private copy of the shipped model store (tests may promote into it)."""
    target = tmp_path / "models"
    shutil.copytree(MODEL_STORE, target)
    return target


@pytest.fixture
def predict_env(tmp_path: Path, model_store: Path) -> dict[str, str]:
    return {
        "MODEL_STORE": f"file://{model_store}",
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'predictions.db'}",
        "MODEL_REFRESH_SECONDS": "0",
        "SPOOL_DIR": str(tmp_path / "spool"),
    }
