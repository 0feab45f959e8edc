"""Confidence that means what it says, and the not-a-digit decision (pure numpy).

Temperature scaling (Guo et al., 2017): one number T, fitted on held-out data by minimising the negative
log-likelihood, divides the logits; the argmax never changes, only how sure the answer sounds. The model's
output is a softmax, so its logs are the logits up to a constant, which the softmax ignores. An eleventh
output, when the model has one, is "not a digit": an upload is refused when its calibrated probability is
at least ``refuse_at``. A digit's confidence is then its probability among the digits (given that the
picture is one, which predict has just decided): an answer given with confidence p is right in a share p
of such answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.labels import DIGITS

ECE_BINS = 15
REFUSE_AT = 0.5  # calibrated probability of "not a digit" from which an upload is refused


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0
    refuse_at: float = REFUSE_AT

    @classmethod
    def from_metadata(cls, metadata: dict) -> Calibration:
        """A model's calibration as its metadata records it; none (T = 1) for models from before."""
        found = metadata.get("calibration") or {}
        return cls(float(found.get("temperature", 1.0)), float(found.get("refuse_at", REFUSE_AT)))

    def as_metadata(self) -> dict:
        return {"temperature": round(self.temperature, 4), "refuse_at": self.refuse_at}


@dataclass(frozen=True)
class Answers:
    """What predict says for each image of a batch."""

    digit: np.ndarray  # the likeliest digit, 0-9 (also for refused images: what it would have said)
    confidence: np.ndarray  # its calibrated probability among the digits
    not_a_digit: np.ndarray  # the calibrated probability that the image is not a digit (0 for 10-class models)
    refused: np.ndarray  # bool: not_a_digit >= refuse_at
    probabilities: np.ndarray  # (n, 10) calibrated, per digit, given that the image is a digit: rows sum to 1


def scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T), row by row."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0))
    logits /= temperature  # in place from here: the same values, fewer arrays made per request
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def answers(probabilities: np.ndarray, calibration: Calibration) -> Answers:
    p = scaled(probabilities, calibration.temperature)
    not_a_digit = p[:, DIGITS] if p.shape[1] > DIGITS else np.zeros(len(p))
    digits = p[:, :DIGITS] / np.maximum(p[:, :DIGITS].sum(axis=1, keepdims=True), 1e-12)
    digit = np.argmax(digits, axis=1)
    return Answers(digit, digits[np.arange(len(p)), digit], not_a_digit, not_a_digit >= calibration.refuse_at, digits)


def answer_one(probabilities: list[float], calibration: Calibration) -> tuple[int, float, list[float], float, bool]:
    """``answers`` for one image in plain Python: (digit, confidence, probabilities, not_a_digit, refused).
    An upload is one image, and numpy's per-call overhead on eleven values made ``answers`` cost twice this;
    the same arithmetic, equal within 1e-12 (tests/unit/test_calibration.py)."""
    inverse_t = 1.0 / calibration.temperature
    logits = [math.log(min(max(p, 1e-12), 1.0)) * inverse_t for p in probabilities]
    top = max(logits)
    scaled_ = [math.exp(v - top) for v in logits]
    total = sum(scaled_)
    not_a_digit = scaled_[DIGITS] / total if len(scaled_) > DIGITS else 0.0
    digit_share = max(sum(scaled_[:DIGITS]) / total, 1e-12)  # as answers: no digit at all stays near 0
    digits = [v / total / digit_share for v in scaled_[:DIGITS]]
    confidence = max(digits)
    return digits.index(confidence), confidence, digits, not_a_digit, not_a_digit >= calibration.refuse_at


def given(a: Answers, labels: np.ndarray, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The confidence of each answer predict gave (refused images are no answer) and whether it was right,
    optionally ``among`` a subset: what ECE and the reliability diagram are measured on, everywhere."""
    keep = ~a.refused if among is None else among & ~a.refused
    return a.confidence[keep], a.digit[keep] == np.asarray(labels)[keep]


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The T in [0.3, 5] that minimises the (weighted) negative log-likelihood of ``labels`` (a 1-D search:
    golden section over log T, whose NLL is convex in 1/T)."""
    labels = np.asarray(labels, dtype=int)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)

    def nll(log_t: float) -> float:
        p = scaled(probabilities, float(np.exp(log_t)))
        return float(-(w * np.log(np.clip(p[np.arange(len(p)), labels], 1e-12, 1.0))).sum() / w.sum())

    low, high = np.log(0.3), np.log(5.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width confidence bin: how many answers, their mean confidence, and how many were right."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": n,
                "confidence": float(confidence[inside].mean()) if n else None,
                "accuracy": float(correct[inside].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the mean gap between confidence and accuracy over ``bins`` equal-width bins, weighted by count."""
    total = len(confidence)
    return float(
        sum(
            b["count"] * abs(b["confidence"] - b["accuracy"])
            for b in reliability(confidence, correct, bins)
            if b["count"]
        )
        / max(total, 1)
    )
