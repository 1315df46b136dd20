"""The summary of an experiment run: a typed object, written as ``summary.json`` and read back by sweeps.

The command prints it, a sweep aggregates the summaries of its points, and a user's script can read the JSON
file; all three go through :class:`RunSummary`, so the layout is defined here once. Reading a file that is
not a complete summary raises :class:`SummaryError` with the file and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from escalation.ensemble import EnsembleResult
    from escalation.experiment import ExperimentResult

DIGITS = 6  # probabilities and intervals are stored rounded to this many decimals


class SummaryError(ValueError):
    """A ``summary.json`` cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Estimate:
    """A probability with its interval and Monte Carlo standard error."""

    probability: float
    lower: float
    upper: float
    mcse: float


@dataclass(frozen=True)
class ThresholdSummary:
    """One named threshold of one arm: its label and its estimate by each horizon (days)."""

    label: str
    by_day: dict[int, Estimate]


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
        value = threshold.by_day[horizon]
        return (
            f"{threshold.label} by day {horizon}: {100 * value.probability:.1f}% "
            f"({100 * value.lower:.1f}-{100 * value.upper:.1f})"
        )

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
            for row in table.itertuples():
                entry = entries.setdefault(row.threshold, ThresholdSummary(row.label, {}))
                entry.by_day[int(row.horizon_days)] = Estimate(
                    *(
                        round(float(getattr(row, k)), DIGITS)
                        for k in ("probability", "lower", "upper", "mcse")
                    )
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
                                int(h): Estimate(**{k: float(v[k]) for k in _ESTIMATE})
                                for h, v in t["by_day"].items()
                            },
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
