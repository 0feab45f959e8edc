"""The pictures ml.plots draws: real PNGs whose layout follows what they show."""

import io

import numpy as np
from PIL import Image

from ml.plots import misses_png


def _size(png: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.size


def test_the_sheet_of_wrong_answers_has_a_row_per_eight():
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:16] = 1.0
    row = [(digit, "1 read as 7 (61%)", "canvas_rgba/0001_1.png")] * 8
    found_none = (None, "1: no_digit_found", "phone_photo/0002_1.jpg")
    sizes = [_size(misses_png(sheet, "v")) for sheet in (row, row + [found_none], row * 2 + [found_none])]
    assert len({width for width, _ in sizes}) == 1  # eight across
    (_, one), (_, two), (_, three) = sizes
    assert three - two == two - one > 0  # 8, 9 and 17 answers: one, two and three rows


def test_no_wrong_answers_is_still_a_picture_and_a_long_list_is_cut():
    assert _size(misses_png([], "v")) == _size(misses_png([(None, "a", "b")], "v"))
    many = [(None, "a", "b")] * 30
    assert _size(misses_png(many, "v", limit=16)) == _size(misses_png(many[:16], "v"))
