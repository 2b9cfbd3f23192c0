"""The interval and calibration figures, checked against SciPy's own Wilson interval and
against hand-worked examples."""

import math

import krippendorff
import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from reviewapp.core.statistics import (
    bootstrap_interval,
    calibration,
    cohen_kappa,
    krippendorff_alpha,
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


def test_krippendorffs_published_nominal_example_and_the_package_on_random_data():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": four coders, twelve
    # units, some values missing; nominal alpha 0.743.
    none = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, none, none, none],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, none, 3],
        [none, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, none],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, none],
    ]
    assert krippendorff_alpha(list(zip(*coders, strict=True))) == pytest.approx(0.743, abs=5e-4)
    draw = np.random.default_rng(7)
    data = draw.integers(0, 4, size=(3, 60)).astype(float)
    data[draw.random(size=data.shape) < 0.2] = np.nan
    units = [[None if np.isnan(v) else int(v) for v in column] for column in data.T]
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(units) == pytest.approx(theirs)


def test_cohens_kappa_matches_scikit_learn_and_the_bootstrap_is_repeatable():
    first = ["a", "a", "b", "c", "a", "b", "b", "c", "a", "a"]
    second = ["a", "b", "b", "c", "a", "b", "a", "c", "a", "c"]
    pairs = list(zip(first, second, strict=True))
    assert cohen_kappa(pairs) == pytest.approx(cohen_kappa_score(first, second))
    interval = bootstrap_interval(pairs, cohen_kappa)
    assert interval == bootstrap_interval(pairs, cohen_kappa)
    assert interval[0] <= cohen_kappa(pairs) <= interval[1]
    assert cohen_kappa([]) is None and bootstrap_interval(pairs[:1], cohen_kappa) is None
