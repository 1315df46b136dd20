"""Backtests: calibrate on the events known at a cut-off, forecast the days after it, score what happened.

A backtest is honest only if the forecast could have been made on the cut-off date. So the calibration and the
warm start see only the events that *ended* before the cut-off (an interval count that runs past it was not
known yet), the model simulates from the cut-off, and the forecast is scored against the events after it:

- the cumulative attacks on a target at each dated observation: CRPS, and whether the 50% and 90% forecast
  intervals cover it, plus the randomised PIT. An observation known only as a lower bound (an attack dated
  inside an interval row that began before the cut-off, whose other attacks are undated) cannot be scored by
  CRPS; the forecast probability of at least that many is reported instead;
- the named thresholds by the horizon: Brier and log scores of the forecast probability against whether the
  event happened.

The same count scores are computed for baselines that need no model: *no change* (the attack rate of the
last ``window_days`` before the cut-off carried forward as a Poisson rate), *constant rate* (the rate over
all known days) and, where the record reaches back a year, *climatology* (the rate in the same calendar window
of earlier years), with skill scores relative to them. In conflict forecasting the no-change baseline is hard
to beat, so a model that does not beat it has not earned its complexity.

A backtest scores only what the record can say. Days after the end of the period the record covers
(``EventLog.coverage``: the period the file states, else the end of its last event) are unknown, not "no
event": counts there are not observed, and a threshold whose window runs past the record, or that only an
interval row straddling the window could have met, is *unknown* and left out of the scores; the summary says
how many were left out and why. Whether a threshold happened is decided by
:func:`escalation.semantics.happened`, the same placement of events on the ladder as the model's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from escalation import scoring
from escalation.calibration import Calibration, calibrate
from escalation.counts import resolved
from escalation.ensemble import EnsembleResult, run_ensemble
from escalation.events import Event, EventKind, EventLog
from escalation.history import observed_history
from escalation.semantics import happened
from escalation.specs import EnsembleSpec, ScenarioSpec

LEVELS = (0.5, 0.9)
# PIT histograms and reliability diagrams are drawn from this many scored forecasts on.
MIN_FOR_DIAGRAMS = 10


@dataclass(frozen=True)
class Observation:
    """A dated cumulative count of attacks on the target since the cut-off."""

    date: dt.date
    day: int
    count: int
    lower_bound: bool


def known_before(events: EventLog, cutoff: dt.date) -> EventLog:
    """The events that had ended before the cut-off: what a forecaster could know on that date.

    Stated periods are cut at the day before the cut-off; tally series become their increments
    (:func:`escalation.counts.resolved`), so that a tally is counted once.
    """

    def cut(period: tuple[dt.date, dt.date] | None) -> tuple[dt.date, dt.date] | None:
        if period is None:
            return None
        last = min(period[1], cutoff - dt.timedelta(days=1))
        return (period[0], last) if last >= period[0] else None

    dyad_periods = {dyad: cut(span) for dyad, span in events.dyad_periods.items()}
    counted = resolved(events)
    return dataclasses.replace(
        counted,
        events=tuple(e for e in counted if e.end < cutoff),
        period=cut(events.period),
        dyad_periods={dyad: span for dyad, span in dyad_periods.items() if span is not None},
    )


def target_coverage(events: EventLog, target: str | None = None) -> tuple[dt.date, dt.date] | None:
    """The days on which the record knows every attack on ``target``: the overlap of its attackers' coverage.

    Without a target, or when the record names no attacker of it, the record's coverage.
    """
    if target is None:
        return events.coverage
    attackers = {e.attacker for e in events if e.kind == EventKind.ATTACK and e.target == target}
    attackers |= {attacker for attacker, victim in events.dyad_periods if victim == target}
    spans = [span for a in sorted(attackers) if (span := events.coverage_of(a, target)) is not None]
    if not spans:
        return events.coverage
    first, last = max(s[0] for s in spans), min(s[1] for s in spans)
    return (first, last) if first <= last else None


def scored_days(events: EventLog, cutoff: dt.date, horizon_days: int, target: str | None = None) -> int:
    """How many days of the horizon the record covers for ``target`` (the rest are unknown, not scored)."""
    coverage = target_coverage(events, target)
    if coverage is None:
        return 0
    return max(0, min(horizon_days, (coverage[1] - cutoff).days + 1))


def observations_after(
    events: EventLog, target: str, cutoff: dt.date, horizon_days: int
) -> list[Observation]:
    """Cumulative attacks on ``target`` since the cut-off, on the days the record lets them be known.

    One observation at the end date of each attack row in the horizon, and one on the last day of the horizon
    the record covers (so a quiet spell is scored as the zero it was), unless an interval row straddles that
    day. Rows counted by an interval row that started before the cut-off are included, but the count becomes
    a lower bound: the interval's other attacks are undated and may fall after the cut-off too. Days after
    the end of the record are not observed.
    """
    events = resolved(events)
    last = cutoff + dt.timedelta(days=scored_days(events, cutoff, horizon_days, target) - 1)
    by_id = {e.event_id: e for e in events}
    attacks = [e for e in events if e.kind == EventKind.ATTACK and e.target == target]
    rows: list[tuple[Event, bool]] = []
    for event in attacks:
        if not cutoff <= event.start <= event.end <= last:
            continue
        parent = by_id.get(event.within) if event.within else None
        if parent is not None and parent.start >= cutoff and parent.end <= last:
            continue  # counted by its interval row, which is itself an observation
        rows.append((event, event.lower_bound or parent is not None))
    by_date: dict[dt.date, Observation] = {}  # one observation per date: the count at the end of that day
    total, lower = 0, False
    for event, bound in sorted(rows, key=lambda r: r[0].end):
        total += event.count
        lower = lower or bound
        by_date[event.end] = Observation(event.end, (event.end - cutoff).days, total, lower)
    straddled = any(e.start <= last < e.end for e in attacks if e.within is None)
    if last >= cutoff and last not in by_date and not straddled:
        lower = lower or any(e.start < cutoff <= e.end for e in attacks if e.within is None)
        by_date[last] = Observation(last, (last - cutoff).days, total, lower)
    return sorted(by_date.values(), key=lambda o: o.date)


def _daily_counts(events: EventLog, target: str, cutoff: dt.date) -> tuple[np.ndarray, dt.date] | None:
    """Attacks on ``target`` per day before the cut-off, from the first day (interval counts spread)."""
    rows = [e for e in events if e.kind == EventKind.ATTACK and e.target == target and e.within is None]
    if not rows:
        return None
    first = min(e.start for e in rows)
    daily = np.zeros((cutoff - first).days)
    for event in rows:
        start = (event.start - first).days
        daily[start : start + event.days] += event.count / event.days
    return daily, first


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    return day.replace(
        year=day.year - years, day=min(day.day, 28) if (day.month, day.day) == (2, 29) else day.day
    )


def baseline_rates(
    events: EventLog, target: str, cutoff: dt.date, window_days: int, horizon_days: int = 0
) -> dict[str, float]:
    """Poisson rates (attacks a day) of the baselines; empty without data.

    *No change*: the last ``window_days`` before the cut-off. *Constant rate*: all known days.
    *Climatology*, where the record reaches back a year or more: the same calendar window as the forecast
    (cut-off to cut-off + horizon) in every earlier year the record covers.
    """
    counted = _daily_counts(events, target, cutoff)
    if counted is None:
        return {}
    daily, first = counted
    rates = {"no change": float(daily[-window_days:].mean()), "constant rate": float(daily.mean())}
    windows = []
    years_back = 1
    while (start := _years_before(cutoff, years_back)) >= first:
        index = (start - first).days
        windows.append(daily[index : index + max(horizon_days, 1)])
        years_back += 1
    if windows:
        rates["climatology"] = float(np.concatenate(windows).mean())
    return rates


def _poisson_histogram(rate: float, days: int, width: int) -> np.ndarray:
    """(days, width) probability of each cumulative count by the end of each day under a constant rate."""
    counts = np.arange(width)
    table = scipy.stats.poisson.pmf(counts[None, :], rate * (np.arange(days)[:, None] + 1))
    # The tail beyond the support goes into the last cell, so each row is a distribution (never below zero:
    # rounding can make a row sum to a hair above one).
    table[:, -1] += np.maximum(0.0, 1.0 - table.sum(axis=1))
    return table


@dataclass(frozen=True)
class BacktestResult:
    """A backtest's forecast, its baselines, the observations and the scores."""

    cutoff: dt.date
    horizon_days: int
    target: str
    forecast: EnsembleResult
    calibration: Calibration
    observations: tuple[Observation, ...]
    baselines: dict[str, float]
    scores: pd.DataFrame
    thresholds: pd.DataFrame

    scored_days: int

    def summary(self) -> dict:
        """Mean scores per forecaster and skill relative to the baselines (JSON-ready)."""
        forecasters = forecaster_scores(self.scores)
        thresholds = self.thresholds.astype({"happened": object}).replace({pd.NA: None, np.nan: None})
        return {
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "target": self.target,
            "observations": len(self.observations),
            "observations_lower_bound": int(sum(o.lower_bound for o in self.observations)),
            "days_scored": self.scored_days,
            "days_left_out": self.horizon_days - self.scored_days,
            "days_left_out_reason": "after the end of the period the record covers",
            "baseline_rates": self.baselines,
            "forecasters": forecasters,
            "thresholds": thresholds.to_dict("records"),
            "threshold_scores": threshold_scores(self.thresholds),
            "replications": self.forecast.replications,
            "seed": self.forecast.ensemble.seed,
            "calibration_hash": self.calibration.hash,
        }


def forecaster_scores(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Mean CRPS and interval coverage per forecaster over the exact observations, and the model's skill."""
    exact = scores[~scores["lower_bound"].astype(bool)]  # pooled tables can hold it as object dtype
    forecasters: dict[str, dict[str, float]] = {}
    for name, rows in exact.groupby("forecaster", sort=False):
        forecasters[name] = {
            "observations_scored": len(rows),
            "mean_crps": float(rows["crps"].mean()),
            **{
                f"coverage_{round(100 * level)}": float(rows[f"covered_{round(100 * level)}"].mean())
                for level in LEVELS
            },
        }
    model = forecasters.get("model", {}).get("mean_crps")
    for name, entry in list(forecasters.items()):
        if name != "model" and model is not None and entry["mean_crps"] > 0:
            forecasters["model"][f"crps_skill_vs_{name.replace(' ', '_')}"] = scoring.skill(
                model, entry["mean_crps"]
            )
    return forecasters


def forecast_from(
    known: EventLog,
    scenario: ScenarioSpec,
    cutoff: dt.date,
    horizon_days: int,
    ensemble: EnsembleSpec,
    *,
    calibration_draws: int = 4000,
    calibration_seed: int = 0,
    calibration_method: str = "auto",
    calibration_priors: str = "reference_class",
    leave_out: tuple[str, ...] = (),
) -> tuple[Calibration, EnsembleResult]:
    """The forecast a backtest scores, made from ``known`` (what was known at the cut-off).

    The scenario is calibrated on those events, then simulated from the cut-off for ``horizon_days``,
    warm-started from the same events.
    """
    forecast_scenario = dataclasses.replace(scenario, start=cutoff, horizon_days=horizon_days)
    calibration = calibrate(
        known,
        forecast_scenario,
        cutoff=cutoff,
        draws=calibration_draws,
        seed=calibration_seed,
        method=calibration_method,
        priors=calibration_priors,
        leave_out=leave_out,
    )
    forecast = run_ensemble(
        forecast_scenario,
        ensemble,
        calibration_draws=calibration.draws,
        history=observed_history(known, forecast_scenario),
        calibration_hash=calibration.hash,
    )
    return calibration, forecast


def run_backtest(
    events: EventLog,
    scenario: ScenarioSpec,
    cutoff: dt.date,
    horizon_days: int,
    ensemble: EnsembleSpec,
    *,
    target: str = "us",
    window_days: int = 7,
    calibration_draws: int = 4000,
    calibration_seed: int = 0,
    calibration_method: str = "auto",
    calibration_priors: str = "reference_class",
) -> BacktestResult:
    """Calibrate on the events known at ``cutoff``, forecast ``horizon_days``, and score what happened."""
    if target not in scenario.tracked_targets:
        raise ValueError(
            f"backtest.target: {target!r} is not tracked; allowed: {', '.join(scenario.tracked_targets)}"
        )
    known = known_before(events, cutoff)
    calibration, forecast = forecast_from(
        known,
        scenario,
        cutoff,
        horizon_days,
        ensemble,
        calibration_draws=calibration_draws,
        calibration_seed=calibration_seed,
        calibration_method=calibration_method,
        calibration_priors=calibration_priors,
    )
    observations = tuple(observations_after(events, target, cutoff, horizon_days))
    baselines = baseline_rates(known, target, cutoff, window_days, horizon_days)
    histogram = forecast.outcomes.count_histograms[target]
    width = max(histogram.shape[1], max((o.count for o in observations), default=0) + 1) * 2
    forecasters = {"model": histogram} | {
        name: _poisson_histogram(rate, horizon_days, width) for name, rate in baselines.items()
    }
    scores = _score_counts(forecasters, observations, seed=ensemble.seed)
    end = cutoff + dt.timedelta(days=horizon_days)
    thresholds = _score_thresholds(forecast, events, cutoff, end, horizon_days)
    return BacktestResult(
        cutoff,
        horizon_days,
        target,
        forecast,
        calibration,
        observations,
        baselines,
        scores,
        thresholds,
        scored_days(events, cutoff, horizon_days, target),
    )


def _score_counts(
    forecasters: dict[str, np.ndarray], observations: tuple[Observation, ...], seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for name, table in forecasters.items():
        for obs in observations:
            forecast = table[obs.day]
            at_least = float(forecast[obs.count :].sum() / forecast.sum())
            row = {"forecaster": name, "date": pd.Timestamp(obs.date), "day": obs.day, "observed": obs.count,
                   "lower_bound": obs.lower_bound, "p_at_least_observed": at_least}  # fmt: skip
            if not obs.lower_bound:
                row["crps"] = scoring.crps(forecast, obs.count)
                for level in LEVELS:
                    row[f"covered_{round(100 * level)}"] = scoring.interval_covers(forecast, obs.count, level)
                row["pit"] = scoring.randomized_pit(forecast, obs.count, rng)
            rows.append(row)
    columns = ["forecaster", "date", "day", "observed", "lower_bound", "p_at_least_observed", "crps",
               "covered_50", "covered_90", "pit"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _score_thresholds(
    forecast: EnsembleResult, events: EventLog, start: dt.date, end: dt.date, horizon_days: int
) -> pd.DataFrame:
    """Forecast probability of each named threshold by the horizon, whether it happened, and its scores.

    ``happened`` is True, False or missing (*unknown*: the window runs past the record, or only an interval
    row straddling it could have met the threshold); unknown thresholds get no scores.
    """
    table = forecast.threshold_table((horizon_days,))
    scenario = forecast.scenario
    outcome = [happened(events, t, scenario, start, end) for t in scenario.thresholds]
    known = np.array([h is not None for h in outcome], dtype=bool)
    observed = np.array([bool(h) for h in outcome], dtype=bool)
    probability = table["probability"].to_numpy()
    brier = np.full(probability.shape, np.nan)
    log_score = np.full(probability.shape, np.nan)
    brier[known] = scoring.brier(probability[known], observed[known])
    log_score[known] = scoring.log_score(
        probability[known], observed[known], replications=forecast.replications
    )
    return pd.DataFrame(
        {
            "threshold": table["threshold"],
            "label": table["label"],
            "horizon_days": horizon_days,
            "probability": probability,
            "happened": pd.array(outcome, dtype="boolean"),
            "brier": brier,
            "log_score": log_score,
        }
    )


def threshold_scores(thresholds: pd.DataFrame) -> dict[str, object]:
    """Mean Brier and log scores over the thresholds whose outcome is known, and how many were left out."""
    known = thresholds[thresholds["happened"].notna()]
    return {
        "forecasts": len(known),
        "mean_brier": float(known["brier"].mean()) if len(known) else None,
        "mean_log_score": float(known["log_score"].mean()) if len(known) else None,
        "left_out": len(thresholds) - len(known),
        "left_out_reason": UNKNOWN_REASON,
    }


UNKNOWN_REASON = (
    "unknown outcome: the horizon runs past the end of the record, or only an interval row that straddles "
    "the window could have met the threshold"
)


def reliability_table(probability: np.ndarray, happened: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Forecast probabilities binned, with the observed frequency of the event in each bin.

    For calibrated forecasts the observed frequency in a bin matches its mean forecast (the diagonal of a
    reliability diagram).
    """
    probability = np.asarray(probability, dtype=float)
    happened = np.asarray(happened, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    rows = []
    for k in range(bins):
        inside = index == k
        if inside.any():
            rows.append({"bin_lower": edges[k], "bin_upper": edges[k + 1], "forecasts": int(inside.sum()),
                         "mean_forecast": float(probability[inside].mean()),
                         "observed_frequency": float(happened[inside].mean())})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["bin_lower", "bin_upper", "forecasts", "mean_forecast", "observed_frequency"]
    )


@dataclass(frozen=True)
class RollingBacktest:
    """Backtests from several cut-offs (rolling origins), with their scores pooled."""

    results: tuple[BacktestResult, ...]

    def scores(self) -> pd.DataFrame:
        """Every origin's count scores, with its cut-off."""
        return pd.concat(
            [r.scores.assign(cutoff=pd.Timestamp(r.cutoff)) for r in self.results], ignore_index=True
        )

    def thresholds(self) -> pd.DataFrame:
        """Every origin's threshold forecasts and scores, with its cut-off."""
        return pd.concat(
            [r.thresholds.assign(cutoff=pd.Timestamp(r.cutoff)) for r in self.results], ignore_index=True
        )

    def reliability(self, bins: int = 10) -> pd.DataFrame:
        """Reliability table of the threshold forecasts whose outcome is known."""
        table = self.thresholds()
        table = table[table["happened"].notna()]
        return reliability_table(
            table["probability"].to_numpy(), table["happened"].to_numpy(dtype=bool), bins
        )

    def summary(self) -> dict:
        """Pooled mean scores per forecaster, skill, threshold scores, and the origins (JSON-ready)."""
        scores = self.scores()
        forecasters = forecaster_scores(scores)
        thresholds = self.thresholds()
        return {
            "origins": [r.cutoff.isoformat() for r in self.results],
            "horizon_days": self.results[0].horizon_days,
            "target": self.results[0].target,
            "observations": int(len(scores) / max(1, scores["forecaster"].nunique())),
            "days_scored": sum(r.scored_days for r in self.results),
            "days_left_out": sum(r.horizon_days - r.scored_days for r in self.results),
            "days_left_out_reason": "after the end of the period the record covers",
            "forecasters": forecasters,
            "threshold_scores": threshold_scores(thresholds),
            "replications": self.results[0].forecast.replications,
            "seed": self.results[0].forecast.ensemble.seed,
        }


def run_rolling_backtest(
    events: EventLog,
    scenario: ScenarioSpec,
    first_cutoff: dt.date,
    origins: int,
    step_days: int,
    horizon_days: int,
    ensemble: EnsembleSpec,
    **options,
) -> RollingBacktest:
    """Backtests from ``origins`` cut-offs ``step_days`` apart, the first on ``first_cutoff``."""
    if origins < 1 or step_days < 1:
        raise ValueError("backtest.origins and backtest.step_days: must be integers >= 1")
    cutoffs = [first_cutoff + dt.timedelta(days=k * step_days) for k in range(origins)]
    return RollingBacktest(
        tuple(run_backtest(events, scenario, cutoff, horizon_days, ensemble, **options) for cutoff in cutoffs)
    )
