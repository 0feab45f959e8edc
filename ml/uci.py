"""The second, differently-written source of digits: the UCI handwritten digits scikit-learn ships
(8x8, 17 grey levels), split in two alternating halves: one joins training, the other the dev set."""

from __future__ import annotations

import numpy as np


def uci_digits(half: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 UCI digits as 8x8 uint8 (0-16); ``half`` 'eval' or 'train'
    (alternate images, so both halves cover every writer)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    pick = slice(1, None, 2) if half == "eval" else slice(0, None, 2)
    return images[pick], bunch.target[pick].astype(np.uint8)


def uci_training_set() -> tuple[np.ndarray, np.ndarray]:
    """The UCI *train* half as 28x28 uint8 MNIST-style images, for training.

    Each 8x8 digit is drawn as dark ink on paper at 64x64 and sent through the
    real normalisation, so the model learns this second way of writing in the
    very representation predict produces. The dev set's ``uci_digits`` uses
    only the other half.
    """
    from ml.errors import NoDigitFound
    from ml.glyphs import glyph
    from ml.normalise import normalise

    images, labels = uci_digits("train")
    out, kept = [], []
    for digit, label in zip(images, labels, strict=True):
        ink = glyph(digit, 64, np.random.default_rng(0))
        try:
            out.append(normalise(1.0 - ink))
        except NoDigitFound:
            continue
        kept.append(label)
    return np.round(np.stack(out) * 255).astype(np.uint8), np.asarray(kept, dtype=np.uint8)
