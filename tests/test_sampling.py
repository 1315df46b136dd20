"""Tests of escalation/sampling.py: inversion draws equal the exact quantile function."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_a_draw_depends_on_its_own_uniform_and_rate_only_whatever_the_grouping():
    # The search runs whole-array steps, compactions and blocks of steps in the tail: whichever elements share
    # a call, each element's draw must be the one it gets alone (common random numbers, replication by
    # replication). Rates from 0 to 400 reach the tail blocks; sizes above and below the step phase's limit.
    rng = np.random.default_rng(7)
    rate = np.concatenate([rng.gamma(1.0, 3.0, 3_000), rng.uniform(50, 400, 200), np.zeros(500)])
    u = rng.random(rate.size)
    together = sampling.poisson(u, rate)
    alone = np.array([sampling.poisson(u[i : i + 1], rate[i : i + 1])[0] for i in range(0, rate.size, 37)])
    assert np.array_equal(together[::37], alone)
    split = np.concatenate([sampling.poisson(u[:100], rate[:100]), sampling.poisson(u[100:], rate[100:])])
    assert np.array_equal(together, split)
    trials = rng.integers(0, 300, rate.size)
    p = rng.random(rate.size) * 0.3
    together = sampling.binomial(u, trials, p)
    alone = np.array(
        [sampling.binomial(u[i : i + 1], trials[i : i + 1], p[i : i + 1])[0] for i in range(0, rate.size, 37)]
    )
    assert np.array_equal(together[::37], alone)


def test_high_rates_in_the_tail_blocks_equal_the_quantile_function():
    rng = np.random.default_rng(8)
    u = rng.random(2_000)
    rate = rng.uniform(20.0, 450.0, 2_000)
    expected = scipy.stats.poisson.ppf(u, rate).astype(np.int64)
    assert np.array_equal(sampling.poisson(u, rate), expected)
    trials = rng.integers(100, 2_000, 2_000)
    p = rng.uniform(0.05, 0.2, 2_000)
    assert np.array_equal(
        sampling.binomial(u, trials, p), scipy.stats.binom.ppf(u, trials, p).astype(np.int64)
    )


def test_draws_written_into_an_array_given_are_the_draws_returned():
    # The engine draws into its own arrays (out=); whatever they held before, the values must be the same.
    rng = np.random.default_rng(9)
    u, rate = rng.random((3, 400)), rng.gamma(1.0, 2.0, (3, 400))
    rate[0, :300] = 0.0
    out = np.full((3, 400), 7, dtype=np.int64)
    assert sampling.poisson(u, rate, out=out) is out
    assert np.array_equal(out, sampling.poisson(u, rate))
    trials, p = rng.integers(0, 20, (3, 400)), rng.random((3, 400))
    assert sampling.binomial(u, trials, p, out=out) is out
    assert np.array_equal(out, sampling.binomial(u, trials, p))
    with pytest.raises(ValueError, match="out: expected a C-contiguous int64 array of shape"):
        sampling.poisson(u, rate, out=np.zeros((400, 3), dtype=np.int64).T)
