"""The not-a-digit uploads: every kind decodes, the same seed draws the same files, and training and
the dev set share no font, no seed and no digit image."""

import io

import numpy as np
import pytest
from PIL import Image

from ml import negatives
from ml.errors import MLError
from ml.labels import NOT_A_DIGIT
from ml.preprocess import preprocess


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(0).integers(0, 255, (50, 28, 28)).astype(np.uint8)


def test_training_and_evaluation_never_share_a_font():
    assert not set(negatives.FONTS["train"]) & set(negatives.FONTS["eval"])


@pytest.mark.parametrize("split", ["train", "eval"])
def test_every_kind_is_an_image_predict_can_read(split, digits):
    samples = list(negatives.generate(digits, per_kind=2, seed=3, split=split))
    assert [s.category for s in samples[::2]] == list(negatives.KINDS)
    for sample in samples:
        assert sample.label == NOT_A_DIGIT
        Image.open(io.BytesIO(sample.data)).load()
        try:
            assert preprocess(sample.data).shape == (28, 28)
        except MLError as exc:  # an empty page may hold no ink at all: refused before the model
            assert exc.code == "no_digit_found"


def test_the_same_seed_draws_the_same_files_and_the_splits_differ(digits):
    first = [s.data for s in negatives.generate(digits, 2, 5, "eval")]
    assert first == [s.data for s in negatives.generate(digits, 2, 5, "eval")]
    assert not set(first) & {s.data for s in negatives.generate(digits, 2, 5, "train")}


def test_an_unknown_split_is_refused(digits):
    with pytest.raises(ValueError, match="split"):
        next(negatives.generate(digits, split="test"))


def test_negatives_preprocessing_refuses_are_drawn_again(digits):
    """Most blank pages and many textures hold no ink (refused before the model): the training set draws
    as many again, so the eleventh class is trained on the number of negatives asked for."""
    from ml.realistic import rendered_set

    images, labels = rendered_set(digits, np.arange(len(digits)) % 10, 0, 320, seed=4)
    assert len(images) == len(labels) and images.shape[1:] == (28, 28)
    assert int((labels == NOT_A_DIGIT).sum()) >= 0.97 * 320
