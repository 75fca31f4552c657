"""Aggregate statistics (rl.stats) against values worked out by hand."""

import numpy as np
import pytest

from rl import stats


def test_iqm_drops_a_quarter_at_each_end():
    # 8 scores: drop 2 lowest (1, 2) and 2 highest (7, 100); mean of 3, 4, 5, 6 is 4.5.
    assert stats.iqm([100, 1, 7, 3, 2, 6, 5, 4]) == pytest.approx(4.5)
    # 4 scores: drop one at each end; mean of 2 and 3.
    assert stats.iqm([10, 1, 3, 2]) == pytest.approx(2.5)
    # 5 scores: floor(5/4) = 1 dropped at each end; mean of 2, 3, 4.
    assert stats.iqm([5, 4, 3, 2, 1]) == pytest.approx(3.0)
    # Fewer than 4 scores: nothing is dropped, IQM is the mean.
    assert stats.iqm([0.0, 0.0, 3.0]) == pytest.approx(1.0)


def test_iqm_along_an_axis_pools_nothing_across_it():
    scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [400.0, 40.0]])
    np.testing.assert_allclose(stats.iqm(scores, axis=0), [2.5, 25.0])
    # axis=None pools all 8 scores: sorted 1 2 3 10 20 30 40 400, middle four 3 10 20 30.
    assert stats.iqm(scores) == pytest.approx(15.75)


def test_mean_and_median_match_numpy():
    scores = [3.0, 1.0, 4.0, 1.0, 5.0]
    assert stats.mean(scores) == pytest.approx(2.8)
    assert stats.median(scores) == pytest.approx(3.0)


def test_bootstrap_ci_of_the_mean_matches_the_exact_bootstrap_distribution():
    # Resampling [0, 0, 3] three times with replacement: the number k of 3s drawn is
    # Binomial(3, 1/3), and the resample mean equals k. P(k=0..3) = 8/27, 12/27, 6/27, 1/27,
    # so the CDF is 0.296, 0.741, 0.963, 1. The 2.5th percentile falls in k=0 and the 97.5th in
    # k=3 (1/27 = 3.7% > 2.5%): the 95% interval is [0, 3].
    rng = np.random.default_rng(0)
    low, high = stats.stratified_bootstrap_ci([0.0, 0.0, 3.0], stats.mean, rng, reps=20_000)
    assert (low, high) == (0.0, 3.0)
    # The 40th and 60th percentiles both fall inside k=1 (CDF from 0.296 to 0.741).
    low, high = stats.stratified_bootstrap_ci(
        [0.0, 0.0, 3.0], stats.mean, rng, reps=20_000, confidence=0.2
    )
    assert (low, high) == (1.0, 1.0)


def test_bootstrap_resample_frequencies_match_the_binomial_by_hand():
    rng = np.random.default_rng(1)
    resampled = stats.bootstrap_resamples([0.0, 0.0, 3.0], rng, reps=30_000)
    k = np.round(resampled.sum(axis=(1, 2)) / 3.0).astype(int)
    frequencies = np.bincount(k, minlength=4) / k.size
    np.testing.assert_allclose(frequencies, np.array([8, 12, 6, 1]) / 27, atol=0.01)


def test_bootstrap_is_stratified_by_task():
    # Task 0 always scores 0 and task 1 always 10. Resampling within each task keeps one of each
    # per pair, so every resample has mean 5 and the interval has zero width. (Pooling the tasks
    # before resampling would let the mean wander between 0 and 10.)
    scores = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    rng = np.random.default_rng(2)
    assert stats.stratified_bootstrap_ci(scores, stats.mean, rng, reps=500) == (5.0, 5.0)
    # And each resampled column only ever holds its own task's runs.
    scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    resampled = stats.bootstrap_resamples(scores, rng, reps=200)
    assert resampled.shape == (200, 3, 2)
    assert set(np.unique(resampled[:, :, 0])) <= {1.0, 2.0, 3.0}
    assert set(np.unique(resampled[:, :, 1])) <= {10.0, 20.0, 30.0}


def test_same_generator_seed_gives_the_same_interval():
    scores = [0.1, 0.5, 0.2, 0.9, 0.4, 0.7]
    first = stats.stratified_bootstrap_ci(scores, stats.iqm, np.random.default_rng(7), reps=300)
    second = stats.stratified_bootstrap_ci(scores, stats.iqm, np.random.default_rng(7), reps=300)
    assert first == second


def test_summarize_gives_point_estimates_inside_their_intervals():
    scores = [0.1, 0.5, 0.2, 0.9, 0.4, 0.7, 0.3, 0.8]
    summary = stats.summarize(scores, np.random.default_rng(3), reps=1000)
    assert set(summary) == {"mean", "median", "iqm"}
    assert summary["mean"].value == pytest.approx(0.4875)
    assert summary["median"].value == pytest.approx(0.45)
    # Middle four of 0.1 0.2 0.3 0.4 0.5 0.7 0.8 0.9 are 0.3 0.4 0.5 0.7.
    assert summary["iqm"].value == pytest.approx(0.475)
    for estimate in summary.values():
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.low < estimate.high


def test_performance_profile_counts_runs_strictly_above_each_threshold():
    profile = stats.performance_profile([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.5, 4.0])
    np.testing.assert_allclose(profile, [1.0, 0.75, 0.5, 0.0])


def test_performance_profile_band_collapses_for_identical_runs():
    taus = np.linspace(0.0, 2.0, 5)
    low, high = stats.performance_profile_ci([1.0] * 5, taus, np.random.default_rng(4), reps=100)
    expected = stats.performance_profile([1.0] * 5, taus)
    np.testing.assert_array_equal(low, expected)
    np.testing.assert_array_equal(high, expected)


def test_performance_profile_band_contains_the_profile():
    scores = [0.0, 0.2, 0.5, 0.6, 1.0, 0.9]
    taus = np.linspace(0.0, 1.0, 11)
    low, high = stats.performance_profile_ci(scores, taus, np.random.default_rng(5), reps=500)
    profile = stats.performance_profile(scores, taus)
    assert np.all(low <= profile) and np.all(profile <= high)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([], "empty"),
        ([1.0, np.nan], "NaN"),
        (np.zeros((2, 2, 2)), "1-D"),
    ],
)
def test_bad_scores_are_rejected_with_a_clear_message(scores, message):
    with pytest.raises(ValueError, match=message):
        stats.stratified_bootstrap_ci(scores, stats.mean, np.random.default_rng(0))


def test_bad_confidence_and_reps_are_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="confidence"):
        stats.stratified_bootstrap_ci([1.0, 2.0], stats.mean, rng, confidence=95)
    with pytest.raises(ValueError, match="reps"):
        stats.stratified_bootstrap_ci([1.0, 2.0], stats.mean, rng, reps=0)


def test_estimates_print_as_plain_numbers():
    assert str(stats.Estimate(-1000.0, -1234.5, -13.0)) == "-1000 [-1230, -13]"
    assert str(stats.Estimate(0.6234, 0.5, 0.75)) == "0.623 [0.5, 0.75]"
