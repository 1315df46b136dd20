"""Experiments: one or more arms of a scenario, run with shared seeds and reported together.

An experiment answers one briefing question. Each arm is a variant of the scenario (a different invasion
date, a different US posture); all arms run with the same ensemble seed, so replication i of every arm draws
the same random numbers wherever the arms do not differ (common random numbers), and the paired differences
between arms are the effect of the change rather than noise. The results are written as tidy tables, a
summary and briefing figures into a :class:`~escalation.runfolder.RunFolder`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from escalation import __version__, metrics, plots
from escalation.calibration import Calibration
from escalation.ensemble import EnsembleResult, run_ensemble
from escalation.events import EventKind, EventLog
from escalation.history import observed_history
from escalation.runfolder import RunFolder, atomic_write_json, atomic_write_parquet
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

    def replications(self) -> pd.DataFrame:
        """One row per replication and arm."""
        return self._by_arm(lambda r: r.replications_frame())

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
                    paired = metrics.paired_difference(happened, baseline, level=self.spec.level)
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

    def summary(self) -> dict:
        """Headline probabilities with intervals per arm and horizon, and paired differences (JSON-ready)."""
        thresholds = self.thresholds()
        spec = self.spec
        summary: dict = {
            "experiment": spec.name,
            "question": spec.question,
            "scenario": self.reference.scenario.name,
            "start": self.reference.scenario.start.isoformat(),
            "horizon_days": self.reference.scenario.horizon_days,
            "replications": self.reference.replications,
            "seed": self.reference.ensemble.seed,
            "chunk_size": self.reference.ensemble.chunk_size,
            "interval": {"level": spec.level, "method": spec.method},
            "data_hash": self.events.data_hash,
            "calibration_hash": self.calibration.hash if self.calibration is not None else None,
            "reference_arm": spec.reference,
            "arms": {},
        }
        for arm in spec.arms:
            table = thresholds[thresholds["arm"] == arm.name]
            entry: dict = {"label": arm.label, "thresholds": {}}
            for row in table.itertuples():
                by = entry["thresholds"].setdefault(row.threshold, {"label": row.label, "by_day": {}})
                by["by_day"][str(row.horizon_days)] = {
                    "probability": round(float(row.probability), 6),
                    "lower": round(float(row.lower), 6),
                    "upper": round(float(row.upper), 6),
                    "mcse": round(float(row.mcse), 6),
                }
            entry["attacks_by_horizon"] = self._attack_quantiles(self.results[arm.name])
            summary["arms"][arm.name] = entry
        if len(spec.arms) > 1:
            summary["paired_differences"] = [
                {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.paired_differences().to_dict("records")
            ]
        return summary

    def _attack_quantiles(self, result: EnsembleResult) -> dict:
        out: dict = {}
        for target in result.scenario.tracked_targets:
            table = result.cumulative_attacks(target)
            out[target] = {
                str(h): {
                    "mean": round(float(table["mean"].iloc[h - 1]), 3),
                    "q05": int(table["q05"].iloc[h - 1]),
                    "q50": int(table["q50"].iloc[h - 1]),
                    "q95": int(table["q95"].iloc[h - 1]),
                }
                for h in self.spec.horizons
            }
        return out

    def _by_arm(self, table_of) -> pd.DataFrame:
        frames = []
        for arm in self.spec.arms:
            frame = table_of(self.results[arm.name])
            frame.insert(0, "arm", arm.name)
            frame.insert(1, "arm_label", arm.label)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def _by_horizon(first_days: np.ndarray, horizon: int) -> np.ndarray:
    return (first_days >= 0) & (first_days < horizon)


def run_experiment(
    spec: ExperimentSpec, ensemble: EnsembleSpec, events: EventLog, calibration: Calibration | None
) -> ExperimentResult:
    """Run every arm of an experiment with the same ensemble settings and seed."""
    draws = calibration.draws if calibration is not None else None
    calibration_hash = calibration.hash if calibration is not None else None
    results = {}
    for arm in spec.arms:
        results[arm.name] = run_ensemble(
            arm.scenario,
            ensemble,
            calibration_draws=draws,
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
            for e in events
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


def write_outputs(result: ExperimentResult, folder: RunFolder) -> dict:
    """Write tables, figures and (last) the summary of an experiment into its run folder."""
    spec = result.spec
    atomic_write_parquet(folder.tables / "thresholds.parquet", result.thresholds())
    atomic_write_parquet(folder.tables / "ladder_curves.parquet", result.ladder_curves())
    atomic_write_parquet(folder.tables / "cumulative_attacks.parquet", result.cumulative_attacks())
    atomic_write_parquet(folder.tables / "replications.parquet", result.replications())
    if len(spec.arms) > 1:
        atomic_write_parquet(folder.tables / "paired_differences.parquet", result.paired_differences())
    if spec.figures:
        _write_figures(result, folder)
        if result.calibration is not None:
            reference = next(a for a in spec.arms if a.name == spec.reference)
            write_fit_checks(
                result.calibration, folder, _caption(result, reference, all_arms=True), spec.figure_formats
            )
    summary = result.summary()
    atomic_write_json(folder.path / "summary.json", summary)
    return summary


def write_fit_checks(calibration: Calibration, folder: RunFolder, caption: plots.Caption, formats) -> None:
    """QQ plots of the rescaled residuals of every dyad fitted by its likelihood (calibration fit checks)."""
    for check in calibration.checks:
        if check.get("residuals"):
            dyad = check["observation"].removeprefix("attacks ")
            p_value = check["ks_pvalue"]
            verdict = "consistent with the model" if check["consistent"] else "NOT consistent with the model"
            figure = plots.qq_uniform(
                check["residuals"],
                title=f"Fit check, {dyad}: rescaled residuals {verdict} (KS p = {p_value:.2f})",
                caption=caption,
            )
            plots.save_figure(figure, folder.figures, f"fit_qq_{dyad.replace('->', '_on_')}", formats=formats)


def _caption(result: ExperimentResult, arm: Arm, *, all_arms: bool = False) -> plots.Caption:
    reference = result.results[arm.name]
    single = len(result.spec.arms) == 1 or all_arms
    return plots.Caption(
        experiment=result.spec.name if single else f"{result.spec.name} [{arm.label}]",
        replications=reference.replications,
        seed=reference.ensemble.seed,
        run_date=dt.date.today().isoformat(),
        version=__version__,
        scenario=arm.scenario.name,
    )


def _write_figures(result: ExperimentResult, folder: RunFolder) -> None:
    spec = result.spec
    formats = spec.figure_formats
    thresholds = result.thresholds()
    curves = result.ladder_curves()
    for arm in spec.arms:
        res = result.results[arm.name]
        suffix = "" if len(spec.arms) == 1 else f"_{arm.name}"
        caption = _caption(result, arm)
        where = "" if len(spec.arms) == 1 else f" ({arm.label})"
        for target in arm.scenario.tracked_targets:
            observed = observed_counts(result.events, target, arm.scenario.start)
            offset = float(observed["count"].iloc[-1]) if len(observed) else 0.0
            label = arm.scenario.actor(target).label
            fig = plots.fan_chart(
                res.cumulative_attacks(target),
                title=f"Cumulative attacks on {label}{where}",
                caption=caption,
                observed=observed,
                offset=offset,
                ylabel=f"Attacks on {label} (cumulative count)",
            )
            plots.save_figure(fig, folder.figures, f"fan_attacks_{target}{suffix}", formats=formats)
        fig = plots.ladder_chart(
            curves[curves["arm"] == arm.name],
            title=f"Escalation ladder: probability of reaching each rung{where}",
            caption=caption,
        )
        plots.save_figure(fig, folder.figures, f"ladder{suffix}", formats=formats)
        fig = plots.threshold_chart(
            thresholds[thresholds["arm"] == arm.name], title=f"{spec.question}{where}", caption=caption
        )
        plots.save_figure(fig, folder.figures, f"thresholds{suffix}", formats=formats)
    if len(spec.arms) > 1:
        horizon = max(spec.horizons)
        table = thresholds[thresholds["horizon_days"] == horizon]
        differences = result.paired_differences()
        differences = differences[differences["horizon_days"] == horizon]
        reference = next(a for a in spec.arms if a.name == spec.reference)
        fig = plots.arms_chart(
            table,
            differences,
            title=spec.question,
            caption=_caption(result, reference, all_arms=True),
            reference=reference.name,
        )
        plots.save_figure(fig, folder.figures, "arms_comparison", formats=formats)
