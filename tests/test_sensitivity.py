"""Known-answer tests of escalation/sensitivity.py: the SALib wrapper, the design runner and its randomness.

Tolerances are stated per test. SALib's ``*_conf`` columns are half-widths of 95% bootstrap intervals, i.e.
about 1.96 bootstrap standard errors.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from escalation import sensitivity as sa
from escalation.ensemble import run_ensemble
from escalation.model import EscalationModel
from escalation.specs import EnsembleSpec, SpecError
from tests.conftest import one_dyad_scenario

RATE = "attacks.group->state.base_rate"
INERT = "attacks.group->state.injury_probability"


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    # Analytic indices for a = 7, b = 0.1 on [-pi, pi]^3 (Ishigami and Homma 1990; SALib's test function).
    s1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    st = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    names = list(s1)
    spec = sa.SensitivitySpec(base_samples=4096, horizons=(1,), seed=1)
    unit = sa.sample_design(spec, names)
    assert unit.shape == (4096 * (3 + 2), 3)
    table = sa.sobol_indices(names, {"ishigami": ishigami(-np.pi + 2 * np.pi * unit)}, seed=1).set_index(
        "factor"
    )
    # At N = 4,096 the 95% bootstrap half-widths are 0.014-0.043: 0.05 is more than two of them, and far
    # below the gaps between the indices (an index swapped or mis-estimated by a bug fails).
    for name in names:
        assert table.loc[name, "S1"] == pytest.approx(s1[name], abs=0.05), name
        assert table.loc[name, "ST"] == pytest.approx(st[name], abs=0.05), name
        assert 0 < table.loc[name, "ST_conf"] < 0.05


def _one_dyad_design(randomness: bool = True, method: str = "sobol", base_samples: int = 1024):
    # Attacks a day ~ Poisson(rate), rate ~ U(0.5, 5); the injury probability does not touch the attack count.
    scenario = one_dyad_scenario(
        base_rate={"dist": "uniform", "loc": 0.5, "scale": 4.5},
        injury_probability={"dist": "beta", "a": 2, "b": 8},
        horizon_days=30,
    )
    spec = sa.SensitivitySpec(
        method=method, base_samples=base_samples, horizons=(30,), randomness=randomness, seed=3
    )
    return sa.run_sensitivity(spec, scenario, EnsembleSpec(chunk_size=2500, seed=5))


def test_on_one_dyad_the_rate_dominates_and_an_inert_parameter_has_no_total_index():
    result = _one_dyad_design()
    assert [f.name for f in result.design.factors] == [RATE, INERT, sa.RANDOMNESS]
    rows = result.indices[result.indices["headline"] == "cumulative:state@30"].set_index("factor")
    # Y = attacks in 30 days, Var(Y) = 30 E[rate] + 900 Var(rate) = 82.5 + 1518.75. The rate's first-order
    # index is 1518.75 / 1601.25 = 0.948. Its total index adds its interaction with the random numbers
    # (the Poisson noise's size, sqrt(rate) a day, moves with the rate): ST = 1 - Var(E[Y | noise]) / Var(Y),
    # with Var(E[Y | noise]) = 30 E[sqrt(rate)]^2 = 77.2, so 0.952. Tolerance: two 95% half-widths (~4 SE).
    variance = 82.5 + 1518.75
    mean_root = (2 / 3) * (5**1.5 - 0.5**1.5) / 4.5  # E[sqrt(rate)], rate ~ U(0.5, 5)
    assert rows.loc[RATE, "S1"] == pytest.approx(1518.75 / variance, abs=2 * rows.loc[RATE, "S1_conf"])
    assert rows.loc[RATE, "ST"] == pytest.approx(
        1 - 30 * mean_root**2 / variance, abs=2 * rows.loc[RATE, "ST_conf"]
    )
    # The inert factor's runs share the randomness and the rate of their base run, so their outputs are equal:
    # Jansen's total-order numerator, the sum of (f(A) - f(AB))^2, is exactly zero, and so is the index.
    assert rows.loc[INERT, "ST"] == 0.0 and rows.loc[INERT, "ST_conf"] == 0.0
    # The randomness factor's total index is E[Var(Y | rate)] / Var(Y) = 30 E[rate] / Var(Y), with
    # Var(Y) = 30 E[rate] + 900 Var(rate) = 82.5 + 1518.75: 0.0515. Tolerance: two 95% half-widths (~4 SE).
    expected = 82.5 / (82.5 + 1518.75)
    assert rows.loc[sa.RANDOMNESS, "ST"] == pytest.approx(
        expected, abs=2 * rows.loc[sa.RANDOMNESS, "ST_conf"]
    )
    assert rows.loc[sa.RANDOMNESS, "ST"] > 0.03
    # The constant fatality threshold (kill probability 0) has no variance to share out.
    constant = result.indices[result.indices["headline"] == "first_fatality@30"]
    assert constant["ST"].isna().all() and (constant["variance"] == 0).all()


def test_without_the_randomness_factor_noise_shows_as_influence_of_an_inert_parameter():
    rows = _one_dyad_design(randomness=False).indices
    rows = rows[rows["headline"] == "cumulative:state@30"].set_index("factor")
    assert sa.RANDOMNESS not in rows.index
    # Each run has its own random numbers: Jansen's ST of the inert factor picks up the noise share (0.0515,
    # as the randomness factor's above); its 95% interval must exclude zero.
    assert rows.loc[INERT, "ST"] - rows.loc[INERT, "ST_conf"] > 0


def test_morris_screening_ranks_the_rate_first_and_gives_the_inert_parameter_no_effect():
    result = _one_dyad_design(method="morris", base_samples=40)
    design = result.design
    # No randomness column (SALib's grid would give it 4 values: 4 sets of random numbers for the whole
    # design); each trajectory has its own random numbers instead, shared by its 3 points, so the layout
    # needs no spare runs and only the trajectories' first points are independent.
    assert design.names == [RATE, INERT]
    assert design.ensemble.replications == len(design.unit) == 40 * 3
    assert design.independent_rows().tolist() == list(range(0, 120, 3))
    rows = result.indices[result.indices["headline"] == "cumulative:state@30"].set_index("factor")
    # Elementary effects per unit of quantile level: the rate's is 30 days x 4.5 x (1 - 2 TAIL) = 134.7 on
    # average (common random numbers keep most of the Poisson noise out of the difference, so each effect is
    # positive and mu = mu*). Tolerance: two 95% bootstrap half-widths of mu* (~4 SE). The inert factor's step
    # changes nothing with the same random numbers: exactly zero.
    expected = 30 * 4.5 * (1 - 2 * sa.TAIL)
    assert rows.loc[RATE, "mu_star"] == pytest.approx(expected, abs=2 * rows.loc[RATE, "mu_star_conf"])
    assert rows.loc[RATE, "mu"] == rows.loc[RATE, "mu_star"]
    assert rows.loc[INERT, "mu_star"] == 0.0 and rows.loc[INERT, "sigma"] == 0.0


def test_morris_trajectories_share_random_numbers_within_and_not_across():
    spec = sa.SensitivitySpec(method="morris", base_samples=10, horizons=(5,), seed=1)
    factors = sa.design_factors(one_dyad_scenario(base_rate={"dist": "uniform", "loc": 0.5, "scale": 1}),
                                randomness=False)  # fmt: skip
    unit = sa.sample_design(spec, [f.name for f in factors])
    noise = sa.design_noise(spec, factors, unit)
    assert noise.tolist() == [float(t) for t in range(10) for _ in range(len(factors) + 1)]
    layout, place = sa.noise_layout(noise, chunk_size=4)
    # One position per trajectory in chunks of one seed key, one chunk per point of the trajectories: 3
    # groups of at most 4 trajectories x 2 points.
    assert len(layout) == 3 * 2 and len(place) == len(unit)
    independent = sa.design_noise(dataclasses.replace(spec, randomness=False), factors, unit)
    assert len(np.unique(independent)) == len(unit)


def test_noise_layout_gives_equal_values_one_position_in_chunks_of_one_seed():
    rng = np.random.default_rng(0)
    noise = rng.choice(rng.random(30), size=200)  # 30 values used 1 to ~15 times each
    layout, place = sa.noise_layout(noise, chunk_size=8)
    assert sum(size for _, size in layout) == len(place)
    assert set(place) == set(range(200))  # every run has a place
    offsets = np.cumsum([0] + [size for _, size in layout])
    slot = {}  # (seed key, size, position) -> noise value held there
    for k, (key, size) in enumerate(layout):
        assert size <= 8
        for position, run in enumerate(place[offsets[k] : offsets[k + 1]]):
            assert slot.setdefault((key, size, position), noise[run]) == noise[run]
    # and distinct values never share a slot
    assert len(set(slot.values())) == len(slot) == len(np.unique(noise))


def test_design_refuses_absurd_sizes_and_unknown_levers():
    with pytest.raises(SpecError, match=r"sensitivity.base_samples: .*power of 2, got 100.*64 or 128"):
        sa.SensitivitySpec(base_samples=100)
    with pytest.raises(
        SpecError, match=re.escape("sensitivity.method: unknown 'sobel'; allowed: sobol, morris")
    ):
        sa.SensitivitySpec(method="sobel")
    scenario = one_dyad_scenario()
    with pytest.raises(SpecError, match=r"sensitivity.base_samples: 1,048,576 with 40 factors .* at most"):
        sa.check_design_size(sa.SensitivitySpec(base_samples=2**20), scenario, 40, 2500, 1)
    with pytest.raises(
        SpecError, match=re.escape("sensitivity.levers.policy.nobody.threshold: not a parameter")
    ):
        sa.design_factors(scenario, levers={"policy.nobody.threshold": (1, 2)})
    with pytest.raises(SpecError, match=r"outside the parameter's bounds \[0.0, 1.0\]"):
        sa.design_factors(scenario, levers={"actors.state.interception": (0.2, 1.5)})


def test_a_lever_with_a_range_is_a_uniform_factor():
    factors = sa.design_factors(one_dyad_scenario(), levers={"actors.state.interception": (0.2, 0.6)})
    (lever,) = [f for f in factors if f.kind == "lever"]
    assert np.allclose(lever.values(np.array([0.0, 0.5, 1.0])), [0.2, 0.4, 0.6])


def test_posterior_factors_take_empirical_quantiles_and_priors_the_inverse_cdf():
    scenario = one_dyad_scenario(base_rate={"dist": "gamma", "a": 2.0, "scale": 1.0})
    draws = {RATE: np.arange(1001, dtype=float)}
    (posterior, _) = sa.design_factors(scenario, draws)
    assert posterior.kind == "posterior"
    assert posterior.values(np.array([0.5]))[0] == pytest.approx(500.0)
    (prior, _) = sa.design_factors(scenario)
    median = float(scenario.attacks[0].base_rate.frozen().median())
    assert prior.kind == "prior" and prior.values(np.array([0.5]))[0] == pytest.approx(median)
    assert np.isfinite(prior.values(np.array([0.0, 1.0]))).all()  # a Morris level of 0 or 1 stays finite


def test_explicit_parameter_values_replace_only_their_paths_and_cumulative_days_match_the_totals():
    scenario = one_dyad_scenario(
        base_rate={"dist": "gamma", "a": 2.0, "scale": 1.0},
        injury_probability={"dist": "beta", "a": 2, "b": 8},
        horizon_days=12,
    )
    given = np.linspace(0.5, 3.0, 50)
    plain = EscalationModel(scenario, 50, seed=4)
    hooked = EscalationModel(scenario, 50, seed=4, parameter_values={RATE: given}, cumulative_days=(5, 12))
    assert np.array_equal(hooked.params[RATE], given)
    assert np.array_equal(hooked.params[INERT], plain.params[INERT])  # same stream, same draws
    outcomes = hooked.run()
    assert np.array_equal(outcomes.cumulative_at[:, 1, 0], outcomes.attacks[:, 0])
    assert (outcomes.cumulative_at[:, 0, 0] <= outcomes.cumulative_at[:, 1, 0]).all()
    with pytest.raises(ValueError, match=re.escape("parameter_values: 'attacks.nobody.base_rate' is not")):
        EscalationModel(scenario, 50, seed=4, parameter_values={"attacks.nobody.base_rate": given})
    # Through the ensemble with a layout: two chunks of one key draw the same random numbers.
    same = run_ensemble(
        scenario,
        EnsembleSpec(seed=9),
        parameter_values={RATE: np.concatenate([given, given]), INERT: np.full(100, 0.1)},
        layout=[(7, 50), (7, 50)],
    )
    assert np.array_equal(same.outcomes.attacks[:50], same.outcomes.attacks[50:])
