"""Engine benchmark: ensemble vs R = 1 loop on the default scenario, and peak memory at R = 100,000.

Prints, from one run on this machine:
- replication-days per second of one R = 10,000 ensemble over 365 days (one core, one process);
- replication-days per second of the same model run as R = 1 models in a loop (enough loops to
  extrapolate), and the ratio of the two;
- peak resident memory of a child process that runs R = 100,000 over 365 days in chunks.

Usage: python benchmarks/bench_engine.py [--loops 40] [--skip-memory]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import sys
import time

from escalation.calibration import calibrate
from escalation.ensemble import run_ensemble
from escalation.events import load_builtin_events
from escalation.history import observed_history
from escalation.specs import EnsembleSpec, default_scenario

DAYS = 365


def _setup():
    events = load_builtin_events()
    scenario = dataclasses.replace(default_scenario(), horizon_days=DAYS)
    return scenario, calibrate(events, scenario).draws, observed_history(events, scenario)


def _time(scenario, draws, history, replications: int, chunk_size: int) -> float:
    spec = EnsembleSpec(replications=replications, chunk_size=chunk_size, workers=1, seed=1)
    started = time.perf_counter()
    run_ensemble(scenario, spec, calibration_draws=draws, history=history)
    return time.perf_counter() - started


def _memory_child(replications: int) -> None:
    scenario, draws, history = _setup()
    spec = EnsembleSpec(replications=replications, chunk_size=2_500, workers=1, seed=1)
    started = time.perf_counter()
    result = run_ensemble(scenario, spec, calibration_draws=draws, history=history)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{result.replications} {elapsed:.2f} {peak_mb:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loops", type=int, default=40, help="R = 1 models to time (default 40)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the R = 100,000 memory run")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child)
        return

    scenario, draws, history = _setup()
    _time(scenario, draws, history, 500, 500)  # warm-up: imports, caches
    ensemble_seconds = _time(scenario, draws, history, 10_000, 10_000)
    loop_seconds = _time(scenario, draws, history, args.loops, 1)
    ensemble_rate = 10_000 * DAYS / ensemble_seconds
    loop_rate = args.loops * DAYS / loop_seconds
    print(f"default scenario, {DAYS} days, {len(scenario.actors)} actors, one core")
    print(f"ensemble  R = 10,000 in one model : {ensemble_seconds:7.2f} s  {ensemble_rate:12,.0f} rep-days/s")
    print(
        f"loop      R = 1 x {args.loops:<5}          : {loop_seconds:7.2f} s  {loop_rate:12,.0f} rep-days/s"
        f"  (10,000 would take {loop_seconds / args.loops * 10_000:,.0f} s)"
    )
    print(f"speed-up per replication: {ensemble_rate / loop_rate:,.0f}x")
    if not args.skip_memory:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", "100000"], capture_output=True, text=True, check=True
        )
        replications, seconds, peak_mb = child.stdout.split()
        print(
            f"R = {int(replications):,} x {DAYS} days in chunks of 2,500: {float(seconds):.1f} s, "
            f"peak resident memory {float(peak_mb):,.0f} MB"
        )


if __name__ == "__main__":
    main()
