"""Reference-class calibration benchmark: the pooled priors from cold, and the October 2023 calibration.

Times, from cold (every cache cleared), (a) fitting the base-rate pool from the packaged reference records,
(b) the default calibration of the October 2023 scenario with those priors (4,000 draws), and (c) the same
calibration with the hand-set priors, side by side. BLAS threads are pinned to one; each figure is repeated
and reported as min / median.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_pooling.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

from escalation import pooling  # noqa: E402
from escalation.calibration import calibrate  # noqa: E402
from escalation.events import load_builtin_events  # noqa: E402
from escalation.specs import default_scenario  # noqa: E402


def cold() -> None:
    pooling._base_rate_population.cache_clear()
    pooling._record.cache_clear()


def timed(run) -> float:
    cold()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(repeats: int = 5) -> None:
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    pool = pooling.load_pools()["base_rate"]
    cases = {
        "pool fit (cold)": lambda: pooling.fit_population(pooling.pool_stretches(pool, scenario.start)[0]),
        "calibration, reference_class (cold)": lambda: calibrate(events, scenario, draws=4000),
        "calibration, hand": lambda: calibrate(events, scenario, draws=4000, priors="hand"),
    }
    results = {name: [timed(run) for _ in range(repeats)] for name, run in cases.items()}
    hand = statistics.median(results["calibration, hand"])
    print(f"{'case':40s} {'min s':>8s} {'median s':>9s} {'x hand':>7s}")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:40s} {min(times):8.3f} {median:9.3f} {median / hand:7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
