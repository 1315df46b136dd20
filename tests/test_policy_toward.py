"""A state's policy toward one adversary, Israel's campaign on Iran's forces, and its pooled answer rate."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from escalation.ensemble import run_ensemble
from escalation.events import EventKind, EventLog
from escalation.parameters import parameter_columns
from escalation.policy_pooling import answer_days, load_policy_pools, policy_priors
from escalation.pooling import reference_dir
from escalation.specs import Dist, EnsembleSpec, SpecError, build_scenario
from tests.conftest import default_config
from tests.test_configs import compose_config


def campaign_scenario(rho_israel: float, rho_us: float = 0.0, horizon_days: int = 400) -> object:
    """Israel strikes Iran's forces about five times a day (background); Iran answers Israel and the US."""
    scenario = {
        "name": "campaign",
        "start": "2024-01-01",
        "horizon_days": horizon_days,
        "attacks": {
            "israel_on_iran": {
                "attacker": "israel",
                "target": "iran",
                "base_rate": 5.0,
                "min_rung": 5,
                "max_per_day": 5,
                "background": True,
            }
        },
        "retaliations": {
            "iran_on_israel": {"state": "iran", "target": "israel"},
            "iran_on_us": {"state": "iran", "target": "us"},
        },
        "thresholds": {
            "iran_strikes_israel": {"min_rung": 6, "attackers": ["iran"], "targets": ["israel"]},
            "iran_strikes_us": {"min_rung": 6, "attackers": ["iran"], "targets": ["us"]},
        },
    }
    actors = {
        "israel": {"kind": "state"},
        "iran": {"kind": "state", "interception": 0.0},
        "us": {"kind": "state"},
    }
    policy = {
        "iran": {
            "threshold": 1.0,
            "retaliation_probability": rho_us,
            "escalation_probability": 0.0,
            "lethal_escalation_probability": 0.0,
            "max_level": "target",
            "toward": {"israel": {"retaliation_probability": rho_israel}},
        }
    }
    return build_scenario(scenario, actors, policy)


def test_a_policy_toward_one_adversary_overrides_only_what_it_sets():
    scenario = campaign_scenario(rho_israel=0.25, rho_us=0.5)
    base, toward = scenario.policy("iran"), scenario.policy("iran", "israel")
    assert (base.retaliation_probability, toward.retaliation_probability) == (0.5, 0.25)
    assert toward.threshold == base.threshold == 1.0 and toward.max_level == base.max_level == "target"
    assert (base.key, toward.key, toward.path) == ("iran", "iran->israel", "policy.iran.toward.israel")
    dyads = {d.target: scenario.policy_of(d).key for d in scenario.retaliations}
    assert dyads == {"israel": "iran->israel", "us": "iran"}
    # With no policy toward it, an adversary gets the state's policy.
    assert scenario.policy("iran", "us") is base
    columns = dict(parameter_columns(scenario))["retaliation_probability"]
    assert columns == ["policy.iran->israel.retaliation_probability", "policy.iran.retaliation_probability"]


@pytest.mark.parametrize(
    ("toward", "message"),
    [
        (
            {"nobody": {"threshold": 2.0}},
            "policy.iran.toward.nobody: unknown actor 'nobody'",
        ),
        ({"israel": {"treshold": 2.0}}, "policy.iran.toward.israel: unknown key 'treshold'"),
        ({"israel": {"retaliation_probability": 1.5}}, "policy.iran.toward.israel.retaliation_probability"),
        ({"israel": {"toward": {}}}, "policy.iran.toward.israel: unknown key 'toward'"),
        ([1, 2], "policy.iran.toward: expected a mapping"),
    ],
)
def test_a_bad_policy_toward_an_adversary_gets_a_one_line_error(toward, message):
    scenario, actors, policy = default_config()
    policy["iran"]["toward"] = toward
    with pytest.raises(SpecError) as err:
        build_scenario(scenario, actors, policy)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_policy_toward_an_adversary_drives_only_that_dyad():
    """With Israel striking about five times a day, Iran is ready from the day after the first strike (day 0
    with probability 1 - e^-5) on every day. With rho 0.25 toward Israel its first direct strike on Israel
    falls on (first strike day) + 1 + Geometric(0.25) failures: mean e^-5 / (1 - e^-5) + 1 + 3 = 4.0068.
    Toward the US it keeps its own policy's rho, 0: it never strikes the US. The tolerance is 4 standard
    errors of the mean of 4,000 replications (sd of the failures sqrt(0.75) / 0.25 = 3.46)."""
    scenario = campaign_scenario(rho_israel=0.25, horizon_days=200)
    result = run_ensemble(scenario, EnsembleSpec(replications=4000, seed=7, chunk_size=4000))
    names = [t.name for t in scenario.thresholds]
    israel = result.outcomes.threshold_days[:, names.index("iran_strikes_israel")]
    assert (result.outcomes.threshold_days[:, names.index("iran_strikes_us")] < 0).all()
    assert (israel >= 0).all()
    assert abs(israel.mean() - 4.0068) < 4 * 3.46 / np.sqrt(israel.size)


def test_a_hydra_override_reaches_the_policy_toward_an_adversary():
    from escalation import cli

    cfg = compose_config("policy.iran.toward.israel.retaliation_probability=0.125", "calibration.draws=200")
    scenario = cli.prepare_inputs(cfg).spec.scenario
    assert scenario.policy("iran", "israel").retaliation_probability == 0.125
    assert isinstance(scenario.policy("iran").retaliation_probability, Dist)


def test_the_default_scenario_has_israels_campaign_in_the_background(scenario):
    dyad = next(d for d in scenario.attacks if d.key == "israel->iran")
    assert dyad.background and dyad.min_rung == 5
    assert isinstance(scenario.policy("iran", "israel").retaliation_probability, Dist)


# --- the pooled answer rate -------------------------------------------------------------------------------


def test_the_pooled_answer_rate_counts_the_records_days_and_answers(scenario):
    """Beta(1 + answers, 364 + days without): 7 answers in the 2,447 days from 1 Jan 2017 to the record's
    last day (13 Sep 2023)."""
    priors = policy_priors(scenario, scenario.start)
    prior = priors["policy.iran->israel.retaliation_probability"]
    assert prior.prior == Dist("beta", (("a", 8.0), ("b", 364.0 + 2447 - 7)))
    assert "israel_iran_syria_2017_2023.csv" in prior.source()
    # A cut-off before the first answer: no answer yet, and the 396 days from 1 Jan 2017 to 31 Jan 2018.
    early = policy_priors(scenario, scenario.start.replace(year=2018, month=2, day=1))
    assert early["policy.iran->israel.retaliation_probability"].prior == Dist(
        "beta", (("a", 1.0), ("b", 760.0))
    )


def test_leave_one_out_leaves_the_record_out_of_the_answer_rate(scenario):
    assert policy_priors(scenario, scenario.start, leave_out=("israel_iran_syria_2017_2023.csv",)) == {}


def test_every_attack_by_iran_on_israel_in_the_campaign_is_accounted_for():
    pool = load_policy_pools()
    record = pool.campaigns[0].record
    from escalation.events import load_events

    log = load_events(reference_dir() / record)
    dropped = dataclasses.replace(pool.campaigns[0], answers=pool.campaigns[0].answers[1:])
    with pytest.raises(
        ValueError, match="irn-isr-drone-2018-02-10 is an attack by iran on israel during the"
    ):
        answer_days(dataclasses.replace(pool, campaigns=(dropped,)), None, records={record: log})
    wrong = dataclasses.replace(pool.campaigns[0], answers=("isr-irn-strike-t4-2018-02-10",))
    with pytest.raises(ValueError, match="isr-irn-strike-t4-2018-02-10 is not an attack by an answering"):
        answer_days(dataclasses.replace(pool, campaigns=(wrong,)), None, records={record: log})
    assert all(e.kind == EventKind.ATTACK for e in log if e.event_id in pool.campaigns[0].answers)
    assert isinstance(log, EventLog)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw.pop("answer_probability"), "expected the one pool answer_probability"),
        (lambda raw: raw["answer_probability"].pop("prior"), "expected the keys applies_to, campaigns"),
        (lambda raw: raw["answer_probability"].update(prior={"a": 0, "b": 1}), "a and b must be numbers > 0"),
        (lambda raw: raw["answer_probability"].update(applies_to=["iran"]), "'iran' is not STATE->TARGET"),
        (
            lambda raw: raw["answer_probability"]["campaigns"][0].update(record="nowhere.csv"),
            "no record 'nowhere.csv'",
        ),
    ],
)
def test_a_bad_policy_pools_file_gets_a_one_line_error(tmp_path, edit, message):
    import shutil

    import yaml

    raw = yaml.safe_load((reference_dir() / "policy_pools.yaml").read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    edit(raw)
    shutil.copy(reference_dir() / "israel_iran_syria_2017_2023.csv", tmp_path)
    path = tmp_path / "policy_pools.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_policy_pools(path)
    assert "\n" not in str(err.value)


def test_the_calibration_records_the_pooled_answer_rate(scenario):
    from escalation.calibration import calibrate
    from escalation.events import load_builtin_events

    calibration = calibrate(load_builtin_events(actors=scenario.actor_names), scenario, draws=500, seed=0)
    summary = calibration.summaries["policy.iran->israel.retaliation_probability"]
    assert summary["prior_source"].startswith("reference_class: pooled from 1 campaign of")
    assert abs(summary["mean"] - 8.0 / 2812.0) < 4 * np.sqrt(8.0 * 2804.0 / 2812.0**2 / 2813.0) / np.sqrt(500)
    hand = calibrate(
        load_builtin_events(actors=scenario.actor_names), scenario, draws=500, seed=0, priors="hand"
    )
    assert "policy.iran->israel.retaliation_probability" not in hand.summaries


def direct_scenario(rho_direct: float):
    """A group attacks Israel about five times a day; Israel answers the next day with a strike that always
    climbs to the group's patron's territory (Iran, rung 6); Iran answers only such strikes (a threshold it
    never reaches, rho 0), with rho_D."""
    scenario = {
        "name": "direct",
        "start": "2024-01-01",
        "horizon_days": 120,
        "attacks": {
            "group_on_israel": {"attacker": "group", "target": "israel", "base_rate": 5.0, "max_per_day": 5}
        },
        "retaliations": {
            "israel_on_group": {"state": "israel", "target": "group"},
            "iran_on_israel": {"state": "iran", "target": "israel"},
        },
        "thresholds": {
            "israel_strikes_iran": {"min_rung": 6, "attackers": ["israel"], "targets": ["iran"]},
            "iran_strikes_israel": {"min_rung": 6, "attackers": ["iran"], "targets": ["israel"]},
        },
    }
    actors = {
        "israel": {"kind": "state", "interception": 0.0},
        "iran": {"kind": "state"},
        "group": {"kind": "non_state", "patron": "iran", "max_rung": 3},
    }
    policy = {
        "israel": {
            "threshold": 1.0,
            "retaliation_probability": 1.0,
            "escalation_probability": 1.0,
            "lethal_escalation_probability": 1.0,
            "max_level": "patron_territory",
        },
        "iran": {
            "threshold": 1.0e6,
            "retaliation_probability": 0.0,
            "max_level": "target",
            "toward": {"israel": {"direct_retaliation_probability": rho_direct}},
        },
    }
    return build_scenario(scenario, actors, policy)


def test_a_strike_on_the_states_territory_is_answered_at_its_own_rate():
    """Israel's strike climbs to Iran's territory the day after the group's first attack (day k + 1, k the
    first attack day: mean e^-5 / (1 - e^-5) = 0.0068); that sets Iran's direct trigger, and Iran strikes from
    the next day with rho_D = 0.25: first strike on (k + 1) + 1 + Geometric(0.25) failures, mean 5.0068, sd
    3.46; 4 standard errors of 4,000 replications allowed. With rho_D = 0 Iran never strikes and keeps no
    direct memory."""
    scenario = direct_scenario(0.25)
    names = [t.name for t in scenario.thresholds]
    result = run_ensemble(scenario, EnsembleSpec(replications=4000, seed=3, chunk_size=4000))
    israel = result.outcomes.threshold_days[:, names.index("israel_strikes_iran")]
    iran = result.outcomes.threshold_days[:, names.index("iran_strikes_israel")]
    assert abs(israel.mean() - 1.0068) < 0.01
    assert (iran >= 0).all()
    assert abs(iran.mean() - 5.0068) < 4 * 3.46 / np.sqrt(iran.size)
    silent = run_ensemble(direct_scenario(0.0), EnsembleSpec(replications=500, seed=3, chunk_size=500))
    assert (silent.outcomes.threshold_days[:, names.index("iran_strikes_israel")] < 0).all()
    from escalation.model import EscalationModel

    model = EscalationModel(direct_scenario(0.0), replications=10, seed=1)
    assert model.memories.direct_pending is None
    assert EscalationModel(scenario, replications=10, seed=1).memories.direct_pending is not None


def test_only_a_climb_to_the_states_territory_sets_the_direct_trigger_and_a_strike_clears_it(scenario):
    from escalation.semantics import Memories, Retention, channels_of, update_memories

    channels = channels_of(scenario)
    names, keys = scenario.actor_names, [r.key for r in scenario.retaliations]
    climbs = {
        c for c in range(channels.n_attacks, channels.size) if channels.addressed[c] != channels.victim[c]
    }
    for c, e in channels.direct_pairs:
        assert c in climbs and channels.rung[c] == 6
        assert names[channels.victim[c]] == scenario.retaliations[e].state
    # Israel's strikes on Iran itself (the retaliation dyad israel->iran, level 0) do not set it.
    israel_on_iran = int(channels.first_strike_channel[keys.index("israel->iran")])
    assert israel_on_iran not in {c for c, _ in channels.direct_pairs}
    c, e = channels.direct_pairs[0]
    memories = Memories.empty(2, channels)
    retention = Retention(
        np.ones((1, channels.n_attacks)),
        np.ones((1, channels.n_attacks)),
        np.ones((1, channels.n_retaliations)),
    )
    harm, counts = np.zeros((2, channels.size)), np.zeros((2, channels.size))
    counts[0, c] = 1.0
    no_fire, no_kill = np.zeros((2, channels.n_retaliations), bool), np.zeros((2, channels.n_attacks))
    update_memories(memories, retention, channels, harm, counts, no_fire, no_kill)
    assert memories.direct_pending[:, e].tolist() == [True, False]
    fired = no_fire.copy()
    fired[0, e] = True
    update_memories(memories, retention, channels, harm, np.zeros_like(counts), fired, no_kill)
    assert not memories.direct_pending.any()


def test_a_policy_toward_an_adversary_shares_the_states_own_parameters_it_does_not_set():
    from escalation.parameters import scenario_parameters

    scenario, actors, policy = default_config()
    policy["us"]["toward"] = {"militias": {"max_strikes_per_day": 12}}
    built = build_scenario(scenario, actors, policy)
    toward = built.policy("us", "militias")
    assert toward.overrides == ("max_strikes_per_day",) and toward.max_strikes_per_day == 12
    paths = {path for path, _ in scenario_parameters(built)}
    assert "policy.us.threshold" in paths and not any(p.startswith("policy.us->militias.") for p in paths)
    columns = dict(parameter_columns(built))["threshold"]
    assert set(columns[:3]) == {"policy.us.threshold"}  # us->militias, us->iran, us->houthis: one draw
    with pytest.raises(SpecError, match=r"policy\.us\.toward\.us: a state has no policy toward itself"):
        policy["us"]["toward"] = {"us": {"threshold": 2.0}}
        build_scenario(scenario, actors, policy)


def test_a_policy_no_retaliation_dyad_uses_has_no_parameters():
    from escalation.parameters import scenario_parameters
    from escalation.reference_backtest import episodes

    # The US-militias scenario takes the packaged policy file, which sets Iran's policy toward Israel, but
    # gives Iran no dyad against Israel: those parameters would be drawn and read by nothing.
    militias = dict(scenario_parameters(episodes()["us_militias_2019_2023.csv"]))
    assert not [p for p in militias if p.startswith("policy.iran->israel.")]
    assert "policy.iran.retaliation_probability" in militias  # Iran answers the US there
    # The Houthi scenario's Iran has a policy but no retaliation dyad at all.
    houthis = dict(scenario_parameters(episodes()["houthis_saudi_2015_2023.csv"]))
    assert not [p for p in houthis if p.startswith("policy.iran")]
    assert "policy.saudi_arabia.threshold" in houthis
