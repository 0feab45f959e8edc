"""Shared fixtures: real MNIST files, the shipped test model, golden images."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden"
MODEL_STORE = FIXTURES / "modelstore"  # a file object store holding one promoted model


@pytest.fixture(scope="session")
def mnist_data():
    from ml import mnist

    directory = Path(os.environ.get("MNIST_DIR") or ROOT / "data" / "mnist")
    if mnist.missing_or_bad(directory):
        pytest.fail(f"MNIST is not in {directory}; run `make data` (the README's test command does)")
    return mnist.load(mnist.DirectorySource(directory))


@pytest.fixture(scope="session")
def shipped_predictor():
    from ml.predictor import Predictor
    from ml.registry import ModelRegistry
    from ml.storage.filestore import FileObjectStore

    registry = ModelRegistry(FileObjectStore(MODEL_STORE))
    return Predictor(registry.load(registry.latest_version()))


def golden_images() -> list[Path]:
    return sorted(GOLDEN.iterdir())
