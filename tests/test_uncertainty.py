"""The two uncertainties of every headline: simulation noise and the spread over plausible parameter values.

Covers the nested design (``ensemble.replications_per_draw``: blocks of replications sharing one parameter
draw), :func:`escalation.metrics.uncertainty_split`, the parameters that drive the spread, and the summary's
"rests on assumptions" flag. Statistical checks use fixed seeds; each tolerance is stated where it is used.
"""

from __future__ import annotations

import numpy as np
import pytest

from escalation import metrics
from escalation.ensemble import draw_index, run_ensemble
from escalation.parameters import CALIBRATION_ROW_STREAM, draw_parameters, scenario_parameters
from escalation.report.summary import ASSUMPTION, NARROWED, Estimate, assumptions_of, parameter_evidence
from escalation.specs import Dist, EnsembleSpec
from escalation.streams import NamedStreams
from tests.conftest import one_dyad_scenario


def _grouped(p_of_draw: np.ndarray, per_draw: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Successes of ``per_draw`` Bernoulli replications at each draw's probability."""
    return rng.binomial(per_draw, p_of_draw)[:, None], np.full(p_of_draw.size, per_draw)


# -- the nested design ------------------------------------------------------------------------------------


def test_one_replication_per_draw_draws_exactly_what_independent_replications_draw(scenario):
    # per_draw = 1 must reproduce the design without blocks value for value: same streams, same order.
    calibration = {"attacks.militias->us.base_rate": np.linspace(0.5, 3.0, 50)}
    nested = draw_parameters(scenario, 40, NamedStreams(np.random.SeedSequence(7)), calibration, per_draw=1)
    streams = NamedStreams(np.random.SeedSequence(7))
    rows = streams(CALIBRATION_ROW_STREAM).integers(0, 50, size=40)
    assert np.array_equal(
        nested["attacks.militias->us.base_rate"], calibration["attacks.militias->us.base_rate"][rows]
    )
    path = next(p for p in nested.uncertain if p != "attacks.militias->us.base_rate")
    prior = dict(scenario_parameters(scenario))[path]
    assert np.array_equal(nested[path], prior.sample(streams(f"param:{path}"), 40))


def test_blocks_share_one_draw_and_blocks_differ(scenario):
    params = draw_parameters(scenario, 23, NamedStreams(np.random.SeedSequence(3)), per_draw=5)
    blocks = np.arange(23) // 5
    for path in params.uncertain:
        values = params[path]
        for b in range(5):
            assert np.all(values[blocks == b] == values[blocks == b][0]), path
    firsts = params.stack(list(params.uncertain))[::5]
    assert len(np.unique(firsts, axis=0)) == 5  # the last block (3 replications) has its own draw


def test_draw_index_numbers_blocks_across_chunks_with_short_last_blocks():
    assert draw_index([7, 7, 3], 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 3, 3, 3, 4, 4, 4, 5, 6, 6, 6]
    with pytest.raises(ValueError, match="replications_per_draw"):
        EnsembleSpec(replications_per_draw=0)


def test_one_replication_per_draw_keeps_todays_intervals():
    rng = np.random.default_rng(1)
    days = np.where(rng.random((500, 2)) < 0.3, rng.integers(0, 30, (500, 2)), -1)
    plain = metrics.threshold_probabilities(days, ["a", "b"], [10, 30])
    nested = metrics.threshold_probabilities(days, ["a", "b"], [10, 30], draws=np.arange(500))
    for column in ("probability", "lower", "upper", "mcse"):
        assert np.array_equal(plain[column], nested[column]), column
    assert nested["parameter_sd"].isna().all()  # one replication per draw: no parameter spread estimable


# -- the split --------------------------------------------------------------------------------------------


def test_fixed_parameters_collapse_the_parameter_interval():
    rng = np.random.default_rng(2)
    successes, sizes = _grouped(np.full(400, 0.2), 10, rng)
    fixed = metrics.uncertainty_split(successes, sizes, fixed=True)
    assert fixed["parameter_sd"][0] == 0.0
    assert fixed["parameter_lower"][0] == fixed["parameter_upper"][0] == fixed["probability"][0]
    # Not told, the estimator finds (almost) no spread: under no spread, (MSB - MSW) / n has standard error
    # about sqrt(2 / (M - 1)) p (1 - p) / n = 0.0011 here; 4 standard errors allowed.
    estimated = metrics.uncertainty_split(successes, sizes)
    assert estimated["parameter_sd"][0] ** 2 < 4 * np.sqrt(2 / 399) * 0.16 / 10
    assert estimated["parameter_upper"][0] - estimated["parameter_lower"][0] < 0.15


def test_fixed_parameters_in_the_model_give_a_zero_parameter_interval():
    result = run_ensemble(
        one_dyad_scenario(base_rate=0.2, kill_probability=0.05), EnsembleSpec(400, 200, seed=4)
    )
    assert result.fixed_parameters
    table = result.threshold_table((30,))
    assert table["parameter_sd"].iloc[0] == 0.0
    assert (
        table["parameter_lower"].iloc[0] == table["parameter_upper"].iloc[0] == table["probability"].iloc[0]
    )
    assert table["design_effect"].iloc[0] == 1.0


def test_monte_carlo_interval_shrinks_as_one_over_sqrt_k():
    # Parameters fixed, 200 draws: the simulation noise of the headline is binomial in M K replications, so
    # quadrupling K halves it. The estimate's own noise moves the ratio by a few percent; 10% allowed.
    rng = np.random.default_rng(3)
    se = {}
    for k in (10, 40, 160):
        successes, sizes = _grouped(np.full(200, 0.3), k, rng)
        se[k] = metrics.uncertainty_split(successes, sizes, fixed=True)["mcse"][0]
    assert se[10] / se[40] == pytest.approx(2.0, rel=0.1)
    assert se[40] / se[160] == pytest.approx(2.0, rel=0.1)


def test_many_replications_per_draw_leave_only_the_parameter_spread():
    # p(theta) ~ Beta(2, 8) (sd 0.12): with the per-draw noise removed (K = 2,000), the deconvolved spread is
    # the spread of the drawn p's themselves; with K = 10 the raw spread of the draws' shares is inflated by
    # the binomial part p (1 - p) / K, which the estimator removes. Tolerance: 3 standard errors of a sample
    # standard deviation of 500 values (sd / sqrt(2 M) = 0.0038 each way) plus the noise K leaves.
    rng = np.random.default_rng(5)
    p_of_draw = rng.beta(2, 8, size=500)
    truth = p_of_draw.std(ddof=1)
    for k, tolerance in ((2000, 0.006), (10, 0.02)):
        successes, sizes = _grouped(p_of_draw, k, rng)
        split = metrics.uncertainty_split(successes, sizes)
        assert split["parameter_sd"][0] == pytest.approx(truth, abs=tolerance), k
        raw = (successes[:, 0] / k).std(ddof=1)
        if k == 10:
            assert raw > truth + 0.03  # the inflation is real: sqrt(0.12**2 + 0.14**2 / 10) = 0.137
        lower, upper = np.quantile(p_of_draw, [0.05, 0.95])
        assert split["parameter_lower"][0] == pytest.approx(lower, abs=2 * tolerance)
        assert split["parameter_upper"][0] == pytest.approx(upper, abs=3 * tolerance)


def test_nested_standard_error_matches_the_spread_over_seeds():
    # With parameters varying, the headline's noise over seeds includes the finite number of draws; the
    # cluster standard error must match it (the binomial one on all replications is 1.35 times too small:
    # design effect 1 + (K - 1) ICC = 1.82 for Beta(1, 9)).
    # 300 repetitions: the empirical sd is known to about 4%; 12% allowed.
    rng = np.random.default_rng(6)
    estimates, errors = [], []
    for _ in range(300):
        successes, sizes = _grouped(rng.beta(1, 9, size=100), 10, rng)
        split = metrics.uncertainty_split(successes, sizes)
        estimates.append(split["probability"][0])
        errors.append(split["mcse"][0])
    assert np.mean(errors) == pytest.approx(np.std(estimates, ddof=1), rel=0.12)
    assert np.mean(errors) > 1.25 * np.sqrt(0.1 * 0.9 / 1000)


def test_the_ensemble_reports_both_intervals_and_the_driving_parameter():
    scenario = one_dyad_scenario(base_rate=0.05, kill_probability={"dist": "beta", "a": 1.0, "b": 4.0},
                                 injury_probability=0.0)  # fmt: skip
    uncertain = [path for path, value in scenario_parameters(scenario) if isinstance(value, Dist)]
    assert uncertain == ["attacks.group->state.kill_probability"]
    result = run_ensemble(scenario, EnsembleSpec(3000, 1000, seed=8, replications_per_draw=10))
    row = result.threshold_table((30,)).iloc[0]
    assert (
        row["parameter_lower"] < row["lower"] <= row["probability"] <= row["upper"] < row["parameter_upper"]
    )
    drivers = result.uncertainty_drivers(30)
    assert drivers["parameter"].tolist() == ["attacks.group->state.kill_probability"]
    assert drivers["share"].iloc[0] > 0.8  # the only uncertain parameter explains (nearly) all of it


def test_variance_drivers_find_the_parameter_that_matters():
    # p = 0.1 + 0.6 x1 (x1, x2 uniform): x1 explains all of the parameter variance, x2 none. The shares are
    # estimates from 1,000 draws of 10 replications; 0.1 allowed either way.
    rng = np.random.default_rng(9)
    x = rng.random((1000, 2))
    successes, sizes = _grouped(0.1 + 0.6 * x[:, 0], 10, rng)
    variance = float(metrics.parameter_variance(successes, sizes)[0])
    shares = metrics.variance_drivers(successes[:, 0] / 10, x, ["x1", "x2"], variance).set_index("parameter")
    assert shares.loc["x1", "share"] == pytest.approx(1.0, abs=0.1)
    assert shares.loc["x2", "share"] < 0.1


# -- resting on assumptions -------------------------------------------------------------------------------


def test_a_headline_driven_by_unmoved_priors_is_flagged_and_names_them():
    import pandas as pd

    drivers = pd.DataFrame(
        {"parameter": ["policy.israel.threshold", "attacks.x.base_rate"], "share": [0.7, 0.2]}
    )
    value = Estimate(0.06, 0.055, 0.065, 0.003, 0.005, 0.3, 0.08, 0.2)
    evidence = parameter_evidence(
        {"attacks.x.base_rate": {"prior_source": "hand-set (assumption)", "interval_ratio": 0.4}}
    )
    assert evidence == {"attacks.x.base_rate": NARROWED}
    flagged = assumptions_of(drivers, evidence, value, 180)
    assert flagged.rests_on_assumptions and flagged.named == ("policy.israel.threshold",)
    assert flagged.drivers[0].evidence == ASSUMPTION
    assert flagged.assumption_share == pytest.approx(0.7 / 0.9, abs=1e-3)
    # The same spread driven by a parameter the data narrowed is not flagged.
    moved = parameter_evidence({"policy.israel.threshold": {"interval_ratio": 0.3}})
    assert not assumptions_of(drivers, moved, value, 180).rests_on_assumptions
    # A spread within the simulation noise is not flagged either.
    small = Estimate(0.06, 0.055, 0.065, 0.003, 0.055, 0.065, 0.002, 0.0)
    assert not assumptions_of(drivers, evidence, small, 180).rests_on_assumptions
