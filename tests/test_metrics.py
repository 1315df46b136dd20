import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from escalation import metrics
from escalation.ladder import Ladder, Rung
from escalation.metrics import (
    NEVER,
    count_summary,
    escalation_curves,
    histogram_mean,
    histogram_quantiles,
    mc_standard_error,
    paired_difference,
    proportion_interval,
    threshold_probabilities,
)

# Standard normal 0.95 quantile, i.e. the z of a two-sided 90% interval.
Z90 = 1.6448536269514722


# --------------------------------------------------------------------------------------------------------
# proportion_interval
# --------------------------------------------------------------------------------------------------------


def _wilson_textbook(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson bounds in the p-hat form (as written in e.g. statsmodels), algebraically equal to the
    (k + z²/2 ± ...) / (n + z²) form used by the implementation."""
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(centre - half, 0.0), min(centre + half, 1.0)


@pytest.mark.parametrize(
    ("k", "n", "expected_lower", "expected_upper"),
    [
        # k = 0: lower = 0 and upper = z² / (n + z²) = 2.705543454095404 / 12.705543454095404.
        (0, 10, 0.0, 2.705543454095404 / 12.705543454095404),
        # k = n/2: centre 1/2, half-width z / (n + z²) * sqrt(n/4 + z²/4).
        (
            5,
            10,
            0.5 - Z90 / 12.705543454095404 * math.sqrt(2.5 + 2.705543454095404 / 4),
            0.5 + Z90 / 12.705543454095404 * math.sqrt(2.5 + 2.705543454095404 / 4),
        ),
        # k = 19, n = 20: (19 + z²/2 ± z sqrt(19 * 1 / 20 + z²/4)) / (20 + z²).
        (
            19,
            20,
            (19 + 2.705543454095404 / 2 - Z90 * math.sqrt(0.95 + 2.705543454095404 / 4)) / 22.705543454095404,
            (19 + 2.705543454095404 / 2 + Z90 * math.sqrt(0.95 + 2.705543454095404 / 4)) / 22.705543454095404,
        ),
    ],
)
def test_wilson_matches_closed_form(k, n, expected_lower, expected_upper):
    lower, upper = proportion_interval(k, n, level=0.90, method="wilson")
    assert lower == pytest.approx(expected_lower, rel=1e-12, abs=1e-15)
    assert upper == pytest.approx(expected_upper, rel=1e-12)
    # Cross-check against the p-hat form of the same interval.
    alt_lower, alt_upper = _wilson_textbook(k, n, Z90)
    assert lower == pytest.approx(alt_lower, rel=1e-12, abs=1e-15)
    assert upper == pytest.approx(alt_upper, rel=1e-12)


def test_wilson_literal_values():
    lower, upper = proportion_interval([0, 5, 19], [10, 10, 20])
    np.testing.assert_allclose(lower, [0.0, 0.269271821138, 0.803992763226], rtol=1e-10)
    np.testing.assert_allclose(upper, [0.212941970083, 0.730728178862, 0.988765183149], rtol=1e-10)


def test_wilson_endpoints_are_exact():
    lower, upper = proportion_interval([0, 7], [7, 7])
    assert lower[0] == 0.0
    assert upper[1] == 1.0
    assert 0.0 < lower[1] < 1.0
    assert 0.0 < upper[0] < 1.0


@pytest.mark.parametrize(("k", "n"), [(0, 10), (5, 10), (19, 20), (1, 20), (3, 7)])
def test_jeffreys_bounds_are_beta_quantiles(k, n):
    # The bounds are the 5% and 95% quantiles of Beta(k + 1/2, n - k + 1/2); check the defining property
    # with the regularised incomplete beta function, except where the endpoint fix applies.
    lower, upper = proportion_interval(k, n, level=0.90, method="jeffreys")
    a, b = k + 0.5, n - k + 0.5
    if k == 0:
        assert lower == 0.0
    else:
        assert special.betainc(a, b, float(lower)) == pytest.approx(0.05, rel=1e-9)
    if k == n:
        assert upper == 1.0
    else:
        assert special.betainc(a, b, float(upper)) == pytest.approx(0.95, rel=1e-9)


def test_jeffreys_literal_values_and_symmetry():
    lower, upper = proportion_interval([0, 5, 19, 1], [10, 10, 20, 20], method="jeffreys")
    np.testing.assert_allclose(lower, [0.0, 0.261922004046, 0.820444579964, 0.008869209312], rtol=1e-9)
    np.testing.assert_allclose(
        upper, [0.170773108245, 0.738077995954, 0.991130790688, 0.179555420036], rtol=1e-9
    )
    # Beta(k + 1/2, n - k + 1/2) mirrors Beta(n - k + 1/2, k + 1/2): the interval for k/n reflects that
    # for (n - k)/n.
    assert lower[1] + upper[1] == pytest.approx(1.0, abs=1e-12)
    assert lower[2] == pytest.approx(1.0 - upper[3], abs=1e-12)
    assert upper[2] == pytest.approx(1.0 - lower[3], abs=1e-12)


def test_jeffreys_endpoint_fix():
    lower, upper = proportion_interval([0, 4], [4, 4], method="jeffreys")
    assert lower[0] == 0.0
    assert upper[1] == 1.0
    # Without the fix the Beta quantiles would be strictly inside (0, 1).
    assert stats.beta.ppf(0.05, 0.5, 4.5) > 0.0
    assert stats.beta.ppf(0.95, 4.5, 0.5) < 1.0


def test_proportion_interval_is_vectorised_and_broadcasts():
    k = np.array([[0, 1, 2], [3, 4, 5]])
    lower, upper = proportion_interval(k, 5)
    assert lower.shape == upper.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            lo, hi = proportion_interval(int(k[i, j]), 5)
            assert lower[i, j] == lo
            assert upper[i, j] == hi
    assert np.all(np.diff(lower.ravel()) > 0)
    assert np.all(np.diff(upper.ravel()) > 0)
    assert np.all(lower <= k / 5) and np.all(k / 5 <= upper)


def test_wider_level_gives_wider_interval():
    for method in ("wilson", "jeffreys"):
        lo90, hi90 = proportion_interval(3, 40, level=0.90, method=method)
        lo99, hi99 = proportion_interval(3, 40, level=0.99, method=method)
        assert lo99 < lo90 and hi99 > hi90


def test_wilson_coverage_by_simulation():
    p, n, level, n_sims = 0.1, 200, 0.90, 40_000
    rng = np.random.default_rng(20240611)
    k = rng.binomial(n, p, size=n_sims)
    lower, upper = proportion_interval(k, n, level=level)
    simulated = np.mean((lower <= p) & (p <= upper))

    # The simulated coverage is a proportion over n_sims independent draws, so its standard error is
    # sqrt(c (1 - c) / n_sims) (about 0.0016 here); allow 4 standard errors.
    tolerance = 4 * math.sqrt(level * (1 - level) / n_sims)

    # Exact coverage of the interval at this (p, n): the binomial probability of the k whose interval
    # covers p. The simulation must reproduce it within the Monte Carlo tolerance.
    all_k = np.arange(n + 1)
    lo_all, hi_all = proportion_interval(all_k, n, level=level)
    exact = stats.binom.pmf(all_k, n, p)[(lo_all <= p) & (p <= hi_all)].sum()
    assert abs(simulated - exact) < tolerance

    # Wilson's coverage oscillates around the nominal level because k is discrete (Brown, Cai & DasGupta
    # 2001); at p = 0.1, n = 200 it is about 0.876, one of the dips. The check against 0.90 therefore
    # allows the Monte Carlo tolerance plus 0.03 for that oscillation.
    assert abs(simulated - level) < tolerance + 0.03


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"k": 1, "n": 10, "level": 0.0}, "level"),
        ({"k": 1, "n": 10, "level": 1.0}, "level"),
        ({"k": 1, "n": 10, "level": 1.5}, "level"),
        ({"k": 1, "n": 10, "level": float("nan")}, "level"),
        ({"k": 0, "n": 0}, "n"),
        ({"k": -1, "n": 10}, "k"),
        ({"k": 11, "n": 10}, "k"),
        ({"k": [1, 12], "n": [10, 10]}, "k"),
        ({"k": 1.5, "n": 10}, "k"),
        ({"k": 1, "n": 10, "method": "exact"}, "method"),
    ],
)
def test_proportion_interval_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:") as info:
        proportion_interval(**kwargs)
    assert "\n" not in str(info.value)


def test_unknown_method_message_lists_allowed_values():
    with pytest.raises(ValueError, match="'wilson', 'jeffreys'"):
        proportion_interval(1, 10, method="wald")


def test_mc_standard_error():
    np.testing.assert_allclose(mc_standard_error([0.0, 0.5, 0.1], 100), [0.0, 0.05, 0.03])
    assert mc_standard_error(0.2, 400) == pytest.approx(0.02)
    with pytest.raises(ValueError, match=r"^p:"):
        mc_standard_error(1.2, 10)
    with pytest.raises(ValueError, match=r"^n:"):
        mc_standard_error(0.5, 0)


# --------------------------------------------------------------------------------------------------------
# escalation_curves
# --------------------------------------------------------------------------------------------------------

# Four replications, rungs 0..2. Rung 1 is first reached on days 0, 1, 3 and never; rung 2 on day 2,
# never, day 3 and never.
TINY_PASSAGE = np.array(
    [
        [0, 0, 2],
        [0, 1, NEVER],
        [0, 3, 3],
        [0, NEVER, NEVER],
    ]
)


def test_escalation_curves_tiny_example_exact():
    frame = escalation_curves(TINY_PASSAGE, horizon_days=4)
    assert list(frame.columns) == [
        "rung",
        "rung_name",
        "day",
        "probability",
        "lower",
        "upper",
        "mcse",
        "replications",
    ]
    assert len(frame) == 2 * 4
    assert frame["rung"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert frame["day"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert frame["rung_name"].tolist() == ["harassment"] * 4 + ["casualties"] * 4
    assert frame["probability"].tolist() == [0.25, 0.5, 0.5, 0.75, 0.0, 0.0, 0.25, 0.5]
    assert (frame["replications"] == 4).all()
    assert pd.api.types.is_integer_dtype(frame["rung"])
    assert pd.api.types.is_integer_dtype(frame["day"])

    counts = np.array([1, 2, 2, 3, 0, 0, 1, 2])
    lower, upper = proportion_interval(counts, 4)
    np.testing.assert_array_equal(frame["lower"], lower)
    np.testing.assert_array_equal(frame["upper"], upper)
    np.testing.assert_allclose(frame["mcse"], np.sqrt(counts / 4 * (1 - counts / 4) / 4))


def test_escalation_curves_horizon_truncates_and_defaults():
    short = escalation_curves(TINY_PASSAGE, horizon_days=3)
    assert short["day"].max() == 2
    # The passages on day 3 fall outside a 3-day horizon.
    assert short["probability"].tolist() == [0.25, 0.5, 0.5, 0.0, 0.0, 0.25]

    # Longer than the data: the curves stay flat after the last passage.
    long = escalation_curves(TINY_PASSAGE, horizon_days=6)
    assert long.loc[long["rung"] == 1, "probability"].tolist() == [0.25, 0.5, 0.5, 0.75, 0.75, 0.75]

    # Default: one past the latest first-passage day.
    inferred = escalation_curves(TINY_PASSAGE)
    pd.testing.assert_frame_equal(inferred, escalation_curves(TINY_PASSAGE, horizon_days=4))


def test_escalation_curves_uses_ladder_names_and_method():
    names = ("calm", "r1", "r2", "r3", "r4", "r5", "r6", "r7")
    frame = escalation_curves(TINY_PASSAGE, horizon_days=4, ladder=Ladder(names=names), method="jeffreys")
    assert frame["rung_name"].unique().tolist() == ["r1", "r2"]
    lower, upper = proportion_interval([1, 2, 2, 3], 4, method="jeffreys")
    np.testing.assert_array_equal(frame["lower"].to_numpy()[:4], lower)
    np.testing.assert_array_equal(frame["upper"].to_numpy()[:4], upper)


def _random_first_passage(rng, n_reps, n_days, n_rungs):
    """First-passage days from random daily rung paths, and the brute-force highest-rung array."""
    daily = rng.choice(n_rungs, size=(n_reps, n_days), p=_rung_weights(n_rungs))
    highest = np.maximum.accumulate(daily, axis=1)
    passage = np.full((n_reps, n_rungs), NEVER)
    for k in range(n_rungs):
        hit = highest >= k
        passage[:, k] = np.where(hit.any(axis=1), hit.argmax(axis=1), NEVER)
    return passage, highest


def _rung_weights(n_rungs):
    weights = 0.5 ** np.arange(n_rungs) * np.r_[40.0, np.ones(n_rungs - 1)]
    return weights / weights.sum()


def test_escalation_curves_match_brute_force_and_are_monotone():
    rng = np.random.default_rng(7)
    n_reps, n_days, n_rungs = 500, 30, len(Rung)
    passage, highest = _random_first_passage(rng, n_reps, n_days, n_rungs)
    frame = escalation_curves(passage, horizon_days=n_days)

    table = frame.pivot(index="rung", columns="day", values="probability").to_numpy()
    brute = np.array([[np.mean(highest[:, t] >= k) for t in range(n_days)] for k in range(1, n_rungs)])
    np.testing.assert_allclose(table, brute, rtol=0, atol=1e-15)

    assert np.all(np.diff(table, axis=1) >= 0), "non-decreasing in day"
    assert np.all(np.diff(table, axis=0) <= 0), "non-increasing in rung"
    # The example has genuine variation, so the monotonicity checks are not vacuous.
    assert table.max() > table.min()
    for column in ("lower", "upper"):
        bounds = frame.pivot(index="rung", columns="day", values=column).to_numpy()
        assert np.all(np.diff(bounds, axis=1) >= 0)
    assert (frame["lower"] <= frame["probability"]).all()
    assert (frame["probability"] <= frame["upper"]).all()


def test_escalation_curves_large_ensemble_shape():
    rng = np.random.default_rng(3)
    n_reps, horizon = 100_000, 365
    start = rng.integers(-1, horizon, size=n_reps)
    passage = np.column_stack([np.zeros(n_reps, dtype=np.int64), start, np.full(n_reps, NEVER)])
    frame = escalation_curves(passage, horizon_days=horizon)
    assert len(frame) == 2 * horizon
    final = frame.loc[(frame["rung"] == 1) & (frame["day"] == horizon - 1), "probability"].item()
    assert final == pytest.approx(np.mean(start >= 0))
    assert (frame.loc[frame["rung"] == 2, "probability"] == 0).all()


@pytest.mark.parametrize(
    ("passage", "kwargs", "argument"),
    [
        (np.array([[0, 2, 1]]), {}, "first_passage"),  # rung 2 before rung 1
        (np.array([[0, NEVER, 1]]), {}, "first_passage"),  # rung 2 without rung 1
        (np.array([[0, -2, NEVER]]), {}, "first_passage"),
        (np.array([0, 1, 2]), {}, "first_passage"),
        (np.zeros((2, len(Rung) + 1), dtype=int), {}, "first_passage"),
        (TINY_PASSAGE, {"horizon_days": 0}, "horizon_days"),
        (TINY_PASSAGE, {"horizon_days": 2.5}, "horizon_days"),
        (TINY_PASSAGE, {"level": 2}, "level"),
        (TINY_PASSAGE, {"method": "wald"}, "method"),
    ],
)
def test_escalation_curves_rejects_bad_arguments(passage, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        escalation_curves(passage, **kwargs)


# --------------------------------------------------------------------------------------------------------
# threshold_probabilities
# --------------------------------------------------------------------------------------------------------


def test_threshold_probabilities_never_and_strict_horizon():
    days = np.array(
        [
            [0, NEVER],
            [4, 5],
            [5, NEVER],
            [NEVER, 0],
            [9, 10],
        ]
    )
    frame = threshold_probabilities(days, ["first death", "carrier strike"], horizons=[1, 5, 10])
    assert list(frame.columns) == [
        "threshold",
        "horizon_days",
        "probability",
        "lower",
        "upper",
        "mcse",
        "replications",
    ]
    assert frame["threshold"].tolist() == ["first death"] * 3 + ["carrier strike"] * 3
    assert frame["horizon_days"].tolist() == [1, 5, 10, 1, 5, 10]
    # first death: day 0 counts for horizon 1; day 5 is not < 5; day 9 is < 10; NEVER never counts.
    # carrier strike: day 0 < 1; day 5 is not < 5; day 10 is not < 10.
    assert frame["probability"].tolist() == [0.2, 0.4, 0.8, 0.2, 0.2, 0.4]
    assert (frame["replications"] == 5).all()
    lower, upper = proportion_interval([1, 2, 4, 1, 1, 2], 5)
    np.testing.assert_array_equal(frame["lower"], lower)
    np.testing.assert_array_equal(frame["upper"], upper)


def test_threshold_probabilities_all_never_is_zero():
    frame = threshold_probabilities(np.full((10, 1), NEVER), ["war"], horizons=[1000])
    assert frame["probability"].item() == 0.0
    assert frame["lower"].item() == 0.0
    assert frame["upper"].item() > 0.0


@pytest.mark.parametrize(
    ("names", "horizons", "argument"),
    [
        (["only one"], [5], "names"),
        (["a", "a"], [5], "names"),
        (["a", "b"], [0], "horizons"),
        (["a", "b"], [], "horizons"),
    ],
)
def test_threshold_probabilities_rejects_bad_arguments(names, horizons, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        threshold_probabilities(np.zeros((3, 2), dtype=int), names, horizons)


# --------------------------------------------------------------------------------------------------------
# Count histograms
# --------------------------------------------------------------------------------------------------------


def _cumulative_counts(rng, n_reps, n_days):
    """Cumulative daily counts (non-decreasing per replication) and their (T, C) histogram."""
    samples = np.cumsum(rng.poisson(0.7, size=(n_reps, n_days)), axis=1)
    n_values = samples.max() + 1
    histogram = np.stack([np.bincount(samples[:, t], minlength=n_values) for t in range(n_days)])
    return samples, histogram


def test_histogram_quantiles_equal_inverted_cdf():
    rng = np.random.default_rng(11)
    qs = np.r_[[0.0, 0.05, 0.1, 0.25, 0.29, 0.5, 0.75, 0.95, 1.0], rng.random(20)]
    for n_reps in (1, 7, 100, 137):
        samples, histogram = _cumulative_counts(rng, n_reps, 12)
        result = histogram_quantiles(histogram, qs)
        assert result.shape == (12, qs.size)
        expected = np.stack([np.quantile(samples[:, t], qs, method="inverted_cdf") for t in range(12)])
        np.testing.assert_array_equal(result, expected)


def test_histogram_quantiles_hand_example():
    # Day 0: counts {0: 2, 2: 2} of 4 replications; day 1: {1: 1, 3: 3}.
    histogram = np.array([[2, 0, 2, 0], [0, 1, 0, 3]])
    result = histogram_quantiles(histogram, [0.0, 0.25, 0.5, 0.51, 1.0])
    np.testing.assert_array_equal(result, [[0, 0, 0, 2, 2], [1, 1, 3, 3, 3]])


def test_histogram_mean_equals_sample_mean():
    rng = np.random.default_rng(5)
    samples, histogram = _cumulative_counts(rng, 250, 9)
    np.testing.assert_allclose(histogram_mean(histogram), samples.mean(axis=0), rtol=1e-14)


def test_histograms_merge_across_chunks():
    rng = np.random.default_rng(9)
    samples, histogram = _cumulative_counts(rng, 300, 6)
    width = histogram.shape[1]
    chunks = [samples[:120], samples[120:]]
    merged = sum(np.stack([np.bincount(chunk[:, t], minlength=width) for t in range(6)]) for chunk in chunks)
    np.testing.assert_array_equal(
        histogram_quantiles(merged, [0.5, 0.9]), histogram_quantiles(histogram, [0.5, 0.9])
    )
    np.testing.assert_allclose(histogram_mean(merged), samples.mean(axis=0))


def test_count_summary_columns_and_values():
    rng = np.random.default_rng(13)
    samples, histogram = _cumulative_counts(rng, 400, 5)
    frame = count_summary(histogram)
    assert list(frame.columns) == ["day", "mean", "q05", "q25", "q50", "q75", "q95"]
    assert frame["day"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(frame["mean"], samples.mean(axis=0))
    for q, column in [(0.05, "q05"), (0.5, "q50"), (0.95, "q95")]:
        expected = [np.quantile(samples[:, t], q, method="inverted_cdf") for t in range(5)]
        assert frame[column].tolist() == expected

    custom = count_summary(histogram, qs=(0.01, 1.0))
    assert list(custom.columns) == ["day", "mean", "q01", "q100"]
    assert custom["q100"].tolist() == samples.max(axis=0).tolist()
    assert frame["q25"].le(frame["q75"]).all()


def test_count_summary_rejects_colliding_names():
    with pytest.raises(ValueError, match=r"^qs:"):
        count_summary(np.array([[1, 1]]), qs=(0.049, 0.051))


@pytest.mark.parametrize(
    "histogram",
    [
        np.array([1, 2, 3]),  # not 2-D
        np.array([[1, -1], [0, 0]]),  # negative
        np.array([[1, 1], [2, 1]]),  # unequal row totals
        np.array([[0, 0], [0, 0]]),  # no replications
        np.array([[0.5, 1.5]]),  # not whole numbers
    ],
)
def test_histogram_functions_reject_malformed_histograms(histogram):
    with pytest.raises(ValueError, match=r"^count_histogram:"):
        histogram_mean(histogram)
    with pytest.raises(ValueError, match=r"^count_histogram:"):
        histogram_quantiles(histogram, [0.5])


def test_histogram_quantiles_rejects_bad_levels():
    with pytest.raises(ValueError, match=r"^qs:"):
        histogram_quantiles(np.array([[1, 1]]), [0.5, 1.2])


# --------------------------------------------------------------------------------------------------------
# paired_difference
# --------------------------------------------------------------------------------------------------------


def test_paired_difference_identical_arms_is_exactly_zero():
    rng = np.random.default_rng(17)
    a = rng.random(1001) < 0.3
    result = paired_difference(a, a.copy())
    assert result["difference"] == 0.0
    assert result["standard_error"] == 0.0
    assert result["lower"] == 0.0
    assert result["upper"] == 0.0
    assert result["replications"] == 1001


def test_paired_difference_hand_example():
    a = np.array([True, True, False, False, True])
    b = np.array([True, False, False, True, False])
    result = paired_difference(a, b, level=0.90)
    # d = [0, 1, 0, -1, 1]: mean 0.2; squared deviations 0.04 + 0.64 + 0.04 + 1.44 + 0.64 = 2.8, so
    # sd = sqrt(2.8 / 4) and se = sd / sqrt(5).
    se = math.sqrt(0.7) / math.sqrt(5)
    assert result["difference"] == pytest.approx(0.2)
    assert result["standard_error"] == pytest.approx(se)
    assert result["lower"] == pytest.approx(0.2 - Z90 * se)
    assert result["upper"] == pytest.approx(0.2 + Z90 * se)
    assert result["level"] == 0.90


def test_paired_difference_uses_pairing():
    # Strongly correlated arms: the paired standard error is far below the independent-arms one.
    rng = np.random.default_rng(23)
    u = rng.random(20_000)
    a, b = u < 0.30, u < 0.25
    result = paired_difference(a, b)
    independent = math.sqrt(a.mean() * (1 - a.mean()) / a.size + b.mean() * (1 - b.mean()) / b.size)
    assert result["difference"] == pytest.approx(a.mean() - b.mean())
    assert result["standard_error"] < 0.5 * independent
    assert result["lower"] < 0.05 < result["upper"]


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "argument"),
    [
        (np.ones(3, bool), np.ones(4, bool), {}, "a, b"),
        (np.ones(1, bool), np.ones(1, bool), {}, "a, b"),
        (np.ones((2, 2), bool), np.ones((2, 2), bool), {}, "a"),
        (np.array([0, 2, 1]), np.ones(3, bool), {}, "a"),
        (np.ones(3, bool), np.array([0.5, 1, 0]), {}, "b"),
        (np.ones(3, bool), np.ones(3, bool), {"level": 0}, "level"),
    ],
)
def test_paired_difference_rejects_bad_arguments(a, b, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        paired_difference(a, b, **kwargs)


def test_paired_difference_with_groups_gives_the_cluster_standard_error():
    # One replication per group: exactly the per-replication standard error.
    rng = np.random.default_rng(5)
    a, b = rng.random(400) < 0.3, rng.random(400) < 0.2
    plain = metrics.paired_difference(a, b)
    singletons = metrics.paired_difference(a, b, groups=np.arange(400))
    assert singletons["standard_error"] == pytest.approx(plain["standard_error"], rel=1e-12)
    # Groups of 20 sharing a probability (a nested design): the differences are correlated within a group,
    # and the cluster standard error matches the spread of the difference over 400 independent ensembles
    # (within 15%: the spread of 400 samples has a relative SE of about 3.5%), where the plain one is far
    # too small.
    groups = np.repeat(np.arange(20), 20)
    estimates, cluster, naive = [], [], []
    for _ in range(400):
        p = rng.beta(1, 3, 20)[groups]
        a, b = rng.random(400) < p, rng.random(400) < 0.7 * p
        estimates.append(a.mean() - b.mean())
        cluster.append(metrics.paired_difference(a, b, groups=groups)["standard_error"])
        naive.append(metrics.paired_difference(a, b)["standard_error"])
    spread = np.std(estimates, ddof=1)
    assert np.mean(cluster) == pytest.approx(spread, rel=0.15)
    assert np.mean(naive) < 0.9 * spread
    with pytest.raises(ValueError, match="groups: expected one group per replication"):
        metrics.paired_difference(a, b, groups=groups[:10])
