"""Tests of escalation/experiment.py: arms are variants of the calibrated scenario as configured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

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


def test_the_replications_table_written_in_batches_is_the_arms_tables_concatenated(tmp_path):
    # us_posture's restrained arm fixes US parameters: its rows have NaN in those columns, as in one
    # concatenated table. Written batch by batch (one Parquet row group each), the file must read back as
    # exactly that table, and every batch must share one set of columns and dtypes.
    from escalation.report.experiment import write_parquet_batches

    posture, _ = _run("us_posture")
    arms = []
    for arm in posture.spec.arms:
        frame = posture.results[arm.name].replications_frame()
        frame.insert(0, "arm", arm.name)
        frame.insert(1, "arm_label", arm.label)
        arms.append(frame)
    expected = pd.concat(arms, ignore_index=True)
    batches = list(posture.replication_batches(rows=150))
    assert [len(b) for b in batches] == [150, 150, 100] * len(posture.spec.arms)
    assert all(list(b.dtypes.items()) == list(batches[0].dtypes.items()) for b in batches)
    table = posture.replications()
    assert list(table.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, check_exact=True)
    assert table["param[policy.us.threshold]"].isna().sum() == 2 * SMALL.replications  # two arms fix it
    assert table["first_day_regional_war"].dtype == np.int16
    path = write_parquet_batches(tmp_path / "replications.parquet", posture.replication_batches(rows=150))
    assert pq.ParquetFile(path).num_row_groups == len(batches)
    pd.testing.assert_frame_equal(pd.read_parquet(path), table, check_exact=True)
    assert [p.name for p in tmp_path.iterdir()] == ["replications.parquet"]  # no temporary left behind


def test_a_failed_batch_write_leaves_no_file(tmp_path):
    from escalation.report.experiment import write_parquet_batches

    baseline, _ = _run("baseline")

    def interrupted():
        yield from baseline.replication_batches(rows=100)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_parquet_batches(tmp_path / "replications.parquet", interrupted())
    assert list(tmp_path.iterdir()) == []
