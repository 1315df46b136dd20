"""Fitting campaign regimes by the forward algorithm (escalation.fitting.regime_forward, fit_dyad).

Statistical tests use fixed seeds; each states its tolerance and why.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import scipy.stats

from escalation.fitting import DyadData, fit_dyad, log_likelihood, regime_forward
from escalation.model import EscalationModel
from escalation.specs import Dist
from tests.conftest import one_dyad_scenario


def _brute_force(active, paused, h_pause, h_resume, counts, interval=None):
    """Sum over every regime path, by the engine's rule: active before day 0, switch, then the day's count.

    With ``interval`` (first, last, count, lower bound) over NaN days: given a regime path, the interval's
    attacks are Poisson with the sum of the day's rates along it.
    """
    total, paused_last = 0.0, 0.0
    for path in itertools.product([True, False], repeat=len(counts)):
        p, state = 1.0, True
        for t, (now, n) in enumerate(zip(path, counts, strict=True)):
            p *= (1 - h_pause if now else h_pause) if state else (h_resume if now else 1 - h_resume)
            if not np.isnan(n):
                p *= scipy.stats.poisson.pmf(n, active[t] if now else paused)
            state = now
        if interval is not None:
            first, last, count, lower = interval
            mean = sum(active[t] if path[t] else paused for t in range(first, last + 1))
            p *= scipy.stats.poisson.sf(count - 1, mean) if lower else scipy.stats.poisson.pmf(count, mean)
        total += p
        paused_last += p * (not path[-1])
    return np.log(total), paused_last / total


def test_the_forward_algorithm_equals_the_sum_over_every_regime_path():
    counts = np.array([3.0, 0.0, np.nan, 0.0, 1.0, 4.0, 0.0, 0.0])
    active = np.array([2.0, 2.5, 1.0, 3.0, 2.0, 2.2, 1.5, 2.0])
    for paused, h_pause, h_resume in [(0.1, 0.2, 0.3), (0.0, 0.05, 0.5), (0.4, 0.5, 0.01)]:
        log_lik, paused_last = regime_forward(
            active[None, :], np.array([paused]), np.array([h_pause]), np.array([h_resume]), counts
        )
        expected = _brute_force(active, paused, h_pause, h_resume, counts)
        assert log_lik[0] == pytest.approx(expected[0], rel=1e-12)
        assert paused_last[0] == pytest.approx(expected[1], rel=1e-9)


def test_without_a_pause_hazard_the_likelihood_is_today_s():
    rng = np.random.default_rng(0)
    days = 60
    data = DyadData(rng.poisson(2.0, days).astype(float), (), np.zeros(days), np.zeros(days), np.ones(days))
    values = np.array([2.0, 0.0, 0.0, 14.0, 30.0])
    expected = scipy.stats.poisson.logpmf(data.counts, 2.0).sum()
    assert log_likelihood(values, data) == pytest.approx(expected, rel=1e-12)
    assert log_likelihood(np.append(values, [0.0, 0.3, 0.5]), data) == log_likelihood(values, data)


REGIME_PRIORS = {
    "base_rate": Dist("gamma", (("a", 2.0), ("scale", 1.0))),
    "excitation": 0.0,
    "deterrence": 0.0,
    "provocation_memory_days": 14.0,
    "punishment_memory_days": 30.0,
    "pause_hazard": Dist("beta", (("a", 1.0), ("b", 99.0))),
    "resume_hazard": Dist("beta", (("a", 1.0), ("b", 29.0))),
    "paused_rate": Dist("lognorm", (("s", 1.5), ("scale", 0.02))),
}


def _paused_campaign(rng, days=300, pause=(150, 210), rate=2.0) -> DyadData:
    counts = rng.poisson(rate, days).astype(float)
    counts[pause[0] : pause[1]] = 0.0
    return DyadData(counts, (), np.zeros(days), np.zeros(days), np.ones(days))


def test_a_known_60_day_pause_makes_long_pauses_likely_in_the_fitted_model_and_not_in_today_s():
    # 300 days at 2 attacks a day with no attack on days 150-209. Fitted with regimes, the forecast of the
    # next 180 days gives an attack-free spell of 30 days or more a clearly non-zero probability; fitted
    # without them (a constant rate near 1.6 a day), such a spell has probability about e^-48: none.
    rng = np.random.default_rng(7)
    data = _paused_campaign(rng)
    regimes = fit_dyad(data, REGIME_PRIORS, draws=1000, rng=rng)
    names = list(regimes.names)
    h_pause = regimes.draws[:, names.index("pause_hazard")]
    assert np.quantile(h_pause, 0.05) > 1e-4  # the data speak for pauses
    assert regimes.paused_at_end is not None and regimes.paused_at_end.max() < 0.05  # active at the end
    regime_names = ("pause_hazard", "resume_hazard", "paused_rate")
    without = {k: v for k, v in REGIME_PRIORS.items() if k not in regime_names}
    today = fit_dyad(data, without, draws=1000, rng=rng)
    assert today.names == ("base_rate",)
    scenario = one_dyad_scenario(base_rate=1.0, horizon_days=180)
    prefix = "attacks.group->state"
    with_regimes = dataclasses.replace(
        scenario,
        attacks=(
            dataclasses.replace(
                scenario.attacks[0],
                base_rate=REGIME_PRIORS["base_rate"],
                pause_hazard=REGIME_PRIORS["pause_hazard"],
                resume_hazard=REGIME_PRIORS["resume_hazard"],
                paused_rate=REGIME_PRIORS["paused_rate"],
            ),
        ),
    )
    draws = {f"{prefix}.{name}": regimes.draws[:, k] for k, name in enumerate(names)}
    long_pause = {}
    for label, spec, posterior in [
        ("regimes", with_regimes, draws),
        ("today", dataclasses.replace(scenario, attacks=(dataclasses.replace(
            scenario.attacks[0], base_rate=REGIME_PRIORS["base_rate"]),)),
         {f"{prefix}.base_rate": today.draws[:, 0]}),
    ]:  # fmt: skip
        outcomes = EscalationModel(spec, 2000, seed=3, calibration_draws=posterior).run()
        long_pause[label] = float(np.mean(outcomes.longest_quiet[:, 0] >= 30))
    # Standard error at 2,000 replications is below 0.011 for any probability; 0.10 is many of them away.
    assert long_pause["regimes"] > 0.10
    assert long_pause["today"] == 0.0


@pytest.mark.slow
def test_switching_hazards_are_recovered_at_close_to_nominal_coverage():
    # 40 synthetic campaigns of 365 days, hazards and rates drawn from the priors themselves, so the exact
    # posterior's 90% interval covers the truth 90% of the time. SE of a coverage from 40 datasets:
    # sqrt(0.9 * 0.1 / 40) = 0.047; we accept >= 0.90 - 3 SE = 0.76 for each of the two hazards.
    rng = np.random.default_rng(21)
    covered = {"pause_hazard": 0, "resume_hazard": 0}
    runs = 40
    for _ in range(runs):
        truth = {name: float(REGIME_PRIORS[name].sample(rng, 1)[0]) for name in
                 ("base_rate", "pause_hazard", "resume_hazard", "paused_rate")}  # fmt: skip
        active, days = True, 365
        counts = np.zeros(days)
        for t in range(days):
            u = rng.random()
            active = (u >= truth["pause_hazard"]) if active else (u < truth["resume_hazard"])
            counts[t] = rng.poisson(truth["base_rate"] if active else truth["paused_rate"])
        data = DyadData(counts, (), np.zeros(days), np.zeros(days), np.ones(days))
        fit = fit_dyad(data, REGIME_PRIORS, draws=500, rng=rng)
        for name in covered:
            values = fit.draws[:, list(fit.names).index(name)]
            low, high = np.quantile(values, [0.05, 0.95])
            covered[name] += low <= truth[name] <= high
    for name, hits in covered.items():
        assert hits / runs >= 0.76, (name, hits)


@pytest.mark.parametrize("lower", [False, True])
def test_an_interval_count_goes_through_the_regimes_as_the_sum_over_every_path(lower):
    # Days 2-5 are one interval row of 3 attacks (or at least 3); the rest are exact days or unobserved.
    counts = np.array([2.0, 1.0, np.nan, np.nan, np.nan, np.nan, 0.0, np.nan, 3.0])
    active = np.array([2.0, 1.5, 1.0, 2.5, 0.5, 1.2, 1.5, 2.0, 2.2])
    interval = (2, 5, 3, lower)
    for paused, h_pause, h_resume in [(0.1, 0.2, 0.3), (0.0, 0.05, 0.5), (0.4, 0.5, 0.01)]:
        log_lik, paused_last = regime_forward(
            active[None, :], np.array([paused]), np.array([h_pause]), np.array([h_resume]), counts, [interval]
        )
        expected = _brute_force(active, paused, h_pause, h_resume, counts, interval)
        assert log_lik[0] == pytest.approx(expected[0], rel=1e-10)
        assert paused_last[0] == pytest.approx(expected[1], rel=1e-8)


def test_with_no_pause_an_interval_read_through_the_regimes_is_today_s_poisson_count():
    days = 30
    counts = np.zeros(days)
    counts[5:15] = np.nan
    data = DyadData(counts, ((5, 14, 12, False),), np.zeros(days), np.zeros(days), np.ones(days))
    active = np.full(days, 1.3)
    log_lik, _ = regime_forward(
        active[None, :], np.array([0.2]), np.array([0.0]), np.array([0.4]), counts, data.intervals
    )
    expected = scipy.stats.poisson.logpmf(0, 1.3) * 20 + scipy.stats.poisson.logpmf(12, 13.0)
    assert log_lik[0] == pytest.approx(expected, rel=1e-10)
    # The fit's likelihood with a pause hazard reads the interval through the regimes (where a pause
    # explains a low count), not with the campaign active as before.
    low = dataclasses.replace(data, intervals=((5, 14, 2, False),))
    values = np.array([1.3, 0.0, 0.0, 14.0, 30.0, 0.05, 0.2, 0.05])
    hazards = np.array([0.05]), np.array([0.2]), np.array([0.05])
    through = regime_forward(active[None, :], hazards[2], hazards[0], hazards[1], counts, low.intervals)[0][0]
    assert log_likelihood(values, low) == pytest.approx(through, rel=1e-10)
    active_reading = regime_forward(active[None, :], hazards[2], hazards[0], hazards[1], counts)[0][0]
    active_reading += scipy.stats.poisson.logpmf(2, 13.0)
    assert through > active_reading + 1.0  # the pause explains the 2 attacks in 10 days


@pytest.mark.parametrize(("count", "days", "rate"), [(40, 1, 0.01), (200, 5, 1.0), (12, 10, 1.3)])
def test_a_far_lower_bound_keeps_its_tail_probability(count, days, rate):
    # With no pause the interval's likelihood is Poisson's P(at least count) for the interval's mean, also
    # where that is far below 1e-16 (a tail computed as 1 - cdf would stop at about e^-37 a day).
    counts = np.full(days, np.nan)
    log_lik, _ = regime_forward(
        np.full((3, days), rate),
        np.full(3, 0.1),
        np.zeros(3),
        np.full(3, 0.5),
        counts,
        [(0, days - 1, count, True)],
    )
    expected = scipy.stats.poisson.logsf(count - 1, rate * days)
    assert log_lik == pytest.approx(np.full(3, expected), rel=1e-9)


def test_the_lattice_runs_in_blocks_of_parameter_vectors_with_the_same_result():
    import escalation.fitting as fitting

    rng = np.random.default_rng(3)
    k, days = 7, 6
    active = rng.uniform(0.5, 3.0, (k, days))
    args = (rng.uniform(0, 0.5, k), rng.uniform(0, 0.3, k), rng.uniform(0, 0.5, k))
    counts = np.array([1.0, np.nan, np.nan, np.nan, 2.0, np.nan])
    whole = regime_forward(active, *args, counts, [(1, 3, 4, False), (5, 5, 1, True)])
    block = fitting.LATTICE_BLOCK
    try:
        fitting.LATTICE_BLOCK = 3
        blocks = regime_forward(active, *args, counts, [(1, 3, 4, False), (5, 5, 1, True)])
    finally:
        fitting.LATTICE_BLOCK = block
    np.testing.assert_allclose(blocks[0], whole[0], rtol=1e-13)
    np.testing.assert_allclose(blocks[1], whole[1], rtol=1e-13)
