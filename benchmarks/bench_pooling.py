"""Reference-class calibration benchmark: the pooled priors, cold and from the disk cache, and calibrations.

Times (a) the pooled priors of the October 2023 scenario (``pooling.reference_priors``, with every pool's
predictive) from cold: every in-process cache cleared and the disk cache off (``ESCALATION_NO_CACHE=1``), as
the first run after a change to the records or the code computes them; (b) the same read from the disk cache
(``escalation.cache``, in a temporary folder filled once before), as every later run does; (c) the default
calibration of the scenario (4,000 draws) with the pooled priors from cold, (d) the same with them from the
disk cache, and (e) with the hand-set priors, side by side. BLAS threads are pinned to one; each figure is
repeated and reported as min / median.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_pooling.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

from escalation import cache, pooling  # noqa: E402
from escalation.calibration import calibrate  # noqa: E402
from escalation.events import load_builtin_events  # noqa: E402
from escalation.specs import default_scenario  # noqa: E402


def cold(disk_cache: bool) -> None:
    """Clear the in-process caches; turn the disk cache on or off."""
    for cached in (pooling._rate_population, pooling._truce_population, pooling._record):
        cached.cache_clear()
    pooling._predictive_densities.cache_clear()
    os.environ[cache.NO_CACHE] = "0" if disk_cache else "1"


def timed(run, disk_cache: bool) -> float:
    cold(disk_cache)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(repeats: int = 5) -> None:
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)

    def priors() -> None:
        for prior in pooling.reference_priors(scenario, scenario.start).values():
            prior.population.summary()

    with tempfile.TemporaryDirectory() as folder:
        os.environ[cache.CACHE_DIR] = folder
        timed(priors, disk_cache=True)  # fills the disk cache
        cases = {
            "pooled priors (cold)": (priors, False),
            "pooled priors (disk cache)": (priors, True),
            "calibration, reference_class (cold)": (lambda: calibrate(events, scenario, draws=4000), False),
            "calibration, reference_class (cache)": (lambda: calibrate(events, scenario, draws=4000), True),
            "calibration, hand": (lambda: calibrate(events, scenario, draws=4000, priors="hand"), True),
        }
        results = {name: [timed(run, disk) for _ in range(repeats)] for name, (run, disk) in cases.items()}
    hand = statistics.median(results["calibration, hand"])
    print(f"{'case':40s} {'min s':>8s} {'median s':>9s} {'x hand':>7s}")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:40s} {min(times):8.3f} {median:9.3f} {median / hand:7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
