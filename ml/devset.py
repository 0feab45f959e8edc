"""A reproducible dev set of realistic uploads, one named category per case.

Digits come from the MNIST *test* split (never training digits) and from a
second, differently-written source: the UCI handwritten digits that
scikit-learn ships (8x8, 17 grey levels). Each category renders them the way
people really send digits: canvas exports, scans, chalkboards, phone photos
with uneven light and shadows, tiny digits in huge photos, specks, every
file format and pixel mode we accept, EXIF-rotated files.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ml.glyphs import glyph
from ml.uci import uci_digits

CATEGORIES = (
    "mnist_png",
    "canvas_rgba",
    "scan_dark_on_light",
    "light_on_dark",
    "phone_photo",
    "large_offcentre",
    "noise_specks",
    "formats_modes",
    "exif_rotated",
    "uci_digits",
)


@dataclass(frozen=True)
class Sample:
    category: str
    label: int
    filename: str
    data: bytes


def _place(canvas_hw: tuple[int, int], ink: np.ndarray, rng: np.random.Generator, centred: bool) -> np.ndarray:
    h, w = canvas_hw
    gh, gw = ink.shape
    field = np.zeros((h, w), dtype=np.float32)
    if centred:
        top = (h - gh) // 2 + int(rng.integers(-h // 10, h // 10 + 1))
        left = (w - gw) // 2 + int(rng.integers(-w // 10, w // 10 + 1))
    else:
        top, left = int(rng.integers(0, h - gh)), int(rng.integers(0, w - gw))
    top, left = min(max(top, 0), h - gh), min(max(left, 0), w - gw)
    field[top : top + gh, left : left + gw] = ink
    return field


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    """The file bytes of ``img``; PNGs at zlib level 1 (the same pixels as the default, much faster)."""
    if fmt == "PNG":
        kwargs.setdefault("compress_level", 1)
    out = io.BytesIO()
    img.save(out, fmt, **kwargs)
    return out.getvalue()


def _paper(field: np.ndarray, paper: float, ink_level: float, rng: np.random.Generator, noise: float) -> np.ndarray:
    grey = paper + (ink_level - paper) * field
    grey = grey + rng.normal(0, noise, field.shape)
    return np.clip(grey, 0, 255).astype(np.uint8)


def _rgb(grey_field: np.ndarray, tint: tuple[float, float, float]) -> Image.Image:
    return Image.fromarray(np.clip(grey_field[..., None] * np.array(tint), 0, 255).astype(np.uint8), "RGB")


def _mnist_png(d, rng):
    return "png", encode(Image.fromarray(d), "PNG")


def _canvas_rgba(d, rng):
    ink = glyph(d, int(rng.integers(140, 230)), rng, thickness=float(rng.uniform(0, 4)))
    alpha = _place((280, 280), ink, rng, centred=True)
    colour = [(0, 0, 0), (20, 40, 200), (255, 255, 255)][int(rng.integers(0, 3))]
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., :3] = np.array(colour, dtype=np.uint8) * (alpha[..., None] > 0)
    rgba[..., 3] = (alpha * 255).astype(np.uint8)
    return "png", encode(Image.fromarray(rgba, "RGBA"), "PNG")


def _scan(d, rng, specks: int = 0):
    h, w = int(rng.integers(300, 600)), int(rng.integers(300, 600))
    ink = glyph(d, int(rng.integers(60, min(h, w) * 3 // 4)), rng, thickness=float(rng.uniform(0, 3)))
    field = _place((h, w), ink, rng, centred=bool(rng.integers(0, 2)))
    for _ in range(specks):
        r = int(rng.integers(1, 4))
        y, x = int(rng.integers(r, h - r)), int(rng.integers(r, w - r))
        field[y - r : y + r, x - r : x + r] = np.maximum(field[y - r : y + r, x - r : x + r], rng.uniform(0.5, 1))
    grey = _paper(field, rng.uniform(225, 252), rng.uniform(10, 70), rng, rng.uniform(1, 5))
    if rng.random() < 0.5:
        return "png", encode(Image.fromarray(grey, "L"), "PNG")
    return "jpg", encode(_rgb(grey, (1.0, 0.99, 0.96)), "JPEG", quality=int(rng.integers(80, 96)))


def _light_on_dark(d, rng):
    h, w = int(rng.integers(250, 500)), int(rng.integers(250, 500))
    ink = glyph(d, int(rng.integers(80, min(h, w) * 3 // 4)), rng, thickness=float(rng.uniform(1, 4)))
    field = _place((h, w), ink, rng, centred=True)
    grey = _paper(field, rng.uniform(15, 70), rng.uniform(180, 250), rng, rng.uniform(2, 8))
    return "jpg", encode(_rgb(grey, (0.85, 1.0, 0.9)), "JPEG", quality=int(rng.integers(75, 95)))


def lighting(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative light: a gradient plus a soft-edged shadow."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gy, gx = rng.uniform(-0.35, 0.35, 2)
    light = 1.0 + gx * (xs / w - 0.5) + gy * (ys / h - 0.5)
    angle = rng.uniform(0, np.pi)
    edge = np.cos(angle) * (xs - w * rng.uniform(0.2, 0.8)) + np.sin(angle) * (ys - h * rng.uniform(0.2, 0.8))
    shadow = 1.0 - rng.uniform(0.15, 0.4) / (1.0 + np.exp(-edge / (0.03 * max(h, w))))
    return light * shadow


def _photo(d, rng, size: tuple[int, int], digit_share: tuple[float, float], centred: bool):
    w, h = size if rng.random() < 0.7 else size[::-1]
    height = int(min(h, w) * rng.uniform(*digit_share))
    ink = glyph(d, height, rng, thickness=float(rng.uniform(0, 3)))
    ink = np.asarray(
        Image.fromarray(ink, "F").rotate(float(rng.uniform(-8, 8)), Image.Resampling.BILINEAR, expand=True)
    )
    field = _place((h, w), ink, rng, centred=centred)
    paper = np.array(rng.uniform(190, 240) * np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.8, 0.97)]))
    ink_rgb = np.array([[25, 25, 30], [20, 30, 120], [40, 40, 40]][int(rng.integers(0, 3))], dtype=np.float32)
    rgb = paper * (1 - field[..., None]) + ink_rgb * field[..., None]
    rgb = rgb * lighting(h, w, rng)[..., None] + rng.normal(0, rng.uniform(2, 7), (h, w, 1))
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return "jpg", encode(img, "JPEG", quality=int(rng.integers(70, 92)))


def _phone_photo(d, rng):
    return _photo(d, rng, (1000, 750), (0.15, 0.45), centred=bool(rng.integers(0, 2)))


def _small_photo(d, rng):
    """A phone photo at a third of the size: training's cheaper stand-in (not a dev-set category)."""
    return _photo(d, rng, (400, 300), (0.25, 0.6), centred=bool(rng.integers(0, 2)))


def _large_offcentre(d, rng):
    size = (4000, 3000) if rng.random() < 0.25 else (2400, 1800)
    return _photo(d, rng, size, (0.06, 0.12), centred=False)


def _noise_specks(d, rng):
    return _scan(d, rng, specks=int(rng.integers(5, 30)))


def _formats_modes(d, rng):
    ink = glyph(d, int(rng.integers(40, 120)), rng, thickness=float(rng.uniform(0, 2)))
    field = _place((160, 160), ink, rng, centred=True)
    grey = _paper(field, 245, 20, rng, 2.0)
    kind = int(rng.integers(0, 9))
    base = Image.fromarray(grey, "L")
    if kind == 0:
        return "png", encode(base.point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG")
    if kind == 1:
        la = Image.merge("LA", (Image.fromarray(np.zeros_like(grey)), Image.fromarray((field * 255).astype(np.uint8))))
        return "png", encode(la, "PNG")
    if kind == 2:
        pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        return "png", encode(pal, "PNG", transparency=int(np.asarray(pal)[0, 0]))
    if kind == 3:
        return "gif", encode(base.convert("P"), "GIF")
    if kind == 4:
        return "bmp", encode(base.convert("RGB"), "BMP")
    if kind == 5:
        return "webp", encode(base.convert("RGB"), "WEBP", quality=90)
    if kind == 6:
        return "tiff", encode(base, "TIFF")
    if kind == 7:
        return "jpg", encode(base.convert("RGB").convert("CMYK"), "JPEG", quality=92)
    wide = Image.fromarray(grey.astype("<u2") * 257)  # mode I;16
    return "png", encode(wide, "PNG")


def _exif_rotated(d, rng):
    _, data = _scan(d, rng)
    img = Image.open(io.BytesIO(data)).convert("RGB")
    orientation, transpose = [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ][int(rng.integers(0, 3))]
    # store the pixels turned so that applying the EXIF orientation brings them upright
    stored = img.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return "jpg", encode(stored, "JPEG", quality=90, exif=exif.tobytes())


def _uci(d, rng):
    style = [_canvas_rgba, _scan, _phone_photo][int(rng.integers(0, 3))]
    return style(d, rng)


_RENDER: dict[str, Callable] = {
    "mnist_png": _mnist_png,
    "canvas_rgba": _canvas_rgba,
    "scan_dark_on_light": _scan,
    "light_on_dark": _light_on_dark,
    "phone_photo": _phone_photo,
    "large_offcentre": _large_offcentre,
    "noise_specks": _noise_specks,
    "formats_modes": _formats_modes,
    "exif_rotated": _exif_rotated,
    "uci_digits": _uci,
    "small_photo": _small_photo,
}


def render(category: str, digit: np.ndarray, rng: np.random.Generator) -> tuple[str, bytes]:
    """One upload of ``digit`` in the style of ``category``: (file extension, file bytes)."""
    return _RENDER[category](digit, rng)


def _source(
    category: str, mnist_test_images: np.ndarray, mnist_test_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return uci_digits("eval") if category == "uci_digits" else (mnist_test_images, mnist_test_labels)


def category_size(category: str, per_category: int, mnist_count: int = 10_000) -> int:
    """How many samples ``generate`` draws of ``category``: the UCI half holds 898 digits."""
    return min(per_category, len(uci_digits("eval")[1]) if category == "uci_digits" else mnist_count)


def generate_category(
    mnist_test_images: np.ndarray,
    mnist_test_labels: np.ndarray,
    category: str,
    per_category: int = 100,
    seed: int = 2024,
) -> Iterator[Sample]:
    """One category's samples, seeded by the category's place in CATEGORIES: the same uploads whichever
    categories are drawn with it, and each category can be drawn in a process of its own."""
    rng = np.random.default_rng([seed, CATEGORIES.index(category)])
    source_x, source_y = _source(category, mnist_test_images, mnist_test_labels)
    picks = rng.choice(len(source_x), size=min(per_category, len(source_x)), replace=False)
    for n, index in enumerate(picks):
        ext, data = render(category, source_x[index], rng)
        label = int(source_y[index])
        yield Sample(category, label, f"{category}/{n:04d}_{label}.{ext}", data)


def generate(
    mnist_test_images: np.ndarray,
    mnist_test_labels: np.ndarray,
    per_category: int = 100,
    seed: int = 2024,
    categories: tuple[str, ...] = CATEGORIES,
) -> Iterator[Sample]:
    """Yield ``per_category`` samples of each category, the same ones every time."""
    for category in categories:
        yield from generate_category(mnist_test_images, mnist_test_labels, category, per_category, seed)
