"""Tests of escalation/sampling.py: inversion draws equal the exact quantile function."""

from __future__ import annotations

import numpy as np
import scipy.stats

from escalation import sampling


def test_poisson_inversion_equals_the_quantile_function():
    rng = np.random.default_rng(1)
    u = rng.random(20_000)
    rate = rng.gamma(1.5, 4.0, 20_000)  # rates from near 0 to about 40
    expected = scipy.stats.poisson.ppf(u, rate).astype(np.int64)
    assert np.array_equal(sampling.poisson(u, rate), expected)


def test_binomial_inversion_equals_the_quantile_function():
    rng = np.random.default_rng(2)
    u = rng.random(20_000)
    trials = rng.integers(0, 60, 20_000)
    p = rng.random(20_000)
    p[:100] = 0.0
    p[100:200] = 1.0
    expected = scipy.stats.binom.ppf(u, trials, p).astype(np.int64)
    assert np.array_equal(sampling.binomial(u, trials, p), expected)


def test_shapes_are_kept_and_zero_rates_give_zero():
    u = np.random.default_rng(3).random((50, 4))
    assert sampling.poisson(u, np.zeros((50, 4))).shape == (50, 4)
    assert not sampling.poisson(u, np.zeros((50, 4))).any()
    assert sampling.binomial(u, np.full((50, 4), 5), 0.5).shape == (50, 4)


def test_large_rates_use_the_normal_approximation_with_the_right_moments():
    # Mean within 4 standard errors (sqrt(rate / n)) and variance within 5% of the rate.
    u = np.random.default_rng(4).random(100_000)
    draws = sampling.poisson(u, np.full(100_000, 2_000.0))
    assert abs(draws.mean() - 2_000.0) < 4 * np.sqrt(2_000.0 / 100_000)
    assert abs(draws.var() / 2_000.0 - 1) < 0.05


def test_binomial_with_many_trials_and_high_probability_matches_the_quantile_function():
    # (1 - p)^n underflows here; the draws must still be exact inversions, not n.
    rng = np.random.default_rng(6)
    u = rng.random(5_000)
    for n, p in ((200, 0.99), (10_000, 0.5), (3_000, 0.3)):
        expected = scipy.stats.binom.ppf(u, n, p).astype(np.int64)
        assert np.array_equal(sampling.binomial(u, np.full(5_000, n), p), expected), (n, p)


def test_invalid_rates_and_probabilities_are_errors():
    import pytest

    with pytest.raises(ValueError, match="rate"):
        sampling.poisson(np.array([0.5]), np.array([np.inf]))
    with pytest.raises(ValueError, match="probability"):
        sampling.binomial(np.array([0.5]), np.array([3]), np.array([np.nan]))
