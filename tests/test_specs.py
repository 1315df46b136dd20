"""Tests of escalation/specs.py: the packaged scenario builds, and every bad value names its key."""

from __future__ import annotations

import pytest

from escalation.specs import Dist, EnsembleSpec, SpecError, build_scenario, param_mean
from tests.conftest import default_config


def test_packaged_scenario_has_the_seven_actors_and_their_dyads(scenario):
    # The seven actors, and the shipping the Houthis attack (a target under the US's protection, no rules).
    assert scenario.actor_names == (
        "us", "iran", "militias", "israel", "hamas", "hezbollah", "houthis", "shipping"
    )  # fmt: skip
    assert {a.patron for a in scenario.actors if a.kind == "non_state" and a.name != "shipping"} == {"iran"}
    assert scenario.actor("shipping").protector == "us" and scenario.actor("shipping").patron is None
    assert "militias->us" in {a.key for a in scenario.attacks}
    assert {"us->militias", "iran->us", "israel->iran"} <= {r.key for r in scenario.retaliations}
    assert scenario.start.isoformat() == "2023-10-27"
    assert isinstance(scenario.policy("us").threshold, Dist)


def _edited(edit):
    scenario, actors, policy = default_config()
    edit(scenario, actors, policy)
    return scenario, actors, policy


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda s, a, p: a["us"].update(interception=1.5), "actors.us.interception", "[0.0, 1.0]"),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(base_rate=-1.0),
            "scenario.attacks.militias_on_us.base_rate",
            ">= 0",
        ),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(attacker="militia"),
            "scenario.attacks.militias_on_us.attacker",
            "allowed: us",
        ),
        (
            lambda s, a, p: p["us"].update(retaliation_probability=1.5),
            "policy.us.retaliation_probability",
            "[0.0, 1.0]",
        ),
        (lambda s, a, p: p["us"].update(max_level="nuclear"), "policy.us.max_level", "allowed: target"),
        (lambda s, a, p: p["us"].update(memory_days=0), "policy.us.memory_days", "must be > 0"),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(punishment_memory_days=-3.0),
            "scenario.attacks.militias_on_us.punishment_memory_days",
            "must be > 0, got -3",
        ),
        (lambda s, a, p: p["us"].update(treshold=3), "policy.us", "unknown key 'treshold'"),
        (lambda s, a, p: s.update(horizon_days=0), "scenario.horizon_days", "integer >= 1"),
        (lambda s, a, p: s.update(start="2023-13-01"), "scenario.start", "YYYY-MM-DD"),
        (
            lambda s, a, p: s["drivers"]["ground_invasion"].update(end="2023-10-01"),
            "ground_invasion.end",
            "before",
        ),
        (
            lambda s, a, p: s["drivers"]["air_defence"].update(effect="magic"),
            "air_defence.effect",
            "through_factor",
        ),
        (lambda s, a, p: a["militias"].update(patron="hamas"), "actors.militias.patron", "must be a state"),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(kill_probability={"dist": "beta", "a": 1}),
            "kill_probability",
            "a, b",
        ),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(base_rate={"dist": "normal", "loc": 1}),
            "base_rate.dist",
            "gamma",
        ),
        (
            lambda s, a, p: s["attacks"]["militias_on_us"].update(
                base_rate={"dist": "uniform", "loc": -1.0, "scale": 2.0}
            ),
            "base_rate",
            "outside",
        ),
        (
            lambda s, a, p: s["thresholds"]["regional_war"].update(min_rung="apocalypse"),
            "regional_war.min_rung",
            "allowed: 0 (quiet)",
        ),
        (lambda s, a, p: p.pop("us"), "policy.us", "no policy"),
    ],
)
def test_bad_values_give_one_line_errors_naming_the_key(edit, key, allowed):
    with pytest.raises(SpecError) as error:
        build_scenario(*_edited(edit))
    message = str(error.value)
    assert key in message and allowed in message
    assert "\n" not in message


def test_ensemble_spec_validates_and_chunks():
    assert EnsembleSpec(replications=10, chunk_size=4).chunks == [(0, 4), (1, 4), (2, 2)]
    with pytest.raises(SpecError, match=r"ensemble\.replications"):
        EnsembleSpec(replications=0)
    with pytest.raises(SpecError, match=r"ensemble\.workers"):
        EnsembleSpec(workers=0)


def test_param_mean_of_a_distribution_and_a_number():
    assert param_mean(2.5) == 2.5
    assert param_mean(Dist("gamma", (("a", 2.0), ("scale", 0.5)))) == pytest.approx(1.0)
