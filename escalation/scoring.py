"""Scores of probabilistic forecasts against what happened: CRPS, Brier, log score, coverage, PIT.

Forecasts of counts come as histograms over replications (the engine's daily count histograms, or the
probability mass of a baseline evaluated on the same support), so every score is exact for the forecast
distribution, with no resampling. CRPS and the Brier and log scores are computed by ``scoringrules``.

References:
    Gneiting, T., & Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation.
        Journal of the American Statistical Association 102(477), 359-378.
    Czado, C., Gneiting, T., & Held, L. (2009). Predictive model assessment for count data. Biometrics
        65(4), 1254-1261. (Randomised PIT for counts.)
    Zanetta, F., Allen, S., et al. (2024). scoringrules: a Python library for probabilistic forecast
        evaluation.
"""

from __future__ import annotations

import numpy as np
import scoringrules


def _check_histogram(histogram: np.ndarray) -> np.ndarray:
    histogram = np.asarray(histogram, dtype=float)
    if histogram.ndim != 1 or histogram.size == 0 or (histogram < 0).any() or histogram.sum() <= 0:
        raise ValueError("histogram: expected a 1-D array of non-negative weights with a positive sum")
    return histogram


def crps(histogram: np.ndarray, observed: float) -> float:
    """Continuous ranked probability score of a count forecast given as a histogram over 0, 1, 2, ...

    Lower is better; it has the units of the count (for a point forecast it is the absolute error).
    """
    weights = _check_histogram(histogram)
    support = np.arange(weights.size, dtype=float)
    keep = weights > 0
    value = scoringrules.crps_ensemble(
        float(observed), support[keep], ens_w=weights[keep] / weights.sum(), estimator="nrg"
    )
    return float(value)


def brier(probability: np.ndarray, happened: np.ndarray) -> np.ndarray:
    """Brier score of event probabilities (0 is perfect, 0.25 is a constant 50% forecast)."""
    return np.asarray(
        scoringrules.brier_score(np.asarray(happened, dtype=float), np.asarray(probability, dtype=float))
    )


def log_score(probability: np.ndarray, happened: np.ndarray, replications: int | None = None) -> np.ndarray:
    """Negative log probability given to what happened (lower is better).

    A Monte Carlo estimate of exactly 0 or 1 would make the score infinite when it is wrong; with the number
    of ``replications`` given, estimates are kept within [1/(2R), 1 - 1/(2R)] (the add-a-half rule).
    """
    probability = np.asarray(probability, dtype=float)
    if replications is not None:
        floor = 1.0 / (2 * replications)
        probability = np.clip(probability, floor, 1 - floor)
    return np.asarray(scoringrules.log_score(np.asarray(happened, dtype=float), probability))


def quantile(histogram: np.ndarray, q: float) -> int:
    """The smallest count c with CDF(c) >= q (the inverted-CDF quantile of the forecast)."""
    cdf = np.cumsum(_check_histogram(histogram))
    return int(np.searchsorted(cdf, q * cdf[-1] * (1 - 1e-12), side="left"))


def interval_covers(histogram: np.ndarray, observed: float, level: float) -> bool:
    """Whether the central ``level`` interval of the forecast contains the observation."""
    return quantile(histogram, (1 - level) / 2) <= observed <= quantile(histogram, (1 + level) / 2)


def randomized_pit(histogram: np.ndarray, observed: int, rng: np.random.Generator) -> float:
    """Randomised probability integral transform of a count: uniform on [F(y - 1), F(y)].

    For a calibrated forecast the PIT values of many observations are uniform on [0, 1] (Czado et al. 2009).
    """
    weights = _check_histogram(histogram)
    cdf = np.cumsum(weights) / weights.sum()
    upper = cdf[observed] if observed < cdf.size else 1.0
    lower = cdf[observed - 1] if 0 < observed <= cdf.size else (0.0 if observed == 0 else 1.0)
    return float(lower + rng.random() * (upper - lower))


def skill(score: float, reference: float) -> float:
    """Skill relative to a reference forecast: 1 - score / reference (1 perfect, 0 no better, < 0 worse)."""
    if reference == 0:
        return float("nan") if score == 0 else float("-inf")
    return 1.0 - score / reference
