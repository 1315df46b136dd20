"""Fitting one attack dyad: posterior mode, importance-corrected Laplace draws, a rescaling check.

Where an event file has dated attacks over a period it covers completely (ACLED-style exports), the attack
process of a dyad can be fitted with the model's own likelihood. Given the target's strikes on the attacker,
the model's daily attack count is Poisson with intensity

    lambda_t = (mu * s_t + alpha * P_t) * exp(-delta * D_t),
    P_t = sum_{u < t} exp(-(t - 1 - u) / tau_p) * harm_u,
    D_t = sum_{u < t} exp(-(t - 1 - u) / tau_d) * strikes_u

(docs/model.md, "attack intensity"; s_t the drivers' base-rate multiplier). Days observed exactly contribute
the Poisson probability of their count; interval counts contribute the Poisson probability of the interval's
total (or of at least that many, for a lower bound), so exact and interval-censored data share one
likelihood.

The parameters (mu, alpha, delta, tau_p, tau_d) are fitted on the log scale at the posterior mode, with the
scenario's priors as the prior (a weak penalty where the data speak, the whole answer where they do not).
The Laplace approximation (a Gaussian at the mode with the inverse Hessian as covariance, on the log scale),
widened, is the proposal of an importance sampler: draws are weighted by the exact posterior density and
resampled, which corrects the Gaussian where the posterior is skewed (a weakly identified weight with mass
near zero); the effective sample size is reported. The resampled draws go into the calibration artefact.

The fit is checked by time rescaling in discrete time: the randomised PIT of each exactly observed day's
count under the fitted intensity is uniform on [0, 1] if the model is right, which a Kolmogorov-Smirnov test
assesses.

References:
    Brown, E. N., Barbieri, R., Ventura, V., Kass, R. E., & Frank, L. M. (2002). The time-rescaling theorem
        and its application to neural spike train data analysis. Neural Computation 14(2), 325-346.
    Tierney, L., & Kadane, J. B. (1986). Accurate approximations for posterior moments and marginal
        densities. Journal of the American Statistical Association 81(393), 82-86. (Laplace approximation.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from escalation.counts import CountObservation
from escalation.counts import log_likelihood as counts_log_likelihood
from escalation.specs import AttackSpec, Dist, Param, can_be_nonzero, parameter_fields

# The attack-dyad parameters this likelihood fits, in declaration order: base_rate, excitation, deterrence,
# provocation_memory_days, punishment_memory_days (the active intensity; intensity() unpacks them in this
# order), then pause_hazard, resume_hazard, paused_rate (the campaign regimes): the fields of AttackSpec
# declared fitted_by "likelihood".
NAMES = tuple(name for name, info in parameter_fields(AttackSpec) if "likelihood" in info.fitted_by)
N_ACTIVE = 5
REGIME_NAMES = NAMES[N_ACTIVE:]
PROPOSAL_WIDENING = 2.0  # the Laplace covariance is doubled so the proposal covers the posterior's tails
PROPOSALS_PER_DRAW = 4


@dataclass(frozen=True)
class DyadData:
    """The observations of one attack dyad, day by day from the first day of the period.

    Attributes:
        counts: (days,) attacks per day, NaN where the day is not observed exactly.
        intervals: ``(first day, last day, count, lower bound)`` interval observations (inclusive days).
        harm: (days,) harm the attacker suffered from the target each day (strikes, in harm units).
        strikes: (days,) strikes the attacker received from the target each day.
        base_multiplier: (days,) the drivers' base-rate multiplier (1 without drivers).
        series: the other count observations (tally series, approximate counts): each its segments'
            ``(first day, last day)`` and the observation (:func:`escalation.counts.log_likelihood`).
    """

    counts: np.ndarray
    intervals: tuple[tuple[int, int, int, bool], ...]
    harm: np.ndarray
    strikes: np.ndarray
    base_multiplier: np.ndarray
    series: tuple[tuple[tuple[tuple[int, int], ...], CountObservation], ...] = ()

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return int(self.counts.size)


def _memory(inflow: np.ndarray, memory_days: float) -> np.ndarray:
    """sum_{u < t} exp(-(t - 1 - u) / tau) * inflow_u for every day t (the state at the end of day t - 1).

    The recursion M_t = r M_{t-1} + inflow_{t-1} is a first-order linear filter.
    """
    import scipy.signal  # here only: a run that fits no likelihood never imports it

    retention = np.exp(-1.0 / memory_days)
    return scipy.signal.lfilter([0.0, 1.0], [1.0, -retention], inflow)


def intensity(values: np.ndarray, data: DyadData) -> np.ndarray:
    """Daily attack intensity of the active campaign for parameter values in the order of :data:`NAMES`."""
    mu, alpha, delta, tau_p, tau_d = values[:N_ACTIVE]
    provocation = _memory(data.harm, tau_p)
    punishment = _memory(data.strikes, tau_d)
    return (mu * data.base_multiplier + alpha * provocation) * np.exp(-delta * punishment)


# An interval row goes through the regimes' forward algorithm over its own days (a lattice of the count so
# far, per regime) when its count is at most this many attacks and (count + 1)^2 x days is at most
# INTERVAL_LATTICE_BUDGET; larger ones, and tally series, are read with the campaign active. The lattice
# costs that many steps per parameter vector, and the fit passes up to 16,000 vectors at once (in blocks
# of LATTICE_BLOCK, so that memory stays bounded): at the budget, about 1 s per 1,000 vectors here.
MAX_INTERVAL_COUNT = 300
INTERVAL_LATTICE_BUDGET = 200_000
LATTICE_BLOCK = 1024


def regime_forward(
    active: np.ndarray,
    paused_rate: np.ndarray,
    pause_hazard: np.ndarray,
    resume_hazard: np.ndarray,
    counts: np.ndarray,
    intervals: Sequence[tuple[int, int, int, bool]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Forward algorithm of the campaign's two regimes over daily counts, for K parameter vectors at once.

    The engine's rule (:func:`escalation.rules.switch_regime`): the campaign is active before the first day,
    switches at the start of each day (active to paused with ``pause_hazard``, back with ``resume_hazard``),
    and that day's count is Poisson with the active intensity or the paused rate. Days not observed exactly
    (NaN counts) carry no emission. The filter is normalised every day, so it cannot underflow.

    An interval count (``intervals``: first day, last day, count, lower bound; disjoint, on days whose count
    is NaN) is an emission of its whole span: over its days the filter carries, per regime, the distribution
    of the attacks so far (0 to the count; "the count or more" for a lower bound), switching and adding each
    day's Poisson attacks, and on its last day it keeps the mass at the observed count. A campaign that
    paused inside the interval thus explains a low count, as the engine would produce it.

    Args:
        active: (K, T) active intensity per day.
        paused_rate: (K,) attacks per day while paused.
        pause_hazard: (K,) daily probability of pausing.
        resume_hazard: (K,) daily probability of resuming.
        counts: (T,) attacks per day, NaN where not observed exactly.
        intervals: the interval counts to read through the regimes.

    Returns:
        The log likelihood (K,) and the filtered probability that the campaign was paused on the last day
        (K,).
    """
    k = active.shape[0]
    p_active = np.ones(k)
    total = np.zeros(k)
    starts = {first: (last, count, lower) for first, last, count, lower in intervals}
    t = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_paused_rate = np.log(paused_rate)
        while t < counts.size:
            if t in starts:
                last, count, lower = starts[t]
                for b in range(0, k, LATTICE_BLOCK):
                    rows = slice(b, b + LATTICE_BLOCK)
                    log_lik, p_active[rows] = _interval_forward(
                        active[rows, t : last + 1], paused_rate[rows], pause_hazard[rows],
                        resume_hazard[rows], p_active[rows], count, lower,
                    )  # fmt: skip
                    total[rows] += log_lik
                t = last + 1
                continue
            n = counts[t]
            prior_active = p_active * (1.0 - pause_hazard) + (1.0 - p_active) * resume_hazard
            t += 1
            if np.isnan(n):
                p_active = prior_active
                continue
            log_factorial = scipy.special.gammaln(n + 1)
            log_a = (n * np.log(active[:, t - 1]) if n else 0.0) - active[:, t - 1] - log_factorial
            log_p = (n * log_paused_rate if n else 0.0) - paused_rate - log_factorial
            top = np.maximum(log_a, log_p)
            a = prior_active * np.exp(log_a - top)
            b = (1.0 - prior_active) * np.exp(log_p - top)
            evidence = a + b
            total += np.log(evidence) + top
            p_active = np.where(evidence > 0, a / evidence, prior_active)
    return np.where(np.isfinite(total), total, -np.inf), 1.0 - p_active


def _interval_forward(
    active: np.ndarray,
    paused_rate: np.ndarray,
    pause_hazard: np.ndarray,
    resume_hazard: np.ndarray,
    p_active: np.ndarray,
    count: int,
    lower: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One interval count through the regimes: its log likelihood (K,) and P(active) on its last day (K,).

    The lattice holds, per parameter vector and regime, the probability of each number of attacks so far
    (0 to ``count``; with ``lower``, the last cell is "``count`` or more", else more than ``count`` is dropped
    as impossible). It is renormalised every day and the normalisers are summed in logs.
    """
    k, days = active.shape
    cells = count + 1
    lattice = np.zeros((k, 2, cells))
    lattice[:, 0, 0] = p_active
    lattice[:, 1, 0] = 1.0 - p_active
    values = np.arange(cells)
    total = np.zeros(k)
    stay, resume = (1.0 - pause_hazard)[:, None], resume_hazard[:, None]
    pause, held = pause_hazard[:, None], (1.0 - resume_hazard)[:, None]
    for d in range(days):
        was_active, was_paused = lattice[:, 0], lattice[:, 1]
        switched = np.stack(
            [was_active * stay + was_paused * resume, was_active * pause + was_paused * held], 1
        )
        rates = np.stack([active[:, d], paused_rate], axis=1)  # (K, 2)
        pmf = scipy.stats.poisson.pmf(values[None, None, :], rates[:, :, None])  # (K, 2, cells)
        moved = np.zeros_like(switched)
        for j in range(cells):  # j attacks today
            moved[:, :, j:] += switched[:, :, : cells - j] * pmf[:, :, j : j + 1]
        if lower:
            # The top cell holds "count or more": from i attacks so far, count - i or more today.
            survival = np.ones_like(pmf)  # P(X >= j) for j = 0..count, without 1 - cdf's cancellation
            survival[:, :, 1:] = scipy.special.pdtrc(values[None, None, :-1], rates[:, :, None])
            moved[:, :, count] = (switched * survival[:, :, ::-1]).sum(axis=2)
        mass = moved.sum(axis=(1, 2))
        with np.errstate(divide="ignore"):
            total += np.log(mass)
        lattice = moved / np.where(mass > 0, mass, 1.0)[:, None, None]
    end = lattice[:, :, count].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        total += np.log(end)
        p_end = np.where(end > 0, lattice[:, 0, count] / end, p_active)
    return total, p_end


def regime_intervals(data: DyadData) -> tuple[tuple[tuple[int, int, int, bool], ...], tuple[int, ...]]:
    """The interval counts that go through the regimes' forward algorithm, and the indices of the rest.

    Each one that is disjoint from the others and no larger than :data:`MAX_INTERVAL_COUNT` and
    :data:`INTERVAL_LATTICE_BUDGET` allow; the rest are read with the campaign active.
    """
    chosen, rest, taken = [], [], []
    for index, (first, last, count, lower) in enumerate(data.intervals):
        days = last - first + 1
        small = count <= MAX_INTERVAL_COUNT and (count + 1) ** 2 * days <= INTERVAL_LATTICE_BUDGET
        disjoint = all(last < a or first > b for a, b in taken)
        if small and disjoint and 0 <= first <= last < data.days:
            chosen.append((first, last, count, lower))
            taken.append((first, last))
        else:
            rest.append(index)
    return tuple(chosen), tuple(rest)


def log_likelihoods(values: np.ndarray, data: DyadData) -> np.ndarray:
    """:func:`log_likelihood` of K parameter vectors (rows of ``values``), the forward pass batched."""
    values = np.atleast_2d(values)
    regimes = values.shape[1] > N_ACTIVE and np.any(values[:, N_ACTIVE] > 0)
    if not regimes:
        return np.array([log_likelihood(v, data) for v in values])
    lam = np.array([intensity(v, data) for v in values])
    through, rest = regime_intervals(data)
    with np.errstate(divide="ignore"):
        total, _ = regime_forward(
            lam, values[:, N_ACTIVE + 2], values[:, N_ACTIVE], values[:, N_ACTIVE + 1], data.counts, through
        )
        total = total + np.array([_interval_terms(row, data, rest) for row in lam])
    return np.where(np.isfinite(total), total, -np.inf)


def log_likelihood(values: np.ndarray, data: DyadData) -> float:
    """Log likelihood of the exact daily counts and the interval counts.

    With a pause hazard above zero the exact days and the interval counts go through the regimes' forward
    algorithm (:func:`regime_forward`, :func:`regime_intervals`); tally series, and interval counts too large
    for its lattice or overlapping another, are read with the campaign active (an approximation the
    calibration's notes state).
    """
    lam = intensity(values, data)
    exact = ~np.isnan(data.counts)
    counts = data.counts[exact]
    regimes = len(values) > N_ACTIVE and values[N_ACTIVE] > 0
    with np.errstate(divide="ignore"):
        if regimes:
            h_pause, h_resume, paused = (np.array([v]) for v in values[N_ACTIVE : N_ACTIVE + 3])
            through, rest = regime_intervals(data)
            total = float(regime_forward(lam[None, :], paused, h_pause, h_resume, data.counts, through)[0][0])
            total += _interval_terms(lam, data, rest)
        else:
            total = float(
                np.sum(counts * np.log(lam[exact]) - lam[exact] - scipy.special.gammaln(counts + 1))
            )
            total += _interval_terms(lam, data)
    return total if np.isfinite(total) else -np.inf


def _interval_terms(lam: np.ndarray, data: DyadData, intervals: Sequence[int] | None = None) -> float:
    """Log likelihood of the tallies and the interval counts (at ``intervals``, default all) given ``lam``."""
    total = 0.0
    chosen = range(len(data.intervals)) if intervals is None else intervals
    with np.errstate(divide="ignore"):
        for first, last, count, lower in (data.intervals[i] for i in chosen):
            mean = lam[first : last + 1].sum()
            if lower:
                total += float(np.log(scipy.special.pdtrc(count - 1, mean)) if count > 0 else 0.0)
            else:
                total += float(count * np.log(mean) - mean - scipy.special.gammaln(count + 1))
        for segments, observation in data.series:
            means = np.array([lam[first : last + 1].sum() for first, last in segments])
            total += float(counts_log_likelihood(observation, means[None, :])[0])
    return total


def _log_prior(log_values: np.ndarray, priors: tuple[Param, ...]) -> float:
    """Log prior density of the log-parameters (with the Jacobian of the log transform)."""
    total = 0.0
    for x, prior in zip(log_values, priors, strict=True):
        if isinstance(prior, Dist):
            total += float(prior.frozen().logpdf(np.exp(x))) + x
    return total


@dataclass(frozen=True)
class DyadFit:
    """The posterior mode, its Laplace covariance (log scale) and draws, with fit diagnostics."""

    names: tuple[str, ...]
    mode: np.ndarray
    covariance: np.ndarray
    draws: np.ndarray
    log_likelihood: float
    converged: bool
    rescaling_ks_pvalue: float | None
    effective_sample_size: float
    residuals: np.ndarray  # rescaled residuals (randomised PIT of the exactly observed days), for QQ plots
    paused_at_end: np.ndarray | None = None  # per draw, P(paused on the last day | data); None: no regimes

    def summary(self) -> dict[str, dict[str, float]]:
        """Mode, mean and 5%/95% quantiles of each fitted parameter."""
        out = {}
        for k, name in enumerate(self.names):
            q05, q95 = np.quantile(self.draws[:, k], [0.05, 0.95])
            out[name] = {"mode": float(self.mode[k]), "mean": float(self.draws[:, k].mean()),
                         "q05": float(q05), "q95": float(q95)}  # fmt: skip
        return out


def fit_dyad(
    data: DyadData, priors: dict[str, Param], *, draws: int = 4000, rng: np.random.Generator | None = None
) -> DyadFit:
    """Fit a dyad's attack parameters at the posterior mode, with Laplace draws and a rescaling check.

    Args:
        data: the dyad's observations.
        priors: parameter name (see :data:`NAMES`) -> prior distribution, or a number to hold it fixed.
        draws: number of joint draws from the Laplace approximation.
        rng: generator for the draws and the randomised PIT.

    Returns:
        The fit. Fixed parameters are not in ``names``.
    """
    rng = rng or np.random.default_rng(0)
    priors = {name: 0.0 for name in REGIME_NAMES} | dict(priors)  # no regimes unless given
    free = [name for name in NAMES if isinstance(priors[name], Dist)]
    fixed = {name: float(priors[name]) for name in NAMES if name not in free}
    free_priors = tuple(priors[name] for name in free)

    def full(log_values: np.ndarray) -> np.ndarray:
        values = dict(fixed) | dict(zip(free, np.exp(log_values), strict=True))
        return np.array([values[name] for name in NAMES])

    def objective(log_values: np.ndarray) -> float:
        value = log_likelihood(full(log_values), data) + _log_prior(log_values, free_priors)
        return -value if np.isfinite(value) else 1e300

    start = np.log([max(priors[name].mean(), 1e-6) for name in free])
    result = scipy.optimize.minimize(objective, start, method="L-BFGS-B")
    mode = result.x
    covariance = np.linalg.pinv(_hessian(objective, mode))
    covariance = 0.5 * (covariance + covariance.T)

    def log_posteriors(log_values: np.ndarray) -> np.ndarray:
        values = np.array([full(x) for x in log_values])
        log_prior = np.array([_log_prior(x, free_priors) for x in log_values])
        out = log_likelihoods(values, data) + log_prior
        return np.where(np.isfinite(out), out, -np.inf)

    regimes = can_be_nonzero(priors["pause_hazard"])
    samples, ess = _importance_resample(
        objective, mode, covariance, draws, rng, batch=log_posteriors if regimes else None
    )
    fitted = full(mode)
    residuals = rescaled_residuals(data, intensity(fitted, data), rng)
    paused_at_end = None
    if regimes:
        paused_at_end = _paused_at_end(np.array([full(x) for x in samples]), data)
    return DyadFit(
        names=tuple(free),
        mode=np.exp(mode),
        covariance=covariance,
        draws=np.exp(samples),
        log_likelihood=log_likelihood(fitted, data),
        converged=bool(result.success),
        rescaling_ks_pvalue=None
        if residuals.size < 10
        else float(scipy.stats.kstest(residuals, "uniform").pvalue),
        effective_sample_size=ess,
        residuals=residuals,
        paused_at_end=paused_at_end,
    )


def _paused_at_end(values: np.ndarray, data: DyadData) -> np.ndarray:
    """Per row of ``values``, the filtered probability that the campaign was paused on the data's last day."""
    lam = np.array([intensity(v, data) for v in values])
    h_pause, h_resume, paused = values[:, N_ACTIVE], values[:, N_ACTIVE + 1], values[:, N_ACTIVE + 2]
    return regime_forward(lam, paused, h_pause, h_resume, data.counts, regime_intervals(data)[0])[1]


def _importance_resample(
    negative_log_posterior,
    mode: np.ndarray,
    covariance: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    batch=None,
) -> tuple[np.ndarray, float]:
    """Posterior draws: a widened Laplace Gaussian as proposal, exact-posterior weights, resampling.

    ``batch``, if given, computes the log posterior of all candidates at once (the regimes' forward pass).
    """
    proposal = scipy.stats.multivariate_normal(mode, PROPOSAL_WIDENING * covariance, allow_singular=True)
    candidates = np.atleast_2d(proposal.rvs(size=PROPOSALS_PER_DRAW * draws, random_state=rng))
    candidates = candidates.reshape(-1, mode.size)
    if batch is not None:
        log_target = batch(candidates)
    else:
        log_target = -np.array([negative_log_posterior(x) for x in candidates])
    log_weights = log_target - proposal.logpdf(candidates)
    log_weights -= scipy.special.logsumexp(log_weights)
    weights = np.exp(log_weights)
    ess = float(1.0 / np.sum(weights**2))
    return candidates[rng.choice(candidates.shape[0], size=draws, p=weights)], ess


def _hessian(function, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    n = x.size
    hessian = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * step, np.eye(n)[j] * step
            value = (
                function(x + e_i + e_j)
                - function(x + e_i - e_j)
                - function(x - e_i + e_j)
                + function(x - e_i - e_j)
            ) / (4 * step * step)
            hessian[i, j] = hessian[j, i] = value
    return hessian


def rescaled_residuals(data: DyadData, lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT of each exactly observed day's count under the intensity ``lam``.

    The values are uniform on [0, 1] if the counts are draws from the model (time rescaling in discrete time).
    """
    exact = ~np.isnan(data.counts)
    counts, rates = data.counts[exact], lam[exact]
    lower = scipy.stats.poisson.cdf(counts - 1, rates)
    upper = scipy.stats.poisson.cdf(counts, rates)
    return lower + rng.random(counts.size) * (upper - lower)
