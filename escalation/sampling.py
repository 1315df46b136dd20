"""Discrete draws by inversion: exactly one uniform per replication per draw.

NumPy's Poisson and binomial samplers use a variable number of uniforms per value (rejection and
multiplication methods), so in a vector of replications a change in one replication's rate shifts the random
numbers every later replication receives from the same stream. Drawing by inversion of the cumulative
distribution, with one uniform per replication, keeps replication ``i`` on its own random numbers whatever
happens in the others: common random numbers hold replication by replication, which is what makes paired
differences between experiment arms and sweep points precise.

The search runs upwards from zero over the replications still unresolved, so the work is proportional to the
sum of the drawn values, and each Python-level iteration works on a shrinking set.

References:
    Devroye, L. (1986). Non-Uniform Random Variate Generation. Springer. Chapter X.3 (sequential search by
        inversion for discrete distributions).
"""

from __future__ import annotations

import numpy as np
import scipy.special
import scipy.stats

# Below this log-probability the upward search from zero loses precision (exp underflows near -745).
UNDERFLOW_LOG = -600.0

# Above this rate exp(-rate) nears the underflow limit; the normal approximation (error of order 1/sqrt(rate)
# in the CDF, continuity-corrected) is used instead, still one uniform per value.
LARGE_RATE = 500.0


def poisson(uniform: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Poisson(rate) values from uniforms: the smallest k with CDF(k) >= u, per element."""
    uniform = np.asarray(uniform, dtype=float)
    rate = np.broadcast_to(np.asarray(rate, dtype=float), uniform.shape)
    if not np.isfinite(rate).all() or (rate < 0).any():
        raise ValueError("rate: Poisson rates must be finite and >= 0")
    large = rate > LARGE_RATE
    if large.any():
        count = poisson(uniform, np.where(large, 0.0, rate))
        approx = np.floor(rate + np.sqrt(rate) * scipy.special.ndtri(uniform) + 0.5)
        return np.where(large, np.maximum(approx, 0).astype(np.int64), count)
    count = np.zeros(uniform.shape, dtype=np.int64)
    probability = np.exp(-rate)
    cumulative = probability.copy()
    # Stop where the remaining tail is below double precision (u within 1e-15 of 1 still ends).
    active = np.flatnonzero((uniform > cumulative) & (cumulative < 1.0 - 1e-15))
    flat_count, flat_probability, flat_cumulative = (
        count.reshape(-1),
        probability.reshape(-1),
        cumulative.reshape(-1),
    )
    flat_uniform, flat_rate = uniform.reshape(-1), rate.reshape(-1)
    while active.size:
        flat_count[active] += 1
        flat_probability[active] *= flat_rate[active] / flat_count[active]
        flat_cumulative[active] += flat_probability[active]
        keep = (flat_uniform[active] > flat_cumulative[active]) & (flat_probability[active] > 0)
        active = active[keep]
    return count


def binomial(uniform: np.ndarray, trials: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Binomial(trials, probability) values from uniforms: the smallest k with CDF(k) >= u, per element."""
    shape = np.shape(uniform)
    uniform = np.asarray(uniform, dtype=float).reshape(-1)
    trials = np.broadcast_to(np.asarray(trials, dtype=np.int64), shape).reshape(-1)
    p = np.broadcast_to(np.asarray(probability, dtype=float), shape).reshape(-1)
    if np.isnan(p).any():
        raise ValueError("probability: binomial probabilities must not be NaN")
    p = np.clip(p, 0.0, 1.0)
    count = np.zeros(uniform.size, dtype=np.int64)
    certain = p >= 1.0
    count[certain] = trials[certain]
    candidates = np.flatnonzero((trials > 0) & (p > 0.0) & ~certain)
    if candidates.size == 0:
        return count.reshape(shape)
    # Where P(K = 0) underflows (many trials, high probability) the upward search cannot start: invert with
    # scipy's exact quantile function instead, still from the same single uniform.
    log_zero = trials[candidates] * np.log1p(-p[candidates])
    far = log_zero < UNDERFLOW_LOG
    if far.any():
        rows = candidates[far]
        count[rows] = scipy.stats.binom.ppf(uniform[rows], trials[rows], p[rows]).astype(np.int64)
        candidates = candidates[~far]
        log_zero = log_zero[~far]
    n, q = trials[candidates], p[candidates]
    ratio = q / (1.0 - q)
    mass = np.exp(log_zero)  # P(K = 0)
    cumulative = mass.copy()
    u = uniform[candidates]
    k = np.zeros(candidates.size, dtype=np.int64)
    active = np.flatnonzero(u > cumulative)
    while active.size:
        mass[active] *= (n[active] - k[active]) * ratio[active] / (k[active] + 1)
        k[active] += 1
        cumulative[active] += mass[active]
        keep = (u[active] > cumulative[active]) & (k[active] < n[active])
        active = active[keep]
    count[candidates] = k
    return count.reshape(shape)
