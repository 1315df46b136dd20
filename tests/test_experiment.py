"""Tests of escalation/experiment.py: arms are variants of the calibrated scenario as configured."""

from __future__ import annotations

import numpy as np

from escalation import cli
from escalation.experiment import arm_calibration_draws, run_experiment
from escalation.specs import EnsembleSpec
from tests.test_configs import compose_config

SMALL = EnsembleSpec(replications=400, chunk_size=200, seed=20231027)


def _run(experiment: str):
    cfg = compose_config(f"experiment={experiment}", "calibration.draws=500")
    inputs = cli.prepare_inputs(cfg)
    calibration = cli.calibrate_inputs(cfg, inputs)
    return run_experiment(inputs.spec, SMALL, inputs.events, calibration), calibration


def test_the_reference_arm_of_us_posture_has_the_calibrated_us_policy_and_the_baseline_answer():
    posture, calibration = _run("us_posture")
    baseline, baseline_calibration = _run("baseline")
    # One calibration of the scenario as configured: the US policy is calibrated, whichever arm is first.
    assert {"policy.us.threshold", "policy.us.retaliation_probability"} <= set(calibration.draws)
    assert calibration.hash == baseline_calibration.hash
    reference = posture.results["proportional"].outcomes
    np.testing.assert_array_equal(
        reference.threshold_days, baseline.results["baseline"].outcomes.threshold_days
    )
    np.testing.assert_array_equal(reference.parameters, baseline.results["baseline"].outcomes.parameters)
    # The restrained arm fixes the levers it sets, in that arm only, and keeps every other posterior.
    restrained = posture.results["restrained"].replications_frame()
    proportional = posture.results["proportional"].replications_frame()
    assert "param[policy.us.threshold]" not in restrained.columns
    assert proportional["param[policy.us.threshold]"].nunique() > 30  # 40 draws of 10 replications
    for column in ("param[attacks.militias->us.base_rate]", "param[actors.us.interception]"):
        np.testing.assert_array_equal(restrained[column], proportional[column])


def test_an_arm_takes_the_draws_of_the_parameters_it_leaves_alone():
    cfg = compose_config("experiment=us_posture", "calibration.draws=200")
    inputs = cli.prepare_inputs(cfg)
    calibration = cli.calibrate_inputs(cfg, inputs)
    arms = {arm.name: arm.scenario for arm in inputs.spec.arms}
    hawkish = arm_calibration_draws(inputs.spec.scenario, arms["hawkish"], calibration.draws)
    assert "policy.us.threshold" not in hawkish and "policy.us.retaliation_probability" not in hawkish
    assert "attacks.militias->us.base_rate" in hawkish
    assert arm_calibration_draws(inputs.spec.scenario, arms["proportional"], calibration.draws) == (
        calibration.draws
    )
