"""Tests of escalation/parameters.py and of the parameter declarations in escalation/specs.py.

Each model parameter is declared once, as a spec field made by ``specs.parameter``; the parameter paths, the
parser's bounds, the model's arrays and the fitted names are derived from it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from escalation import fitting, parameters, schema, specs
from escalation.model import EscalationModel
from escalation.parameters import PARAMETER_GROUPS, parameter_columns, scenario_parameters
from escalation.specs import (
    ActorSpec,
    AttackSpec,
    Dist,
    Param,
    ParameterInfo,
    PolicySpec,
    SpecError,
    build_scenario,
    parameter,
)
from tests.conftest import default_config

MODEL_DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"

# Where each group's parameters are set in the packaged config (mapping, entity, key in messages).
CONFIG_ENTITY = {
    "actors": (1, "us", "actors.us"),
    "attacks": (0, "militias_on_us", "scenario.attacks.militias_on_us"),
    "policy": (2, "us", "policy.us"),
    "drivers": (0, "ground_invasion", "scenario.drivers.ground_invasion"),
}


def _declared() -> list[tuple[str, str, ParameterInfo]]:
    return [(group.prefix, name, info) for group in PARAMETER_GROUPS for name, info in group.fields]


def _config_entry(config: tuple[dict, dict, dict], prefix: str) -> dict:
    mapping, entity, _ = CONFIG_ENTITY[prefix]
    section = config[mapping]
    if mapping == 0:  # the scenario mapping: dyads and drivers are sub-mappings
        section = section[prefix]
    return section[entity]


def test_every_declared_parameter_of_the_default_scenario_has_a_path(scenario):
    listed = dict(scenario_parameters(scenario))
    expected = {}
    for group in PARAMETER_GROUPS:
        entities = getattr(scenario, group.entities)
        assert entities, f"the default scenario has no {group.prefix}"
        for entity in entities:
            for name, _ in group.fields:
                if (
                    isinstance(entity, PolicySpec)
                    and entity.target is not None
                    and name not in entity.overrides
                ):
                    continue  # a policy toward one adversary: only the fields it sets are its own
                path = f"{group.prefix}.{getattr(entity, group.key_attribute)}.{name}"
                expected[path] = getattr(entity, name)
    assert listed == expected
    assert len(listed) == sum(1 for _ in scenario_parameters(scenario))  # no path twice
    pattern = re.compile(r"^(actors|attacks|policy|drivers)\.[a-z_]+(->[a-z_]+)?\.[a-z_]+$")
    assert all(pattern.match(path) for path in listed), [p for p in listed if not pattern.match(p)]
    for path in (
        "attacks.militias->us.base_rate",
        "attacks.militias->us.punishment_memory_days",
        "actors.us.interception",
        "policy.us.threshold",
        "policy.iran.memory_days",
        "drivers.ground_invasion.factor",
    ):
        assert path in listed


def test_parameter_paths_keep_the_order_and_names_of_the_former_lists(scenario):
    # The former hand-written lists: path names are stream names (param:<path>) and order the outcomes'
    # parameter columns, so neither may change.
    actor = ("interception", "restraint")
    attack = ("base_rate", "excitation", "deterrence", "provocation_memory_days", "punishment_memory_days",
              "injury_probability", "injured_extra", "kill_probability", "killed_extra")  # fmt: skip
    policy = ("threshold", "retaliation_probability", "proportionality", "escalation_probability",
              "lethal_escalation_probability", "memory_days")  # fmt: skip
    former = [f"actors.{a.name}.{n}" for a in scenario.actors for n in actor]
    former += [f"attacks.{d.key}.{n}" for d in scenario.attacks for n in attack]
    former += [
        f"policy.{p.key}.{n}"
        for p in scenario.policies
        for n in policy
        if p.target is None or n in p.overrides
    ]
    former += [f"drivers.{d.name}.factor" for d in scenario.drivers]
    # Parameters added since (campaign regimes, dynamic restraint) follow each entity's former ones and
    # change nothing above.
    added = ("pause_hazard", "resume_hazard", "paused_rate", "start_paused", "rate_frailty")
    added_actor = ("restraint_sensitivity", "cost_memory_days")
    added_policy = ("direct_retaliation_probability",)
    paths = [path for path, _ in scenario_parameters(scenario)]
    kept = [path for path in paths if path.rsplit(".", 1)[1] not in added + added_actor + added_policy]
    assert kept == former
    for dyad in scenario.attacks:
        start = paths.index(f"attacks.{dyad.key}.killed_extra") + 1
        assert paths[start : start + len(added)] == [f"attacks.{dyad.key}.{name}" for name in added]
    for actor in scenario.actors:
        start = paths.index(f"actors.{actor.name}.restraint") + 1
        assert paths[start : start + 2] == [f"actors.{actor.name}.{name}" for name in added_actor]
    for policy in (p for p in scenario.policies if p.target is None):
        start = paths.index(f"policy.{policy.key}.memory_days") + 1
        assert paths[start] == f"policy.{policy.key}.direct_retaliation_probability"


def test_fitted_names_are_the_likelihood_fields_of_an_attack_dyad():
    assert fitting.NAMES == (
        "base_rate",
        "excitation",
        "deterrence",
        "provocation_memory_days",
        "punishment_memory_days",
        "pause_hazard",
        "resume_hazard",
        "paused_rate",
    )
    grid = {f"{prefix}.{name}" for prefix, name, info in _declared() if "grid" in info.fitted_by}
    assert grid == {
        "actors.interception",
        "attacks.base_rate",
        "attacks.injury_probability",
        "attacks.injured_extra",
        "attacks.kill_probability",
        "policy.threshold",
        "policy.retaliation_probability",
    }


def test_every_parameter_is_documented_and_field_names_are_unique():
    declared = _declared()
    assert all(info.doc for _, _, info in declared)
    names = [name for _, name, _ in declared]
    assert len(names) == len(set(names)), "the model binds each parameter to an attribute of its field name"
    with pytest.raises(ValueError, match="fitted_by"):
        parameter(1.0, fitted_by=("magic",))


def _outside(info: ParameterInfo) -> tuple[float, str]:
    """A value outside the bounds and the allowed range as the message states it."""
    if info.high < math.inf:
        return info.high + 0.5, f"in [{info.low}, {info.high}]"
    if info.open_low:
        return info.low, f"> {info.low:g}"
    return info.low - 1.0, f">= {info.low:g}"


@pytest.mark.parametrize(
    ("prefix", "name", "info"),
    [pytest.param(prefix, name, info, id=f"{prefix}.{name}") for prefix, name, info in _declared()],
)
def test_a_value_outside_a_parameters_bounds_is_rejected_naming_the_key(prefix, name, info):
    config = default_config()
    value, allowed = _outside(info)
    _config_entry(config, prefix)[name] = value
    with pytest.raises(SpecError) as error:
        build_scenario(*config)
    key = CONFIG_ENTITY[prefix][2]
    assert str(error.value) == f"{key}.{name}: must be {allowed}, got {value:g}"


def test_messages_of_the_bounds_are_the_former_ones():
    cases = [
        ("actors", "interception", 1.5, "actors.us.interception: must be in [0.0, 1.0], got 1.5"),
        ("actors", "restraint", -1, "actors.us.restraint: must be >= 0, got -1"),
        ("attacks", "base_rate", -1.0, "scenario.attacks.militias_on_us.base_rate: must be >= 0, got -1"),
        (
            "policy",
            "retaliation_probability",
            1.5,
            "policy.us.retaliation_probability: must be in [0.0, 1.0], got 1.5",
        ),
        (
            "attacks",
            "kill_probability",
            {"dist": "uniform", "loc": 0.5, "scale": 1.0},
            "scenario.attacks.militias_on_us.kill_probability: a uniform distribution with support "
            "(0.5, 1.5) is outside [0.0, 1.0]",
        ),
        ("drivers", "factor", -2, "scenario.drivers.ground_invasion.factor: must be >= 0, got -2"),
    ]
    for prefix, name, value, message in cases:
        config = default_config()
        _config_entry(config, prefix)[name] = value
        with pytest.raises(SpecError) as error:
            build_scenario(*config)
        assert str(error.value) == message


def test_memory_lengths_must_be_positive_and_may_have_a_prior_starting_at_zero():
    config = default_config()
    config[2]["us"]["memory_days"] = 0.0
    with pytest.raises(SpecError, match=r"^policy\.us\.memory_days: must be > 0, got 0$"):
        build_scenario(*config)
    config[2]["us"]["memory_days"] = {"dist": "uniform", "loc": -1.0, "scale": 20.0}
    with pytest.raises(SpecError, match=r"is outside \(0\.0, inf\]"):
        build_scenario(*config)
    prior = {"dist": "lognorm", "s": 0.5, "scale": 14.0}
    config[2]["us"]["memory_days"] = 30.0
    config[0]["attacks"]["militias_on_us"]["provocation_memory_days"] = prior
    spec = build_scenario(*config)
    assert spec.attacks[0].provocation_memory_days == Dist("lognorm", (("s", 0.5), ("scale", 14.0)))


def test_the_model_binds_every_parameter_to_an_attribute_of_its_name(scenario):
    model = EscalationModel(scenario, replications=3, seed=1)
    for name, paths in parameter_columns(scenario):
        values = getattr(model, name)
        assert values.shape == (3, len(paths))
        for column, path in enumerate(paths):
            np.testing.assert_array_equal(values[:, column], model.params[path])
    # Retaliation dyads take their state's policy; the three memories' retention is derived.
    assert model.threshold.shape == (3, len(scenario.retaliations))
    np.testing.assert_array_equal(model.retention.unanswered, np.exp(-1.0 / model.memory_days))
    np.testing.assert_array_equal(model.retention.provocation, np.exp(-1.0 / model.provocation_memory_days))


@dataclasses.dataclass(frozen=True)
class _AttackWithSurprise(AttackSpec):
    """An attack dyad with one more parameter, as a contributor would add it to AttackSpec."""

    surprise: Param = parameter(0.25, high=1.0, doc="chance that an attack comes unannounced.")  # noqa: RUF009


def test_one_field_declared_with_parameter_is_listed_parsed_and_bound(monkeypatch):
    groups = tuple(
        dataclasses.replace(g, spec=_AttackWithSurprise) if g.prefix == "attacks" else g
        for g in PARAMETER_GROUPS
    )
    monkeypatch.setattr(specs, "AttackSpec", _AttackWithSurprise)
    monkeypatch.setattr(parameters, "PARAMETER_GROUPS", groups)

    config = default_config()
    config[0]["attacks"]["militias_on_us"]["surprise"] = {"dist": "beta", "a": 2.0, "b": 2.0}
    scenario = build_scenario(*config)
    listed = dict(scenario_parameters(scenario))
    assert listed["attacks.militias->us.surprise"] == Dist("beta", (("a", 2.0), ("b", 2.0)))
    assert listed["attacks.hezbollah->israel.surprise"] == 0.25

    model = EscalationModel(scenario, replications=4, seed=2)
    assert model.surprise.shape == (4, len(scenario.attacks))
    assert "attacks.militias->us.surprise" in model.params.uncertain
    others = [d for d, dyad in enumerate(scenario.attacks) if dyad.key != "militias->us"]
    np.testing.assert_array_equal(model.surprise[:, others], 0.25)

    config[0]["attacks"]["militias_on_us"]["surprise"] = 1.5
    with pytest.raises(SpecError) as error:
        build_scenario(*config)
    assert str(error.value) == "scenario.attacks.militias_on_us.surprise: must be in [0.0, 1.0], got 1.5"


@dataclasses.dataclass(frozen=True)
class _ActorWithThreshold(ActorSpec):
    threshold: Param = parameter(1.0, doc="a name the policies' parameters already use.")  # noqa: RUF009


def test_a_parameter_name_used_twice_is_refused_by_the_model(monkeypatch, scenario):
    groups = tuple(
        dataclasses.replace(g, spec=_ActorWithThreshold) if g.prefix == "actors" else g
        for g in PARAMETER_GROUPS
    )
    monkeypatch.setattr(parameters, "PARAMETER_GROUPS", groups)
    actors = tuple(_ActorWithThreshold(**{f.name: getattr(a, f.name) for f in dataclasses.fields(a)})
                   for a in scenario.actors)  # fmt: skip
    with pytest.raises(TypeError, match="'threshold'"):
        EscalationModel(dataclasses.replace(scenario, actors=actors), replications=2)


def test_the_config_schemas_type_every_parameter_loosely():
    configs: dict[str, Any] = {
        "actors": schema.ActorConfig,
        "attacks": schema.AttackConfig,
        "policy": schema.PolicyConfig,
        "drivers": schema.DriverConfig,
    }
    for group in PARAMETER_GROUPS:
        schema_fields = {f.name: f for f in dataclasses.fields(configs[group.prefix])}
        for name, _ in group.fields:
            assert schema_fields[name].type is Any
            spec_default = next(f.default for f in dataclasses.fields(group.spec) if f.name == name)
            expected = schema.MISSING if spec_default is dataclasses.MISSING else spec_default
            assert schema_fields[name].default == expected


def _documented_paths() -> set[tuple[str, str]]:
    """(prefix, field) of every path in the symbol table of docs/model.md, section 4 ("The rules")."""
    text = MODEL_DOC.read_text(encoding="utf-8")
    table = text.split("| symbol | meaning | path |", 1)[1].split("\n\n", 1)[0]
    documented = set()
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        prefix = None
        for item in re.findall(r"`([^`]+)`", cells[-1]):
            parts = item.split(".")
            if len(parts) == 3:
                prefix = parts[0]
            documented.add((prefix, parts[-1]))
    return documented


def test_every_declared_parameter_is_in_the_documented_symbol_table():
    declared = {(prefix, name) for prefix, name, _ in _declared()}
    assert _documented_paths() == declared
