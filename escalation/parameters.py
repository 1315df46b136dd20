"""Per-replication parameter values: settings, prior draws and calibrated posterior draws.

Every model parameter has a path, such as ``attacks.militias->us.base_rate``, ``actors.us.interception``,
``policy.us.threshold`` or ``drivers.ground_invasion.factor``. For each replication its value is

- the number itself, when the scenario sets a number (a setting or lever);
- a row of the calibration's joint posterior draws, when a calibration covers the path;
- otherwise a draw from the parameter's prior distribution, from a stream named after the path.

One posterior row per parameter draw is shared by all calibrated paths, so correlations between calibrated
parameters (interception and injury probability, say) carry over into the ensemble.

**Nested design.** Consecutive replications of a chunk form blocks of ``per_draw`` replications that share one
parameter draw (the last block of a chunk may be shorter). The spread of the outcome between blocks, less the
spread within them, is the part of the uncertainty that comes from the parameters (see
:func:`escalation.metrics.uncertainty_split`). With ``per_draw = 1`` every replication has its own draw, and
the values are exactly those of a design without blocks: the draws are taken in the same order from the same
streams, one per block, and repeated across the block.

Which fields are parameters comes from the spec classes (the fields declared with
:func:`escalation.specs.parameter`); where a spec class's entities sit in a scenario and how a path names them
comes from :data:`PARAMETER_GROUPS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from escalation.specs import (
    ActorSpec,
    AttackSpec,
    Dist,
    DriverSpec,
    Param,
    ParameterInfo,
    PolicySpec,
    ScenarioSpec,
    parameter_fields,
)
from escalation.streams import NamedStreams

CALIBRATION_ROW_STREAM = "param:calibration-row"


@dataclass(frozen=True)
class ParameterGroup:
    """The parameters of one kind of scenario entity, and how paths and the model's columns name them.

    A parameter's path is ``<prefix>.<key>.<field>``, the key being the entity's ``key_attribute``.

    Attributes:
        prefix: first part of the paths (``actors``, ``attacks``, ``policy``, ``drivers``).
        spec: the spec class whose :func:`~escalation.specs.parameter` fields are the parameters.
        entities: the :class:`~escalation.specs.ScenarioSpec` attribute listing the group's specs.
        key_attribute: the attribute of a spec (and of a column) that is its key in the paths.
        columns: the ``ScenarioSpec`` attribute listing the model's columns for these parameters (empty: one
            column per entity); a retaliation dyad's entity is the policy it acts under
            (:meth:`~escalation.specs.ScenarioSpec.policy_of`: its state's, or its state's toward its target).
    """

    prefix: str
    spec: type
    entities: str
    key_attribute: str
    columns: str = ""

    @property
    def fields(self) -> tuple[tuple[str, ParameterInfo], ...]:
        """The group's parameter fields as ``(name, info)``, in declaration order."""
        return parameter_fields(self.spec)

    def items(self, scenario: ScenarioSpec) -> list[tuple[str, Any]]:
        """The scenario's entities of this group as ``(key, spec)``."""
        return [(getattr(spec, self.key_attribute), spec) for spec in getattr(scenario, self.entities)]

    def column_keys(self, scenario: ScenarioSpec) -> list[str]:
        """The entity key of each of the model's columns for this group."""
        if self.columns == "retaliations":
            return [getattr(scenario.policy_of(dyad), self.key_attribute) for dyad in scenario.retaliations]
        return [
            getattr(column, self.key_attribute) for column in getattr(scenario, self.columns or self.entities)
        ]

    def path(self, key: str, name: str) -> str:
        """The path of parameter ``name`` of entity ``key``."""
        return f"{self.prefix}.{key}.{name}"


PARAMETER_GROUPS: tuple[ParameterGroup, ...] = (
    ParameterGroup("actors", ActorSpec, entities="actors", key_attribute="name"),
    ParameterGroup("attacks", AttackSpec, entities="attacks", key_attribute="key"),
    ParameterGroup("policy", PolicySpec, entities="policies", key_attribute="key", columns="retaliations"),
    ParameterGroup("drivers", DriverSpec, entities="drivers", key_attribute="name"),
)


def scenario_parameters(scenario: ScenarioSpec) -> Iterator[tuple[str, Param]]:
    """Every parameter of a scenario as ``(path, value or distribution)``.

    A policy that no retaliation dyad uses has none: a state without retaliation dyads, or a policy toward an
    adversary the scenario gives the state no dyad against (a packaged policy file serves several scenarios,
    and a draw of a parameter that nothing reads would only look like one that matters).
    """
    used = {(d.state, None) for d in scenario.retaliations} | {
        (d.state, d.target) for d in scenario.retaliations
    }
    for group in PARAMETER_GROUPS:
        for key, spec in group.items(scenario):
            if isinstance(spec, PolicySpec) and (spec.state, spec.target) not in used:
                continue
            for name, _ in group.fields:
                if isinstance(spec, PolicySpec) and spec.target is not None and name not in spec.overrides:
                    continue  # the state's own parameter (ScenarioSpec.policy_key)
                yield group.path(key, name), getattr(spec, name)


def parameter_columns(scenario: ScenarioSpec) -> Iterator[tuple[str, list[str]]]:
    """Every parameter field as ``(field name, path of each of the model's columns for it)``.

    The columns are the actors, the attack dyads, the retaliation dyads (each with its state's policy) or the
    drivers, in scenario order.
    """
    for group in PARAMETER_GROUPS:
        keys = group.column_keys(scenario)
        for name, _ in group.fields:
            if group.columns == "retaliations":
                keys = [scenario.policy_key(dyad, name) for dyad in scenario.retaliations]
            yield name, [group.path(key, name) for key in keys]


@dataclass(frozen=True)
class Parameters:
    """Parameter values for a block of replications.

    Attributes:
        values: path -> array of one value per replication.
        uncertain: the paths that vary between replications (drawn from a prior or a posterior), in order.
    """

    values: dict[str, np.ndarray]
    uncertain: tuple[str, ...]

    def __getitem__(self, path: str) -> np.ndarray:
        return self.values[path]

    def stack(self, paths: list[str]) -> np.ndarray:
        """Values of several paths as a (replications, len(paths)) array."""
        return np.stack([self.values[p] for p in paths], axis=1)


def block_index(replications: int, per_draw: int) -> np.ndarray:
    """The parameter draw (block) of each of a chunk's replications: ``0, ..., 0, 1, ..., 1, ...``.

    Blocks hold ``per_draw`` consecutive replications; the last one holds what is left.
    """
    if per_draw < 1:
        raise ValueError(f"per_draw: must be >= 1, got {per_draw}")
    return np.arange(replications) // per_draw


def draw_parameters(
    scenario: ScenarioSpec,
    replications: int,
    streams: NamedStreams,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
    per_draw: int = 1,
    parameter_values: Mapping[str, np.ndarray] | None = None,
) -> Parameters:
    """Draw every parameter for ``replications`` replications, one draw per block of ``per_draw``.

    Args:
        scenario: the scenario whose parameters are drawn.
        replications: number of replications.
        streams: the chunk's named streams; each prior draws from ``param:<path>``.
        calibration_draws: path -> joint posterior draws (all the same length). Only paths whose scenario
            value is a distribution are taken from it: a number in the scenario is a deliberate setting.
        per_draw: replications that share one parameter draw (:func:`block_index`); 1: one draw each.
        parameter_values: path -> one value per replication, given explicitly (a sensitivity design): these
            replace the setting, posterior row or prior draw of their paths, which then count as uncertain.
            The other paths are drawn as without it, from the same streams.
    """
    parameter_values = parameter_values or {}
    known = {path for path, _ in scenario_parameters(scenario)}
    for path, given in parameter_values.items():
        if path not in known:
            raise ValueError(f"parameter_values: {path!r} is not a parameter of scenario {scenario.name!r}")
        if np.shape(given) != (replications,):
            raise ValueError(f"parameter_values: {path!r} needs {replications} values, got {np.shape(given)}")
    blocks = block_index(replications, per_draw)
    draws = int(blocks[-1]) + 1 if replications else 0
    calibration_draws = calibration_draws or {}
    rows = None
    if calibration_draws:
        length = len(next(iter(calibration_draws.values())))
        rows = streams(CALIBRATION_ROW_STREAM).integers(0, length, size=draws)[blocks]
    values: dict[str, np.ndarray] = {}
    uncertain: list[str] = []
    for path, spec in scenario_parameters(scenario):
        if path in parameter_values:
            values[path] = np.asarray(parameter_values[path], dtype=float)
            uncertain.append(path)
            continue
        if not isinstance(spec, Dist):
            values[path] = np.full(replications, float(spec))
            continue
        if path in calibration_draws and rows is not None:
            values[path] = np.asarray(calibration_draws[path], dtype=float)[rows]
        else:
            values[path] = np.asarray(spec.sample(streams(f"param:{path}"), draws))[blocks]
        uncertain.append(path)
    return Parameters(values=values, uncertain=tuple(uncertain))
