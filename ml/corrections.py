"""People's corrections as training data: the 28x28 images the model saw, with the right digit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ml.errors import DataIntegrityError
from ml.labels import NOT_A_DIGIT

SIDE = 28


@dataclass(frozen=True)
class Corrections:
    images: np.ndarray  # (n, 28, 28) uint8, MNIST-like (light digit on black), exactly as served
    labels: np.ndarray  # (n,) uint8, 0-9, or NOT_A_DIGIT: a person said the picture was no digit

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bytes, int]]) -> Corrections:
        """Build from (normalised bytes, label); a malformed record is an error, not silently dropped."""
        images, labels = [], []
        for normalised, label in pairs:
            if len(normalised) != SIDE * SIDE or not 0 <= int(label) <= NOT_A_DIGIT:
                raise DataIntegrityError(
                    f"a correction holds {len(normalised)} image bytes (expected {SIDE * SIDE}) and label {label!r}"
                )
            images.append(np.frombuffer(normalised, dtype=np.uint8).reshape(SIDE, SIDE))
            labels.append(int(label))
        return cls(
            np.stack(images) if images else np.zeros((0, SIDE, SIDE), np.uint8), np.asarray(labels, dtype=np.uint8)
        )

    def __len__(self) -> int:
        return len(self.labels)

    def digits_only(self) -> Corrections:
        """The corrections that name a digit: all a ten-class model can learn from."""
        keep = self.labels < NOT_A_DIGIT
        return Corrections(self.images[keep], self.labels[keep])

    def as_training(self, weight: int) -> tuple[np.ndarray, np.ndarray]:
        """Each correction ``weight`` times (a few among 60,000 MNIST images would otherwise be noise)."""
        x = np.repeat(self.images.astype(np.float32) / 255.0, weight, axis=0)[..., None]
        return x, np.repeat(self.labels.astype(np.int32), weight)

    def accuracy(self, probabilities: np.ndarray) -> float | None:
        """Share of corrections whose label is the argmax of ``probabilities`` (None when there are none)."""
        if not len(self):
            return None
        return round(float((np.argmax(probabilities, axis=1) == self.labels).mean()), 6)
