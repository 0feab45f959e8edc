"""A digit's pixels (an MNIST 28x28 or a UCI 8x8 array) drawn as pen ink at any height: the dev set and the
UCI training set both draw their digits this way."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def glyph(digit: np.ndarray, height: int, rng: np.random.Generator, thickness: float = 0.0) -> np.ndarray:
    """28x28 (or 8x8) white-on-black digit -> ink map in [0, 1], ``height`` px tall."""
    img = Image.fromarray((digit.astype(np.float32) / max(float(digit.max()), 1e-6) * 255).astype(np.uint8))
    size = max(8, int(height * digit.shape[1] / digit.shape[0]))
    img = img.resize((size, max(8, height)), Image.Resampling.BICUBIC)
    if thickness > 0:
        k = int(round(thickness * height / 28)) | 1
        if k >= 3:
            for _ in range(min(k, 9) // 2):  # a k x k max filter as 3x3 ones: the same pixels, faster
                img = img.filter(ImageFilter.MaxFilter(3))
    img = img.filter(ImageFilter.GaussianBlur(max(0.4, height / 140)))
    ink = np.asarray(img, dtype=np.float32) / 255.0
    # crisp pen edge, anti-aliased; an 8x8 source holds coverage counts, so
    # half coverage is the stroke's edge
    low, span = (0.4, 0.2) if digit.shape[0] <= 8 else (0.25, 0.5)
    return np.clip((ink - low) / span, 0, 1)
