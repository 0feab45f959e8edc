"""Bytes of any upload -> a small greyscale array (plus alpha when it matters).

Decoding is where hostile input lands first, so every Pillow failure becomes
one of our named errors, and huge images are refused before their pixels are
decoded. Large photos are shrunk as early as possible (JPEG ``draft`` decodes
at 1/2, 1/4 or 1/8 scale directly), because everything downstream only needs
a few hundred pixels across.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ml.errors import ImageTooLarge, InvalidImage, UnsupportedImage

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
DEFAULT_MAX_PIXELS = 40_000_000  # a 48 MP phone photo is fine; a PNG bomb is not
WORK_SIZE = 512  # longest side we ever process at


@dataclass(frozen=True)
class Decoded:
    """Luma in [0, 1] (0 = black) and, if the image is partly transparent, alpha."""

    luma: np.ndarray
    alpha: np.ndarray | None
    original_size: tuple[int, int]
    format: str


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise InvalidImage("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image is too large to decode: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImage(
            "the file is not an image in a supported format (PNG, JPEG, GIF, BMP, WebP, TIFF)"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(f"the image header is corrupt: {exc}") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    return image


def _bands(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Split into a luma band ('L' or 'F') and an alpha band when there is one."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 255.0 if values.max() <= 255 else 65535.0 if values.max() <= 65535 else float(values.max())
        return Image.fromarray(np.clip(values / top, 0, 1).astype(np.float32), "F"), None
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        alpha = image.getchannel("A")
        luma = image.convert("RGB" if mode.startswith("RGB") else "L").convert("L")
        extrema = alpha.getextrema()
        return luma, (alpha if extrema[0] < 250 else None)
    if mode == "L":
        return image, None
    return image.convert("RGB").convert("L"), None


def _shrink(band: Image.Image, size: tuple[int, int]) -> np.ndarray:
    if band.size != size:
        band = band.resize(size, Image.Resampling.BOX, reducing_gap=3.0)
    values = np.asarray(band, dtype=np.float32)
    return values if band.mode == "F" else values / 255.0


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, work_size: int = WORK_SIZE) -> Decoded:
    """Decode the first frame of ``data``, upright (EXIF), at most ``work_size`` across."""
    image = _open(data, max_pixels)
    original_size, fmt = image.size, image.format or "?"
    try:
        if fmt == "JPEG":
            image.draft(image.mode if image.mode in ("L", "RGB") else None, (work_size, work_size))
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        luma, alpha = _bands(image)
    except (OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
        raise InvalidImage(f"the image data is truncated or corrupt: {exc}") from exc
    scale = min(1.0, work_size / max(luma.size))
    size = (max(1, round(luma.size[0] * scale)), max(1, round(luma.size[1] * scale)))
    return Decoded(
        luma=_shrink(luma, size),
        alpha=None if alpha is None else _shrink(alpha, size),
        original_size=original_size,
        format=fmt,
    )
