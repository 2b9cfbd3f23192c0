"""The interval and calibration figures, checked against SciPy's own Wilson interval and
against hand-worked examples."""

import math

import pytest
from scipy.stats import binomtest

from reviewapp.core.statistics import (
    calibration,
    new_token_share,
    psi_categorical,
    psi_numeric,
    wilson_interval,
)


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


def test_the_population_stability_index_by_hand_and_at_rest():
    reference = ["a"] * 50 + ["b"] * 50
    current = ["a"] * 90 + ["b"] * 10
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5)
    expected = 0.4 * math.log(1.8) + (-0.4) * math.log(0.2)
    assert psi_categorical(reference, current) == pytest.approx(expected)
    assert psi_categorical(reference, list(reversed(reference))) == 0
    numbers = [float(n % 37) for n in range(1000)]
    assert psi_numeric(numbers, list(reversed(numbers))) == pytest.approx(0)
    assert psi_numeric(numbers, [n + 30 for n in numbers]) > 1
    # A value the reference never had counts (a small share instead of a division by zero).
    assert psi_categorical(["a"] * 10, ["a"] * 9 + ["c"]) > 0.2


def test_the_share_of_new_words():
    assert new_token_share(["the cat sat"], ["The cat ran away"]) == pytest.approx(2 / 4)
    assert new_token_share(["x"], []) == 0.0
