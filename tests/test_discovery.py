"""Tests of escalation/discovery.py (PRIM boxes, the shallow tree) and of the sensitivity command."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from escalation import sensitivity as sa
from escalation.discovery import discover
from escalation.report.folder import RunFolder
from escalation.report.sensitivity import SUMMARY_FILE, discover_in_design, write_sensitivity
from escalation.specs import EnsembleSpec
from tests.conftest import one_dyad_scenario
from tests.test_cli import escalation, run_folder


def planted(runs: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Five uniform parameters; the outcome has rate 0.9 inside p1 > 0.6 and p3 < 0.3, 0.03 outside."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((runs, 5)), columns=[f"p{i}" for i in range(5)])
    inside = ((x["p1"] > 0.6) & (x["p3"] < 0.3)).to_numpy()
    return x, np.where(inside, rng.random(runs) < 0.9, rng.random(runs) < 0.03)


def test_prim_recovers_a_planted_box():
    x, y = planted()
    found = discover(x, y, "planted")
    first = found.boxes.iloc[0]
    # The box holds 12% of the runs with ~90% of them positive; ~3% positives outside dilute the coverage:
    # the true box's coverage is 0.9 x 0.12 / (0.9 x 0.12 + 0.03 x 0.88) = 0.80.
    assert first["density"] > 0.8 and first["coverage"] > 0.7
    limits = found.limits[found.limits["box"] == 1].set_index("parameter")
    assert set(limits.index) == {"p1", "p3"}
    # PRIM peels 5% of the runs at a step: the limits land within 0.05 of the planted edges.
    assert limits.loc["p1", "low"] == pytest.approx(0.6, abs=0.05) and limits.loc["p1", "high"] > 0.95
    assert limits.loc["p3", "high"] == pytest.approx(0.3, abs=0.05) and limits.loc["p3", "low"] < 0.05
    selected = found.trajectory[found.trajectory["selected"]]
    assert len(selected[selected["box"] == 1]) == 1


def test_a_second_box_is_found_among_the_positives_the_first_leaves():
    # Two planted regions: a > 0.8 (20% of the runs) and b > 0.8 with a < 0.5 (10%), rate 0.9 inside, 0.02
    # outside. Box 1 takes about 2/3 of the positives; the second region holds under 1/3 of all of them, so
    # only a coverage measured against the positives that remain (about 0.85 here) lets box 2 pass 0.5.
    # (PRIM's greedy peeling does not always isolate the first region: at some seeds it peels across both and
    # its best box with coverage >= 0.5 is a wide one. At this seed it isolates it.)
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((4000, 3)), columns=["a", "b", "c"])
    inside = ((x["a"] > 0.8) | ((x["b"] > 0.8) & (x["a"] < 0.5))).to_numpy()
    y = np.where(inside, rng.random(4000) < 0.9, rng.random(4000) < 0.02)
    found = discover(x, y, "two regions")
    assert found.boxes["box"].tolist() == [1, 2]
    second = found.boxes.iloc[1]
    assert second["coverage"] < 0.5 <= second["coverage_of_remaining"]
    assert second["density"] > 0.8
    # PRIM peels 5% of the runs at a step: each limit lands within 0.05 of its planted edge.
    first = found.limits[found.limits["box"] == 1].set_index("parameter")
    assert list(first.index) == ["a"] and first.loc["a", "low"] == pytest.approx(0.8, abs=0.05)
    limits = found.limits[found.limits["box"] == 2].set_index("parameter")
    assert set(limits.index) == {"a", "b"}
    assert limits.loc["b", "low"] == pytest.approx(0.8, abs=0.05)
    assert limits.loc["a", "high"] == pytest.approx(0.5, abs=0.05)


def test_the_shallow_tree_finds_the_planted_conditions():
    x, y = planted()
    leaves = discover(x, y, "planted", max_depth=2).leaves
    best = leaves.iloc[0]
    cuts = dict(re.findall(r"(p\d) [<>]=? ([0-9.]+)", best["rule"]))
    assert set(cuts) == {"p1", "p3"} and "p1 >" in best["rule"] and "p3 <=" in best["rule"]
    # The cuts: over seeds 0-5 they fall within 0.01 of the planted edges. Along p1 the strip inside p3 < 0.3
    # holds 3000 x 0.3 = 900 runs per unit, so moving a cut by 0.03 misplaces ~27 runs of which ~24 go the
    # wrong way (density 0.9 against 0.03): 0.03 allowed.
    assert float(cuts["p1"]) == pytest.approx(0.6, abs=0.03)
    assert float(cuts["p3"]) == pytest.approx(0.3, abs=0.03)
    # The leaf's density: 0.9 with standard error sqrt(0.9 x 0.1 / 360) = 0.016 for its ~360 runs; its
    # coverage 0.9 x 0.12 / (0.9 x 0.12 + 0.03 x 0.88) = 0.80, standard error about 0.02: 3 of each.
    assert best["density"] == pytest.approx(0.9, abs=0.05)
    assert best["coverage"] == pytest.approx(0.80, abs=0.06)


def test_nothing_to_discover_without_positives():
    x, _ = planted(runs=200)
    found = discover(x, np.zeros(200, dtype=bool), "never")
    assert found.boxes.empty and found.leaves.empty
    assert found.note == "nothing to discover: no run has the outcome never"


def test_a_sensitivity_folder_gets_its_tables_figures_and_summary(tmp_path):
    scenario = one_dyad_scenario(
        base_rate={"dist": "uniform", "loc": 0.5, "scale": 4.5},
        kill_probability={"dist": "beta", "a": 1, "b": 30},
        injury_probability={"dist": "beta", "a": 2, "b": 8},
        horizon_days=20,
    )
    spec = sa.SensitivitySpec(base_samples=256, horizons=(20,), seed=2)
    result = sa.run_sensitivity(spec, scenario, EnsembleSpec(seed=1))
    discovery = discover_in_design(result, "first_fatality@20")
    assert discovery.runs == 2 * 256  # the A and B rows only
    folder = RunFolder(tmp_path / "run", {"experiment": "test"})
    summary = write_sensitivity(result, discovery, folder, experiment="test", formats=("png",))
    folder.finish("ok")
    for table in ("sensitivity_indices", "sensitivity_design", "discovery_boxes", "discovery_tree"):
        assert (tmp_path / "run" / "tables" / f"{table}.parquet").stat().st_size > 0
    figures = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {
        "tornado_first_fatality_20.png",
        "indices_cumulative_state_20.png",
        "prim_first_fatality_20.png",
    } <= figures
    written = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert written == json.loads(json.dumps(summary))
    rate, injury, kill = (
        f"attacks.group->state.{n}" for n in ("base_rate", "injury_probability", "kill_probability")
    )
    assert [f["name"] for f in written["factors"]] == [rate, injury, kill, sa.RANDOMNESS]
    assert (
        written["design_runs"]
        == 256 * (4 + 2)
        == len(pd.read_parquet(folder.tables / "sensitivity_design.parquet"))
    )
    # The fatality risk rises with the kill probability and the rate; the injury probability touches neither
    # headline, so its runs repeat their base runs and its ST is exactly 0 (and it is listed last or absent).
    fatality = {t["factor"]: t for t in written["headlines"]["first_fatality@20"]["top_factors"]}
    assert written["headlines"]["first_fatality@20"]["top_factors"][0]["factor"] == kill
    assert fatality[injury]["ST"] == 0.0
    cumulative = written["headlines"]["cumulative:state@20"]["top_factors"]
    assert cumulative[0]["factor"] == rate
    # Var(attacks by day 20) = 20 E[rate] + 400 Var(rate): the rate's share 675 / (55 + 675) = 0.92; two 95%
    # half-widths (~4 SE) allowed.
    assert cumulative[0]["ST"] == pytest.approx(675 / 730, abs=2 * cumulative[0]["ST_conf"])
    indices = pd.read_parquet(folder.tables / "sensitivity_indices.parquet")
    assert len(indices) == 2 * 4 and set(indices["headline"]) == {"first_fatality@20", "cumulative:state@20"}
    # Discovery: a first fatality is likelier with a higher kill probability or rate, so box 1 bounds one of
    # them from below, above the factor's smallest design value.
    box = written["discovery"]["boxes"][0]
    assert box["density"] > written["headlines"]["first_fatality@20"]["mean"]
    design = pd.read_parquet(folder.tables / "sensitivity_design.parquet")
    raised = [lim for lim in box["limits"] if lim["low"] > design[lim["parameter"]].min() + 1e-9]
    assert {lim["parameter"] for lim in raised} & {rate, kill}


def test_the_command_refuses_a_sobol_design_whose_size_is_not_a_power_of_two(tmp_path):
    done = escalation(tmp_path, "experiment=sensitivity", "sensitivity.base_samples=100")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "sensitivity.base_samples: Sobol' sequences need a power of 2, got 100" in line
    misspelt = escalation(tmp_path, "experiment=sensitivity", "sensitivity.base_sample=64")
    assert misspelt.returncode == 2 and "sensitivity.base_sample: unknown key" in misspelt.stderr


@pytest.mark.slow
def test_the_sensitivity_command_writes_a_complete_run_folder(tmp_path):
    done = escalation(
        tmp_path,
        "experiment=sensitivity",
        "sensitivity.base_samples=8",
        "sensitivity.horizons=[180]",
        "experiment.figure_formats=[png]",
        "calibration.draws=500",
    )
    assert done.returncode == 0, done.stderr
    folder = run_folder(tmp_path, "sensitivity")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["mode"] == "sensitivity"
    assert manifest["design_runs"] == 8 * (
        len(json.loads((folder / SUMMARY_FILE).read_text())["factors"]) + 2
    )
    indices = pd.read_parquet(folder / "tables" / "sensitivity_indices.parquet")
    assert set(indices["headline"]) == {
        "first_us_fatality@180", "us_strikes_iran@180", "iran_israel_direct@180", "regional_war@180",
        "us_strikes_houthis@180", "cumulative:us@180", "cumulative:israel@180", "cumulative:shipping@180",
    }  # fmt: skip
    assert "randomness" in set(indices["factor"])
    figures = {p.name for p in (folder / "figures").iterdir()}
    assert {"tornado_cumulative_us_180.png", "indices_cumulative_us_180.png"} <= figures
    assert (folder / "tables" / "discovery_boxes.parquet").is_file()
    assert "Sensitivity (sobol, N = 8)" in done.stdout and "Run folder:" in done.stdout
