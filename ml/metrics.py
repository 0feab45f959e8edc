"""Accuracy, per-class accuracy and the confusion matrix (pure numpy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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
    confusion = np.zeros((10, 11 if (predicted == 10).any() else 10), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = np.where(totals > 0, np.diag(confusion[:, :10]) / np.maximum(totals, 1), 0.0)
    return Evaluation(
        accuracy=float((predicted == truth).mean()) if len(truth) else 0.0,
        per_class=[float(a) for a in per_class],
        confusion=confusion.tolist(),
        count=int(len(truth)),
    )
