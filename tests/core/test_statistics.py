"""The interval and calibration figures, checked against SciPy's own Wilson interval and
against hand-worked examples."""

import pytest
from scipy.stats import binomtest

from reviewapp.core.statistics import calibration, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials"), [(81, 263), (0, 10), (10, 10), (1, 3), (47, 50), (500, 1000)]
)
def test_the_wilson_interval_matches_scipy(successes, trials):
    ours = wilson_interval(successes, trials)
    theirs = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.low == pytest.approx(theirs.low, abs=1e-9)
    assert ours.high == pytest.approx(theirs.high, abs=1e-9)
    assert ours.estimate == successes / trials


def test_no_trials_is_no_estimate_and_the_widest_interval():
    empty = wilson_interval(0, 0)
    assert empty.estimate is None
    assert (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(ValueError, match="11 successes out of 10"):
        wilson_interval(11, 10)


def test_calibration_bins_and_the_expected_error_by_hand():
    # 0.95 x4 (3 right), 0.55 x2 (1 right), 1.0 x1 (right: counted in the last bin).
    pairs = [(0.95, True)] * 3 + [(0.95, False), (0.55, True), (0.55, False), (1.0, True)]
    result = calibration(pairs)
    assert [(b.low, b.count) for b in result.bins] == [(0.5, 2), (0.9, 5)]
    high = result.bins[1]
    assert high.mean_confidence == pytest.approx((0.95 * 4 + 1.0) / 5)
    assert high.share_correct == pytest.approx(4 / 5)
    # (2 * |0.55 - 0.5| + 5 * |0.96 - 0.8|) / 7
    assert result.expected_error == pytest.approx((2 * 0.05 + 5 * 0.16) / 7)
    assert calibration([]).expected_error is None
