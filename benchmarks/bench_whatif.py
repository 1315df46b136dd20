"""What-if update benchmark: the time from a moved lever to the page's tables, at the page's default size.

Prepares the baseline once (calibration and the baseline run, 2,000 replications x 180 days by default),
then times `whatif.evaluate` (the run with the levers set, the threshold table with the paired differences,
the ladder curves and the attack fan) for a sequence of different lever settings, one BLAS thread, one
process. Prints the minimum and the median over the repeats and the load average (the machine is shared:
the minimum is the better estimate of the cost on an idle core). Target: under 1 s.

Usage: python benchmarks/bench_whatif.py [--replications 2000] [--days 180] [--repeats 7]
"""

from __future__ import annotations

import os

# One BLAS thread: the pins must precede numpy's import.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time

from escalation import whatif
from escalation.events import load_builtin_events
from escalation.specs import EnsembleSpec, default_scenario

SETTINGS = (
    whatif.Levers(militia_restraint=0.5),
    whatif.Levers(us_retaliation_probability=0.9),
    whatif.Levers(us_threshold=20.0, us_proportionality=0.2),
    whatif.Levers(us_escalation_probability=0.1),
    whatif.Levers(invasion_day=40),
    whatif.Levers(air_defence_day=5, air_defence_factor=0.3),
    whatif.Levers(truce_day=30, truce_hold_probability=0.8),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeats", type=int, default=len(SETTINGS))
    args = parser.parse_args()
    ensemble = EnsembleSpec(replications=args.replications, workers=1)
    started = time.perf_counter()
    baseline = whatif.prepare_baseline(default_scenario(), load_builtin_events(), ensemble, days=args.days)
    print(f"baseline (calibration + run, once): {time.perf_counter() - started:.2f} s")
    updates, runs = [], []
    for k in range(args.repeats):
        levers = SETTINGS[k % len(SETTINGS)]
        result = whatif.evaluate(baseline, levers)
        updates.append(result.seconds)
        runs.append(result.result.elapsed_seconds)
        print(f"  {levers.set_levers()}: update {result.seconds:.3f} s (simulation {runs[-1]:.3f} s)")
    print(
        f"what-if update, {args.replications} replications x {args.days} days, one core: "
        f"min {min(updates):.3f} s, median {statistics.median(updates):.3f} s "
        f"(simulation alone: min {min(runs):.3f} s, median {statistics.median(runs):.3f} s)"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
