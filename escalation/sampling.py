"""Discrete draws by inversion: exactly one uniform per replication per draw.

NumPy's Poisson and binomial samplers use a variable number of uniforms per value (rejection and
multiplication methods), so in a vector of replications a change in one replication's rate shifts the random
numbers every later replication receives from the same stream. Drawing by inversion of the cumulative
distribution, with one uniform per replication, keeps replication ``i`` on its own random numbers whatever
happens in the others: common random numbers hold replication by replication, which is what makes paired
differences between experiment arms and sweep points precise.

The search runs upwards from zero, so the work is proportional to the sum of the drawn values. Every element
goes through the same recursion of probabilities and cumulative sums in the same floating-point operations,
however the elements are grouped, so a draw depends on its own uniform and parameters only; the grouping
only decides how many NumPy calls the search costs:

- while many elements are unresolved, one step at a time over contiguous arrays of them, compacted whenever
  half have resolved;
- for the few left (the tail of high counts), :data:`TAIL_BLOCK` steps at a time, as a running product and a
  running sum along each row (``np.multiply.accumulate`` and ``np.add.accumulate`` are the same sequential
  operations as the step-by-step recursion).

References:
    Devroye, L. (1986). Non-Uniform Random Variate Generation. Springer. Chapter X.3 (sequential search by
        inversion for discrete distributions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.special

# Below this log-probability the upward search from zero loses precision (exp underflows near -745).
UNDERFLOW_LOG = -600.0

# Above this rate exp(-rate) nears the underflow limit; the normal approximation (error of order 1/sqrt(rate)
# in the CDF, continuity-corrected) is used instead, still one uniform per value.
LARGE_RATE = 500.0

# The searches step one at a time while more than TAIL_SIZE elements are unresolved, then TAIL_BLOCK steps
# at a time for the rest.
TAIL_SIZE = 256
TAIL_BLOCK = 16
# The step phase compacts its arrays to the unresolved elements when at most 1/COMPACT_SHARE of them are left.
COMPACT_SHARE = 4


def poisson(uniform: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Poisson(rate) values from uniforms: the smallest k with CDF(k) >= u, per element."""
    uniform = np.asarray(uniform, dtype=float)
    rate = np.asarray(rate, dtype=float)
    if rate.shape != uniform.shape:
        rate = np.broadcast_to(rate, uniform.shape)
    if rate.size == 0:
        return np.zeros(uniform.shape, dtype=np.int64)
    low, high = rate.min(), rate.max()  # a NaN propagates to both
    if not (low >= 0 and high < np.inf):
        raise ValueError("rate: Poisson rates must be finite and >= 0")
    if high > LARGE_RATE:
        large = rate > LARGE_RATE
        count = poisson(uniform, np.where(large, 0.0, rate))
        approx = np.floor(rate + np.sqrt(rate) * scipy.special.ndtri(uniform) + 0.5)
        return np.where(large, np.maximum(approx, 0).astype(np.int64), count)
    u, lam = uniform.reshape(-1), rate.reshape(-1)
    count = np.zeros(u.size, dtype=np.int64)
    # A zero rate draws zero: where most are zero (a day's extra casualties), search only the others.
    where = None
    positive = lam > 0  # (nonzero of a boolean array is several times faster than of a float one)
    if np.count_nonzero(positive) < lam.size // 4:
        where = np.flatnonzero(positive)
        u, lam = u.take(where), lam.take(where)
    mass = np.exp(-lam)  # P(K = 0)
    cumulative = mass.copy()
    # Stop where the remaining tail is below double precision (u within 1e-15 of 1 still ends).
    started = (u > cumulative) & (cumulative < 1.0 - 1e-15)

    def factors(k: int | np.ndarray, lam: np.ndarray) -> np.ndarray:  # P(k) / P(k - 1) = rate / k
        return lam / k

    def going(k: int | np.ndarray, masses: np.ndarray, lam: np.ndarray) -> np.ndarray:
        return masses > 0

    _search(count, where, u, mass, cumulative, started, (lam,), factors, going)
    return count.reshape(uniform.shape)


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
    if candidates.size == count.size:
        log_zero = trials * np.log1p(-p)
    else:
        log_zero = trials.take(candidates) * np.log1p(-p.take(candidates))
    far = log_zero < UNDERFLOW_LOG
    if far.any():
        import scipy.stats  # only for these rare draws; importing it costs a second

        rows = candidates[far]
        count[rows] = scipy.stats.binom.ppf(uniform[rows], trials[rows], p[rows]).astype(np.int64)
        candidates = candidates[~far]
        log_zero = log_zero[~far]
    if candidates.size == count.size:  # every element is searched: no gathers
        n, q, u = trials, p, uniform
    else:
        n, q, u = trials.take(candidates), p.take(candidates), uniform.take(candidates)
    ratio = q / (1.0 - q)
    mass = np.exp(log_zero)  # P(K = 0)
    cumulative = mass.copy()

    def factors(k: int | np.ndarray, n: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        return (n - (k - 1)) * ratio / k  # P(k) / P(k - 1) = (n - k + 1) / k * q / (1 - q)

    def going(k: int | np.ndarray, masses: np.ndarray, n: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        return k < n

    _search(count, candidates, u, mass, cumulative, u > cumulative, (n, ratio), factors, going)
    return count.reshape(shape)


def _search(
    count: np.ndarray,
    where: np.ndarray | None,
    uniform: np.ndarray,
    mass: np.ndarray,
    cumulative: np.ndarray,
    started: np.ndarray,
    params: tuple[np.ndarray, ...],
    factors: Callable[..., np.ndarray],
    going: Callable[..., np.ndarray],
) -> None:
    """The upward search from ``P(K = 0)``: write into ``count[where]`` the smallest k with CDF(k) >= u.

    Args:
        count: the draws, written at ``where`` (elements that do not start stay 0).
        where: the positions in ``count`` of the elements searched; None: all, in order.
        uniform: per element, its uniform.
        mass: per element, ``P(K = 0)``.
        cumulative: per element, ``CDF(0)`` (equal to ``mass``).
        started: the elements whose search goes past 0.
        params: per element, the distribution's parameters (1-D arrays).
        factors: ``(k, *params) -> P(K = k) / P(K = k - 1)``, element-wise: for one step k (an integer) and
            the parameters as 1-D arrays, or for a (1, B) row of steps and the parameters as (rows, 1)
            columns.
        going: ``(k, masses, *params) ->`` whether the search may go on past step k, besides
            ``u > CDF(k)``, element-wise in the same shapes.
    """
    rows = np.flatnonzero(started)
    if where is None:
        where = np.arange(count.size)
    u, p, f = uniform.take(rows), mass.take(rows), cumulative.take(rows)
    params = tuple(x.take(rows) for x in params)
    k, steps, unresolved = 0, np.zeros(rows.size, dtype=np.int64), np.ones(rows.size, dtype=bool)
    while rows.size > TAIL_SIZE:
        k += 1
        steps += unresolved
        p *= factors(k, *params)
        f += p
        # Once false, ``u > CDF(k) and going`` stays false (the CDF grows while the search may go on), so
        # this is ``unresolved &= ...`` in one pass fewer.
        unresolved = np.greater(u, f)
        unresolved &= going(k, p, *params)
        left = np.count_nonzero(unresolved)
        if left <= rows.size // COMPACT_SHARE:
            count[where.take(rows)] = steps
            keep = np.flatnonzero(unresolved)
            rows, u, p, f, steps = (x.take(keep) for x in (rows, u, p, f, steps))
            params = tuple(x.take(keep) for x in params)
            unresolved = np.ones(left, dtype=bool)
    if rows.size:
        count[where.take(rows)] = steps
        keep = np.flatnonzero(unresolved)
        rows, u, p, f = (x.take(keep) for x in (rows, u, p, f))
        params = tuple(x.take(keep) for x in params)
    block = np.arange(1, TAIL_BLOCK + 1)[None, :]
    while rows.size:
        columns = [x[:, None] for x in params]
        chain = np.empty((rows.size, TAIL_BLOCK + 1))
        chain[:, 0] = p
        chain[:, 1:] = factors(k + block, *columns)
        masses = np.multiply.accumulate(chain, axis=1)
        masses[:, 0] = f
        sums = np.add.accumulate(masses, axis=1)
        on = (u[:, None] > sums[:, 1:]) & going(k + block, masses[:, 1:], *columns)
        stops = ~on.all(axis=1)
        count[where.take(rows[stops])] = k + 1 + on[stops].argmin(axis=1)
        k += TAIL_BLOCK
        keep = np.flatnonzero(~stops)
        rows, u, p, f = rows.take(keep), u.take(keep), masses[keep, -1], sums[keep, -1]
        params = tuple(x.take(keep) for x in params)
