"""Shared builders: small scenarios with known answers, and the packaged default scenario."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

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


@pytest.fixture(scope="session", autouse=True)
def own_disk_cache(tmp_path_factory):
    """The tests and the commands they run keep the disk cache (escalation/cache.py) in a folder of their own.

    Not the user's (``~/.cache/escalation``): a test session starts with no entries and adds none there. A
    folder set with ``ESCALATION_CACHE_DIR`` is kept.
    """
    if os.environ.get("ESCALATION_CACHE_DIR"):
        yield
        return
    os.environ["ESCALATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield
    finally:
        os.environ.pop("ESCALATION_CACHE_DIR", None)


def assert_rows_match_summaries(sweep: Path, table) -> None:
    """Each row of a sweep table (one per point, arm, threshold and horizon) equals its point's summary.json.

    ``table`` has the columns ``point`` (the point's folder in ``sweep``), ``arm``, ``threshold``,
    ``horizon_days``, ``probability``, ``lower`` and ``upper``; the three numbers must be equal exactly.
    """
    assert len(table) > 0
    for _, row in table.iterrows():
        summary = json.loads((sweep / row["point"] / "summary.json").read_text())
        value = summary["arms"][row["arm"]]["thresholds"][row["threshold"]]["by_day"][
            str(row["horizon_days"])
        ]
        assert (row["probability"], row["lower"], row["upper"]) == (
            value["probability"],
            value["lower"],
            value["upper"],
        ), (row["point"], row["arm"], row["threshold"], row["horizon_days"])
