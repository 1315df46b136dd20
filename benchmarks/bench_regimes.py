"""Engine cost of the campaign regimes: the default scenario with and without them, side by side.

Times one R = 10,000 ensemble over 365 days (one process, one core) of the default scenario as packaged and
of the same scenario with every mechanism of the regimes on for every non-background attack dyad: a pause
hazard, the pooled paused rate and resume hazard, and the rate frailty (docs/model.md, 4.3a). Repeats each,
alternating, and prints the minimum and median seconds and the ratio of the medians.

Usage: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_regimes.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from escalation.calibration import calibrate
from escalation.ensemble import run_ensemble
from escalation.events import load_builtin_events
from escalation.history import observed_history
from escalation.specs import Dist, EnsembleSpec, default_scenario

DAYS = 365
REPLICATIONS = 10_000


def with_regimes(scenario):
    """Every non-background attack dyad with a pause hazard, a paused rate, a resume hazard and a frailty."""
    attacks = tuple(
        dyad
        if dyad.background
        else dataclasses.replace(
            dyad,
            pause_hazard=Dist("beta", (("a", 1.0), ("b", 364.0))),
            resume_hazard=Dist("beta", (("a", 2.0), ("b", 732.0))),
            paused_rate=Dist("lognorm", (("s", 2.36), ("scale", 0.0033))),
            rate_frailty=0.5,
        )
        for dyad in scenario.attacks
    )
    return dataclasses.replace(scenario, attacks=attacks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    args = parser.parse_args()
    events = load_builtin_events()
    base = dataclasses.replace(default_scenario(), horizon_days=DAYS)
    draws = calibrate(events, base).draws
    history = observed_history(events, base)
    spec = EnsembleSpec(replications=REPLICATIONS, workers=1, seed=1, progress=False)
    times: dict[str, list[float]] = {"without regimes": [], "with regimes": []}
    scenarios = {"without regimes": base, "with regimes": with_regimes(base)}
    for _ in range(args.repeat):
        for name, scenario in scenarios.items():
            started = time.perf_counter()
            run_ensemble(scenario, spec, calibration_draws=draws, history=history)
            times[name].append(time.perf_counter() - started)
    print(f"default scenario, R = {REPLICATIONS:,} x {DAYS} days, one process, {args.repeat} runs each")
    for name, values in times.items():
        print(f"  {name:16s} min {min(values):6.2f} s   median {statistics.median(values):6.2f} s")
    ratio = statistics.median(times["with regimes"]) / statistics.median(times["without regimes"])
    print(f"  ratio of medians (with / without): {ratio:.2f}")


if __name__ == "__main__":
    main()
