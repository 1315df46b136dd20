"""Tests of escalation/backtest.py: no leakage past the cut-off, observations, baselines and scores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest

from escalation import scoring
from escalation.backtest import (
    baseline_rates,
    known_before,
    observations_after,
    run_backtest,
)
from escalation.events import load_builtin_events, load_events
from escalation.semantics import happened
from escalation.specs import EnsembleSpec
from tests.conftest import one_dyad_scenario

CUTOFF = dt.date(2023, 10, 23)


def test_only_events_ended_before_the_cutoff_are_known():
    known = known_before(load_builtin_events(), CUTOFF)
    assert {e.event_id for e in known} == {"hamas-attack-oct07"}  # the 17-26 interval had not ended


def test_attacks_inside_an_interval_that_began_before_the_cutoff_are_lower_bounds():
    observations = observations_after(load_builtin_events(), "us", CUTOFF, 4)
    assert [(o.date.isoformat(), o.day, o.count, o.lower_bound) for o in observations] == [
        ("2023-10-25", 2, 1, True),
        ("2023-10-26", 3, 3, True),  # two attacks that day: one observation at the day's end
    ]


def _synthetic(tmp_path):
    lines = ["event_id,start_date,end_date,attacker,target,kind,count,injured,killed,source"]
    counts_before = [2, 1, 3, 0, 2, 4, 1, 3, 2, 2]  # 1-10 March; 0 means no row
    for day, count in enumerate(counts_before, start=1):
        if count:
            lines.append(
                f"b{day},2024-03-{day:02d},2024-03-{day:02d},group,state,attack,{count},0,0,synthetic"
            )
    lines.append("after1,2024-03-11,2024-03-11,group,state,attack,3,0,0,synthetic")
    lines.append("after2,2024-03-13,2024-03-13,group,state,attack,2,0,1,synthetic")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return load_events(path)


def test_baselines_use_the_known_daily_counts(tmp_path):
    events = _synthetic(tmp_path)
    rates = baseline_rates(known_before(events, dt.date(2024, 3, 11)), "state", dt.date(2024, 3, 11), 4)
    assert rates["constant rate"] == pytest.approx(20 / 10)
    assert rates["no change"] == pytest.approx((1 + 3 + 2 + 2) / 4)  # the last four days, 7-10 March


def test_backtest_scores_exact_observations_against_model_and_baselines(tmp_path):
    events = _synthetic(tmp_path)
    scenario = one_dyad_scenario(kill_probability=0.05)
    cutoff = dt.date(2024, 3, 11)
    result = run_backtest(
        events, scenario, cutoff, 5, EnsembleSpec(replications=2000), target="state", window_days=4
    )
    assert [(o.day, o.count, o.lower_bound) for o in result.observations] == [(0, 3, False), (2, 5, False)]
    scores = result.scores
    assert set(scores["forecaster"]) == {"model", "no change", "constant rate"}
    # The CRPS in the table is the CRPS of the forecast histogram at that day.
    row = scores[(scores["forecaster"] == "model") & (scores["day"] == 2)].iloc[0]
    histogram = result.forecast.outcomes.count_histograms["state"][2]
    assert row["crps"] == pytest.approx(scoring.crps(histogram, 5))
    summary = result.summary()
    assert summary["forecasters"]["model"]["observations_scored"] == 2
    assert "crps_skill_vs_no_change" in summary["forecasters"]["model"]
    fatality = result.thresholds.set_index("threshold").loc["first_fatality"]
    assert bool(fatality["happened"]) is True
    assert fatality["brier"] == pytest.approx((1 - fatality["probability"]) ** 2)


def test_threshold_events_are_read_from_rungs_and_casualties(tmp_path):
    events = _synthetic(tmp_path)
    scenario = one_dyad_scenario()
    threshold = scenario.thresholds[0]  # first fatality on the state
    assert happened(events, threshold, scenario, dt.date(2024, 3, 11), dt.date(2024, 3, 20)) is True
    assert happened(events, threshold, scenario, dt.date(2024, 3, 1), dt.date(2024, 3, 11)) is False


@pytest.mark.slow
def test_backtest_inside_the_october_record_runs_from_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=backtest", "ensemble.replications=200",
         "calibration.draws=300"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = next((tmp_path / "results" / "backtest").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["cutoff"] == "2023-10-23" and summary["observations"] == 2
    assert summary["observations_lower_bound"] == 2
    assert json.loads((folder / "manifest.json").read_text())["status"] == "ok"
    tables = ("tables/backtest_scores.parquet", "tables/backtest_thresholds.parquet")
    figures = ("figures/backtest_fan_us.png", "figures/backtest_fan_us.svg")
    for name in (*tables, *figures, "calibration.json"):
        assert (folder / name).is_file(), name
    assert "Backtest from 2023-10-23" in done.stdout
    # The death of 17-26 October lies in an interval row that straddles the cut-off: unknown, not scored.
    fatality, us_strikes_iran = summary["thresholds"][:2]
    assert fatality["happened"] is None and fatality["brier"] is None
    assert us_strikes_iran["happened"] is False and np.isfinite(us_strikes_iran["brier"])
    assert summary["threshold_scores"]["left_out"] == 1


def test_reliability_table_by_hand():
    from escalation.backtest import reliability_table

    table = reliability_table(np.array([0.05, 0.08, 0.55, 0.95, 0.91]), np.array([0, 1, 1, 1, 0]), bins=10)
    assert table["forecasts"].tolist() == [2, 1, 2]
    assert table["mean_forecast"].tolist() == pytest.approx([0.065, 0.55, 0.93])
    assert table["observed_frequency"].tolist() == pytest.approx([0.5, 1.0, 0.5])


def test_rolling_origins_pool_the_scores_of_every_cutoff(tmp_path):
    from escalation.backtest import run_rolling_backtest

    events = _synthetic(tmp_path)
    rolling = run_rolling_backtest(
        events, one_dyad_scenario(), dt.date(2024, 3, 6), 3, 2, 6, EnsembleSpec(replications=500),
        target="state", window_days=3,
    )  # fmt: skip
    assert [r.cutoff.isoformat() for r in rolling.results] == ["2024-03-06", "2024-03-08", "2024-03-10"]
    scores = rolling.scores()
    assert scores["cutoff"].nunique() == 3
    summary = rolling.summary()
    assert summary["origins"] == ["2024-03-06", "2024-03-08", "2024-03-10"]
    assert summary["forecasters"]["model"]["observations_scored"] == int(
        (~scores["lower_bound"].astype(bool)).sum() / 3
    )
    assert summary["threshold_scores"]["forecasts"] == 3 * len(one_dyad_scenario().thresholds)


@pytest.mark.slow
def test_rolling_backtest_runs_from_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=backtest", "backtest.cutoff=2023-10-17",
         "backtest.origins=4", "backtest.step_days=2", "backtest.horizon_days=3", "ensemble.replications=200",
         "calibration.draws=300"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = next((tmp_path / "results" / "backtest").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["origins"] == ["2023-10-17", "2023-10-19", "2023-10-21", "2023-10-23"]
    assert sorted(p.name for p in (folder / "calibrations").iterdir()) == [
        "2023-10-17.json", "2023-10-19.json", "2023-10-21.json", "2023-10-23.json",
    ]  # fmt: skip
    # Every window lies inside the record (it ends on 26 October); the first US fatality is unknown in each
    # (its interval row straddles every window), the other four thresholds are scored: 4 x 4.
    assert summary["threshold_scores"]["forecasts"] == 16 and summary["threshold_scores"]["left_out"] == 4
    assert summary["days_left_out"] == 0
    assert (folder / "figures" / "backtest_reliability.png").is_file()
    assert not (folder / "calibration.json").exists()  # only the calibrations the backtest used


def test_the_model_beats_no_change_when_attacks_are_self_exciting(tmp_path):
    # A generator with strong revenge (excitation 0.6 per harm unit, provocation memory 4 days): strikes
    # every 25 days, the last three days before the cut-off, set off bursts that die away. The no-change
    # baseline carries the burst's rate forward; the model, calibrated by likelihood on the dated record and
    # warm-started with the strike, forecasts the decay. Fixed seed; the model's mean CRPS must be lower.
    from escalation.fitting import DyadData, intensity
    from escalation.specs import Dist

    rng = np.random.default_rng(33)
    days, horizon = 203, 20
    strikes = np.zeros(days + horizon)
    strikes[np.arange(24, days, 25)] = 1.0
    strikes[days - 3] = 1.0
    truth = np.array([1.0, 0.6, 0.0, 4.0, 30.0])
    data = DyadData(np.zeros(days + horizon), (), 2 * strikes, strikes, np.ones(days + horizon))
    counts = rng.poisson(intensity(truth, data))
    first = dt.date(2023, 1, 1)
    lines = ["event_id,start_date,end_date,attacker,target,kind,count,injured,killed,source"]
    for k in range(days + horizon):
        day = (first + dt.timedelta(days=k)).isoformat()
        if counts[k]:
            lines.append(f"a{k},{day},{day},group,state,attack,{counts[k]},0,0,synthetic")
        if strikes[k]:
            lines.append(f"s{k},{day},{day},state,group,strike,1,,,synthetic")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")

    def gamma(mean: float) -> Dist:
        return Dist("gamma", (("a", 2.0), ("scale", mean / 2.0)))

    scenario = one_dyad_scenario(retaliation={"retaliation_probability": 0.0, "max_level": "target"})
    dyad = scenario.attacks[0]
    scenario = dataclasses.replace(
        scenario,
        attacks=(
            dataclasses.replace(dyad, base_rate=gamma(1.0), excitation=gamma(0.3), deterrence=gamma(0.05),
                                provocation_memory_days=4.0),
        ),
    )  # fmt: skip
    cutoff = first + dt.timedelta(days=days)
    result = run_backtest(load_events(path), scenario, cutoff, horizon, EnsembleSpec(replications=2000),
                          target="state", window_days=5)  # fmt: skip
    summary = result.summary()["forecasters"]
    assert summary["model"]["observations_scored"] >= 10  # the days with attacks after the cut-off
    assert summary["model"]["mean_crps"] < summary["no change"]["mean_crps"]
    assert summary["model"]["crps_skill_vs_no_change"] > 0


def test_climatology_uses_the_same_calendar_window_of_earlier_years(tmp_path):
    lines = ["event_id,start_date,end_date,attacker,target,kind,count,source"]
    for year, count in ((2021, 4), (2022, 6)):  # 1-10 March each year; nothing else
        for day in range(1, 11):
            lines.append(
                f"y{year}d{day},{year}-03-{day:02d},{year}-03-{day:02d},group,state,attack,{count},x"
            )
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    cutoff = dt.date(2023, 3, 1)
    rates = baseline_rates(known_before(load_events(path), cutoff), "state", cutoff, 7, horizon_days=10)
    assert rates["climatology"] == pytest.approx((4 + 6) / 2)  # the March windows of 2022 and 2021
    assert rates["no change"] == 0.0  # nothing in the last week before the cut-off
    short = baseline_rates(
        known_before(load_events(path), dt.date(2021, 6, 1)), "state", dt.date(2021, 6, 1), 7, 10
    )
    assert "climatology" not in short  # the record does not reach back a year
