"""Pictures that are not digits, drawn here by hand rather than by the training's generators, sent over real
sockets to the predict function at three sizes each: all refused. Thin real digits on large photos: still read."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import requests
from PIL import Image, ImageDraw, ImageFont

from scripts.servers import function_server
from tests.fixtures.make_golden import _draw

SIZES = (96, 400, 1600)  # the picture's width in pixels; the mark fills about half of it
SYSTEM_SANS_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _sans_bold(size: int) -> ImageFont.FreeTypeFont:
    """The common sans-serif system face in bold (Debian's fonts-dejavu-core), or the same file as matplotlib ships it."""
    if SYSTEM_SANS_BOLD.exists():
        return ImageFont.truetype(str(SYSTEM_SANS_BOLD), size)
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), size)


def _paper(width: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (width, width * 3 // 4), 235)
    return img, ImageDraw.Draw(img)


def typed_a(width: int) -> Image.Image:
    img, draw = _paper(width)
    draw.text((width / 2, width * 3 / 8), "A", fill=25, font=_sans_bold(width // 2), anchor="mm")
    return img


def square(width: int) -> Image.Image:
    img, draw = _paper(width)
    side, pen = width // 2, max(3, width // 25)
    left, top = width // 4, width * 3 // 8 - side // 2
    draw.rectangle((left, top, left + side, top + side), outline=30, width=pen)
    return img


def star(width: int) -> Image.Image:
    img, draw = _paper(width)
    t = np.pi / 2 + np.arange(6) * 4 * np.pi / 5
    centre, radius = (width / 2, width * 3 / 8), width / 4
    points = [(centre[0] + radius * np.cos(a), centre[1] - radius * np.sin(a)) for a in t]
    draw.line(points, fill=30, width=max(3, width // 30), joint="curve")
    return img


def specks(width: int) -> Image.Image:
    img, draw = _paper(width)
    rng = np.random.default_rng(width)
    for _ in range(120):
        x, y, r = rng.uniform(0, width), rng.uniform(0, width * 3 / 4), rng.uniform(0.5, max(1.0, width / 300))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.uniform(20, 90)))
    return img


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def thin_digit_photo(digit: int) -> bytes:
    """A digit a few pixels thin, small in a 2000x1500 photo of paper: a JPEG as a phone sends it."""
    ink = np.asarray(_draw(digit, (2000, 1500), (900, 600, 1020, 770), 5), dtype=np.float32) / 255
    ys, xs = np.mgrid[0:1500, 0:2000]
    paper = 225 - 25 * xs / 2000 - 15 * ys / 1500
    grey = paper * (1 - 0.85 * ink)
    out = io.BytesIO()
    Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()


def test_things_that_are_not_digits_are_refused_and_thin_digits_read(tmp_path, predict_env):
    """Each failure is named, all of them at once: which picture, at which size, answered what."""
    wrong = []
    with function_server("predict", predict_env, tmp_path) as url:
        for draw in (typed_a, square, star, specks):
            for width in SIZES:
                answer = requests.post(url, files={"file": (f"{draw.__name__}.png", _png(draw(width)))}, timeout=30)
                if answer.status_code != 422 or answer.json()["error"] not in {"not_a_digit", "no_digit_found"}:
                    wrong.append(f"{draw.__name__} at {width} px: {answer.status_code} {answer.text[:160]}")
        for digit in range(10):
            answer = requests.post(url, files={"file": (f"{digit}.jpg", thin_digit_photo(digit))}, timeout=30)
            if answer.status_code != 200 or answer.json()["digit"] != digit:
                wrong.append(f"thin {digit} on a large photo: {answer.status_code} {answer.text[:160]}")
    assert not wrong, "\n".join(wrong)
