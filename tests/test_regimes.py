"""Campaign regimes (active and paused), truces and the rate frailty in the engine (docs/model.md, 4.4).

Statistical tests use fixed seeds; a tolerance of 4 standard errors fails a correct model by chance with
probability below 1e-4, while a wrong hazard, a wrong day or a wrong rule moves the statistic by many.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from escalation.model import EscalationModel
from escalation.specs import SpecError
from tests.conftest import one_dyad_scenario


def _with(scenario, **fields):
    return dataclasses.replace(scenario, attacks=(dataclasses.replace(scenario.attacks[0], **fields),))


def _daily_means(outcomes) -> np.ndarray:
    histogram = outcomes.count_histograms["state"]
    mean_by_day = (histogram * np.arange(histogram.shape[1])).sum(axis=1) / outcomes.replications
    return np.diff(np.concatenate([[0.0], mean_by_day]))


def test_active_share_follows_the_two_state_chain():
    # Starting active, with switches before each day's attacks, P(active on day t) =
    # pi + (1 - pi) (1 - h_p - h_r)^(t + 1), pi = h_r / (h_p + h_r). The mean total over T days is the rate
    # times the sum of these. Its standard error comes from the replications' own spread.
    rate, h_pause, h_resume, days, replications = 2.0, 0.03, 0.05, 120, 6000
    scenario = _with(
        one_dyad_scenario(base_rate=rate, horizon_days=days), pause_hazard=h_pause, resume_hazard=h_resume
    )
    outcomes = EscalationModel(scenario, replications, seed=3).run()
    pi = h_resume / (h_pause + h_resume)
    t = np.arange(days)
    expected = rate * np.sum(pi + (1 - pi) * (1 - h_pause - h_resume) ** (t + 1))
    totals = outcomes.attacks[:, 0]
    se = totals.std(ddof=1) / np.sqrt(replications)
    assert abs(totals.mean() - expected) < 4 * se
    # Without the regime the mean would be rate * days = 240, many standard errors away.
    assert abs(rate * days - expected) > 20 * se
    # Pauses make the counts overdispersed: the variance far exceeds the Poisson variance (the mean).
    assert totals.var(ddof=1) > 5 * totals.mean()


def test_a_truce_pauses_the_campaign_from_its_date_and_breaks_at_the_resume_hazard():
    # Rate 3 a day; a truce from day 5 holds (factor 1), violations at 0.2 a day, and breaks with hazard 0.05.
    # On day t >= 5 the campaign is paused with probability (1 - h)^(t - 5) (the truce takes hold on day 5,
    # and may break from day 6 on), so the mean count that day is 0.2 q + 3 (1 - q).
    rate, paused, hazard, replications = 3.0, 0.2, 0.05, 20_000
    drivers = {"truce": {"date": "2024-01-06", "effect": "pause", "factor": 1.0}}
    scenario = _with(
        one_dyad_scenario(base_rate=rate, horizon_days=30, drivers=drivers),
        resume_hazard=hazard,
        paused_rate=paused,
    )
    daily = _daily_means(EscalationModel(scenario, replications, seed=5).run())
    for day in range(30):
        q = (1 - hazard) ** (day - 5) if day >= 5 else 0.0
        mean = paused * q + rate * (1 - q)
        # Daily count: a Poisson mixture; its variance is at most mean + (rate - paused)^2 / 4.
        se = np.sqrt((mean + (rate - paused) ** 2 / 4) / replications)
        assert abs(daily[day] - mean) < 4 * se, day
    assert daily[5] < 0.3 < 2.5 < daily[4]


def test_a_truce_that_holds_with_probability_one_half_pauses_half_the_replications():
    drivers = {"truce": {"date": "2024-01-01", "effect": "pause", "factor": 0.5}}
    scenario = one_dyad_scenario(base_rate=1.0, horizon_days=20, drivers=drivers)
    totals = EscalationModel(scenario, 4000, seed=9).run().attacks[:, 0]
    share_quiet = np.mean(totals == 0)  # the paused rate is 0 and the truce never breaks
    # Active replications have zero attacks in 20 days with probability e^-20: none.
    assert abs(share_quiet - 0.5) < 4 * np.sqrt(0.25 / 4000)


def test_a_truce_expires_the_day_after_its_end():
    drivers = {"truce": {"date": "2024-01-03", "end": "2024-01-07", "effect": "pause", "factor": 1.0}}
    scenario = one_dyad_scenario(base_rate=2.0, horizon_days=12, drivers=drivers)
    daily = _daily_means(EscalationModel(scenario, 5000, seed=4).run())
    assert np.all(daily[2:7] == 0.0)
    assert np.all(np.abs(daily[7:] - 2.0) < 4 * np.sqrt(2.0 / 5000))
    assert np.all(np.abs(daily[:2] - 2.0) < 4 * np.sqrt(2.0 / 5000))


def test_frailty_keeps_the_mean_and_adds_the_lognormal_variance():
    # N | F ~ Poisson(mu T F), F = exp(sigma Z - sigma^2/2): E N = mu T, Var N = mu T + (mu T)^2 (e^s^2 - 1).
    rate, days, sigma, replications = 0.5, 40, 0.6, 20_000
    scenario = _with(one_dyad_scenario(base_rate=rate, horizon_days=days), rate_frailty=sigma)
    totals = EscalationModel(scenario, replications, seed=12).run().attacks[:, 0]
    mean = rate * days
    variance = mean + mean**2 * np.expm1(sigma**2)
    assert abs(totals.mean() - mean) < 4 * np.sqrt(variance / replications)
    # The sample variance of this heavy-tailed mixture has a relative standard error of 0.023 (from 300
    # simulations of the mixture itself), so a 10% band is over 4 of them; a Poisson variance (20) is far out.
    assert abs(totals.var(ddof=1) / variance - 1) < 0.10


def test_regimes_off_draw_nothing_and_regimes_on_leave_other_dyads_unchanged(scenario):
    # Without a pause hazard, a truce or a frailty nothing is drawn for the regimes: the same seed gives the
    # same outcomes as the model without them. A pause hazard on the Houthis' attacks on Israel
    # changes those attacks, and, with common random numbers, leaves the militias' attacks on US forces
    # identical replication by replication over a short horizon where nothing connects them.
    short = dataclasses.replace(scenario, horizon_days=20)
    short = dataclasses.replace(
        short, attacks=tuple(dataclasses.replace(d, rate_frailty=0.0) for d in short.attacks)
    )
    houthis = next(d for d, dyad in enumerate(short.attacks) if dyad.key == "houthis->israel")
    militias = next(d for d, dyad in enumerate(short.attacks) if dyad.key == "militias->us")
    attacks = list(short.attacks)
    attacks[houthis] = dataclasses.replace(attacks[houthis], pause_hazard=0.5, resume_hazard=0.0)
    paused = dataclasses.replace(short, attacks=tuple(attacks))
    base = EscalationModel(short, 400, seed=2)
    assert base.regime_dyads.size == 0 and base.frailty_dyads.size == 0
    a, b = base.run(), EscalationModel(paused, 400, seed=2).run()
    assert b.attacks[:, houthis].sum() < 0.5 * a.attacks[:, houthis].sum()
    assert np.array_equal(a.attacks[:, militias], b.attacks[:, militias])


def test_a_truce_whose_factor_is_not_a_probability_is_refused():
    drivers = {"truce": {"date": "2024-01-01", "effect": "pause", "factor": 1.5}}
    with pytest.raises(SpecError, match=r"scenario\.drivers\.truce\.factor: .*1\.0"):
        one_dyad_scenario(drivers=drivers)


def _patron_scenario(sensitivity: float, horizon_days: int = 30):
    base = one_dyad_scenario(base_rate=3.0, horizon_days=horizon_days)
    actors = tuple(
        dataclasses.replace(a, restraint_sensitivity=sensitivity, cost_memory_days=10.0)
        if a.name == "patron"
        else a
        for a in base.actors
    )
    return dataclasses.replace(base, actors=actors)


def test_strikes_on_the_patron_are_its_cost_and_attacks_are_not():
    from escalation.semantics import channels_of

    scenario = one_dyad_scenario(retaliation={"max_level": "patron_territory", "max_strikes_per_day": 3})
    channels = channels_of(scenario)
    names = scenario.actor_names
    for c in range(channels.size):
        row = channels.route_cost[c]
        if c < channels.n_attacks:
            assert not row.any()  # an attack is not a strike on its target's patron
        else:
            assert row.sum() == 1.0 and row[channels.victim[c]] == 1.0
    assert {names[v] for v in channels.victim[channels.n_attacks :]} == {"group", "patron"}


def test_raising_the_patron_s_cost_lowers_its_group_s_attacks_as_exp_minus_kappa_c():
    # No strikes happen, so the patron's cost decays deterministically from C0: C_t = C0 exp(-t / tau) at
    # the end of day t, and day t's intensity is mu exp(-kappa C_{t-1}) (yesterday's cost). Daily means
    # within 4 standard errors sqrt(rate / R) of that; with C0 = 0 the rate is mu throughout.
    kappa, c0, tau, replications = 0.1, 20.0, 10.0, 20_000
    means = {}
    for cost in (0.0, c0):
        model = EscalationModel(_patron_scenario(kappa), replications, seed=6)
        patron = model.scenario.actor_names.index("patron")
        model.memories.cost[:, patron] = cost
        means[cost] = _daily_means(model.run())
    for day in range(30):
        expected = 3.0 * np.exp(-kappa * c0 * np.exp(-day / tau))
        assert abs(means[c0][day] - expected) < 4 * np.sqrt(expected / replications), day
        assert abs(means[0.0][day] - 3.0) < 4 * np.sqrt(3.0 / replications), day
    assert means[c0][0] < 0.5 < 2.5 < means[0.0][0]


def test_the_warm_start_carries_a_strike_on_the_patron_into_its_restraint(tmp_path):
    # A strike on the patron's assets the day before the start: with the patron reining in its group as its
    # cost rises, the group's first-day intensity is lower in every replication, so by inversion with common
    # random numbers its attacks are never higher and, summed, lower; without the strike nothing changes.
    from escalation.events import load_events
    from escalation.history import observed_history

    record = tmp_path / "record.csv"
    record.write_text(
        "event_id,start_date,end_date,attacker,target,kind,count,count_is_lower_bound,injured,killed,rung,"
        "within,location,source,notes\n"
        "strike-1,2023-12-31,2023-12-31,state,group,strike,2,false,,,patron strike,,here,test source,\n",
        encoding="utf-8",
    )
    retaliation = {"max_level": "patron_assets"}
    plain = one_dyad_scenario(base_rate=3.0, horizon_days=1, retaliation=retaliation)
    reined = dataclasses.replace(
        plain,
        actors=tuple(
            dataclasses.replace(a, restraint_sensitivity=0.2) if a.name == "patron" else a
            for a in plain.actors
        ),
    )
    history = observed_history(load_events(record), plain)
    free = EscalationModel(plain, 2000, seed=4, history=history)
    tight = EscalationModel(reined, 2000, seed=4, history=history)
    patron = plain.actor_names.index("patron")
    assert free.memories.cost is not None and tight.memories.cost[:, patron].min() > 0
    a, b = free.run(), tight.run()
    assert np.all(b.attacks[:, 0] <= a.attacks[:, 0])
    assert b.attacks[:, 0].sum() < 0.8 * a.attacks[:, 0].sum()


def test_a_truce_that_holds_stops_the_campaign_on_its_first_day_and_the_tables_say_so():
    # Rate 3 a day until a truce on day 5 that never breaks (no violations): in every replication the
    # campaign's 30-day quiet spell begins on day 5; without the truce no replication has one (the chance of a
    # quiet day is e^-3, of 30 in a row e^-90).
    from escalation.ensemble import run_ensemble
    from escalation.specs import EnsembleSpec

    drivers = {"truce": {"date": "2024-01-06", "effect": "pause", "factor": 1.0}}
    truce = one_dyad_scenario(base_rate=3.0, horizon_days=60, drivers=drivers)
    plain = one_dyad_scenario(base_rate=3.0, horizon_days=60)
    ensemble = EnsembleSpec(replications=500, seed=3)
    stops = run_ensemble(truce, ensemble).stop_table(horizons=(30, 60))
    by_horizon = stops.set_index("horizon_days")
    assert by_horizon.loc[60, "probability"] == 1.0 and by_horizon.loc[60, "stop_day_q50"] == 5.0
    assert by_horizon.loc[30, "probability"] == 1.0  # stopped on day 5, before day 30
    pauses = run_ensemble(truce, ensemble).pause_table().set_index("spell_days")
    assert pauses.loc[30, "probability"] == 1.0 and pauses.loc[60, "probability"] == 0.0  # 55 quiet days
    never = run_ensemble(plain, ensemble)
    assert never.stop_table().loc[0, "probability"] == 0.0
    assert (never.pause_table()["probability"] == 0.0).all()
