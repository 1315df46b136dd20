"""The memory bound: what a run keeps grows only with compact outcomes, and the up-front estimate is honest.

``ensemble.estimate_memory`` is what the command uses to refuse a size that cannot fit; it is meant to be
within a factor of FACTOR of the peak resident memory either way. The slow test measures that peak in child
processes running the baseline command; the fast one measures, with tracemalloc, the bytes an ensemble keeps
per replication (a chunk's model kept alive, or int64 outcomes, multiply them), without histograms.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from escalation.ensemble import REPLICATION_BATCH_ROWS, estimate_memory, run_ensemble
from escalation.specs import EnsembleSpec

FACTOR = 1.5  # the estimate's stated accuracy: measured / estimated within [1 / FACTOR, FACTOR]


def _kept_per_replication(scenario, replications: int) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = run_ensemble(scenario, EnsembleSpec(replications=replications, chunk_size=500, seed=3))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert result.replications == replications
    # The daily histograms grow with the largest count, not the replications: left out.
    return kept - sum(table.nbytes for table in result.outcomes.count_histograms.values())


def test_an_ensemble_keeps_only_its_compact_outcomes_and_the_estimate_counts_them(scenario):
    short = dataclasses.replace(scenario, horizon_days=20)
    small, large = 1_000, 8_000
    per_replication = (_kept_per_replication(short, large) - _kept_per_replication(short, small)) / (
        large - small
    )
    # The packaged scenario's compact outcomes: days in int16, counts in int32, the parameters and the draw
    # in float64/int64 (634 bytes with 6 attack and 9 retaliation dyads and 51 parameters; 1.5 times that
    # with int64 days and counts). A chunk's model kept alive adds a few KB a chunk, under 200 bytes each.
    result = run_ensemble(short, EnsembleSpec(replications=small, chunk_size=500, seed=3))
    compact = (
        sum(
            array.nbytes / small
            for array in vars(result.outcomes).values()
            if isinstance(array, np.ndarray) and array.ndim >= 1 and array.shape[0] == small
        )
        + result.draws.nbytes / small
    )
    assert compact - 50 < per_replication < compact + 200, (per_replication, compact)

    # The estimate's growth per replication, beyond the one batch of the table being written (a constant
    # from REPLICATION_BATCH_ROWS replications on), must cover what is kept, within the stated factor.
    def outcomes(replications):
        return estimate_memory(short, REPLICATION_BATCH_ROWS + replications, chunk_size=500).outcomes

    estimated = (outcomes(large) - outcomes(small)) / (large - small)
    assert per_replication <= estimated <= FACTOR * per_replication, (per_replication, estimated)


def _peak_of_command(replications: int, folder) -> float:
    """Peak resident bytes of the baseline command in a child process (its own ``VmHWM``).

    Not the child's ``ru_maxrss``: Linux carries the high-water mark of the process it was forked from
    across ``exec``, so a child of a pytest process that has grown to 700 MB would report at least that.
    ``VmHWM`` belongs to the child's own address space; the child writes it as it exits.
    """
    report = folder / f"peak-{replications}.txt"
    script = (
        "import atexit, runpy, sys\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read()\n"
        f"    open({str(report)!r}, 'w').write(status.split('VmHWM:')[1].split()[0])\n"
        "atexit.register(peak)\n"
        "sys.argv = ['escalation', *sys.argv[1:]]\n"
        "runpy.run_module('escalation', run_name='__main__')\n"
    )
    overrides = [f"ensemble.replications={replications}", "ensemble.progress=false"]
    args = [sys.executable, "-c", script, *overrides, f"hydra.run.dir={folder / str(replications)}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return float(report.read_text()) * 1024.0


@pytest.mark.slow
def test_the_memory_estimate_is_within_its_factor_of_the_commands_peak_at_two_sizes(tmp_path):
    from escalation.specs import default_scenario

    scenario = default_scenario()
    for replications in (20_000, 200_000):
        peak = _peak_of_command(replications, tmp_path)
        estimate = estimate_memory(scenario, replications, chunk_size=2500, calibration_draws=4000).total
        assert 1 / FACTOR <= peak / estimate <= FACTOR, (replications, peak, estimate)
