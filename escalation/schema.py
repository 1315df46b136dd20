"""Structured-config schema of the ``escalation`` command: the shape of every config group.

These are plain dataclasses; the command registers them with Hydra's ConfigStore so that a misspelt key or a
value of the wrong type fails when the config is composed, before anything runs. Model parameters are typed
``Any`` because each may be a number or a ``{dist: ...}`` mapping; their values are checked when the config is
turned into specs (:func:`escalation.specs.build_scenario`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MISSING: Any = "???"  # OmegaConf's marker for a value that must be given


@dataclass
class ActorConfig:
    """Schema of one entry of the ``actors`` group (see :class:`escalation.specs.ActorSpec`)."""

    kind: str = MISSING
    label: str = ""
    patron: str | None = None
    max_rung: int = 6
    interception: Any = 0.5
    restraint: Any = 1.0


@dataclass
class AttackConfig:
    """Schema of one attack dyad in ``scenario.attacks`` (see :class:`escalation.specs.AttackSpec`)."""

    attacker: str = MISSING
    target: str = MISSING
    base_rate: Any = MISSING
    excitation: Any = 0.0
    deterrence: Any = 0.0
    provocation_memory_days: Any = 14.0
    punishment_memory_days: Any = 30.0
    injury_probability: Any = 0.0
    injured_extra: Any = 0.0
    kill_probability: Any = 0.0
    killed_extra: Any = 0.0
    min_rung: int = 1
    max_per_day: int = 50
    background: bool = False


@dataclass
class RetaliationConfig:
    """Schema of one retaliation dyad in ``scenario.retaliations``."""

    state: str = MISSING
    target: str = MISSING
    background: bool = False


@dataclass
class PolicyConfig:
    """Schema of one state's policy in the ``policy`` group (the deterrence levers)."""

    threshold: Any = 10.0
    retaliation_probability: Any = 0.3
    proportionality: Any = 0.1
    escalation_probability: Any = 0.02
    lethal_escalation_probability: Any = 0.1
    max_level: str = "patron_assets"
    max_strikes_per_day: int = 10
    memory_days: Any = 30.0


@dataclass
class DriverConfig:
    """Schema of one dated driver in ``scenario.drivers``."""

    date: str = MISSING
    effect: str = MISSING
    factor: Any = MISSING
    attackers: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    end: str | None = None


@dataclass
class ThresholdConfig:
    """Schema of one named threshold in ``scenario.thresholds``."""

    min_rung: Any = MISSING
    attackers: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    kind: str = "any"
    label: str = ""


@dataclass
class HarmConfig:
    """Schema of ``scenario.harm``: harm units per attack, casualty and strike."""

    attack: float = 1.0
    injured: float = 1.0
    killed: float = 10.0
    strike: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0])


@dataclass
class LadderConfig:
    """Schema of ``scenario.ladder``: rung names and the regional-war rule."""

    names: list[str] | None = None
    war_strikes: int = 3
    war_window_days: int = 14


@dataclass
class ScenarioConfig:
    """Schema of the ``scenario`` group."""

    name: str = MISSING
    description: str = ""
    start: str = MISSING
    horizon_days: int = MISSING
    attribution: float = 0.5
    tracked_targets: list[str] = field(default_factory=list)
    harm: HarmConfig = field(default_factory=HarmConfig)
    ladder: LadderConfig = field(default_factory=LadderConfig)
    attacks: dict[str, AttackConfig] = field(default_factory=dict)
    retaliations: dict[str, RetaliationConfig] = field(default_factory=dict)
    drivers: dict[str, DriverConfig] = field(default_factory=dict)
    thresholds: dict[str, ThresholdConfig] = field(default_factory=dict)


@dataclass
class EnsembleConfig:
    """Schema of the ``ensemble`` group (see :class:`escalation.specs.EnsembleSpec`)."""

    replications: int = 10_000
    chunk_size: int = 2_500
    workers: int = 1
    seed: int = 20231027
    progress: bool = True


@dataclass
class DataConfig:
    """Schema of the ``data`` group: the event file."""

    path: str | None = None  # None: the built-in October 2023 record


@dataclass
class CalibrationConfig:
    """Schema of ``calibration``: posterior draws, sampling seed and cut-off date."""

    draws: int = 4000
    seed: int = 0
    cutoff: str | None = None  # None: the scenario's start


@dataclass
class ArmConfig:
    """Schema of one arm of an experiment: a label and config overrides."""

    label: str = ""
    set: list[str] = field(default_factory=list)  # config overrides "key=value" for this arm


@dataclass
class ExperimentConfig:
    """Schema of the ``experiment`` group: the briefing question, horizons and arms."""

    name: str = MISSING
    question: str = ""
    horizons: list[int] = field(default_factory=lambda: [30, 90, 180])
    level: float = 0.9
    interval_method: str = "wilson"
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    reference_arm: str | None = None
    figure_formats: list[str] = field(default_factory=lambda: ["png", "svg"])


@dataclass
class Config:
    """Schema of the whole composed config."""

    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    actors: dict[str, ActorConfig] = field(default_factory=dict)
    policy: dict[str, PolicyConfig] = field(default_factory=dict)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
