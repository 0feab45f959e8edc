"""Temperature scaling, ECE and the not-a-digit decision, on numbers whose answers are known."""

import numpy as np
import pytest

from ml.calibration import (
    Calibration,
    answer_one,
    answers,
    expected_calibration_error,
    fit_temperature,
    reliability,
    scaled,
)


def test_scaling_keeps_the_answer_and_temperature_one_changes_nothing():
    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.9, 0.05]])
    assert np.allclose(scaled(p, 1.0), p)
    hotter = scaled(p, 2.0)
    assert (hotter.argmax(axis=1) == p.argmax(axis=1)).all()
    assert (hotter.max(axis=1) < p.max(axis=1)).all()
    assert np.allclose(hotter.sum(axis=1), 1.0)


def test_fit_recovers_the_temperature_that_made_a_model_overconfident():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.5, (20000, 10))
    labels = np.array([rng.choice(10, p=np.exp(row) / np.exp(row).sum()) for row in logits])  # calibrated at T=1
    overconfident = scaled(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 1 / 1.8)
    assert fit_temperature(overconfident, labels) == pytest.approx(1.8, rel=0.05)


def test_ece_is_the_count_weighted_gap_between_confidence_and_accuracy():
    confidence = np.array([0.95] * 100 + [0.55] * 100)
    correct = np.array([True] * 85 + [False] * 15 + [True] * 55 + [False] * 45)
    assert expected_calibration_error(confidence, correct) == pytest.approx((100 * 0.10 + 100 * 0.0) / 200)
    bins = reliability(confidence, correct)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 200
    assert expected_calibration_error(np.array([0.8] * 10), np.array([True] * 8 + [False] * 2)) == pytest.approx(0)


def test_an_upload_is_refused_when_not_a_digit_reaches_refuse_at():
    p = np.array([[0.6] + [0.0] * 9 + [0.4], [0.3] + [0.0] * 9 + [0.7]])
    a = answers(p, Calibration(1.0, 0.5))
    assert a.refused.tolist() == [False, True]
    assert a.digit.tolist() == [0, 0] and a.not_a_digit.tolist() == pytest.approx([0.4, 0.7])
    assert a.confidence.tolist() == pytest.approx([1.0, 1.0])  # among the digits: given that it is one
    ten = answers(p[:, :10] / p[:, :10].sum(axis=1, keepdims=True), Calibration())  # a model from before
    assert not ten.refused.any() and (ten.not_a_digit == 0).all()


def test_calibration_round_trips_through_metadata():
    c = Calibration(1.2345, 0.5)
    assert Calibration.from_metadata({"calibration": c.as_metadata()}) == Calibration(1.2345, 0.5)
    assert Calibration.from_metadata({}) == Calibration(1.0, 0.5)


@pytest.mark.parametrize("classes", [10, 11])
@pytest.mark.parametrize("temperature", [0.4, 1.0, 1.7])
def test_one_upload_is_answered_as_a_batch_of_it_would_be(classes, temperature):
    """answer_one (predict's one-image path) against answers (batches, evaluation): the same digit and
    refusal, the same numbers within 1e-12, on peaked, flat, tied and zero-holding rows."""
    rng = np.random.default_rng(classes)
    rows = [
        rng.dirichlet(np.full(classes, concentration)) for concentration in (0.05, 0.3, 1.0, 5.0) for _ in range(300)
    ]
    rows += [np.full(classes, 1 / classes), np.eye(classes)[3], np.eye(classes)[-1]]
    calibration = Calibration(temperature, refuse_at=0.4)
    batch = answers(np.array(rows, dtype=np.float32), calibration)
    for i, row in enumerate(np.array(rows, dtype=np.float32)):
        digit, confidence, probabilities, not_a_digit, refused = answer_one(row.tolist(), calibration)
        assert (digit, refused) == (batch.digit[i], batch.refused[i])
        assert confidence == pytest.approx(batch.confidence[i], abs=1e-12)
        assert not_a_digit == pytest.approx(batch.not_a_digit[i], abs=1e-12)
        assert probabilities == pytest.approx(batch.probabilities[i].tolist(), abs=1e-12)
