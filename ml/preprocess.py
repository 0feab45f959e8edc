"""The one preprocessing entry point, shared by training-time evaluation and predict."""

from __future__ import annotations

import numpy as np

from ml import normalise as _normalise
from ml.decode import DEFAULT_MAX_PIXELS, WORK_SIZE, DecodeBudget, Decoded, decode

# The normalisation the model is trained and served with. The identity path below does not change it:
# what it passes on is MNIST's own representation, which every model is trained on.
VERSION = _normalise.VERSION
BLACK = 0.05  # the median of a picture in MNIST's form: its background is black
# A large picture is also read at up to this size across (decode's detail_size), where normalise finds a
# small digit: the larger dev set's large_offcentre read better so (docs/decisions.md)
FINER_SIZE = 2 * WORK_SIZE


def mnist_form(decoded: Decoded) -> np.ndarray | None:
    """The picture itself when it is already in MNIST's form: 28x28, opaque, a light digit on black.

    MNIST's files, and uploads made from them, are exactly what the model was trained on; normalising
    them again only moves them away from it (benchmarks/identity_path.py).
    None for anything else, which goes through the full normalisation."""
    luma = decoded.luma
    if luma.shape != (_normalise.SIZE, _normalise.SIZE) or decoded.alpha is not None:
        return None
    if _normalise.small_median(luma.ravel()) > BLACK or float(luma.max()) < _normalise.MIN_CONTRAST:
        return None
    return luma


def preprocess(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, budget: DecodeBudget | None = None) -> np.ndarray:
    """Image file bytes -> 28x28 float32 in [0, 1], white digit on black.

    Raises InvalidImage, ImageTooLarge or NoDigitFound (all ``ml.errors``).
    """
    return preprocess_decoded(decode(data, max_pixels=max_pixels, budget=budget, detail_size=FINER_SIZE))


def preprocess_decoded(decoded: Decoded) -> np.ndarray:
    """A decoded picture (``decode``'s, or ``ml.decode.from_pixels``') -> 28x28 float32 as ``preprocess``."""
    identity = mnist_form(decoded)
    if identity is not None:
        return identity
    ink = _normalise.canvas_ink(decoded.luma, decoded.alpha)
    if ink is not None:
        return _normalise.normalise_ink(ink)
    grey = _normalise.composite(decoded.luma, decoded.alpha)
    detail = None if decoded.finer is None else _normalise.composite(decoded.finer.luma, decoded.finer.alpha)
    return _normalise.normalise(grey, detail)
