"""Shared builders: small scenarios with known answers, and the packaged default scenario."""

from __future__ import annotations

import copy

import pytest

from escalation.specs import ScenarioSpec, build_scenario, default_scenario, read_config_file


def one_dyad_scenario(
    *,
    base_rate: float = 2.0,
    horizon_days: int = 30,
    interception: float = 0.0,
    injury_probability: float = 0.0,
    kill_probability: float = 0.0,
    excitation: float = 0.0,
    deterrence: float = 0.0,
    retaliation: dict | None = None,
    drivers: dict | None = None,
    max_per_day: int = 1000,
) -> ScenarioSpec:
    """A group attacking a state at a constant rate; optionally the state retaliates."""
    scenario = {
        "name": "one_dyad",
        "start": "2024-01-01",
        "horizon_days": horizon_days,
        "tracked_targets": ["state"],
        "attacks": [
            {
                "attacker": "group",
                "target": "state",
                "base_rate": base_rate,
                "excitation": excitation,
                "deterrence": deterrence,
                "injury_probability": injury_probability,
                "kill_probability": kill_probability,
                "max_per_day": max_per_day,
            }
        ],
        "retaliations": [{"state": "state", "target": "group"}] if retaliation is not None else [],
        "drivers": drivers or {},
        "thresholds": {"first_fatality": {"min_rung": 3, "targets": ["state"], "kind": "attack"}},
    }
    actors = {
        "state": {"kind": "state", "interception": interception},
        "patron": {"kind": "state"},
        "group": {"kind": "non_state", "patron": "patron", "max_rung": 3},
    }
    policy = {"state": retaliation} if retaliation is not None else {}
    return build_scenario(scenario, actors, policy)


def default_config() -> tuple[dict, dict, dict]:
    """Deep copies of the packaged scenario, actors and policy mappings, for tests that edit them."""
    return (
        copy.deepcopy(read_config_file("scenario", "october_2023")),
        copy.deepcopy(read_config_file("actors", "october_2023")),
        copy.deepcopy(read_config_file("policy", "calibrated")),
    )


@pytest.fixture(scope="session")
def scenario() -> ScenarioSpec:
    return default_scenario()
