"""Calibration: posterior draws of the parameters the event data speak to, saved as a JSON artefact.

Three parts of the model are updated from dated events (docs/model.md, "Calibration"); everything else
keeps its prior. Each part has at most four unknowns, so its posterior is computed exactly on a grid
(prior density times likelihood, normalised) and sampled by inverse CDF with jitter inside grid cells:

- **base rates** of attack dyads, from interval counts. An exact count contributes the Poisson probability
  of the count; a lower bound ("at least 19") contributes the probability of at least that many
  (right-censoring), so the prior alone limits the rate from above.
- **outcome probabilities** of attacks: the target's interception probability, the injury probability, the
  mean extra injured per injuring attack and the kill probability, from the casualty totals of the rows
  that report them. Only the products (1 - q) p are identified by totals; the priors split them.
- **retaliation policy** of a state, from the days on which it could have struck an attacker: the threshold
  and the daily strike probability, given the unanswered harm the observed attacks built up and the strikes
  that answered it.

The posterior is stored as joint draws (one row per draw, shared by all calibrated paths); each replication of
an ensemble picks one row, so the bands of every result carry the parameter uncertainty.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from escalation import __version__
from escalation.counts import (
    CasualtyObservation,
    CountObservation,
    RateData,
    casualty_likelihood,
    is_dated,
    rate_observations,
    usable_casualties,
)
from escalation.counts import log_likelihood as counts_log_likelihood
from escalation.events import Event, EventKind, EventLog
from escalation.files import atomic_file
from escalation.fitting import NAMES as FIT_NAMES
from escalation.fitting import DyadData, fit_dyad
from escalation.history import ObservedHistory, observed_history, observed_inflows, replay
from escalation.policy_pooling import policy_priors, with_policy_priors
from escalation.pooling import PRIOR_SOURCES, PooledPrior, pools_describe, reference_priors, with_priors
from escalation.rules import decay_factor
from escalation.semantics import Memories, Retention, channels_of
from escalation.specs import Dist, Param, ScenarioSpec, can_be_nonzero, param_mean

METHOD = (
    "grid posteriors (censored Poisson base rates, binomial casualty totals, first-strike timing); "
    "dyads with dated attacks by their conditional Poisson likelihood (posterior mode, "
    "importance-corrected Laplace draws)"
)
CALIBRATION_METHODS = ("auto", "grid", "likelihood")
# With fewer exactly dated attacks than this, "auto" keeps the interval-count grid for a dyad's base rate.
MIN_DATED_ATTACKS = 20


@dataclass(frozen=True)
class Calibration:
    """A calibration artefact: joint posterior draws with their provenance.

    Attributes:
        scenario: name of the scenario calibrated.
        data_path: the event file.
        data_hash: sha256 of the event file.
        cutoff: only events that ended before this date were used.
        seed: seed of the posterior sampling.
        method: the method, in words.
        draws: parameter path -> posterior draws (all of one length; row i is one joint draw).
        summaries: parameter path -> prior, posterior mean, sd and quantiles, and the data used.
        checks: posterior-predictive checks of the observations used.
        notes: what the data could not pin down.
        priors: where the priors come from: ``reference_class`` (pooled from the reference-class records
            where a pool applies, hand-set elsewhere) or ``hand``.
        pools: per pooled parameter, the population behind its prior (records, stretches, hyperparameters).
    """

    scenario: str
    data_path: str
    data_hash: str
    cutoff: date
    seed: int
    method: str
    draws: dict[str, np.ndarray]
    summaries: dict[str, dict[str, Any]]
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    priors: str = "hand"
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self, *, exact: bool = False) -> dict[str, Any]:
        """The JSON-ready form of the artefact.

        The draws are rounded to six significant digits, unless ``exact`` (as the shared calibrations of a
        sweep are stored, so that a point that reads one runs on exactly the draws it was computed with).
        """
        return {
            "format": "escalation-calibration/1",
            "escalation_version": __version__,
            "scenario": self.scenario,
            "data_path": self.data_path,
            "data_hash": self.data_hash,
            "cutoff": self.cutoff.isoformat(),
            "seed": self.seed,
            "method": self.method,
            "summaries": self.summaries,
            "checks": self.checks,
            "notes": self.notes,
            "priors": self.priors,
            "pools": self.pools,
            "draws": {
                k: [float(x) for x in v] if exact else [float(f"{x:.6g}") for x in v]
                for k, v in self.draws.items()
            },
        }

    @functools.cached_property
    def hash(self) -> str:
        """sha256 of the artefact's canonical JSON without the file path (what a run's manifest records).

        Computed once per artefact (it formats every draw); the artefact is never changed after it is made.
        """
        content = {
            k: v for k, v in self.to_dict().items() if k != "data_path"
        }  # a path's spelling is not data
        return hashlib.sha256(_canonical_json(content).encode("utf-8")).hexdigest()

    def save(
        self, path: str | os.PathLike[str], *, exact: bool = False, extra: dict[str, Any] | None = None
    ) -> Path:
        """Write the artefact atomically (temporary file, then rename).

        The temporary file's name is unique to this process and call (``.<name>.<pid>.<random>.tmp``), so two
        writers never share one, and it is removed if writing fails. ``exact``: the draws at full precision
        (see :meth:`to_dict`); ``extra``: further top-level keys (:meth:`load` ignores them).
        """
        content = self.to_dict(exact=True) if exact else self.to_dict()
        text = json.dumps({**(extra or {}), **content}, indent=1, sort_keys=True) + "\n"
        with atomic_file(path) as stream:
            stream.write(text.encode("utf-8"))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        """Read an artefact written by :meth:`save`."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            if raw.get("format") != "escalation-calibration/1":
                raise ValueError(f"unknown format {raw.get('format')!r}")
            return cls(
                scenario=raw["scenario"],
                data_path=raw["data_path"],
                data_hash=raw["data_hash"],
                cutoff=date.fromisoformat(raw["cutoff"]),
                seed=int(raw["seed"]),
                method=raw["method"],
                draws={k: np.asarray(v, dtype=float) for k, v in raw["draws"].items()},
                summaries=raw["summaries"],
                checks=raw["checks"],
                notes=raw["notes"],
                priors=raw.get("priors", "hand"),
                pools=raw.get("pools", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a readable calibration artefact ({err})") from None


def _canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------
# Grids


@dataclass(frozen=True)
class _Axis:
    """A grid axis for one parameter: cell midpoints, widths and prior weight per cell."""

    path: str
    points: np.ndarray
    widths: np.ndarray
    prior: np.ndarray  # prior probability of each cell (sums to 1)


def _axis(
    path: str,
    spec: Param,
    size: int,
    upper: float | None = None,
    steps: np.ndarray | None = None,
    *,
    geometric: bool = False,
) -> _Axis:
    """A grid over the prior's bulk (or a single point for a fixed setting).

    Args:
        path: the parameter's path.
        spec: its prior.
        size: number of cells.
        upper: extend the grid at least this far (where the data put the likelihood).
        steps: values where the likelihood jumps; they become cell edges, so that no cell straddles a jump
            and the jitter inside a cell never leaves the region the data allow.
        geometric: cells of equal width on the log scale (for a positive parameter whose prior spans
            orders of magnitude, as a pooled base rate's does: even cells would be wider than the
            likelihood of a long record, and the jitter inside one cell would swamp it).
    """
    if not isinstance(spec, Dist):
        return _Axis(path, np.array([float(spec)]), np.array([0.0]), np.array([1.0]))
    frozen = spec.frozen()
    low, high = float(frozen.ppf(1e-6)), float(frozen.ppf(1 - 1e-6))
    if upper is not None:
        high = max(high, upper)
    spacing = np.geomspace if geometric and low > 0 else np.linspace
    edges = spacing(low, high, size + 1)
    if steps is not None:
        edges = np.unique(np.concatenate([edges, steps[(steps > low) & (steps < high)]]))
    mass = np.diff(frozen.cdf(edges))
    if mass.sum() <= 0:
        raise ValueError(f"{path}: the prior puts no mass on the grid [{low}, {high}]")
    return _Axis(path, 0.5 * (edges[:-1] + edges[1:]), np.diff(edges), mass / mass.sum())


def _sample_grid(
    axes: list[_Axis], weights: np.ndarray, n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw ``n`` joint samples from a posterior on the grid spanned by ``axes`` (jittered inside cells)."""
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the data are impossible under every parameter value on the grid: check the priors")
    flat = rng.choice(weights.size, size=n, p=(weights / total).ravel())
    cells = np.unravel_index(flat, weights.shape)
    out = {}
    for axis, cell in zip(axes, cells, strict=True):
        jitter = (rng.random(n) - 0.5) * axis.widths[cell]
        out[axis.path] = axis.points[cell] + jitter
    return out


def _summary(samples: np.ndarray, prior: Param, data: str) -> dict[str, Any]:
    q05, q50, q95 = np.quantile(samples, [0.05, 0.5, 0.95])
    prior_text = prior.as_dict() if isinstance(prior, Dist) else float(prior)
    return {
        "prior": prior_text,
        "mean": float(samples.mean()),
        "sd": float(samples.std(ddof=1)),
        "q05": float(q05),
        "q50": float(q50),
        "q95": float(q95),
        "data": data,
    }


# ---------------------------------------------------------------------------------------------------------
# Observations


def _usable(events: EventLog, cutoff: date, kind: EventKind, attacker: str, target: str) -> list[Event]:
    return [
        e
        for e in events
        if e.kind == kind
        and e.attacker == attacker
        and e.target == target
        and e.within is None
        and e.end < cutoff
    ]


def _span_exposure(scenario: ScenarioSpec, dyad_index: int, first: date, last: date, effect: str) -> float:
    """Sum over the days first..last of the mean multiplier of the drivers in force (1 without drivers)."""
    dyad = scenario.attacks[dyad_index]
    total = 0.0
    for k in range((last - first).days + 1):
        day = first + timedelta(days=k)
        factor = 1.0
        for driver in scenario.drivers:
            if driver.effect == effect and driver.in_force(day) and driver.applies_to(dyad):
                factor *= param_mean(driver.factor)
        total += factor
    return total


# ---------------------------------------------------------------------------------------------------------
# Base rates


def _base_rate_posterior(
    scenario: ScenarioSpec, d: int, observations: list[CountObservation], n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]:
    dyad = scenario.attacks[d]
    path = f"attacks.{dyad.key}.base_rate"
    exposures = [
        np.array(
            [_span_exposure(scenario, d, first, last, "base_rate_factor") for first, last in o.segments()]
        )
        for o in observations
    ]
    ratios = [o.readings[-1].count / max(x.sum(), 1e-9) for o, x in zip(observations, exposures, strict=True)]
    axis = _axis(path, dyad.base_rate, 4000, upper=4.0 * float(max(ratios)) + 1.0, geometric=True)
    log_lik = np.zeros(axis.points.size)
    for observation, exposure in zip(observations, exposures, strict=True):
        log_lik += counts_log_likelihood(observation, axis.points[:, None] * exposure[None, :])
    weights = axis.prior * np.exp(log_lik - log_lik.max())
    draws = _sample_grid([axis], weights, n, rng)
    described = "; ".join(o.describe() for o in observations)
    summaries = {path: _summary(draws[path], dyad.base_rate, described)}
    checks = [
        _count_check(o, float(x.sum()), draws[path], rng)
        for o, x in zip(observations, exposures, strict=True)
        if not o.readings[0].event_id.startswith("no rows")
    ]
    return draws, summaries, checks


def _count_check(
    observation: CountObservation, exposure: float, rates: np.ndarray, rng: np.random.Generator
) -> dict[str, Any]:
    """Posterior-predictive distribution of an observation's last (cumulative) count."""
    reading = observation.readings[-1]
    predicted = rng.poisson(rates * exposure)
    low, high = np.quantile(predicted, [0.05, 0.95])
    tail = float((predicted >= reading.count).mean())
    inside = bool(low <= reading.count <= high) if not reading.lower_bound else bool(reading.count <= high)
    return {
        "observation": reading.event_id,
        "quantity": "attacks",
        "observed": reading.count,
        "observed_is_lower_bound": reading.lower_bound,
        "observed_is_approximate": reading.approximate or reading.tally,
        "predicted_mean": float(predicted.mean()),
        "predicted_90": [float(low), float(high)],
        "p_at_least_observed": tail,
        "consistent": inside,
    }


# ---------------------------------------------------------------------------------------------------------
# Attack outcomes


def _outcome_posterior(
    scenario: ScenarioSpec, d: int, rows: list[CasualtyObservation], n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]:
    dyad = scenario.attacks[d]
    target = scenario.actor(dyad.target)
    prefix = f"attacks.{dyad.key}"
    q = _axis(f"actors.{target.name}.interception", target.interception, 50)
    p_inj = _axis(f"{prefix}.injury_probability", dyad.injury_probability, 50)
    extra = _axis(f"{prefix}.injured_extra", dyad.injured_extra, 40)
    p_kill = _axis(f"{prefix}.kill_probability", dyad.kill_probability, 80)
    killed_extra = param_mean(dyad.killed_extra)

    through_q = 1.0 - q.points[:, None, None]
    # Log likelihoods summed over rows: a product of many rows' probabilities would underflow.
    injury = np.zeros((q.points.size, p_inj.points.size, extra.points.size))
    kill = np.zeros((q.points.size, p_kill.points.size))
    with np.errstate(divide="ignore"):
        for event in rows:
            days = (event.end - event.start).days + 1
            through = through_q * _span_exposure(scenario, d, event.start, event.end, "through_factor") / days
            if event.injured is not None:
                injury += np.log(
                    casualty_likelihood(
                        event.attacks,
                        event.injured,
                        np.clip(through * p_inj.points[None, :, None], 0, 1),
                        extra.points[None, None, :],
                        at_least=event.injured_lower_bound,
                    )
                )
            if event.killed is not None:
                kill += np.log(
                    casualty_likelihood(
                        event.attacks,
                        event.killed,
                        np.clip(through[:, :, 0] * p_kill.points[None, :], 0, 1),
                        killed_extra,
                        at_least=event.killed_lower_bound,
                    )
                )
    injury = np.exp(injury - injury.max())
    kill = np.exp(kill - kill.max())
    kill_weight = kill * p_kill.prior[None, :]
    marginal_kill = kill_weight.sum(axis=1)
    weights = (
        q.prior[:, None, None]
        * p_inj.prior[None, :, None]
        * extra.prior[None, None, :]
        * injury
        * marginal_kill[:, None, None]
    )
    draws = _sample_grid([q, p_inj, extra], weights, n, rng)
    q_cells = np.clip(np.searchsorted(q.points + q.widths / 2, draws[q.path]), 0, q.points.size - 1)
    draws[p_kill.path] = _conditional_draws(p_kill, kill_weight[q_cells], rng)

    def total(value: int | None, at_least: bool) -> str:
        return "unknown" if value is None else f"{'at least ' if at_least else ''}{value}"

    described = "; ".join(
        f"{e.attacks} attacks, {total(e.injured, e.injured_lower_bound)} injured, "
        f"{total(e.killed, e.killed_lower_bound)} killed ({e.event_id})"
        for e in rows
    )
    specs: dict[str, Param] = {
        q.path: target.interception,
        p_inj.path: dyad.injury_probability,
        extra.path: dyad.injured_extra,
        p_kill.path: dyad.kill_probability,
    }
    draws = {k: v for k, v in draws.items() if isinstance(specs[k], Dist)}
    summaries = {k: _summary(v, specs[k], described) for k, v in draws.items()}
    values = {**{k: param_mean(v) for k, v in specs.items()}, **draws}
    checks = [_casualty_check(scenario, d, e, values, rng) for e in rows]
    return draws, summaries, checks


def _conditional_draws(axis: _Axis, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``weights`` (rows: unnormalised weights over ``axis`` cells)."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cdf[:, -1]
    cell = np.minimum((cdf < u[:, None]).sum(axis=1), axis.points.size - 1)
    return axis.points[cell] + (rng.random(cell.size) - 0.5) * axis.widths[cell]


def _casualty_check(
    scenario: ScenarioSpec,
    d: int,
    event: CasualtyObservation,
    values: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Posterior-predictive injured and killed totals for the event's number of attacks."""
    dyad = scenario.attacks[d]
    prefix = f"attacks.{dyad.key}"
    q = np.asarray(values[f"actors.{dyad.target}.interception"])
    through = 1.0 - q
    injuring = rng.binomial(event.attacks, np.clip(through * values[f"{prefix}.injury_probability"], 0, 1))
    injured = injuring + rng.poisson(injuring * np.asarray(values[f"{prefix}.injured_extra"]))
    lethal = rng.binomial(event.attacks, np.clip(through * values[f"{prefix}.kill_probability"], 0, 1))
    killed = lethal + rng.poisson(lethal * param_mean(dyad.killed_extra))
    result: dict[str, Any] = {
        "observation": event.event_id,
        "quantity": "casualties",
        "attacks": event.attacks,
    }
    measures = (
        ("injured", event.injured, event.injured_lower_bound, injured),
        ("killed", event.killed, event.killed_lower_bound, killed),
    )
    for name, observed, at_least, predicted in measures:
        if observed is None:
            continue
        low, high = np.quantile(predicted, [0.05, 0.95])
        result[name] = {
            "observed": int(observed),
            "observed_is_lower_bound": at_least,
            "predicted_mean": float(np.mean(predicted)),
            "predicted_90": [float(low), float(high)],
            "consistent": bool(observed <= high) if at_least else bool(low <= observed <= high),
        }
    return result


# ---------------------------------------------------------------------------------------------------------
# Retaliation policy


def _dyad_data(history: ObservedHistory, scenario: ScenarioSpec, d: int, rates: RateData) -> DyadData:
    """A dyad's observations over the days its record covers before the cut-off.

    The days run over the dyad's stated period (cut at the cut-off), else from its first to its last row
    (a record of dated attacks without a period is taken as complete over its span, and says nothing after
    its last row). Dated days are counts (a day without a row is zero), interval rows and tally series
    are observations over their segments, and the harm and strikes the attacker received are those the model
    routes to it (strikes on the attacker, and with the attribution weight strikes on its patron), from the
    observed history.
    """
    observations = rates.observations + ([] if rates.period else rates.dated)
    first = rates.period[0] if rates.period else min(o.start for o in observations)
    last = rates.period[1] if rates.period else max(o.end for o in observations)
    days = (last - first).days + 1
    counts = np.zeros(days)
    intervals = []
    series = []
    for observation in observations:
        start, end = (observation.start - first).days, (observation.end - first).days
        reading = observation.readings[0]
        if is_dated(observation):
            counts[start] += reading.count
            continue
        if len(observation.readings) == 1 and reading.exact and reading.count == 0:
            continue  # no attacks over the interval: every one of its days is exactly zero
        counts[start : end + 1] = np.nan
        if len(observation.readings) == 1 and (reading.exact or reading.lower_bound):
            intervals.append((start, end, reading.count, reading.lower_bound))
        else:
            segments = tuple(((a - first).days, (b - first).days) for a, b in observation.segments())
            series.append((segments, observation))
    provocation, punishment = observed_inflows(history, scenario, channels_of(scenario))
    offset = (first - history.days[0]).days
    harm, strikes = provocation[offset : offset + days, d], punishment[offset : offset + days, d]
    base = np.array(
        [
            _span_exposure(
                scenario, d, first + timedelta(days=k), first + timedelta(days=k), "base_rate_factor"
            )
            for k in range(days)
        ]
    )
    return DyadData(counts, tuple(intervals), harm, strikes, base, tuple(series))


def _likelihood_posterior(
    events: EventLog,
    scenario: ScenarioSpec,
    d: int,
    rates: RateData,
    cutoff: date,
    n: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]:
    dyad = scenario.attacks[d]
    data = _dyad_data(_known_history(events, scenario, cutoff), scenario, d, rates)
    priors = {name: getattr(dyad, name) for name in FIT_NAMES}
    fit = fit_dyad(data, priors, draws=n, rng=rng)
    prefix = f"attacks.{dyad.key}"
    draws = {f"{prefix}.{name}": fit.draws[:, k] for k, name in enumerate(fit.names)}
    filtered = {}
    if fit.paused_at_end is not None and isinstance(dyad.start_paused, Dist):
        # The state the data leave the campaign in, per draw: the forecast starts from it.
        filtered[f"{prefix}.start_paused"] = fit.paused_at_end
    described = (
        f"likelihood of {int(np.nansum(data.counts))} dated attacks over {data.days} days and "
        f"{len(data.intervals) + len(data.series)} interval counts and tallies, given "
        f"{data.strikes.sum():g} strikes received"
    )
    summaries = {
        path: _summary(values, priors[path.rsplit(".", 1)[1]], described) for path, values in draws.items()
    }
    for path, values in filtered.items():
        summaries[path] = _summary(
            values, dyad.start_paused, "filtered: P(paused on the last day of the data | data), per draw"
        )
    draws |= filtered
    check = {
        "observation": f"attacks {dyad.key}",
        "quantity": "time rescaling (randomised PIT of daily counts, KS test)",
        "ks_pvalue": fit.rescaling_ks_pvalue,
        "consistent": None if fit.rescaling_ks_pvalue is None else bool(fit.rescaling_ks_pvalue > 0.01),
        "effective_sample_size": fit.effective_sample_size,
        "converged": fit.converged,
        "residuals": [round(float(x), 4) for x in fit.residuals],
    }
    return draws, summaries, [check]


def _known_history(events: EventLog, scenario: ScenarioSpec, cutoff: date) -> ObservedHistory:
    """The observed days before the cut-off, from the events that had ended before it."""
    known = dataclasses.replace(events, events=tuple(e for e in events if e.end < cutoff))
    return observed_history(known, scenario, until=cutoff)


def _retaliation_sequence(
    events: EventLog, scenario: ScenarioSpec, e: int, cutoff: date
) -> tuple[np.ndarray, np.ndarray, np.ndarray, date]:
    """A retaliation dyad's unanswered harm and trigger on the eve of each observed day, and its strike days.

    The observed days (from the first event to the day before the cut-off) are replayed through the model's
    own memory update (:func:`escalation.history.replay`), with the memories' prior mean lengths: each
    strike answers the harm so far (the memory and the trigger reset), and harm comes from every channel the
    model routes to the dyad (attacks, and strikes on the state).
    """
    history = _known_history(events, scenario, cutoff)
    channels = channels_of(scenario)
    retention = Retention(
        provocation=decay_factor(
            np.array([[param_mean(a.provocation_memory_days) for a in scenario.attacks]])
        ),
        punishment=decay_factor(np.array([[param_mean(a.punishment_memory_days) for a in scenario.attacks]])),
        unanswered=decay_factor(
            np.array([[param_mean(scenario.policy_of(r).memory_days) for r in scenario.retaliations]])
        ),
    )
    eves = replay(history, scenario, channels, retention, Memories.empty(1, channels), record_eve=True)
    eve = np.array([m.unanswered[0, e] for m in eves])
    pending = np.array([m.lethal_pending[0, e] for m in eves], dtype=bool)
    struck = history.strikes[:, e, :].sum(axis=1) > 0
    return eve, pending, struck, history.days[0]


def _policy_posterior(
    events: EventLog,
    scenario: ScenarioSpec,
    dyads: Sequence[int],
    cutoff: date,
    n: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]:
    """Threshold and daily strike probability from every day on which the state could have struck.

    On a day it was ready (unanswered harm at the threshold, or a dated lethal attack since its last strike)
    it struck with probability rho; a strike on a day it was not ready is impossible for that threshold.
    ``dyads`` are the retaliation dyads whose threshold and strike probability are the same two parameters
    (one policy toward several targets): their days are independent trials of the same rule, so their log
    likelihoods add.
    """
    first = scenario.retaliations[dyads[0]]
    policy = scenario.policy_of(first)
    sequences = [(e, *_retaliation_sequence(events, scenario, e, cutoff)) for e in dyads]
    eves = np.concatenate([eve for _, eve, _, _, _ in sequences])
    theta = _axis(
        f"policy.{scenario.policy_key(first, 'threshold')}.threshold",
        policy.threshold,
        400,
        upper=2.0 * float(eves.max()),
        steps=np.unique(eves),
    )
    rho = _axis(
        f"policy.{scenario.policy_key(first, 'retaliation_probability')}.retaliation_probability",
        policy.retaliation_probability,
        200,
    )
    log_rho = np.log(np.clip(rho.points, 1e-300, 1.0))
    log_wait = np.log1p(-np.clip(rho.points, 0.0, 1.0 - 1e-15))
    log_lik = np.zeros((theta.points.size, rho.points.size))
    described, checks = [], []
    for e, eve, pending, struck, first_day in sequences:
        ready = ((eve[None, :] >= theta.points[:, None]) & (eve[None, :] > 0)) | pending[None, :]
        struck_ready = (ready & struck[None, :]).sum(axis=1)
        waited = (ready & ~struck[None, :]).sum(axis=1)
        possible = (ready | ~struck[None, :]).all(axis=1)
        log_lik = log_lik + struck_ready[:, None] * log_rho[None, :] + waited[:, None] * log_wait[None, :]
        log_lik = np.where(possible[:, None], log_lik, -np.inf)
        strike_days = [first_day + timedelta(days=int(t)) for t in np.flatnonzero(struck)]
        dyad = scenario.retaliations[e]
        described.append(
            f"{dyad.key}: {len(strike_days)} strike day(s) ({', '.join(d.isoformat() for d in strike_days)}) "
            f"over {eve.size} observed days since {first_day.isoformat()}"
        )
        checks.append(
            {
                "observation": f"retaliation {policy.key}",
                "dyad": dyad.key,
                "quantity": "retaliation sequence",
                "strike_days": [d.isoformat() for d in strike_days],
                "unanswered_harm_before_strikes": [float(eve[t]) for t in np.flatnonzero(struck)],
                "days_observed": int(eve.size),
            }
        )
    weights = (
        theta.prior[:, None] * rho.prior[None, :] * np.exp(log_lik - np.max(log_lik[np.isfinite(log_lik)]))
    )
    draws = _sample_grid([theta, rho], weights, n, rng)
    specs = {theta.path: policy.threshold, rho.path: policy.retaliation_probability}
    draws = {k: v for k, v in draws.items() if isinstance(specs[k], Dist)}
    summaries = {k: _summary(v, specs[k], "; ".join(described)) for k, v in draws.items()}
    return draws, summaries, checks


# ---------------------------------------------------------------------------------------------------------


def calibrate(
    events: EventLog,
    scenario: ScenarioSpec,
    *,
    cutoff: date | None = None,
    draws: int = 4000,
    seed: int = 0,
    method: str = "auto",
    priors: str = "reference_class",
    leave_out: tuple[str, ...] = (),
) -> Calibration:
    """Update the scenario's uncertain parameters with the events that ended before ``cutoff``.

    Args:
        events: the event log.
        scenario: the scenario whose distributions are the priors.
        cutoff: use only events that end before this date (default: the scenario's start).
        draws: number of joint posterior draws to keep.
        seed: seed of the posterior sampling (the artefact is a deterministic function of its inputs).
        method: how attack dyads are fitted. ``grid``: base rates from interval counts (first version).
            ``likelihood``: every dyad with dated attacks is fitted by its own likelihood
            (:mod:`escalation.fitting`: base rate, excitation, deterrence and memory lengths from daily
            counts given the strikes it received). ``auto``: the likelihood for dyads with at least
            ``MIN_DATED_ATTACKS`` exactly dated attacks, the grid otherwise.
        priors: ``reference_class`` (default): the parameters a pool of the reference-class records applies
            to (:mod:`escalation.pooling`) take the pool's predictive distribution, from the records' rows
            known before ``cutoff``, as their prior; the others keep the scenario's. ``hand``: the scenario's
            distributions everywhere.
        leave_out: reference records (file names) kept out of the pools: a backtest on an episode leaves
            that episode out of the prior that forecasts it.

    Returns:
        The calibration artefact. Parameters without data keep their priors and are not in ``draws``.
    """
    cutoff = cutoff or scenario.start
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration.method: unknown {method!r}; allowed: {', '.join(CALIBRATION_METHODS)}")
    if priors not in PRIOR_SOURCES:
        raise ValueError(f"calibration.priors: unknown {priors!r}; allowed: {', '.join(PRIOR_SOURCES)}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    all_draws: dict[str, np.ndarray] = {}
    summaries: dict[str, dict] = {}
    checks: list[dict] = []
    notes: list[str] = []
    pooled = reference_priors(scenario, cutoff, leave_out=leave_out) if priors == "reference_class" else {}
    policy_pooled = (
        policy_priors(scenario, cutoff, leave_out=leave_out) if priors == "reference_class" else {}
    )
    poolable = any(pools_describe(scenario, d) and isinstance(d.base_rate, Dist) for d in scenario.attacks)
    if priors == "reference_class" and poolable and not pooled:
        notes.append(
            f"priors: no stretch of the reference-class pool is known before {cutoff}"
            + (f" outside {', '.join(leave_out)}" if leave_out else "")
            + "; the hand-set priors are kept"
        )
    scenario = with_policy_priors(with_priors(scenario, pooled), policy_pooled)
    pooled = {**pooled, **policy_pooled}

    def add(result: tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]) -> None:
        new_draws, new_summaries, new_checks = result
        all_draws.update(new_draws)
        summaries.update(new_summaries)
        checks.extend(new_checks)

    for d, dyad in enumerate(scenario.attacks):
        rates = rate_observations(events, dyad.attacker, dyad.target, cutoff)
        by_likelihood = (method == "likelihood" and rates.dated) or (
            method == "auto" and len(rates.dated) >= MIN_DATED_ATTACKS
        )
        if isinstance(dyad.base_rate, Dist):
            if by_likelihood:
                add(_likelihood_posterior(events, scenario, d, rates, cutoff, draws, rng))
            elif rates.observations:
                add(_base_rate_posterior(scenario, d, rates.observations, draws, rng))
                notes.extend(f"attacks.{dyad.key}.base_rate: {note}" for note in rates.left_out)
            else:
                notes.append(f"attacks.{dyad.key}.base_rate: no interval counts before {cutoff}; prior kept")
                notes.extend(f"attacks.{dyad.key}.base_rate: {note}" for note in rates.left_out)
        used, ignored = usable_casualties(events, dyad.attacker, dyad.target, cutoff)
        notes.extend(f"attacks.{dyad.key} casualties: {i.event_id} left out: {i.reason}" for i in ignored)
        if used:
            add(_outcome_posterior(scenario, d, used, draws, rng))
    # (threshold key, strike-probability key) -> the retaliation dyads whose days fit those two parameters:
    # every dyad of the policy attacked before the cut-off, struck or not, where at least one of them struck
    # (a dyad never answered contributes its ready days as trials without a strike).
    candidates: dict[tuple[str, ...], list[int]] = {}
    striking: set[tuple[str, ...]] = set()
    for e, dyad in enumerate(scenario.retaliations):
        strikes = sorted(
            _usable(events, cutoff, EventKind.STRIKE, dyad.state, dyad.target), key=lambda e: e.start
        )
        attacks = _usable(events, cutoff, EventKind.ATTACK, dyad.target, dyad.state)
        policy = scenario.policy_of(dyad)
        uncertain = isinstance(policy.threshold, Dist) or isinstance(policy.retaliation_probability, Dist)
        if strikes and any(
            a.key == f"{dyad.state}->{dyad.target}" and a.background for a in scenario.attacks
        ):
            notes.append(
                f"scenario.retaliations.{dyad.key}: {len(strikes)} strike row(s) of {dyad.state} on "
                f"{dyad.target} are read as answers (the retaliation dyad), not as the background campaign "
                f"{dyad.key}, whose rows are attack rows"
            )
        if not (attacks and uncertain) or (strikes and min(e.start for e in attacks) >= strikes[0].start):
            continue
        if can_be_nonzero(policy.direct_retaliation_probability):
            if strikes:
                notes.append(
                    f"policy.{policy.key}: not calibrated from the strike sequence, whose likelihood has no "
                    "direct trigger (direct_retaliation_probability); priors kept"
                )
            continue
        keys = tuple(scenario.policy_key(dyad, n) for n in ("threshold", "retaliation_probability"))
        candidates.setdefault(keys, []).append(e)
        if strikes:
            striking.add(keys)
    fitted = {keys: dyads for keys, dyads in candidates.items() if keys in striking}
    policy_fits: dict[str, str] = {}  # parameter path -> the dyads whose strikes fitted it
    for dyads in fitted.values():
        names = ", ".join(scenario.retaliations[e].key for e in dyads)
        result = _policy_posterior(events, scenario, dyads, cutoff, draws, rng)
        for path in result[0]:
            if path in policy_fits:
                # One parameter shared by two groups of dyads whose other parameter differs: a joint fit
                # would need both groups on one grid of three parameters, which this fit does not make.
                notes.append(
                    f"{path}: fitted from the days of {names}, not jointly with those of "
                    f"{policy_fits[path]} (whose other policy parameter differs); this fit's draws are kept, "
                    "so they are not paired with the other fit's draws of that parameter"
                )
            policy_fits[path] = names
        add(result)
    fields_used: dict[str, list[str]] = {}  # policy key -> its parameters the dyads use
    for dyad in scenario.retaliations:
        for name in ("threshold", "retaliation_probability"):
            fields_used.setdefault(scenario.policy_key(dyad, name), []).append(name)
    for key, names in fields_used.items():
        spec = next(p for p in scenario.policies if p.key == key)
        if any(
            isinstance(getattr(spec, n), Dist) and f"policy.{key}.{n}" not in summaries for n in set(names)
        ):
            notes.append(f"policy.{key}: no strike after observed attacks before {cutoff}; priors kept")
    for path, prior in pooled.items():
        if path not in all_draws:  # no data: the pooled prior itself, drawn so that every run uses it
            all_draws[path] = np.asarray(prior.prior.frozen().rvs(size=draws, random_state=rng), dtype=float)
            summaries[path] = _summary(all_draws[path], prior.prior, "none: the pooled prior only")
    for path, summary in summaries.items():
        summary.update(_movement(summary, pooled.get(path)))
    notes.extend(_standing_notes(scenario, summaries))
    populations: dict[int, tuple[Any, list[str]]] = {}
    for path, prior in pooled.items():
        populations.setdefault(id(prior.population), (prior.population, []))[1].append(path)
    for population, shared in populations.values():
        paths = ", ".join(shared)
        if "approximation" in (summary := population.summary()):
            notes.append(f"{paths}: pooled prior; {summary['approximation']}")
        notes.extend(f"{paths}: pooled prior; {note}" for note in population.notes)
    return Calibration(
        scenario=scenario.name,
        data_path=str(events.path),
        data_hash=events.data_hash,
        cutoff=cutoff,
        seed=seed,
        method=METHOD,
        draws=all_draws,
        summaries=summaries,
        checks=checks,
        notes=notes,
        priors=priors,
        pools={path: prior.population.summary() for path, prior in pooled.items()},
    )


def _movement(summary: dict[str, Any], pooled: PooledPrior | None) -> dict[str, Any]:
    """Where a parameter's prior came from, and how far the data narrowed it (90% interval widths)."""
    prior = summary["prior"]
    if isinstance(prior, dict):
        frozen = Dist(prior["dist"], tuple(sorted((k, v) for k, v in prior.items() if k != "dist"))).frozen()
        low, high = (float(x) for x in frozen.ppf([0.05, 0.95]))
    else:
        low = high = float(prior)
    width = high - low
    return {
        "prior_source": pooled.source() if pooled else "hand-set (assumption)",
        "prior_90": [low, high],
        "interval_ratio": (summary["q95"] - summary["q05"]) / width if width > 0 else None,
    }


def _standing_notes(scenario: ScenarioSpec, summaries: dict[str, dict]) -> list[str]:
    """What the calibration leaves to priors, said in the artefact so that no reader mistakes it for data."""
    notes = [
        "excitation and deterrence weights are fitted only for dyads with dated attacks (method likelihood); "
        "elsewhere they are priors",
        "a lower-bound count bounds a base rate from below only; its upper side comes from the prior",
        "casualty totals identify the expected number injured (and killed) per attack; how it splits into "
        "interception, injury probability and injured per injuring attack follows the priors",
        "casualty totals over an interval whose count is a lower bound are attributed to the counted attacks",
        "threshold and daily strike probability trade off: the timing of strikes constrains them jointly, "
        "not each one",
    ]
    if any(can_be_nonzero(dyad.pause_hazard) for dyad in scenario.attacks):
        notes.append(
            "campaign regimes: exactly dated days and interval counts go through the regimes' forward "
            "algorithm; tally series, and interval counts of more than 300 attacks, too long for its "
            "lattice or overlapping another, are read with the campaign active, so a pause inside one lowers "
            "the fitted active rate"
        )
    calibrated = {path.split(".")[0] + "." + path.split(".")[1] for path in summaries}
    for dyad in scenario.attacks:
        if f"attacks.{dyad.key}" not in calibrated and isinstance(dyad.base_rate, Dist):
            notes.append(f"attacks.{dyad.key}: no data in the event log; every parameter is its prior")
    return notes


# ---------------------------------------------------------------------------------------------------------
# Shared calibrations: one per distinct calibration input (the points of a sweep)

CACHE_FORMAT = "escalation-calibration-inputs/1"
# Fields of the scenario that calibrate() never reads (neither directly nor through the history, the
# semantics, the counts, the fits or the pools): a sweep over them shares one calibration. Every other field
# enters the key. tests/test_store.py changes each of them and checks that the calibration does not change.
UNREAD_FIELDS: dict[str, frozenset[str]] = {
    "ScenarioSpec": frozenset({"description", "horizon_days", "thresholds", "tracked_targets"}),
    "PolicySpec": frozenset({"proportionality", "max_strikes_per_day"}),
}
_MEMORY: dict[str, Calibration] = {}  # key -> calibration, for the points one process runs in turn
_MEMORY_SIZE = 8


def _plain(value: Any, cutoff: date) -> Any:
    """A spec as plain JSON-ready data, leaving out the fields in :data:`UNREAD_FIELDS`.

    A driver that comes into force on or after the cut-off changes no day the calibration reads (its
    exposures are sums over days before the cut-off), so its factor is left out too.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value).__name__
        unread = set(UNREAD_FIELDS.get(kind, ()))
        if kind == "DriverSpec" and value.date >= cutoff:
            unread.add("factor")
        return {
            "type": kind,
            **{
                f.name: _plain(getattr(value, f.name), cutoff)
                for f in dataclasses.fields(value)
                if f.name not in unread
            },
        }
    if isinstance(value, dict):
        return {str(k): _plain(v, cutoff) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, cutoff) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)


def calibration_inputs(
    events: EventLog,
    scenario: ScenarioSpec,
    *,
    cutoff: date | None = None,
    draws: int = 4000,
    seed: int = 0,
    method: str = "auto",
    priors: str = "reference_class",
    leave_out: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Everything :func:`calibrate` reads, as plain data; its hash is :func:`calibration_key`.

    The event file (hash and path), the scenario's fields that it reads, the settings and the package version.
    """
    cutoff = cutoff or scenario.start
    return {
        "format": CACHE_FORMAT,
        "escalation_version": __version__,
        "data_path": str(events.path),
        "data_hash": events.data_hash,
        "cutoff": cutoff.isoformat(),
        "draws": int(draws),
        "seed": int(seed),
        "method": str(method),
        "priors": str(priors),
        "leave_out": list(leave_out),
        "scenario": _plain(scenario, cutoff),
    }


def calibration_key(events: EventLog, scenario: ScenarioSpec, **settings: Any) -> str:
    """sha256 of :func:`calibration_inputs`: equal keys mean equal calibrations."""
    return hashlib.sha256(
        _canonical_json(calibration_inputs(events, scenario, **settings)).encode()
    ).hexdigest()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (POSIX ``flock``; released by the system if the holder dies)."""
    try:
        import fcntl
    except ImportError:  # no flock: two processes may both compute; the atomic rename keeps the file whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _load_shared(path: Path, key: str) -> Calibration | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8")).get("calibration_key")
    except (OSError, ValueError, AttributeError):
        return None
    if stored != key:
        return None
    try:
        return Calibration.load(path)
    except ValueError:
        return None


def shared_calibration(
    folder: str | os.PathLike[str], events: EventLog, scenario: ScenarioSpec, **settings: Any
) -> tuple[Calibration, Path, bool]:
    """The calibration of these inputs from ``folder`` (``<key>.json``), computed and stored there if absent.

    Points of a sweep whose calibration inputs are the same (:func:`calibration_key`) share one file, read
    instead of calibrating again. The file is a calibration artefact (:meth:`Calibration.load` reads it)
    with the draws at full precision, so a point that reads it runs on exactly the draws of the point that
    computed it, and with its key and inputs. One process computes a key at a time (a lock file per key;
    the others wait, then read it), and the file is written by an atomic rename, so parallel points never
    see half a file.

    Returns:
        The calibration, its file, and whether this call computed it.
    """
    folder = Path(folder)
    key = calibration_key(events, scenario, **settings)
    path = folder / f"{key}.json"
    if key in _MEMORY and path.is_file():
        return _MEMORY[key], path, False
    computed = False
    calibration = _load_shared(path, key)
    if calibration is None:
        with _locked(folder / f".{key}.lock"):
            calibration = _load_shared(path, key)  # another process may have written it meanwhile
            if calibration is None:
                calibration = calibrate(events, scenario, **settings)
                extra = {
                    "calibration_key": key,
                    "calibration_inputs": calibration_inputs(events, scenario, **settings),
                }
                calibration.save(path, exact=True, extra=extra)
                computed = True
        (folder / f".{key}.lock").unlink(missing_ok=True)
    while len(_MEMORY) >= _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = calibration
    return calibration, path, computed
