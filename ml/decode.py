"""Bytes of any upload -> a small greyscale array (plus alpha when it matters).

Decoding is where hostile input lands first, so every Pillow failure becomes
one of our named errors, and huge images are refused before their pixels are
decoded. Large photos are shrunk as early as possible (JPEG ``draft`` decodes
at 1/2, 1/4 or 1/8 scale directly), because everything downstream only needs
a few hundred pixels across.
"""

from __future__ import annotations

import io
import math
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

# The plugins of FORMATS are imported here, so they are registered: Image.open imports all of Pillow's
# plugins (slow) the first time it is asked for a format not yet registered, which the first upload
# that is not PNG, JPEG, GIF or BMP (WebP, TIFF, or any junk) would have paid, once per worker.
from PIL import (  # noqa: F401
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from ml.errors import ImageTooCostly, ImageTooLarge, InvalidImage, NonFinitePixels, RequestTooCostly, UnsupportedImage

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
DEFAULT_MAX_PIXELS = 40_000_000  # a 48 MP phone photo is fine; a PNG bomb is not
WORK_SIZE = 512  # longest side we ever process at
DETAIL_FROM = 3  # a picture this many times the working size across can be read in more detail (see decode)
DRAFT_SHARE = 0.75  # a JPEG is decoded at a DCT scale whose longest side is at least this share of WORK_SIZE
# A camera's progressive JPEG has about 10 scans; each scan is a pass over every block, so a file of
# thousands of tiny scans costs seconds for a small file (benchmarks/costly_images.py).
MAX_JPEG_SCANS = 50
_SOS = b"\xff\xda"  # start-of-scan marker; 0xFF in entropy-coded data is always followed by 0x00


class DecodeBudget:
    """What one request may spend decoding, whatever the mix of images: pixels in total, and time."""

    def __init__(self, pixels: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.pixels, self.seconds, self._left, self._clock = pixels, seconds, pixels, clock
        self._started = clock()

    @property
    def spent(self) -> int:
        """Pixels decoded so far."""
        return self.pixels - self._left

    def spend(self, width: int, height: int) -> None:
        if width * height > self._left:
            raise RequestTooCostly(
                f"the images of this request hold more than the {self.pixels:,} pixels one "
                f"request may decode (MAX_REQUEST_PIXELS); send fewer or smaller images"
            )
        self._left -= width * height

    def check_time(self) -> None:
        if self._clock() - self._started > self.seconds:
            raise RequestTooCostly(
                f"decoding this request's images took over {self.seconds:g} s; send fewer or smaller images"
            )


@dataclass(frozen=True)
class Decoded:
    """Luma in [0, 1] (0 = black) and, if the image is partly transparent, alpha."""

    luma: np.ndarray
    alpha: np.ndarray | None
    original_size: tuple[int, int]
    format: str
    finer: Decoded | None = None  # the same picture with more of its pixels (decode's detail_size)


def _open(data: bytes, max_pixels: int, budget: DecodeBudget | None) -> Image.Image:
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
        raise ImageTooLarge(f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}")
    scans = data.count(_SOS) if image.format == "JPEG" else 0
    if scans > MAX_JPEG_SCANS:
        raise ImageTooCostly(
            f"the JPEG has {scans:,} scans; the limit is {MAX_JPEG_SCANS} (a camera's progressive JPEG has about 10)"
        )
    if budget is not None:
        budget.spend(width, height)
    return image


def from_pixels(values: np.ndarray) -> Decoded:
    """A picture already decoded, as a 2-D array of pixels: what ``decode`` makes of a greyscale image file
    holding them (8-bit pixels by 255, floats by their real range), so both are read alike."""
    if values.dtype == np.uint8:
        luma = values.astype(np.float32) / 255.0
    else:
        luma = _unit_range(values.astype(np.float32), "F")
    height, width = luma.shape
    return Decoded(luma=luma, alpha=None, original_size=(width, height), format="pixels")


def declared_pixels(data: bytes) -> int:
    """The pixels ``data``'s header declares (0 for anything that is not a readable image): what decoding it
    would cost, told without decoding it. Every upload is judged so before it is decoded, and a PNG's header is
    read without Pillow: Image.open was a visible share of a small upload's cost, paid twice."""
    png = _png_pixels(data)
    if png is not None:
        return png
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            width, height = Image.open(io.BytesIO(data), formats=FORMATS).size
    except Exception:  # noqa: BLE001 (a refusal is for decode to name; here it costs nothing)
        return 0
    return width * height


_PNG_HEAD = struct.Struct(">8sI4sII5BI")  # signature; IHDR's length, type, width, height, five bytes; its CRC
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # PNG's own eight bytes (the specification's, not a private name of Pillow's)


def _png_pixels(data: bytes) -> int | None:
    """What Pillow's PNG header would tell (its IHDR chunk, always first; 0 for one Pillow refuses to open: a bad
    checksum, or past its decompression-bomb refusal), or None for anything that is not a PNG's start."""
    if len(data) < _PNG_HEAD.size or not data.startswith(_PNG_SIGNATURE):
        return None
    _, length, kind, width, height, *_, crc = _PNG_HEAD.unpack_from(data)
    if length != 13 or kind != b"IHDR" or zlib.crc32(data[12:29]) != crc:
        return 0
    pixels = width * height
    return pixels if pixels <= 2 * (Image.MAX_IMAGE_PIXELS or pixels) else 0


# Where Pillow's getexif() finds an orientation (besides a TIFF's own tags): an image with none of these
# is upright, and skips exif_transpose's parse of an empty EXIF block (a visible share of a tiny upload's cost)
_ORIENTATION_SOURCES = frozenset({"exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp"})


def _draft_request(size: tuple[int, int], work_size: int) -> tuple[int, int]:
    """The size to ask JPEG ``draft`` for: the coarsest DCT scale whose longest side still reaches
    DRAFT_SHARE of the working size. Pillow picks a scale that keeps both sides at or above the request,
    so asking for the square (work_size, work_size), as before, decoded a 1000x1000 photo at full size and
    a 4000x3000 one at 1/4; this asks for 1/2 and 1/8. Half the working size was too coarse: the
    dev set's small digits in large photos were lost at that size (docs/decisions.md)."""
    scale = DRAFT_SHARE * work_size / max(size)
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _early_shrink(image: Image.Image, work_size: int) -> Image.Image:
    """Bring a large image near the working size before any conversion that widens its pixels
    (a 40 MP 1-bit or 16-bit PNG of a few KB must not become hundreds of MB of float32)."""
    factor = max(image.size) // work_size
    if factor < 2:
        return image
    if image.mode == "1":
        image = image.convert("L")  # 1 byte a pixel either way; averaging then keeps thin strokes
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    size = (max(1, image.size[0] // factor), max(1, image.size[1] // factor))
    if image.mode.startswith("I;16"):
        return image.resize(size, Image.Resampling.BOX)
    return image.reduce(factor)


def _bands(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Split into a luma band ('L' or 'F') and an alpha band when there is one."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_unit_range(np.asarray(image, dtype=np.float32), mode), "F"), None
    if mode in ("P", "PA", "RGBa", "La"):  # a palette, or alpha premultiplied (TIFF): made straight RGBA or LA
        image = image.convert("LA" if mode == "La" else "RGBA")
        mode = image.mode
    if mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
        luma = image.convert("L")  # directly: the same values as through RGB, in one pass instead of two
        lowest = alpha.getextrema()[0]  # one band: (min, max)
        return luma, (alpha if isinstance(lowest, (int, float)) and lowest < 250 else None)
    if mode == "L":
        return image, None
    return image.convert("RGB").convert("L"), None


def _unit_range(values: np.ndarray, mode: str) -> np.ndarray:
    """Wide or float pixels brought to [0, 1] by their real range: a float image already in [0, 1] is taken
    as it is, integers by the depth they fit (8 or 16 bits), anything else (negative, or beyond 16 bits)
    from its own minimum to its maximum. NaN or infinity has no brightness at all: refused by name."""
    if not np.isfinite(values).all():
        raise NonFinitePixels(
            "the image holds NaN or infinite pixel values; send an image whose pixels are finite numbers"
        )
    low, high = float(values.min()), float(values.max())
    if mode == "F" and low >= 0 and high <= 1:
        return values
    if low >= 0 and high <= 65535:
        return np.clip(values / (255.0 if high <= 255 else 65535.0), 0, 1).astype(np.float32)
    span = high - low
    return ((values - low) / span).astype(np.float32) if span > 0 else np.zeros_like(values)


def _shrink(band: Image.Image, size: tuple[int, int]) -> np.ndarray:
    if band.size != size:
        band = band.resize(size, Image.Resampling.BOX, reducing_gap=3.0)
    values = np.asarray(band, dtype=np.float32)
    return values if band.mode == "F" else values / 255.0


def decode(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    work_size: int = WORK_SIZE,
    budget: DecodeBudget | None = None,
    detail_size: int | None = None,
) -> Decoded:
    """Decode the first frame of ``data``, upright (EXIF), at most ``work_size`` across.

    With ``detail_size``, a picture at least DETAIL_FROM times the working size across is read at up to
    ``detail_size`` across, kept as ``finer``: a small digit in a large photo needs those pixels. Reading a
    large JPEG at 1/4 of its size instead of 1/8 costs little; decoding it a second time costs far more (its
    entropy-coded data is read whatever the scale)."""
    if budget is not None:
        budget.check_time()
    image = _open(data, max_pixels, budget)
    original_size, fmt = image.size, image.format or "?"
    detailed = detail_size is not None and max(original_size) >= DETAIL_FROM * work_size
    read_size = max(work_size, detail_size or 0) if detailed else work_size
    try:
        if fmt == "JPEG":
            # "L": the decoder hands over the luma it stores (JPEG's Y is the same weighting of R, G and B
            # as Pillow's convert("L"), within 2 levels of rounding) and skips chroma and colour conversion
            image.draft("L" if image.mode in ("L", "RGB") else None, _draft_request(image.size, read_size))
        image.seek(0)
        image.load()
        image = _early_shrink(image, read_size)
        if not _ORIENTATION_SOURCES.isdisjoint(image.info):  # (Pillow turns a TIFF upright as it loads it)
            image = ImageOps.exif_transpose(image) or image
        luma, alpha = _bands(image)
    except (OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
        raise InvalidImage(f"the image data is truncated or corrupt: {exc}") from exc
    work = _at_most(luma, alpha, work_size, original_size, fmt)
    if not detailed or max(luma.size) <= max(work.luma.shape):
        return work
    return replace(work, finer=_at_most(luma, alpha, read_size, original_size, fmt))


def _at_most(
    luma: Image.Image, alpha: Image.Image | None, size: int, original_size: tuple[int, int], fmt: str
) -> Decoded:
    """The bands as arrays, shrunk to at most ``size`` across."""
    scale = min(1.0, size / max(luma.size))
    shape = (max(1, round(luma.size[0] * scale)), max(1, round(luma.size[1] * scale)))
    return Decoded(
        luma=_shrink(luma, shape),
        alpha=None if alpha is None else _shrink(alpha, shape),
        original_size=original_size,
        format=fmt,
    )
