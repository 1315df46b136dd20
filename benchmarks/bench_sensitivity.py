"""Sensitivity benchmark: a Sobol analysis of every uncertain parameter of the default scenario.

Times :func:`escalation.sensitivity.run_sensitivity` (the design's ensemble and SALib's analysis with its
bootstrap) on the calibrated default scenario over 180 days, with every uncertain parameter and the
randomness as factors, N base samples, on 2 worker processes; repeats it and prints the minimum and median.
The calibration is computed once, before the timed runs. The target is under 2 minutes for N = 1,024.

Usage: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sensitivity.py [--base-samples 1024]
       [--repeat 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from escalation.calibration import calibrate
from escalation.events import load_builtin_events
from escalation.history import observed_history
from escalation.sensitivity import SensitivitySpec, run_sensitivity
from escalation.specs import EnsembleSpec, default_scenario

DAYS = 180


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-samples", type=int, default=1024, help="Sobol base samples N (power of 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()

    events = load_builtin_events()
    scenario = dataclasses.replace(default_scenario(), horizon_days=DAYS)
    calibration = calibrate(events, scenario)
    history = observed_history(events, scenario)
    spec = SensitivitySpec(method="sobol", base_samples=args.base_samples, horizons=(30, 90, DAYS), seed=1)
    ensemble = EnsembleSpec(chunk_size=2_500, workers=args.workers, seed=1)
    times, simulated = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        result = run_sensitivity(
            spec, scenario, ensemble, calibration_draws=calibration.draws, history=history
        )
        times.append(time.perf_counter() - started)
        simulated.append(result.design.elapsed_seconds)
    factors = len(result.design.factors)
    runs = len(result.design.unit)
    print(
        f"Sobol, {factors} factors (incl. randomness), N = {args.base_samples}: {runs:,} design runs "
        f"({result.design.ensemble.replications:,} simulated) x {DAYS} days, {args.workers} workers, "
        f"{len(result.design.headlines)} headlines"
    )
    print(
        f"total: min {min(times):.1f} s, median {statistics.median(times):.1f} s; "
        f"simulation: min {min(simulated):.1f} s, median {statistics.median(simulated):.1f} s"
    )


if __name__ == "__main__":
    main()
