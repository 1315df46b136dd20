"""Every experiment file and every config group option composes and converts to specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from escalation import cli

CONFIG_DIR = Path(cli.CONFIG_DIR)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def compose_config(*overrides: str):
    cli._register_schema()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_and_converts(experiment):
    cfg = compose_config(f"experiment={experiment}", "calibration.draws=200")
    inputs = cli.prepare_inputs(cfg)
    spec, ensemble, events = inputs.spec, inputs.ensemble, inputs.events
    calibration = cli.calibrate_inputs(cfg, inputs)
    assert spec.name == experiment
    assert spec.reference in {arm.name for arm in spec.arms}
    assert ensemble.replications == cfg.ensemble.replications
    assert calibration.data_hash == events.data_hash


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g in ("scenario", "actors", "policy", "ensemble", "data") for o in options(g)],
)
def test_every_group_option_composes(group, option):
    cfg = compose_config(f"{group}={option}", "calibration.draws=200")
    cli.calibrate_inputs(cfg, cli.prepare_inputs(cfg))


def test_arms_differ_only_by_their_overrides():
    cfg = compose_config("experiment=ground_invasion_timing", "calibration.draws=200")
    spec = cli.prepare_inputs(cfg).spec
    now, later = (arm.scenario for arm in spec.arms)
    assert [d.date.isoformat() for d in now.drivers if d.name == "ground_invasion"] == ["2023-10-28"]
    assert [d.date.isoformat() for d in later.drivers if d.name == "ground_invasion"] == ["2023-11-26"]
    assert now.attacks == later.attacks and now.policies == later.policies


def test_experiment_files_state_their_question_and_command():
    for path in (CONFIG_DIR / "experiment").glob("*.yaml"):
        text = path.read_text()
        assert text.startswith("# @package _global_"), path.name
        assert "# Question" in text and f"# Command: escalation experiment={path.stem}" in text, path.name
