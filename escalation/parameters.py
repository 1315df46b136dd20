"""Per-replication parameter values: settings, prior draws and calibrated posterior draws.

Every model parameter has a path, such as ``attacks.militias->us.base_rate``, ``actors.us.interception``,
``policy.us.threshold`` or ``drivers.ground_invasion.factor``. For each replication its value is

- the number itself, when the scenario sets a number (a setting or lever);
- a row of the calibration's joint posterior draws, when a calibration covers the path;
- otherwise a draw from the parameter's prior distribution, from a stream named after the path.

One posterior row per replication is shared by all calibrated paths, so correlations between calibrated
parameters (interception and injury probability, say) carry over into the ensemble.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from escalation.specs import Dist, Param, ScenarioSpec
from escalation.streams import NamedStreams

ACTOR_FIELDS = ("interception", "restraint")
ATTACK_FIELDS = (
    "base_rate",
    "excitation",
    "deterrence",
    "provocation_memory_days",
    "punishment_memory_days",
    "injury_probability",
    "injured_extra",
    "kill_probability",
    "killed_extra",
)
POLICY_FIELDS = (
    "threshold",
    "retaliation_probability",
    "proportionality",
    "escalation_probability",
    "lethal_escalation_probability",
    "memory_days",
)
CALIBRATION_ROW_STREAM = "param:calibration-row"


def scenario_parameters(scenario: ScenarioSpec) -> Iterator[tuple[str, Param]]:
    """Every parameter of a scenario as ``(path, value or distribution)``."""
    for actor in scenario.actors:
        for name in ACTOR_FIELDS:
            yield f"actors.{actor.name}.{name}", getattr(actor, name)
    for dyad in scenario.attacks:
        for name in ATTACK_FIELDS:
            yield f"attacks.{dyad.key}.{name}", getattr(dyad, name)
    for policy in scenario.policies:
        for name in POLICY_FIELDS:
            yield f"policy.{policy.state}.{name}", getattr(policy, name)
    for driver in scenario.drivers:
        yield f"drivers.{driver.name}.factor", driver.factor


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


def draw_parameters(
    scenario: ScenarioSpec,
    replications: int,
    streams: NamedStreams,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
) -> Parameters:
    """Draw every parameter for ``replications`` replications.

    Args:
        scenario: the scenario whose parameters are drawn.
        replications: number of replications.
        streams: the chunk's named streams; each prior draws from ``param:<path>``.
        calibration_draws: path -> joint posterior draws (all the same length). Only paths whose scenario
            value is a distribution are taken from it: a number in the scenario is a deliberate setting.
    """
    calibration_draws = calibration_draws or {}
    rows = None
    if calibration_draws:
        length = len(next(iter(calibration_draws.values())))
        rows = streams(CALIBRATION_ROW_STREAM).integers(0, length, size=replications)
    values: dict[str, np.ndarray] = {}
    uncertain: list[str] = []
    for path, spec in scenario_parameters(scenario):
        if not isinstance(spec, Dist):
            values[path] = np.full(replications, float(spec))
            continue
        if path in calibration_draws and rows is not None:
            values[path] = np.asarray(calibration_draws[path], dtype=float)[rows]
        else:
            values[path] = spec.sample(streams(f"param:{path}"), replications)
        uncertain.append(path)
    return Parameters(values=values, uncertain=tuple(uncertain))
