"""Sweep benchmark: the cost of one sweep point, with and without shared calibrations, and a 200-point sweep.

Prints, from one run on this machine (BLAS pinned to one thread):
- per-point cost (min / median over the points after the first, which pays the imports) of a sweep run
  with the basic launcher at 2,000 replications per point, and the part of it beyond the simulation
  (cost minus the simulation seconds the point's manifest records), side by side: with the calibrations
  shared by the points (the default) and with every point calibrating itself
  (ESCALATION_NO_SHARED_CALIBRATION=1, the behaviour before). A point's cost is the time from one point's
  start to the next one's (each manifest records when its job entered the command), so it includes
  Hydra's composition of the point's config;
- with --points 200: the wall time of a 200-point deterrence sweep (20 US strike probabilities x 10 strike
  sizes) at 2,000 replications per point with the joblib launcher on 2 jobs, aggregation included;
- with --crn: the variance of the paired difference between two nearby points (US strike probability 0.5
  vs 0.6) with common random numbers, against the variance with independent seeds;
- with --launchers N: the wall time of the packaged deterrence sweep (21 points at the default 10,000
  replications), ``escalation experiment=deterrence_sweep`` with the basic launcher and with
  ``hydra/launcher=joblib hydra.launcher.n_jobs=2``, each run N times (alternately, each in a new folder),
  min / median: the figures docs/sweeps.md quotes ("Parallel sweeps on one machine"). These runs get the
  environment as given, without the pinning of BLAS threads below, as a user runs the command (the engine
  pins its own BLAS threads).

Usage: python benchmarks/bench_sweep.py [--points N] [--crn] [--launchers N] [--per-point 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# BLAS pinned to one thread (unless the caller set the variables), but not for --launchers (see there).
PINNED_HERE = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if name not in os.environ}
os.environ.update(PINNED_HERE)

REPLICATIONS = 2000


def sweep(folder: Path, args: list[str], env: dict[str, str] | None = None) -> float:
    """Run ``escalation`` with ``args`` in ``folder``; returns the wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=folder, capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def launcher_walls(repeats: int) -> None:
    """The deterrence sweep's wall time with the basic and the joblib launcher, ``repeats`` times each."""
    commands = {
        "basic launcher": ["experiment=deterrence_sweep"],
        "joblib, 2 jobs": ["experiment=deterrence_sweep", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for name in PINNED_HERE:  # as a user runs the command: the engine pins its own BLAS threads
        os.environ.pop(name)
    for _ in range(repeats):
        for name, args in commands.items():
            with tempfile.TemporaryDirectory() as folder:
                walls[name].append(sweep(Path(folder), args))
                manifests = list(Path(folder).glob("results/sweeps/*/*/manifest.json"))
                if len(manifests) != 21:
                    raise SystemExit(f"{name}: {len(manifests)} points ran, not 21")
    print(f"deterrence sweep (21 points, 10,000 replications each), wall time, {repeats} runs, seconds:")
    for name, values in walls.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:<16} min {min(values):6.1f}  median {statistics.median(values):6.1f}  ({shown})")


def point_costs(points: int, shared: bool) -> tuple[list[float], list[float]]:
    """Per-point cost and the part of it beyond the simulation, for the points after the first."""
    values = ",".join(f"{0.01 * (k + 1):.2f}" for k in range(points))
    args = [
        "experiment=deterrence_sweep", "policy.us.retaliation_probability=0.5",
        f"policy.us.proportionality={values}", f"ensemble.replications={REPLICATIONS}", "ensemble.workers=1",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        sweep(Path(folder), args, env={} if shared else {"ESCALATION_NO_SHARED_CALIBRATION": "1"})
        manifests = [json.loads(p.read_text()) for p in Path(folder).glob("results/sweeps/*/*/manifest.json")]
    manifests.sort(key=lambda m: m["entered_unix"])
    costs, overheads = [], []
    for this, following in itertools.pairwise(manifests[1:]):
        cost = following["entered_unix"] - this["entered_unix"]
        costs.append(cost)
        overheads.append(cost - this["simulation_seconds"])
    return costs, overheads


def crn_variances(replications: int = 10_000) -> None:
    import dataclasses

    import numpy as np

    import escalation as esc
    from escalation.specs import EnsembleSpec

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
    parser.add_argument("--points", type=int, default=0, help="also time a sweep of this many points (200)")
    parser.add_argument(
        "--per-point", type=int, default=10, help="points of the per-point comparison (0: skip it)"
    )
    parser.add_argument("--crn", action="store_true", help="also measure the common-random-number variances")
    parser.add_argument(
        "--launchers", type=int, default=0, help="also time the deterrence sweep per launcher, N runs each"
    )
    args = parser.parse_args()
    if args.per_point:
        print(f"per-point cost, basic launcher, {REPLICATIONS:,} replications, one ensemble worker, seconds:")
        print(f"  {'':<34} {'cost min':>9} {'median':>8} {'beyond simulation min':>22} {'median':>8}")
        for label, shared in (
            ("each point calibrates (before)", False),
            ("shared calibrations (after)", True),
        ):
            costs, overheads = point_costs(args.per_point, shared)
            print(
                f"  {label:<34} {min(costs):9.2f} {statistics.median(costs):8.2f} "
                f"{min(overheads):22.2f} {statistics.median(overheads):8.2f}"
            )
    if args.points:
        rho = 20 if args.points >= 20 else args.points
        size = max(1, args.points // rho)
        values = ",".join(f"{0.05 * (k + 1):.2f}" for k in range(rho))
        sizes = ",".join(f"{0.01 * (k + 1):.2f}" for k in range(size))
        with tempfile.TemporaryDirectory() as folder:
            wall = sweep(
                Path(folder),
                [
                    "experiment=deterrence_sweep", f"policy.us.retaliation_probability={values}",
                    f"policy.us.proportionality={sizes}", f"ensemble.replications={REPLICATIONS}",
                    "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                ],
            )  # fmt: skip
            store = next(Path(folder).glob("results/sweeps/*/store"))
            points = len(json.loads((store / "store.json").read_text())["points"])
            calibrations = len(list(store.parent.glob("calibrations/*.json")))
        print(
            f"{points}-point sweep ({rho} x {size}), {REPLICATIONS:,} replications per point, joblib 2 jobs: "
            f"{wall:.1f} s ({wall / points:.2f} s per point; {calibrations} distinct calibrations)"
        )
    if args.crn:
        crn_variances()
    if args.launchers:
        launcher_walls(args.launchers)


if __name__ == "__main__":
    main()
