"""The dev set drawn a category per job scores exactly as drawn in one stream, each category draws the
same uploads whichever categories are drawn with it, and each outcome stays beside its sample."""

import numpy as np
import pytest

from ml import devset
from ml.evaluation import Prepared, Scored, category_scores, misses, prepared_devset, score_prepared, score_samples
from ml.labels import NOT_A_DIGIT

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


def test_outcomes_keep_the_samples_order_and_misses_pair_each_with_what_the_model_saw(mnist_data, shipped_predictor):
    """Preprocessing's refusals among batched answers: each outcome stays beside its sample, so the sheet of
    wrong answers shows the right picture for each."""
    prepared = []
    for i in range(6):
        label = int(mnist_data.y_test[i])
        image = mnist_data.x_test[i].astype(np.float32) / 255.0
        prepared.append(Prepared("mnist_png", label, image, None, f"mnist_png/{i:04d}_{label}.png"))
        if i % 2:
            prepared.append(Prepared("phone_photo", label, None, "no_digit_found", f"phone_photo/{i:04d}_{label}.jpg"))
    scored = score_prepared(shipped_predictor, prepared, batch=4)
    assert [s.filename for s in scored] == [p.filename for p in prepared]
    wrong = misses(prepared, scored)
    # MNIST's first six test digits are read right; the three that found no ink are the wrong answers
    assert [p.filename for p, _ in wrong] == [p.filename for p in prepared if p.error]
    assert wrong[0][1].outcome() == f"{mnist_data.y_test[1]}: no_digit_found"


def test_an_outcome_says_what_was_answered():
    assert Scored("canvas_rgba", 9, 4, 0.88, False, None).outcome() == "9 read as 4 (88%)"
    assert Scored("phone_photo", 8, 8, 0.95, True, None).outcome() == "8 refused as not a digit"
    assert Scored("letters", NOT_A_DIGIT, 3, 0.7, False, None).outcome() == "not a digit read as 3 (70%)"
