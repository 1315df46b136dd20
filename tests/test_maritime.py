"""The maritime front: an actor under a protector, the Houthis' attacks on shipping and the US answer."""

from __future__ import annotations

import numpy as np
import pytest

from escalation.ensemble import run_ensemble
from escalation.pooling import reference_priors
from escalation.semantics import channels_of
from escalation.specs import EnsembleSpec, SpecError, build_scenario
from tests.conftest import default_config


def protected_scenario(protector: str | None = "navy", base_rate: float = 0.5, horizon_days: int = 120):
    """A group attacks shipping; the navy, if it protects shipping, answers every lethal attack at once."""
    scenario = {
        "name": "maritime",
        "start": "2024-01-01",
        "horizon_days": horizon_days,
        "attacks": {
            "group_on_shipping": {
                "attacker": "group",
                "target": "shipping",
                "base_rate": base_rate,
                "kill_probability": 1.0,
                "deterrence": 50.0,
            }
        },
        "retaliations": {"navy_on_group": {"state": "navy", "target": "group"}},
        "thresholds": {"navy_strikes": {"min_rung": 4, "attackers": ["navy"], "targets": ["group"]}},
    }
    actors = {
        "navy": {"kind": "state"},
        "group": {"kind": "non_state"},
        "shipping": {"kind": "non_state", "interception": 0.0, "protector": protector},
    }
    policy = {"navy": {"threshold": 1000.0, "retaliation_probability": 1.0, "escalation_probability": 0.0}}
    return build_scenario(scenario, actors, policy)


def test_harm_to_a_protected_actor_is_its_protectors_and_the_protectors_strikes_are_its_sides():
    scenario = protected_scenario()
    channels = channels_of(scenario)
    # channel 0: the group's attacks on shipping; channel 1: the navy's strikes on the group.
    assert channels.route_harm[0, 1] == 1.0  # into the navy's unanswered harm from the group
    assert channels.lethal_pairs == ((0, 0),)  # a lethal attack on shipping triggers the navy
    assert channels.route_punishment[1, 0] == 1.0  # the navy's strikes deter attacks on shipping
    assert channels.route_harm[1, 0] == 1.0  # and provoke them
    bare = channels_of(protected_scenario(protector=None))
    assert bare.route_harm[0, 1] == 0.0 and bare.lethal_pairs == ()
    assert bare.route_punishment[1, 0] == 0.0 and bare.route_harm[1, 0] == 0.0


def test_a_protector_answers_a_lethal_attack_on_what_it_protects_the_next_day():
    """Every attack kills (kill probability 1), and the navy strikes the day after a lethal attack with
    probability 1. So its first strike is the day after the group's first attack: with 0.5 attacks a day,
    first attack day ~ Geometric(1 - e^-0.5) failures, mean e^-0.5 / (1 - e^-0.5) = 1.541, sd
    sqrt(e^-0.5) / (1 - e^-0.5) = 1.982; the tolerance is 4 standard errors of 2,000 replications. A strong
    deterrence then keeps the group quiet. Without the protector the navy never strikes."""
    result = run_ensemble(protected_scenario(), EnsembleSpec(replications=2000, seed=11, chunk_size=2000))
    first = result.outcomes.threshold_days[:, 0]
    assert (first >= 1).all()
    assert abs(first.mean() - (1 + 1.541)) < 4 * 1.982 / np.sqrt(first.size)
    quiet = run_ensemble(
        protected_scenario(protector=None), EnsembleSpec(replications=200, seed=11, chunk_size=200)
    )
    assert (quiet.outcomes.threshold_days[:, 0] < 0).all()


@pytest.mark.parametrize(
    ("protector", "message"),
    [
        ("nobody", "actors.shipping.protector: unknown actor 'nobody'"),
        ("group", "actors.shipping.protector: the protector 'group' must be a state other than the actor"),
    ],
)
def test_a_bad_protector_gets_a_one_line_error(protector, message):
    with pytest.raises(SpecError, match=message):
        protected_scenario(protector=protector)


def test_the_default_scenario_has_the_maritime_front(scenario):
    dyad = next(d for d in scenario.attacks if d.key == "houthis->shipping")
    assert not dyad.background and scenario.actor("shipping").protector == "us"
    assert any(r.key == "us->houthis" for r in scenario.retaliations)
    assert "us_strikes_houthis" in [t.name for t in scenario.thresholds]
    assert "shipping" in scenario.tracked_targets
    # The pooled base rate describes campaigns against states: attacks on shipping keep their own prior.
    pooled = reference_priors(scenario, scenario.start)
    assert "attacks.houthis->shipping.base_rate" not in pooled
    assert "attacks.houthis->israel.base_rate" in pooled
    # How truces went is pooled for every campaign, the maritime one too.
    assert {"attacks.houthis->shipping.resume_hazard", "attacks.houthis->shipping.paused_rate"} <= set(pooled)


def test_the_maritime_front_leaves_the_other_dyads_replication_by_replication():
    """Common random numbers: without the Houthis' attacks on shipping (base rate 0, nothing else changed)
    the dyads the front does not reach have the same attacks and casualties in every replication. The US
    strikes that answer the front would climb to Iran in some replications and reach every dyad through
    Iran's answers, so the US's escalation is switched off here."""
    scenario, actors, policy = default_config()
    policy["us"]["escalation_probability"] = 0.0
    policy["us"]["lethal_escalation_probability"] = 0.0
    quiet = {**scenario, "attacks": {**scenario["attacks"]}}
    quiet["attacks"]["houthis_on_shipping"] = {**scenario["attacks"]["houthis_on_shipping"], "base_rate": 0.0}
    spec = EnsembleSpec(replications=300, seed=5, chunk_size=300)
    with_front = run_ensemble(build_scenario(scenario, actors, policy), spec)
    without = run_ensemble(build_scenario(quiet, actors, policy), spec)
    keys = [d.key for d in build_scenario(scenario, actors, policy).attacks]
    untouched = [
        keys.index(k)
        for k in ("militias->us", "hezbollah->israel", "hamas->israel", "houthis->israel", "israel->iran")
    ]
    for field in ("attacks", "injured", "killed"):
        assert np.array_equal(
            getattr(with_front.outcomes, field)[:, untouched], getattr(without.outcomes, field)[:, untouched]
        )
    shipping = keys.index("houthis->shipping")
    assert with_front.outcomes.attacks[:, shipping].sum() > 0 == without.outcomes.attacks[:, shipping].sum()


def test_a_fan_chart_marks_only_the_drivers_that_change_attacks_on_its_target(scenario):
    from escalation.report.experiment import driver_marks

    assert [name for _, name in driver_marks(scenario, "us")] == ["ground invasion", "air defence"]
    assert [name for _, name in driver_marks(scenario, "shipping")] == ["ground invasion"]


def test_the_new_fronts_appear_in_a_runs_tables_summary_and_figures(tmp_path):
    import json
    import subprocess
    import sys

    import pandas as pd

    folder = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "ensemble.replications=100", "calibration.draws=200",
         f"hydra.run.dir={folder}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "US strike on the Houthis" in done.stdout
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert "us_strikes_houthis" in summary["arms"]["baseline"]["thresholds"]
    thresholds = pd.read_parquet(folder / "tables" / "thresholds.parquet")
    assert "us_strikes_houthis" in set(thresholds["threshold"])
    assert (folder / "figures" / "fan_attacks_shipping.png").stat().st_size > 10_000
    replications = pd.read_parquet(folder / "tables" / "replications.parquet")
    assert {"first_day_us_strikes_houthis", "param[policy.iran->israel.retaliation_probability]"} <= set(
        replications.columns
    )
