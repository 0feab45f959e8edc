"""ml/morphology.py against scipy.ndimage, the oracle it replaces (scipy stays a test dependency): the
same labels, numbering, areas, boxes, erosions, dilations and centres, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ml import morphology

EIGHT = np.ones((3, 3))
CROSS = ndimage.generate_binary_structure(2, 1)


def masks(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = rng.integers(1, 80, 2)
        yield rng.random((h, w)) < rng.uniform(0.02, 0.8)


@pytest.mark.parametrize("seed", range(4))
def test_components_are_scipys_label_and_find_objects(seed):
    for mask in masks(200, seed):
        labels, count = ndimage.label(mask, structure=EIGHT)
        found = morphology.components(mask)
        assert found.count == count and np.array_equal(found.labels, labels)
        boxes = [[s[0].start, s[0].stop, s[1].start, s[1].stop] for s in ndimage.find_objects(labels)]
        assert np.array_equal(found.boxes, np.array(boxes, dtype=np.int64).reshape(-1, 4))
        assert np.array_equal(found.areas, np.bincount(labels.ravel(), minlength=count + 1)[1:])
        kept = np.random.default_rng(seed).random(count) < 0.5
        assert np.array_equal(found.select(kept), np.isin(labels, np.flatnonzero(kept) + 1))
        values = np.random.default_rng(seed).random(mask.shape).astype(np.float32)
        assert np.array_equal(found.peaks(values), ScipyComponents(mask).peaks(values))


def test_shapes_that_wind_join_one_component():
    """A spiral and a staircase of diagonal steps: connected only through long chains of runs."""
    spiral = np.zeros((41, 41), dtype=bool)
    top, left, bottom, right = 0, 0, 40, 40
    while top <= bottom and left <= right:
        spiral[top, left : right + 1] = spiral[top : bottom + 1, right] = True
        spiral[bottom, left : right + 1] = spiral[top + 2 : bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
    stairs = np.eye(60, dtype=bool)[:, ::-1]
    for mask in (spiral, stairs, np.zeros((5, 5), dtype=bool), np.ones((3, 7), dtype=bool)):
        labels, count = ndimage.label(mask, structure=EIGHT)
        found = morphology.components(mask)
        assert (found.count, np.array_equal(found.labels, labels)) == (count, True)


@pytest.mark.parametrize("seed", range(2))
def test_erosion_dilations_and_centre_are_scipys(seed):
    rng = np.random.default_rng(seed)
    for mask in masks(150, seed + 10):
        assert np.array_equal(morphology.erode_cross(mask), ndimage.binary_erosion(mask))
        assert np.array_equal(morphology.dilate_square(mask), ndimage.binary_dilation(mask, structure=EIGHT))
        values = (rng.random(mask.shape) * mask).astype(np.float32)
        for radius in (1, 2, 3):
            diamond = ndimage.iterate_structure(CROSS, radius)
            assert np.array_equal(
                morphology.dilate_diamond(values, radius), ndimage.grey_dilation(values, footprint=diamond)
            )
            # outside the image counts as background (0), as in the ink maps normalise erodes
            assert np.array_equal(
                morphology.erode_diamond(values, radius),
                ndimage.grey_erosion(values, footprint=diamond, mode="constant", cval=0.0),
            )
        if values.sum() > 0:
            assert morphology.centre_of_mass(values) == tuple(float(c) for c in ndimage.center_of_mass(values))


def test_the_predict_path_imports_no_scipy():
    import subprocess
    import sys

    from tests.conftest import GOLDEN, ROOT

    script = (
        "import sys\nfrom ml.preprocess import preprocess\n"
        f"preprocess(open({str(GOLDEN / '3_paper.jpg')!r}, 'rb').read())\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'scipy'], 'scipy was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


class ScipyComponents:
    """morphology.Components' interface on a scipy label image."""

    def __init__(self, mask):
        self.labels, self.count = ndimage.label(mask, structure=EIGHT)
        boxes = [[s[0].start, s[0].stop, s[1].start, s[1].stop] for s in ndimage.find_objects(self.labels)]
        self.areas = np.bincount(self.labels.ravel(), minlength=self.count + 1)[1:]
        self.boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)

    def peaks(self, values):
        return np.asarray(ndimage.maximum(values, self.labels, np.arange(1, self.count + 1)), dtype=values.dtype)

    def select(self, kept):
        return np.concatenate([[False], kept])[self.labels]


class ScipyMorphology:
    """ml.morphology's interface on scipy.ndimage: what normalise computed before scipy was dropped."""

    components = ScipyComponents

    erode_cross = staticmethod(ndimage.binary_erosion)
    dilate_square = staticmethod(lambda mask: ndimage.binary_dilation(mask, structure=EIGHT))
    dilate_diamond = staticmethod(lambda v, r: ndimage.grey_dilation(v, footprint=ndimage.iterate_structure(CROSS, r)))
    erode_diamond = staticmethod(
        lambda v, r: (
            ndimage.grey_erosion(v, footprint=ndimage.iterate_structure(CROSS, r), mode="constant", cval=0.0)
            if r
            else v
        )
    )
    centre_of_mass = staticmethod(lambda v: tuple(float(c) for c in ndimage.center_of_mass(v)))


@pytest.mark.training  # renders the dev set from MNIST
def test_the_dev_set_normalises_exactly_as_with_scipy(mnist_data, monkeypatch):
    """Every category of realistic uploads, normalised with numpy and with scipy: the same 28x28 images
    (DEVSET_PER_CATEGORY=200 runs the whole dev set `eval` scores: 2,000 images)."""
    import os

    from ml import devset, normalise
    from ml.decode import decode
    from ml.errors import NoDigitFound

    def normalised(data: bytes):
        decoded = decode(data)
        try:
            return normalise.normalise(normalise.composite(decoded.luma, decoded.alpha))
        except NoDigitFound:
            return None

    per_category = int(os.environ.get("DEVSET_PER_CATEGORY", "10"))
    samples = list(devset.generate(mnist_data.x_test, mnist_data.y_test, per_category, 2024))
    ours = [normalised(s.data) for s in samples]
    monkeypatch.setattr(normalise, "morphology", ScipyMorphology)
    scipys = [normalised(s.data) for s in samples]
    differ = [s.filename for s, a, b in zip(samples, ours, scipys, strict=True) if not np.array_equal(a, b)]
    assert differ == [] and len(samples) == per_category * len(devset.CATEGORIES)


def test_percentile_is_numpys_to_the_last_bit():
    """ml.normalise.percentile replaces np.percentile on the predict path: the same float, every time."""
    from ml.normalise import percentile

    rng = np.random.default_rng(7)
    for i in range(3000):
        n = int(rng.integers(1, 2000))
        values = (rng.random(n) * rng.random()).astype(np.float32) if i % 3 else rng.integers(0, 5, n) / np.float32(4)
        for q in (10, 50, 90):
            assert percentile(values, q) == float(np.percentile(values, q)), (n, q)
