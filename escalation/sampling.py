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


def poisson(uniform: np.ndarray, rate: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Poisson(rate) values from uniforms: the smallest k with CDF(k) >= u, per element.

    ``out``: a C-contiguous int64 array of the uniforms' shape to write the values in (and return).
    """
    uniform = np.asarray(uniform, dtype=float)
    rate = np.asarray(rate, dtype=float)
    if rate.shape != uniform.shape:
        rate = np.broadcast_to(rate, uniform.shape)
    count = _output(out, uniform.shape)
    if rate.size == 0:
        return count
    low, high = rate.min(), rate.max()  # a NaN propagates to both
    if not (low >= 0 and high < np.inf):
        raise ValueError("rate: Poisson rates must be finite and >= 0")
    if high > LARGE_RATE:
        large = rate > LARGE_RATE
        small = poisson(uniform, np.where(large, 0.0, rate))
        approx = np.floor(rate + np.sqrt(rate) * scipy.special.ndtri(uniform) + 0.5)
        count[...] = np.where(large, np.maximum(approx, 0).astype(np.int64), small)
        return count
    u, lam = uniform.reshape(-1), rate.reshape(-1)
    flat = count.reshape(-1)
    # A zero rate draws zero: where most are zero (a day's extra casualties), search only the others.
    where = None
    positive = lam > 0  # (nonzero of a boolean array is several times faster than of a float one)
    if np.count_nonzero(positive) < lam.size // 4:
        where = np.flatnonzero(positive)
        u, lam = u.take(where), lam.take(where)
    mass = np.negative(lam)
    np.exp(mass, out=mass)  # P(K = 0), also CDF(0)
    # Stop where the remaining tail is below double precision (u within 1e-15 of 1 still ends).
    started = np.greater(u, mass)
    started &= mass < 1.0 - 1e-15

    def factors(k: int | np.ndarray, lam: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.divide(lam, k, out=out)  # P(k) / P(k - 1) = rate / k

    def going(
        k: int | np.ndarray, masses: np.ndarray, lam: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return np.greater(masses, 0, out=out)

    _search(flat, where, u, mass, started, (lam,), factors, going)
    return count


def binomial(
    uniform: np.ndarray, trials: np.ndarray, probability: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Binomial(trials, probability) values from uniforms: the smallest k with CDF(k) >= u, per element.

    ``out``: a C-contiguous int64 array of the uniforms' shape to write the values in (and return).
    """
    shape = np.shape(uniform)
    uniform = np.asarray(uniform, dtype=float).reshape(-1)
    trials = np.broadcast_to(np.asarray(trials, dtype=np.int64), shape).reshape(-1)
    p = np.broadcast_to(np.asarray(probability, dtype=float), shape).reshape(-1)
    result = _output(out, shape)
    count = result.reshape(-1)
    if count.size == 0:
        return result
    low, high = p.min(), p.max()  # a NaN propagates to both
    if np.isnan(low):
        raise ValueError("probability: binomial probabilities must not be NaN")
    if low < 0.0 or high > 1.0:
        p = np.clip(p, 0.0, 1.0)
        low, high = max(low, 0.0), min(high, 1.0)
    # The elements searched: trials and a probability strictly between 0 and 1 (None: all of them).
    candidates = None
    if high >= 1.0:
        certain = p >= 1.0
        count[certain] = trials[certain]
        candidates = np.flatnonzero((trials > 0) & (p > 0.0) & ~certain)
    elif low <= 0.0 or trials.min() <= 0:
        candidates = np.flatnonzero((trials > 0) & (p > 0.0))
    if candidates is not None and candidates.size == 0:
        return result
    if candidates is None:
        n, q, u = trials, p, uniform
    else:
        n, q, u = trials.take(candidates), p.take(candidates), uniform.take(candidates)
    log_zero = np.negative(q)
    np.log1p(log_zero, out=log_zero)
    np.multiply(n, log_zero, out=log_zero)  # log P(K = 0) = trials * log(1 - p)
    # Where P(K = 0) underflows (many trials, high probability) the upward search cannot start: invert with
    # scipy's exact quantile function instead, still from the same single uniform.
    if log_zero.min() < UNDERFLOW_LOG:
        import scipy.stats  # only for these rare draws; importing it costs a second

        far = log_zero < UNDERFLOW_LOG
        if candidates is None:
            candidates = np.arange(count.size)
        rows = candidates[far]
        count[rows] = scipy.stats.binom.ppf(uniform[rows], trials[rows], p[rows]).astype(np.int64)
        near = ~far
        candidates, log_zero = candidates[near], log_zero[near]
        n, q, u = n[near], q[near], u[near]
    ratio = np.subtract(1.0, q)
    np.divide(q, ratio, out=ratio)  # q / (1 - q)
    mass = np.exp(log_zero, out=log_zero)  # P(K = 0), also CDF(0)

    def factors(
        k: int | np.ndarray, n: np.ndarray, ratio: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        # P(k) / P(k - 1) = (n - k + 1) / k * q / (1 - q), with the trials as floats (exact integers)
        out = np.subtract(n, k - 1, out=out)
        out *= ratio
        out /= k
        return out

    def going(
        k: int | np.ndarray,
        masses: np.ndarray,
        n: np.ndarray,
        ratio: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        return np.less(k, n, out=out)

    _search(count, candidates, u, mass, np.greater(u, mass), (n.astype(float), ratio), factors, going)
    return result


def _output(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """``out`` zeroed (it must be C-contiguous int64 of this shape), or a new zero array."""
    if out is None:
        return np.zeros(shape, dtype=np.int64)
    if out.shape != shape or out.dtype != np.int64 or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous int64 array of shape {shape}")
    out.fill(0)
    return out


def _write(count: np.ndarray, where: np.ndarray | None, rows: np.ndarray, values: np.ndarray | int) -> None:
    """``count[where[rows]] = values`` (``where`` None: the rows themselves)."""
    count[rows if where is None else where.take(rows)] = values


def _search(
    count: np.ndarray,
    where: np.ndarray | None,
    uniform: np.ndarray,
    mass: np.ndarray,
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
        mass: per element, ``P(K = 0)``, which is also ``CDF(0)``.
        started: the elements whose search goes past 0.
        params: per element, the distribution's parameters (1-D arrays).
        factors: ``(k, *params, out=None) -> P(K = k) / P(K = k - 1)``, element-wise: for one step k (an
            integer) and the parameters as 1-D arrays (written in ``out``), or for a (1, B) row of steps and
            the parameters as (rows, 1) columns.
        going: ``(k, masses, *params, out=None) ->`` whether the search may go on past step k, besides
            ``u > CDF(k)``, element-wise in the same shapes.
    """
    rows = np.flatnonzero(started)
    u, p = uniform.take(rows), mass.take(rows)
    f = p.copy()
    params = tuple(x.take(rows) for x in params)
    k, steps, unresolved = 0, np.zeros(rows.size, dtype=np.int64), np.ones(rows.size, dtype=bool)
    # Work arrays of the steps, used at the length of the elements left.
    factor_work, going_work = np.empty(rows.size), np.empty(rows.size, dtype=bool)
    while rows.size > TAIL_SIZE:
        k += 1
        steps += unresolved
        p *= factors(k, *params, out=factor_work[: rows.size])
        f += p
        # Once false, ``u > CDF(k) and going`` stays false (the CDF grows while the search may go on), so
        # this is ``unresolved &= ...`` in one pass fewer.
        np.greater(u, f, out=unresolved)
        unresolved &= going(k, p, *params, out=going_work[: rows.size])
        left = np.count_nonzero(unresolved)
        if left <= rows.size // COMPACT_SHARE:
            _write(count, where, rows, steps)
            keep = np.flatnonzero(unresolved)
            rows, u, p, f, steps = (x.take(keep) for x in (rows, u, p, f, steps))
            params = tuple(x.take(keep) for x in params)
            unresolved = np.ones(left, dtype=bool)
    if rows.size:
        _write(count, where, rows, steps)
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
        _write(count, where, rows[stops], k + 1 + on[stops].argmin(axis=1))
        k += TAIL_BLOCK
        keep = np.flatnonzero(~stops)
        rows, u, p, f = rows.take(keep), u.take(keep), masses[keep, -1], sums[keep, -1]
        params = tuple(x.take(keep) for x in params)
