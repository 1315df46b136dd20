"""Tests of escalation/semantics.py: one rule for rungs, channels, memories and thresholds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from escalation.backtest import run_backtest
from escalation.calibration import _retaliation_sequence
from escalation.events import load_builtin_events, load_events
from escalation.history import observed_history, replay
from escalation.ladder import Rung
from escalation.model import EscalationModel
from escalation.semantics import (
    Memories,
    Retention,
    advance_memories,
    channel_inputs,
    channels_of,
    day_inputs,
    happened,
    ladder_event,
    strike_level,
    strike_rung,
    update_memories,
)
from escalation.specs import EnsembleSpec, ThresholdSpec, default_scenario


def _events(tmp_path, rows: list[str], period: str | None = None):
    lines = [f"# period: {period}"] if period else []
    lines.append("event_id,start_date,end_date,attacker,target,kind,count,injured,killed,rung,source")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines + rows) + "\n")
    return load_events(path)


def test_an_unranked_strike_on_a_state_has_one_rung_everywhere(tmp_path):
    # The model's channel, the observed event's placement, the warm start's level and the backtest's
    # threshold all agree: an unranked strike on a state's own territory is direct interstate (rung 6).
    scenario = default_scenario()
    channels = channels_of(scenario)
    names = scenario.actor_names
    us_on_iran = next(
        c
        for c in range(channels.n_attacks, channels.size)
        if names[channels.perpetrator[c]] == "us" and names[channels.addressed[c]] == "iran"
    )
    assert channels.rung[us_on_iran] == Rung.DIRECT_INTERSTATE
    events = _events(
        tmp_path, ["s1,2023-10-20,2023-10-20,us,iran,strike,1,,,,test"], "2023-10-01 to 2023-10-31"
    )
    placed = ladder_event(events.events[0], scenario)
    assert placed.rung == Rung.DIRECT_INTERSTATE == strike_rung(strike_level(None, True), True)
    direct = ThresholdSpec("us_hits_iran", int(Rung.DIRECT_INTERSTATE), ("us",), ("iran",), "strike")
    assert happened(events, direct, scenario, dt.date(2023, 10, 15), dt.date(2023, 10, 25)) is True
    # The strike's level on the warm start's channels is the level-0 channel of us -> iran, rung 6.
    history = observed_history(events, dataclasses.replace(scenario, start=dt.date(2023, 10, 21)))
    dyad = [r.key for r in scenario.retaliations].index("us->iran")
    assert history.strikes[-1, dyad].tolist() == [1.0, 0.0, 0.0]


def test_a_strike_that_climbs_to_the_patron_counts_against_the_patron(tmp_path):
    scenario = default_scenario()
    events = _events(tmp_path, ["s1,2023-10-20,2023-10-20,us,militias,strike,1,,,patron strike,test"])
    placed = ladder_event(events.events[0], scenario)
    assert (placed.victim, placed.rung) == ("iran", Rung.PATRON_STRIKE)
    us_strikes_iran = next(t for t in scenario.thresholds if t.name == "us_strikes_iran")
    assert happened(events, us_strikes_iran, scenario, dt.date(2023, 10, 20), dt.date(2023, 10, 21)) is True


def test_background_events_are_not_on_the_ladder(tmp_path):
    scenario = default_scenario()
    events = _events(tmp_path, ["a1,2023-10-07,2023-10-07,hamas,israel,attack,1,,100,,test"])
    assert ladder_event(events.events[0], scenario).rung == Rung.QUIET
    lethal_on_israel = ThresholdSpec("israel_fatality", int(Rung.LETHAL), (), ("israel",), "attack")
    assert happened(events, lethal_on_israel, scenario, dt.date(2023, 10, 7), dt.date(2023, 10, 8)) is False


def test_a_window_past_the_record_or_straddled_by_an_interval_is_unknown(tmp_path):
    scenario = default_scenario()
    fatality = next(t for t in scenario.thresholds if t.name == "first_us_fatality")
    events = load_builtin_events()  # covers 7-26 October; one death somewhere in 17-26 October
    assert happened(events, fatality, scenario, dt.date(2023, 10, 17), dt.date(2023, 10, 27)) is True
    assert happened(events, fatality, scenario, dt.date(2023, 10, 23), dt.date(2023, 10, 27)) is None
    assert happened(events, fatality, scenario, dt.date(2023, 10, 8), dt.date(2023, 10, 16)) is False
    assert happened(events, fatality, scenario, dt.date(2023, 10, 27), dt.date(2023, 11, 5)) is None


def test_the_warm_start_and_the_policy_calibration_replay_the_same_memories(tmp_path):
    scenario = default_scenario()
    events = load_builtin_events()
    history = observed_history(events, scenario)
    model = EscalationModel(scenario, 3, seed=1, history=history)
    channels = channels_of(scenario)
    memories = Memories.empty(3, channels)
    replay(history, scenario, channels, model.retention, memories)
    np.testing.assert_array_equal(memories.unanswered, model.memories.unanswered)
    np.testing.assert_array_equal(memories.provocation, model.memories.provocation)
    np.testing.assert_array_equal(memories.punishment, model.memories.punishment)
    # The calibration's eve-of-day unanswered harm of US -> militias ends at the value the warm start
    # leaves before the strike of 26 October (the strike resets it that day).
    e = [r.key for r in scenario.retaliations].index("us->militias")
    eve, pending, struck, first = _retaliation_sequence(events, scenario, e, scenario.start)
    assert not pending.any()  # the death is in an interval row: its day, and so the trigger, is unknown
    assert first == history.days[0] and struck[-1] and not struck[:-1].any()
    # 17-25 October at 5.3 harm units a day (19 attacks, 24 injured, 1 killed over ten days), decayed.
    assert eve[-1] == pytest.approx(sum(5.3 * np.exp(-k / 30.0) for k in range(9)), rel=1e-9)


def test_the_daily_update_adds_the_routing_matrices_products_to_the_decayed_memories():
    # The update sums only the terms that reach a cell (attack channels everywhere, strikes where they
    # happened); it must give what the matrix products give. With the packaged harm weights (integers) and
    # attribution (one half) every term and sum is exact, so the comparison is bit for bit.
    scenario = default_scenario()
    channels = channels_of(scenario)
    rng = np.random.default_rng(11)
    r, n_a, n_e = 200, channels.n_attacks, channels.n_retaliations
    attacks = rng.poisson(0.6, (r, n_a))
    injured, killed = rng.binomial(attacks, 0.4), rng.binomial(attacks, 0.1)
    fired = rng.random((r, n_e)) < 0.3
    levels = np.minimum(rng.integers(0, 3, (r, n_e)), channels.max_level)
    rows, dyads = np.nonzero(fired)
    columns = channels.first_strike_channel[dyads] - n_a + levels[rows, dyads]
    sizes = rng.integers(1, 5, rows.size)
    strikes = np.zeros((r, channels.size - n_a), dtype=np.int64)
    strikes[rows, columns] = sizes

    def start() -> tuple[Memories, Retention]:
        memories = Memories.empty(r, channels)
        for name in ("provocation", "punishment", "unanswered", "cost"):
            getattr(memories, name)[...] = rng.gamma(1.0, 5.0, getattr(memories, name).shape)
        memories.lethal_pending[...] = rng.random((r, n_e)) < 0.2
        memories.direct_pending[...] = rng.random((r, n_e)) < 0.2
        shapes = ((r, n_a), (r, n_a), (r, n_e), (r, memories.cost.shape[1]))
        return memories, Retention(*(rng.uniform(0.8, 1.0, shape) for shape in shapes))

    memories, retention = start()
    harm, counts = channel_inputs(channels, scenario, attacks, injured, killed, strikes)
    routed = harm @ channels.route_harm
    expected = {
        "provocation": memories.provocation * retention.provocation + routed[:, :n_a],
        "punishment": memories.punishment * retention.punishment + counts @ channels.route_punishment,
        "unanswered": np.where(fired, 0.0, memories.unanswered) * retention.unanswered + routed[:, n_a:],
        "cost": memories.cost * retention.cost + harm @ channels.route_cost,
    }
    lethal, direct = memories.lethal_pending & ~fired, memories.direct_pending & ~fired
    for d, e in channels.lethal_pairs:
        lethal[:, e] |= killed[:, d] > 0
    for c, e in channels.direct_pairs:
        direct[:, e] |= counts[:, c] > 0
    assert rows.size and channels.direct_pairs and direct.any() and (killed > 0).any()
    dense = Memories(*(np.copy(getattr(memories, f.name)) for f in dataclasses.fields(Memories)))
    update_memories(dense, retention, channels, harm, counts, fired, killed)
    inputs = day_inputs(channels, scenario, attacks.T.copy().T, injured, killed, rows, columns, sizes)
    advance_memories(memories, retention, channels, inputs, fired, killed)
    for result in (dense, memories):
        for name, value in expected.items():
            assert np.array_equal(getattr(result, name), value), name
        assert np.array_equal(result.lethal_pending, lethal)
        assert np.array_equal(result.direct_pending, direct)


def test_the_policy_calibration_counts_harm_from_strikes_on_the_state(tmp_path):
    # Iran's unanswered harm against the US comes from US strikes on Iranian assets and territory, as in
    # the model's routing; the old copy of the replay counted attacks only and saw nothing here.
    scenario = default_scenario()
    rows = [
        "s1,2023-10-10,2023-10-10,us,iran,strike,1,,,,test",
        "s2,2023-10-12,2023-10-12,iran,us,strike,1,,,,test",
    ]
    events = _events(tmp_path, rows, "2023-10-01 to 2023-10-20")
    e = [r.key for r in scenario.retaliations].index("iran->us")
    eve, _, struck, first = _retaliation_sequence(events, scenario, e, dt.date(2023, 10, 20))
    day = (dt.date(2023, 10, 11) - first).days
    assert eve[day] == pytest.approx(scenario.harm.strike_harm(Rung.DIRECT_INTERSTATE))
    assert struck[(dt.date(2023, 10, 12) - first).days]


def test_a_backtest_past_the_end_of_the_record_scores_nothing_there_and_says_so():
    scenario = default_scenario()
    ensemble = EnsembleSpec(replications=200, seed=3)
    result = run_backtest(
        load_builtin_events(), scenario, dt.date(2023, 10, 20), 30, ensemble, calibration_draws=300
    )
    assert result.scored_days == 7  # 20-26 October; the record ends on the 26th
    assert all(o.date <= dt.date(2023, 10, 26) for o in result.observations)
    assert result.thresholds["happened"].isna().all()  # every window runs past the record
    summary = result.summary()
    assert summary["days_left_out"] == 23
    assert summary["threshold_scores"]["left_out"] == len(scenario.thresholds)
    assert summary["threshold_scores"]["forecasts"] == 0
