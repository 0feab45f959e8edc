"""Printed marks that are not digits: letters, words, symbols and punctuation typed in filled TrueType faces.

The faces are the ones matplotlib ships (DejaVu, STIX, Computer Modern), so every machine that runs the
project has the same files and nothing is downloaded. They are split in two, as the stroke fonts are:
training sees only the ``train`` faces, the dev set only the ``eval`` ones, among them the sans-serif
regular and bold faces people type in most. Pure functions of their arguments and a seeded generator.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FACES = {
    "train": (
        "STIXGeneral",
        "STIXGeneralBol",
        "STIXGeneralItalic",
        "STIXGeneralBolIta",
        "cmr10",
        "cmss10",
        "cmb10",
        "cmtt10",
        "DejaVuSansMono",
        "DejaVuSansMono-Bold",
        "DejaVuSerif",
        "DejaVuSerif-Bold",
        "DejaVuSerif-Italic",
    ),
    "eval": (
        "DejaVuSans",
        "DejaVuSans-Bold",
        "DejaVuSans-Oblique",
        "DejaVuSans-BoldOblique",
        "DejaVuSansMono-Oblique",
        "DejaVuSerif-BoldItalic",
        "cmti10",
    ),
}
# Symbols a face draws that no one would take for a digit: no 0-like rings (Φ Ω ♪), no 1-like bars (∫ † ‡),
# no C, S, U, L or 2 shapes (¢ € £ µ ∂ ⊂ ⊃)
SYMBOLS = "@&#%*+=~<>^→←↑↓⇒⇐↔✓✔✗✘★☆♥♦♣♠☺☹☼¥¤©®™¶ΔΣΠΨΛΞ∑∏√∞≈≠≤≥∇∀∃∈∩∪"
# Punctuation that stands alone or in short runs; marks a hand writes like a 1 (! | / \ ( ) [ ] ' ,) are left
# out, and so is a lone question mark: preprocessing drops its dot as a speck, and what is left is a 2's hook
PUNCTUATION = (";", ":", '"', "“", "”", "«", "»", "…", "·", "-", "–", "—", "_", "??", "?!", ":;", "...", '""')
MARKS_HEIGHT = 64  # the tallest glyph of a mark, in pixels, before a style scales the drawing


def _font_dir() -> Path:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib is not installed: its fonts are the typed negatives' faces")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


@cache
def _face(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_font_dir() / f"{name}.ttf"), size)


def typed(text: str, face: str, rng: np.random.Generator, height: int = MARKS_HEIGHT) -> np.ndarray | None:
    """``text`` in ``face``, white on black, its ink about ``height`` px tall, turned a little as a photo
    would be; None when the face has no ink for it (a glyph it lacks)."""
    font = _face(face, int(height * 1.3))
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    if right <= left or bottom <= top:
        return None
    margin = height // 4
    img = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin))
    ImageDraw.Draw(img).text((margin - left, margin - top), text, fill=255, font=font)
    img = img.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR, expand=True)
    ink = np.asarray(img)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 64), np.flatnonzero(ink.max(axis=0) > 64)
    if rows.size == 0:
        return None
    pad = 4
    return np.pad(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], pad)


def drawn(alphabet: str | tuple[str, ...], rng: np.random.Generator, split: str) -> np.ndarray:
    """One entry of ``alphabet`` typed in a face of ``split``'s (another face or entry when one has no ink)."""
    while True:
        ink = typed(str(rng.choice(list(alphabet))), str(rng.choice(FACES[split])), rng)
        if ink is not None:
            return ink
