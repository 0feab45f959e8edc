"""The dev set drawn a category per job scores exactly as drawn in one stream, and each category draws the
same uploads whichever categories are drawn with it."""

import pytest

from ml import devset
from ml.evaluation import category_scores, prepared_devset, score_prepared, score_samples

pytestmark = pytest.mark.training  # draws and preprocesses MNIST-based uploads (seconds)


def test_a_category_draws_the_same_uploads_alone_as_among_all(mnist_data):
    every = [s for s in devset.generate(mnist_data.x_test, mnist_data.y_test, 3, 7) if s.category == "phone_photo"]
    alone = list(devset.generate(mnist_data.x_test, mnist_data.y_test, 3, 7, ("phone_photo",)))
    assert [s.data for s in alone] == [s.data for s in every] and len(alone) == 3


def test_the_uci_category_holds_the_898_digits_of_its_half():
    assert devset.category_size("uci_digits", 5000) == 898
    assert (
        devset.category_size("phone_photo", 5000, 10_000) == 5000 and devset.category_size("scan_dark_on_light", 3) == 3
    )


def test_the_dev_set_drawn_a_category_a_job_scores_what_one_stream_does(mnist_data, shipped_predictor):
    """The jobs run on forked processes under `python -m ml eval` (tests/functional/test_cli.py) and in process
    here once the suite has loaded TensorFlow (ml.workers); either way the answers are the same."""
    categories = ("canvas_rgba", "light_on_dark", "formats_modes", "uci_digits")
    heard = []
    parallel = prepared_devset(mnist_data.x_test, mnist_data.y_test, 4, 11, categories, 2, heard.append)
    serial = score_samples(shipped_predictor, devset.generate(mnist_data.x_test, mnist_data.y_test, 4, 11, categories))
    assert score_prepared(shipped_predictor, parallel) == serial
    assert sum(heard) == 16  # a tick a sample
    assert [s.category for s in category_scores(serial)] == list(categories)
