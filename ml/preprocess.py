"""The one preprocessing entry point, shared by training-time evaluation and predict."""

from __future__ import annotations

import numpy as np

from ml import normalise as _normalise
from ml.decode import DEFAULT_MAX_PIXELS, DecodeBudget, decode

VERSION = _normalise.VERSION


def preprocess(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, budget: DecodeBudget | None = None) -> np.ndarray:
    """Image file bytes -> 28x28 float32 in [0, 1], white digit on black.

    Raises InvalidImage, ImageTooLarge or NoDigitFound (all ``ml.errors``).
    """
    decoded = decode(data, max_pixels=max_pixels, budget=budget)
    return _normalise.normalise(_normalise.composite(decoded.luma, decoded.alpha))
