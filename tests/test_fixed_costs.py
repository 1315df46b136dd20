"""Tests of what keeps a run's fixed costs down (benchmarks/bench_cli.py measures them).

The disk cache of the pooled priors' fits is tested in tests/test_cache.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from escalation import cli

# A progress bar as the ensemble draws one, then whether multiprocessing's resource tracker was started: a
# process with a tracker cannot end at once (cli._end_process) and pays the interpreter's teardown instead.
# Importing the ensemble imports Mesa, which makes "spawn" the default start method (mesa/batchrunner.py):
# from then on, a multiprocessing lock is a named semaphore that the tracker is started to watch.
PROBE = """
import multiprocessing.resource_tracker as tracker
import escalation.ensemble
from escalation import cli
if sys.argv[1] == "lock":
    cli._progress_bars_lock()
from tqdm.auto import tqdm
with tqdm(total=3) as bar:  # drawn on standard error
    bar.update(3)
print("tracker" if tracker._resource_tracker._fd is not None else "no tracker")
"""


def probe(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{PROBE}", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_progress_bars_start_no_resource_tracker():
    assert probe("default") == "tracker"  # tqdm's own lock: a multiprocessing lock, and its tracker
    assert probe("lock") == "no tracker"


# Arrays of the size the engine makes every day (10,000 replications x 6 dyads, float64: 480 KB), made and
# freed in rounds, then the process's minor page faults: memory the allocator maps from the kernel (or gives
# back and maps again) is faulted in page by page; memory it reuses from its heap is not.
FAULTS = """
import resource, sys
import numpy as np
from escalation import cli
if sys.argv[1] == "set" and not cli._reuse_freed_memory():
    raise SystemExit("mallopt refused the thresholds")
for _ in range(2):  # the allocator's first rounds, either way
    arrays = [np.ones(60_000) for _ in range(20)]
    del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    arrays = [np.ones(60_000) for _ in range(20)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not glibc(), reason="glibc's malloc only")
def test_the_engines_arrays_reuse_freed_memory(monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    # Measured: about 115,000 faults with glibc's own thresholds (each round's 9.6 MB given back and faulted
    # in again: 50 rounds x 2,350 pages), none with the command's; a tenth of the default is a wide margin.
    default, reused = faults("default"), faults("set")
    assert default > 20_000
    assert reused < default / 10
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert not cli._reuse_freed_memory()  # the user's own setting is kept
