"""Command-line benchmark: each console script's ``--help``, and the fixed costs of a baseline run.

Runs everything as a user would, in subprocesses in a temporary folder, with BLAS pinned to one thread:

1. ``<command> --help`` for every console script in ``pyproject.toml`` ([project.scripts]): min and median
   of the repeats.
2. ``escalation`` (the baseline experiment at its default replications, or the overrides given): each
   repeat runs the command's own ``main`` in a fresh interpreter started with ``-X importtime``, with timers
   around its phases. The imports are counted apart (every module the run imports, wherever it is first
   imported); each phase is its wall time less the imports made inside it:

   - ``imports``: all imports of the run (``-X importtime``, top-level entries; its own overhead included);
   - ``composition``: the command-line checks, Hydra's composition and its job set-up and tear-down;
   - ``inputs``: specs and events from the composed config (``cli.prepare_inputs``);
   - ``calibration``: ``cli.calibrate_inputs``;
   - ``simulation``: the ensembles (``run_ensemble``, one per arm);
   - ``experiment setup``: the rest of ``run_experiment`` (histories, arms' draws, merging);
   - ``figures``: the figures and fit checks that ``write_experiment`` draws and saves after its tables
     (the run draws them in a second process while it writes the tables, then in both: this is the time
     it spends on figures once the tables are written, waiting for the second process included);
   - ``writing``: tables, summary, manifest, config copies and the printed summary;
   - ``other``: the rest of the wall time (the interpreter's own start and exit).

   The fixed costs are the wall time less the simulation. Also prints the import time by top-level package
   (self times), the widest 90% interval among the baseline's headline probabilities, and the wall time.

   The runs use the disk cache of the pooled priors' fits (``escalation.cache``) in a temporary folder,
   filled by one untimed run first, as every run after the first on a machine finds it; ``--no-cache`` times
   them with the cache off (``ESCALATION_NO_CACHE=1``: every run fits the pools, as the first run does).

Usage:
    python benchmarks/bench_cli.py                          # 5 --help repeats, 3 baseline runs
    python benchmarks/bench_cli.py --runs 5 ensemble.replications=2000
    python benchmarks/bench_cli.py --skip-run               # --help only
    python benchmarks/bench_cli.py --runs 5 --no-cache      # every run fits the pooled priors itself
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MARK = "@@bench"
PHASES = (
    "imports",
    "composition",
    "inputs",
    "calibration",
    "simulation",
    "experiment setup",
    "figures",
    "writing",
    "other",
)
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **PINNED, **(extra or {})}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def console_scripts() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["scripts"])


def time_help(command: str, cwd: Path) -> float:
    executable = Path(sys.executable).parent / command
    started = time.perf_counter()
    subprocess.run([str(executable), "--help"], cwd=cwd, env=_environment(), check=True, capture_output=True)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------
# The probe: runs inside the subprocess (python -X importtime bench_cli.py --probe OVERRIDES...)


def probe(overrides: list[str]) -> None:
    """Run ``escalation OVERRIDES`` in this process with a marker on stderr at each phase's start and end."""

    def mark(phase: str, edge: str) -> None:
        sys.stderr.write(f"\n{MARK} {phase} {edge} {time.perf_counter():.6f}\n")  # after a progress bar
        sys.stderr.flush()

    sys._xoptions.pop("importtime", None)  # child processes (a resource tracker) are not timed
    mark("probe", "begin")
    from escalation import cli

    if hasattr(cli, "_imports_done"):  # as cli.main does in the command's process, before the run's imports
        import gc

        gc.disable()
    from escalation import experiment
    from escalation.report import experiment as report

    def timed(module, name: str, phase: str) -> None:
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            mark(phase, "begin")
            try:
                return original(*args, **kwargs)
            finally:
                mark(phase, "end")

        setattr(module, name, wrapper)

    timed(cli, "run", "run")
    timed(cli, "prepare_inputs", "inputs")
    timed(cli, "calibrate_inputs", "calibration")
    timed(experiment, "run_experiment", "experiment")
    timed(experiment, "run_ensemble", "simulation")
    timed(report, "write_experiment", "write")
    figures = sys.modules.get("escalation.report.figures")
    if figures is not None:  # the figures not drawn beside the tables (in a second process), and the wait
        timed(figures.FigureDrawing, "finish", "figures")
    else:  # older versions of the command draw every figure after the tables
        timed(report, "_write_figures", "figures")
        timed(report, "write_fit_checks", "figures")
    end_process = getattr(cli, "_end_process", None)  # absent from older versions of the command
    if end_process is not None:

        def end(code):
            mark("main", "end")
            end_process(code)  # as the command ends: without the interpreter's teardown

        cli._end_process = end
        cli._is_command_process = lambda: True  # this probe stands in for the command's process
    sys.argv = ["escalation", *overrides]
    mark("main", "begin")
    try:
        cli.main()
    finally:
        if end_process is None:
            mark("main", "end")


def parse_probe(stderr: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(phase walls, imports inside each phase, import self time by package) from the probe's stderr."""
    walls: dict[str, float] = defaultdict(float)
    inside: dict[str, float] = defaultdict(float)
    packages: dict[str, float] = defaultdict(float)
    open_phases: dict[str, float] = {}
    started = False
    for line in stderr.splitlines():
        if line.startswith(MARK):
            _, phase, edge, stamp = line.split()
            started = True
            if edge == "begin":
                open_phases[phase] = float(stamp)
            else:
                walls[phase] += float(stamp) - open_phases.pop(phase)
            continue
        found = IMPORT_LINE.match(line)
        if not found or not started:
            continue  # the interpreter's own start-up imports come before the probe's first marker
        own, cumulative, indent, name = found.groups()
        packages[name.split(".")[0]] += int(own) / 1e6
        if len(indent) == 1:  # a top-level import: count it once, in every phase open around it
            inside["all"] += int(cumulative) / 1e6
            for phase in open_phases:
                inside[phase] += int(cumulative) / 1e6
    return walls, inside, packages


def run_once(overrides: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """One baseline run under the probe: the phases' seconds, imports by package, the summary."""
    command = [sys.executable, "-X", "importtime", str(Path(__file__).resolve()), "--probe", *overrides]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_environment(env), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise SystemExit(f"bench_cli: the run failed (exit {done.returncode}):\n{tail}")
    walls, inside, packages = parse_probe(done.stderr)
    folder = max((cwd / "results").glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime).parent
    summary = json.loads((folder / "summary.json").read_text())

    def net(phase: str) -> float:
        return walls[phase] - inside[phase]

    simulation = net("simulation")
    figures = net("figures")
    phases = {
        "imports": inside["all"],
        "composition": (walls["main"] - inside["main"]) - (walls["run"] - inside["run"]),
        "inputs": net("inputs"),
        "calibration": net("calibration"),
        "simulation": simulation,
        "experiment setup": net("experiment") - simulation,
        "figures": figures,
        "writing": net("run") - net("inputs") - net("calibration") - net("experiment") - figures,
    }
    phases["other"] = wall - sum(phases.values())
    return {"wall": wall, "phases": phases, "packages": dict(packages), "summary": summary}


def _stats(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="overrides of the timed run (default: the baseline)")
    parser.add_argument("--help-repeats", type=int, default=5, help="repeats of each --help (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="repeats of the timed run (default 3)")
    parser.add_argument("--skip-run", action="store_true", help="time the --help of each command only")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="time the runs with the disk cache off (ESCALATION_NO_CACHE=1)",
    )
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.overrides)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, BLAS pinned to 1 thread")
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        print(f"\n{'--help':<38} {'min':>7} {'median':>7}  (s, {args.help_repeats} repeats)")
        for command in console_scripts():
            seconds = [time_help(command, cwd) for _ in range(args.help_repeats)]
            print(f"{command + ' --help':<38} {_stats(seconds)}")
        if args.skip_run:
            return
        cache = {
            "ESCALATION_CACHE_DIR": str(cwd / "cache"),
            "ESCALATION_NO_CACHE": "1" if args.no_cache else "0",
        }
        if not args.no_cache:
            run_once(args.overrides, cwd, cache)  # untimed: fills the cache, as any earlier run would
        runs = [run_once(args.overrides, cwd, cache) for _ in range(args.runs)]
    state = "off" if args.no_cache else "on, filled by an earlier run"
    print(f"\ndisk cache of the pooled priors' fits: {state}")
    label = " ".join(["escalation", *args.overrides])
    print(f"\n{label:<38} {'min':>7} {'median':>7}  (s, {args.runs} runs)")
    for phase in PHASES:
        print(f"  {phase:<36} {_stats([r['phases'][phase] for r in runs])}")
    fixed = [r["wall"] - r["phases"]["simulation"] for r in runs]
    print(f"  {'fixed costs (all but the simulation)':<36} {_stats(fixed)}")
    print(f"  {'wall':<36} {_stats([r['wall'] for r in runs])}")
    packages = sorted(
        runs[0]["packages"], key=lambda p: -statistics.median(r["packages"].get(p, 0) for r in runs)
    )
    print("\nimport time by top-level package (self times, s; median):")
    for package in packages[:12]:
        print(f"  {package:<36} {statistics.median(r['packages'].get(package, 0.0) for r in runs):7.2f}")
    summary = runs[-1]["summary"]
    widest = max(
        (value["upper"] - value["lower"]) / 2
        for arm in summary["arms"].values()
        for threshold in arm["thresholds"].values()
        for value in threshold["by_day"].values()
    )
    print(
        f"\n{summary['replications']:,} replications; widest headline 90% interval: "
        f"+/-{100 * widest:.2f} points"
    )


if __name__ == "__main__":
    main()
