"""The ``escalation`` command: a thin Hydra shell around the library.

It composes the config tree in ``escalation/configs`` (validated by :mod:`escalation.schema`), turns it into
the library's frozen specs, runs the experiment into Hydra's output folder and prints a short summary. This is
the only module that imports Hydra and OmegaConf.

User errors (a misspelt key, a probability of 1.5, an unknown actor, a missing event file) end the command
with one line on standard error and exit code 2; a run folder that was already made says ``failed`` in its
manifest and holds no summary.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from escalation.schema import Config

CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")
USAGE_ERROR = 2
log = logging.getLogger("escalation")


class UserError(Exception):
    """An error in the user's config or data; reported in one line, without a traceback."""


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True)


def _arm_config(cfg: DictConfig, name: str, overrides: list[str]) -> DictConfig:
    """The config of one experiment arm: the composed config with the arm's ``key=value`` overrides."""
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:
        raise UserError(f"experiment.arms.{name}.set: {_one_line(err)}") from None


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a task needs from the composed config, validated: the experiment, the ensemble and the events.

    ``spec.scenario`` is the scenario as configured, before any arm's overrides: the one a task calibrates.
    """

    spec: Any  # escalation.experiment.ExperimentSpec
    ensemble: Any  # escalation.specs.EnsembleSpec
    events: Any  # escalation.events.EventLog


def prepare_inputs(cfg: DictConfig) -> Inputs:
    """Turn the composed config into specs and events (raising UserError for bad input); no calibration."""
    from escalation.events import EventDataError, load_builtin_events, load_events
    from escalation.experiment import Arm, ExperimentSpec
    from escalation.specs import EnsembleSpec, SpecError, build_scenario

    try:
        experiment = cfg.experiment
        configured = build_scenario(_container(cfg.scenario), _container(cfg.actors), _container(cfg.policy))
        arm_settings = dict(experiment.arms) or {experiment.name: {"label": experiment.name, "set": []}}
        arms = []
        for name, arm in arm_settings.items():
            arm_cfg = _arm_config(cfg, name, list(arm["set"]))
            scenario = build_scenario(
                _container(arm_cfg.scenario), _container(arm_cfg.actors), _container(arm_cfg.policy)
            )
            arms.append(Arm(name=name, label=str(arm["label"] or name), scenario=scenario))
        ensemble = EnsembleSpec(**_container(cfg.ensemble))
        if cfg.data.path:
            events = load_events(cfg.data.path, actors=configured.actor_names)
        else:
            events = load_builtin_events(actors=configured.actor_names)
        if experiment.interval_method not in ("wilson", "jeffreys"):
            raise UserError(
                f"experiment.interval_method: unknown {experiment.interval_method!r}; "
                "allowed: wilson, jeffreys"
            )
        if not 0 < experiment.level < 1:
            raise UserError(f"experiment.level: must be in (0, 1), got {experiment.level}")
        _check_figure_formats(list(experiment.figure_formats))
        if int(cfg.calibration.draws) < 2:
            raise UserError(f"calibration.draws: must be an integer >= 2, got {cfg.calibration.draws}")
        spec = ExperimentSpec(
            name=str(experiment.name),
            question=str(experiment.question or experiment.name),
            arms=tuple(arms),
            reference=str(experiment.reference_arm or arms[0].name),
            horizons=tuple(int(h) for h in experiment.horizons),
            level=float(experiment.level),
            method=str(experiment.interval_method),
            figure_formats=tuple(str(f) for f in experiment.figure_formats),
            figures=bool(experiment.figures),
            scenario=configured,
        )
    except (SpecError, EventDataError, ValueError) as err:
        raise UserError(str(err)) from None
    return Inputs(spec, ensemble, events)


def calibrate_inputs(cfg: DictConfig, inputs: Inputs):
    """Calibrate the scenario as configured (before any arm's overrides) on the events."""
    from escalation.calibration import calibrate

    configured = inputs.spec.scenario
    cutoff = _date("calibration.cutoff", cfg.calibration.cutoff) if cfg.calibration.cutoff else None
    if cutoff is not None and cutoff > configured.start:
        raise UserError(
            f"calibration.cutoff: {cutoff} is after the scenario's start {configured.start}; a calibration "
            "may use only events before the forecast (allowed: a date up to the start)"
        )
    try:
        return calibrate(
            inputs.events,
            configured,
            cutoff=cutoff,
            draws=int(cfg.calibration.draws),
            seed=int(cfg.calibration.seed),
            method=str(cfg.calibration.method),
        )
    except ValueError as err:
        raise UserError(str(err)) from None


def _check_figure_formats(formats: list[str]) -> None:
    from matplotlib.figure import Figure

    supported = Figure().canvas.get_supported_filetypes()
    unknown = [f for f in formats if f not in supported]
    if unknown or not formats:
        raise UserError(
            f"experiment.figure_formats: unknown format {unknown[0] if unknown else '(none)'}; "
            f"allowed: {', '.join(sorted(supported))}"
        )


def _date(key: str, text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise UserError(f"{key}: expected a date YYYY-MM-DD, got {text!r}") from None


def _print_summary(summary, folder: Path) -> None:
    """Print a run's headline probabilities (the typed :class:`~escalation.report.summary.RunSummary`)."""
    horizon = max(summary.horizons)
    lines = [
        "",
        summary.question,
        f"{summary.replications:,} replications, seed {summary.seed}; "
        f"{round(100 * summary.level)}% intervals; by day {horizon}:",
    ]
    for arm in summary.arms.values():
        if len(summary.arms) > 1:
            lines.append(f"  [{arm.label}]")
        for threshold in arm.thresholds.values():
            value = threshold.by_day[horizon]
            lines.append(
                f"    {threshold.label:<45} {100 * value.probability:5.1f}%  "
                f"({100 * value.lower:.1f}-{100 * value.upper:.1f})"
            )
    lines.append(f"Run folder: {folder}")
    _report(lines)


def _report(lines: list[str]) -> None:
    """Print lines for the user and keep them in the run's log (``escalation.log`` in the run folder)."""
    for line in lines:
        print(line, flush=True)
        if line:
            log.info(line.strip())


def _config_hash(cfg: DictConfig) -> str:
    """sha256 of what determines a run's results: the resolved config, the event data and the version."""
    import hashlib

    from escalation import __version__
    from escalation.events import builtin_events_path

    data = Path(cfg.data.path) if cfg.data.path else builtin_events_path()
    try:
        data_hash = hashlib.sha256(data.read_bytes()).hexdigest()
    except OSError:
        data_hash = "unreadable"  # the run itself reports the missing file
    text = f"{OmegaConf.to_yaml(cfg, resolve=True)}\ndata: {data_hash}\nversion: {__version__}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ensemble_workers(cfg: DictConfig) -> int:
    """Ensemble worker processes, reduced so that parallel sweep jobs and their workers share the cores."""
    requested = int(cfg.ensemble.workers)
    launcher = HydraConfig.get().launcher
    jobs = int(launcher.get("n_jobs", 1) or 1) if "n_jobs" in launcher else 1
    cores = os.cpu_count() or 1
    jobs = cores if jobs < 0 else jobs
    return max(1, min(requested, cores // max(jobs, 1)))


def run(cfg: DictConfig) -> None:
    """Run one experiment, backtest or sweep point into Hydra's output folder."""
    from hydra.types import RunMode

    from escalation.report.folder import read_manifest

    logging.getLogger("MESA").setLevel(logging.WARNING)
    hydra_cfg = HydraConfig.get()
    output = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    point = f"[point {hydra_cfg.job.num}] {hydra_cfg.job.override_dirname or 'defaults'}" if sweeping else ""
    config_hash = _config_hash(cfg)
    done = read_manifest(output) or {}
    complete = done.get("status") == "ok" and (output / "summary.json").is_file()
    if sweeping and complete and done.get("config_hash") == config_hash:
        _report([f"{point}: already complete, skipped"])
        return
    task = backtest_task if cfg.backtest.cutoff else experiment_task
    summary = _run_task(task, cfg, output, config_hash, sweeping)
    if cfg.backtest.cutoff:
        _print_backtest(summary, output)
    elif sweeping:
        _report([f"{point}: {summary.headline()}"])
    else:
        _print_summary(summary, output)


def _run_task(task, cfg: DictConfig, output: Path, config_hash: str, sweeping: bool):
    """The task wrapper: opens the run folder and its manifest, runs the task, and closes the manifest.

    The manifest says ``ok`` only after the task has written everything; a user error closes it as
    ``failed`` and ends the command with one line and exit code 2; an interruption closes it as
    ``interrupted``; any other error as ``failed`` with the error.
    """
    from escalation.report.folder import RunFolder, atomic_write_text

    hydra_cfg = HydraConfig.get()
    workers = _ensemble_workers(cfg)
    folder = RunFolder(
        output,
        {
            "experiment": str(cfg.experiment.name),
            "mode": "backtest" if cfg.backtest.cutoff else "experiment",
            "seed": int(cfg.ensemble.seed),
            "replications": int(cfg.ensemble.replications),
            "chunk_size": int(cfg.ensemble.chunk_size),
            "workers": workers,
            "overrides": list(hydra_cfg.overrides.task),
            "config_hash": config_hash,
        },
    )
    atomic_write_text(folder.path / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    try:
        inputs = prepare_inputs(cfg)
        ensemble = dataclasses.replace(
            inputs.ensemble, workers=workers, progress=inputs.ensemble.progress and not sweeping
        )
        inputs = dataclasses.replace(inputs, ensemble=ensemble)
        folder.record(
            data_path=str(inputs.events.path),
            data_hash=inputs.events.data_hash,
            root_seed_entropy=ensemble.seed,
            arms=[arm.name for arm in inputs.spec.arms],
        )
        summary = task(cfg, inputs, folder)
    except KeyboardInterrupt:
        folder.finish("interrupted")
        raise
    except UserError as err:
        folder.finish("failed", str(err))
        log.error(str(err))
        # Exit from the job itself: Hydra would otherwise add its own line about the failed job.
        print(f"escalation: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except BaseException as err:
        folder.finish("failed", f"{type(err).__name__}: {err}")
        raise
    folder.finish("ok")
    return summary


def experiment_task(cfg: DictConfig, inputs: Inputs, folder):
    """Calibrate the configured scenario once, run every arm, write the outputs; returns the summary."""
    from escalation.experiment import run_experiment
    from escalation.report.experiment import write_experiment

    calibration = calibrate_inputs(cfg, inputs)
    log.info("calibrated %s on %s (%s)", inputs.spec.scenario.name, inputs.events.path, calibration.hash[:12])
    calibration.save(folder.path / "calibration.json")
    folder.record(calibration_hash=calibration.hash)
    result = run_experiment(inputs.spec, inputs.ensemble, inputs.events, calibration)
    for name, arm in result.results.items():
        log.info("arm %s: %d replications simulated in %.2f s", name, arm.replications, arm.elapsed_seconds)
    folder.record(simulation_seconds=round(sum(r.elapsed_seconds for r in result.results.values()), 3))
    summary = write_experiment(result, folder)
    log.info("tables, figures and summary written to %s", folder.path)
    return summary


def backtest_task(cfg: DictConfig, inputs: Inputs, folder) -> dict:
    """Run the backtest the config asks for (one origin or rolling origins), calibrating at each cut-off."""
    from escalation.backtest import run_backtest, run_rolling_backtest
    from escalation.report.backtest import write_backtest, write_rolling_backtest

    cutoff = _date("backtest.cutoff", cfg.backtest.cutoff)
    for key in ("horizon_days", "origins", "step_days"):
        if int(cfg.backtest[key]) < 1:
            raise UserError(f"backtest.{key}: must be an integer >= 1, got {cfg.backtest[key]}")
    options = {
        "target": str(cfg.backtest.target),
        "window_days": int(cfg.backtest.window_days),
        "calibration_draws": int(cfg.calibration.draws),
        "calibration_seed": int(cfg.calibration.seed),
        "calibration_method": str(cfg.calibration.method),
    }
    spec, horizon, origins = inputs.spec, int(cfg.backtest.horizon_days), int(cfg.backtest.origins)
    scenario = spec.scenario
    try:
        if origins > 1:
            step = int(cfg.backtest.step_days)
            rolling = run_rolling_backtest(
                inputs.events, scenario, cutoff, origins, step, horizon, inputs.ensemble, **options
            )
            folder.record(backtest_origins=[r.cutoff.isoformat() for r in rolling.results])
            return write_rolling_backtest(rolling, folder, experiment=spec.name, formats=spec.figure_formats)
        result = run_backtest(inputs.events, scenario, cutoff, horizon, inputs.ensemble, **options)
    except ValueError as err:
        raise UserError(str(err)) from None
    folder.record(backtest_cutoff=cutoff.isoformat(), calibration_hash=result.calibration.hash)
    return write_backtest(result, folder, experiment=spec.name, formats=spec.figure_formats)


def _print_backtest(summary: dict, folder: Path) -> None:
    origins = ", ".join(summary.get("origins") or [summary["cutoff"]])
    lines = [
        "",
        f"Backtest from {origins} over {summary['horizon_days']} days, attacks on {summary['target']}:",
    ]
    for name, entry in summary["forecasters"].items():
        scored = entry["observations_scored"]
        lines.append(f"  {name:<14} mean CRPS {entry['mean_crps']:.2f} over {scored} observations")
    if not summary["forecasters"]:
        lines.append("  no exactly known count after the cut-off to score (lower bounds only)")
    if summary.get("days_left_out"):
        lines.append(
            f"  {summary['days_left_out']} forecast day(s) not scored: {summary['days_left_out_reason']}"
        )
    for row in summary.get("thresholds", []):
        happened = "unknown" if row["happened"] is None else row["happened"]
        lines.append(f"  {row['label']:<42} forecast {100 * row['probability']:5.1f}%  happened: {happened}")
    scores = summary["threshold_scores"]
    if scores["forecasts"]:
        lines.append(
            f"  named thresholds: mean Brier {scores['mean_brier']:.3f} over {scores['forecasts']} forecasts"
        )
    if scores["left_out"]:
        lines.append(f"  {scores['left_out']} threshold forecast(s) not scored: {scores['left_out_reason']}")
    lines.append(f"Run folder: {folder}")
    _report(lines)


_FINISHED_SWEEPS: list[Path] = []


class AggregateSweep(Callback):
    """Hydra callback: note each finished multirun's sweep folder, for :func:`main` to aggregate.

    Hydra reports an exception raised inside a callback only as a warning, so the aggregation itself runs in
    :func:`main` after Hydra returns, where a problem can end the command with a clear error and exit code.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Remember the sweep folder of the multirun that just ended."""
        _FINISHED_SWEEPS.append(Path(config.hydra.sweep.dir))


def _aggregate(sweep_dir: Path) -> None:
    from escalation.report.sweep import SweepError, aggregate_sweep

    try:
        info = aggregate_sweep(sweep_dir)
    except SweepError as err:
        raise UserError(str(err)) from None
    _print_sweep(info, sweep_dir)


def _print_sweep(info: dict, sweep_dir: Path) -> None:
    lines = ["", f"Sweep: {info['points_complete']} points complete over {', '.join(info['levers'])}"]
    if info["points_left_out"]:
        lines.append(
            f"Left out: {', '.join(info['points_left_out'])} (rerun the sweep's command to finish a point)"
        )
    lines.append(f"Sweep folder: {sweep_dir} (sweep_summary.parquet, sweep_differences.parquet, figures/)")
    for line in lines:
        print(line, flush=True)


def report_main(argv: list[str] | None = None) -> None:
    """Entry point of ``escalation-report``: re-aggregate an existing sweep folder without re-running it."""
    import argparse

    from escalation.report.sweep import SweepError, aggregate_sweep

    parser = argparse.ArgumentParser(
        prog="escalation-report",
        description="Aggregate the points of a sweep folder (from escalation -m) into tables and figures.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder, e.g. results/sweeps/deterrence_sweep")
    parser.add_argument(
        "--formats", default="png,svg", help="figure formats, comma-separated (default png,svg)"
    )
    args = parser.parse_args(argv)
    try:
        info = aggregate_sweep(args.sweep_dir, formats=tuple(f for f in args.formats.split(",") if f))
    except SweepError as err:
        print(f"escalation-report: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    _print_sweep(info, args.sweep_dir)


def _one_line(err: BaseException) -> str:
    """A one-line description of a config error, naming the key and what is allowed where known."""
    parts = []
    seen: BaseException | None = err
    while seen is not None and len(parts) < 3:
        text = " ".join(str(seen).split()).split(' """ Traceback')[0]  # drop a worker's remote traceback
        key = getattr(seen, "full_key", None)
        if isinstance(seen, OmegaConfBaseException):
            text = text.split(" full_key:")[0].split(" object_type=")[0]
            allowed = _allowed_keys(getattr(seen, "object_type", None))
            if "not in" in text and allowed:
                text = f"{text}; allowed: {allowed}"
        if key:
            text = f"{key}: {text}"
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__
    return " - ".join(parts) or type(err).__name__


def _allowed_keys(object_type: Any) -> str:
    fields = getattr(object_type, "__dataclass_fields__", None)
    return ", ".join(fields) if fields else ""


def _register_schema() -> None:
    ConfigStore.instance().store(name="escalation_schema", node=Config)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def sweep_folder_override(args: list[str]) -> str | None:
    """The ``hydra.sweep.dir`` override that gives an ad-hoc sweep its own folder, or None.

    A command line that sweeps keys itself (``key=a,b``, ``range(...)``) is an ad-hoc sweep: it gets the
    folder ``results/sweeps/<experiment>--<swept keys>-<hash of the sweep's overrides>``, so a second one of
    the same experiment never overwrites the first one's aggregate, and rerunning the same command finds its
    own folder again (resume). An experiment's own sweep keeps ``results/sweeps/<experiment>``; a command line
    that sets ``hydra.sweep.dir`` keeps it.
    """
    import hashlib

    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [a for a in args if not a.startswith("-") and "=" in a]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except HydraException:
        return None  # Hydra reports the malformed override itself
    if any(o.key_or_group == "hydra.sweep.dir" for o in overrides):
        return None
    swept = sorted(
        (o for o in overrides if o.is_sweep_override() and not o.key_or_group.startswith("hydra")),
        key=lambda o: o.key_or_group,
    )
    if not swept:
        return None
    digest = hashlib.sha256("\n".join(o.input_line for o in swept).encode("utf-8")).hexdigest()[:8]
    keys = "+".join(o.key_or_group for o in swept)
    return f"hydra.sweep.dir=results/sweeps/${{experiment.name}}--{keys}-{digest}"


def main() -> None:
    """Entry point of the ``escalation`` console script."""
    from escalation import __version__

    if "--version" in sys.argv[1:]:
        print(f"escalation {__version__}")
        return
    # Errors propagate to this function, which reports them in one line (Hydra would print a stack summary).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _register_schema()
    folder = sweep_folder_override(sys.argv[1:])
    if folder is not None:
        sys.argv.append(folder)
    try:
        _hydra_main()
        while _FINISHED_SWEEPS:
            _aggregate(_FINISHED_SWEEPS.pop(0))
    except UserError as err:
        print(f"escalation: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"escalation: error: {_one_line(err)}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: Hydra imports the callback from escalation.cli.
    from escalation.cli import main as escalation_main

    escalation_main()
