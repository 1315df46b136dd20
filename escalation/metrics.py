"""Statistics that turn Monte Carlo ensemble outputs into probabilities with intervals.

An ensemble run produces compact arrays rather than per-replication event logs:

* ``first_passage`` (R, K) integers: for replication ``r``, the first simulated day (0-based; day 0 is the
  first forecast day) on which the highest rung reached so far was ``>= k``, or :data:`NEVER` (-1) when that
  did not happen within the simulated horizon.
* ``threshold_days`` (R, M) integers: the first day each of M named threshold events happened, or
  :data:`NEVER`.
* ``count_histogram`` (T, C) integers: ``count_histogram[t, c]`` is the number of replications whose
  cumulative count (for example cumulative attacks on US forces) at the end of day ``t`` equals ``c``.
  Every row sums to R. Histograms merge exactly across chunks of replications by addition.

The functions here estimate probabilities from these arrays, attach binomial confidence intervals and Monte
Carlo standard errors, summarise the count distributions, and compare two arms of an experiment that used
common random numbers. Tables are returned as tidy :class:`pandas.DataFrame` objects (one row per estimate).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from escalation.ladder import Ladder

__all__ = [
    "NEVER",
    "count_summary",
    "draw_counts",
    "escalation_curves",
    "histogram_mean",
    "histogram_quantiles",
    "mc_standard_error",
    "paired_difference",
    "parameter_range",
    "parameter_variance",
    "proportion_interval",
    "spread_statistic",
    "threshold_probabilities",
    "uncertainty_split",
    "variance_drivers",
]

SPLIT_COLUMNS: tuple[str, ...] = (
    "design_effect",
    "draws",
    "parameter_sd",
    "parameter_lower",
    "parameter_upper",
    "parameter_share",
)
"""The columns a table gains when its replications come with their parameter draws (nested design)."""

NEVER: int = -1
"""Marker for an event that did not happen within the simulated horizon."""

_INTERVAL_METHODS: tuple[str, ...] = ("wilson", "jeffreys")


# --------------------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------------------


def _check_level(level: float) -> float:
    """Return ``level`` as a float after checking that it lies strictly between 0 and 1."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level: must be a number strictly between 0 and 1, got {level!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"level: must be a number strictly between 0 and 1, got {level!r}")
    return value


def _check_method(method: str) -> str:
    """Return ``method`` after checking that it names a supported interval."""
    if method not in _INTERVAL_METHODS:
        allowed = ", ".join(repr(m) for m in _INTERVAL_METHODS)
        raise ValueError(f"method: unknown interval method {method!r}; allowed: {allowed}")
    return method


def _whole_numbers(values: ArrayLike, argument: str) -> np.ndarray:
    """Return ``values`` as an int64 array after checking that every entry is a finite whole number."""
    array = np.asarray(values)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{argument}: must hold whole numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and (
        not np.all(np.isfinite(array)) or np.any(array != np.round(array))
    ):
        raise ValueError(f"{argument}: must hold finite whole numbers")
    return array.astype(np.int64)


def _check_day_array(values: ArrayLike, argument: str) -> np.ndarray:
    """Return a (R, columns) array of day indices after checking its shape and the NEVER convention."""
    array = _whole_numbers(values, argument)
    if array.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D array (replications, columns), got shape {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"{argument}: needs at least one replication (row), got shape {array.shape}")
    if array.size and array.min() < NEVER:
        raise ValueError(
            f"{argument}: entries must be day indices >= 0 or NEVER ({NEVER}), got {array.min()}"
        )
    return array


def _check_horizon(horizon: object, argument: str) -> int:
    """Return a horizon in days after checking that it is a whole number >= 1."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ValueError(f"{argument}: must be an integer number of days >= 1, got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"{argument}: must be an integer number of days >= 1, got {horizon!r}")
    return int(horizon)


def _check_histogram(count_histogram: ArrayLike) -> np.ndarray:
    """Return a (T, C) int64 histogram after checking shape, signs and equal row totals."""
    hist = _whole_numbers(count_histogram, "count_histogram")
    if hist.ndim != 2 or hist.shape[0] < 1 or hist.shape[1] < 1:
        raise ValueError(f"count_histogram: expected a non-empty 2-D array (days, counts), got {hist.shape}")
    if hist.min() < 0:
        raise ValueError("count_histogram: entries are numbers of replications and must be >= 0")
    totals = hist.sum(axis=1)
    if totals[0] < 1 or np.any(totals != totals[0]):
        raise ValueError(
            "count_histogram: every row must sum to the same positive number of replications, "
            f"got row totals from {totals.min()} to {totals.max()}"
        )
    return hist


def _check_quantile_levels(qs: ArrayLike) -> np.ndarray:
    """Return quantile levels as a 1-D float array after checking that they lie in [0, 1]."""
    levels = np.atleast_1d(np.asarray(qs, dtype=np.float64))
    if levels.ndim != 1 or levels.size < 1:
        raise ValueError(f"qs: expected a non-empty sequence of quantile levels, got shape {levels.shape}")
    if not np.all(np.isfinite(levels)) or levels.min() < 0.0 or levels.max() > 1.0:
        raise ValueError(f"qs: quantile levels must lie in [0, 1], got {levels.tolist()}")
    return levels


# --------------------------------------------------------------------------------------------------------
# Binomial proportions
# --------------------------------------------------------------------------------------------------------


def proportion_interval(
    k: ArrayLike, n: ArrayLike, level: float = 0.90, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided confidence interval for a binomial proportion ``k / n``.

    Vectorised: ``k`` and ``n`` are broadcast against each other and the bounds have the broadcast shape
    (0-d arrays for scalar inputs).

    * ``"wilson"``: the score interval of Wilson (1927), the set of ``p`` for which the score test of
      ``H0: p`` is not rejected at ``1 - level``. With ``z`` the ``(1 + level) / 2`` normal quantile,
      the bounds are ``(k + z²/2 ± z·sqrt(k(n-k)/n + z²/4)) / (n + z²)``.
    * ``"jeffreys"``: the equal-tailed ``level`` interval of the Beta(k + 1/2, n - k + 1/2) posterior
      under the Jeffreys prior, with the conventional endpoint fix of Brown, Cai & DasGupta (2001):
      the lower bound is 0 when ``k = 0`` and the upper bound is 1 when ``k = n``.

    Both intervals are recommended by Brown, Cai & DasGupta (2001) over the Wald interval, whose coverage
    collapses for proportions near 0 or 1 (the typical case for rare escalation outcomes). Neither interval
    guarantees nominal coverage at every ``(p, n)``: the coverage of both oscillates around ``level``
    because ``k`` is discrete.

    Args:
        k: numbers of successes, whole numbers with ``0 <= k <= n``.
        n: numbers of trials, whole numbers ``>= 1``.
        level: confidence level, strictly between 0 and 1.
        method: ``"wilson"`` or ``"jeffreys"``.

    Returns:
        ``(lower, upper)`` arrays of the broadcast shape of ``k`` and ``n``, within [0, 1].

    Raises:
        ValueError: if ``level`` is not in (0, 1), ``n < 1``, ``k < 0`` or ``k > n``, or ``method`` is
            unknown.

    References:
        Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
        Journal of the American Statistical Association, 22(158), 209-212.

        Brown, L. D., Cai, T. T., & DasGupta, A. (2001). Interval estimation for a binomial proportion.
        Statistical Science, 16(2), 101-133.
    """
    level = _check_level(level)
    method = _check_method(method)
    successes = _whole_numbers(k, "k")
    trials = _whole_numbers(n, "n")
    try:
        successes, trials = np.broadcast_arrays(successes, trials)
    except ValueError:
        raise ValueError(
            f"k, n: shapes {successes.shape} and {trials.shape} cannot be broadcast together"
        ) from None
    if trials.size and trials.min() < 1:
        raise ValueError(f"n: numbers of trials must be >= 1, got {trials.min()}")
    if successes.size and successes.min() < 0:
        raise ValueError(f"k: numbers of successes must be >= 0, got {successes.min()}")
    if np.any(successes > trials):
        raise ValueError("k: numbers of successes must satisfy k <= n")

    from scipy import stats  # imported on first use (docs/architecture.md, "Imports")

    k_f = successes.astype(np.float64)
    n_f = trials.astype(np.float64)
    alpha = 1.0 - level
    if method == "wilson":
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        z2 = z * z
        centre = (k_f + z2 / 2.0) / (n_f + z2)
        half_width = z / (n_f + z2) * np.sqrt(k_f * (n_f - k_f) / n_f + z2 / 4.0)
        lower = np.clip(centre - half_width, 0.0, 1.0)
        upper = np.clip(centre + half_width, 0.0, 1.0)
    else:
        a = k_f + 0.5
        b = n_f - k_f + 0.5
        lower = stats.beta.ppf(alpha / 2.0, a, b)
        upper = stats.beta.ppf(1.0 - alpha / 2.0, a, b)
    # Exact endpoints: the Wilson bounds are 0 and 1 there up to rounding; Jeffreys needs the fix.
    lower = np.where(successes == 0, 0.0, lower)
    upper = np.where(successes == trials, 1.0, upper)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def mc_standard_error(p: ArrayLike, n: ArrayLike) -> np.ndarray:
    """Monte Carlo standard error ``sqrt(p (1 - p) / n)`` of a proportion estimated from ``n`` replications.

    Args:
        p: estimated proportions in [0, 1].
        n: numbers of replications, ``>= 1``.

    Returns:
        Array of the broadcast shape of ``p`` and ``n``.

    Raises:
        ValueError: if a proportion lies outside [0, 1] or ``n < 1``.

    References:
        Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to evaluate
        statistical methods. Statistics in Medicine, 38(11), 2074-2102.
    """
    prop = np.asarray(p, dtype=np.float64)
    reps = np.asarray(n, dtype=np.float64)
    if np.any(~np.isfinite(prop)) or np.any(prop < 0.0) or np.any(prop > 1.0):
        raise ValueError("p: proportions must lie in [0, 1]")
    if np.any(~np.isfinite(reps)) or np.any(reps < 1.0):
        raise ValueError("n: numbers of replications must be >= 1")
    return np.asarray(np.sqrt(prop * (1.0 - prop) / reps), dtype=np.float64)


# --------------------------------------------------------------------------------------------------------
# Escalation probabilities
# --------------------------------------------------------------------------------------------------------


def escalation_curves(
    first_passage: ArrayLike,
    horizon_days: int | None = None,
    level: float = 0.90,
    method: str = "wilson",
    ladder: Ladder | None = None,
    draws: ArrayLike | None = None,
    fixed_parameters: bool = False,
) -> pd.DataFrame:
    """Probability that the crisis has reached each rung by each day, with confidence intervals.

    For every rung ``k >= 1`` and day ``t`` in ``0 .. horizon_days - 1`` the estimate is the fraction of
    replications with ``0 <= first_passage[r, k] <= t``. Rung 0 is reached on day 0 by definition and is
    left out. The cost is one :func:`numpy.bincount` and cumulative sum per rung, so ensembles of 10⁵
    replications over a year-long horizon take milliseconds.

    Because the highest rung reached so far can only rise, the curves are non-decreasing in day and
    non-increasing in rung; the input is checked for the matching ordering (a replication cannot reach rung
    ``k`` before rung ``k - 1``).

    Args:
        first_passage: (R, K) integer array of first-passage days, :data:`NEVER` (-1) for never.
        horizon_days: number of forecast days to report. Passages on or after this day are not counted.
            When None, the horizon is taken as one past the latest first-passage day in the data (at least
            1). That under-states the simulated horizon whenever the last days saw no new passages, so
            callers that know the simulated horizon should pass it.
        level: confidence level of the intervals, strictly between 0 and 1.
        method: interval method passed to :func:`proportion_interval` (``"wilson"`` or ``"jeffreys"``).
        ladder: supplies the display names of the rungs; the default :class:`~escalation.ladder.Ladder`
            when None.
        draws: (R,) the parameter draw of each replication (nested design). Given, the intervals and
            ``mcse`` are the simulation noise of :func:`uncertainty_split` and the table gains its
            parameter columns (:data:`SPLIT_COLUMNS`).
        fixed_parameters: every replication has the same parameter values (with ``draws``).

    Returns:
        Tidy frame with one row per (rung, day), sorted by rung then day, and columns ``rung`` (int),
        ``rung_name``, ``day``, ``probability``, ``lower``, ``upper``, ``mcse`` (Monte Carlo standard
        error) and ``replications`` (R), then the :data:`SPLIT_COLUMNS` when ``draws`` is given.

    Raises:
        ValueError: if ``first_passage`` is not a 2-D array of day indices or NEVER, has more rungs than
            the ladder, or reaches a rung before the rung below it; if ``horizon_days`` is not an integer
            ``>= 1``; or on a bad ``level`` or ``method``.
    """
    level = _check_level(level)
    method = _check_method(method)
    passage = _check_day_array(first_passage, "first_passage")
    ladder = Ladder() if ladder is None else ladder
    n_reps, n_rungs = passage.shape
    if n_rungs > len(ladder.names):
        raise ValueError(
            f"first_passage: has {n_rungs} rung columns but the ladder names only {len(ladder.names)} rungs"
        )
    # Replace NEVER by a day after any real one so that "reached later or never" compares as larger; one
    # pair of columns at a time, so that no (R, K) temporaries are made.
    later = np.iinfo(np.int64).max
    for k in range(1, n_rungs):
        below = np.where(passage[:, k - 1] == NEVER, later, passage[:, k - 1])
        if np.any(np.where(passage[:, k] == NEVER, later, passage[:, k]) < below):
            raise ValueError(
                "first_passage: a replication reaches a rung before the rung below it; "
                "columns must be rungs 0..K-1 and first-passage days non-decreasing across them"
            )
    if horizon_days is None:
        horizon = max(int(passage.max()) + 1, 1) if passage.size else 1
    else:
        horizon = _check_horizon(horizon_days, "horizon_days")

    rungs = np.arange(1, n_rungs, dtype=np.int64)
    reached = np.empty((rungs.size, horizon), dtype=np.int64)
    for row, rung in enumerate(rungs):
        days = passage[:, rung]
        days = days[(days >= 0) & (days < horizon)]
        reached[row] = np.cumsum(np.bincount(days, minlength=horizon))

    probability = reached / n_reps
    lower, upper = proportion_interval(reached, n_reps, level=level, method=method)
    names = np.array([ladder.name(int(rung)) for rung in rungs], dtype=object)
    frame = pd.DataFrame(
        {
            "rung": np.repeat(rungs, horizon),
            "rung_name": np.repeat(names, horizon),
            "day": np.tile(np.arange(horizon, dtype=np.int64), rungs.size),
            "probability": probability.ravel(),
            "lower": lower.ravel(),
            "upper": upper.ravel(),
            "mcse": mc_standard_error(probability, n_reps).ravel(),
            "replications": np.full(rungs.size * horizon, n_reps, dtype=np.int64),
        }
    )
    if draws is None:
        return frame
    groups = _check_draws(draws, n_reps)
    n_groups = int(groups.max()) + 1
    sizes = np.bincount(groups, minlength=n_groups)
    # The (draws, days) tables of successes are built a block of days at a time (about BLOCK_CELLS cells),
    # so their memory does not grow with draws x horizon; each block's numbers are those of the whole table
    # (the interval rule shared by all days is decided over all of them first). Blocks have two days or
    # more: NumPy sums one column pairwise but several row by row, which would round one-day blocks apart.
    blocks_of = max(1, horizon // max(2, BLOCK_CELLS // n_groups))
    bounds = [horizon * b // blocks_of for b in range(blocks_of + 1)]
    parts = []
    for rung in rungs:
        days = passage[:, rung]
        kept = (days >= 0) & (days < horizon)
        rung_groups, rung_days = groups[kept], days[kept]

        def blocks(rung_groups=rung_groups, rung_days=rung_days):
            before = np.zeros(n_groups, dtype=np.int64)
            for start, stop in itertools.pairwise(bounds):
                block = _cumulative_by_draw(rung_groups, rung_days, n_groups, start, stop, before)
                before = block[:, -1]
                yield block

        effects = np.concatenate([design_effects(block, sizes, fixed=fixed_parameters) for block in blocks()])
        by_counts = bool(np.all(effects == 1.0))
        split = [
            uncertainty_split(block, sizes, level, method, fixed=fixed_parameters, count_intervals=by_counts)
            for block in blocks()
        ]
        parts.append({k: np.concatenate([part[k] for part in split]) for k in split[0]})
    return _with_split(frame, {k: np.concatenate([part[k] for part in parts]) for k in parts[0]})


BLOCK_CELLS: int = 2**21
"""Cells (draws x days) of the per-draw success tables :func:`escalation_curves` builds at once (16 MB)."""


def _cumulative_by_draw(
    groups: np.ndarray, days: np.ndarray, n_groups: int, start: int, stop: int, before: np.ndarray
) -> np.ndarray:
    """(draws, stop - start) replications of each draw with an event on or before each day of start..stop-1.

    ``groups``/``days``: the draw and day of each event; ``before``: each draw's events before ``start``.
    """
    inside = (days >= start) & (days < stop)
    span = stop - start
    cells = np.bincount(groups[inside] * span + (days[inside] - start), minlength=n_groups * span)
    table = np.cumsum(cells.reshape(n_groups, span), axis=1)
    table += before[:, None]
    return table


def _check_draws(draws: ArrayLike, replications: int) -> np.ndarray:
    groups = _whole_numbers(draws, "draws")
    if groups.shape != (replications,):
        raise ValueError(f"draws: expected one draw per replication ({replications}), got {groups.shape}")
    if groups.min() < 0:
        raise ValueError("draws: draw numbers must be >= 0")
    return groups


def _with_split(frame: pd.DataFrame, split: dict[str, np.ndarray]) -> pd.DataFrame:
    """The table with the nested design's simulation-noise interval and its parameter columns."""
    for column in ("lower", "upper", "mcse"):
        frame[column] = split[column]
    for column in SPLIT_COLUMNS:
        frame[column] = split[column]
    return frame


def threshold_probabilities(
    threshold_days: ArrayLike,
    names: Sequence[str],
    horizons: Sequence[int],
    level: float = 0.90,
    method: str = "wilson",
    draws: ArrayLike | None = None,
    fixed_parameters: bool = False,
) -> pd.DataFrame:
    """Probability that each named threshold event happens within each horizon, with confidence intervals.

    An event counts as happening within horizon ``h`` when its first day ``d`` satisfies ``0 <= d < h``
    (day indices are 0-based, so a 30-day horizon covers days 0..29); :data:`NEVER` never counts.

    Args:
        threshold_days: (R, M) integer array of first days, :data:`NEVER` (-1) for never.
        names: M distinct display names, one per column of ``threshold_days``.
        horizons: horizons in days, each an integer ``>= 1``.
        level: confidence level of the intervals, strictly between 0 and 1.
        method: interval method passed to :func:`proportion_interval` (``"wilson"`` or ``"jeffreys"``).
        draws: (R,) the parameter draw of each replication (nested design); see :func:`escalation_curves`.
        fixed_parameters: every replication has the same parameter values (with ``draws``).

    Returns:
        Tidy frame with one row per (threshold, horizon), thresholds in column order and horizons in the
        given order, and columns ``threshold``, ``horizon_days``, ``probability``, ``lower``, ``upper``,
        ``mcse`` and ``replications``, then the :data:`SPLIT_COLUMNS` when ``draws`` is given.

    Raises:
        ValueError: if ``threshold_days`` is not a 2-D array of day indices or NEVER, ``names`` does not
            give one distinct name per column, a horizon is not an integer ``>= 1``, or on a bad ``level``
            or ``method``.
    """
    level = _check_level(level)
    method = _check_method(method)
    days = _check_day_array(threshold_days, "threshold_days")
    n_reps, n_thresholds = days.shape
    labels = [str(name) for name in ([names] if isinstance(names, str) else names)]
    if len(labels) != n_thresholds:
        raise ValueError(
            f"names: expected {n_thresholds} names (one per threshold column), got {len(labels)}"
        )
    if len(set(labels)) != len(labels):
        raise ValueError("names: threshold names must be distinct")
    horizon_list = [_check_horizon(h, "horizons") for h in np.atleast_1d(np.asarray(horizons, dtype=object))]
    if not horizon_list:
        raise ValueError("horizons: expected at least one horizon in days")
    horizon_arr = np.asarray(horizon_list, dtype=np.int64)

    # counts[m, j] = number of replications whose threshold m happened on a day < horizon j: one sort per
    # threshold, so the cost does not grow with the number of horizons.
    counts = np.empty((n_thresholds, horizon_arr.size), dtype=np.int64)
    for m in range(n_thresholds):
        column = days[:, m]
        happened = np.sort(column[column >= 0])
        counts[m] = np.searchsorted(happened, horizon_arr, side="left")
    probability = counts / n_reps
    lower, upper = proportion_interval(counts, n_reps, level=level, method=method)
    frame = pd.DataFrame(
        {
            "threshold": np.repeat(np.array(labels, dtype=object), horizon_arr.size),
            "horizon_days": np.tile(horizon_arr, n_thresholds),
            "probability": probability.ravel(),
            "lower": lower.ravel(),
            "upper": upper.ravel(),
            "mcse": mc_standard_error(probability, n_reps).ravel(),
            "replications": np.full(n_thresholds * horizon_arr.size, n_reps, dtype=np.int64),
        }
    )
    if draws is None:
        return frame
    groups = _check_draws(draws, n_reps)
    happened = (days[:, :, None] >= 0) & (days[:, :, None] < horizon_arr[None, None, :])
    successes, sizes = draw_counts(happened.reshape(n_reps, -1), groups)
    return _with_split(frame, uncertainty_split(successes, sizes, level, method, fixed=fixed_parameters))


# --------------------------------------------------------------------------------------------------------
# Count distributions
# --------------------------------------------------------------------------------------------------------


def histogram_mean(count_histogram: ArrayLike) -> np.ndarray:
    """Mean count per day from a (T, C) histogram over replications.

    Args:
        count_histogram: (T, C) array; entry ``[t, c]`` is the number of replications whose count at the
            end of day ``t`` equals ``c``. Every row sums to the number of replications.

    Returns:
        (T,) float array of daily means.

    Raises:
        ValueError: if the histogram is not a non-empty 2-D array of non-negative whole numbers with equal,
            positive row totals.
    """
    hist = _check_histogram(count_histogram)
    values = np.arange(hist.shape[1], dtype=np.int64)
    # Integer numerator: the mean is exact up to the one final division.
    return (hist @ values) / hist.sum(axis=1)


def histogram_quantiles(count_histogram: ArrayLike, qs: ArrayLike) -> np.ndarray:
    """Exact quantiles per day of the discrete count distribution held in a (T, C) histogram.

    The ``q`` quantile is the smallest count ``c`` with ``CDF(c) >= q`` (the inverse of the empirical
    distribution function, definition 1 of Hyndman & Fan 1996), which for ``q = 0`` is the smallest count
    observed. The result equals ``np.quantile(samples, q, method="inverted_cdf")`` on the replications the
    histogram was built from; the comparison is made on integer cumulative counts, as NumPy does, so the
    two agree exactly.

    Args:
        count_histogram: (T, C) array; entry ``[t, c]`` is the number of replications whose count at the
            end of day ``t`` equals ``c``. Every row sums to the number of replications.
        qs: quantile levels in [0, 1].

    Returns:
        (T, len(qs)) int64 array of counts.

    Raises:
        ValueError: on a malformed histogram (see :func:`histogram_mean`) or a level outside [0, 1].

    References:
        Hyndman, R. J., & Fan, Y. (1996). Sample quantiles in statistical packages. The American
        Statistician, 50(4), 361-365.
    """
    hist = _check_histogram(count_histogram)
    levels = _check_quantile_levels(qs)
    cumulative = np.cumsum(hist, axis=1)
    totals = cumulative[:, -1]
    # The q quantile is the order statistic of rank ceil(R q), at least rank 1; a count c is at or above
    # it exactly when the number of replications with count <= c reaches that rank.
    ranks = np.maximum(np.ceil(totals[:, None] * levels[None, :]), 1).astype(np.int64)
    out = np.empty((hist.shape[0], levels.size), dtype=np.int64)
    for j in range(levels.size):
        out[:, j] = np.argmax(cumulative >= ranks[:, j : j + 1], axis=1)
    return out


def count_summary(
    count_histogram: ArrayLike, qs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
) -> pd.DataFrame:
    """Daily summary (mean and quantiles) of a cumulative count held as a (T, C) histogram.

    Args:
        count_histogram: (T, C) array; entry ``[t, c]`` is the number of replications whose count at the
            end of day ``t`` equals ``c``. Every row sums to the number of replications.
        qs: quantile levels in [0, 1]; see :func:`histogram_quantiles` for the definition used.

    Returns:
        Tidy frame with one row per day and columns ``day``, ``mean`` and one column per level named
        ``f"q{round(q * 100):02d}"`` (``q05``, ``q25``, ``q50``, ...).

    Raises:
        ValueError: on a malformed histogram, a level outside [0, 1], or levels whose column names would
            coincide (for example 0.051 and 0.049 both give ``q05``).
    """
    levels = _check_quantile_levels(qs)
    columns = [f"q{round(float(q) * 100):02d}" for q in levels]
    if len(set(columns)) != len(columns):
        raise ValueError(f"qs: levels {levels.tolist()} give repeated column names {columns}")
    means = histogram_mean(count_histogram)
    quantiles = histogram_quantiles(count_histogram, levels)
    frame = pd.DataFrame({"day": np.arange(means.size, dtype=np.int64), "mean": means})
    for j, column in enumerate(columns):
        frame[column] = quantiles[:, j]
    return frame


# --------------------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------------------


def paired_difference(
    a: ArrayLike, b: ArrayLike, level: float = 0.90, groups: ArrayLike | None = None
) -> dict[str, float | int]:
    """Difference in outcome probability between two arms run with common random numbers.

    With common random numbers, replication ``r`` of both arms uses the same seed, so ``a[r]`` and
    ``b[r]`` are positively correlated and the difference is estimated from the per-replication
    differences ``d[r] = a[r] - b[r]``: the standard error is ``sd(d) / sqrt(R)`` (sample standard
    deviation with ``R - 1`` degrees of freedom), which is smaller than the independent-arms standard
    error whenever the correlation is positive. The interval is the normal approximation
    ``difference ± z · se``, clipped to [-1, 1]. When every ``d[r]`` is equal the standard error is 0 and
    the interval collapses to a point; the normal approximation is then uninformative, not exact.

    With ``groups`` (the parameter draw of each replication, in a nested design) the replications of a
    group are correlated through their shared parameters, and the standard error is the cluster one:
    ``sqrt(G / (G - 1) * sum_g (S_g - n_g * mean(d))^2) / R`` over the G groups' sums ``S_g``; with one
    replication per group it equals ``sd(d) / sqrt(R)``.

    Args:
        a: (R,) boolean outcomes under the first arm (integers 0/1 are accepted).
        b: (R,) boolean outcomes under the second arm, replication-aligned with ``a``.
        level: confidence level of the interval, strictly between 0 and 1.
        groups: (R,) the group (parameter draw) of each replication, or None: every replication its own.

    Returns:
        Dictionary with ``difference`` (``mean(a) - mean(b)``), ``standard_error``, ``lower``, ``upper``,
        ``level`` and ``replications`` (R).

    Raises:
        ValueError: if ``a`` or ``b`` is not 1-D boolean (or 0/1), their shapes differ, there are fewer
            than 2 replications, or ``level`` is not in (0, 1).

    References:
        Glasserman, P., & Yao, D. D. (1992). Some guidelines and guarantees for common random numbers.
        Management Science, 38(6), 884-908.
    """
    level = _check_level(level)
    arms = []
    for argument, values in (("a", a), ("b", b)):
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(
                f"{argument}: expected a 1-D array of per-replication outcomes, got {array.shape}"
            )
        if array.dtype != np.bool_ and (
            not np.issubdtype(array.dtype, np.number) or not np.all((array == 0) | (array == 1))
        ):
            raise ValueError(f"{argument}: outcomes must be boolean (True/False or 0/1)")
        arms.append(array.astype(np.int64))
    first, second = arms
    if first.shape != second.shape:
        raise ValueError(
            f"a, b: must have the same number of replications, got {first.size} and {second.size}"
        )
    n_reps = first.size
    if n_reps < 2:
        raise ValueError(f"a, b: need at least 2 replications for a standard error, got {n_reps}")

    diffs = first - second
    difference = float(diffs.sum()) / n_reps
    if groups is None:
        standard_error = float(np.std(diffs, ddof=1)) / np.sqrt(n_reps)
    else:
        labels = np.asarray(groups)
        if labels.shape != diffs.shape:
            raise ValueError(f"groups: expected one group per replication ({n_reps}), got {labels.shape}")
        _, index = np.unique(labels, return_inverse=True)
        sums = np.bincount(index, weights=diffs.astype(float))
        sizes = np.bincount(index)
        n_groups = sums.size
        if n_groups < 2:
            raise ValueError("groups: need at least 2 groups for a standard error")
        residual = sums - sizes * difference
        standard_error = float(np.sqrt(n_groups / (n_groups - 1) * np.sum(residual**2))) / n_reps
    from scipy import stats

    z = stats.norm.ppf(1.0 - (1.0 - level) / 2.0)
    return {
        "difference": difference,
        "standard_error": float(standard_error),
        "lower": float(max(difference - z * standard_error, -1.0)),
        "upper": float(min(difference + z * standard_error, 1.0)),
        "level": level,
        "replications": int(n_reps),
    }


# --------------------------------------------------------------------------------------------------------
# Simulation noise and parameter uncertainty (nested design)
# --------------------------------------------------------------------------------------------------------


def draw_counts(happened: ArrayLike, draws: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per parameter draw: how many of its replications saw each outcome, and how many replications it has.

    Args:
        happened: (R,) or (R, J) booleans (or 0/1), one row per replication.
        draws: (R,) the parameter draw of each replication, whole numbers ``0 .. M-1``; replications with
            the same draw share their parameter values.

    Returns:
        ``(successes, sizes)``: (M, J) counts and (M,) replications per draw.
    """
    outcome = np.asarray(happened)
    outcome = outcome.reshape(outcome.shape[0], -1).astype(np.int64)
    groups = _whole_numbers(draws, "draws")
    if groups.shape != (outcome.shape[0],):
        raise ValueError(f"draws: expected one draw per replication ({outcome.shape[0]}), got {groups.shape}")
    if groups.size and groups.min() < 0:
        raise ValueError("draws: draw numbers must be >= 0")
    n_draws = int(groups.max()) + 1 if groups.size else 0
    sizes = np.bincount(groups, minlength=n_draws)
    successes = np.zeros((n_draws, outcome.shape[1]), dtype=np.int64)
    np.add.at(successes, groups, outcome)
    return successes, sizes


def _interval_of(p: np.ndarray, n: np.ndarray, level: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Wilson or Jeffreys bounds for a proportion ``p`` seen in ``n`` (possibly fractional) trials."""
    from scipy import stats

    k = p * n
    alpha = 1.0 - level
    if method == "wilson":
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        z2 = z * z
        centre = (k + z2 / 2.0) / (n + z2)
        half = z / (n + z2) * np.sqrt(np.maximum(k * (n - k) / n, 0.0) + z2 / 4.0)
        lower, upper = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    else:
        lower = stats.beta.ppf(alpha / 2.0, k + 0.5, n - k + 0.5)
        upper = stats.beta.ppf(1.0 - alpha / 2.0, k + 0.5, n - k + 0.5)
    return np.where(p <= 0.0, 0.0, lower), np.where(p >= 1.0, 1.0, upper)


def uncertainty_split(
    successes: ArrayLike,
    sizes: ArrayLike,
    level: float = 0.90,
    method: str = "wilson",
    *,
    fixed: bool = False,
    count_intervals: bool | None = None,
) -> dict[str, np.ndarray]:
    """Split the uncertainty of probabilities estimated by a nested design: simulation noise and parameters.

    Replications come in M groups, each sharing one parameter draw ``theta_m``; ``p(theta)`` is the
    probability of the outcome given the parameters. The headline is ``P = E[p(theta)]``, estimated by the
    share of all N replications that saw the outcome (unbiased whatever the group sizes). By the law of
    total variance, the variance of one replication's outcome, ``P (1 - P)``, is the within-draw part
    ``E[p (1 - p)]`` plus the parameter part ``Var[p(theta)]``. They are estimated by the one-way random-
    effects analysis of variance (unbalanced groups; Searle, Casella & McCulloch 1992, ch. 3): the within
    mean square ``MSW`` is unbiased for the within part, and ``(MSB - MSW) / n0`` for the parameter part,
    where the binomial noise of each group's share (``MSW / n``) is subtracted from the spread between
    groups. A spread is reported only when the groups' shares vary more than binomial noise would make them
    (:func:`spread_statistic` above :data:`SPREAD_TEST_LEVEL`'s normal quantile); otherwise the parameter
    part is taken as zero, so pure simulation noise is never read as parameter uncertainty.

    * **Simulation noise** (``lower``, ``upper``, ``mcse``): how far the estimate of P could move with another
      seed. Its standard error is the cluster (between-group) one, which counts the finite number of draws;
      the interval is the Wilson (or Jeffreys) interval at the effective number of replications
      ``N / design_effect`` (Korn & Graubard 1998). The design effect is taken as at least 1 (the groups' true
      intra-class correlation cannot be negative); with groups of one replication, or fixed parameters, it
      is 1 and the interval is exactly :func:`proportion_interval` on the counts.
    * **Parameter uncertainty** (``parameter_sd``, ``parameter_lower``, ``parameter_upper``): the spread of
      ``p(theta)`` across plausible parameter values. ``parameter_sd`` is the square root of the variance
      component. The bounds are the ``level`` interval of the beta distribution with mean P and that
      variance (:func:`parameter_range`: a beta-binomial fitted by the method of moments), an assumption
      about the shape of the spread that keeps the bounds inside [0, 1] and unbiased for a rare event, where
      most groups see no success at all. ``parameter_share`` is the parameter part's fraction of
      ``P (1 - P)``.

    Args:
        successes: (M,) or (M, J) numbers of replications of each group that saw each outcome.
        sizes: (M,) replications per group (>= 1).
        level: level of both intervals.
        method: ``"wilson"`` or ``"jeffreys"`` (the simulation-noise interval).
        fixed: every replication has the same parameter values: the parameter spread is exactly zero and the
            replications are independent whatever the groups.
        count_intervals: take the simulation-noise intervals from the counts (:func:`proportion_interval`),
            as is done when every column's design effect is 1, or at the effective numbers of replications.
            None: decided from these columns. Every other output is column by column, so a caller that
            passes a table's columns in blocks, with this decided over the whole table, gets exactly the
            numbers of one call (:func:`escalation_curves` does, to bound its memory).

    Returns:
        Arrays of shape (J,): ``probability``, ``lower``, ``upper``, ``mcse``, ``design_effect``,
        ``parameter_sd``, ``parameter_lower``, ``parameter_upper``, ``parameter_share``, and ``draws`` (M).
        Without at least two groups and one group of two or more replications the parameter part cannot
        be estimated: its entries are NaN (unless ``fixed``). A spread not distinguishable from simulation
        noise gives ``parameter_sd`` and ``parameter_share`` 0 and both bounds P.

    References:
        Searle, S. R., Casella, G., & McCulloch, C. E. (1992). Variance Components. Wiley.

        Korn, E. L., & Graubard, B. I. (1998). Confidence intervals for proportions with small expected number
        of positive counts estimated from survey data. Survey Methodology, 24(2), 193-201.

        Tarone, R. E. (1979). Testing the goodness of fit of the binomial distribution. Biometrika, 66(3),
        585-590.
    """
    level = _check_level(level)
    method = _check_method(method)
    counts = _whole_numbers(successes, "successes")
    counts = counts.reshape(counts.shape[0], -1)
    n_m = _whole_numbers(sizes, "sizes")
    if n_m.shape != (counts.shape[0],) or n_m.size < 1 or n_m.min() < 1:
        raise ValueError(f"sizes: expected {counts.shape[0]} group sizes >= 1, got {n_m.tolist()[:5]}...")
    if counts.min(initial=0) < 0 or np.any(counts > n_m[:, None]):
        raise ValueError("successes: must satisfy 0 <= successes <= sizes")
    n_groups, total = n_m.size, int(n_m.sum())
    p = counts.sum(axis=0) / total
    binomial = p * (1.0 - p) / total
    design_effect = _design_effect(counts, n_m, p, binomial, fixed)
    if count_intervals is None:
        count_intervals = bool(np.all(design_effect == 1.0))
    if count_intervals:
        lower, upper = proportion_interval(counts.sum(axis=0), total, level=level, method=method)
    else:
        lower, upper = _interval_of(p, total / design_effect, level, method)
    out = {
        "probability": p,
        "lower": lower,
        "upper": upper,
        "mcse": np.sqrt(binomial * design_effect),
        "design_effect": design_effect,
        "draws": np.full(p.shape, n_groups, dtype=np.int64),
    }
    if fixed:
        zeros = np.zeros_like(p)
        return out | {
            "parameter_sd": zeros,
            "parameter_lower": p,
            "parameter_upper": p,
            "parameter_share": zeros,
        }
    variance = parameter_variance(counts, n_m)
    out["parameter_sd"] = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["parameter_share"] = np.where(p * (1 - p) > 0, variance / (p * (1 - p)), 0.0)
    out["parameter_lower"], out["parameter_upper"] = parameter_range(p, variance, level)
    return out


def design_effects(successes: ArrayLike, sizes: ArrayLike, *, fixed: bool = False) -> np.ndarray:
    """(J,) each column's design effect (at least 1) of grouped outcomes, as in :func:`uncertainty_split`."""
    counts = _whole_numbers(successes, "successes")
    counts = counts.reshape(counts.shape[0], -1)
    n_m = _whole_numbers(sizes, "sizes")
    total = int(n_m.sum())
    p = counts.sum(axis=0) / total
    return _design_effect(counts, n_m, p, p * (1.0 - p) / total, fixed)


def _design_effect(
    counts: np.ndarray, n_m: np.ndarray, p: np.ndarray, binomial: np.ndarray, fixed: bool
) -> np.ndarray:
    """The cluster variance of the shares over their binomial variance, at least 1 (1 when undefined)."""
    n_groups, total = n_m.size, int(n_m.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        if fixed or n_groups < 2 or n_m.max() == 1:
            return np.ones_like(p)
        n_f = n_m[:, None].astype(np.float64)
        cluster = n_groups / (n_groups - 1) * np.sum((counts - p * n_f) ** 2, axis=0) / total**2
        return np.where(binomial > 0, np.maximum(cluster / binomial, 1.0), 1.0)


def _mean_squares(counts: np.ndarray, n_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Within and between mean squares of grouped 0/1 outcomes, and the ANOVA's ``n0`` (NaN if undefined)."""
    n_groups, total = n_m.size, float(n_m.sum())
    n_f = n_m[:, None].astype(np.float64)
    if n_groups < 2 or total - n_groups < 1:
        nan = np.full(counts.shape[1], np.nan)
        return nan, nan, np.nan
    p = counts.sum(axis=0) / total
    p_m = counts / n_f
    within = np.sum(counts * (1.0 - p_m), axis=0) / (total - n_groups)
    between = np.sum(n_f * (p_m - p) ** 2, axis=0) / (n_groups - 1)
    n0 = (total - float(np.sum(n_m.astype(np.float64) ** 2)) / total) / (n_groups - 1)
    return within, between, n0


SPREAD_TEST_LEVEL: float = 0.99
"""A parameter spread is reported when :func:`spread_statistic` exceeds this level's normal quantile
(one-sided: with no spread at all, about 1% of headlines report one)."""


def spread_statistic(successes: ArrayLike, sizes: ArrayLike) -> np.ndarray:
    """Tarone's z statistic: do the groups' shares vary more than binomial noise alone would make them?

    ``z = (sum_m (x_m - n_m P)^2 / (P (1 - P)) - N) / sqrt(2 sum_m n_m (n_m - 1))`` for ``x_m`` successes in
    group ``m`` of ``n_m`` replications (N in all, overall share P). It is the score test of a beta-binomial
    spread against none, and its null variance is exact for binomial counts, however rare the outcome (the
    F ratio ``MSB / MSW`` is not: with ten replications per group and P = 0.07 its spread under no parameter
    uncertainty is about 1.5 times the F distribution's). Under no spread it is close to standard normal.

    Returns:
        (J,) the statistic; NaN where it is undefined (P of 0 or 1, or no group of two or more).

    References:
        Tarone, R. E. (1979). Testing the goodness of fit of the binomial distribution. Biometrika, 66(3),
        585-590.
    """
    counts = np.asarray(successes, dtype=np.int64)
    counts = counts.reshape(counts.shape[0], -1)
    n_m = np.asarray(sizes, dtype=np.int64)
    n_f = n_m[:, None].astype(np.float64)
    total = float(n_m.sum())
    p = counts.sum(axis=0) / total
    pairs = 2.0 * float(np.sum(n_f * (n_f - 1.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.sum((counts - n_f * p) ** 2, axis=0) / (p * (1.0 - p)) - total) / np.sqrt(pairs)
    return np.where((p > 0) & (p < 1) & (pairs > 0), z, np.nan)


def parameter_variance(successes: ArrayLike, sizes: ArrayLike) -> np.ndarray:
    """``Var[p(theta)]`` across parameter draws, from grouped 0/1 outcomes (ANOVA estimator, at least 0).

    See :func:`uncertainty_split`. Zero where the spread between groups is not distinguishable from binomial
    noise (:func:`spread_statistic` at most the normal quantile of :data:`SPREAD_TEST_LEVEL`); NaN where it
    cannot be estimated (fewer than two groups, or no group of two or more replications).
    """
    from scipy import stats

    counts = np.asarray(successes, dtype=np.int64)
    counts = counts.reshape(counts.shape[0], -1)
    n_m = np.asarray(sizes, dtype=np.int64)
    within, between, n0 = _mean_squares(counts, n_m)
    variance = np.maximum((between - within) / n0, 0.0)
    detected = spread_statistic(counts, n_m) > stats.norm.ppf(SPREAD_TEST_LEVEL)
    return np.where(np.isnan(variance), np.nan, np.where(detected, variance, 0.0))


def parameter_range(
    probability: ArrayLike, variance: ArrayLike, level: float = 0.90
) -> tuple[np.ndarray, ...]:
    """The central ``level`` interval of a beta distribution with the given mean and variance.

    The per-draw probability ``p(theta)`` is taken as beta distributed with mean P and the variance component
    (the beta-binomial model fitted by the method of moments): ``a + b = P (1 - P) / var - 1``, ``a = P (a +
    b)``. The shape is an assumption; it keeps the bounds in [0, 1] and, unlike quantiles of the groups' own
    shares, does not put the lower bound of a rare event where most groups saw no success. A variance of 0
    gives both bounds P; a variance of ``P (1 - P)`` or more (all of the spread between draws) gives 0 and 1.

    Args:
        probability: P, in [0, 1].
        variance: ``Var[p(theta)]`` (NaN gives NaN bounds).
        level: the interval's level.

    Returns:
        ``(lower, upper)``.

    References:
        Skellam, J. G. (1948). A probability distribution derived from the binomial distribution by regarding
        the probability of success as variable between the sets of trials. Journal of the Royal Statistical
        Society B, 10(2), 257-261.
    """
    from scipy import stats

    level = _check_level(level)
    p = np.asarray(probability, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    p, var = np.broadcast_arrays(p, var)
    spread = p * (1.0 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a + b, kept above a tiny floor: a variance at (or above) P (1 - P) is the two-point limit.
        strength = np.maximum(spread / var - 1.0, 1e-9)
        a, b = p * strength, (1.0 - p) * strength
        tails = ((1 - level) / 2, (1 + level) / 2)
        lower, upper = (
            stats.beta.ppf(t, np.where(var > 0, a, 1.0), np.where(var > 0, b, 1.0)) for t in tails
        )
    degenerate = (var <= 0) | (spread <= 0)
    lower = np.where(degenerate, p, lower)
    upper = np.where(degenerate, p, upper)
    missing = np.isnan(var) | np.isnan(p)
    return np.where(missing, np.nan, lower), np.where(missing, np.nan, upper)


def _discoveries(p_values: np.ndarray, rate: float) -> np.ndarray:
    """The Benjamini-Hochberg discoveries among ``p_values`` at false discovery rate ``rate``."""
    m = p_values.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p_values, kind="stable")
    passed = np.flatnonzero(p_values[order] <= rate * np.arange(1, m + 1) / m)
    detected = np.zeros(m, dtype=bool)
    if passed.size:
        detected[order[: passed[-1] + 1]] = True
    return detected


def variance_drivers(
    draw_probability: ArrayLike,
    draw_parameters: ArrayLike,
    names: Sequence[str],
    parameter_variance_estimate: float,
    bins: int = 10,
) -> pd.DataFrame:
    """Which parameters explain the spread of a probability across parameter draws (first-order shares).

    For each parameter, the draws are split into ``bins`` groups of equal size by the parameter's value, and
    the spread of the per-draw probability between those groups is taken as the part of its variance that
    the parameter explains alone (the correlation ratio; Pearson 1905). The between-group spread that the
    noise of the bin means would give by itself is subtracted (Kelley's 1935 bias correction of the
    correlation ratio), and the result is divided by the estimated parameter variance of the probability,
    so a share reads as "the fraction of the parameter spread due to this parameter alone". Shares are
    clipped to [0, 1] and need not sum to one (interactions, and the noise left in a few draws).

    With few draws and many parameters, noise alone gives some inert parameter a visible share. Each share
    therefore comes with the p-value of the one-way analysis-of-variance F test of its bins (between-bin
    over within-bin mean square, F(bins - 1, M - bins) when the parameter does nothing; Fisher 1925), and
    ``detected`` marks the parameters whose test rejects at a false discovery rate of 5% over all of them
    (Benjamini and Hochberg 1995): only those should be named as drivers.

    Args:
        draw_probability: (M,) the probability's share of replications in each draw.
        draw_parameters: (M, P) each draw's parameter values.
        names: P parameter names.
        parameter_variance_estimate: ``Var[p(theta)]`` (:func:`parameter_variance`).
        bins: number of quantile bins (at most M / 2).

    Returns:
        Frame with columns ``parameter``, ``share``, ``p_value`` and ``detected``, largest share first.

    References:
        Pearson, K. (1905). On the general theory of skew correlation and non-linear regression. Drapers'
        Company Research Memoirs, Biometric Series II.

        Kelley, T. L. (1935). An unbiased correlation ratio measure. PNAS, 21(9), 554-559.

        Fisher, R. A. (1925). Statistical Methods for Research Workers. Oliver and Boyd.

        Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B, 57(1), 289-300.
    """
    import scipy.stats

    y = np.asarray(draw_probability, dtype=np.float64)
    x = np.asarray(draw_parameters, dtype=np.float64).reshape(y.size, -1)
    labels = [str(n) for n in names]
    if x.shape[1] != len(labels):
        raise ValueError(f"names: expected {x.shape[1]} names, got {len(labels)}")
    bins = int(min(bins, y.size // 2))
    shares = np.zeros(len(labels))
    p_values = np.ones(len(labels))
    total = float(np.sum((y - y.mean()) ** 2))
    if bins >= 2 and total > 0 and parameter_variance_estimate > 0:
        for j in range(x.shape[1]):
            order = np.argsort(x[:, j], kind="stable")
            groups = np.empty(y.size, dtype=np.int64)
            groups[order] = np.arange(y.size) * bins // y.size
            sums = np.bincount(groups, weights=y, minlength=bins)
            counts = np.bincount(groups, minlength=bins)
            between = float(np.sum(sums**2 / counts) - y.sum() ** 2 / y.size)
            within = (total - between) / (y.size - bins)
            explained = max(between - (bins - 1) * within, 0.0) / y.size
            shares[j] = min(explained / parameter_variance_estimate, 1.0)
            if within > 0:
                p_values[j] = float(
                    scipy.stats.f.sf(between / ((bins - 1) * within), bins - 1, y.size - bins)
                )
            elif between > 0:
                p_values[j] = 0.0
    frame = pd.DataFrame(
        {"parameter": labels, "share": shares, "p_value": p_values, "detected": _discoveries(p_values, 0.05)}
    )
    return frame.sort_values("share", ascending=False, kind="stable", ignore_index=True)
