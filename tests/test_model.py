"""Statistical and behavioural tests of escalation/model.py.

Statistical tests use fixed seeds; each states its tolerance and why. With a fixed seed they are
deterministic, so a tolerance of k standard errors means the test would fail by chance with probability of
order 1e-4 or less for a correct model under a fresh seed, while a wrong rate or a wrong rule moves the
statistic by many standard errors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats

from escalation.ladder import Rung
from escalation.model import NEVER, EscalationModel
from tests.conftest import one_dyad_scenario


def test_daily_counts_are_poisson_at_the_configured_rate_without_excitation_deterrence_or_retaliation():
    rate, replications, days = 2.0, 20_000, 5
    scenario = one_dyad_scenario(base_rate=rate, horizon_days=days)
    outcomes = EscalationModel(scenario, replications, seed=11).run()
    histogram = outcomes.count_histograms["state"]  # cumulative attacks by the end of each day
    # Day 0: the distribution of one day's count. Goodness of fit against Poisson(rate) by chi-square over
    # the cells 0..9 and a tail cell; p > 0.001 (a correct model fails this with probability 0.001).
    counts = np.zeros(11)
    counts[: min(10, histogram.shape[1])] = histogram[0, :10]
    counts[10] = histogram[0, 10:].sum()
    expected = scipy.stats.poisson.pmf(np.arange(10), rate) * replications
    expected = np.append(expected, replications - expected.sum())
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3
    # Totals over the horizon: mean within 4 standard errors of rate * days; dispersion index
    # s^2 / mean ~ chi2(R-1) for Poisson counts, inside its central 99.98% interval.
    totals = outcomes.attacks[:, 0]
    mean = totals.mean()
    assert abs(mean - rate * days) < 4 * np.sqrt(rate * days / replications)
    dispersion = (replications - 1) * totals.var(ddof=1) / mean
    low, high = scipy.stats.chi2.ppf([1e-4, 1 - 1e-4], replications - 1)
    assert low < dispersion < high


def test_base_rate_driver_multiplies_the_rate_from_its_date():
    replications = 20_000
    drivers = {"surge": {"date": "2024-01-03", "effect": "base_rate_factor", "factor": 3.0}}
    scenario = one_dyad_scenario(base_rate=1.0, horizon_days=4, drivers=drivers)
    histogram = EscalationModel(scenario, replications, seed=5).run().count_histograms["state"]
    mean_by_day = (histogram * np.arange(histogram.shape[1])).sum(axis=1) / replications
    daily = np.diff(np.concatenate([[0.0], mean_by_day]))
    # Days 0-1 at rate 1, days 2-3 at rate 3; each daily mean within 4 standard errors sqrt(rate / R).
    for day, rate in enumerate([1.0, 1.0, 3.0, 3.0]):
        assert abs(daily[day] - rate) < 4 * np.sqrt(rate / replications)


def test_first_lethal_attack_matches_the_exponential_waiting_time():
    # Constant rate lam, each attack gets through with 1 - q and kills with p_kill: lethal attacks are
    # Poisson with rate lam (1 - q) p_kill a day, so P(first lethal attack by the end of day t) is
    # 1 - exp(-lam (1 - q) p_kill (t + 1)).
    lam, q, p_kill, replications, days = 3.0, 0.4, 0.02, 40_000, 60
    scenario = one_dyad_scenario(base_rate=lam, interception=q, kill_probability=p_kill, horizon_days=days)
    outcomes = EscalationModel(scenario, replications, seed=3).run()
    for t in (0, 9, 29, 59):
        expected = 1 - np.exp(-lam * (1 - q) * p_kill * (t + 1))
        observed = np.mean(
            (outcomes.first_passage[:, Rung.LETHAL] != NEVER) & (outcomes.first_passage[:, Rung.LETHAL] <= t)
        )
        # 4 binomial standard errors.
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / replications), t
    fatality = outcomes.threshold_days[:, 0]
    assert np.array_equal(fatality, outcomes.first_passage[:, Rung.LETHAL])


def test_interception_and_injury_probabilities_thin_attacks():
    lam, q, p_inj, replications, days = 2.0, 0.5, 0.3, 20_000, 10
    scenario = one_dyad_scenario(base_rate=lam, interception=q, injury_probability=p_inj, horizon_days=days)
    outcomes = EscalationModel(scenario, replications, seed=9).run()
    # Each injuring attack injures exactly one person here (no extra injured), so injured totals are
    # Poisson(lam (1 - q) p_inj days): mean within 4 standard errors.
    expected = lam * (1 - q) * p_inj * days
    assert abs(outcomes.injured[:, 0].mean() - expected) < 4 * np.sqrt(expected / replications)


def test_deterrence_lowers_and_excitation_raises_attacks_after_a_strike():
    # The state answers every attack (threshold 0) with certainty; the strike both punishes and provokes.
    retaliation = {
        "threshold": 0.5,
        "retaliation_probability": 1.0,
        "proportionality": 1.0,
        "escalation_probability": 0.0,
        "lethal_escalation_probability": 0.0,
        "max_level": "target",
    }
    base = dict(base_rate=1.0, horizon_days=60, retaliation=retaliation)
    plain = EscalationModel(one_dyad_scenario(**base), 4000, seed=1).run().attacks.mean()
    deterred = EscalationModel(one_dyad_scenario(**base, deterrence=0.5), 4000, seed=1).run().attacks.mean()
    provoked = EscalationModel(one_dyad_scenario(**base, excitation=0.05), 4000, seed=1).run().attacks.mean()
    assert deterred < 0.8 * plain
    assert provoked > 1.2 * plain


def test_retaliation_waits_for_the_threshold_and_climbs_to_the_patron():
    retaliation = {
        "threshold": 5.0,
        "retaliation_probability": 1.0,
        "proportionality": 0.1,
        "escalation_probability": 1.0,
        "lethal_escalation_probability": 1.0,
        "max_level": "patron_assets",
    }
    scenario = one_dyad_scenario(base_rate=1.0, horizon_days=20, retaliation=retaliation)
    model = EscalationModel(scenario, 2000, seed=4)
    outcomes = model.run()
    # Escalation probability 1, capped at the patron's assets: every strike hits the patron's assets (rung 5).
    assert outcomes.strikes[:, 0, 0].sum() == 0
    assert outcomes.strikes[:, 0, 1].sum() > 0
    assert outcomes.strikes[:, 0, 2].sum() == 0
    struck = outcomes.first_passage[:, Rung.PATRON_STRIKE] != NEVER
    # Harm is one unit per attack, so with threshold 5 a replication can only have struck after at least
    # five attacks; at one attack a day over 20 days nearly all replications get there.
    assert struck.mean() > 0.9
    assert np.all(outcomes.attacks[struck, 0] >= 5)


def test_background_dyads_do_not_climb_the_ladder():
    scenario = one_dyad_scenario(base_rate=5.0, kill_probability=0.5, horizon_days=5)
    background = dataclasses.replace(
        scenario, attacks=(dataclasses.replace(scenario.attacks[0], background=True),)
    )
    outcomes = EscalationModel(background, 500, seed=2).run()
    assert outcomes.attacks.sum() > 0
    assert np.all(outcomes.highest_rung == Rung.QUIET)


def test_same_seed_same_outcomes_and_different_seed_different_outcomes(scenario):
    short = dataclasses.replace(scenario, horizon_days=30)
    a = EscalationModel(short, 300, seed=7).run()
    b = EscalationModel(short, 300, seed=7).run()
    c = EscalationModel(short, 300, seed=8).run()
    for field in ("first_passage", "threshold_days", "attacks", "injured", "killed", "strikes", "parameters"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert not np.array_equal(a.attacks, c.attacks)


def test_changing_one_lever_leaves_an_unrelated_dyad_unchanged(scenario):
    # Israel's strike probability has no path to the militias' attacks on US forces, so with common random
    # numbers those attacks are identical replication by replication, while Israel's strikes change.
    short = dataclasses.replace(scenario, horizon_days=60)
    policies = tuple(
        dataclasses.replace(p, retaliation_probability=0.05) if p.state == "israel" else p
        for p in short.policies
    )
    changed = dataclasses.replace(short, policies=policies)
    base = EscalationModel(short, 500, seed=21).run()
    lever = EscalationModel(changed, 500, seed=21).run()
    militias = next(d for d, dyad in enumerate(short.attacks) if dyad.key == "militias->us")
    israel = [e for e, dyad in enumerate(short.retaliations) if dyad.state == "israel"]
    assert np.array_equal(base.attacks[:, militias], lever.attacks[:, militias])
    assert np.array_equal(base.killed[:, militias], lever.killed[:, militias])
    assert not np.array_equal(base.strikes[:, israel], lever.strikes[:, israel])


def test_warm_start_carries_the_observed_strike_into_the_first_day(scenario):
    from escalation.events import load_builtin_events
    from escalation.history import observed_history

    history = observed_history(load_builtin_events(), scenario)
    model = EscalationModel(scenario, 3, seed=0, history=history)
    us_militias = next(e for e, r in enumerate(scenario.retaliations) if r.key == "us->militias")
    militias_us = next(d for d, a in enumerate(scenario.attacks) if a.key == "militias->us")
    # The 26 October strike answered the harm so far: only that day's share of the interval's harm is left.
    day_share = (19 * 1.0 + 24 * 1.0 + 1 * 10.0) / 10
    assert model.memories.unanswered[0, us_militias] == pytest.approx(day_share)
    # The militias remember one strike from yesterday, and two harm units from it (strike harm at rung 4).
    assert model.memories.punishment[0, militias_us] == pytest.approx(1.0)
    assert model.memories.provocation[0, militias_us] == pytest.approx(2.0)


def test_stepping_past_the_horizon_is_an_error():
    model = EscalationModel(one_dyad_scenario(horizon_days=2), 2, seed=0)
    model.run()
    with pytest.raises(RuntimeError, match="horizon"):
        model.step()


def test_common_random_numbers_hold_replication_by_replication(scenario):
    # Make replication 0 strike readily on the militias and leave the others as they are: every other
    # replication must be identical, draw for draw, because each decision takes one uniform per replication
    # a day from its own stream, whatever the other replications do.
    short = dataclasses.replace(scenario, horizon_days=60)
    base = EscalationModel(short, 200, seed=31)
    changed = EscalationModel(short, 200, seed=31)
    us_militias = next(e for e, r in enumerate(short.retaliations) if r.key == "us->militias")
    changed.retaliation_probability[0, us_militias] = 1.0
    changed.threshold[0, us_militias] = 0.0
    a, b = base.run(), changed.run()
    for field in ("first_passage", "threshold_days", "attacks", "injured", "killed", "strikes"):
        assert np.array_equal(getattr(a, field)[1:], getattr(b, field)[1:]), field
    assert not np.array_equal(a.strikes[0], b.strikes[0])


def test_the_simulation_runs_on_one_blas_thread_and_restores_the_pool(scenario, monkeypatch):
    # The day's routing products must not start BLAS threads (two ensemble workers would otherwise start
    # as many threads each as there are cores); the caller's setting comes back after the run.
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}

    seen: list[set[int]] = []
    step = EscalationModel.step

    def recording_step(self):
        seen.append(blas_threads())
        step(self)

    monkeypatch.setattr(EscalationModel, "step", recording_step)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        EscalationModel(dataclasses.replace(scenario, horizon_days=3), 5, seed=1).run()
        after = blas_threads()
    assert seen and all(threads == {1} for threads in seen)
    assert after == before
