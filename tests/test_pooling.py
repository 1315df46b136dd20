"""Pooled priors from the reference-class records (escalation.pooling, docs/reference_class.md)."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest
import scipy.stats

from escalation.calibration import calibrate
from escalation.counts import CountObservation, Reading
from escalation.events import EventKind, load_builtin_events, load_events
from escalation.pooling import (
    _M,
    _S,
    _S_SCALE,
    Stretch,
    _quantiles,
    fit_population,
    load_pools,
    pool_stretches,
    reference_dir,
    reference_priors,
    truce_durations,
)
from escalation.specs import default_scenario

MILITIAS = "us_militias_2019_2023.csv"
HOUTHIS = "houthis_saudi_2015_2023.csv"


def _synthetic(rng: np.random.Generator, rates: np.ndarray) -> list[Stretch]:
    """One exact interval count per rate, over 20 to 300 days."""
    out = []
    for j, rate in enumerate(rates):
        days = int(rng.integers(20, 301))
        first = date(2020, 1, 1)
        last = first + np.timedelta64(days - 1, "D").astype(object)
        count = int(rng.poisson(rate * days))
        reading = Reading(f"s{j}", last, count, False, False, False)
        out.append(Stretch("synthetic", CountObservation("a", "b", EventKind.ATTACK, first, (reading,))))
    return out


def _coverage(replications: int, stretches: int, seed: int) -> tuple[float, float, float]:
    """Coverage of the 90% intervals of exp(m), s and every stretch's rate, for populations drawn from the
    hyperpriors (so that a correct posterior covers at exactly the nominal rate, averaged over draws)."""
    rng = np.random.default_rng(seed)
    hits_m = hits_s = hits_rate = total_rate = 0
    for _ in range(replications):
        m = rng.uniform(_M[0], _M[-1])
        s = scipy.stats.truncnorm.rvs(_S[0] / _S_SCALE, _S[-1] / _S_SCALE, scale=_S_SCALE, random_state=rng)
        rates = np.exp(m + s * rng.standard_normal(stretches))
        population = fit_population(_synthetic(rng, rates))
        summary = population.hyper_summary()
        low, high = summary["median_rate"]["q05"], summary["median_rate"]["q95"]
        hits_m += low <= np.exp(m) <= high
        hits_s += summary["spread_log"]["q05"] <= s <= summary["spread_log"]["q95"]
        for j, rate in enumerate(rates):
            low, high = population.stretch_interval(j)
            hits_rate += low <= rate <= high
            total_rate += 1
    return hits_m / replications, hits_s / replications, hits_rate / total_rate


def _assert_near_nominal(coverage: float, n: int, name: str) -> None:
    # Tolerance: 3 binomial standard errors of a 90% coverage over n independent checks, plus 2 points for the
    # grid's discretisation of the hyperparameters (steps of 0.10 in m and 0.06 in s). Coverage alone cannot
    # tell a posterior from its prior (both cover): the sharpness and Monte Carlo tests below can.
    tolerance = 3 * np.sqrt(0.9 * 0.1 / n) + 0.02
    assert abs(coverage - 0.9) <= tolerance, f"{name}: coverage {coverage:.3f}, tolerance {tolerance:.3f}"


@pytest.mark.parametrize(
    ("replications", "stretches", "seed"),
    [(50, 5, 7), pytest.param(400, 6, 11, marks=pytest.mark.slow, id="many")],
)
def test_hierarchical_recovery_covers_population_and_stretches_near_nominal(replications, stretches, seed):
    m, s, rate = _coverage(replications, stretches, seed=seed)
    _assert_near_nominal(m, replications, "exp(m)")
    _assert_near_nominal(s, replications, "s")
    # The stretches of one replication share its population: count replications, not stretches (conservative).
    _assert_near_nominal(rate, replications, "stretch rates")


def test_a_pooled_prior_sits_between_its_stretches_and_narrows_with_more_of_them():
    rng = np.random.default_rng(3)
    few = fit_population(_synthetic(rng, np.full(3, 0.5)))
    many = fit_population(_synthetic(rng, np.full(30, 0.5)))
    for population in (few, many):
        assert 0.3 < population.hyper_summary()["median_rate"]["q50"] < 0.8
    width = {
        name: p.hyper_summary()["median_rate"]["q95"] / p.hyper_summary()["median_rate"]["q05"]
        for name, p in (("few", few), ("many", many))
    }
    assert width["many"] < width["few"]


def test_leave_one_out_really_leaves_the_episode_out():
    pool = load_pools()["base_rate"]
    real = {name: load_events(reference_dir() / name) for name in pool.dyads}
    # The same records, but with the left-out episode's counts multiplied by 50: if any of its rows reached
    # the prior, the prior would move.
    inflated = dict(real)
    inflated[MILITIAS] = dataclasses.replace(
        real[MILITIAS],
        events=tuple(
            dataclasses.replace(e, count=e.count * 50) if e.count else e for e in real[MILITIAS].events
        ),
    )
    priors = {}
    for name, records in (("real", real), ("inflated", inflated)):
        stretches, notes = pool_stretches(pool, None, leave_out=[MILITIAS], records=records)
        assert all(s.record != MILITIAS for s in stretches)
        assert any(MILITIAS in note and "left out" in note for note in notes)
        priors[name] = fit_population(stretches).prior()
        with_it, _ = pool_stretches(pool, None, records=records)
        priors[name + " with it"] = fit_population(with_it).prior()
    assert priors["real"] == priors["inflated"]
    assert priors["real with it"] != priors["inflated with it"]  # the check could fail: the episode matters


def test_the_calibration_passes_leave_out_to_the_pool():
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    left = calibrate(events, scenario, draws=200, leave_out=(MILITIAS,))
    pool = left.pools["attacks.militias->us.base_rate"]
    assert pool["records"] == [HOUTHIS]
    assert not any(MILITIAS in line for line in pool["stretches"])


def test_only_rows_known_before_the_cutoff_reach_the_pool():
    pool = load_pools()["base_rate"]
    cutoff = date(2020, 3, 1)
    stretches, _ = pool_stretches(pool, cutoff)
    assert stretches
    assert all(reading.end < cutoff for s in stretches for reading in s.observation.readings)
    everything, _ = pool_stretches(pool, None)
    assert len(everything) > len(stretches)


def test_stretches_inside_a_pause_are_left_out_with_a_note():
    pool = load_pools()["base_rate"]
    stretches, notes = pool_stretches(pool, None)
    ids = {i for s in stretches for i in s.observation.event_ids}
    assert not ids & set(pool.paused)
    for event_id in pool.paused:
        assert any(event_id in note and "inside a pause" in note for note in notes)


def test_the_pooled_prior_replaces_only_uncertain_non_background_base_rates():
    scenario = default_scenario()
    priors = reference_priors(scenario, scenario.start)
    fields = ("base_rate", "paused_rate", "resume_hazard")
    # The base-rate pool: groups' campaigns against states; the truce pools: every campaign's truces.
    groups = [d for d in scenario.attacks if scenario.actor(d.target).kind == "state"]
    groups = [d for d in groups if scenario.actor(d.attacker).kind == "non_state"]
    expected = {f"attacks.{d.key}.base_rate" for d in groups if not d.background}
    expected |= {f"attacks.{d.key}.{f}" for d in scenario.attacks if not d.background for f in fields[1:]}
    assert set(priors) == expected
    assert "attacks.hamas->israel.base_rate" not in priors  # the background war keeps its prior
    assert "attacks.houthis->shipping.base_rate" not in priors  # attacks on ships: not a state's forces
    for path, prior in priors.items():
        if path.endswith("resume_hazard"):
            assert prior.prior.family == "beta"  # the truce durations' conjugate posterior
            continue
        assert prior.prior.family == "lognorm"
        # The config form matches the exact predictive's 90% interval within 30% at each end.
        exact = prior.population.summary()["predictive_rate_90"]
        approx = prior.prior.frozen().ppf([0.05, 0.95])
        assert np.allclose(approx, exact, rtol=0.3)


def test_reference_class_calibration_reproduces_the_article_inside_its_90_percent_intervals():
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    calibration = calibrate(events, scenario, draws=4000, seed=0)
    assert calibration.priors == "reference_class"
    count = next(c for c in calibration.checks if c.get("quantity") == "attacks")
    assert count["observed"] == 19 and count["observed_is_lower_bound"] and count["consistent"]
    casualties = next(c for c in calibration.checks if c.get("quantity") == "casualties")
    assert casualties["injured"]["observed"] == 24 and casualties["injured"]["consistent"]
    assert casualties["killed"]["observed"] == 1 and casualties["killed"]["consistent"]


def test_the_artefact_says_where_each_prior_came_from_and_how_far_the_data_moved_it(tmp_path):
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    calibration = calibrate(events, scenario, draws=4000)
    summaries = calibration.summaries
    assert summaries["attacks.militias->us.base_rate"]["prior_source"].startswith("reference_class: pooled")
    assert summaries["attacks.militias->us.kill_probability"]["prior_source"] == "hand-set (assumption)"
    # A pooled base rate without data is in the draws (so that runs use it), said to be the prior only.
    assert summaries["attacks.hezbollah->israel.base_rate"]["data"] == "none: the pooled prior only"
    assert "attacks.hezbollah->israel.base_rate" in calibration.draws
    for summary in summaries.values():
        assert summary["interval_ratio"] is None or summary["interval_ratio"] > 0
    # The threshold's timing data narrow it a lot; the pooled Hezbollah rate, without data, not at all.
    assert summaries["policy.us.threshold"]["interval_ratio"] < 0.5
    # Prior draws only: the ratio is 1 up to the Monte Carlo error of the sample's 5% and 95% points. With
    # 4,000 lognormal(s 1.41) draws the 95% point's standard error is about 5% of the prior's 90% width;
    # three of them are allowed.
    assert summaries["attacks.hezbollah->israel.base_rate"]["interval_ratio"] == pytest.approx(1.0, abs=0.15)
    loaded = type(calibration).load(calibration.save(tmp_path / "c.json"))
    assert loaded.pools == calibration.pools and loaded.priors == "reference_class"


def test_hand_priors_keep_the_scenario_priors():
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    calibration = calibrate(events, scenario, draws=4000, seed=0, priors="hand")
    assert calibration.pools == {}
    assert "attacks.hezbollah->israel.base_rate" not in calibration.draws
    # The posterior means the hand-set priors gave before pooled priors existed (tests/baseline.json of then).
    # The base rate's grid has since become geometric, which moved its mean by 4e-5: a thousandth of its
    # posterior sd (0.67) is allowed.
    assert calibration.summaries["attacks.militias->us.base_rate"]["mean"] == pytest.approx(
        2.258505051, abs=7e-4
    )
    assert calibration.summaries["policy.us.threshold"]["mean"] == pytest.approx(34.160681653, abs=1e-8)


def test_unknown_prior_source_is_refused():
    scenario = default_scenario()
    with pytest.raises(
        ValueError, match=r"calibration\.priors: unknown 'flat'; allowed: reference_class, hand"
    ):
        calibrate(load_builtin_events(actors=scenario.actor_names), scenario, priors="flat")


_KEYS = "describes: x, applies_to: y, paused: {}, not_pooled: {}"
_REST = (
    "paused_rate: {describes: x, applies_to: y}\n"
    "resume_hazard: {describes: x, applies_to: y, prior: {a: 1, b: 60}, truces: []}\n"
)
_BASE = f"base_rate: {{{_KEYS}, dyads: {{}}}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "base_rate: [1]\n" + _REST,
            "base_rate: expected the keys applies_to, describes, dyads, not_pooled, paused",
        ),
        ("other: {}\n", "expected the pools base_rate, paused_rate, resume_hazard"),
        (
            f"base_rate: {{{_KEYS}, dyads: {{nope.csv: [a->b]}}}}\n" + _REST,
            "base_rate.dyads: no record 'nope.csv' beside the pools file",
        ),
        (
            f"base_rate: {{{_KEYS}, dyads: {{r.csv: [ab]}}}}\n" + _REST,
            "base_rate.dyads.r.csv: 'ab' is not ATTACKER->TARGET",
        ),
        ("base_rate: [1\n", "not a readable pools file"),
        (
            _BASE + "paused_rate: {describes: x}\n" + _REST.split("\n")[1],
            "paused_rate: expected the keys applies_to, describes",
        ),
        (
            _BASE + _REST.replace("b: 60", "b: -1"),
            "resume_hazard.prior: a and b must be numbers > 0",
        ),
        (
            _BASE + _REST.replace("truces: []", "truces: [{record: nope.csv, start: a, end: null, why: w}]"),
            "resume_hazard.truces[0]: no record 'nope.csv' beside the pools file",
        ),
        (
            _BASE + _REST.replace("truces: []", "truces: [{record: r.csv, start: a}]"),
            "resume_hazard.truces[0]: expected the keys end, record, start, why",
        ),
    ],
    ids=[
        "keys",
        "pool-name",
        "unknown-record",
        "bad-dyad",
        "not-yaml",
        "paused-keys",
        "bad-prior",
        "truce-record",
        "truce-keys",
    ],
)
def test_a_malformed_pools_file_gets_a_one_line_error_naming_it(tmp_path, text, message):
    (tmp_path / "r.csv").write_text("event_id,start_date\n", encoding="utf-8")
    path = tmp_path / "pools.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_pools(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)
    assert "\n" not in str(error.value)


def _stretch(j: int, count: int, days: int) -> Stretch:
    first = date(2020, 1, 1)
    last = date.fromordinal(first.toordinal() + days - 1)
    reading = Reading(f"s{j}", last, count, False, False, False)
    return Stretch("synthetic", CountObservation("a", "b", EventKind.ATTACK, first, (reading,)))


def test_the_grid_posterior_agrees_with_an_independent_monte_carlo_posterior():
    # Draw (m, s) from the hyperpriors and each stretch's log rate from Normal(m, s), weight each draw by the
    # Poisson likelihood of all three counts, and compare weighted quantiles with the grid's. No marginal is
    # computed on the way, so an error in the grid's integrals or in its division by them shows here.
    data = [(0, 20), (12, 60), (30, 30)]  # the zero leans on the population: a wrong division shows there
    population = fit_population([_stretch(j, c, d) for j, (c, d) in enumerate(data)])
    rng = np.random.default_rng(0)
    n = 4_000_000
    m = rng.uniform(_M[0], _M[-1], n)
    s = scipy.stats.truncnorm.rvs(
        _S[0] / _S_SCALE, _S[-1] / _S_SCALE, scale=_S_SCALE, size=n, random_state=rng
    )
    x = m[:, None] + s[:, None] * rng.standard_normal((n, len(data)))
    log_w = sum(scipy.stats.poisson.logpmf(c, np.exp(x[:, j]) * d) for j, (c, d) in enumerate(data))
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = 1.0 / np.sum(w**2)
    assert ess > 3000

    def check(values: np.ndarray, grid: list[float], name: str) -> None:
        order = np.argsort(values)
        cdf = np.cumsum(w[order])
        sd = np.sqrt(np.sum(w * (values - np.sum(w * values)) ** 2))
        for level, ours in zip((0.05, 0.5, 0.95), grid, strict=True):
            theirs = values[order][np.searchsorted(cdf, level)]
            # 3 standard errors of a weighted sample quantile (normal approximation: sd / density), plus a
            # grid step of the log rates (0.05) for the grid's own resolution.
            se = np.sqrt(level * (1 - level) / ess) * sd / scipy.stats.norm.pdf(scipy.stats.norm.ppf(level))
            assert abs(ours - theirs) <= 3 * se + 0.05, (
                f"{name} {level}: grid {ours:.3f}, Monte Carlo {theirs:.3f}"
            )

    hyper = population.hyper_summary()
    check(m, [np.log(hyper["median_rate"][k]) for k in ("q05", "q50", "q95")], "m")
    check(s, [hyper["spread_log"][k] for k in ("q05", "q50", "q95")], "s")
    for j in range(len(data)):
        check(x[:, j], [np.log(v) for v in population.stretch_interval(j, (0.05, 0.5, 0.95))], f"stretch {j}")


def test_the_data_narrow_the_intervals():
    # Sharpness, which coverage alone cannot show (intervals from the priors alone also cover): with five
    # stretches of tens of events, the population's median and each stretch's rate are known far better than
    # their priors say.
    rng = np.random.default_rng(5)
    rates = np.exp(np.log(0.3) + 0.8 * rng.standard_normal(5))
    population = fit_population(_synthetic(rng, rates))
    hyper = population.hyper_summary()["median_rate"]
    prior_width = 0.9 * (_M[-1] - _M[0])  # the uniform hyperprior's central 90%, in log units
    assert np.log(hyper["q95"] / hyper["q05"]) < 0.4 * prior_width
    predictive = _quantiles(np.arange(len(population.predictive())), population.predictive(), (0.05, 0.95))
    predictive_width = (predictive[1] - predictive[0]) * 0.05  # log-rate grid step
    for j in range(len(rates)):
        low, high = population.stretch_interval(j)
        assert np.log(high / low) < 0.6 * predictive_width


def test_truce_durations_count_days_survived_and_breaks_by_the_engine_rule():
    # The militias' truce took hold on 2020-10-11 and broke on 2021-02-15 (127 days on): 126 days survived
    # and one break. The Houthi truce of 2022-04-02 held to the record's last day, 2023-09-30: 546 days.
    # With the Beta(1, 60) prior of pools.yaml the posterior is Beta(1 + 1, 60 + 126 + 546).
    pool = load_pools()["resume_hazard"]
    durations = truce_durations(pool, None)
    assert [(t.record, days, broke) for t, days, broke in durations.truces] == [
        (MILITIAS, 126, True),
        (HOUTHIS, 546, False),
    ]
    assert durations.prior().as_dict() == {"dist": "beta", "a": 2.0, "b": 732.0}
    # Leave-one-out leaves the episode's truce out; a cut-off inside the truce censors it the day before.
    assert [t.record for t, _, _ in truce_durations(pool, None, leave_out=[MILITIAS]).truces] == [HOUTHIS]
    inside = truce_durations(pool, date(2020, 12, 1))
    assert [(t.record, days, broke) for t, days, broke in inside.truces] == [(MILITIAS, 50, False)]
    assert "begins on or after 2020-12-01" in inside.notes[0]


def test_the_paused_rate_pool_is_exactly_the_stretches_the_base_rate_pool_leaves_out():
    pools = load_pools()
    paused, _ = pool_stretches(pools["paused_rate"], None)
    active, _ = pool_stretches(pools["base_rate"], None)
    paused_ids = {i for s in paused for i in s.observation.event_ids}
    assert set(pools["base_rate"].paused) <= paused_ids
    assert not paused_ids & {i for s in active for i in s.observation.event_ids}


def test_a_truce_naming_a_row_the_record_lacks_is_an_error_naming_both():
    pool = load_pools()["resume_hazard"]
    broken = dataclasses.replace(pool, truces=(dataclasses.replace(pool.truces[0], end="no-such-row"),))
    with pytest.raises(ValueError, match=rf"resume_hazard: no row 'no-such-row' in {MILITIAS}"):
        truce_durations(broken, None)
