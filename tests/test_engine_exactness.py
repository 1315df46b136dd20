"""The engine's results are fixed by the seed: vectorising or reordering its work must not move a number.

The fingerprints below are of the outcomes (counts, days, histograms and drawn parameters) of a scenario with
every mechanism on, recorded from the engine before its daily decisions were vectorised across agents. A
change that alters any draw, any stream or any rule changes them; a change of speed alone does not. Like the
baseline regression file, they hold for one NumPy build and CPU family (the last bit of ``exp`` or ``log``
may differ on another); there, record them again from a commit whose results are known to be right.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from escalation import rules
from escalation.model import EscalationModel
from escalation.specs import build_scenario
from escalation.streams import DailyUniforms, StackedUniforms

RECORDED = {
    (400, 5): "b9bd8c8e4ff40d7d27137f043d5298156a8073be5b649cf44e75e8dcfb38468e",
    (1, 2): "d342be1c14bff02daa132c182405a5c2e51e06dee82abee9ff6d03a3f0fea433",
}


def every_mechanism_scenario():
    """Two groups of one patron, a protected ally, a background dyad; regimes, truce, frailty, rho_D on."""
    s = {
        "name": "every_mechanism",
        "start": "2024-01-01",
        "horizon_days": 90,
        "tracked_targets": ["state", "ally"],
        "attacks": {
            "a_on_state": {
                "attacker": "group_a",
                "target": "state",
                "base_rate": {"dist": "gamma", "a": 2.0, "scale": 0.6},
                "excitation": 0.05,
                "deterrence": 0.1,
                "injury_probability": 0.4,
                "injured_extra": 0.5,
                "kill_probability": 0.1,
                "killed_extra": 0.3,
                "pause_hazard": 0.02,
                "resume_hazard": 0.05,
                "paused_rate": 0.05,
                "rate_frailty": 0.5,
                "start_paused": 0.2,
            },
            "b_on_state": {
                "attacker": "group_b",
                "target": "state",
                "base_rate": 6.0,
                "excitation": 0.02,
                "deterrence": 0.05,
                "injury_probability": 0.3,
                "injured_extra": 1.0,
                "kill_probability": 0.05,
                "killed_extra": 0.2,
                "max_per_day": 12,
            },
            "b_on_ally": {
                "attacker": "group_b",
                "target": "ally",
                "base_rate": 0.4,
                "injury_probability": 0.2,
                "kill_probability": 0.02,
                "rate_frailty": 0.8,
                "resume_hazard": 0.1,
                "paused_rate": 0.01,
            },
            "state_on_patron": {
                "attacker": "state",
                "target": "patron",
                "base_rate": 0.1,
                "min_rung": 5,
                "background": True,
            },
        },
        "retaliations": {
            "state_on_a": {"state": "state", "target": "group_a"},
            "state_on_b": {"state": "state", "target": "group_b"},
            "patron_on_state": {"state": "patron", "target": "state"},
        },
        "drivers": {
            "surge": {
                "date": "2024-01-10",
                "end": "2024-02-10",
                "effect": "base_rate_factor",
                "factor": 1.5,
                "attackers": ["group_a"],
            },
            "shield": {
                "date": "2024-01-20",
                "effect": "through_factor",
                "factor": {"dist": "beta", "a": 5.0, "b": 5.0},
                "targets": ["state"],
            },
            "truce": {
                "date": "2024-02-01",
                "end": "2024-02-20",
                "effect": "pause",
                "factor": 0.7,
                "attackers": ["group_b"],
            },
        },
        "thresholds": {
            "fatality": {"min_rung": 3, "targets": ["state"], "kind": "attack"},
            "patron_hit": {"min_rung": 5, "targets": ["patron"], "kind": "strike"},
            "war": {"min_rung": 7},
        },
    }
    actors = {
        "state": {"kind": "state", "interception": 0.3},
        "ally": {"kind": "state", "protector": "state"},
        "patron": {"kind": "state", "restraint_sensitivity": 0.05, "cost_memory_days": 20.0},
        "group_a": {"kind": "non_state", "patron": "patron", "restraint": 0.9},
        "group_b": {"kind": "non_state", "patron": "patron"},
    }
    policy = {
        "state": {
            "threshold": 3.0,
            "retaliation_probability": {"dist": "beta", "a": 2.0, "b": 5.0},
            "proportionality": 0.3,
            "escalation_probability": 0.4,
            "lethal_escalation_probability": 0.6,
            "max_level": "patron_territory",
            "max_strikes_per_day": 4,
        },
        "patron": {
            "threshold": 1.0,
            "retaliation_probability": 0.05,
            "direct_retaliation_probability": 0.4,
            "max_level": "target",
            "escalation_probability": 0.0,
            "lethal_escalation_probability": 0.0,
        },
    }
    return build_scenario(s, actors, policy)


def fingerprint(outcomes) -> str:
    """SHA-256 of every array of the outcomes (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    for field in dataclasses.fields(outcomes):
        value = getattr(outcomes, field.name)
        items = sorted(value.items()) if isinstance(value, dict) else [(field.name, value)]
        for name, array in items:
            if isinstance(array, np.ndarray):
                digest.update(name.encode())
                digest.update(str(array.dtype).encode() + str(array.shape).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize(("replications", "seed"), sorted(RECORDED))
def test_outcomes_with_every_mechanism_on_equal_the_recorded_ones(replications, seed):
    scenario = every_mechanism_scenario()
    model = EscalationModel(scenario, replications, seed=seed, cumulative_days=(30, 90))
    assert model.regime_dyads.size == 3 and model.frailty_dyads.size == 2
    assert model.answers_direct and model.reined_actors.size == 2
    outcomes = model.run()
    if replications > 1:  # the run exercises strikes at every level and the named thresholds
        assert (outcomes.strikes.sum(axis=0) > 0).sum() >= 4
        assert (outcomes.threshold_days >= 0).any(axis=0)[:2].all()
    assert fingerprint(outcomes) == RECORDED[(replications, seed)]


def test_stacked_uniforms_are_each_stream_s_numbers_of_one_call_a_day():
    seeds, shape, days = (3, 8, 11), (5, 4), 6
    stacked = StackedUniforms([np.random.Generator(np.random.PCG64(s)) for s in seeds], shape, days)
    alone = [DailyUniforms(np.random.Generator(np.random.PCG64(s)), shape, days) for s in seeds]
    for _ in range(days):
        today = stacked.today()
        assert today.shape == (len(seeds), *shape)
        for row, stream in zip(today, alone, strict=True):
            assert np.array_equal(row, stream.today())
    with pytest.raises(RuntimeError, match="more days"):
        stacked.today()


def test_attack_intensity_in_place_equals_the_expression_bit_for_bit():
    rng = np.random.default_rng(4)
    shape = (3, 2000)
    base, excitation, provocation = (
        rng.gamma(2, 0.5, shape),
        rng.gamma(2, 0.02, shape),
        rng.gamma(1, 20, shape),
    )
    deterrence, punishment, restraint = rng.gamma(2, 0.05, shape), rng.gamma(1, 10, shape), rng.random(shape)
    expected = (base + excitation * provocation) * np.exp(-deterrence * punishment) * restraint
    out, work = np.empty(shape), np.empty(shape)
    got = rules.attack_intensity(
        base, excitation, provocation.T.copy().T, deterrence, punishment, restraint, out=out, work=work
    )
    assert got is out
    assert np.array_equal(got, expected)
    assert np.array_equal(
        rules.attack_intensity(base, excitation, provocation, deterrence, punishment, restraint), expected
    )
