"""Small, dependency-free statistics for the figures people act on: an interval beside every
estimate from a sample, and how well stated confidences match what humans found."""

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``trials``, with its Wilson score interval (95 % by default)."""

    successes: int
    trials: int
    low: float
    high: float

    @property
    def estimate(self) -> float | None:
        return self.successes / self.trials if self.trials else None


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> Proportion:
    """The Wilson score interval: unlike the normal approximation it stays inside [0, 1] and
    behaves at 0 or all successes and with few trials, which is what a QA sample gives."""
    if trials <= 0:
        return Proportion(successes=0, trials=0, low=0.0, high=1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    share = successes / trials
    z2 = z * z
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = (z / (1 + z2 / trials)) * math.sqrt(
        share * (1 - share) / trials + z2 / (4 * trials * trials)
    )
    return Proportion(successes, trials, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    share_correct: float

    @property
    def gap(self) -> float:
        return self.mean_confidence - self.share_correct


@dataclass(frozen=True)
class Calibration:
    bins: list[CalibrationBin]
    count: int
    # Expected calibration error: the count-weighted mean |confidence - share correct|.
    expected_error: float | None


def calibration(pairs: Iterable[tuple[float, bool]], *, bins: int = 10) -> Calibration:
    """Confidences in ``bins`` equal-width bins over [0, 1] (1.0 in the last), with the share of
    each bin that humans found correct; empty bins are left out."""
    counts, confidences, corrects = [0] * bins, [0.0] * bins, [0] * bins
    for confidence, correct in pairs:
        index = min(bins - 1, max(0, int(confidence * bins)))
        counts[index] += 1
        confidences[index] += confidence
        corrects[index] += int(correct)
    total = sum(counts)
    result = [
        CalibrationBin(
            low=index / bins,
            high=(index + 1) / bins,
            count=count,
            mean_confidence=confidence_sum / count,
            share_correct=correct / count,
        )
        for index, (count, confidence_sum, correct) in enumerate(
            zip(counts, confidences, corrects, strict=True)
        )
        if count
    ]
    error = sum(b.count * abs(b.gap) for b in result) / total if total else None
    return Calibration(bins=result, count=total, expected_error=error)


# --- distribution drift ----------------------------------------------------------------------
# The population stability index: sum over bins of (current - reference) * ln(current /
# reference) of the shares. Below 0.1 the populations are alike, 0.1 to 0.2 they moved, above
# 0.2 they differ. Empty bins get a small share so that a value new in one window counts
# instead of dividing by zero.

EMPTY_SHARE = 1e-4


def psi_shares(reference: dict[str, float], current: dict[str, float]) -> float:
    total = 0.0
    for key in reference.keys() | current.keys():
        ref = max(reference.get(key, 0.0), EMPTY_SHARE)
        cur = max(current.get(key, 0.0), EMPTY_SHARE)
        total += (cur - ref) * math.log(cur / ref)
    return total


def shares(values: Iterable[object]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    total = sum(counts.values())
    return {key: count / total for key, count in counts.items()} if total else {}


def psi_categorical(reference: Iterable[object], current: Iterable[object]) -> float:
    return psi_shares(shares(reference), shares(current))


def psi_numeric(
    reference: list[float],
    current: list[float],
    *,
    bins: int = 10,
    edges: list[float] | None = None,
) -> float:
    """PSI over bins: given ``edges``, or the reference's deciles (each holds a tenth of it)."""
    if not reference or not current:
        return 0.0
    if edges is None:
        ordered = sorted(reference)
        edges = sorted({ordered[len(ordered) * step // bins] for step in range(1, bins)})

    def bin_of(value: float) -> str:
        return str(sum(value >= edge for edge in edges))

    return psi_categorical(map(bin_of, reference), map(bin_of, current))


def new_token_share(reference: Iterable[str], current: Iterable[str]) -> float:
    """The share of the current texts' words that never occur in the reference texts."""
    vocabulary = {word for text in reference for word in text.lower().split()}
    words = [word for text in current for word in text.lower().split()]
    return sum(word not in vocabulary for word in words) / len(words) if words else 0.0


# --- agreement between reviewers -------------------------------------------------------------


def nominal_distance(a: object, b: object) -> float:
    return 0.0 if a == b else 1.0


def krippendorff_alpha(
    units: Sequence[Sequence[object]],
    distance: Callable[[object, object], float] = nominal_distance,
) -> float | None:
    """Krippendorff's alpha over ``units`` (each the values its coders gave; ``None`` for no
    value), by the coincidence matrix; ``distance`` is the squared difference function (0 to 1,
    nominal by default). ``None`` when there is nothing to compare or no variation at all."""
    coincidences: dict[tuple[object, object], float] = {}
    for unit in units:
        values = [value for value in unit if value is not None]
        if len(values) < 2:
            continue
        weight = 1 / (len(values) - 1)
        for i, first in enumerate(values):
            for j, second in enumerate(values):
                if i != j:
                    coincidences[(first, second)] = coincidences.get((first, second), 0.0) + weight
    totals: dict[object, float] = {}
    for (first, _), count in coincidences.items():
        totals[first] = totals.get(first, 0.0) + count
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(count * distance(a, b) for (a, b), count in coincidences.items())
    expected = sum(totals[a] * totals[b] * distance(a, b) for a in totals for b in totals)
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def cohen_kappa(pairs: Sequence[tuple[object, object]]) -> float | None:
    """Cohen's kappa of two raters over ``pairs`` of their answers; ``None`` when undefined."""
    if not pairs:
        return None
    total = len(pairs)
    observed = sum(a == b for a, b in pairs) / total
    first = shares(str(a) for a, _ in pairs)
    second = shares(str(b) for _, b in pairs)
    expected = sum(share * second.get(value, 0.0) for value, share in first.items())
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def bootstrap_interval(
    units: Sequence[T],
    statistic: Callable[[Sequence[T]], float | None],
    *,
    rounds: int = 400,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A 95 % percentile interval of ``statistic`` over units resampled with replacement (a
    fixed seed: the same data gives the same interval)."""
    if len(units) < 2:
        return None
    draw = random.Random(seed)
    values = []
    for _ in range(rounds):
        sample = [units[draw.randrange(len(units))] for _ in units]
        value = statistic(sample)
        if value is not None:
            values.append(value)
    if len(values) < rounds // 2:
        return None
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]
