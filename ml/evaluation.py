"""Accuracy of a Predictor on MNIST test and on the dev set, per category."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ml.devset import Sample
from ml.errors import MLError
from ml.predictor import Predictor
from ml.preprocess import preprocess


@dataclass(frozen=True)
class CategoryScore:
    category: str
    correct: int
    total: int
    errors: int  # samples preprocessing refused (counted as wrong)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def score_devset(predictor: Predictor, samples: Iterable[Sample], batch: int = 64) -> list[CategoryScore]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    pending: list[tuple[Sample, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        digits = np.argmax(predictor.probabilities(np.stack([a for _, a in pending])), axis=1)
        for (sample, _), digit in zip(pending, digits, strict=True):
            counts[sample.category][0] += int(digit == sample.label)
        pending.clear()

    for sample in samples:
        counts[sample.category][1] += 1
        try:
            pending.append((sample, preprocess(sample.data)))
        except MLError:
            counts[sample.category][2] += 1
        if len(pending) >= batch:
            flush()
    flush()
    return [CategoryScore(c, *v) for c, v in counts.items()]


def overall(scores: list[CategoryScore]) -> float:
    total = sum(s.total for s in scores)
    return sum(s.correct for s in scores) / total if total else 0.0


def batched_probabilities(predictor: Predictor, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """uint8 MNIST images -> (n, 10) probabilities, in batches."""
    return np.concatenate(
        [
            predictor.probabilities(images[i : i + batch].astype(np.float32) / 255.0)
            for i in range(0, len(images), batch)
        ]
    )


def mnist_accuracy(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(batched_probabilities(predictor, images), axis=1) == labels).mean())
