"""Robust levers: a sweep's points paired draw by draw, and the objective an optimising sweeper reads."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from escalation.cli import UserError, _check_objective, objective_value
from escalation.ensemble import run_ensemble
from escalation.experiment import Arm, ExperimentSpec
from escalation.report.summary import ArmSummary, Estimate, RunSummary, ThresholdSummary
from escalation.report.sweep import SweepPoint, robustness
from escalation.specs import EnsembleSpec

TINY = [
    "ensemble.replications=60",
    "ensemble.chunk_size=30",
    "ensemble.progress=false",
    "calibration.draws=500",
]


def test_points_of_a_sweep_share_every_other_parameter_draw_by_draw(scenario):
    # The configured scenario and two lever values (the US policy's threshold set to a number), one seed:
    # draw m of every point holds the same values of every parameter the lever does not set, so per-draw
    # probabilities pair up across points.
    path = "policy.us.threshold"
    ensemble = EnsembleSpec(replications=60, chunk_size=30, seed=11, replications_per_draw=6)
    results = [run_ensemble(scenario, ensemble)]
    for value in (10.0, 80.0):
        policy = dataclasses.replace(next(p for p in scenario.policies if p.state == "us"), threshold=value)
        variant = dataclasses.replace(
            scenario, policies=tuple(policy if p.state == "us" else p for p in scenario.policies)
        )
        results.append(run_ensemble(variant, ensemble))
    configured, low, high = (r.draw_parameter_values() for r in results)
    assert path in configured.columns and path not in low.columns  # a prior as configured, a setting here
    assert len(configured) == len(low) == 10 and len(low.columns) == len(configured.columns) - 1
    pd.testing.assert_frame_equal(low, high)
    pd.testing.assert_frame_equal(configured[list(low.columns)], low)
    assert np.array_equal(results[0].draws, results[1].draws)


def _point(
    name: str, value: float, first_days: np.ndarray, draws: np.ndarray
) -> tuple[SweepPoint, pd.DataFrame]:
    estimate = Estimate(float(np.mean(first_days >= 0)), 0.0, 1.0, 0.1)
    summary = RunSummary(
        experiment="e", question="q", scenario="s", start="2023-10-27", horizon_days=10,
        replications=len(draws), seed=1, chunk_size=len(draws), level=0.9, method="wilson", data_hash="h",
        calibration_hash=None, reference_arm="a",
        arms={"a": ArmSummary("A", {"war": ThresholdSummary("War", {10: estimate})}, {})},
    )  # fmt: skip
    table = pd.DataFrame({"arm": "a", "draw": draws, "first_day_war": first_days})
    return SweepPoint(Path(name), name, {"lever": value}, {}, summary), table


def test_robustness_counts_draws_that_lower_the_risk_and_the_regret_against_the_best():
    # Four draws of two replications. Per-draw risks: reference (0.5, 0.5, 1, 0); point b (0, 1, 0.5, 0).
    draws = np.repeat(np.arange(4), 2)
    reference, ref_table = _point("ref", 0.0, np.array([1, -1, 2, -1, 3, 4, -1, -1]), draws)
    other, other_table = _point("b", 1.0, np.array([-1, -1, 0, 0, 5, -1, -1, -1]), draws)
    table = robustness([reference, other], reference, ["lever"], {"ref": ref_table, "b": other_table})
    b = table[table["point"] == "b"].iloc[0]
    assert b["share_lower"] == 0.5 and b["share_higher"] == 0.25  # lower in draws 0 and 2, higher in 1
    # Best per draw: (0, 0.5, 0.5, 0); b's regret (0, 0.5, 0, 0), the reference's (0.5, 0, 0.5, 0).
    assert b["regret_mean"] == pytest.approx(0.125)
    ref = table[table["point"] == "ref"].iloc[0]
    assert ref["regret_mean"] == pytest.approx(0.25) and ref["share_lower"] == 0.0
    assert ref["regret_p90"] == pytest.approx(0.5)


def _spec(scenario) -> ExperimentSpec:
    return ExperimentSpec(
        name="e", question="q", arms=(Arm("a", "A", scenario),), reference="a", horizons=(30, 180)
    )


def test_the_objective_is_checked_and_read_from_the_summary(scenario):
    spec = _spec(scenario)
    with pytest.raises(UserError, match=r"experiment.objective.threshold: unknown 'war'; allowed: first_us"):
        _check_objective(OmegaConf.create({"threshold": "war", "horizon": None, "arm": None}), spec)
    with pytest.raises(UserError, match=r"experiment.objective.horizon: 90 is not one of .*allowed: 30, 180"):
        _check_objective(OmegaConf.create({"threshold": "regional_war", "horizon": 90, "arm": None}), spec)
    with pytest.raises(UserError, match=r"experiment.objective.arm: unknown 'b'; allowed: a"):
        _check_objective(OmegaConf.create({"threshold": "regional_war", "horizon": 30, "arm": "b"}), spec)
    summary = RunSummary(
        experiment="e", question="q", scenario="s", start="2023-10-27", horizon_days=180, replications=10,
        seed=1, chunk_size=10, level=0.9, method="wilson", data_hash="h", calibration_hash=None,
        reference_arm="a", arms={"a": ArmSummary("A", {"regional_war": ThresholdSummary("War", {
            30: Estimate(0.01, 0, 1, 0.1), 180: Estimate(0.06, 0, 1, 0.1)})}, {})},
    )  # fmt: skip
    objective = OmegaConf.create({"threshold": "regional_war", "horizon": None, "arm": None})
    assert objective_value(objective, summary) == 0.06
    assert objective_value(OmegaConf.create({"threshold": "", "horizon": None, "arm": None}), summary) is None


@pytest.mark.slow
def test_an_optimising_sweeper_searches_the_levers_end_to_end(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=optimise_us_posture", *TINY,
         "hydra.sweeper.n_trials=3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    sweep = tmp_path / "results" / "sweeps" / "optimise_us_posture"
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    points = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert len(points) == 3
    values = [p["arms"]["optimise_us_posture"]["thresholds"]["regional_war"]["by_day"]["180"]["probability"]
              for p in points]  # fmt: skip
    assert result.best_value == min(values)  # the sweeper read each run's objective
    assert set(result.best_params) == {"policy.us.retaliation_probability", "policy.us.proportionality"}
    assert (sweep / "sweep_robustness.parquet").is_file()
