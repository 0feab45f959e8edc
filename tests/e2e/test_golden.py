"""Golden images 0-9, drawn by the project in three upload styles, through
preprocessing and the shipped model: every one must come out right."""

import pytest

from ml import preprocess as prep
from tests.conftest import golden_images


def test_shipped_model_matches_current_preprocessing(shipped_predictor):
    assert shipped_predictor.metadata["preprocessing_version"] == prep.VERSION, (
        "preprocessing changed since the test model was trained: run `make golden` to retrain it"
    )


@pytest.mark.parametrize("path", golden_images(), ids=lambda p: p.name)
def test_golden_image_is_recognised(path, shipped_predictor):
    expected = int(path.name[0])
    prediction = shipped_predictor.predict(prep.preprocess(path.read_bytes())[None])[0]
    assert prediction.digit == expected, f"{path.name}: got {prediction.digit} ({prediction.confidence:.2f})"
