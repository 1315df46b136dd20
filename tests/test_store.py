"""Tests of shared calibrations (escalation.calibration.shared_calibration and the sweep points of
escalation/cli.py) and of a sweep's results store (escalation/report/sweep.py, docs/sweeps.md)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import escalation as esc
import escalation.calibration as calibration_module
from escalation.calibration import Calibration, calibrate, calibration_key, shared_calibration
from escalation.report.sweep import aggregate_sweep
from escalation.specs import Dist
from tests.test_sweep import TINY, escalation, sweep_dir

DRAWS = 200
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sweeps.md"


def policies_with(scenario, state: str, **changes):
    return tuple(dataclasses.replace(p, **changes) if p.state == state else p for p in scenario.policies)


@pytest.fixture(scope="module")
def inputs():
    events = esc.load_builtin_events()
    return events, esc.default_scenario()


def test_fields_the_calibration_does_not_read_leave_it_and_its_key_unchanged(inputs):
    events, scenario = inputs
    base = calibrate(events, scenario, draws=DRAWS)
    driver = next(d for d in scenario.drivers if d.date >= scenario.start)  # in force after the cut-off
    changed = {
        "policy.us.proportionality": dataclasses.replace(
            scenario, policies=policies_with(scenario, "us", proportionality=0.3)
        ),
        "policy.us.max_strikes_per_day": dataclasses.replace(
            scenario, policies=policies_with(scenario, "us", max_strikes_per_day=2)
        ),
        "horizon_days": dataclasses.replace(scenario, horizon_days=30),
        "thresholds": dataclasses.replace(scenario, thresholds=scenario.thresholds[:1]),
        "description": dataclasses.replace(scenario, description="another line"),
        "tracked_targets": dataclasses.replace(scenario, tracked_targets=()),
        f"drivers.{driver.name}.factor": dataclasses.replace(
            scenario,
            drivers=tuple(
                dataclasses.replace(d, factor=0.123) if d.name == driver.name else d for d in scenario.drivers
            ),
        ),
    }
    for what, other in changed.items():
        assert calibration_key(events, other, draws=DRAWS) == calibration_key(
            events, scenario, draws=DRAWS
        ), what
        again = calibrate(events, other, draws=DRAWS)
        assert again.hash == base.hash, what
        for path, values in base.draws.items():
            np.testing.assert_array_equal(again.draws[path], values, err_msg=what)


def test_a_calibration_input_changes_the_key(inputs):
    events, scenario = inputs
    key = calibration_key(events, scenario, draws=DRAWS)
    rho = dataclasses.replace(scenario, policies=policies_with(scenario, "us", retaliation_probability=0.3))
    prior = dataclasses.replace(
        scenario,
        policies=policies_with(scenario, "us", threshold=Dist("gamma", (("a", 3.0), ("scale", 20.0)))),
    )
    early = dataclasses.replace(
        scenario,
        drivers=tuple(
            dataclasses.replace(d, date=scenario.start - dt_days(30)) if i == 0 else d
            for i, d in enumerate(scenario.drivers)
        ),
    )
    others = {
        "a fixed US strike probability (the threshold's posterior depends on it)": (events, rho, {}),
        "another prior of a calibrated parameter": (events, prior, {}),
        "a driver in force before the cut-off": (events, early, {}),
        "more draws": (events, scenario, {"draws": DRAWS + 1}),
        "another seed": (events, scenario, {"seed": 1}),
        "another method": (events, scenario, {"method": "grid"}),
        "other priors": (events, scenario, {"priors": "hand"}),
        "an earlier cut-off": (events, scenario, {"cutoff": scenario.start - dt_days(10)}),
        "other data": (dataclasses.replace(events, data_hash="0" * 64), scenario, {}),
    }
    keys = {what: calibration_key(e, s, **{"draws": DRAWS, **kw}) for what, (e, s, kw) in others.items()}
    for what, other in keys.items():
        assert other != key, what
    assert len(set(keys.values())) == len(keys)
    # The fixed strike probability really moves the calibration: sharing it would be wrong.
    assert calibrate(events, rho, draws=DRAWS).hash != calibrate(events, scenario, draws=DRAWS).hash


def dt_days(n: int):
    import datetime as dt

    return dt.timedelta(days=n)


def test_points_that_differ_only_in_an_unread_lever_share_one_exact_calibration(
    inputs, tmp_path, monkeypatch
):
    events, scenario = inputs
    monkeypatch.setattr(calibration_module, "_MEMORY", {})
    direct = calibrate(events, scenario, draws=DRAWS)
    first, path, computed = shared_calibration(tmp_path, events, scenario, draws=DRAWS)
    assert computed and path.parent == tmp_path and path.is_file()
    other = dataclasses.replace(scenario, policies=policies_with(scenario, "us", proportionality=0.3))
    monkeypatch.setattr(calibration_module, "_MEMORY", {})  # as another process: read from the file
    second, second_path, computed = shared_calibration(tmp_path, events, other, draws=DRAWS)
    assert not computed and second_path == path
    assert second.hash == first.hash == direct.hash
    for key, values in direct.draws.items():
        np.testing.assert_array_equal(second.draws[key], values)  # full precision, not the rounded artefact
    assert Calibration.load(path).hash == direct.hash  # the shared file is a calibration artefact
    rho = dataclasses.replace(scenario, policies=policies_with(scenario, "us", retaliation_probability=0.3))
    third, third_path, computed = shared_calibration(tmp_path, events, rho, draws=DRAWS)
    assert computed and third_path != path and third.hash != direct.hash
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, third_path.name])


def test_a_shared_file_with_another_key_inside_is_not_used(inputs, tmp_path, monkeypatch):
    events, scenario = inputs
    monkeypatch.setattr(calibration_module, "_MEMORY", {})
    _, path, _ = shared_calibration(tmp_path, events, scenario, draws=DRAWS)
    data = json.loads(path.read_text())
    data["calibration_key"] = "something else"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(calibration_module, "_MEMORY", {})
    _, again, computed = shared_calibration(tmp_path, events, scenario, draws=DRAWS)
    assert computed and again == path
    assert json.loads(path.read_text())["calibration_key"] == path.stem


# ---------------------------------------------------------------------------------------------------------
# A real tiny sweep: 2 US strike probabilities (a calibration input) x 2 strike sizes (not read by it)

POINTS = [
    "experiment=deterrence_sweep",
    "policy.us.retaliation_probability=0.3,0.6",
    "policy.us.proportionality=0.05,0.1",
]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same sweep with shared calibrations and with every point calibrating itself."""
    folders = {}
    for name, env in (("shared", {}), ("own", {"ESCALATION_NO_SHARED_CALIBRATION": "1"})):
        root = tmp_path_factory.mktemp(name)
        done = escalation(root, *POINTS, "policy.iran.memory_days=50", *TINY, env={**_environ(), **env})
        assert done.returncode == 0, done.stderr
        folders[name] = sweep_dir(root)
    return folders


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "ESCALATION_NO_SHARED_CALIBRATION"}


@pytest.mark.slow
def test_a_sweep_shares_calibrations_only_between_points_with_the_same_inputs(sweeps):
    sweep = sweeps["shared"]
    files = sorted((sweep / "calibrations").glob("*.json"))
    assert len(files) == 2  # one per US strike probability, shared by its two strike sizes
    manifests = {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/manifest.json")}
    assert len(manifests) == 4
    by_rho: dict[str, set[str]] = {}
    for name, manifest in manifests.items():
        rho = re.search(r"retaliation_probability=([\d.]+)", name).group(1)
        by_rho.setdefault(rho, set()).add(manifest["calibration_key"])
        assert (sweep / name / manifest["calibration_file"]).resolve() == (
            sweep / "calibrations" / f"{manifest['calibration_key']}.json"
        )
        assert not (sweep / name / "calibration.json").exists()
    assert all(len(keys) == 1 for keys in by_rho.values()) and len(set.union(*by_rho.values())) == 2
    logs = "".join(p.read_text() for p in sweep.glob("*/escalation.log"))
    assert logs.count("computed calibration") == 2 and logs.count("shared calibration") == 2
    # Without sharing every point writes its own calibration.json, and the results are exactly the same.
    own = sweeps["own"]
    assert not (own / "calibrations").exists() and len(list(own.glob("*/calibration.json"))) == 4
    for table in ("sweep_summary.parquet", "sweep_differences.parquet", "store/headline.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(sweep / table), pd.read_parquet(own / table))
    pd.testing.assert_frame_equal(
        pd.read_parquet(sweep / "store/replications.parquet"),
        pd.read_parquet(own / "store/replications.parquet"),
    )


@pytest.mark.slow
def test_every_lever_swept_or_fixed_is_a_column_of_the_store_and_of_each_points_replications(sweeps):
    sweep = sweeps["shared"]
    fixed = {
        "policy.iran.memory_days": 50.0,
        "ensemble.replications": 80.0,
        "policy.us.max_level": "patron_assets",
    }
    headline = pd.read_parquet(sweep / "store/headline.parquet")
    replications = pd.read_parquet(sweep / "store/replications.parquet")
    for table in (headline, replications):
        for key, value in fixed.items():
            assert (table[key] == value).all(), key
        assert sorted(table["policy.us.retaliation_probability"].unique()) == [0.3, 0.6]
    assert replications["policy.us.threshold"].iloc[0] == json.dumps(
        {"a": 2.0, "dist": "gamma", "scale": 20.0}, sort_keys=True
    )
    for folder in (p.parent.parent for p in sweep.glob("*/tables/replications.parquet")):
        own = pd.read_parquet(folder / "tables/replications.parquet")
        assert (own["policy.iran.memory_days"] == 50.0).all()
        assert own["policy.us.proportionality"].nunique() == 1
        point = replications[replications["point"] == folder.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(point[own.columns], own, check_dtype=False)
    # The headline numbers are the points' own summaries, value for value.
    for row in headline.itertuples():
        summary = json.loads((sweep / row.point / "summary.json").read_text())
        value = summary["arms"][row.arm]["thresholds"][row.threshold]["by_day"][str(row.horizon_days)]
        assert (row.probability, row.lower, row.upper) == (
            value["probability"],
            value["lower"],
            value["upper"],
        )


def doc_blocks() -> list[str]:
    """The Python blocks of docs/sweeps.md's "Querying a sweep" section."""
    section = DOCS.read_text().split("## Querying a sweep", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_the_documented_queries_answer_from_the_store(sweeps):
    pytest.importorskip("duckdb")
    sweep = sweeps["shared"]
    blocks = doc_blocks()
    assert len(blocks) == 3
    results = []
    for block in blocks:
        code = block.replace('sweep = "results/sweeps/deterrence_sweep"', f"sweep = {str(sweep)!r}")
        assert code != block
        namespace: dict = {}
        exec(compile(code, str(DOCS), "exec"), namespace)
        results.append(namespace)
    points = {
        p.name: json.loads((p / "summary.json").read_text())
        for p in sweep.iterdir()
        if (p / "summary.json").is_file()
    }

    def probability(rho: float, size: float, threshold: str, horizon: int) -> float:
        name = next(
            n for n in points if f"proportionality={size}," in n and f"retaliation_probability={rho}" in n
        )
        arm = next(iter(points[name]["arms"].values()))
        return arm["thresholds"][threshold]["by_day"][str(horizon)]["probability"]

    grid = results[0]["grid"]  # pandas
    assert grid.shape == (2, 2)
    for rho in (0.3, 0.6):
        for size in (0.05, 0.1):
            assert grid.loc[rho, size] == probability(rho, size, "us_strikes_iran", 180)
    assert results[1]["chosen"].num_rows == 2 * 80  # pyarrow.dataset: the points with strike size 0.05
    by_probability = results[1]["by_probability"].to_pandas().set_index("policy.us.retaliation_probability")
    assert sorted(by_probability.index) == [0.3, 0.6]
    for rho in (0.3, 0.6):
        assert by_probability.loc[rho, "struck_mean"] == pytest.approx(
            probability(rho, 0.05, "us_strikes_iran", 90), abs=1e-12
        )
    by_point = results[2]["by_point"]  # DuckDB
    assert len(by_point) == 4 and (by_point["replications"] == 80).all()
    for row in by_point.itertuples():
        assert row.regional_war_180 == pytest.approx(
            probability(row.strike_probability, row.strike_size, "regional_war", 180), abs=1e-12
        )


@pytest.mark.slow
def test_a_sweep_folder_with_only_its_store_aggregates_to_the_same_tables(sweeps, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweeps["shared"] / "store", copy / "store")
    info = aggregate_sweep(copy, formats=("png",))
    assert info["points_complete"] == 4
    for table in ("sweep_summary.parquet", "sweep_differences.parquet", "sweep_robustness.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(copy / table), pd.read_parquet(sweeps["shared"] / table)
        )
