"""The few binary-image operations normalisation needs, in numpy alone.

They give exactly what scipy.ndimage's ``label`` (8-connected), ``find_objects``, ``binary_erosion``
(4-connected cross), ``binary_dilation`` (3x3), ``grey_dilation`` (a diamond) and ``center_of_mass``
give on these inputs (tests/unit/test_morphology.py compares them with scipy on random and real masks),
without importing scipy.ndimage, which would weigh on every cold start of the predict function and on
the Lambda layer's size. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Components:
    """The 8-connected components of a mask, numbered 1..count in raster order of their first pixel
    (as scipy.ndimage.label numbers them); 0 is the background. Kept as horizontal runs: painting a
    label image cost more than finding the components, and
    normalisation only needs the pixels of the few components it keeps (``select``)."""

    shape: tuple[int, int]
    count: int
    areas: np.ndarray  # pixels per component, index 0 = component 1
    boxes: np.ndarray  # (count, 4): top, bottom (exclusive), left, right (exclusive)
    run_rows: np.ndarray
    run_starts: np.ndarray
    run_ends: np.ndarray  # exclusive
    run_labels: np.ndarray  # 1..count

    @property
    def labels(self) -> np.ndarray:
        """The label image (int32), as scipy.ndimage.label returns it."""
        h, w = self.shape
        paint = np.zeros(h * w + 1, dtype=np.int32)
        np.add.at(paint, self.run_rows * w + self.run_starts, self.run_labels)  # +label at a run's start,
        np.add.at(paint, self.run_rows * w + self.run_ends, -self.run_labels)  # -label after it; running sum
        return np.cumsum(paint[:-1], dtype=np.int32).reshape(h, w)

    def peaks(self, values: np.ndarray) -> np.ndarray:
        """The largest of ``values`` (non-negative, as an ink map is; the mask's shape) within each component,
        index 0 = component 1."""
        h, w = self.shape
        if self.count == 0:
            return np.zeros(0, dtype=values.dtype)
        # one reduceat over [start, end) of every run, interleaved with the gaps between runs (dropped after);
        # a zero appended, as the last run may end at the last pixel
        flat = np.append(values.ravel(), values.dtype.type(0))
        bounds = np.stack([self.run_rows * w + self.run_starts, self.run_rows * w + self.run_ends], axis=1).ravel()
        run_peaks = np.maximum.reduceat(flat, bounds)[::2]
        out = np.zeros(self.count, dtype=values.dtype)
        np.maximum.at(out, self.run_labels - 1, run_peaks)
        return out

    def select(self, kept: np.ndarray) -> np.ndarray:
        """The mask of the components where ``kept`` (one bool per component, index 0 = component 1)."""
        h, w = self.shape
        chosen = kept[self.run_labels - 1]
        firsts = self.run_rows[chosen] * w + self.run_starts[chosen]
        lengths = self.run_ends[chosen] - self.run_starts[chosen]
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out = np.zeros(h * w, dtype=bool)
        out[np.repeat(firsts, lengths) + offsets] = True
        return out.reshape(h, w)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of set pixels in raster order: row, first column, end column (exclusive)."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)  # a clear pixel each side: no run crosses a row end
    padded[:, 1:-1] = mask
    edges = np.diff(padded.ravel())
    at = np.flatnonzero(edges)
    rising = edges[at] == 1
    rows, columns = np.divmod(at + 1, w + 2)
    return rows[rising], columns[rising] - 1, columns[~rising] - 1


def _touching_pairs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    """Every (run, run in the next row) pair that touches, diagonals included."""
    stride = width + 2
    end_keys = rows * stride + ends  # sorted: runs are in raster order and disjoint within a row
    start_keys = rows * stride + starts
    first = np.searchsorted(end_keys, (rows + 1) * stride + starts, side="left")  # next row, ends at or after
    last = np.searchsorted(start_keys, (rows + 1) * stride + ends, side="right")  # next row, starts at or before
    counts = np.clip(last - first, 0, None)
    upper = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return upper, np.repeat(first, counts) + offsets


def _roots(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over the runs, vectorised: hook the larger root under the smaller, then jump
    pointers until every run points at its component's root, the smallest run index in it."""
    parent = np.arange(count)
    while True:
        pa, pb = parent[a], parent[b]
        low, high = np.minimum(pa, pb), np.maximum(pa, pb)
        apart = low != high
        if not apart.any():
            return parent
        np.minimum.at(parent, high[apart], low[apart])
        while True:
            jumped = parent[parent]
            if (jumped == parent).all():
                break
            parent = jumped


def components(mask: np.ndarray) -> Components:
    h, w = mask.shape
    rows, starts, ends = _runs(mask)
    if len(rows) == 0:
        empty = np.zeros(0, np.int64)
        return Components((h, w), 0, empty, np.zeros((0, 4), np.int64), empty, empty, empty, empty)
    upper, lower = _touching_pairs(rows, starts, ends, w)
    roots = _roots(len(rows), upper, lower)
    # a root is its component's first run, so numbering the roots in run order numbers the components in
    # raster order (what np.unique(roots, return_inverse=True) gave, without its sort)
    numbers = np.cumsum(roots == np.arange(len(roots)))
    run_label = numbers[roots].astype(np.int64)
    count = int(numbers[-1])
    index = run_label - 1
    areas = np.bincount(index, weights=ends - starts, minlength=count).astype(np.int64)
    boxes = np.empty((count, 4), dtype=np.int64)
    boxes[:, 0], boxes[:, 1] = h, -1
    boxes[:, 2], boxes[:, 3] = w, -1
    np.minimum.at(boxes[:, 0], index, rows)
    np.maximum.at(boxes[:, 1], index, rows + 1)
    np.minimum.at(boxes[:, 2], index, starts)
    np.maximum.at(boxes[:, 3], index, ends)
    return Components((h, w), count, areas, boxes, rows, starts, ends, run_label)


def _padded(values: np.ndarray) -> np.ndarray:
    """``values`` with a border of one zero (np.pad(values, 1), without the cost of its generality)."""
    h, w = values.shape
    p = np.zeros((h + 2, w + 2), dtype=values.dtype)
    p[1:-1, 1:-1] = values
    return p


def erode_cross(mask: np.ndarray) -> np.ndarray:
    """Binary erosion by the 4-connected cross, outside the image counting as unset."""
    p = _padded(mask)
    return p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def dilate_square(mask: np.ndarray) -> np.ndarray:
    """Binary dilation by a 3x3 square."""
    h, w = mask.shape
    p = _padded(mask)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= p[dy : dy + h, dx : dx + w]
    return out


def dilate_diamond(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation of non-negative values by a diamond of ``radius`` (the cross, ``radius`` times).

    Over a rectangle, every pixel within the diamond is reachable by cross steps that stay inside the
    image, so this equals a diamond max filter whatever the border mode."""
    return _cross_steps(values, radius, np.maximum.reduce)


def erode_diamond(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion by a diamond of ``radius`` (the cross, ``radius`` times); outside the image is 0."""
    return _cross_steps(values, radius, np.minimum.reduce)


def _cross_steps(values: np.ndarray, radius: int, reduce) -> np.ndarray:
    """``radius`` times: each pixel becomes ``reduce`` of itself and its four neighbours (0 outside)."""
    out = values
    for _ in range(radius):
        p = _padded(out)
        out = reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    return out


def centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre, summed in the order and precision scipy sums
    (the total in the input's own type, the moments in float64), so the rounding is the same too."""
    total = values.sum()
    rows = np.arange(values.shape[0], dtype=float)[:, None]
    cols = np.arange(values.shape[1], dtype=float)[None, :]
    return float((values * rows).sum() / total), float((values * cols).sum() / total)
