"""Uploads that are not one handwritten digit: letters and words in many hands and typefaces, scribbles,
doodles, several digits at once, photos of textures and objects, empty paper with smudges and shadows.

They train the model's eleventh class ("not a digit") and make its dev set. The two never share a hand,
a typeface or a digit image: training draws on the ``train`` fonts and MNIST's training digits, the dev
set on the ``eval`` fonts, Pillow's built-in typeface and MNIST's test digits, each from its own seed.
Everything is drawn here (Hershey's public-domain stroke fonts ship as a small Python package);
nothing is downloaded. Pure functions of their arguments and a seeded generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ml import devset, shapes, typefaces
from ml.devset import Sample
from ml.labels import NOT_A_DIGIT

KINDS = (
    "letters",
    "words",
    "typed",
    "scribbles",
    "doodles",
    "several_digits",
    "textures",
    "blank_paper",
    "typefaces",
    "shapes",
    "symbols",
    "punctuation",
    "specks",
    "shadows",
)
# Letters a hand may write like a digit (O o D for 0, I l i j J T for 1 and 7, Z z for 2, S s for 5,
# B for 8, b G for 6, g q a y for 9, h for 4, C c U u e for 0 or 6) are left out of the single letters:
# a person sending one of those has sent a digit as far as anyone can tell.
SAFE_LETTERS = "AEFHKMNPRVWXYdfkmnprvwx"
FONTS = {
    "train": ("futural", "rowmans", "timesr", "timesib", "scripts", "cursive", "gothiceng", "gothgbt", "greek"),
    "eval": (
        "futuram",
        "rowmand",
        "rowmant",
        "timesi",
        "timesrb",
        "scriptc",
        "gothicger",
        "gothicita",
        "gothgrt",
        "gothitt",
        "greekc",
        "greeks",
    ),
}
STYLES = {  # how a drawing is sent; training draws its photos at a third of the size (a much cheaper render)
    "eval": ("canvas_rgba", "scan_dark_on_light", "light_on_dark", "phone_photo"),
    "train": ("canvas_rgba", "scan_dark_on_light", "light_on_dark", "small_photo"),
}
INK_HEIGHT = 64  # drawings are made at this height (a glyph, a word's line) and scaled by each style


@cache
def _font(name: str):
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    return font


Stroke = list[tuple[float, float]]


def _raster(strokes: list[Stroke], rng: np.random.Generator, pen: float, height: int = INK_HEIGHT) -> np.ndarray:
    """Polylines -> white-on-black uint8 image ``height`` px tall, slanted, rotated and wobbled like a hand."""
    points = np.concatenate([np.asarray(s, dtype=np.float64) for s in strokes if len(s)])
    shear, angle = rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array([[1, shear], [0, 1]])
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (height - 2 * pen - 4) / max(high[1] - low[1], (high[0] - low[0]) / 8, 1e-6)
    moved = [((np.asarray(s, dtype=np.float64) - low) * scale) @ turn.T for s in strokes if len(s) > 1]
    allpts = np.concatenate(moved)
    origin = allpts.min(axis=0) - pen - 2
    size = np.ceil(allpts.max(axis=0) - origin + pen + 2).astype(int)
    img = Image.new("L", (int(size[0]), int(size[1])))
    draw = ImageDraw.Draw(img)
    wobble = rng.uniform(0, 1.2)
    for s in moved:
        s = s - origin + rng.normal(0, wobble, s.shape)
        draw.line([tuple(p) for p in s], fill=255, width=max(1, int(round(pen))), joint="curve")
    return np.asarray(img)


def _text_strokes(font_name: str, text: str) -> list[Stroke]:
    return [list(s) for s in _font(font_name).strokes_for_text(text) if len(s) > 1]


def _letters(rng, split, mnist):
    while True:  # a few fonts lack a few letters
        strokes = _text_strokes(str(rng.choice(FONTS[split])), str(rng.choice(list(SAFE_LETTERS))))
        if strokes:
            return _raster(strokes, rng, _pen(rng))


def _word(rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    word = "".join(rng.choice(list(letters), size=int(rng.integers(3, 8))))
    return word.capitalize() if rng.random() < 0.3 else word


def _words(rng, split, mnist):
    while True:
        strokes = _text_strokes(str(rng.choice(FONTS[split])), _word(rng))
        if strokes:
            return _raster(strokes, rng, _pen(rng))


def _typed(rng, split, mnist):
    """Printed letters or words: Pillow's built-in typeface in the dev set, Hershey's roman ones in training."""
    text = str(rng.choice(list(SAFE_LETTERS))) if rng.random() < 0.5 else _word(rng)
    if split == "train":
        return _raster(_text_strokes(str(rng.choice(["futural", "timesr", "rowmans"])), text), rng, 2.0)
    font = ImageFont.load_default(size=INK_HEIGHT)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 8, bottom - top + 8))
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=255, font=font)
    return np.asarray(img)


def _pen(rng: np.random.Generator) -> float:
    return float(rng.uniform(2.0, 6.0))


def _spline(points: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """Catmull-Rom curve through ``points``: a smooth hand-drawn stroke."""
    p = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    return np.concatenate(out + [p[-2:-1]])


def _scribbles(rng, split, mnist):
    kind = int(rng.integers(0, 4))
    if kind == 0:  # a tangle: a long smooth stroke through many random points
        pts = rng.uniform(0, 100, (int(rng.integers(8, 16)), 2))
        strokes = [_spline(pts)]
    elif kind == 1:  # hatching
        angle, n = rng.uniform(0, np.pi), int(rng.integers(5, 12))
        d = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-d[1], d[0]])
        strokes = [
            np.array([c - 40 * d, c + 40 * d]) + rng.normal(0, 2, (2, 2))
            for c in (50 + normal * (k - n / 2) * rng.uniform(6, 10) for k in range(n))
        ]
    elif kind == 2:  # a zigzag
        n = int(rng.integers(7, 14))
        xs = np.linspace(0, 100, n)
        ys = np.where(np.arange(n) % 2, 0, rng.uniform(30, 80)) + rng.normal(0, 5, n)
        strokes = [np.stack([xs, ys], axis=1)]
    else:  # a spiral of two to four turns
        turns = rng.uniform(2, 4)
        t = np.linspace(0, 2 * np.pi * turns, 200)
        r = 5 + 45 * t / t[-1]
        strokes = [np.stack([50 + r * np.cos(t), 50 + r * np.sin(t)], axis=1)]
    return _raster([list(map(tuple, s)) for s in strokes], rng, _pen(rng))


def _circle(cx: float, cy: float, r: float, start: float = 0.0, end: float = 2 * np.pi, n: int = 40) -> Stroke:
    t = np.linspace(start, end, n)
    return list(zip(cx + r * np.cos(t), cy + r * np.sin(t), strict=True))


def _doodle_strokes(kind: int, rng: np.random.Generator) -> list[Stroke]:
    if kind == 0:  # a face
        return [
            _circle(50, 50, 40),
            _circle(35, 38, 5),
            _circle(65, 38, 5),
            _circle(50, 52, 22, 0.2 * np.pi, 0.8 * np.pi),
        ]
    if kind == 1:  # a five-pointed star
        t = np.pi / 2 + np.arange(6) * 4 * np.pi / 5
        return [list(zip(50 + 45 * np.cos(t), 50 - 45 * np.sin(t), strict=True))]
    if kind == 2:  # a house
        return [
            [(10, 45), (50, 5), (90, 45)],
            [(20, 40), (20, 95), (80, 95), (80, 40)],
            [(40, 95), (40, 65), (60, 65), (60, 95)],
        ]
    if kind == 3:  # a sun
        rays = [
            [(50 + 25 * np.cos(a), 50 + 25 * np.sin(a)), (50 + 45 * np.cos(a), 50 + 45 * np.sin(a))]
            for a in np.linspace(0, 2 * np.pi, 9)[:-1]
        ]
        return [_circle(50, 50, 18), *rays]
    if kind == 4:  # a flower
        petals = [_circle(50 + 22 * np.cos(a), 40 + 22 * np.sin(a), 12) for a in np.linspace(0, 2 * np.pi, 6)[:-1]]
        return [*petals, [(50, 55), (50, 100)], [(50, 80), (68, 70)]]
    if kind == 5:  # a hash sign with a box around it
        return [
            [(35, 10), (30, 90)],
            [(65, 10), (60, 90)],
            [(10, 35), (90, 35)],
            [(10, 65), (90, 65)],
            [(5, 5), (95, 5), (95, 95), (5, 95), (5, 5)],
        ]
    if kind == 6:  # an arrow
        return [[(5, 50), (95, 50)], [(70, 25), (95, 50), (70, 75)]]
    if kind == 7:  # a heart
        t = np.linspace(0, 2 * np.pi, 60)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return [list(zip(50 + 2.5 * x, 50 - 2.5 * y, strict=True))]
    # a tree
    return [[(50, 95), (50, 55)], _circle(50, 35, 25), [(35, 95), (65, 95)]]


DOODLES = 9


def _doodles(rng, split, mnist):
    return _raster(_doodle_strokes(int(rng.integers(0, DOODLES)), rng), rng, _pen(rng))


def _several_digits(rng, split, mnist):
    """Two to four digits side by side (MNIST's training digits in training, its test digits in the dev set)."""
    images = mnist[rng.choice(len(mnist), size=int(rng.integers(2, 5)), replace=False)]
    parts = []
    for image in images:
        cols = np.flatnonzero(image.max(axis=0) > 30)
        part = image[:, cols[0] : cols[-1] + 1] if cols.size else image
        parts += [np.roll(part, int(rng.integers(-3, 4)), axis=0), np.zeros((28, int(rng.integers(1, 7))), np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def _with_border(ink: np.ndarray) -> np.ndarray:
    """Pad a wide drawing with empty rows until it is square: the styles scale a drawing by its height
    and size their frames for a digit, so a long word then still fits them."""
    h, w = ink.shape
    if w <= h:
        return ink
    return np.pad(ink, (((w - h) // 2, w - h - (w - h) // 2), (0, 0)))


def _photo_bytes(grey: np.ndarray, rng: np.random.Generator) -> tuple[str, bytes]:
    """A grey picture under uneven light, with sensor noise, tinted and saved as a phone would."""
    h, w = grey.shape
    tint = np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.8, 0.97)])
    rgb = grey[..., None] * tint * devset.lighting(h, w, rng)[..., None] + rng.normal(0, rng.uniform(2, 6), (h, w, 1))
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return "jpg", devset.encode(img, "JPEG", quality=int(rng.integers(70, 92)))


def _noise(h: int, w: int, rng: np.random.Generator, blur: float) -> np.ndarray:
    field = Image.fromarray((rng.random((h, w)) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur))
    values = np.asarray(field, dtype=np.float32)
    return (values - values.min()) / max(float(np.ptp(values)), 1.0)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = int(rng.integers(0, 5))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # a keyboard: rows of keys with letters on them
        img = Image.new("L", (w, h), int(rng.uniform(30, 80)))
        draw = ImageDraw.Draw(img)
        key = int(rng.uniform(0.08, 0.15) * w)
        font = ImageFont.load_default(size=max(8, key // 2))
        for top in range(key // 4, h - key, key + key // 6):
            for left in range(key // 4 + (top // key % 2) * key // 3, w - key, key + key // 6):
                draw.rounded_rectangle(
                    (left, top, left + key, top + key), radius=key // 6, fill=int(rng.uniform(180, 230))
                )
                draw.text(
                    (left + key // 4, top + key // 6), str(rng.choice(list("QWERTYASDFGHZXCVB"))), fill=40, font=font
                )
        return np.asarray(img, dtype=np.float32)
    if kind == 1:  # woven fabric
        period = rng.uniform(4, 12)
        weave = np.sin(xs * 2 * np.pi / period) * np.sin(ys * 2 * np.pi / period)
        return 150 + 50 * weave + 40 * _noise(h, w, rng, 3)
    if kind == 2:  # wood grain
        grain = _noise(h // 8 + 1, w, rng, 1.5)
        stretched = np.asarray(Image.fromarray(grain).resize((w, h), Image.Resampling.BILINEAR))
        return 90 + 110 * stretched
    if kind == 3:  # bricks
        brick_h, brick_w = int(rng.uniform(0.06, 0.12) * h), int(rng.uniform(0.15, 0.3) * w)
        row = (ys // brick_h).astype(int)
        mortar = (ys % brick_h < 3) | (((xs + (row % 2) * brick_w / 2) % brick_w) < 3)
        return np.where(mortar, 210.0, 120 + 40 * _noise(h, w, rng, 2))
    # gravel: blobs of many sizes
    blobs = _noise(h, w, rng, rng.uniform(2, 6))
    return np.where(blobs > 0.55, 60 + 100 * blobs, 190 - 60 * blobs)


def _frame(rng: np.random.Generator, split: str) -> tuple[int, int]:
    """A photo's height and width: 300-800 px in the dev set, 200-400 in training (a quarter of the cost)."""
    low, high = (300, 800) if split == "eval" else (200, 400)
    return int(rng.integers(low, high)), int(rng.integers(low, high))


def _textures(rng, split, mnist):
    h, w = _frame(rng, split)
    return _photo_bytes(_texture(rng, h, w), rng)


def _blank_paper(rng, split, mnist):
    """Paper with nothing written on it: shadows, a gradient, a few faint smudges or crumbs."""
    h, w = _frame(rng, split)
    paper = np.full((h, w), rng.uniform(190, 240), np.float32)
    for _ in range(int(rng.integers(0, 4))):
        r = rng.uniform(0.02, 0.15) * min(h, w)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ys, xs = np.ogrid[0:h, 0:w]
        paper -= rng.uniform(5, 35) * np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * r * r))
    return _photo_bytes(paper, rng)


def _specks(rng, split, mnist):
    """A page with specks on it and nothing else: pepper and short fibres in training, dust clusters and
    crumbs in the dev set."""
    h, w = _frame(rng, split)
    paper = np.full((h, w), rng.uniform(180, 240), np.float32)
    img = Image.fromarray(paper.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    ink = int(rng.uniform(20, 110))
    for _ in range(int(rng.integers(15, 250))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        if split == "train" and rng.random() < 0.7:  # pepper
            r = rng.uniform(0.5, 2.5)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
        elif split == "train":  # a short fibre
            dx, dy = rng.normal(0, 6, 2)
            draw.line((x, y, x + dx, y + dy, x + dx + rng.normal(0, 3), y + dy + rng.normal(0, 3)), fill=ink, width=1)
        else:  # a crumb or a cluster of dust
            for _ in range(int(rng.integers(1, 6))):
                cx, cy, r = x + rng.normal(0, 3), y + rng.normal(0, 3), rng.uniform(0.7, 3.5)
                draw.polygon(
                    [(cx + r * np.cos(a), cy + r * np.sin(a) * rng.uniform(0.5, 1)) for a in range(0, 6)], fill=ink
                )
    return _photo_bytes(np.asarray(img, dtype=np.float32), rng)


def _shadows(rng, split, mnist):
    """Blank paper in a photo with the hard-edged shadow of a hand or a phone across it."""
    h, w = _frame(rng, split)
    paper = np.full((h, w), rng.uniform(190, 240), np.float32)
    mask = Image.new("L", (w, h))
    corners = [(rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h) for _ in range(int(rng.integers(3, 7)))]
    ImageDraw.Draw(mask).polygon(corners, fill=255)
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(rng.uniform(1, 12))), dtype=np.float32) / 255
    return _photo_bytes(paper - rng.uniform(30, 90) * soft, rng)


def _typefaces(rng, split, mnist):
    text = str(rng.choice(list(SAFE_LETTERS))) if rng.random() < 0.6 else _word(rng)
    return typefaces.drawn((text,), rng, split)


def _symbols(rng, split, mnist):
    return typefaces.drawn(typefaces.SYMBOLS, rng, split)


def _punctuation(rng, split, mnist):
    return typefaces.drawn(typefaces.PUNCTUATION, rng, split)


def _shapes(rng, split, mnist):
    return shapes.figure(rng, split)


_DRAWN = {
    "letters": _letters,
    "words": _words,
    "typed": _typed,
    "scribbles": _scribbles,
    "doodles": _doodles,
    "several_digits": _several_digits,
    "typefaces": _typefaces,
    "shapes": _shapes,
    "symbols": _symbols,
    "punctuation": _punctuation,
}
_PHOTOGRAPHED = {"textures": _textures, "blank_paper": _blank_paper, "specks": _specks, "shadows": _shadows}


def render(kind: str, rng: np.random.Generator, split: str, mnist: np.ndarray) -> tuple[str, bytes]:
    """One upload of a ``kind`` of non-digit: (file extension, file bytes). ``mnist``: the split's digits."""
    if kind in _PHOTOGRAPHED:
        return _PHOTOGRAPHED[kind](rng, split, mnist)
    ink = _with_border(_DRAWN[kind](rng, split, mnist))
    return devset.render(str(rng.choice(STYLES[split])), ink, rng)


def generate(
    mnist_images: np.ndarray, per_kind: int = 100, seed: int = 2024, split: str = "eval", kinds: tuple[str, ...] = KINDS
) -> Iterator[Sample]:
    """``per_kind`` non-digit uploads of each kind, the same ones every time for the same arguments.

    ``split`` "eval" is the dev set (pass MNIST's test digits); "train" the training negatives (its
    training digits), drawn from other fonts, so that no evaluated hand or typeface was trained on."""
    if split not in FONTS:
        raise ValueError(f"split must be one of {', '.join(FONTS)}, not {split!r}")
    for k_index, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, 1000 + k_index, 0 if split == "eval" else 1])
        for n in range(per_kind):
            ext, data = render(kind, rng, split, mnist_images)
            yield Sample(kind, NOT_A_DIGIT, f"not_a_digit/{kind}/{n:04d}.{ext}", data)
