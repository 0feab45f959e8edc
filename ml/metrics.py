"""Accuracy, per-class accuracy, the confusion matrix and how far a measured rate can be trusted (pure numpy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ml.labels import DIGITS, NOT_A_DIGIT


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_class: list[float]
    confusion: list[list[int]]  # rows: true digit, columns: predicted digit (and 10: refused, when any was)
    count: int

    def summary(self) -> dict[str, Any]:
        return {
            "test_accuracy": round(self.accuracy, 5),
            "per_class_accuracy": [round(a, 5) for a in self.per_class],
            "confusion_matrix": self.confusion,
            "test_count": self.count,
        }


def evaluate_predictions(predicted: np.ndarray, truth: np.ndarray) -> Evaluation:
    predicted, truth = np.asarray(predicted).astype(int), np.asarray(truth).astype(int)
    confusion = np.zeros((DIGITS, DIGITS + 1 if (predicted == NOT_A_DIGIT).any() else DIGITS), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = np.where(totals > 0, np.diag(confusion[:, :DIGITS]) / np.maximum(totals, 1), 0.0)
    return Evaluation(
        accuracy=float((predicted == truth).mean()) if len(truth) else 0.0,
        per_class=[float(a) for a in per_class],
        confusion=confusion.tolist(),
        count=int(len(truth)),
    )


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a rate measured as ``successes`` of ``total``: what the
    rate could be on more uploads of the same kinds: a few thousand answers cannot tell rates a few tenths
    of a point apart near the top, and the normal approximation would there allow rates above one."""
    if total <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate, z2 = successes / total, z * z
    centre = (rate + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)
