"""End-to-end tests of the escalation command (escalation/cli.py) with tiny ensembles.

Each run is a subprocess in a temporary working directory, as a user would run it.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from escalation.cli import CONFIG_DIR

EXPERIMENTS = ("baseline", "ground_invasion_timing", "us_posture")
TINY = [
    "ensemble.replications=60",
    "ensemble.chunk_size=30",
    "ensemble.progress=false",
    "calibration.draws=500",
]


def escalation(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def run_folder(cwd: Path, experiment: str) -> Path:
    folders = sorted((cwd / "results" / experiment).iterdir())
    assert len(folders) == 1
    return folders[0]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_experiment_writes_a_complete_run_folder(tmp_path, experiment):
    done = escalation(tmp_path, f"experiment={experiment}", *TINY)
    assert done.returncode == 0, done.stderr
    folder = run_folder(tmp_path, experiment)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["seed"] == 20231027 and manifest["replications"] == 60
    assert len(manifest["data_hash"]) == 64 and len(manifest["calibration_hash"]) == 64
    assert {"numpy", "mesa", "hydra-core", "python"} <= set(manifest["libraries"])
    summary = json.loads((folder / "summary.json").read_text())
    arms = summary["arms"]
    assert len(arms) == {"baseline": 1, "ground_invasion_timing": 2, "us_posture": 3}[experiment]
    for arm in arms.values():
        fatality = arm["thresholds"]["first_us_fatality"]["by_day"]["180"]
        assert 0 <= fatality["lower"] <= fatality["probability"] <= fatality["upper"] <= 1
    for name in ("config.yaml", "calibration.json", ".hydra/config.yaml"):
        assert (folder / name).is_file(), name
    for table in (
        "thresholds",
        "ladder_curves",
        "cumulative_attacks",
        "pauses",
        "campaign_stops",
        "replications",
    ):
        assert (folder / "tables" / f"{table}.parquet").stat().st_size > 0
    figures = {p.name for p in (folder / "figures").iterdir()}
    suffixes = [""] if len(arms) == 1 else [f"_{name}" for name in arms]
    for suffix in suffixes:
        for stem in ("fan_attacks_us", "fan_attacks_israel", "ladder", "thresholds"):
            assert {f"{stem}{suffix}.png", f"{stem}{suffix}.svg"} <= figures
    if len(arms) > 1:
        assert {"arms_comparison.png", "arms_comparison.svg"} <= figures
        assert (folder / "tables" / "paired_differences.parquet").is_file()
        assert len(summary["paired_differences"]) == (len(arms) - 1) * 5 * 3  # thresholds x horizons
    assert "Run folder:" in done.stdout
    # Where the priors behind the numbers came from: the base rate, the paused rate and the resume hazard
    # of the groups' campaigns against states (the militias, Hezbollah, the Houthis against Israel: 9), the
    # paused rate and resume hazard of the Houthis' campaign at sea (2), and Iran's daily chance of
    # striking Israel under Israel's campaign in Syria (1).
    assert (
        "Priors: 12 pooled from earlier crises (base rate, paused rate, resume hazard, retaliation "
        "probability);" in done.stdout
    )
    assert not list(folder.rglob(".*.tmp"))
    # The job log holds the run's own lines: the calibration, each arm's simulation, the summary.
    log = (folder / "escalation.log").read_text()
    assert "calibrated october_2023" in log
    assert all(f"arm {name}: 60 replications simulated" in log for name in arms)
    assert "First US fatality" in log and f"Run folder: {folder}" in log


@pytest.mark.slow
def test_same_seed_gives_identical_summary(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        done = escalation(tmp_path / name, *TINY)
        assert done.returncode == 0, done.stderr
    first, second = (
        json.loads((run_folder(tmp_path / n, "baseline") / "summary.json").read_text()) for n in "ab"
    )
    assert first == second
    done = escalation(tmp_path / "a", *TINY, "ensemble.seed=7")
    assert done.returncode == 0, done.stderr
    summaries = [
        json.loads((f / "summary.json").read_text())
        for f in sorted((tmp_path / "a/results/baseline").iterdir())
    ]
    assert any(s["seed"] == 7 for s in summaries)
    assert summaries[0]["arms"] != summaries[1]["arms"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("policy.us.treshold=3", "policy.us.treshold"),
        ("actors.us.interception=1.5", "actors.us.interception: must be in [0.0, 1.0]"),
        (
            "scenario.attacks.militias_on_us.base_rate=-2",
            "scenario.attacks.militias_on_us.base_rate: must be >= 0",
        ),
        ("scenario.attacks.militias_on_us.attacker=militia", "unknown actor 'militia'"),
        ("data.path=no/such/events.csv", "no/such/events.csv"),
        ("ensemble.replications=many", "ensemble.replications"),
        ("experiment=nonexistent", "experiment/nonexistent"),
        ("scenario.horizon_days=20", "experiment.horizons: 30 is outside 1..20"),
        ("calibration.draws=0", "calibration.draws: must be an integer >= 2"),
        ("experiment.figure_formats=[bmpx]", "experiment.figure_formats: unknown format bmpx"),
        ("calibration.cutoff=2023-11-01", "calibration.cutoff: 2023-11-01 is after the scenario's start"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, override, expected):
    key = override.split("=", 1)[0]
    done = escalation(tmp_path, override, *(a for a in TINY if not a.startswith(f"{key}=")))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("escalation: error: ")
    assert expected in lines[0]
    assert "Traceback" not in done.stderr
    for manifest in (tmp_path / "results").rglob("manifest.json"):
        assert json.loads(manifest.read_text())["status"] == "failed"
        assert not (manifest.parent / "summary.json").exists()


def test_help_lists_config_groups(tmp_path):
    done = escalation(tmp_path, "--help")
    assert done.returncode == 0
    experiments = ", ".join(sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml")))
    assert "backtest" in experiments and "deterrence_sweep" in experiments
    assert f"experiment: {experiments}" in done.stdout
    assert "ensemble: default, quick" in done.stdout


def test_version_prints_the_package_version(tmp_path):
    from escalation import __version__

    done = escalation(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"escalation {__version__}"
    assert not (tmp_path / "results").exists()


def test_cfg_job_prints_the_composed_config(tmp_path):
    done = escalation(tmp_path, "--cfg", "job", "experiment=us_posture", "policy.us.proportionality=0.2")
    assert done.returncode == 0, done.stderr
    assert "name: us_posture" in done.stdout
    assert "proportionality: 0.2" in done.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_dated_event_files_get_likelihood_fits_with_qq_fit_checks(tmp_path):
    rng = np.random.default_rng(5)
    # The file states that it records every militia attack from 1 September to 26 October.
    lines = [
        "# period militias->us: 2023-09-01 to 2023-10-26",
        "event_id,start_date,end_date,attacker,target,kind,count,source",
    ]
    for k in range(40):  # 40 days of dated militia attacks ending before the forecast start
        day = (dt.date(2023, 9, 1) + dt.timedelta(days=k)).isoformat()
        count = int(rng.poisson(2.0))
        if count:
            lines.append(f"a{k},{day},{day},militias,us,attack,{count},synthetic")
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    done = escalation(tmp_path, "data.path=events.csv", *TINY)
    assert done.returncode == 0, done.stderr
    folder = run_folder(tmp_path, "baseline")
    calibration = json.loads((folder / "calibration.json").read_text())
    check = next(c for c in calibration["checks"] if c["quantity"].startswith("time rescaling"))
    # The fit runs over the stated period: the quiet days after the 40 days of attacks count as zeros.
    assert len(check["residuals"]) == (dt.date(2023, 10, 27) - dt.date(2023, 9, 1)).days
    assert calibration["summaries"]["attacks.militias->us.base_rate"]["data"].startswith("likelihood of")
    assert (folder / "figures" / "fit_qq_militias_on_us.png").is_file()
