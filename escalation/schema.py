"""Structured-config schema of the ``escalation`` command: the shape of every config group.

These are plain dataclasses (no Hydra import); the command registers them with Hydra's ConfigStore so that
a misspelt key or a value of the wrong type fails when the config is composed, before anything runs. Model
parameters are typed ``Any`` because each may be a number or a ``{dist: ...}`` mapping; their values are
checked when the config is turned into specs (:func:`escalation.specs.build_scenario`). The schemas of
actors, dyads, policies, drivers, thresholds, harm weights and the ensemble are derived from the spec
dataclasses, so field names and defaults have one source.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from escalation.ladder import Ladder
from escalation.specs import (
    ActorSpec,
    AttackSpec,
    DriverSpec,
    EnsembleSpec,
    HarmWeights,
    ParameterInfo,
    PolicySpec,
    RetaliationSpec,
    ThresholdSpec,
)

MISSING: Any = "???"  # OmegaConf's marker for a value that must be given


def _schema_type(annotation: str) -> Any:
    """The OmegaConf-friendly type of a spec field, from its (string) annotation."""
    if annotation == "Param":
        return Any  # a number or a {dist: ...} mapping
    if annotation.startswith("tuple["):
        return list[float] if "float" in annotation else list[str]
    if annotation.endswith("| None"):
        return str | None  # optional names and dates
    return {"int": int, "float": float, "bool": bool}.get(annotation, str)  # str, Literal, date


def _schema_default(spec_field: dataclasses.Field) -> Any:
    # The spec field's metadata goes along: a model parameter's ParameterInfo (see schema_key).
    metadata = spec_field.metadata
    if spec_field.default is not dataclasses.MISSING:
        value = spec_field.default
    elif spec_field.default_factory is not dataclasses.MISSING:
        value = spec_field.default_factory()
    else:
        return field(default=MISSING, metadata=metadata)
    if isinstance(value, tuple):
        return field(default_factory=lambda value=value: list(value), metadata=metadata)
    return field(default=value, metadata=metadata)


def _is_loose(spec_field: dataclasses.Field, loose: tuple[str, ...]) -> bool:
    """Whether a field is typed ``Any``: a model parameter (declared with ``specs.parameter``) or listed."""
    return spec_field.name in loose or "parameter" in spec_field.metadata


def schema_of(
    spec: type,
    name: str,
    *,
    skip: tuple[str, ...] = (),
    loose: tuple[str, ...] = (),
    inherit: bool = False,
    extra: tuple = (),
) -> type:
    """A structured-config dataclass with the fields and defaults of a spec dataclass.

    Args:
        spec: the spec class (the one source of field names and defaults).
        name: the schema's class name.
        skip: fields that the config gives another way (e.g. the name, which is the mapping's key).
        loose: fields typed ``Any`` in the config (a rung may be given as a number or a name), besides the
            model parameters, which are always ``Any``.
        inherit: every field is ``Any`` and empty (``None``) by default: an override of another entry, whose
            empty fields take that entry's values.
        extra: further ``(name, type, field)`` fields of the config that the spec class does not have.
    """
    if inherit:
        fields_ = [
            (f.name, Any, field(default=None, metadata=f.metadata))
            for f in dataclasses.fields(spec)
            if f.init and f.name not in skip
        ]
    else:
        fields_ = [
            (f.name, Any if _is_loose(f, loose) else _schema_type(str(f.type)), _schema_default(f))
            for f in dataclasses.fields(spec)
            if f.init and f.name not in skip
        ]
    fields_ += list(extra)
    schema = dataclasses.make_dataclass(name, fields_)
    # Worker processes of parallel sweep launchers unpickle the class by reference to this module.
    schema.__module__ = __name__
    return schema


ActorConfig = schema_of(ActorSpec, "ActorConfig", skip=("name",))
AttackConfig = schema_of(AttackSpec, "AttackConfig", skip=("name",))
RetaliationConfig = schema_of(RetaliationSpec, "RetaliationConfig", skip=("name",))
# A state's policy toward one adversary (policy.<state>.toward.<target>) sets only the fields it changes.
PolicyOverrideConfig = schema_of(
    PolicySpec, "PolicyOverrideConfig", skip=("state", "target", "overrides"), inherit=True
)
PolicyConfig = schema_of(
    PolicySpec,
    "PolicyConfig",
    skip=("state", "target", "overrides"),
    extra=(("toward", dict[str, PolicyOverrideConfig], field(default_factory=dict)),),
)
DriverConfig = schema_of(DriverSpec, "DriverConfig", skip=("name",))
ThresholdConfig = schema_of(ThresholdSpec, "ThresholdConfig", skip=("name",), loose=("min_rung",))
HarmConfig = schema_of(HarmWeights, "HarmConfig")
EnsembleConfig = schema_of(EnsembleSpec, "EnsembleConfig")


@dataclass
class LadderConfig:
    """Schema of ``scenario.ladder``: rung names (empty: the default names) and the regional-war rule."""

    names: list[str] | None = None
    war_strikes: int = Ladder.war_strikes
    war_window_days: int = Ladder.war_window_days


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
class DataConfig:
    """Schema of the ``data`` group: the event file."""

    path: str | None = None  # None: the built-in October 2023 record


@dataclass
class CalibrationConfig:
    """Schema of ``calibration``: posterior draws, sampling seed and cut-off date."""

    draws: int = 4000
    seed: int = 0
    method: str = "auto"  # auto, grid or likelihood (see escalation.calibration.calibrate)
    priors: str = "reference_class"  # reference_class (pooled from the reference records) or hand
    cutoff: str | None = None  # None: the scenario's start


@dataclass
class ArmConfig:
    """Schema of one arm of an experiment: a label and config overrides."""

    label: str = ""
    set: list[str] = field(default_factory=list)  # config overrides "key=value" for this arm


@dataclass
class LeverConfig:
    """Schema of one swept lever: its config key and display label."""

    key: str = MISSING
    label: str = ""


@dataclass
class SweepConfig:
    """Schema of ``experiment.sweep``: how a multirun sweep is aggregated and plotted."""

    levers: list[LeverConfig] = field(default_factory=list)
    reference: list[Any] = field(default_factory=list)  # lever values of the reference point
    contour: float = 0.5


@dataclass
class ObjectiveConfig:
    """Schema of ``experiment.objective``: the probability the command returns (for optimising sweepers)."""

    threshold: str = ""  # a named threshold of the scenario; empty: the command returns no objective
    horizon: int | None = None  # one of experiment.horizons; None: the last
    arm: str | None = None  # None: the reference arm


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
    figures: bool = True  # per-run figures; sweeps turn them off and plot the aggregate instead
    brief: bool = False  # write brief.pdf and brief.html at the end of the run (escalation-brief)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)


@dataclass
class BacktestConfig:
    """Schema of ``backtest``: a cut-off date turns the run into a backtest (see escalation.backtest)."""

    cutoff: str | None = None  # None: a forecast, not a backtest
    horizon_days: int = 30
    target: str = "us"
    window_days: int = 7
    origins: int = 1  # more than one: rolling origins, step_days apart
    step_days: int = 7


@dataclass
class SensitivityLeverConfig:
    """Schema of one lever of ``sensitivity.levers``: a parameter path varied uniformly on a range."""

    path: str = MISSING  # a parameter path, e.g. policy.us.retaliation_probability
    low: float = MISSING
    high: float = MISSING


@dataclass
class SensitivityConfig:
    """Schema of ``sensitivity``: a method turns the run into a global sensitivity analysis.

    See :class:`escalation.sensitivity.SensitivitySpec` and docs/sensitivity.md.
    """

    method: str | None = None  # sobol or morris; None: not a sensitivity run
    base_samples: int = 1024  # Sobol: N, a power of 2; Morris: trajectories
    horizons: list[int] = field(default_factory=list)  # empty: experiment.horizons
    thresholds: list[str] = field(default_factory=list)  # empty: every named threshold
    cumulative: bool = True  # also the cumulative attacks on the tracked targets
    levers: list[SensitivityLeverConfig] = field(default_factory=list)
    randomness: bool = True  # the replication's random numbers as a factor
    seed: int = 0
    resamples: int = 200
    level: float = 0.95
    morris_levels: int = 4
    discovery_outcome: str | None = "regional_war"  # a threshold; None: no scenario discovery
    discovery_horizon: int | None = None  # None: the longest horizon
    discovery_min_coverage: float = 0.5


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
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)


# ---------------------------------------------------------------------------------------------------------
# What the schema says about one dotted key (used to check command-line overrides before Hydra applies them)


@dataclass(frozen=True)
class SchemaKey:
    """A dotted config key as the schema declares it (see :func:`schema_key`).

    Attributes:
        key: the dotted key.
        type: its declared type: a schema dataclass, ``dict[str, X]`` (a mapping of names), a list, a leaf
            type, or ``Any``.
        parameter: the key is a model parameter (a number or a ``{dist: ...}`` prior) with these bounds.
        free: the key lies below a value typed ``Any`` (such as one parameter of a prior), which the schema
            does not describe further.
    """

    key: str
    type: Any
    parameter: ParameterInfo | None = None
    free: bool = False


class UnknownKey(KeyError):
    """A dotted key that the schema does not have.

    ``key`` is the key up to its first unknown part, ``allowed`` the keys allowed there (empty when the part
    above, ``holder``, holds a value, not keys).
    """

    def __init__(self, key: str, allowed: tuple[str, ...], holder: str = "") -> None:
        super().__init__(key)
        self.key, self.allowed, self.holder = key, allowed, holder

    def __str__(self) -> str:
        if not self.allowed:
            return f"{self.key}: unknown key; {self.holder} holds a value, not keys"
        return f"{self.key}: unknown key; allowed: {', '.join(self.allowed)}"


def schema_key(key: str, root: type = Config) -> SchemaKey:
    """Look a dotted key (``policy.us.threshold``) up in the schema.

    A part below a mapping of names (``actors``, ``scenario.attacks``, ``experiment.arms``, ...) may be any
    name; every other part must be a field of its schema dataclass.

    Raises:
        UnknownKey: for the first part that is not in the schema, with the keys allowed there.
    """
    node: Any = root
    parameter = None
    parts = key.split(".")
    for i, name in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if node is Any:
            return SchemaKey(key, Any, free=True)
        if dataclasses.is_dataclass(node):
            fields_ = {f.name: f for f in dataclasses.fields(node)}
            if name not in fields_:
                raise UnknownKey(here, tuple(fields_))
            parameter = fields_[name].metadata.get("parameter")
            node = typing.get_type_hints(node)[name]
        elif typing.get_origin(node) is dict:
            node, parameter = typing.get_args(node)[1], None
        elif typing.get_origin(node) is list:
            return SchemaKey(key, Any, free=True)  # an element of a list: Hydra checks its index and type
        else:
            raise UnknownKey(here, (), holder=".".join(parts[:i]))
    return SchemaKey(key, node, parameter=parameter)
