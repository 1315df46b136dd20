"""The ``escalation`` command: a thin Hydra shell around the library.

It composes the config tree in ``escalation/configs`` (validated by :mod:`escalation.schema`), turns it into
the library's frozen specs, runs the experiment into Hydra's output folder and prints a short summary. This is
the only module that imports Hydra and OmegaConf.

User errors (a misspelt key, a probability of 1.5, an unknown actor, a missing event file) end the command
with one line on standard error and exit code 2; a run folder that was already made says ``failed`` in its
manifest and holds no summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import signal
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
EXIT_SIGINT = 130  # 128 + SIGINT: interrupted with Ctrl-C
EXIT_SIGTERM = 143  # 128 + SIGTERM: terminated (kill, systemd, a scheduler)
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
    from escalation.pooling import PRIOR_SOURCES
    from escalation.specs import EnsembleSpec, SpecError, build_scenario

    try:
        experiment = cfg.experiment
        configured = build_scenario(_container(cfg.scenario), _container(cfg.actors), _container(cfg.policy))
        arm_settings = dict(experiment.arms) or {experiment.name: {"label": experiment.name, "set": []}}
        arms = []
        for name, arm in arm_settings.items():
            arm_cfg = _arm_config(_arm_priors_cleared(cfg, name, list(arm["set"])), name, list(arm["set"]))
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
        if int(cfg.calibration.seed) < 0:
            raise UserError(f"calibration.seed: must be an integer >= 0, got {cfg.calibration.seed}")
        priors = str(cfg.calibration.priors)
        if priors not in PRIOR_SOURCES:
            raise UserError(f"calibration.priors: unknown {priors!r}; allowed: {', '.join(PRIOR_SOURCES)}")
        if not experiment.horizons:
            raise UserError(
                "experiment.horizons: no horizon given; allowed: a list of days in "
                f"1..{configured.horizon_days} (the scenario's horizon_days), e.g. [30, 90, 180]"
            )
        if not 0 < float(experiment.sweep.contour) < 1:
            raise UserError(
                f"experiment.sweep.contour: must be a probability in (0, 1), got {experiment.sweep.contour}"
            )
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
        _check_objective(experiment.objective, spec)
        _check_memory(cfg, spec, ensemble)
    except (SpecError, EventDataError, ValueError) as err:
        raise UserError(str(err)) from None
    return Inputs(spec, ensemble, events)


def _arm_priors_cleared(cfg: DictConfig, name: str, overrides: list[str]) -> DictConfig:
    """The config with each prior that an arm sets as a ``{dist: ...}`` mapping set to null first.

    OmegaConf merges a mapping into the mapping it replaces, so ``{dist: beta, a: 8}`` over a beta prior
    would keep the old ``b``, and a new family would keep the old family's parameters: clearing the prior
    first makes the arm's prior replace the whole prior, as a prior given on the command line does (see
    :func:`_replacing_priors`).
    """
    import copy

    import yaml

    keys = []
    for item in overrides:
        key, sep, text = str(item).partition("=")
        try:
            value = yaml.safe_load(text) if sep else None
        except yaml.YAMLError:
            continue  # _arm_config reports it
        if isinstance(value, dict) and "dist" in value:
            keys.append(key)
    if not keys:
        return cfg
    cleared = copy.deepcopy(cfg)
    for key in keys:
        try:
            OmegaConf.update(cleared, key, None, merge=False)
        except OmegaConfBaseException as err:
            raise UserError(f"experiment.arms.{name}.set: {_one_line(err)}") from None
    return cleared


def _check_memory(cfg: DictConfig, spec, ensemble) -> None:
    """Refuse a run that cannot fit in this machine's memory, naming the size that would fit.

    The estimate is rough (:func:`escalation.ensemble.estimate_memory` says what it counts); the key named is
    the one whose structures need the most: the replications (outcome arrays), the chunk size (the chunks'
    working arrays), the horizon (daily histograms of the tracked targets) or the calibration draws.
    """
    from escalation.ensemble import available_memory, estimate_memory, largest_fitting

    available = available_memory()
    if available is None:
        return
    backtest = bool(cfg.backtest.cutoff)
    horizon_key = "backtest.horizon_days" if backtest else "scenario.horizon_days"
    sizes = {
        "ensemble.replications": ensemble.replications,
        "ensemble.chunk_size": ensemble.chunk_size,
        horizon_key: max(1, int(cfg.backtest.horizon_days)) if backtest else spec.scenario.horizon_days,
        "calibration.draws": int(cfg.calibration.draws),
    }

    def need(key: str | None = None, value: int = 0):
        size = {**sizes, key: value} if key else sizes
        return estimate_memory(
            spec.scenario,
            size["ensemble.replications"],
            chunk_size=size["ensemble.chunk_size"],
            workers=ensemble.workers,
            arms=1 if backtest else len(spec.arms),
            calibration_draws=size["calibration.draws"],
            horizon_days=size[horizon_key],
        )

    estimate = need()
    if estimate.total <= available:
        return
    parts = {
        "ensemble.replications": (estimate.outcomes, "replications", ""),
        "ensemble.chunk_size": (estimate.chunks, "replications per chunk", ""),
        horizon_key: (
            estimate.histograms,
            "days",
            f" (daily histograms of the attacks on {', '.join(spec.scenario.tracked_targets)})",
        ),
        "calibration.draws": (estimate.calibration, "draws", ""),
    }
    key = max(parts, key=lambda k: parts[k][0])
    _, unit, what = parts[key]
    fits = largest_fitting(lambda value: need(key, value).total, available, sizes[key])
    limit = f"at most about {_round_down(fits):,} {unit} fit" if fits else "not even 1 fits, given the rest"
    raise UserError(
        f"{key}: {sizes[key]:,} {unit} need about {_bytes(estimate.total)} of memory{what}; {limit} in this "
        f"machine's memory ({_bytes(available)} available)"
    )


def _round_down(n: int) -> int:
    """``n`` rounded down to two significant digits (3,612,345 -> 3,600,000)."""
    step = 10 ** max(0, len(str(n)) - 2)
    return n // step * step


def _bytes(n: float) -> str:
    """A size in decimal units: 16 GB, 480 TB."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    while n >= 1000 and len(units) > 1:
        n, units = n / 1000, units[1:]
    return f"{n:,.0f} {units[0]}" if n >= 10 or units[0] == "B" else f"{n:.1f} {units[0]}"


def calibrate_inputs(cfg: DictConfig, inputs: Inputs, shared: Path | None = None):
    """Calibrate the scenario as configured (before any arm's overrides) on the events.

    ``shared``: a folder of calibrations shared by the points of a sweep
    (:func:`escalation.calibration.shared_calibration`); the calibration is read from it when another point
    with the same calibration inputs computed it, else computed and stored there.
    """
    from escalation.calibration import calibrate, shared_calibration

    if shared is not None:
        return shared_calibration(
            shared, inputs.events, inputs.spec.scenario, **_calibration_settings(cfg, inputs)
        )
    try:
        return calibrate(inputs.events, inputs.spec.scenario, **_calibration_settings(cfg, inputs))
    except ValueError as err:
        raise UserError(str(err)) from None


def _calibration_settings(cfg: DictConfig, inputs: Inputs) -> dict[str, Any]:
    """The keyword arguments of :func:`escalation.calibration.calibrate` that the config sets."""
    configured = inputs.spec.scenario
    cutoff = _date("calibration.cutoff", cfg.calibration.cutoff) if cfg.calibration.cutoff else None
    if cutoff is not None and cutoff > configured.start:
        raise UserError(
            f"calibration.cutoff: {cutoff} is after the scenario's start {configured.start}; a calibration "
            "may use only events before the forecast (allowed: a date up to the start)"
        )
    return {
        "cutoff": cutoff,
        "draws": int(cfg.calibration.draws),
        "seed": int(cfg.calibration.seed),
        "method": str(cfg.calibration.method),
        "priors": str(cfg.calibration.priors),
    }


def _check_figure_formats(formats: list[str]) -> None:
    from matplotlib.backend_bases import FigureCanvasBase  # not matplotlib.figure: a run without figures

    supported = FigureCanvasBase.get_supported_filetypes()
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


def _check_objective(objective: DictConfig, spec) -> None:
    """Check ``experiment.objective`` against the experiment's thresholds, horizons and arms."""
    if not objective.threshold:
        return
    names = [t.name for t in spec.arms[0].scenario.thresholds]
    if objective.threshold not in names:
        raise UserError(
            f"experiment.objective.threshold: unknown {objective.threshold!r}; allowed: {', '.join(names)}"
        )
    if objective.horizon is not None and int(objective.horizon) not in spec.horizons:
        raise UserError(
            f"experiment.objective.horizon: {objective.horizon} is not one of experiment.horizons; "
            f"allowed: {', '.join(str(h) for h in spec.horizons)}"
        )
    arms = [arm.name for arm in spec.arms]
    if objective.arm is not None and objective.arm not in arms:
        raise UserError(f"experiment.objective.arm: unknown {objective.arm!r}; allowed: {', '.join(arms)}")


def objective_value(objective: DictConfig, summary) -> float | None:
    """The probability named by ``experiment.objective`` in a run's summary (None when none is named)."""
    if not objective.threshold:
        return None
    arm = summary.arms[objective.arm or summary.reference_arm]
    horizon = int(objective.horizon) if objective.horizon is not None else max(summary.horizons)
    return float(arm.thresholds[objective.threshold].by_day[horizon].probability)


def _print_summary(summary, folder: Path) -> None:
    """Print a run's headline probabilities (the typed :class:`~escalation.report.summary.RunSummary`)."""
    horizon = max(summary.horizons)
    lines = [
        "",
        summary.question,
        f"{summary.replications:,} replications, seed {summary.seed}; "
        f"{round(100 * summary.level)}% ranges; by day {horizon}:",
        f"    {'':<45} {'':>6}  {'simulation noise':<18}over plausible parameter values",
    ]
    for arm in summary.arms.values():
        if len(summary.arms) > 1:
            lines.append(f"  [{arm.label}]")
        for threshold in arm.thresholds.values():
            value = threshold.by_day[horizon]
            spread = "not estimated (ensemble.replications_per_draw = 1)"
            if value.parameter_sd == 0:
                spread = "none detected above the simulation noise"
            elif value.parameter_lower is not None and value.parameter_upper is not None:
                spread = f"{100 * value.parameter_lower:.1f}-{100 * value.parameter_upper:.1f}"
            lines.append(
                f"    {threshold.label:<45} {100 * value.probability:5.1f}%  "
                f"{f'{100 * value.lower:.1f}-{100 * value.upper:.1f}':<18}{spread}"
            )
            assumptions = threshold.assumptions
            if assumptions is not None and assumptions.rests_on_assumptions:
                lines.append(
                    f"      rests on assumptions ({100 * assumptions.assumption_share:.0f}% of its parameter "
                    f"spread from priors no data moved): {', '.join(assumptions.named) or 'many small ones'}"
                )
    lines += _prior_lines(folder / "calibration.json")
    lines.append(f"Run folder: {folder}")
    _report(lines)


def _prior_lines(path: Path) -> list[str]:
    """Where the priors behind the numbers came from, in one line (from the run's calibration artefact)."""
    import json

    try:
        summaries = json.loads(path.read_text(encoding="utf-8"))["summaries"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    pooled = [p for p, s in summaries.items() if str(s.get("prior_source", "")).startswith("reference_class")]
    narrowed = [p for p, s in summaries.items() if p not in pooled and (s.get("interval_ratio") or 1.0) < 0.9]
    kinds = sorted({p.rsplit(".", 1)[-1].replace("_", " ") for p in pooled})
    return [
        f"Priors: {len(pooled)} pooled from earlier crises ({', '.join(kinds) or 'none'}); {len(narrowed)} "
        "hand-set priors narrowed by the event data; every other distribution is a hand-set assumption "
        "(calibration.json)"
    ]


def _report(lines: list[str]) -> None:
    """Print lines for the user and keep them in the run's log (``escalation.log`` in the run folder)."""
    for line in lines:
        print(line, flush=True)
        if line:
            log.info(line.strip())


def _config_hash(cfg: DictConfig) -> str:
    """sha256 of what determines a run's results: the resolved config, the event data and the version.

    Only a regular file of at most the loader's size limit is read here. Anything else is left to the loader,
    which reports it: a folder or a device (``/dev/zero``) is never read, and a pipe
    (``data.path=<(cat events.csv)``) can be read only once, so reading it here would leave the loader an
    empty file. A pipe's bytes cannot be known before the run reads them, so a resume hash of a pipe cannot
    be trusted: it gets a random token instead, and a rerun sweep recomputes such a point rather than
    skipping it as complete. (The run's manifest still records the loader's hash of the bytes it read.)
    """
    import hashlib
    import secrets
    import stat

    from escalation import __version__
    from escalation.events import MAX_FILE_BYTES, builtin_events_path

    data = Path(cfg.data.path) if cfg.data.path else builtin_events_path()
    try:
        info = data.stat()
        if not stat.S_ISREG(info.st_mode):
            data_hash = f"not a regular file, never the same: {secrets.token_hex(16)}"
        elif info.st_size > MAX_FILE_BYTES:
            data_hash = "too large"  # the run itself refuses it
        else:
            with data.open("rb") as handle:
                data_hash = hashlib.file_digest(handle, "sha256").hexdigest()
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


_ENTERED: list[float] = []  # the time the current job entered run()


def run(cfg: DictConfig) -> float | None:
    """Run one experiment, backtest or sweep point into Hydra's output folder.

    Returns the probability ``experiment.objective`` names (for Hydra's optimising sweepers), or None.
    """
    import time

    from hydra.types import RunMode

    from escalation.report.folder import mark_if_dead, read_manifest
    from escalation.report.summary import RunSummary

    _ENTERED[:] = [time.time()]  # when this job began, for the manifest (benchmarks/bench_sweep.py)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    _progress_bars_lock()
    _reuse_freed_memory()
    hydra_cfg = HydraConfig.get()
    output = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    point = f"[point {hydra_cfg.job.num}] {hydra_cfg.job.override_dirname or 'defaults'}" if sweeping else ""
    config_hash = _config_hash(cfg)
    dead = mark_if_dead(output)
    if dead is not None:
        where = (hydra_cfg.job.override_dirname or "defaults") if sweeping else output
        _report(
            [
                f"{where}: the previous run (pid {dead['pid']} on {dead['host']}) died without closing its "
                "manifest; marked dead, running again"
            ]
        )
    done = read_manifest(output) or {}
    complete = done.get("status") == "ok" and _summary_readable(cfg, output)
    if sweeping and complete and done.get("config_hash") == config_hash:
        _report([f"{point}: already complete, skipped"])
        return (
            None
            if _mode(cfg) != "experiment"
            else objective_value(cfg.experiment.objective, RunSummary.load(output / "summary.json"))
        )
    task = backtest_task if cfg.backtest.cutoff else experiment_task
    if _mode(cfg) == "sensitivity":
        task = sensitivity_task
    summary = _run_task(task, cfg, output, config_hash, sweeping)
    if task is sensitivity_task:
        from escalation.report.sensitivity import headline_lines

        _report([*headline_lines(summary), f"Run folder: {output}"])
        return None
    if cfg.experiment.brief:
        _write_brief(output)
    if cfg.backtest.cutoff:
        _print_backtest(summary, output)
        return None
    if sweeping:
        _report([f"{point}: {summary.headline()}"])
    else:
        _print_summary(summary, output)
    return objective_value(cfg.experiment.objective, summary)


def _progress_bars_lock() -> None:
    """Give the progress bars (tqdm) a thread lock, unless they have a lock already.

    tqdm's default lock adds a multiprocessing lock, for bars drawn by forked processes. Once Mesa has made
    "spawn" the start method (importing ``mesa`` does), that lock is a named semaphore, which starts
    multiprocessing's resource tracker; a process with a tracker cannot end at once without a warning of a
    leaked semaphore, so :func:`_end_process` left every run to the interpreter's teardown of its modules
    (half a second or more). The command draws its bars in its own process only (an ensemble's workers draw
    none), so a thread lock is all they need.
    """
    import threading

    from tqdm import tqdm

    if not hasattr(tqdm, "_lock"):
        tqdm.set_lock(threading.RLock())


# glibc's malloc thresholds (mallopt): the size from which a block is mapped from the kernel on its own, and
# the free memory at the heap's top beyond which the heap is given back. glibc starts at 128 KiB and raises
# them by itself to the size of the largest mapped block freed (at most 32 MiB) and twice that.
MMAP_THRESHOLD = 32 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _reuse_freed_memory() -> bool:
    """Let glibc's malloc reuse freed memory for the engine's large arrays; returns whether it was set.

    A day of the engine makes many arrays of replications x dyads (hundreds of KB each at the default
    10,000 replications): above glibc's initial threshold, so each is mapped from the kernel, faulted in page
    by page and unmapped again. glibc raises its thresholds by itself once a larger mapped block is freed,
    which the fit of the pooled priors used to do early in every run (its 29 MB arrays); with that fit read
    from the disk cache (escalation.cache), the baseline's simulation took about a fifth longer (0.3 to
    0.5 s). Setting the thresholds to glibc's own maxima at the start of a run keeps the engine's arrays on
    the heap, as they were, whatever ran before. Only with glibc (Linux), and not when the user set them
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``). The ensemble's worker processes keep glibc's
    own.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):
        return False  # not glibc (macOS, Windows, musl)
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD))


def _write_brief(output: Path) -> None:
    """``experiment.brief: true``: the briefing pack of the finished run (a problem: one line, exit 2)."""
    from escalation.report.brief import BriefError, write_brief

    try:
        pdf, page = write_brief(output)
    except BriefError as err:
        print(f"escalation: error: experiment.brief: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    log.info("brief written: %s, %s", pdf, page)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by :func:`main`'s handler and handled like Ctrl-C."""


def _summary_readable(cfg: DictConfig, output: Path) -> bool:
    """Whether a finished run's summary (the file its mode writes last) is complete and readable."""
    import json

    from escalation.report.summary import RunSummary, SummaryError

    if _mode(cfg) == "sensitivity":
        from escalation.report.sensitivity import SUMMARY_FILE

        try:
            summary = json.loads((output / SUMMARY_FILE).read_text(encoding="utf-8"))
            return summary.get("kind") == "sensitivity"
        except (OSError, ValueError, AttributeError):
            return False  # truncated or missing: run the point again
    try:
        RunSummary.load(output / "summary.json")
    except SummaryError:
        return False  # an ok manifest with a truncated or missing summary: run the point again
    return True


def _interruption(err: KeyboardInterrupt) -> str:
    return "terminated by SIGTERM" if isinstance(err, Terminated) else "interrupted by SIGINT (Ctrl-C)"


def _run_task(task, cfg: DictConfig, output: Path, config_hash: str, sweeping: bool):
    """The task wrapper: locks the run folder, opens its manifest, runs the task, and closes the manifest.

    The manifest says ``ok`` only after the task has written everything; a user error closes it as
    ``failed`` and ends the command with one line and exit code 2; an interruption (Ctrl-C, SIGTERM) closes
    it as ``interrupted``; any other error as ``failed`` with the error. A folder that another live run holds
    is left untouched and the command ends with one line naming that run's pid and exit code 2.
    """
    from escalation.report.folder import FolderLocked, RunFolder, atomic_write_text

    hydra_cfg = HydraConfig.get()
    workers = _ensemble_workers(cfg)
    try:
        folder = RunFolder(
            output,
            {
                "experiment": str(cfg.experiment.name),
                "mode": _mode(cfg),
                "seed": int(cfg.ensemble.seed),
                "replications": int(cfg.ensemble.replications),
                "chunk_size": int(cfg.ensemble.chunk_size),
                "workers": workers,
                "overrides": list(hydra_cfg.overrides.task),
                "config_hash": config_hash,
                "entered_unix": round(_ENTERED[0], 3) if _ENTERED else None,
            },
        )
    except FolderLocked as err:
        print(f"escalation: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    try:
        atomic_write_text(folder.path / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
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
        # Hydra wrote .hydra/ before this run took the lock, and so does a second run that is refused: write
        # this run's own copies again, so that a complete folder describes one run only.
        if hydra_cfg.output_subdir is not None:
            hydra_dir = folder.path / str(hydra_cfg.output_subdir)
            atomic_write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(cfg))
            atomic_write_text(hydra_dir / "hydra.yaml", OmegaConf.to_yaml(HydraConfig.instance().cfg))
            atomic_write_text(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
    except KeyboardInterrupt as err:
        folder.finish("interrupted", _interruption(err))
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

    _imports_done()
    shared = _shared_calibrations()
    if shared is None:
        calibration = calibrate_inputs(cfg, inputs)
        log.info(
            "calibrated %s on %s (%s)", inputs.spec.scenario.name, inputs.events.path, calibration.hash[:12]
        )
        calibration.save(folder.path / "calibration.json")
        folder.record(calibration_hash=calibration.hash)
    else:
        # A sweep point: one calibration per distinct calibration input, shared by the points in the sweep
        # folder's calibrations/; the point's manifest names its file (relative to the point's folder).
        calibration, path, computed = calibrate_inputs(cfg, inputs, shared)
        log.info(
            "%s calibration %s (%s)", "computed" if computed else "shared", path.name, calibration.hash[:12]
        )
        (folder.path / "calibration.json").unlink(missing_ok=True)  # an earlier run's own: not this one's
        folder.record(
            calibration_hash=calibration.hash,
            calibration_file=os.path.relpath(path, folder.path),
            calibration_key=path.stem,
        )
    result = run_experiment(inputs.spec, inputs.ensemble, inputs.events, calibration)
    for name, arm in result.results.items():
        log.info("arm %s: %d replications simulated in %.2f s", name, arm.replications, arm.elapsed_seconds)
    folder.record(simulation_seconds=round(sum(r.elapsed_seconds for r in result.results.values()), 3))
    levers = None
    if HydraConfig.get().mode.name == "MULTIRUN":  # a sweep point: its levers become columns of its tables
        levers = _point_levers(cfg)
        folder.record(levers=levers)
    summary = write_experiment(result, folder, levers=levers, figure_processes=_figure_processes())
    log.info("tables, figures and summary written to %s", folder.path)
    return summary


# Set to 1 to compute every sweep point's calibration itself (benchmarks/bench_sweep.py compares the two).
NO_SHARED_CALIBRATION = "ESCALATION_NO_SHARED_CALIBRATION"
SHARED_CALIBRATIONS = "calibrations"  # the sweep folder's folder of shared calibrations


def _shared_calibrations() -> Path | None:
    """The folder of calibrations shared by a sweep's points, or None for a single run (or when disabled)."""
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or os.environ.get(NO_SHARED_CALIBRATION, "") not in ("", "0"):
        return None
    return Path(hydra_cfg.sweep.dir) / SHARED_CALIBRATIONS


def _point_levers(cfg: DictConfig) -> dict[str, Any]:
    """The lever values that define a sweep point, by key: the columns of the sweep's results store.

    Every key the point's overrides set (swept or fixed, also those of the experiment's
    ``hydra.sweeper.params``), the experiment's declared sweep levers, every retaliation policy setting
    (``policy.<state>.<key>``) and every driver's date and factor (``scenario.drivers.<name>.date|factor``),
    as resolved in the point's config. Numbers are floats, other values text (a prior as its JSON mapping).
    """
    import json

    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys: list[str] = []
    parser = OverridesParser.create()
    for text in HydraConfig.get().overrides.task:
        override = parser.parse_override(text)
        if not override.is_hydra_override() and not override.is_delete():
            keys.append(override.key_or_group)
    keys += [str(lever.key) for lever in cfg.experiment.sweep.levers]
    for state, settings in cfg.policy.items():
        keys += [f"policy.{state}.{key}" for key in settings if key != "toward"]
        for target, override in (settings.get("toward") or {}).items():
            keys += [f"policy.{state}.toward.{target}.{key}" for key, v in override.items() if v is not None]
    for name in cfg.scenario.drivers or {}:
        keys += [f"scenario.drivers.{name}.date", f"scenario.drivers.{name}.factor"]
    levers: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        node = OmegaConf.select(cfg, key, default=None)
        if "/" in key or key in _config_groups(None):  # a config group's choice
            node = HydraConfig.get().runtime.choices.get(key, node)
        value = _container(node) if OmegaConf.is_config(node) else node
        if isinstance(value, bool) or value is None:
            levers[key] = None if value is None else str(value).lower()
        elif isinstance(value, int | float):
            levers[key] = float(value)
        elif isinstance(value, str):
            levers[key] = value
        else:
            levers[key] = json.dumps(value, sort_keys=True)
    return levers


def backtest_task(cfg: DictConfig, inputs: Inputs, folder) -> dict:
    """Run the backtest the config asks for (one origin or rolling origins), calibrating at each cut-off."""
    from escalation.backtest import run_backtest, run_rolling_backtest
    from escalation.report.backtest import write_backtest, write_rolling_backtest

    _imports_done()
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
        "calibration_priors": str(cfg.calibration.priors),
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


def _mode(cfg: DictConfig) -> str:
    """The run's mode: ``backtest`` (a cut-off set), ``sensitivity`` (a method set) or ``experiment``."""
    if cfg.backtest.cutoff:
        return "backtest"
    return "sensitivity" if cfg.sensitivity.method else "experiment"


def sensitivity_task(cfg: DictConfig, inputs: Inputs, folder) -> dict:
    """Calibrate the configured scenario, run the sensitivity design in one ensemble, discover, write."""
    from escalation.history import observed_history
    from escalation.report.sensitivity import discover_in_design, write_sensitivity
    from escalation.sensitivity import SensitivitySpec, run_sensitivity
    from escalation.specs import SpecError

    _imports_done()

    settings, spec = cfg.sensitivity, inputs.spec
    scenario = spec.scenario
    if len(spec.arms) > 1:
        raise UserError(
            "experiment.arms: a sensitivity run analyses the scenario as configured; allowed: no arms"
        )
    try:
        analysis = SensitivitySpec(
            method=str(settings.method),
            base_samples=int(settings.base_samples),
            horizons=tuple(int(h) for h in (settings.horizons or spec.horizons)),
            thresholds=tuple(str(t) for t in settings.thresholds),
            cumulative=bool(settings.cumulative),
            levers={str(lever.path): (float(lever.low), float(lever.high)) for lever in settings.levers},
            randomness=bool(settings.randomness),
            seed=int(settings.seed),
            resamples=int(settings.resamples),
            level=float(settings.level),
            morris_levels=int(settings.morris_levels),
        )
        outcome = None
        if settings.discovery_outcome:
            names = [t.name for t in scenario.thresholds]
            if settings.discovery_outcome not in names:
                raise SpecError(
                    f"sensitivity.discovery_outcome: unknown {settings.discovery_outcome!r}; allowed: "
                    f"{', '.join(names)}, or null for no discovery"
                )
            horizon = int(settings.discovery_horizon or max(analysis.horizons))
            if horizon not in analysis.horizons:
                raise SpecError(
                    f"sensitivity.discovery_horizon: {horizon} is not one of the horizons; allowed: "
                    f"{', '.join(str(h) for h in analysis.horizons)}"
                )
            outcome = f"{settings.discovery_outcome}@{horizon}"
        if not 0 < float(settings.discovery_min_coverage) <= 1:
            raise SpecError(
                "sensitivity.discovery_min_coverage: must be in (0, 1], got "
                f"{settings.discovery_min_coverage}"
            )
        calibration = calibrate_inputs(cfg, inputs)
        calibration.save(folder.path / "calibration.json")
        folder.record(calibration_hash=calibration.hash)
        result = run_sensitivity(
            analysis,
            scenario,
            inputs.ensemble,
            calibration_draws=calibration.draws,
            history=observed_history(inputs.events, scenario),
            calibration_hash=calibration.hash,
        )
    except SpecError as err:
        raise UserError(str(err)) from None
    if outcome is not None and analysis.thresholds and settings.discovery_outcome not in analysis.thresholds:
        outcome = None  # the outcome's threshold is not among the analysed headlines
    design = result.design
    log.info("sensitivity design: %d runs simulated in %.2f s", len(design.unit), design.elapsed_seconds)
    folder.record(simulation_seconds=round(design.elapsed_seconds, 3), design_runs=len(design.unit))
    discovery = None
    if outcome is not None:
        discovery = discover_in_design(result, outcome, float(settings.discovery_min_coverage))
    return write_sensitivity(
        result,
        discovery,
        folder,
        experiment=spec.name,
        formats=spec.figure_formats,
        figures=spec.figures,
    )


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
_LAUNCHED_POINTS: dict[Path, list[Path]] = {}  # sweep folder -> the point folders its launcher ran
SHARED_FOLDER = "the sweep folder must be on a file system every node can see"


class AggregateSweep(Callback):
    """Hydra callback: note each finished multirun's sweep folder, for :func:`main` to aggregate.

    Hydra reports an exception raised inside a callback only as a warning, so the aggregation itself runs in
    :func:`main` after Hydra returns, where a problem can end the command with a clear error and exit code.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Remember the sweep folder of the multirun that just ended, and the point folders it ran."""
        sweep_dir = Path(config.hydra.sweep.dir)
        _FINISHED_SWEEPS.append(sweep_dir)
        _LAUNCHED_POINTS[sweep_dir] = _launched_points(config)


def _launched_points(config: DictConfig) -> list[Path]:
    """The folders, as this process sees them, of the points a basic sweep ran; empty for other sweepers.

    The multirun ends only when the launcher reported every job done. Hydra gives the callback no job returns
    here, and a remote launcher (Ray, submitit) calls the job callbacks where each job runs, so the points
    are composed again here as Hydra's basic sweeper composed them: its params, then the command line's
    overrides. An optimising sweeper chooses its points as it goes; its sweeps are not checked.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if config.hydra.sweeper.get("_target_") != f"{BasicSweeper.__module__}.{BasicSweeper.__name__}":
        return []
    loader = GlobalHydra.instance().config_loader()
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    arguments = [*params, *OmegaConf.to_container(config.hydra.overrides.task, resolve=False)]
    parser = OverridesParser.create(config_loader=loader)
    overrides = parser.parse_overrides(arguments)
    # The packaged folders (sweep.dir the same for every job, subdir the job's override_dirname) are known
    # without composing each job's config again (half a second per point): Hydra's own function names them.
    raw = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    quick = raw.get("subdir") == "${hydra.job.override_dirname}" and "hydra.job" not in str(raw.get("dir"))
    naming = config.hydra.job.config.override_dirname
    folders = []
    for batch in BasicSweeper.split_arguments(overrides, None):
        for job in batch:
            if quick:
                from hydra._internal.config_loader_impl import get_overrides_dirname

                app = [o for o in parser.parse_overrides(list(job)) if not o.is_hydra_override()]
                subdir = get_overrides_dirname(
                    app, list(naming.exclude_keys or []), str(naming.item_sep), str(naming.kv_sep)
                )
                folders.append(Path(str(config.hydra.sweep.dir), subdir))
                continue
            point = loader.load_sweep_config(config, list(job)).hydra
            folders.append(Path(str(point.sweep.dir), str(point.sweep.subdir)))
    return folders


def _aggregate(sweep_dir: Path) -> None:
    from escalation.report.folder import read_manifest
    from escalation.report.sweep import SweepError, aggregate_sweep

    # A job the launcher reported done closed its folder's manifest as ok, on the file system where it ran.
    launched = _LAUNCHED_POINTS.pop(sweep_dir, [])
    unseen = [p for p in launched if (read_manifest(p) or {}).get("status") != "ok"]
    if unseen:
        names = [p.relative_to(sweep_dir).as_posix() if sweep_dir in p.parents else str(p) for p in unseen]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise UserError(
            f"{SHARED_FOLDER}: the launcher ran {len(launched)} points to completion, but "
            f"{sweep_dir.resolve()} holds no complete folder for {len(unseen)} of them ({shown}); set "
            "hydra.sweep.dir to an absolute path on a shared file system (a relative one is taken from each "
            "node's working folder), or copy the point folders from the nodes into it and run "
            "escalation-report on it"
        )
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

    parser = argparse.ArgumentParser(
        prog="escalation-report",
        description="Aggregate the points of a sweep folder (from escalation -m) into tables and figures.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder, e.g. results/sweeps/deterrence_sweep")
    parser.add_argument(
        "--formats", default="png,svg", help="figure formats, comma-separated (default png,svg)"
    )

    def refuse(message: str) -> None:
        print(f"escalation-report: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)

    parser.error = refuse  # type: ignore[method-assign]  # one line, not argparse's usage and error lines
    args = parser.parse_args(argv)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    from matplotlib.backend_bases import FigureCanvasBase

    supported = sorted(FigureCanvasBase.get_supported_filetypes())
    unknown = [f for f in formats if f not in supported]
    if unknown or not formats:  # checked before anything is written
        first = unknown[0] if unknown else "(none)"
        refuse(f"--formats: unknown format {first}; allowed: {', '.join(supported)}")
    from escalation.report.sweep import SweepError, aggregate_sweep  # after parsing: --help needs none of it

    try:
        info = aggregate_sweep(args.sweep_dir, formats=formats)
    except SweepError as err:
        refuse(str(err))
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
def _hydra_main(cfg: DictConfig) -> float | None:
    return run(cfg)


# ---------------------------------------------------------------------------------------------------------
# Checks of the command line, before Hydra runs anything (called by main)

OWN_CALLBACK = "escalation.cli.AggregateSweep"  # the only Hydra callback the command accepts
LOGGING_FACTORIES = ("logging.", "colorlog.")  # what the classes a logging config names must start with
# Said when a prior on the command line lacks a parameter or has another family's.
REPLACES_PRIOR = (
    " (a prior given on the command line replaces the whole prior: give its family and all of it)"
)


class _ArgumentError(Exception):
    """Hydra's argument parser refuses the command line; Hydra reports it itself."""


# What check_command_line found in the config it composed: ``mode``, its hydra.mode (see _mode_already_known).
_CHECKED: dict[str, Any] = {}


def check_command_line(args: list[str]) -> list[str]:
    """Check a command line before Hydra runs it, and return it as Hydra should see it.

    Bad input raises a one-line :class:`UserError` before anything is written or instantiated:

    - an override Hydra's grammar cannot read (a value with non-ASCII letters, brackets, ...): how to quote
      it;
    - a key the schema does not have, also one added with ``+`` or ``++`` (Hydra adds those whatever the
      schema says: its ``+`` updates the config with ``force_add``, which bypasses the struct flag and the
      structured-config checks), with the keys allowed there;
    - a prior given as a ``{dist: ...}`` mapping that names no known family, or lacks or adds parameters;
    - a ``hydra.callbacks`` entry other than the command's own (:data:`OWN_CALLBACK`), or a logging config
      naming a class outside the logging modules, in the composed config: experiment files (``--config-dir``)
      are configuration, not code. The config is composed here, as Hydra composes it, because Hydra
      instantiates every callback before it runs any;
    - an experiment name that is not a plain name, or a sweep whose values would put a point's folder
      elsewhere than under its sweep folder (the folders are named by the name and the overrides).

    Each override that gives a model parameter a ``{dist: ...}`` mapping is preceded by ``++<key>=null`` in
    the returned arguments (so the run's recorded overrides show it too): Hydra would merge the mapping into
    the prior it replaces (keeping a ``b`` the new beta prior lacks, or refusing a new family's parameters),
    and a prior on the command line replaces the whole prior. Help, shell completion and arguments Hydra's
    parser refuses are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    _CHECKED.clear()
    options = _hydra_arguments(args)
    if options is None or options.help or options.hydra_help or options.shell_completion:
        return args
    if options.experimental_rerun is not None:
        return args
    parser = OverridesParser.create()
    overrides = [_parse_override(parser, text) for text in options.overrides]
    groups = _config_groups(options.config_dir)
    for override in overrides:
        _check_override_key(override, groups)
    cleared = _replacing_priors(overrides)

    def with_nulls(texts: list[str]) -> list[str]:
        return [line for text in texts for line in ([cleared[text], text] if text in cleared else [text])]

    sweeps = {o.input_line for o in overrides if o.is_sweep_override()}
    cfg = _compose(options, [text for text in with_nulls(options.overrides) if text not in sweeps])
    multirun = bool(options.multirun) or cfg.hydra.mode == RunMode.MULTIRUN
    _CHECKED["mode"] = cfg.hydra.mode
    _CHECKED["launcher"] = cfg.hydra.runtime.choices.get("hydra/launcher")
    _check_no_code(cfg)
    _check_experiment_name(cfg)
    _check_point_folders(cfg, overrides, parser, multirun, groups)
    _check_optimising_sweeper(cfg, multirun)
    if multirun and not (options.cfg or options.info):  # --cfg and --info print; they launch nothing
        _check_ray_address(cfg)
    return with_nulls(args)


RAY_PROBE_SECONDS = 3.0  # how long the check of a Ray address waits for an answer before leaving it to Ray


def _check_ray_address(cfg: DictConfig) -> None:
    """A Ray launcher given a cluster's address: refuse it at once when nothing listens there.

    Ray itself tries to join an address where nothing listens for many minutes (with a warning every few
    seconds) before it gives up. A refused connection, or a host name that does not resolve, is certain at
    once; an address that does not answer within :data:`RAY_PROBE_SECONDS` (a firewall, a slow network) is
    left to Ray, as is ``auto``, ``local`` or none (the launcher starts a Ray instance of its own).
    """
    import socket

    target = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "")
    if not target.startswith(RAY_LAUNCHER):
        return
    try:
        address = OmegaConf.select(cfg, RAY_ADDRESS_KEY, default=None)
    except OmegaConfBaseException:
        return  # an interpolation that does not resolve here: Hydra and Ray report it
    if address is None or str(address).strip() in ("", "auto", "local"):
        return
    address = str(address).strip()
    _CHECKED["ray_address"] = address
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # Ray says what an address must look like
    launcher = _launcher_choice("ray_cluster")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_PROBE_SECONDS):
            pass
    except ConnectionRefusedError:
        raise UserError(
            f"{RAY_ADDRESS_KEY}: the Ray launcher (hydra/launcher={launcher}) cannot join a Ray cluster at "
            f"{address}: nothing listens there (connection refused); {RAY_ADDRESS_ALLOWED}"
        ) from None
    except socket.gaierror as err:
        raise UserError(
            f"{RAY_ADDRESS_KEY}: the Ray launcher (hydra/launcher={launcher}) cannot join a Ray cluster at "
            f"{address}: unknown host {host!r} ({' '.join(str(err).split())}); {RAY_ADDRESS_ALLOWED}"
        ) from None
    except (OSError, ValueError, OverflowError):
        return  # no answer in time, or a port out of range: Ray reports it


# Hydra sweepers that search for the value a run returns (their ``_target_`` contains one of these names).
OPTIMISING_SWEEPERS = ("optuna", "nevergrad", "ax_sweeper")


def _check_optimising_sweeper(cfg: DictConfig, multirun: bool) -> None:
    """An optimising sweeper needs a number from every trial: an experiment run with an objective named.

    Such a sweeper turns each trial's return value into a float, so a run that returns None (no
    ``experiment.objective.threshold``, a backtest or a sensitivity run) would end the search with a
    traceback.
    """
    target = str(cfg.hydra.sweeper.get("_target_", "") or "").lower()
    sweeper = next((name for name in OPTIMISING_SWEEPERS if name in target), None)
    if not multirun or sweeper is None:
        return
    if cfg.backtest.cutoff:
        raise UserError(
            f"backtest.cutoff: the {sweeper} sweeper optimises an experiment's objective, but this is a "
            "backtest; allowed: backtest.cutoff=null, or the basic sweeper (hydra/sweeper=basic)"
        )
    if cfg.sensitivity.method:
        raise UserError(
            f"sensitivity.method: the {sweeper} sweeper optimises an experiment's objective, but this is a "
            "sensitivity run; allowed: sensitivity.method=null, or the basic sweeper (hydra/sweeper=basic)"
        )
    if not cfg.experiment.objective.threshold:
        raise UserError(
            f"experiment.objective.threshold: the {sweeper} sweeper needs a probability to optimise; "
            "allowed: a named threshold of the scenario (e.g. experiment.objective.threshold=regional_war)"
        )


def _hydra_arguments(args: list[str]):
    """Hydra's own parse of the command line (options and overrides), or None where it refuses it."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def refuse(message: str) -> None:
        raise _ArgumentError(message)

    parser.error = refuse  # type: ignore[method-assign]
    try:
        return parser.parse_args(args)
    except (_ArgumentError, SystemExit):
        return None


def _parse_override(parser, text: str):
    """One override parsed by Hydra's grammar; one it cannot read gets a one-line error on how to quote it."""
    import shlex

    try:
        return parser.parse_override(text)
    except HydraException as err:
        detail = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        prefix = text[: len(text) - len(text.lstrip("+~"))]
        key, sep, value = text[len(prefix) :].partition("=")
        if not sep or not key:
            raise UserError(
                f"{text}: Hydra cannot read this override ({detail}); allowed: key=value, "
                "+key=value, ++key=value, ~key"
            ) from None
        if value.lstrip().startswith(("{", "[")):  # a mapping or list: its texts are quoted, not the whole
            raise UserError(
                f"{key}: Hydra's override grammar cannot read the value {value!r} ({detail}); quote each "
                "text inside it that holds '=', ',', ':', brackets, spaces or non-ASCII letters, e.g. "
                f"{shlex.quote(key + '={x: {set: [' + chr(39) + 'policy.us.threshold=80' + chr(39) + ']}}')}"
            ) from None
        quote = "'" if '"' in value else '"'
        quoted = quote + value.replace(quote, "\\" + quote) + quote
        raise UserError(
            f"{key}: Hydra's override grammar cannot read the value {value!r} ({detail}); "
            f"quote the value: {shlex.quote(f'{prefix}{key}={quoted}')}"
        ) from None


def _config_groups(config_dir: str | None) -> set[str]:
    """The top-level config groups: the packaged ones and those of ``--config-dir``."""
    folders = [Path(CONFIG_DIR)] + ([Path(config_dir)] if config_dir else [])
    return {p.name for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_dir()}


def _check_override_key(override, groups: set[str]) -> None:
    """Refuse an override of a key the schema does not have, or of the command's callbacks."""
    from escalation.schema import UnknownKey, schema_key

    key = override.key_or_group
    if override.is_hydra_override():
        if key == "hydra.callbacks" or key.startswith(("hydra.callbacks.", "hydra/callbacks")):
            raise UserError(
                f"{key}: the command's callbacks cannot be changed (a callback is code to run, and overrides "
                f"are configuration); allowed: none (the command's own, {OWN_CALLBACK}, is always on)"
            )
        return
    if override.package is not None or "/" in key or ("." not in key and key in groups):
        return  # a config group (experiment=us_posture, hydra/launcher=joblib): Hydra checks its options
    try:
        schema_key(key)
    except UnknownKey as err:
        raise UserError(str(err)) from None


def _replacing_priors(overrides: list) -> dict[str, str]:
    """Check the priors given as ``{dist: ...}`` mappings; map each such override to its ``++<key>=null``.

    A mapping without ``dist`` over a parameter is refused too: it would be merged into the prior.
    """
    from collections.abc import Mapping

    from escalation.schema import UnknownKey, schema_key
    from escalation.specs import SpecError, dist_family

    cleared = {}
    for override in overrides:
        if override.is_hydra_override() or override.is_delete() or override.package is not None:
            continue
        key = override.key_or_group
        try:
            info = schema_key(key).parameter
        except UnknownKey:
            continue
        if info is None:
            continue
        try:
            values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        except HydraException:
            values = []  # an interval sweep: numbers
        priors = [value for value in values if isinstance(value, Mapping)]
        for prior in priors:
            try:
                dist_family(key, prior)
            except SpecError as err:
                raise UserError(f"{err}{REPLACES_PRIOR}") from None
            try:
                info.parse(key, dict(prior))
            except SpecError as err:
                raise UserError(str(err)) from None
        if priors and not override.is_add():
            # The null is written with the other prefix (++ for a plain override, none for ++): Hydra's basic
            # sweeper keeps one override per key as written, and would drop a second "key=..." of a sweep.
            cleared[override.input_line] = f"{'' if override.is_force_add() else '++'}{key}=null"
    return cleared


def _search_path(options):
    """Hydra's config search path for this command line: the packaged configs and ``--config-dir``."""
    from hydra._internal.utils import (
        create_automatic_config_search_path,
        detect_calling_file_or_module_from_task_function,
    )
    from hydra.core.config_search_path import SearchPathQuery

    calling_file, calling_module = detect_calling_file_or_module_from_task_function(run)
    search_path = create_automatic_config_search_path(
        calling_file, calling_module, options.config_path or CONFIG_DIR
    )
    if options.config_dir is not None:
        folder = Path(options.config_dir).absolute()
        if not folder.is_dir():
            raise UserError(f"--config-dir: {folder}: no such folder")
        search_path.prepend(
            provider="command-line", path=f"file://{folder}", anchor=SearchPathQuery(provider="schema")
        )
    return search_path


def _compose(options, overrides: list[str]) -> DictConfig:
    """The config Hydra will compose for this command line (its sweeps left out), with its hydra node."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.types import RunMode

    loader = ConfigLoaderImpl(config_search_path=_search_path(options))
    try:
        return loader.load_configuration(
            config_name=options.config_name or "config",
            overrides=overrides,
            run_mode=RunMode.MULTIRUN,  # as Hydra does to find the mode: sweeps are the sweeper's
            from_shell=True,
            validate_sweep_overrides=False,
        )
    except (HydraException, OmegaConfBaseException) as err:
        raise UserError(_composition_error(err)) from None


def _composition_error(err: BaseException) -> str:
    """One line for an error composing the config, with our advice where Hydra's would mislead."""
    import re

    from escalation import schema

    text = " ".join(str(err).split())
    cause = " ".join(str(err.__cause__).split()) if err.__cause__ is not None else ""
    adding = re.match(r"(?:Could not override|Error merging override) '?\+*([\w.\-]+)", text)
    if adding and ("is not in struct" in cause or "Invalid type assigned" in cause):
        key = adding.group(1)
        mapping = _mapping_of_names(key)
        if mapping is not None:
            name = key[len(mapping) + 1 :].split(".")[0]
            return (
                f"{mapping}.{name}: {mapping} has no entry {name!r}, and an override cannot add one as "
                f"{key}=...; allowed: '++{mapping}={{{name}: {{...}}}}' (all of the entry at once), or the "
                "entry in an experiment file"
            )
    in_file = re.match(
        r"In '([^']+)': ConfigKeyError raised while composing config: Key '[^']+' not in '(\w+)' "
        r"full_key: (\S+)",
        text,
    )
    if in_file:
        allowed = _allowed_keys(getattr(schema, in_file.group(2), None))
        return f"{in_file.group(1)}: {in_file.group(3)}: unknown key; allowed: {allowed}"
    missing = re.search(r"Could not find '([^']+)' Available options in '[^']+': (.*?) Config search", text)
    if missing:
        return f"{missing.group(1)}: no such config; allowed: {', '.join(missing.group(2).split())}"
    key = getattr(err.__cause__, "full_key", None)
    if isinstance(err.__cause__, OmegaConfBaseException) and key:
        return f"{key}: {cause.split(' full_key:')[0]}"  # a value of the wrong type
    return _one_line(err)


def _mapping_of_names(key: str) -> str | None:
    """The longest part of a dotted key that is a mapping of names in the schema (``scenario.thresholds``)."""
    import typing

    from escalation.schema import UnknownKey, schema_key

    parts = key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        try:
            declared = schema_key(".".join(parts[:end])).type
        except UnknownKey:
            continue
        if typing.get_origin(declared) is dict:
            return ".".join(parts[:end])
    return None


def _check_no_code(cfg: DictConfig) -> None:
    """Refuse callbacks other than the command's own, and logging classes outside the logging modules.

    Config files and overrides are configuration, not code: Hydra instantiates what they name.
    """
    callbacks = OmegaConf.to_container(cfg.hydra.callbacks, resolve=False) if cfg.hydra.callbacks else {}
    for name, entry in (callbacks or {}).items():
        if entry is None or entry == {"_target_": OWN_CALLBACK}:
            continue
        target = entry.get("_target_") if isinstance(entry, dict) else entry
        raise UserError(
            f"hydra.callbacks.{name}: refused {target!r}: a config may not add code for Hydra to run "
            f"(experiment files are configuration, not code); allowed: {{_target_: {OWN_CALLBACK}}}, the "
            "command's own callback"
        )
    for section in ("job_logging", "hydra_logging"):
        node = cfg.hydra.get(section)
        tree = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else None
        for path, value in _logging_factories(tree, f"hydra.{section}"):
            if not (isinstance(value, str) and value.startswith(LOGGING_FACTORIES)):
                raise UserError(
                    f"{path}: refused {value!r}: a logging config may name only logging classes (experiment "
                    f"files are configuration, not code); allowed: {', '.join(LOGGING_FACTORIES)}"
                )


def _logging_factories(tree: Any, path: str):
    """``(key, value)`` of every class or factory a logging config names (``class`` and ``()`` keys)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ("class", "()"):
                yield f"{path}.{key}", value
            else:
                yield from _logging_factories(value, f"{path}.{key}")


def _check_experiment_name(cfg: DictConfig) -> None:
    """The experiment's name names its run and sweep folders under ``results/``: a plain name only."""
    import re

    try:
        name = str(cfg.experiment.name)
    except OmegaConfBaseException as err:
        raise UserError(_one_line(err)) from None
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or ".." in name:
        raise UserError(
            f"experiment.name: {name!r} is not a plain name (it names the run folder, results/<name>/...); "
            "allowed: letters, digits, '_', '-' and '.' (not '..')"
        )


def _check_point_folders(cfg: DictConfig, overrides: list, parser, multirun: bool, groups: set[str]) -> None:
    """Sweeps: every point folder must lie inside the sweep folder; a single run: no sweep.

    A point's folder is named by its overrides (``hydra.job.override_dirname``, e.g.
    ``policy.us.proportionality=0.1,data.path=...``), so a value's ``/`` makes nested folders and ``..``
    climbs out. We refuse rather than rename: the folder name must stay the overrides, since a rerun finds a
    sweep's points by it (resume). A swept value may contain neither ``/`` nor ``..`` (sweep over names, and
    set paths in an experiment file); a fixed value of a sweep may contain ``/`` (its points nest, which
    ``collect_points`` finds), but not a ``..`` part after its first ``/`` (the first part is always
    prefixed by ``<key>=``).
    """
    import shlex

    sweeps = [o for o in overrides if o.is_sweep_override()]
    if not multirun:
        if sweeps:
            key, value = sweeps[0].key_or_group, sweeps[0].input_line.split("=", 1)[1]
            quoted = shlex.quote(f'{key}="{value}"')
            quoting = "" if "/" in key or key in groups else f"quote the value: {quoted}, or "  # not a group
            raise UserError(
                f"{key}: {value!r} lists values to sweep (a comma separates them), but this is a single run; "
                f"{quoting}sweep with -m"
            )
        return
    excluded = set(cfg.hydra.job.config.override_dirname.exclude_keys or [])
    candidates = [o for o in overrides if not o.is_hydra_override()]
    for key, value in (cfg.hydra.sweeper.get("params") or {}).items():
        candidates.append(_parse_override(parser, f"{key}={value}"))
    for override in candidates:
        key = override.key_or_group
        if key in excluded or override.is_hydra_override() or override.is_delete():
            continue
        if override.is_interval_sweep():
            continue  # numbers drawn by an optimising sweeper: no '/' or '..' in them
        if override.is_sweep_override():
            for value in override.sweep_string_iterator():
                if "/" in str(value) or ".." in str(value):
                    raise UserError(
                        f"{key}: the swept value {str(value)!r} contains '/' or '..', but each point's "
                        "folder is named by its overrides (<sweep folder>/<key>=<value>,...); allowed: "
                        "values without '/' and '..' (set a path in an experiment file instead)"
                    )
        elif ".." in override.get_value_element_as_str().split("/")[1:]:
            raise UserError(
                f"{key}: {override.get_value_element_as_str()!r} would put the sweep's point folders outside "
                "its sweep folder (each point's folder is named by its overrides, and '..' climbs out); "
                "allowed: a value without '..' after its first '/' (an absolute path, or a path set in an "
                "experiment file)"
            )


def sweep_folder_override(args: list[str]) -> str | None:
    """The ``hydra.sweep.dir`` override that gives an ad-hoc sweep its own folder, or None.

    A command line that sweeps keys itself (``key=a,b``, ``range(...)``) is an ad-hoc sweep: it gets the
    folder ``results/sweeps/<experiment>--<swept keys>-<hash of the sweep's overrides>``, so a second one of
    the same experiment never overwrites the first one's aggregate, and rerunning the same command finds its
    own folder again (resume). An experiment's own sweep keeps ``results/sweeps/<experiment>``; a command line
    that sets ``hydra.sweep.dir`` keeps it.

    The folder stays one plain folder under ``results/sweeps/``: the experiment's name is a plain name
    (:func:`check_command_line` refuses others), the values are only hashed, and a swept key's characters
    other than letters, digits, ``_``, ``-`` and ``.`` (a config group's ``/``) become ``_``.
    """
    import hashlib
    import re

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
    keys = "+".join(re.sub(r"[^A-Za-z0-9_.-]", "_", o.key_or_group) for o in swept)
    return f"hydra.sweep.dir=results/sweeps/${{experiment.name}}--{keys}-{digest}"


def main() -> None:
    """Entry point of the ``escalation`` console script."""
    if _is_command_process():
        gc.disable()  # while the run imports its modules: see _imports_done
    try:
        _main()
    except SystemExit as done:
        _end_process(done.code)
        raise
    except BrokenPipeError:
        # The reader of the output has gone (escalation --help | head): stop quietly, as Python's docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    _end_process(0)


def _imports_done() -> None:
    """Turn the garbage collector back on once a task has imported its modules (in the command's process).

    The command's own process starts with the collector off (:func:`main`): a run imports some 2,000
    modules, and every full collection during those imports walks every object made so far (about a
    quarter of a second in all, for no garbage). Once the task's modules are in, the objects alive are moved
    to the collector's permanent generation (:func:`gc.freeze`: modules, classes and functions, which live as
    long as the process) and the collector is turned on, so what the run makes from then on is collected as
    usual and a full collection walks only that. Only the first call freezes (a sweep's later points run in
    the same process); a program that called :func:`main` itself keeps its own collector settings.
    """
    if gc.isenabled() or not _is_command_process():
        return
    gc.freeze()
    gc.enable()


def _figure_processes() -> int:
    """How many processes draw a run's figures: 2 in the command's own process with two cores or more.

    The second is forked beside the command's process (:class:`escalation.report.figures.FigureDrawing`):
    only in the command's process, never in a program that called :func:`main` (its threads are not ours to
    fork), and only where this process may use two cores.
    """
    from escalation.report.figures import can_fork

    if not _is_command_process() or not can_fork():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 if cores > 1 else 1


def _is_command_process() -> bool:
    """Whether this process runs the command itself (the console script or ``python -m escalation``)."""
    program = sys.modules.get("__main__")
    spec = getattr(program, "__spec__", None)
    if spec is not None and spec.name == "escalation.__main__":
        return True
    return Path(getattr(program, "__file__", None) or "").name == "escalation"


def _end_process(code: int | str | None) -> None:
    """End the command's own process at once, without the interpreter's teardown of the modules.

    A run imports some 2,000 modules (scipy, pandas, matplotlib, mesa, ...), and tearing them down takes the
    interpreter about half a second after the run has written and closed everything. When this process is
    the command's own (not a program that imported :mod:`escalation.cli` and called :func:`main`) and no
    other thread is still at work, the exit handlers run as at any exit (logging flushes and closes the
    run's log, multiprocessing cleans up, finalizers run), the standard streams are flushed, and the process
    ends with the command's exit code. Otherwise this returns and the interpreter exits as usual.
    """
    import atexit
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if not _is_command_process() or any(t.is_alive() for t in others):
        return
    # Only a run that ended well, in a process that started no worker pool: an interrupted or failed run,
    # or one whose workers left semaphores to multiprocessing's resource tracker, exits as usual so that
    # the interpreter's finalizers release them (the tracker warns of leaks otherwise).
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    if code not in (0, None) or getattr(getattr(tracker, "_resource_tracker", None), "_fd", None) is not None:
        return
    if isinstance(code, str):
        print(code, file=sys.stderr)  # as the interpreter does for sys.exit("message")
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _main() -> None:
    """The ``escalation`` command (see :func:`main`)."""
    from escalation import __version__

    if "--version" in sys.argv[1:]:
        print(f"escalation {__version__}")
        return
    # Errors propagate to this function, which reports them in one line (Hydra would print a stack summary).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _register_schema()
    try:
        sys.argv[1:] = check_command_line(sys.argv[1:])
    except UserError as err:
        print(f"escalation: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    folder = sweep_folder_override(sys.argv[1:])
    if folder is not None:
        sys.argv.append(folder)
    previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if not _app_help(sys.argv[1:]):
            with _mode_already_known(), _launcher_errors():
                _hydra_main()
        while _FINISHED_SWEEPS:
            _aggregate(_FINISHED_SWEEPS.pop(0))
    except KeyboardInterrupt as err:
        # Ctrl-C or SIGTERM: the run folder's manifest already says interrupted (see _run_task).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        terminated = isinstance(err, Terminated)
        print("escalation: interrupted" + (" (SIGTERM)" if terminated else ""), file=sys.stderr, flush=True)
        sys.exit(EXIT_SIGTERM if terminated else EXIT_SIGINT)
    except UserError as err:
        print(f"escalation: error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"escalation: error: {_one_line(err)}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


# The cluster launchers whose failure to start a sweep is reported in one line (see _launcher_errors).
RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher."
RAY_ADDRESS_KEY = "hydra.launcher.ray.init.address"
RAY_ADDRESS_ALLOWED = (
    "allowed: the address of a running Ray cluster's head node (HOST:PORT, as `ray start --head` prints "
    "it), or auto on a node of a running cluster"
)
SLURM_KEYS = (
    "hydra.launcher.partition, timeout_min, cpus_per_task, mem_gb, array_parallelism, setup, "
    "additional_parameters"
)


@contextlib.contextmanager
def _launcher_errors():
    """Report a cluster launcher that cannot start the sweep in one line (a :class:`UserError`).

    Only the errors the launchers raise while they start are caught, where the cause is a setting or the
    machine, not the program: Ray's ``ray.init`` (called by the Ray launcher's ``start_ray``) refusing its
    address or settings (``ConnectionError``, ``ValueError``, ``RuntimeError``), and submitit failing to make
    its executor or to submit the job array (no ``srun`` or ``sbatch`` here, ``sbatch`` refusing the job:
    submitit's ``FailedJobError`` and ``FailedSubmissionError``, both ``RuntimeError``, or an ``OSError``).
    Anything else, and any error of a point's job, keeps its traceback. Nothing of the sweep has run then:
    its folder holds at most Hydra's ``multirun.yaml`` and submitit's job files, no manifest or summary.
    """
    try:
        yield
    except (RuntimeError, ValueError, OSError) as err:
        message = _launcher_failure(err)
        if message is None:
            raise
        raise UserError(message) from None


def _launcher_failure(err: BaseException) -> str | None:
    """The one-line message for a launcher's failure to start a sweep, or None for any other error."""
    import traceback

    frames = [
        (frame.f_code.co_filename, frame.f_code.co_name) for frame, _ in traceback.walk_tb(err.__traceback__)
    ]
    detail = " ".join(str(err).split()) or type(err).__name__
    ray_start = any(
        name == "start_ray" and f"{os.sep}hydra_ray_launcher{os.sep}" in path for path, name in frames
    )
    if ray_start:
        launcher = _launcher_choice("ray_cluster")
        if isinstance(err, ConnectionError):
            address = _CHECKED.get("ray_address")
            return (
                f"{RAY_ADDRESS_KEY}: the Ray launcher (hydra/launcher={launcher}) could not join a Ray "
                f"cluster{f' at {address}' if address else ''}: {detail}; {RAY_ADDRESS_ALLOWED}"
            )
        return f"hydra.launcher.ray.init: the Ray launcher (hydra/launcher={launcher}) refused it: {detail}"
    launch = [
        k
        for k, (path, name) in enumerate(frames)
        if name == "launch" and f"{os.sep}hydra_submitit_launcher{os.sep}" in path
    ]
    if not launch or launch[-1] + 1 >= len(frames):
        return None
    if frames[launch[-1] + 1][1] not in ("__init__", "update_parameters", "map_array"):
        return None  # a job's own failure (job.results()): the point's error, with its traceback
    if not any(f"{os.sep}submitit{os.sep}slurm{os.sep}" in path for path, _ in frames[launch[-1] :]):
        return None  # not SLURM's executor (submitit's local one): not a setting of the cluster
    launcher = _launcher_choice("submitit_slurm")
    if isinstance(err, FileNotFoundError) and err.filename:
        what = f"{err.filename} is not on PATH ({detail})"
    elif 'detect "srun"' in detail:
        what = f"srun is not on PATH ({detail})"
    else:
        command = getattr(err.__cause__, "cmd", None)
        script = f"; its script, with the #SBATCH lines: {command[-1]}" if isinstance(command, list) else ""
        return (
            f"hydra.launcher: the SLURM launcher (hydra/launcher={launcher}) could not submit the sweep's "
            f"job array: {detail}{script}; allowed: settings this cluster's sbatch accepts ({SLURM_KEYS})"
        )
    return (
        f"hydra/launcher={launcher}: the SLURM launcher cannot submit jobs from this machine: {what}; "
        "allowed: run the command on a SLURM login node, or another launcher (hydra/launcher=submitit_local, "
        "joblib)"
    )


def _launcher_choice(default: str) -> str:
    """The ``hydra/launcher`` option the command line chose (as composed by :func:`check_command_line`)."""
    return str(_CHECKED.get("launcher") or default)


@contextlib.contextmanager
def _mode_already_known():
    """Let Hydra read ``hydra.mode`` from the config :func:`check_command_line` composed.

    Before a run, Hydra composes the whole config once more only to read ``hydra.mode`` (``Hydra.get_mode``).
    The check composed the same config (the same overrides but its sweeps, which cannot set the mode), so
    Hydra is given that mode instead, a quarter to half a second sooner.
    """
    if "mode" not in _CHECKED:
        yield
        return
    from hydra._internal.hydra import Hydra

    mode, original = _CHECKED["mode"], Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: mode  # type: ignore[method-assign]
    try:
        yield
    finally:
        Hydra.get_mode = original  # type: ignore[method-assign]


def _app_help(args: list[str]) -> bool:
    """``--help``: print Hydra's application help for this command line and return True (else False).

    The text is Hydra's own (``Hydra.app_help``, the ``hydra.help`` template), but its config groups are
    listed from one copy of the config repository: Hydra's loader copies the whole repository (the
    structured configs of Hydra and its plugins) for every group it lists, some ninety copies, which made
    ``--help`` take seconds.
    """
    options = _hydra_arguments(args)
    if options is None or not options.help:
        return False
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import (
        detect_calling_file_or_module_from_task_function,
        detect_task_name,
        get_args_parser,
    )
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    class ListingLoader(ConfigLoaderImpl):
        """Hydra's loader, answering the help's listings of config groups from one repository copy."""

        listing = None

        def get_group_options(
            self, group_name, results_filter=ObjectType.CONFIG, config_name=None, overrides=None
        ):
            if config_name is not None or overrides:
                return super().get_group_options(group_name, results_filter, config_name, overrides)
            if self.listing is None:
                _, self.listing = self._parse_overrides_and_create_caching_repo(None, [])
            return self.listing.get_group_options(group_name, results_filter)

    task_name = detect_task_name(*detect_calling_file_or_module_from_task_function(run))
    app = Hydra(task_name=task_name, config_loader=ListingLoader(config_search_path=_search_path(options)))
    GlobalHydra.instance().initialize(app)
    try:
        app.app_help(config_name=options.config_name or "config", args_parser=get_args_parser(), args=options)
    finally:
        GlobalHydra.instance().clear()
    return True


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler: raise :class:`Terminated` in the main thread, once.

    A second SIGTERM during the clean-up that follows is ignored, so the manifest is still closed.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: Hydra imports the callback from escalation.cli.
    from escalation.cli import main as escalation_main

    escalation_main()
