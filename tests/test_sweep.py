"""Tests of sweeps (escalation/report/sweep.py and the multirun path of escalation/cli.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import escalation as esc
import escalation.events
from escalation.report.sweep import aggregate_sweep
from escalation.specs import EnsembleSpec
from tests.conftest import assert_rows_match_summaries

TINY = ["ensemble.replications=80", "ensemble.chunk_size=40", "calibration.draws=300"]
THREE_POINTS = "scenario.drivers.air_defence.factor=1.0,0.6,0.2"


def sweep_dir(root: Path) -> Path:
    """The one sweep folder a command wrote under ``root/results/sweeps``."""
    folders = [p for p in (root / "results" / "sweeps").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def complete_points(sweep: Path) -> int:
    """How many points of a sweep folder have a manifest that says ok."""
    count = 0
    for manifest in sweep.glob("*/manifest.json"):
        try:
            count += json.loads(manifest.read_text())["status"] == "ok"
        except (OSError, ValueError, KeyError):
            continue  # being rewritten this instant
    return count


def escalation(cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
        **kwargs,
    )  # fmt: skip


@pytest.mark.slow
def test_three_point_sweep_writes_the_aggregate_and_every_sweep_plot(tmp_path):
    done = escalation(tmp_path, "experiment=air_defence_sweep", THREE_POINTS, *TINY)
    assert done.returncode == 0, done.stderr
    sweep = sweep_dir(tmp_path)
    assert sweep.name.startswith("air_defence_sweep--scenario.drivers.air_defence.factor-")
    assert done.stdout.count("[point ") == 3
    table = pd.read_parquet(sweep / "sweep_summary.parquet")
    assert sorted(table["scenario.drivers.air_defence.factor"].unique()) == [0.2, 0.6, 1.0]
    # The aggregate equals the per-point summaries, value for value.
    assert_rows_match_summaries(sweep, table)
    figures = {p.name for p in (sweep / "figures").iterdir()}
    for threshold in ("first_us_fatality", "us_strikes_iran", "iran_israel_direct", "regional_war"):
        assert {f"sweep_{threshold}.png", f"difference_{threshold}.png"} <= figures
    info = json.loads((sweep / "sweep.json").read_text())
    assert info["points_complete"] == 3 and info["points_left_out"] == []
    assert info["reference"] == {"scenario.drivers.air_defence.factor": 1.0}
    differences = pd.read_parquet(sweep / "sweep_differences.parquet")
    reference = differences[differences["scenario.drivers.air_defence.factor"] == 1.0]
    assert (reference["difference"] == 0).all() and (reference["standard_error"] == 0).all()
    # Re-aggregating the same folder gives the same table.
    again = subprocess.run(
        [sys.executable, "-c", "from escalation.cli import report_main; report_main()", str(sweep)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "3 points complete" in again.stdout
    pd.testing.assert_frame_equal(table, pd.read_parquet(sweep / "sweep_summary.parquet"))


@pytest.mark.slow
def test_identical_points_have_exactly_zero_paired_differences(tmp_path):
    # The description does not enter the model: both points must give the same outcomes, draw for draw.
    done = escalation(
        tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=0.5",
        "scenario.description=a,b", *TINY,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep = sweep_dir(tmp_path)
    differences = pd.read_parquet(sweep / "sweep_differences.parquet")
    assert (
        len(differences) == 2 * len(esc.default_scenario().thresholds) * 2
    )  # points x thresholds x horizons
    assert json.loads((sweep / "sweep.json").read_text())["figures"] == (
        "not drawn: the lever scenario.description is not numeric"
    )
    assert (differences["difference"] == 0).all() and (differences["standard_error"] == 0).all()


def test_common_random_numbers_shrink_the_variance_of_differences_between_nearby_points():
    # Two nearby US strike probabilities (0.5 and 0.6). With the same seeds, a replication's outcome differs
    # between the points only where the lever changed its path; with independent seeds every replication is
    # a fresh draw. Measured factor for "US strike on Iranian forces or territory" by day 180: about 5.7 at
    # R = 4,000. The variance estimates have relative standard errors of a few percent at this R, so
    # asserting a factor of at least 3 keeps a wide margin while a broken pairing (factor about 1) fails.
    events = esc.load_builtin_events()
    scenario = dataclasses.replace(esc.default_scenario(), horizon_days=180)
    calibration = esc.calibrate(events, scenario, draws=2000)
    history = esc.observed_history(events, scenario)

    def us_strikes_iran(probability: float, seed: int) -> np.ndarray:
        policies = tuple(
            dataclasses.replace(p, retaliation_probability=probability) if p.state == "us" else p
            for p in scenario.policies
        )
        result = esc.run_ensemble(
            dataclasses.replace(scenario, policies=policies),
            EnsembleSpec(replications=4000, chunk_size=2000, seed=seed),
            calibration_draws=calibration.draws,
            history=history,
        )
        m = [t.name for t in scenario.thresholds].index("us_strikes_iran")
        days = result.outcomes.threshold_days[:, m]
        return ((days >= 0) & (days < 180)).astype(float)

    low, high, high_independent = us_strikes_iran(0.5, 1), us_strikes_iran(0.6, 1), us_strikes_iran(0.6, 2)
    paired = np.var(high - low, ddof=1)
    independent = np.var(low, ddof=1) + np.var(high_independent, ddof=1)
    assert independent / paired >= 3.0


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_only_the_missing_points_and_identical_results(tmp_path):
    points = "scenario.drivers.air_defence.factor=1.0,0.8,0.6,0.4,0.2"
    args = ["experiment=air_defence_sweep", points, "ensemble.replications=3000", "calibration.draws=300"]
    (tmp_path / "full").mkdir()
    (tmp_path / "killed").mkdir()
    full = escalation(tmp_path / "full", *args)
    assert full.returncode == 0, full.stderr
    sweep = tmp_path / "killed" / sweep_dir(tmp_path / "full").relative_to(tmp_path / "full")
    process = subprocess.Popen(
        [sys.executable, "-m", "escalation", *args], cwd=tmp_path / "killed",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and complete_points(sweep) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # A point is finished when its manifest says ok (its summary is written just before): a point killed
    # between the two is not complete, and the resume recomputes it.
    finished = complete_points(sweep)
    assert 2 <= finished < 5, "the sweep should have been killed part-way"
    resumed = escalation(tmp_path / "killed", *args)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("already complete, skipped") == finished
    assert resumed.stdout.count("[point ") == 5
    first = pd.read_parquet(sweep_dir(tmp_path / "full") / "sweep_summary.parquet")
    second = pd.read_parquet(sweep / "sweep_summary.parquet")
    pd.testing.assert_frame_equal(first, second)


def test_report_on_a_folder_without_points_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "from escalation.cli import report_main; report_main()", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("escalation-report: error:")
    assert "no complete sweep point" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_aggregate_refuses_points_run_with_different_seeds(tmp_path):
    for name, seed, value in (("a", 1, 1.0), ("b", 2, 0.5)):
        folder = tmp_path / name
        (folder / "tables").mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"status": "ok", "overrides": [f"x.lever={value}"]}))
        (folder / "summary.json").write_text(
            json.dumps(
                {"seed": seed, "replications": 10, "chunk_size": 10, "arms": {},
                 "interval": {"level": 0.9, "method": "wilson"}, "experiment": "e", "question": "q",
                 "scenario": "s", "start": "2024-01-01", "horizon_days": 10, "data_hash": "h",
                 "calibration_hash": None, "reference_arm": "a"}
            )
        )  # fmt: skip
    with pytest.raises(ValueError, match="different seeds"):
        aggregate_sweep(tmp_path)


@pytest.mark.slow
def test_joblib_launcher_gives_the_same_sweep_as_the_basic_launcher(tmp_path):
    basic, joblib = launcher_tables(
        tmp_path, THREE_POINTS, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    )
    pd.testing.assert_frame_equal(basic, joblib)


@pytest.mark.slow
def test_ray_launcher_on_a_local_ray_instance_matches_the_basic_launcher(tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_ray_launcher",
        reason="the Ray launcher is an optional extra: pip install 'escalation[ray]'",
    )
    basic, ray = launcher_tables(
        tmp_path, "scenario.drivers.air_defence.factor=1.0,0.5", ["hydra/launcher=ray"]
    )
    pd.testing.assert_frame_equal(basic, ray)
    assert "Started a local Ray instance" in (tmp_path / "launcher.log").read_text()


def launcher_tables(tmp_path: Path, points: str, launcher: list[str]) -> list[pd.DataFrame]:
    """The sweep tables of the same sweep run with the basic launcher and with another one."""
    tables = []
    for name, extra in (("basic", []), ("other", launcher)):
        (tmp_path / name).mkdir()
        done = escalation(tmp_path / name, "experiment=air_defence_sweep", points, *TINY, *extra)
        assert done.returncode == 0, done.stderr
        (tmp_path / "launcher.log").write_text(done.stdout + done.stderr)
        tables.append(pd.read_parquet(sweep_dir(tmp_path / name) / "sweep_summary.parquet"))
    return tables


@pytest.mark.slow
def test_two_ad_hoc_sweeps_of_one_experiment_leave_two_aggregates(tmp_path):
    first = escalation(
        tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=1.0,0.5", *TINY
    )
    assert first.returncode == 0, first.stderr
    second = escalation(
        tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=0.7",
        "policy.us.proportionality=0.02,0.1", *TINY,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    folders = sorted(p for p in (tmp_path / "results" / "sweeps").iterdir())
    assert len(folders) == 2
    levers = {tuple(json.loads((f / "sweep.json").read_text())["levers"]) for f in folders}
    assert levers == {("scenario.drivers.air_defence.factor",), ("policy.us.proportionality",)}
    for folder in folders:
        assert json.loads((folder / "sweep.json").read_text())["points_complete"] == 2
        assert (folder / "sweep_summary.parquet").is_file()


@pytest.mark.slow
def test_a_second_sweep_into_the_same_folder_is_aggregated_alone(tmp_path):
    shared = "hydra.sweep.dir=results/sweeps/shared"
    first = escalation(
        tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=1.0,0.5", shared, *TINY
    )
    assert first.returncode == 0, first.stderr
    second = escalation(
        tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=0.7",
        "policy.us.proportionality=0.02,0.1", shared, *TINY,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    sweep = tmp_path / "results/sweeps/shared"
    info = json.loads((sweep / "sweep.json").read_text())
    assert info["levers"] == ["policy.us.proportionality"]
    assert info["points_complete"] == 2
    assert sum("another sweep" in entry for entry in info["points_left_out"]) == 2
    table = pd.read_parquet(sweep / "sweep_summary.parquet")
    assert sorted(table["policy.us.proportionality"].unique()) == [0.02, 0.1]


@pytest.mark.slow
def test_resume_recomputes_points_when_the_event_file_changes(tmp_path):
    events = tmp_path / "data" / "events.csv"
    events.parent.mkdir()
    events.write_bytes(esc.events.builtin_events_path().read_bytes())
    args = [
        "experiment=air_defence_sweep",
        "scenario.drivers.air_defence.factor=1.0,0.5",
        f"data.path={events}",
        *TINY,
    ]
    first = escalation(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    again = escalation(tmp_path, *args)
    assert again.stdout.count("already complete, skipped") == 2
    with events.open("a") as handle:  # a new event: the points must be computed again
        handle.write("late-context,2023-10-27,2023-10-27,us,israel,context,1,false,,,,,,a note,\n")
    changed = escalation(tmp_path, *args)
    assert changed.returncode == 0, changed.stderr
    assert "already complete, skipped" not in changed.stdout
    assert changed.stdout.count("[point ") == 2
