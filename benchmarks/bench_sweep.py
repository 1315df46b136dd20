"""Sweep benchmark: a 21-point deterrence sweep at 10,000 replications per point, and common random numbers.

Prints, from one run on this machine:
- wall time of `escalation experiment=deterrence_sweep` (7 x 3 = 21 points, 10,000 replications each) with the
  basic launcher (points one after another) and with the joblib launcher (2 jobs);
- the variance of the paired difference between two nearby points (US strike probability 0.5 vs 0.6) with
  common random numbers, against the variance with independent seeds, for each named threshold by day 180.

Usage: python benchmarks/bench_sweep.py [--skip-basic]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import escalation as esc
from escalation.specs import EnsembleSpec


def time_sweep(extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "escalation", "experiment=deterrence_sweep", *extra],
            cwd=Path(folder), check=True, capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - started


def crn_variances(replications: int = 10_000) -> None:
    events = esc.load_builtin_events()
    scenario = esc.default_scenario()
    calibration = esc.calibrate(events, scenario)
    history = esc.observed_history(events, scenario)

    def outcomes(probability: float, seed: int) -> np.ndarray:
        policies = tuple(
            dataclasses.replace(p, retaliation_probability=probability) if p.state == "us" else p
            for p in scenario.policies
        )
        result = esc.run_ensemble(
            dataclasses.replace(scenario, policies=policies),
            EnsembleSpec(replications=replications, seed=seed),
            calibration_draws=calibration.draws,
            history=history,
        )
        days = result.outcomes.threshold_days
        return ((days >= 0) & (days < scenario.horizon_days)).astype(float)

    low, high, independent = outcomes(0.5, 1), outcomes(0.6, 1), outcomes(0.6, 2)
    print(f"paired difference, US strike probability 0.6 - 0.5, {replications:,} replications, by day 180:")
    for m, threshold in enumerate(scenario.thresholds):
        paired = np.var(high[:, m] - low[:, m], ddof=1)
        unpaired = np.var(low[:, m], ddof=1) + np.var(independent[:, m], ddof=1)
        ratio = f"{unpaired / paired:8.1f}x" if paired > 0 else "   exact (no replication differs)"
        print(f"  {threshold.label:<42} variance with CRN {paired:.5f}, independent {unpaired:.5f}: {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-basic", action="store_true", help="time only the joblib launcher")
    args = parser.parse_args()
    if not args.skip_basic:
        print(f"21-point sweep x 10,000 replications, basic launcher : {time_sweep([]):6.1f} s")
    joblib = time_sweep(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    print(f"21-point sweep x 10,000 replications, joblib 2 jobs  : {joblib:6.1f} s")
    crn_variances()


if __name__ == "__main__":
    main()
