"""The summary of an experiment run: a typed object, written as ``summary.json`` and read back by sweeps.

The command prints it, a sweep aggregates the summaries of its points, and a user's script can read the JSON
file; all three go through :class:`RunSummary`, so the layout is defined here once. Reading a file that is
not a complete summary raises :class:`SummaryError` with the file and what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from escalation.ensemble import EnsembleResult
    from escalation.experiment import ExperimentResult

DIGITS = 6  # probabilities and intervals are stored rounded to this many decimals
TOP_DRIVERS = 3  # parameters named per headline
MIN_SHARE = 0.05  # a parameter explaining less of a headline's parameter spread alone is not named
ASSUMPTION = "assumption (no data moved it)"
POOLED = "pooled from earlier crises"
NARROWED = "narrowed by the event data"
NARROWED_RATIO = (
    0.9  # the posterior's 90% interval at most this fraction of the prior's: the data narrowed it
)


class SummaryError(ValueError):
    """A ``summary.json`` cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Estimate:
    """A probability with its two uncertainties (see ``docs/uncertainty.md``).

    Attributes:
        probability: the share of all replications that saw the event.
        lower, upper: the simulation-noise interval (another seed could move the probability this much).
        mcse: the simulation-noise (Monte Carlo) standard error.
        parameter_lower, parameter_upper: the range of the probability over plausible parameter values
            (None: not estimated, as with one replication per parameter draw).
        parameter_sd: the standard deviation of the probability over plausible parameter values (0 when the
            spread between parameter draws is not distinguishable from simulation noise, or the parameters
            are fixed).
        parameter_share: the part of the outcome's variance that comes from the parameters (0 to 1).
    """

    probability: float
    lower: float
    upper: float
    mcse: float
    parameter_lower: float | None = None
    parameter_upper: float | None = None
    parameter_sd: float | None = None
    parameter_share: float | None = None


@dataclass(frozen=True)
class Driver:
    """One parameter's part in a headline's parameter spread, and what fixed its distribution."""

    parameter: str
    share: float
    evidence: str


@dataclass(frozen=True)
class Assumptions:
    """What a headline's parameter spread rests on, by its horizon (days).

    Attributes:
        horizon_days: the horizon of the headline.
        drivers: the parameters that explain most of the spread alone, largest first (at most
            :data:`TOP_DRIVERS`, each explaining at least :data:`MIN_SHARE` of it, and each one whose effect
            the draws detect: ``detected`` of :func:`escalation.metrics.variance_drivers`).
        assumption_share: the summed shares of parameters no data moved, over the summed shares of all.
        rests_on_assumptions: the parameter spread is larger than the simulation noise and is dominated by
            parameters no data moved.
    """

    horizon_days: int
    drivers: tuple[Driver, ...]
    assumption_share: float
    rests_on_assumptions: bool

    @property
    def named(self) -> tuple[str, ...]:
        """The driving parameters that are assumptions."""
        return tuple(d.parameter for d in self.drivers if d.evidence == ASSUMPTION)


@dataclass(frozen=True)
class ThresholdSummary:
    """One named threshold of one arm: label, estimate by each horizon (days), what its spread rests on."""

    label: str
    by_day: dict[int, Estimate]
    assumptions: Assumptions | None = None


@dataclass(frozen=True)
class AttackQuantiles:
    """Cumulative attacks on a tracked target by a horizon: mean and 5%, 50%, 95% quantiles."""

    mean: float
    q05: int
    q50: int
    q95: int


@dataclass(frozen=True)
class ArmSummary:
    """One arm: its label, thresholds and attack quantiles (target -> horizon -> quantiles)."""

    label: str
    thresholds: dict[str, ThresholdSummary]
    attacks_by_horizon: dict[str, dict[int, AttackQuantiles]]


@dataclass(frozen=True)
class RunSummary:
    """Headline numbers of an experiment run, per arm, with provenance and paired differences."""

    experiment: str
    question: str
    scenario: str
    start: str
    horizon_days: int
    replications: int
    seed: int
    chunk_size: int
    level: float
    method: str
    data_hash: str
    calibration_hash: str | None
    reference_arm: str
    arms: dict[str, ArmSummary]
    paired_differences: tuple[dict[str, Any], ...] = field(default=())

    @property
    def horizons(self) -> tuple[int, ...]:
        """The horizons reported, in increasing order."""
        return tuple(
            sorted({h for arm in self.arms.values() for t in arm.thresholds.values() for h in t.by_day})
        )

    def headline(self) -> str:
        """The first threshold of the first arm at the last horizon, in one line."""
        arm = next(iter(self.arms.values()))
        threshold = next(iter(arm.thresholds.values()))
        horizon = max(threshold.by_day)
        return f"{threshold.label} by day {horizon}: {describe(threshold.by_day[horizon])}"

    # -- building --------------------------------------------------------------------------------------

    @classmethod
    def from_result(cls, result: ExperimentResult) -> RunSummary:
        """The summary of an experiment's result."""
        spec, reference = result.spec, result.reference
        thresholds = result.thresholds()
        arms = {}
        for arm in spec.arms:
            table = thresholds[thresholds["arm"] == arm.name]
            entries: dict[str, ThresholdSummary] = {}
            headline = max(spec.horizons)
            evidence = parameter_evidence(result.calibration.summaries if result.calibration else {})
            drivers = result.results[arm.name].uncertainty_drivers(headline)
            for row in table.itertuples():
                entry = entries.setdefault(row.threshold, ThresholdSummary(row.label, {}))
                entry.by_day[int(row.horizon_days)] = Estimate(
                    **{k: _rounded(getattr(row, k, None)) for k in _ESTIMATE + _PARAMETER_SPREAD}
                )
            for name, entry in entries.items():
                entries[name] = ThresholdSummary(
                    entry.label,
                    entry.by_day,
                    assumptions_of(
                        drivers[drivers["threshold"] == name], evidence, entry.by_day[headline], headline
                    ),
                )
            arms[arm.name] = ArmSummary(
                arm.label, entries, _attack_quantiles(result.results[arm.name], spec.horizons)
            )
        differences = ()
        if len(spec.arms) > 1:
            differences = tuple(
                {k: (round(v, DIGITS) if isinstance(v, float) else v) for k, v in row.items()}
                for row in result.paired_differences().to_dict("records")
            )
        return cls(
            experiment=spec.name,
            question=spec.question,
            scenario=reference.scenario.name,
            start=reference.scenario.start.isoformat(),
            horizon_days=reference.scenario.horizon_days,
            replications=reference.replications,
            seed=reference.ensemble.seed,
            chunk_size=reference.ensemble.chunk_size,
            level=spec.level,
            method=spec.method,
            data_hash=result.events.data_hash,
            calibration_hash=result.calibration.hash if result.calibration is not None else None,
            reference_arm=spec.reference,
            arms=arms,
            paired_differences=differences,
        )

    # -- JSON ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout of ``summary.json`` (horizons as string keys)."""
        data: dict[str, Any] = {
            "experiment": self.experiment,
            "question": self.question,
            "scenario": self.scenario,
            "start": self.start,
            "horizon_days": self.horizon_days,
            "replications": self.replications,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "interval": {"level": self.level, "method": self.method},
            "data_hash": self.data_hash,
            "calibration_hash": self.calibration_hash,
            "reference_arm": self.reference_arm,
            "arms": {
                name: {
                    "label": arm.label,
                    "thresholds": {
                        key: {
                            "label": t.label,
                            "by_day": {str(h): vars(v) for h, v in sorted(t.by_day.items())},
                            **({"assumptions": _assumptions_dict(t.assumptions)} if t.assumptions else {}),
                        }
                        for key, t in arm.thresholds.items()
                    },
                    "attacks_by_horizon": {
                        target: {str(h): vars(q) for h, q in sorted(by.items())}
                        for target, by in arm.attacks_by_horizon.items()
                    },
                }
                for name, arm in self.arms.items()
            },
        }
        if self.paired_differences:
            data["paired_differences"] = list(self.paired_differences)
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "summary") -> RunSummary:
        """Read the JSON layout back; raises :class:`SummaryError` naming ``source`` and the missing key."""
        try:
            arms = {
                name: ArmSummary(
                    label=str(arm["label"]),
                    thresholds={
                        key: ThresholdSummary(
                            str(t["label"]),
                            {
                                int(h): Estimate(
                                    **{k: float(v[k]) for k in _ESTIMATE},
                                    **{k: _optional(v.get(k)) for k in _PARAMETER_SPREAD},
                                )
                                for h, v in t["by_day"].items()
                            },
                            _assumptions_from(t.get("assumptions")),
                        )
                        for key, t in arm["thresholds"].items()
                    },
                    attacks_by_horizon={
                        target: {int(h): AttackQuantiles(**q) for h, q in by.items()}
                        for target, by in arm.get("attacks_by_horizon", {}).items()
                    },
                )
                for name, arm in data["arms"].items()
            }
            return cls(
                experiment=str(data["experiment"]),
                question=str(data["question"]),
                scenario=str(data["scenario"]),
                start=str(data["start"]),
                horizon_days=int(data["horizon_days"]),
                replications=int(data["replications"]),
                seed=int(data["seed"]),
                chunk_size=int(data["chunk_size"]),
                level=float(data["interval"]["level"]),
                method=str(data["interval"]["method"]),
                data_hash=str(data["data_hash"]),
                calibration_hash=data.get("calibration_hash"),
                reference_arm=str(data["reference_arm"]),
                arms=arms,
                paired_differences=tuple(data.get("paired_differences") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SummaryError(
                f"{source}: not a complete run summary ({type(err).__name__}: {err})"
            ) from None

    def save(self, path: Path) -> Path:
        """Write ``summary.json`` atomically."""
        from escalation.report.folder import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> RunSummary:
        """Read a ``summary.json``; a truncated or malformed file raises :class:`SummaryError`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise SummaryError(f"{path}: not a readable run summary ({err})") from None
        return cls.from_dict(data, str(path))


_ESTIMATE = ("probability", "lower", "upper", "mcse")
_PARAMETER_SPREAD = ("parameter_lower", "parameter_upper", "parameter_sd", "parameter_share")


def _rounded(value: Any) -> float | None:
    """A table's number rounded for the summary; None for a missing or NaN one."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), DIGITS)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def describe(value: Estimate) -> str:
    """A probability with both its uncertainties, in words a briefer reads (percentages)."""
    text = f"{100 * value.probability:.1f}% (simulation noise {100 * value.lower:.1f}-{100 * value.upper:.1f}"
    if value.parameter_sd == 0:
        text += "; no spread over parameter values detected above the simulation noise"
    elif value.parameter_lower is not None and value.parameter_upper is not None:
        low, high = 100 * value.parameter_lower, 100 * value.parameter_upper
        text += f"; over plausible parameter values {low:.1f}-{high:.1f}"
    return text + ")"


def parameter_evidence(summaries: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What fixed each calibrated parameter's distribution, from the calibration artefact's summaries.

    A parameter whose prior was pooled from the reference-class records is :data:`POOLED`; one whose
    posterior 90% interval is at most :data:`NARROWED_RATIO` of its prior's is :data:`NARROWED`; any other,
    and any parameter the calibration does not cover, is an :data:`ASSUMPTION`.
    """
    evidence = {}
    for path, summary in summaries.items():
        ratio = summary.get("interval_ratio")
        if str(summary.get("prior_source", "")).startswith("reference_class"):
            evidence[path] = POOLED
        elif ratio is not None and ratio <= NARROWED_RATIO:
            evidence[path] = NARROWED
    return evidence


def assumptions_of(drivers, evidence: dict[str, str], value: Estimate, horizon: int) -> Assumptions | None:
    """What one headline's parameter spread rests on (None when it has no estimated parameter spread).

    Args:
        drivers: the headline's rows of :meth:`~escalation.ensemble.EnsembleResult.uncertainty_drivers`.
        evidence: :func:`parameter_evidence` of the run's calibration.
        value: the headline's estimate.
        horizon: its horizon in days.
    """
    if value.parameter_sd is None or len(drivers) == 0:
        return None
    rows = [
        (str(r.parameter), float(r.share), evidence.get(str(r.parameter), ASSUMPTION))
        for r in drivers.itertuples()
    ]
    # Only a parameter whose effect the draws detect is named (its share can be noise otherwise).
    detected = [bool(x) for x in drivers["detected"]] if "detected" in drivers else [True] * len(rows)
    total = sum(share for _, share, _ in rows)
    assumed = sum(share for _, share, source in rows if source == ASSUMPTION)
    named = tuple(
        Driver(path, round(share, 3), source)
        for (path, share, source), found in zip(rows, detected, strict=True)
        if found and share >= MIN_SHARE
    )[:TOP_DRIVERS]
    share = assumed / total if total > 0 else 0.0
    return Assumptions(
        horizon_days=horizon,
        drivers=named,
        assumption_share=round(share, 3),
        rests_on_assumptions=bool(value.parameter_sd > value.mcse and share > 0.5),
    )


def _assumptions_dict(assumptions: Assumptions) -> dict[str, Any]:
    return {
        "horizon_days": assumptions.horizon_days,
        "drivers": [vars(d) for d in assumptions.drivers],
        "assumption_share": assumptions.assumption_share,
        "rests_on_assumptions": assumptions.rests_on_assumptions,
    }


def _assumptions_from(data: Any) -> Assumptions | None:
    if not data:
        return None
    return Assumptions(
        horizon_days=int(data["horizon_days"]),
        drivers=tuple(
            Driver(str(d["parameter"]), float(d["share"]), str(d["evidence"])) for d in data["drivers"]
        ),
        assumption_share=float(data["assumption_share"]),
        rests_on_assumptions=bool(data["rests_on_assumptions"]),
    )


def _attack_quantiles(
    result: EnsembleResult, horizons: tuple[int, ...]
) -> dict[str, dict[int, AttackQuantiles]]:
    out: dict[str, dict[int, AttackQuantiles]] = {}
    for target in result.scenario.tracked_targets:
        table = result.cumulative_attacks(target)
        out[target] = {
            h: AttackQuantiles(
                mean=round(float(table["mean"].iloc[h - 1]), 3),
                q05=int(table["q05"].iloc[h - 1]),
                q50=int(table["q50"].iloc[h - 1]),
                q95=int(table["q95"].iloc[h - 1]),
            )
            for h in horizons
        }
    return out
