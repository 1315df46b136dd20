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

from escalation import cli
from escalation.cli import UserError, _check_objective, objective_value
from escalation.ensemble import run_ensemble
from escalation.experiment import Arm, ExperimentSpec
from escalation.report.summary import ArmSummary, Estimate, RunSummary, ThresholdSummary
from escalation.report.sweep import SweepError, SweepPoint, robustness
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
    assert b["share_tied"] == 0.25  # draw 3: 0 at both points
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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "experiment.objective.threshold=",
            r"^experiment.objective.threshold: the optuna sweeper needs a prob",
        ),
        (
            "sensitivity.method=sobol",
            r"^sensitivity.method: the optuna sweeper optimises .* allowed: sensitiv",
        ),
        (
            "backtest.cutoff=2023-10-20",
            r"^backtest.cutoff: the optuna sweeper optimises .* allowed: backtest",
        ),
    ],
)
def test_an_optimising_sweeper_without_an_objective_is_refused_in_one_line(override, message):
    # The Optuna sweeper takes float() of every trial's return value: a run returning None (no objective, a
    # backtest, a sensitivity run) must be refused before the first trial, in one line naming the key.
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cli._register_schema()
    cli.check_command_line(["experiment=optimise_us_posture"])  # the file itself is accepted
    with pytest.raises(UserError, match=message) as err:
        cli.check_command_line(["experiment=optimise_us_posture", override])
    assert "\n" not in str(err.value)
    # The basic sweeper returns nothing to anyone: a sweep without an objective stays allowed.
    cli.check_command_line(["-m", "experiment.objective.threshold=", "policy.us.proportionality=0.1,0.2"])


def test_a_finished_sensitivity_point_counts_as_complete(tmp_path):
    # A sweep's rerun skips a point whose manifest is ok and whose summary is readable; a sensitivity run
    # writes sensitivity_summary.json, not summary.json, so it was never found complete and ran again.
    from escalation.report.sensitivity import SUMMARY_FILE

    cfg = OmegaConf.create({"backtest": {"cutoff": None}, "sensitivity": {"method": "morris"}})
    assert not cli._summary_readable(cfg, tmp_path)
    (tmp_path / SUMMARY_FILE).write_text('{"kind": "sensitivity", "headlines": {}}\n')
    assert cli._summary_readable(cfg, tmp_path)
    (tmp_path / SUMMARY_FILE).write_text('{"kind": "sensitiv')  # truncated
    assert not cli._summary_readable(cfg, tmp_path)
    experiment = OmegaConf.create({"backtest": {"cutoff": None}, "sensitivity": {"method": None}})
    (tmp_path / SUMMARY_FILE).write_text('{"kind": "sensitivity"}\n')
    assert not cli._summary_readable(experiment, tmp_path)  # an experiment needs its summary.json


def test_robustness_reports_ties_and_refuses_points_whose_draws_cannot_pair():
    # A rare event: draws of two replications, the event once in 8 replications at the reference, never at b.
    draws = np.repeat(np.arange(4), 2)
    reference, ref_table = _point("ref", 0.0, np.array([-1, -1, -1, -1, 2, -1, -1, -1]), draws)
    other, other_table = _point("b", 1.0, np.full(8, -1), draws)
    b = robustness([reference, other], reference, ["lever"], {"ref": ref_table, "b": other_table})
    b = b[b["point"] == "b"].iloc[0]
    # Lower in one draw only: the other three tie at 0, which share_lower alone would hide.
    assert (b["share_lower"], b["share_higher"], b["share_tied"]) == (0.25, 0.0, 0.75)
    # Points run with different replications per draw (4 draws against 2) cannot be paired draw by draw:
    # one line naming the cause, not numpy's shape error.
    coarse, coarse_table = _point("c", 2.0, np.full(8, -1), np.repeat(np.arange(2), 4))
    with pytest.raises(SweepError, match=r"^arm a: the points have different numbers of parameter draws "):
        robustness([reference, coarse], reference, ["lever"], {"ref": ref_table, "c": coarse_table})
