"""Experiments: one or more arms of a scenario, run with shared seeds and reported together.

An experiment answers one briefing question. Each arm is a variant of the scenario (a different invasion
date, a different US posture); all arms run with the same ensemble seed, so replication i of every arm draws
the same random numbers wherever the arms do not differ (common random numbers), and the paired differences
between arms are the effect of the change rather than noise. The results are written as tidy tables, a
summary and briefing figures by the report layer (:mod:`escalation.report.experiment`).

The calibration describes the scenario *as configured*, before any arm's changes: it is computed once, and
each arm draws from it every calibrated parameter it leaves alone. A parameter an arm sets (a lever it fixes,
a prior it replaces) is that arm's own in that arm only, so the reference arm of ``us_posture`` keeps the
calibrated US policy while the restrained and hawkish arms fix theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from escalation import metrics
from escalation.calibration import Calibration
from escalation.counts import resolved
from escalation.ensemble import REPLICATION_BATCH_ROWS, EnsembleResult, run_ensemble
from escalation.events import EventKind, EventLog
from escalation.history import observed_history
from escalation.parameters import scenario_parameters
from escalation.specs import EnsembleSpec, ScenarioSpec


@dataclass(frozen=True)
class Arm:
    """One variant of the scenario in an experiment."""

    name: str
    label: str
    scenario: ScenarioSpec


@dataclass(frozen=True)
class ExperimentSpec:
    """A briefing question: its arms, the horizons it reports, and how intervals are computed.

    Attributes:
        name: identifier (the experiment file's name).
        question: the question in one line (figure titles and the summary).
        arms: the variants compared (one arm for a plain run).
        reference: the arm that paired differences are taken against.
        horizons: days by which named thresholds are reported.
        level: confidence level of the intervals.
        method: ``wilson`` or ``jeffreys``.
        figure_formats: file formats of the figures (PNG for slides, SVG or PDF for print).
        figures: whether to draw the run's figures (sweeps draw the aggregate instead).
        scenario: the scenario as configured, before any arm's changes: the one the calibration describes.
            None: every arm takes every calibrated parameter (its arms are then the configured scenario).
    """

    name: str
    question: str
    arms: tuple[Arm, ...]
    reference: str
    horizons: tuple[int, ...] = (30, 90, 180)
    level: float = 0.90
    method: str = "wilson"
    figure_formats: tuple[str, ...] = ("png", "svg")
    figures: bool = True
    scenario: ScenarioSpec | None = None

    def __post_init__(self) -> None:
        names = [arm.name for arm in self.arms]
        if not names:
            raise ValueError("experiment.arms: an experiment needs at least one arm")
        if self.reference not in names:
            raise ValueError(
                f"experiment.reference_arm: unknown arm {self.reference!r}; allowed: {', '.join(names)}"
            )
        longest = min(arm.scenario.horizon_days for arm in self.arms)
        for horizon in self.horizons:
            if not 1 <= horizon <= longest:
                raise ValueError(
                    f"experiment.horizons: {horizon} is outside 1..{longest} (the scenario's horizon_days)"
                )


@dataclass(frozen=True)
class ExperimentResult:
    """The ensemble of every arm, with the experiment that produced them."""

    spec: ExperimentSpec
    results: dict[str, EnsembleResult]
    events: EventLog
    calibration: Calibration | None

    @property
    def reference(self) -> EnsembleResult:
        """The reference arm's result."""
        return self.results[self.spec.reference]

    def thresholds(self) -> pd.DataFrame:
        """Named-threshold probabilities by every horizon, for every arm (tidy)."""
        return self._by_arm(
            lambda r: r.threshold_table(self.spec.horizons, level=self.spec.level, method=self.spec.method)
        )

    def ladder_curves(self) -> pd.DataFrame:
        """Escalation curves of every arm (tidy)."""
        return self._by_arm(lambda r: r.ladder_curves(level=self.spec.level, method=self.spec.method))

    def cumulative_attacks(self) -> pd.DataFrame:
        """Daily mean and quantiles of cumulative attacks on each tracked target, every arm (tidy)."""
        frames = []
        for target in self.reference.scenario.tracked_targets:
            table = self._by_arm(lambda r, target=target: r.cumulative_attacks(target))
            table.insert(2, "target", target)
            frames.append(table)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def pauses(self) -> pd.DataFrame:
        """P(an attack-free spell of at least 14, 30 or 60 days) on each tracked target, every arm (tidy)."""
        return self._by_arm(lambda r: r.pause_table(level=self.spec.level, method=self.spec.method))

    def stops(self) -> pd.DataFrame:
        """When the campaigns against each tracked target stop, by every horizon, every arm (tidy)."""
        return self._by_arm(
            lambda r: r.stop_table(self.spec.horizons, level=self.spec.level, method=self.spec.method)
        )

    def replications(self) -> pd.DataFrame:
        """One row per replication and arm (the rows of :meth:`replication_batches`, in one table)."""
        return pd.concat(list(self.replication_batches()), ignore_index=True)

    def replication_batches(self, rows: int = REPLICATION_BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """The replications table, arm after arm, in batches of at most ``rows`` rows.

        Every batch has the same columns and dtypes: those of all arms together (``arm``, ``arm_label``,
        then each arm's columns in order of first appearance), a column that an arm lacks (a parameter it
        fixes) being NaN in that arm's rows, as in one concatenated table. So the table can be written one
        batch at a time (one Parquet row group each) without ever being held whole.
        """
        if rows < 1:
            raise ValueError(f"rows: must be >= 1, got {rows}")
        found: dict[str, list[np.dtype]] = {}
        for arm in self.spec.arms:
            for name, dtype in self._arm_rows(arm, slice(0, 0)).dtypes.items():
                found.setdefault(name, []).append(dtype)
        dtypes = {name: _concatenated_dtype(kinds, len(self.spec.arms)) for name, kinds in found.items()}
        for arm in self.spec.arms:
            for start in range(0, self.results[arm.name].replications, rows):
                frame = self._arm_rows(arm, slice(start, start + rows))
                yield frame.reindex(columns=list(dtypes)).astype(dtypes)

    def _arm_rows(self, arm: Arm, rows: slice) -> pd.DataFrame:
        frame = self.results[arm.name].replications_frame(rows)
        frame.insert(0, "arm", arm.name)
        frame.insert(1, "arm_label", arm.label)
        return frame

    def paired_differences(self) -> pd.DataFrame:
        """Each arm minus the reference arm, per named threshold and horizon, from paired replications."""
        rows = []
        reference = self.reference
        for arm in self.spec.arms:
            if arm.name == self.spec.reference:
                continue
            result = self.results[arm.name]
            for m, threshold in enumerate(arm.scenario.thresholds):
                for horizon in self.spec.horizons:
                    happened = _by_horizon(result.outcomes.threshold_days[:, m], horizon)
                    baseline = _by_horizon(reference.outcomes.threshold_days[:, m], horizon)
                    paired = metrics.paired_difference(
                        happened, baseline, level=self.spec.level, groups=reference.draws
                    )
                    rows.append(
                        {
                            "arm": arm.name,
                            "arm_label": arm.label,
                            "reference": self.spec.reference,
                            "threshold": threshold.name,
                            "label": threshold.label,
                            "horizon_days": horizon,
                            "difference": paired["difference"],
                            "lower": paired["lower"],
                            "upper": paired["upper"],
                            "standard_error": paired["standard_error"],
                        }
                    )
        return pd.DataFrame(rows)

    def _by_arm(self, table_of) -> pd.DataFrame:
        frames = []
        for arm in self.spec.arms:
            frame = table_of(self.results[arm.name])
            frame.insert(0, "arm", arm.name)
            frame.insert(1, "arm_label", arm.label)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def _concatenated_dtype(kinds: list, arms: int):
    """A column's dtype in the arms' tables concatenated: found in ``len(kinds)`` of ``arms`` arms' tables.

    A column missing from some arm's rows holds NaN there, so an integer column becomes float64, as
    ``pandas.concat`` makes it; differing integer widths take the wider.
    """
    if len(kinds) == arms and all(kind == kinds[0] for kind in kinds):
        return kinds[0]
    return np.result_type(*kinds, *([np.float64] if len(kinds) < arms else []))


def _by_horizon(first_days: np.ndarray, horizon: int) -> np.ndarray:
    return (first_days >= 0) & (first_days < horizon)


def arm_calibration_draws(
    configured: ScenarioSpec | None, arm: ScenarioSpec, draws: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray] | None:
    """The calibration draws an arm takes: those of every parameter the arm leaves as configured.

    A parameter whose value or prior the arm changes is the arm's own; the draws of the other calibrated
    parameters stay joint (one posterior row per replication) as in the configured scenario.
    """
    if draws is None or configured is None:
        return draws
    as_configured = dict(scenario_parameters(configured))
    return {
        path: draws[path]
        for path, value in scenario_parameters(arm)
        if path in draws and as_configured.get(path) == value
    }


def run_experiment(
    spec: ExperimentSpec, ensemble: EnsembleSpec, events: EventLog, calibration: Calibration | None
) -> ExperimentResult:
    """Run every arm of an experiment with the same ensemble settings and seed.

    ``calibration`` describes ``spec.scenario`` (the scenario as configured); each arm takes the draws of
    the calibrated parameters it does not change (:func:`arm_calibration_draws`).
    """
    draws = calibration.draws if calibration is not None else None
    calibration_hash = calibration.hash if calibration is not None else None
    results = {}
    for arm in spec.arms:
        results[arm.name] = run_ensemble(
            arm.scenario,
            ensemble,
            calibration_draws=arm_calibration_draws(spec.scenario, arm.scenario, draws),
            history=observed_history(events, arm.scenario),
            calibration_hash=calibration_hash,
        )
    return ExperimentResult(spec=spec, results=results, events=events, calibration=calibration)


def observed_counts(events: EventLog, target: str, before: dt.date) -> pd.DataFrame:
    """Observed cumulative attacks on ``target`` at the end dates of the event rows before a date.

    Rows counted inside an interval row (``within``) are not added again. A cumulative count is a lower
    bound from the first lower-bound row on. The first point is zero, the day before the first event.
    """
    rows = sorted(
        (
            e
            for e in resolved(events)
            if e.kind == EventKind.ATTACK and e.target == target and e.within is None and e.end < before
        ),
        key=lambda e: e.end,
    )
    total, lower, records = 0, False, []
    if rows:  # the record starts from zero the day before its first event
        records.append(
            {"date": pd.Timestamp(rows[0].start - dt.timedelta(days=1)), "count": 0, "lower_bound": False}
        )
    for event in rows:
        total += event.count
        lower = lower or event.lower_bound
        records.append({"date": pd.Timestamp(event.end), "count": total, "lower_bound": lower})
    return pd.DataFrame(records, columns=["date", "count", "lower_bound"])
