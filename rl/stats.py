"""Aggregate statistics over training runs, the way careful RL papers report them.

A few seeds of a deep-RL run scatter widely, so one number per configuration hides more than it
shows. Following Agarwal et al., "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS 2021), this module gives:

- point estimates: mean, median and the interquartile mean (IQM, the mean of the middle half
  of the scores: robust to outlier runs like the median, but uses twice the data);
- stratified bootstrap confidence intervals: resample the runs *within each task* (stratum)
  with replacement, recompute the statistic, and take percentiles of the results;
- performance profiles: the fraction of runs whose score exceeds a threshold tau, as a curve
  over tau, with bootstrap bands.

Scores are a 1-D array of runs, or a 2-D array (runs, tasks). Everything is plain NumPy;
randomness comes only from the `numpy.random.Generator` the caller passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# statistic(scores, axis) -> reduced scores; axis=None reduces everything.
Statistic = Callable[..., np.ndarray]


def _as_scores(scores: ArrayLike) -> np.ndarray:
    """Float64 copy of `scores` as a (runs, tasks) matrix, after checking it is usable."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"scores must be 1-D (runs,) or 2-D (runs, tasks), got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError("scores is empty: need at least one run to aggregate")
    if not np.all(np.isfinite(array)):
        raise ValueError("scores contain NaN or Inf: drop or fix the failed runs first")
    return array


def mean(scores: ArrayLike, axis: int | None = None) -> np.ndarray:
    """Arithmetic mean of the scores (over everything when axis is None)."""
    return np.mean(np.asarray(scores, dtype=np.float64), axis=axis)


def median(scores: ArrayLike, axis: int | None = None) -> np.ndarray:
    """Median of the scores (over everything when axis is None)."""
    return np.median(np.asarray(scores, dtype=np.float64), axis=axis)


def iqm(scores: ArrayLike, axis: int | None = None) -> np.ndarray:
    """Interquartile mean: the mean after dropping the lowest and highest quarter of the scores.

    With n scores, floor(n / 4) are dropped at each end (the same rule as a 25% trimmed mean),
    so n < 4 keeps every score and IQM equals the mean.
    """
    array = np.asarray(scores, dtype=np.float64)
    if axis is None:
        array, axis = array.ravel(), 0
    n = array.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty array: need at least one score")
    cut = n // 4
    middle = np.take(np.sort(array, axis=axis), np.arange(cut, n - cut), axis=axis)
    return np.mean(middle, axis=axis)


AGGREGATES: dict[str, Statistic] = {"mean": mean, "median": median, "iqm": iqm}


def bootstrap_resamples(scores: ArrayLike, rng: np.random.Generator, reps: int) -> np.ndarray:
    """`reps` stratified bootstrap resamples of a (runs, tasks) score matrix.

    Each task's column is resampled on its own: runs are drawn with replacement from that task
    only, so every resample keeps the same number of runs per task as the data. Returns an array
    of shape (reps, runs, tasks).
    """
    matrix = _as_scores(scores)
    if reps < 1:
        raise ValueError(f"reps must be a positive number of resamples, got {reps}")
    runs, tasks = matrix.shape
    run_index = rng.integers(0, runs, size=(reps, runs, tasks))
    return matrix[run_index, np.arange(tasks)]


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return low, high


def stratified_bootstrap_ci(
    scores: ArrayLike,
    statistic: Statistic,
    rng: np.random.Generator,
    reps: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile confidence interval of `statistic` by stratified bootstrap.

    `statistic(x, axis)` must reduce along `axis` (mean, median and iqm above do). Each resample
    pools its (runs, tasks) scores, as the point estimate does, before the statistic is taken.
    """
    resampled = bootstrap_resamples(scores, rng, reps)
    values = statistic(resampled.reshape(reps, -1), axis=1)
    low, high = _percentile_interval(values, confidence)
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float  # the statistic on the data itself
    low: float  # lower end of the confidence interval
    high: float  # upper end of the confidence interval

    def __str__(self) -> str:
        return f"{short(self.value)} [{short(self.low)}, {short(self.high)}]"


def short(x: float, digits: int = 3) -> str:
    """`x` to `digits` significant digits without an exponent: -1000, 0.623, 13."""
    return np.format_float_positional(x, precision=digits, fractional=False, trim="-")


def summarize(
    scores: ArrayLike,
    rng: np.random.Generator,
    reps: int = 2000,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """Mean, median and IQM of the scores, each with a stratified bootstrap CI.

    The three statistics share the same resamples, so they cost one bootstrap.
    """
    matrix = _as_scores(scores)
    flat_resamples = bootstrap_resamples(matrix, rng, reps).reshape(reps, -1)
    summary = {}
    for name, statistic in AGGREGATES.items():
        low, high = _percentile_interval(statistic(flat_resamples, axis=1), confidence)
        summary[name] = Estimate(float(statistic(matrix)), float(low), float(high))
    return summary


def performance_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """Fraction of runs whose score is strictly above each threshold tau.

    The curve over tau is the empirical tail distribution of the scores: a configuration whose
    profile lies above another's everywhere is better at every level of ambition.
    """
    flat = _as_scores(scores).ravel()
    thresholds = np.asarray(taus, dtype=np.float64)
    return np.mean(flat[:, None] > thresholds[None, :], axis=0)


def performance_profile_ci(
    scores: ArrayLike,
    taus: ArrayLike,
    rng: np.random.Generator,
    reps: int = 2000,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise stratified bootstrap interval (low, high) of the performance profile."""
    thresholds = np.asarray(taus, dtype=np.float64)
    flat_resamples = bootstrap_resamples(scores, rng, reps).reshape(reps, -1)
    fractions = np.mean(flat_resamples[:, :, None] > thresholds[None, None, :], axis=1)
    return _percentile_interval(fractions, confidence)
