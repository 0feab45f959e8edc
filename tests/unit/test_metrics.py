"""How far a measured rate can be trusted: the Wilson interval against SciPy's."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from ml.metrics import wilson_interval


@pytest.mark.parametrize(("successes", "total"), [(1986, 2000), (197, 200), (9964, 10000), (0, 10), (10, 10), (1, 3)])
def test_the_interval_is_scipys_wilson_interval(successes, total):
    expected = binomtest(successes, total).proportion_ci(0.95, method="wilson")
    assert wilson_interval(successes, total) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_the_interval_narrows_with_more_uploads_and_stays_within_0_and_1():
    low_small, high_small = wilson_interval(199, 200)
    low_big, high_big = wilson_interval(9950, 10000)
    assert low_small < low_big < 0.995 < high_big < high_small <= 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)  # nothing measured: anything is possible
