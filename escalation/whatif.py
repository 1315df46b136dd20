"""What-if compute: the analyst's levers in, the named thresholds, ladder curves and attack fan out.

The what-if page (``escalation-whatif``, :mod:`escalation.whatif_app`) is a thin shell over two functions:
:func:`prepare_baseline` calibrates the scenario as configured and runs it once; :func:`evaluate` applies a
set of :class:`Levers` to that scenario, runs it with the same ensemble settings and seed (common random
numbers) and returns the tables the page shows, each with the calibrated baseline beside it and the paired
difference against it. Neither writes files nor imports a user-interface framework.

A lever set to a number fixes that parameter in every replication; the calibration draws of every other
parameter stay as in the baseline (:func:`escalation.experiment.arm_calibration_draws`), so the difference
from the baseline is the lever's effect and simulation noise only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from escalation import metrics
from escalation.calibration import Calibration, calibrate
from escalation.ensemble import EnsembleResult, run_ensemble
from escalation.events import EventLog
from escalation.experiment import arm_calibration_draws
from escalation.history import ObservedHistory, observed_history
from escalation.specs import (
    DriverSpec,
    EnsembleSpec,
    Param,
    ScenarioSpec,
    SpecError,
    param_mean,
    parameter_fields,
)

#: The state whose retaliation policy the policy levers set.
POLICY_STATE = "us"
#: The proxy group whose restraint by its patron the restraint lever sets.
RESTRAINED_GROUP = "militias"
#: The drivers the date levers move (names in the packaged scenario).
INVASION_DRIVER = "ground_invasion"
AIR_DEFENCE_DRIVER = "air_defence"
#: The truce lever adds this driver (effect ``pause``), as ``experiment=truce`` does.
TRUCE_DRIVER = "truce"
TRUCE_ATTACKERS: tuple[str, ...] = ("militias", "hezbollah", "houthis")
#: The target whose cumulative attacks received make the fan.
FAN_TARGET = "us"
#: Confidence level of every interval on the page.
LEVEL = 0.90


@dataclass(frozen=True)
class LeverInfo:
    """One control of the page: which :class:`Levers` field it sets, its label, range and meaning.

    Attributes:
        name: the :class:`Levers` field.
        label: the control's label.
        path: the scenario parameter it sets (as in config overrides), for tables and errors.
        low, high, step: the control's range and step (days for the date levers).
        help: one sentence for the control's tooltip and docs/whatif.md.
    """

    name: str
    label: str
    path: str
    low: float
    high: float
    step: float
    help: str


LEVERS: tuple[LeverInfo, ...] = (
    LeverInfo(
        "us_retaliation_probability",
        "US strike probability",
        "policy.us.retaliation_probability",
        0.0,
        1.0,
        0.01,
        "Probability that the US strikes on a day when its unanswered harm has reached its threshold.",
    ),
    LeverInfo(
        "us_threshold",
        "US strike threshold (harm units)",
        "policy.us.threshold",
        0.0,
        150.0,
        1.0,
        "Unanswered harm (harm units) that makes the US ready to strike.",
    ),
    LeverInfo(
        "us_proportionality",
        "US strike size (strikes per harm unit)",
        "policy.us.proportionality",
        0.0,
        0.5,
        0.01,
        "Strikes per harm unit answered (at least one strike, at most the policy's daily cap).",
    ),
    LeverInfo(
        "us_escalation_probability",
        "US escalation probability",
        "policy.us.escalation_probability",
        0.0,
        0.2,
        0.005,
        "Probability that a US strike climbs one level: to Iran's assets abroad, then its territory.",
    ),
    LeverInfo(
        "militia_restraint",
        "Iran's restraint of the militias",
        "actors.militias.restraint",
        0.0,
        2.0,
        0.05,
        "Multiplier Iran applies to the militias' attack intensity (1 = as observed, 0 = stopped).",
    ),
    LeverInfo(
        "invasion_day",
        "Ground invasion: day of the run",
        "drivers.ground_invasion.date",
        0,
        179,
        1,
        "Day (0 = the scenario's start) from which the ground invasion raises the proxies' base rates.",
    ),
    LeverInfo(
        "air_defence_day",
        "Air defence: day of the run",
        "drivers.air_defence.date",
        0,
        179,
        1,
        "Day from which reinforced air defence cuts the share of attacks on US forces that get through.",
    ),
    LeverInfo(
        "air_defence_factor",
        "Air defence effect (share that still gets through)",
        "drivers.air_defence.factor",
        0.0,
        1.0,
        0.01,
        "Multiplier of the probability that an attack gets through once air defence is reinforced.",
    ),
    LeverInfo(
        "truce_day",
        "Truce: day of the run",
        "drivers.truce.date",
        0,
        179,
        1,
        "Day on which a truce pauses the campaigns of the militias, Hezbollah and the Houthis.",
    ),
    LeverInfo(
        "truce_hold_probability",
        "Truce: probability it takes hold",
        "drivers.truce.factor",
        0.0,
        1.0,
        0.05,
        "Share of replications in which the truce takes hold; a paused campaign resumes at its hazard.",
    ),
)
LEVER_INFO: dict[str, LeverInfo] = {info.name: info for info in LEVERS}


@dataclass(frozen=True)
class Levers:
    """The levers an analyst moves; None leaves a lever as configured (calibrated where it is uncertain).

    Attributes:
        us_retaliation_probability, us_threshold, us_proportionality, us_escalation_probability: the US
            retaliation policy (``policy.us.*``).
        militia_restraint: Iran's restraint of the militias (``actors.militias.restraint``).
        invasion_day, air_defence_day: days of the run (0 = the scenario's start) the ground invasion and
            the reinforced air defence take effect.
        air_defence_factor: the air defence's through multiplier.
        truce_day: the day a truce takes effect; None: no truce.
        truce_hold_probability: the probability that the truce takes hold (with ``truce_day`` only).
    """

    us_retaliation_probability: float | None = None
    us_threshold: float | None = None
    us_proportionality: float | None = None
    us_escalation_probability: float | None = None
    militia_restraint: float | None = None
    invasion_day: int | None = None
    air_defence_day: int | None = None
    air_defence_factor: float | None = None
    truce_day: int | None = None
    truce_hold_probability: float = 1.0

    def set_levers(self) -> dict[str, float]:
        """The levers this set moves, by name (the truce's probability only with a truce day)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.truce_day is None:
            values.pop("truce_hold_probability")
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class Baseline:
    """The calibrated scenario run once; every what-if is compared with it.

    Attributes:
        scenario: the scenario as configured (its horizon possibly shortened).
        ensemble: the ensemble settings every what-if reuses (same seed: common random numbers).
        events: the record the calibration and the warm start read.
        calibration: the calibration of ``scenario``.
        history: the observed days before the start (the warm start; the levers do not change it).
        result: the baseline's ensemble.
        horizons: the horizons (days) of the threshold table.
        thresholds, ladder, fan: the baseline's threshold table, ladder curves and attack fan, computed once.
    """

    scenario: ScenarioSpec
    ensemble: EnsembleSpec
    events: EventLog
    calibration: Calibration
    history: ObservedHistory
    result: EnsembleResult
    horizons: tuple[int, ...]
    thresholds: pd.DataFrame
    ladder: pd.DataFrame
    fan: pd.DataFrame


@dataclass(frozen=True)
class WhatIfResult:
    """One what-if against the baseline.

    Attributes:
        levers: the levers as given.
        scenario: the scenario the levers give.
        result: its ensemble.
        thresholds: one row per named threshold and horizon: ``probability`` with ``lower``/``upper``
            (simulation noise) and ``parameter_lower``/``parameter_upper`` (parameter range), the
            baseline's ``baseline_probability``, and the paired ``difference`` with its ``difference_lower``/
            ``difference_upper`` interval (common random numbers, clustered by parameter draw).
        ladder: P(highest rung >= k by day t), tidy, with an ``arm`` column (``what-if``, ``baseline``).
        fan: mean and quantiles of the cumulative attacks on :data:`FAN_TARGET` by day, with ``arm``.
        seconds: wall time of the what-if's run and tables.
    """

    levers: Levers
    scenario: ScenarioSpec
    result: EnsembleResult
    thresholds: pd.DataFrame
    ladder: pd.DataFrame
    fan: pd.DataFrame
    seconds: float


def default_horizons(days: int) -> tuple[int, ...]:
    """The threshold table's horizons: 30 and 90 days where the run reaches them, and the run's end."""
    return tuple(sorted({h for h in (30, 90) if h < days} | {days}))


def prepare_baseline(
    scenario: ScenarioSpec, events: EventLog, ensemble: EnsembleSpec, days: int | None = None
) -> Baseline:
    """Calibrate the scenario as configured and run it: done once, then reused by every :func:`evaluate`.

    Args:
        scenario: the scenario as configured.
        events: the record to calibrate on and warm-start from.
        ensemble: replications and seed (``workers`` is kept: one in-process run is the fastest here).
        days: simulated days (default: the scenario's horizon), at least 1.

    Raises:
        SpecError: if ``days`` is not a positive whole number.
    """
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise SpecError(f"days: must be a whole number >= 1, got {days!r}")
        scenario = dataclasses.replace(scenario, horizon_days=days)
    calibration = calibrate(events, scenario)
    history = observed_history(events, scenario)
    result = run_ensemble(scenario, ensemble, calibration_draws=calibration.draws, history=history)
    horizons = default_horizons(scenario.horizon_days)
    return Baseline(
        scenario=scenario,
        ensemble=ensemble,
        events=events,
        calibration=calibration,
        history=history,
        result=result,
        horizons=horizons,
        thresholds=result.threshold_table(horizons, level=LEVEL),
        ladder=result.ladder_curves(level=LEVEL).assign(arm="baseline"),
        fan=result.cumulative_attacks(FAN_TARGET).assign(arm="baseline"),
    )


def configured_value(scenario: ScenarioSpec, name: str) -> Param | int | None:
    """A lever's value in the scenario as configured (a number, a distribution, a day, or None: no truce)."""
    policy = scenario.policy(POLICY_STATE)
    drivers = {d.name: d for d in scenario.drivers}
    if name.startswith("us_"):
        return getattr(policy, name.removeprefix("us_"))
    if name == "militia_restraint":
        return scenario.actor(RESTRAINED_GROUP).restraint
    if name == "invasion_day":
        return scenario.day_index(drivers[INVASION_DRIVER].date)
    if name == "air_defence_day":
        return scenario.day_index(drivers[AIR_DEFENCE_DRIVER].date)
    if name == "air_defence_factor":
        return drivers[AIR_DEFENCE_DRIVER].factor
    if name == "truce_day":
        return scenario.day_index(drivers[TRUCE_DRIVER].date) if TRUCE_DRIVER in drivers else None
    if name == "truce_hold_probability":
        return drivers[TRUCE_DRIVER].factor if TRUCE_DRIVER in drivers else 1.0
    raise KeyError(name)


def lever_default(baseline: Baseline, name: str) -> float:
    """Where a control starts: the configured number, else the calibrated (posterior) or prior mean."""
    value = configured_value(baseline.scenario, name)
    if value is None:
        return float(LEVER_INFO[name].low)
    path = LEVER_INFO[name].path
    if path in baseline.calibration.draws:
        return float(np.mean(baseline.calibration.draws[path]))
    return float(value) if isinstance(value, int) else float(param_mean(value))


def _checked(name: str, value: float, scenario: ScenarioSpec) -> float:
    """A lever's value within its control's range (day levers: a day of the run), or a one-line SpecError."""
    info = LEVER_INFO[name]
    high = scenario.horizon_days - 1 if name.endswith("_day") else info.high
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not np.isfinite(number) or not info.low <= number <= high:
        raise SpecError(f"{name} ({info.path}): must be a number in [{info.low:g}, {high:g}], got {value!r}")
    if name.endswith("_day") and number != int(number):
        raise SpecError(f"{name} ({info.path}): must be a whole day of the run, got {value!r}")
    return number


def apply_levers(scenario: ScenarioSpec, levers: Levers) -> ScenarioSpec:
    """The scenario with the levers set (a number fixes a parameter; None leaves it as configured).

    Raises:
        SpecError: naming the lever, if a value is outside its range.
    """
    values = {name: _checked(name, value, scenario) for name, value in levers.set_levers().items()}
    bounds = dict(parameter_fields(type(scenario.policy(POLICY_STATE))))
    policy_changes = {}
    for name, value in values.items():
        if name.startswith("us_"):
            field_name = name.removeprefix("us_")
            policy_changes[field_name] = bounds[field_name].parse(LEVER_INFO[name].path, value)
    policies = tuple(
        # The state's own policy: a policy toward one adversary keeps the fields it sets and takes the rest
        # from the state's (ScenarioSpec.policy_key).
        dataclasses.replace(p, **policy_changes) if p.state == POLICY_STATE and p.target is None else p
        for p in scenario.policies
    )
    actors = tuple(
        dataclasses.replace(a, restraint=values["militia_restraint"])
        if a.name == RESTRAINED_GROUP and "militia_restraint" in values
        else a
        for a in scenario.actors
    )
    return dataclasses.replace(scenario, policies=policies, actors=actors, drivers=_drivers(scenario, values))


def _drivers(scenario: ScenarioSpec, values: dict[str, float]) -> tuple[DriverSpec, ...]:
    def on_day(name: str) -> dt.date:
        return scenario.start + dt.timedelta(days=int(values[name]))

    drivers = []
    for driver in scenario.drivers:
        if driver.name == INVASION_DRIVER and "invasion_day" in values:
            driver = dataclasses.replace(driver, date=on_day("invasion_day"))
        if driver.name == AIR_DEFENCE_DRIVER:
            if "air_defence_day" in values:
                driver = dataclasses.replace(driver, date=on_day("air_defence_day"))
            if "air_defence_factor" in values:
                driver = dataclasses.replace(driver, factor=values["air_defence_factor"])
        if driver.name == TRUCE_DRIVER and "truce_day" in values:
            continue  # the lever's truce replaces a configured one
        drivers.append(driver)
    if "truce_day" in values:
        drivers.append(
            DriverSpec(
                name=TRUCE_DRIVER,
                date=on_day("truce_day"),
                effect="pause",
                factor=values["truce_hold_probability"],
                attackers=TRUCE_ATTACKERS,
            )
        )
    return tuple(drivers)


def evaluate(baseline: Baseline, levers: Levers) -> WhatIfResult:
    """Run the what-if the levers describe with the baseline's seed and compare it with the baseline.

    Raises:
        SpecError: naming the lever, if a value is outside its range.
    """
    started = time.perf_counter()
    scenario = apply_levers(baseline.scenario, levers)
    draws = arm_calibration_draws(baseline.scenario, scenario, baseline.calibration.draws)
    result = run_ensemble(scenario, baseline.ensemble, calibration_draws=draws, history=baseline.history)
    thresholds = threshold_comparison(result, baseline)
    ladder = pd.concat(
        [result.ladder_curves(level=LEVEL).assign(arm="what-if"), baseline.ladder], ignore_index=True
    )
    fan = pd.concat(
        [result.cumulative_attacks(FAN_TARGET).assign(arm="what-if"), baseline.fan], ignore_index=True
    )
    return WhatIfResult(
        levers=levers,
        scenario=scenario,
        result=result,
        thresholds=thresholds,
        ladder=ladder,
        fan=fan,
        seconds=time.perf_counter() - started,
    )


def threshold_comparison(result: EnsembleResult, baseline: Baseline) -> pd.DataFrame:
    """The what-if's threshold table with the baseline's probability and the paired difference beside it.

    Both runs share the ensemble settings and seed, so replication ``r`` of one is paired with replication
    ``r`` of the other; the difference's interval is clustered by parameter draw.
    """
    table = result.threshold_table(baseline.horizons, level=LEVEL)
    reference = baseline.thresholds.set_index(["threshold", "horizon_days"])
    names = [t.name for t in result.scenario.thresholds]
    rows = []
    for threshold, horizon in zip(table["threshold"], table["horizon_days"], strict=True):
        m = names.index(threshold)
        happened = _by_day(result.outcomes.threshold_days[:, m], horizon)
        before = _by_day(baseline.result.outcomes.threshold_days[:, m], horizon)
        paired = metrics.paired_difference(happened, before, level=LEVEL, groups=baseline.result.draws)
        rows.append(
            {
                "baseline_probability": reference.loc[(threshold, horizon), "probability"],
                "difference": paired["difference"],
                "difference_lower": paired["lower"],
                "difference_upper": paired["upper"],
            }
        )
    return pd.concat([table, pd.DataFrame(rows, index=table.index)], axis=1)


def _by_day(first_days: np.ndarray, horizon: int) -> np.ndarray:
    """Whether each replication's first day of a threshold falls within the horizon (NEVER is -1)."""
    return (first_days >= 0) & (first_days < horizon)
