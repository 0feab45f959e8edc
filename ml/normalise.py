"""A decoded picture of a digit -> the 28x28 MNIST representation.

LeCun's recipe for MNIST: the digit, anti-aliased, fitted into a 20x20 box
keeping its aspect ratio, then placed in 28x28 so that its centre of mass is
in the middle; white ink on black. Real uploads first need their paper,
lighting and specks taken away, which is what most of this module does.
Pure functions of their arguments; no I/O.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ml import morphology
from ml.errors import NoDigitFound

# bump whenever the array made of some input changes (v8: ml.preprocess reads detail); a picture newly refused
# (specks) changes no array the model sees, so the models trained before still serve
VERSION = "lecun-box20-com-v8"

MIN_CONTRAST = 0.12  # raw luma range below which there is no ink at all
# A picture whose strongest mark has less contrast than this, and whose marks taken for the digit run off its edge, holds
# no ink: it is a shadow's edge or the light's gradient (pen ink on the dev set: 0.47 and up, 1st percentile per category)
LIGHTING_CONTRAST = 0.35
BOX = 20
SIZE = 28
TARGET_STROKE = 2.6  # median stroke width of MNIST test digits in the 20x20 box, measured
PEAK_PIXELS = 40
# Specks are not a digit (docs/accuracy.md, "Not a digit"): the chosen mark must span at least
# MIN_ELONGATION of its own stroke widths, and fewer than MAX_RIVALS marks at least RIVAL_SHARE of its size may lie
# away from it (a page of scattered specks has many such, a digit among specks none)
MIN_ELONGATION = 2.0
RIVAL_SHARE = 0.3
MAX_RIVALS = 3
INK_SHARE = 0.6  # a mark whose darkest pixel is under this share of the darkest mark's is not the digit
THICK_STROKE = 1.5 * TARGET_STROKE  # a digit whose strokes are wider than this in the box is thinned ...
THIN_GOAL = 1.2 * TARGET_STROKE  # ... to this width
THIN_DETAIL = 4 * BOX  # longest side a bold digit is thinned at
UNIFORM_PAPER = 0.02  # background cells (10th-90th percentile) spanning less: flat
COARSE_SIZE = 256  # a large picture is tried at this size first (see normalise)
COARSE_MIN_SPAN = 64
COARSE_REACH = 2  # a small digit found there is done at full size on its box widened by twice its size
# ... and from the picture with more pixels (ml.preprocess) when it spans fewer than COARSE_MIN_SPAN at full
# size too: at 23-46 px, large photos' small digits lost faint strokes and closed loops
FINE_SPAN = COARSE_MIN_SPAN
CANVAS_DETAIL = 112  # longest side a cut-out canvas drawing is normalised at (the model sees 20)
COM_TARGET = (14.0, 14.0)  # mean centre of mass of MNIST digits (row, col), measured

Box = tuple[int, int, int, int]  # top, bottom, left, right; exclusive ends


def composite(luma: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten transparency onto a background that contrasts with the opaque strokes.

    Canvas exports carry strokes in alpha over fully transparent pixels whose
    colour is arbitrary (often black), so the colour alone is meaningless.
    When most of the picture is opaque, the opaque part is the paper and the
    transparent rest (a border, a cut-out) takes the paper's own value.
    """
    if alpha is None:
        return luma
    opaque = alpha > 0.5
    background = float(np.median(luma[opaque])) if _mostly(opaque) else _canvas_background(luma, opaque)
    return luma * alpha + background * (1.0 - alpha)


def _mostly(opaque: np.ndarray) -> bool:
    """Half the picture or more is opaque: it is paper (or a photo), not strokes on a transparent canvas."""
    return bool(np.count_nonzero(opaque) * 2 >= opaque.size)


def _canvas_background(luma: np.ndarray, opaque: np.ndarray) -> float:
    """The value that contrasts with a canvas's opaque strokes: black under light strokes, else white."""
    return 0.0 if opaque.any() and float(luma[opaque].mean()) > 0.5 else 1.0


def canvas_ink(luma: np.ndarray, alpha: np.ndarray | None, detail: int = CANVAS_DETAIL) -> np.ndarray | None:
    """The ink map of a drawing on a transparent canvas, cropped to the drawing, or None for anything else.

    On a canvas that is mostly transparent the background is known exactly, so the ink is each pixel's
    opacity times its contrast with that background: no lighting to fit, no light-or-dark guess. The
    drawing is cut out (with a margin for the halo and dilation) and, when larger than ``detail`` pixels
    across, shrunk: the model sees 20 pixels, and a canvas normalised at full size cost far more.
    """
    if alpha is None:
        return None
    opaque = alpha > 0.5
    if _mostly(opaque):
        return None
    ink = alpha * np.abs(luma - _canvas_background(luma, opaque))
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0), np.flatnonzero(ink.max(axis=0) > 0)
    if rows.size == 0:
        raise NoDigitFound("no digit found: the canvas is empty")
    margin = 4
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, ink.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, ink.shape[1])
    ink = ink[top:bottom, left:right]
    return _shrunk(ink, detail) if max(ink.shape) > detail else ink.astype(np.float32)


def _shrunk(values: np.ndarray, longest: int) -> np.ndarray:
    """``values`` box-averaged down to ``longest`` pixels on their longer side (float32)."""
    scale = longest / max(values.shape)
    size = (max(1, round(values.shape[1] * scale)), max(1, round(values.shape[0] * scale)))
    return np.asarray(Image.fromarray(values.astype(np.float32), "F").resize(size, Image.Resampling.BOX))


def _extremes(grey: np.ndarray, count: int) -> tuple[float, float, float]:
    """The ``count``-th darkest and brightest values, and the median.

    Counted in pixels, not as a percentile, so that a small digit in a large
    photo (a few hundred ink pixels out of 200,000) still sets the range.
    Partitions in place with one position each: numpy's partition with several
    positions, and np.median (two), cost 4-8 times as much on 250,000 pixels.
    """
    flat = grey.ravel()
    if flat.size <= 2 * count + 2:
        return float(flat.min()), float(np.median(flat)), float(flat.max())
    values = flat.copy()
    n, mid = values.size, values.size // 2
    values.partition(mid)
    lower, upper = values[:mid], values[mid + 1 :]  # the values below and above the middle one
    median = values[mid] if n % 2 else np.mean(np.array([lower.max(), values[mid]]))
    lower.partition(count)
    upper.partition(upper.size - count)
    return float(lower[count]), float(median), float(upper[upper.size - count])


def _top(values: np.ndarray, count: int) -> float:
    """The ``count``-th largest value. An ink map is mostly zeros, on which a partition of every pixel
    is slow; when ``count`` values exceed the mean, the answer is among them."""
    flat = values.ravel()
    if flat.size <= count:
        return float(flat.max())
    above = flat[flat > flat.mean()]
    pool = above if above.size >= count else flat
    return float(np.partition(pool, pool.size - count)[pool.size - count])


CELLS = 32  # the background is fitted to block means on a CELLS x CELLS grid


def _coarse(values: np.ndarray) -> np.ndarray:
    """Block means on a CELLS x CELLS grid, raveled."""
    return np.asarray(Image.fromarray(values, "F").resize((CELLS, CELLS), Image.Resampling.BOX)).ravel()


def _design(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=-1)


_CENTRES = (np.mgrid[0:CELLS, 0:CELLS] + 0.5) / CELLS  # (row, column) of each cell's centre in [0, 1]
_GRID_DESIGN = _design(_CENTRES[0].ravel(), _CENTRES[1].ravel())


def percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (its default, linear interpolation), to the last bit, by partitioning once
    around the lower neighbour: np.percentile's generality was a visible share of a canvas prediction.
    As in numpy with a Python ``q``, the weight is a Python float and the lerp is in the values' precision."""
    flat = values.ravel()
    index = (flat.size - 1) * (q / 100)
    below = int(index)
    if below >= flat.size - 1:
        return float(flat.max())
    ordered = np.partition(flat, below)
    a, b = ordered[below], ordered[below + 1 :].min()
    t, kind = index - below, flat.dtype.type
    return float(b - (b - a) * kind(1 - t) if t >= 0.5 else a + (b - a) * kind(t))


def small_median(values: np.ndarray) -> float:
    """np.median of a small array by sorting it: the same value, without np.median's overhead
    (the background fit takes ten medians of 1,024 cells; the identity check one of 784 pixels)."""
    ordered = np.sort(values)
    mid = ordered.size // 2
    return float(ordered[mid]) if ordered.size % 2 else float((ordered[mid - 1] + ordered[mid]) / 2)


def fit_background(values: np.ndarray, ink_sign: float, ink_range: float) -> np.ndarray:
    """A robustly fitted quadratic surface through the paper (or board).

    Cells holding ink are outliers on the ink's side (``ink_sign`` +1: ink is
    brighter; -1: darker) and are dropped from the fit iteratively; a
    quadratic is too stiff to follow a stroke. Sharp shadow edges survive
    this; ``digit_mask`` tells them from ink by their contrast. Cells a
    quarter of the ink range or more away from the median, on the ink's side,
    are ink from the start: a big bold digit covers many cells.
    """
    a = _GRID_DESIGN
    b = _coarse(values.astype(np.float32, copy=False))
    keep = ink_sign * (b - small_median(b)) < 0.25 * ink_range
    low, high = (percentile(b[keep], 10), percentile(b[keep], 90)) if keep.any() else (0.0, 0.0)
    if keep.sum() < 12 or high - low <= UNIFORM_PAPER:
        # clean canvas, MNIST, scans: a constant is the fit, kept as one value that broadcasts
        return np.asarray(small_median(b[keep]) if keep.any() else small_median(b), dtype=np.float32)
    for _ in range(4):
        coef, *_ = np.linalg.lstsq(a[keep], b[keep], rcond=None)
        residual = ink_sign * (b - a @ coef)
        spread = 1.4826 * small_median(np.abs(residual[keep] - small_median(residual[keep]))) + 1e-3
        keep = residual < 2.5 * spread
        if keep.sum() < 12:
            break
    h, w = values.shape
    fy, fx = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    c0, cx, cy, cxx, cxy, cyy = coef  # the design's columns, evaluated by broadcasting (no h*w*6 array):
    across = (c0 + cx * fx + cxx * fx * fx).astype(np.float32)  # the terms in x alone,
    down = (cy * fy + cyy * fy * fy).astype(np.float32)  # in y alone,
    surface = np.multiply.outer((cxy * fy).astype(np.float32), fx.astype(np.float32))  # and the cross term
    surface += across[None, :]
    surface += down[:, None]
    return surface


def flatten(grey: np.ndarray) -> np.ndarray:
    """Greyscale in [0, 1] -> ink map (ink bright, paper ~0) without the lighting.

    Light-or-dark is decided against the image's own range: the background is
    the majority, so the median sits on the paper's side of the midpoint. Ink
    on lit paper is a reflectance, so the light is divided out; light strokes
    on a dark board add light, so the board is subtracted.
    """
    lo, median, hi = _extremes(grey, PEAK_PIXELS)
    if hi - lo < MIN_CONTRAST:
        raise NoDigitFound(
            f"no digit found: the image is almost uniform (contrast {hi - lo:.3f}); send a picture with a visible digit"
        )
    # the surface is clipped to the image's own range: a quadratic extrapolated
    # into a corner must not invent ink there
    grey = grey.astype(np.float32, copy=False)
    if _dark_ink(grey, lo, median, hi):
        ink = np.divide(grey, np.clip(fit_background(grey, -1.0, hi - lo), max(lo, 1e-3), hi), dtype=np.float32)
        np.subtract(1.0, ink, out=ink)
    else:
        ink = np.subtract(grey, np.clip(fit_background(grey, 1.0, hi - lo), lo, hi), dtype=np.float32)
    return np.maximum(ink, 0.0, out=ink)


def _dark_ink(grey: np.ndarray, lo: float, median: float, hi: float) -> bool:
    """Whether the ink is darker than the paper. The paper is the majority, so the median is on its side
    of the midpoint; but when a shadow covers most of a lit page, the median is the shadowed paper and
    the lit part the bright minority. When the values spread far on both sides of the median, the ink is
    the side with fewer far-away pixels: strokes are thin, a lit or shadowed part of the page is not."""
    if min(median - lo, hi - median) < 2 * MIN_CONTRAST:
        return median > (lo + hi) / 2
    far_dark = int(np.count_nonzero(grey < median - (median - lo) / 2))
    far_bright = int(np.count_nonzero(grey > median + (hi - median) / 2))
    return far_dark <= far_bright


def digit_mask(flat: np.ndarray) -> tuple[np.ndarray, Box]:
    """Ink pixels of the digit, thresholded, specks and far-away blobs dropped; and their bounding box
    (top, bottom, left, right; exclusive ends), from the components' boxes rather than a scan of the mask."""
    # the darkest few dozen pixels are ink if there is any: a shadow or stain is
    # far lighter than a pen stroke, so it stays under half of this level
    peak = _top(flat, PEAK_PIXELS)
    if peak < MIN_CONTRAST / 2:
        raise NoDigitFound("no digit found: nothing stands out from the background")
    threshold = max(float(threshold_otsu(flat)), 0.45 * peak)
    found = morphology.components(flat > threshold)
    if found.count == 0:
        raise NoDigitFound("no digit found: nothing stands out from the background")
    areas, boxes = found.areas, found.boxes  # boxes: top, bottom, left, right (exclusive ends)
    sizable = areas >= 4
    if not sizable.any():
        raise NoDigitFound("no digit found: only isolated specks")
    # the digit is the largest mark among those nearly as dark as the darkest: a shadow's edge that passes
    # the threshold can cover far more pixels than a small thin digit, at about half a pen stroke's contrast
    inked = sizable
    if np.count_nonzero(sizable) > 1:  # (cheap; most uploads have one mark, and no choice)
        peaks = found.peaks(flat)
        inked = sizable & (peaks >= INK_SHARE * peaks[sizable].max())
    main = int(np.argmax(np.where(inked, areas, -1)))
    top, bottom, left, right = boxes[main]
    if _elongation(found, main) < MIN_ELONGATION:
        raise NoDigitFound(
            "no digit found: only specks or dots, no mark long enough to be a pen stroke; send a picture of a digit"
        )
    reach = 0.6 * max(bottom - top, right - left)
    near = (
        (boxes[:, 0] < bottom + reach)
        & (boxes[:, 1] > top - reach)
        & (boxes[:, 2] < right + reach)
        & (boxes[:, 3] > left - reach)
    )
    if np.count_nonzero(inked & ~near & (areas >= RIVAL_SHARE * areas[main])) >= MAX_RIVALS:
        raise NoDigitFound(
            "no digit found: the marks are specks scattered over the picture and none stands out as a digit; "
            "send a picture of one digit"
        )
    kept = (areas >= 0.08 * areas[main]) & near
    box = boxes[kept]
    return found.select(kept), (int(box[:, 0].min()), int(box[:, 1].max()), int(box[:, 2].min()), int(box[:, 3].max()))


def _elongation(found: morphology.Components, index: int) -> float:
    """How many stroke widths the mark spans: a pen stroke is long for its width (a 1, or a 0's ring, spans
    several), a speck or a dot about one, however large the picture makes it."""
    top, bottom, left, right = found.boxes[index]
    kept = np.zeros(found.count, dtype=bool)
    kept[index] = True
    mask = found.select(kept)[top:bottom, left:right]
    return max(bottom - top, right - left) / stroke_width(mask)


def threshold_otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance) on a 256-bin histogram.

    Twenty lines of numpy instead of importing scikit-image's filters, which
    pulled a large tree of imports into every cold start. The histogram
    is a bincount of bin numbers as bytes: np.histogram's exact edge handling
    is several times slower.
    """
    flat = values.ravel()
    low, high = float(flat.min()), float(flat.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    scaled = flat * np.float32(bins / (high - low)) if low == 0 else (flat - low) * np.float32(bins / (high - low))
    index = np.minimum(scaled, bins - 1, out=scaled).astype(np.uint8)  # an ink map starts at 0: no subtraction
    counts = np.bincount(index, minlength=bins)
    edges = np.linspace(low, high, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(counts * centres)
    mean_low = mass_low / np.maximum(weight_low, 1)
    mean_high = (mass_low[-1] - mass_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: a stroke of width w and length L has area
    w*L and about 2*L boundary pixels, so w ~ 2 * area / boundary."""
    boundary = int((mask & ~morphology.erode_cross(mask)).sum())
    return 2.0 * float(mask.sum()) / max(boundary, 1)


def _thinned(crop: np.ndarray, width_in_box: float) -> np.ndarray:
    """A bold digit eroded towards THIN_GOAL: markers and coarse sources give strokes twice MNIST's width,
    which filled the loops of 6s and 8s and turned 1s into blobs the model read as 6s or as no digit.
    Done at THIN_DETAIL pixels across at most; a fraction of a step is a blend with the next one."""
    if max(crop.shape) > THIN_DETAIL:
        crop = _shrunk(crop, THIN_DETAIL)
    longest = max(crop.shape)
    steps = (width_in_box - THIN_GOAL) / 2 * longest / BOX
    whole = int(steps)
    out = morphology.erode_diamond(crop, whole)
    if steps > whole:
        out = out + (steps - whole) * (morphology.erode_diamond(out, 1) - out)
    return out


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Resize so the longest side is ``box``, keeping aspect, anti-aliased."""
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(Image.fromarray(crop, "F").resize(size, Image.Resampling.LANCZOS))
    resized = np.clip(resized, 0.0, None)
    top = float(resized.max())
    return (resized / top if top > 0 else resized).astype(np.float32)


def centre_by_mass(glyph: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Place ``glyph`` in a size x size field with its centre of mass at COM_TARGET."""
    cy, cx = morphology.centre_of_mass(glyph)
    h, w = glyph.shape
    top = int(round(COM_TARGET[0] - cy))
    left = int(round(COM_TARGET[1] - cx))
    top = min(max(top, 0), size - h)
    left = min(max(left, 0), size - w)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + h, left : left + w] = glyph
    return field


def normalise(grey: np.ndarray, detail: np.ndarray | None = None) -> np.ndarray:
    """Greyscale picture in [0, 1] -> 28x28 float32, white digit on black (see ``locate``). ``detail``: the
    same picture with more pixels (decode's ``finer``), where a digit too small or faint here is read."""
    try:
        return locate(grey, detail)[0]
    except NoDigitFound:
        if detail is None:
            raise
        return locate(detail)[0]  # a thin, faint digit lost at this size


def locate(grey: np.ndarray, detail: np.ndarray | None = None) -> tuple[np.ndarray, Box]:
    """The 28x28 digit, white on black, and where in ``grey`` it was found (in ``detail``, when read there).

    A large picture is first normalised at COARSE_SIZE across (a quarter of the pixels or fewer). When
    the digit found there is large, at least COARSE_MIN_SPAN pixels (three times what the model sees),
    covers at most half the frame and keeps clear of its edges, that is the answer. A smaller one (a
    small digit in a large photo) is done again at full size on its neighbourhood only, from ``detail``
    when it spans under FINE_SPAN pixels at full size. Anything else (a shadow's edge found at that size
    instead of a digit) is done again on the whole picture: the coarse pass alone lost many small
    digits in large photos on the dev set."""
    if max(grey.shape) > COARSE_SIZE * 3 // 2:
        scale = COARSE_SIZE / max(grey.shape)
        coarse = _shrunk(grey, COARSE_SIZE)
        try:
            digit, box = _normalise_ink(flatten(coarse), photo=True)
        except NoDigitFound:
            digit = None
        if digit is not None:
            top, bottom, left, right = box
            h, w = coarse.shape
            span = max(bottom - top, right - left)
            clear = top > 0 and left > 0 and bottom < h and right < w
            if clear and COARSE_MIN_SPAN <= span <= max(h, w) // 2:
                return digit, scaled_box(box, scale, grey.shape)
            if clear and span < COARSE_MIN_SPAN:  # a small digit: only its neighbourhood at full size
                sources = [grey] if detail is None or span / scale >= FINE_SPAN else [detail, grey]
                for source in sources:
                    try:
                        return around(source, box, COARSE_SIZE / max(source.shape))
                    except NoDigitFound:
                        pass
    digit, box = _normalise_ink(flatten(grey), photo=True)
    if detail is not None and max(box[1] - box[0], box[3] - box[2]) < FINE_SPAN:
        try:
            return around(detail, box, max(grey.shape) / max(detail.shape))
        except NoDigitFound:
            pass
    return digit, box


def scaled_box(box: Box, scale: float, shape: tuple[int, ...]) -> Box:
    """``box`` of a picture ``scale`` times the size of one of ``shape``, in that one (one more pixel at the
    far ends), clipped to it."""
    top, bottom, left, right = box
    return (
        max(0, int(top / scale)),
        min(shape[0], int(bottom / scale) + 1),
        max(0, int(left / scale)),
        min(shape[1], int(right / scale) + 1),
    )


def around(grey: np.ndarray, box: Box, scale: float) -> tuple[np.ndarray, Box]:
    """The digit seen in ``box`` of a picture ``scale`` times the size of ``grey``, normalised from ``grey``
    on the box widened by COARSE_REACH times its size (it was only roughly seen), and its box in ``grey``."""
    top, bottom, left, right = box
    reach = max(bottom - top, right - left) * COARSE_REACH
    rows0, rows1, cols0, cols1 = scaled_box(
        (top - reach, bottom + reach, left - reach, right + reach), scale, grey.shape
    )
    digit, found = _normalise_ink(flatten(grey[rows0:rows1, cols0:cols1]))
    return digit, (rows0 + found[0], rows0 + found[1], cols0 + found[2], cols0 + found[3])


def _only_lighting(flat: np.ndarray, box: Box) -> bool:
    """Whether the marks found are lighting, not ink: they reach the picture's edge and nothing in it has a
    pen's contrast. A blank page with a shadow across it otherwise became a bar or a wedge, which the model
    answered with a digit, or was trained to refuse though it looks like a bold 1; no digit of the dev set reaches
    the edge of its picture; 93 of its 100 blank pages and 47 of its 100 textures are refused by this."""
    top, bottom, left, right = box
    at_edge = top == 0 or left == 0 or bottom == flat.shape[0] or right == flat.shape[1]
    return at_edge and _top(flat, PEAK_PIXELS) < LIGHTING_CONTRAST


def normalise_ink(flat: np.ndarray) -> np.ndarray:
    """Ink map (ink bright, background 0) -> 28x28 float32, white digit on black."""
    return _normalise_ink(flat)[0]


def _normalise_ink(flat: np.ndarray, photo: bool = False) -> tuple[np.ndarray, Box]:
    """The 28x28 digit, and its bounding box in ``flat`` (top, bottom, left, right; exclusive ends).
    ``photo``: ``flat`` is a whole picture, whose edges are the picture's (see ``_only_lighting``)."""
    mask, box = digit_mask(flat)
    if photo and _only_lighting(flat, box):
        raise NoDigitFound(
            "no digit found: the only marks are faint and run off the picture's edge (a shadow or uneven "
            "light); send a picture with a visible digit"
        )
    top, bottom, left, right = box
    mask = mask[top:bottom, left:right]
    halo = morphology.dilate_square(mask)
    crop = flat[top:bottom, left:right] * halo
    level = percentile(crop[mask], 90)
    crop = np.clip(crop / max(level, 1e-6), 0.0, 1.0)
    longest = max(crop.shape)
    width_in_box = stroke_width(mask) * BOX / longest
    if width_in_box < TARGET_STROKE * 0.6 and longest > BOX:
        radius = max(1, round((TARGET_STROKE - width_in_box) / 2 * longest / BOX))
        crop = morphology.dilate_diamond(crop, radius)
    elif width_in_box > THICK_STROKE:
        crop = _thinned(crop, width_in_box)
    glyph = fit_box(crop.astype(np.float32))
    if not np.isfinite(glyph).all() or glyph.sum() <= 0:
        raise NoDigitFound("no digit found: the marks are too small or faint to form a digit")
    return centre_by_mass(glyph), box
