"""Pooled (hierarchical) priors from the reference-class records (docs/reference_class.md, "Pooled priors").

A pool is a set of *stretches*: the count observations (an interval row, a series of running tallies, a
zero count) of the dyads that ``data/reference/pools.yaml`` names, from the records it names, known before
the cut-off. Stretch ``j`` has its own daily rate ``λ_j``, and the log rates are drawn from one population,
``log λ_j ~ Normal(m, s)``. Each stretch's likelihood on a grid of log rates comes from
:func:`escalation.counts.log_likelihood` (tallies with their revisions, lower bounds, zeros: as the
calibration reads them), the population's posterior over ``(m, s)`` is computed exactly on a grid, and the
predictive distribution of a new stretch's rate (a mixture of normals over that posterior) is the pooled
prior. The calibration uses it in the scenario's config form: a lognormal with the predictive's mean and
standard deviation of the log rate.

Why a grid and not MCMC: two hyperparameters and one rate per stretch, so exact integration is possible; it
is deterministic, takes a fraction of a second and needs no convergence diagnostics.

The hyperpriors are assumptions (:data:`HYPERPRIORS`): ``m`` uniform on the log of 0.001 to 30 a day, ``s``
half-normal with scale 1.5 on the log scale (a spread of more than a factor of 20 between campaigns is
possible but not favoured).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import yaml

from escalation.counts import CountObservation, log_likelihood, rate_observations
from escalation.events import EventLog, load_events
from escalation.specs import Dist, Param, ScenarioSpec

PRIOR_SOURCES = ("reference_class", "hand")
HYPERPRIORS = {
    "m": "uniform on log(0.001) to log(30) (attacks a day); assumption",
    "s": "half-normal, scale 1.5 (log scale); assumption",
}
_LOG_RATES = np.linspace(-21.0, 7.0, 561)  # e^-21 to e^7 (about 1100) attacks a day, step 0.05
_M = np.linspace(np.log(1e-3), np.log(30.0), 101)
_S = np.linspace(0.05, 4.0, 64)
_S_SCALE = 1.5


def reference_dir() -> Path:
    """The packaged reference-class records."""
    return Path(str(files("escalation").joinpath("data", "reference")))


@dataclass(frozen=True)
class Pool:
    """What one pool reads: record file -> dyads (attacker, target), and why the others are not pooled."""

    name: str
    describes: str
    applies_to: str
    dyads: dict[str, tuple[tuple[str, str], ...]]
    paused: dict[str, str]  # event id of a stretch in a truce or halt -> the truce
    not_pooled: dict[str, str]


def load_pools(path: str | Path | None = None) -> dict[str, Pool]:
    """Read a pools file (default: the packaged ``pools.yaml``), checking every name it uses."""
    path = Path(path) if path is not None else reference_dir() / "pools.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable pools file ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict) or set(raw) != {"base_rate"}:
        raise ValueError(
            f"{path}: expected one pool, base_rate; got {sorted(raw) if isinstance(raw, dict) else raw!r}"
        )
    pools = {}
    for name, entry in raw.items():
        keys = {"describes", "applies_to", "dyads", "paused", "not_pooled"}
        if not isinstance(entry, dict) or set(entry) != keys:
            raise ValueError(f"{path}: {name}: expected the keys {', '.join(sorted(keys))}")
        dyads = {}
        for record, names in (entry["dyads"] or {}).items():
            if not (path.parent / record).is_file():
                raise ValueError(f"{path}: {name}.dyads: no record {record!r} beside the pools file")
            pairs = []
            for dyad in names or []:
                attacker, arrow, target = str(dyad).partition("->")
                if not arrow or not attacker or not target:
                    raise ValueError(f"{path}: {name}.dyads.{record}: {dyad!r} is not ATTACKER->TARGET")
                pairs.append((attacker.strip(), target.strip()))
            dyads[record] = tuple(pairs)
        pools[name] = Pool(
            name,
            str(entry["describes"]),
            str(entry["applies_to"]),
            dyads,
            {str(k): str(v) for k, v in (entry["paused"] or {}).items()},
            {str(k): str(v) for k, v in (entry["not_pooled"] or {}).items()},
        )
    return pools


@dataclass(frozen=True)
class Stretch:
    """One count observation of a pooled dyad: the unit with its own rate."""

    record: str
    observation: CountObservation

    @property
    def days(self) -> np.ndarray:
        """Days in each of the observation's segments (the reference records have no drivers)."""
        return np.array([(last - first).days + 1 for first, last in self.observation.segments()], dtype=float)

    def describe(self) -> str:
        """The record, the dyad and the readings."""
        o = self.observation
        return f"{self.record}: {o.attacker}->{o.target} {o.describe()}"


@dataclass(frozen=True)
class Population:
    """The exact posterior of a population of log rates, and what it says of a new stretch.

    Each stretch's likelihood is kept on its own grid of log rates (:func:`stretch_likelihood`), fine where
    it is narrow: a stretch of thousands of events pins its rate to a few percent, finer than any grid that
    spans every stretch.

    Attributes:
        stretches: the units pooled.
        grids: per stretch, its grid of log rates.
        log_likelihoods: per stretch, its log likelihood on its grid.
        weights: (M, S) posterior probability of each (m, s) grid cell.
        notes: rows left out of the pool, and why.
    """

    stretches: tuple[Stretch, ...]
    grids: tuple[np.ndarray, ...]
    log_likelihoods: tuple[np.ndarray, ...]
    weights: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def records(self) -> tuple[str, ...]:
        """The records whose stretches are pooled."""
        return tuple(sorted({s.record for s in self.stretches}))

    def predictive(self) -> np.ndarray:
        """Probability of each point of :data:`_LOG_RATES` for the log rate of a new stretch."""
        out = np.tensordot(self.weights, _densities(_LOG_RATES), axes=([0, 1], [0, 1]))
        return out / out.sum()

    def prior(self) -> Dist:
        """The predictive as a config distribution: lognormal with its mean and sd of the log rate."""
        p = self.predictive()
        mean = float(p @ _LOG_RATES)
        sd = float(np.sqrt(p @ (_LOG_RATES - mean) ** 2))
        return Dist("lognorm", (("s", round(sd, 4)), ("scale", float(f"{np.exp(mean):.6g}"))))

    def stretch_posterior(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Stretch ``j``'s grid of log rates and the posterior probability of each point.

        The posterior is given every stretch, with the population's uncertainty integrated out.
        """
        density = _densities(self.grids[j])
        likelihood = np.exp(self.log_likelihoods[j] - self.log_likelihoods[j].max())
        marginal = density @ likelihood
        out = np.tensordot(self.weights / np.maximum(marginal, 1e-300), density, axes=([0, 1], [0, 1]))
        out = out * likelihood
        return self.grids[j], out / out.sum()

    def stretch_interval(self, j: int, levels: Sequence[float] = (0.05, 0.95)) -> list[float]:
        """Quantiles of stretch ``j``'s rate (a day)."""
        grid, probabilities = self.stretch_posterior(j)
        return [float(np.exp(q)) for q in _quantiles(grid, probabilities, levels)]

    def hyper_summary(self) -> dict[str, Any]:
        """Posterior median and 90% interval of exp(m) (the population's median rate a day) and of s."""
        out: dict[str, Any] = {}
        for name, axis, marginal, scale in (
            ("median_rate", _M, self.weights.sum(axis=1), np.exp),
            ("spread_log", _S, self.weights.sum(axis=0), float),
        ):
            q05, q50, q95 = (float(scale(q)) for q in _quantiles(axis, marginal, (0.05, 0.5, 0.95)))
            out[name] = {"q05": q05, "q50": q50, "q95": q95}
        return out

    def summary(self) -> dict[str, Any]:
        """What the calibration artefact records of the pool."""
        low, median, high = (
            float(np.exp(q)) for q in _quantiles(_LOG_RATES, self.predictive(), (0.05, 0.5, 0.95))
        )
        exact_tail = [float(np.exp(q)) for q in _quantiles(_LOG_RATES, self.predictive(), (0.99, 0.999))]
        prior_tail = [float(x) for x in self.prior().frozen().ppf([0.99, 0.999])]
        return {
            "model": "log rate of each stretch ~ Normal(m, s); exact grid posterior of (m, s)",
            "approximation": (
                "assumption: the prior is a lognormal with the predictive's mean and sd of the log rate; its "
                f"upper tail is lighter (99% and 99.9% points {prior_tail[0]:.3g} and {prior_tail[1]:.3g} a "
                f"day, against the predictive's {exact_tail[0]:.3g} and {exact_tail[1]:.3g}), and a rate "
                "that the data bound only from below takes its upper side from that tail"
            ),
            "predictive_rate_99_999": exact_tail,
            "prior_rate_99_999": prior_tail,
            "hyperpriors": HYPERPRIORS,
            "population": self.hyper_summary(),
            "predictive_rate_90": [low, high],
            "predictive_rate_median": median,
            "prior": self.prior().as_dict(),
            "records": list(self.records),
            "stretches": [s.describe() for s in self.stretches],
            "left_out": list(self.notes),
        }


def _quantiles(axis: np.ndarray, probabilities: np.ndarray, levels: Sequence[float]) -> list[float]:
    """Quantiles of a distribution given at grid points, interpolated between the points' mid-CDFs."""
    p = np.asarray(probabilities, dtype=float) / np.sum(probabilities)
    mid = np.cumsum(p) - 0.5 * p
    return [float(np.interp(q, mid, axis)) for q in levels]


def _densities(points: np.ndarray) -> np.ndarray:
    """(M, S, X) Normal(m, s) probability of the cell around each of the (evenly spaced) log rates."""
    step = points[1] - points[0]
    z = (points[None, None, :] - _M[:, None, None]) / _S[None, :, None]
    return np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * _S[None, :, None]) * step


def stretch_likelihood(stretch: Stretch, size: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A stretch's grid of log rates and its log likelihood there.

    The grid spans where the likelihood, on the coarse grid :data:`_LOG_RATES`, is within e^-25 of its
    maximum, one coarse step more on each side, in ``size`` even steps. (Not further: the forward pass of a
    tally series has a round-off floor near e^-38 of its maximum, and a grid out to that floor would be too
    coarse where the likelihood is.)
    """
    coarse = _log_likelihood(stretch, _LOG_RATES)
    inside = np.flatnonzero(coarse >= coarse.max() - 25.0)
    low = _LOG_RATES[max(inside[0] - 1, 0)]
    high = _LOG_RATES[min(inside[-1] + 1, _LOG_RATES.size - 1)]
    grid = np.linspace(low, high, size)
    return grid, _log_likelihood(stretch, grid)


def _log_likelihood(stretch: Stretch, log_rates: np.ndarray) -> np.ndarray:
    return log_likelihood(stretch.observation, np.exp(log_rates)[:, None] * stretch.days[None, :])


def fit_population(stretches: Sequence[Stretch], notes: Sequence[str] = ()) -> Population:
    """The population posterior of the stretches' log rates."""
    if not stretches:
        raise ValueError("a pooled prior needs at least one stretch; none is known before the cut-off")
    grids, log_likelihoods = zip(*(stretch_likelihood(s) for s in stretches), strict=True)
    log_post = scipy.stats.halfnorm.logpdf(_S, scale=_S_SCALE)[None, :].repeat(_M.size, axis=0)
    with np.errstate(divide="ignore"):
        for grid, log_lik in zip(grids, log_likelihoods, strict=True):
            log_post = log_post + np.log(_densities(grid) @ np.exp(log_lik - log_lik.max()))
    weights = np.exp(log_post - log_post.max())
    return Population(tuple(stretches), grids, log_likelihoods, weights / weights.sum(), tuple(notes))


def pool_stretches(
    pool: Pool,
    cutoff: date | None,
    *,
    leave_out: Sequence[str] = (),
    records: dict[str, EventLog] | None = None,
) -> tuple[list[Stretch], list[str]]:
    """The stretches of a pool known before ``cutoff``, without the records in ``leave_out``.

    Returns the stretches and notes naming each row left out and why (dated rows outside a stated period
    are notable events: they say nothing of how often attacks happen).
    """
    stretches, notes = [], []
    for record, dyads in pool.dyads.items():
        if record in leave_out:
            notes.append(f"{record}: left out (the episode being forecast)")
            continue
        log = records[record] if records is not None else _record(record)
        for attacker, target in dyads:
            rates = rate_observations(log, attacker, target, cutoff or date.max)
            for observation in rates.observations:
                paused = [pool.paused[i] for i in observation.event_ids if i in pool.paused]
                if paused:
                    notes.append(
                        f"{record}: {observation.event_ids[-1]} left out: inside a pause ({paused[0]}); the "
                        "base rate describes an active campaign"
                    )
                else:
                    stretches.append(Stretch(record, observation))
            notes += [f"{record}: {note}" for note in rates.left_out]
    return stretches, notes


@functools.cache
def _record(name: str) -> EventLog:
    return load_events(reference_dir() / name)


@dataclass(frozen=True)
class PooledPrior:
    """A parameter's pooled prior, the hand-set prior it replaces, and the population behind it."""

    path: str
    prior: Dist
    hand: Param
    population: Population

    def source(self) -> str:
        """One line for the artefact's summaries."""
        return (
            f"reference_class: pooled from {len(self.population.stretches)} stretches of "
            f"{', '.join(self.population.records)} (hand-set prior it replaces: {_shown(self.hand)})"
        )


def _shown(param: Param) -> str:
    return str(param.as_dict()) if isinstance(param, Dist) else str(param)


@functools.cache
def _base_rate_population(cutoff: date | None, leave_out: tuple[str, ...]) -> Population | None:
    pool = load_pools()["base_rate"]
    stretches, notes = pool_stretches(pool, cutoff, leave_out=leave_out)
    return fit_population(stretches, notes=notes) if stretches else None


def reference_priors(
    scenario: ScenarioSpec, cutoff: date | None, *, leave_out: Sequence[str] = ()
) -> dict[str, PooledPrior]:
    """The pooled priors of a scenario's parameters, from the packaged records known before ``cutoff``.

    Only parameters set as distributions get one (a number in a config is a setting); background dyads keep
    their priors, since the pool describes campaigns against a state's forces, not the war in the background.
    Empty when no stretch of the pool is known before ``cutoff`` outside ``leave_out``.
    """
    population = _base_rate_population(cutoff, tuple(sorted(leave_out)))
    if population is None:
        return {}
    out = {}
    for dyad in scenario.attacks:
        if dyad.background or not isinstance(dyad.base_rate, Dist):
            continue
        path = f"attacks.{dyad.key}.base_rate"
        out[path] = PooledPrior(path, population.prior(), dyad.base_rate, population)
    return out


def with_priors(scenario: ScenarioSpec, priors: dict[str, PooledPrior]) -> ScenarioSpec:
    """The scenario with its pooled priors in place of the hand-set ones."""
    attacks = []
    for dyad in scenario.attacks:
        pooled = priors.get(f"attacks.{dyad.key}.base_rate")
        attacks.append(dataclasses.replace(dyad, base_rate=pooled.prior) if pooled else dyad)
    return dataclasses.replace(scenario, attacks=tuple(attacks))
