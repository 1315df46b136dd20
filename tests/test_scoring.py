"""Tests of escalation/scoring.py against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from escalation import scoring


def test_crps_of_a_uniform_count_forecast_by_hand():
    # Forecast uniform on {1, ..., 5}, observed 3: E|X - y| = (2+1+0+1+2)/5 = 1.2 and
    # E|X - X'| = 2 * (4*1 + 3*2 + 2*3 + 1*4) / 25 = 1.6, so CRPS = 1.2 - 1.6/2 = 0.4.
    histogram = np.array([0, 1, 1, 1, 1, 1])
    assert scoring.crps(histogram, 3) == pytest.approx(0.4)
    # A point forecast's CRPS is its absolute error.
    assert scoring.crps(np.array([0, 0, 0, 0, 0, 0, 0, 7]), 4) == pytest.approx(3.0)
    # Weights need not be normalised; an observation beyond the support is scored too.
    assert scoring.crps(3 * histogram, 3) == pytest.approx(0.4)
    assert scoring.crps(histogram, 9) == pytest.approx(abs(np.arange(1, 6) - 9).mean() - 0.8)


def test_brier_and_log_scores_by_hand():
    assert scoring.brier([0.8, 0.3], [1, 0]) == pytest.approx([0.04, 0.09])
    assert scoring.log_score([0.8, 0.3], [1, 0]) == pytest.approx([-np.log(0.8), -np.log(0.7)])
    # A Monte Carlo 0 for an event that happened: with R = 1000 replications it becomes 1/2000.
    assert scoring.log_score([0.0], [1], replications=1000) == pytest.approx([np.log(2000)])


def test_coverage_pit_and_skill():
    histogram = np.zeros(101)
    histogram[40:61] = 1  # uniform on 40..60
    assert scoring.interval_covers(histogram, 50, 0.5)
    assert not scoring.interval_covers(histogram, 61, 0.9)
    rng = np.random.default_rng(0)
    # Observations drawn from the forecast itself give uniform PIT values: mean 1/2 within 4 SE
    # (SE = sqrt(1/12 / n)).
    draws = rng.integers(40, 61, 4000)
    pit = np.array([scoring.randomized_pit(histogram, int(y), rng) for y in draws])
    assert abs(pit.mean() - 0.5) < 4 * np.sqrt(1 / 12 / 4000)
    assert scoring.randomized_pit(histogram, 10, rng) == 0.0
    assert scoring.randomized_pit(histogram, 200, rng) == 1.0
    assert scoring.skill(1.0, 2.0) == 0.5
    assert scoring.skill(3.0, 2.0) == -0.5


def test_bad_histograms_are_rejected():
    with pytest.raises(ValueError, match="histogram"):
        scoring.crps(np.array([0, 0]), 1)


def test_quantiles_match_numpy_inverted_cdf():
    rng = np.random.default_rng(5)
    samples = rng.poisson(7, 999)
    histogram = np.bincount(samples)
    for q in (0.05, 0.25, 0.5, 0.9, 0.95):
        assert scoring.quantile(histogram, q) == np.quantile(samples, q, method="inverted_cdf")
