from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import MODEL_STORE


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
    }
