"""Memory benchmark: peak resident memory of the baseline command by number of replications.

Runs ``escalation ensemble.replications=N`` (the baseline experiment, 180 days, figures and tables written)
in a child process per size, as a user would, and prints side by side: the child's peak resident memory
(``ru_maxrss`` from ``wait4``), its wall time, and the up-front estimate the command makes
(:func:`escalation.ensemble.estimate_memory`, the one that refuses sizes that cannot fit) with the ratio of
measured to estimated. Each size runs ``--repeats`` times (min and median shown; memory varies little, wall
time on a shared machine a lot). BLAS is pinned to one thread.

Usage:
    python benchmarks/bench_memory.py                    # 10,000 and 100,000 replications
    python benchmarks/bench_memory.py --million          # and 1,000,000 (a few minutes)
    python benchmarks/bench_memory.py --sizes 2000,30000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from escalation import cli
from escalation.ensemble import estimate_memory

PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def command_estimate(replications: int) -> float:
    """The command's own estimate (``cli._check_memory``'s arguments) for the baseline at this size, bytes."""
    cli._register_schema()
    with initialize_config_dir(config_dir=str(Path(cli.CONFIG_DIR)), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"ensemble.replications={replications}"])
    inputs = cli.prepare_inputs(cfg)
    return estimate_memory(
        inputs.spec.scenario,
        inputs.ensemble.replications,
        chunk_size=inputs.ensemble.chunk_size,
        workers=inputs.ensemble.workers,
        arms=len(inputs.spec.arms),
        calibration_draws=int(cfg.calibration.draws),
        horizon_days=inputs.spec.scenario.horizon_days,
    ).total


def run_once(replications: int, cwd: Path) -> tuple[float, float]:
    """(peak resident bytes, wall seconds) of one baseline run in a child process."""
    args = [
        sys.executable,
        "-m",
        "escalation",
        f"ensemble.replications={replications}",
        "ensemble.progress=false",
        f"hydra.run.dir={cwd / f'run_{replications}_{time.monotonic_ns()}'}",
    ]
    started = time.perf_counter()
    child = subprocess.Popen(
        args, cwd=cwd, env={**os.environ, **PINNED}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stderr = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        sys.exit(
            f"escalation ensemble.replications={replications} failed:\n{stderr.decode(errors='replace')}"
        )
    return usage.ru_maxrss * 1024.0, seconds  # ru_maxrss is in kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated replications")
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 replications")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",") if s]
    if options.million:
        sizes.append(1_000_000)
    print(f"{'replications':>12} {'peak RSS':>10} {'estimate':>10} {'peak/est':>8} {'wall min':>9} "
          f"{'wall med':>9}  (baseline command, 180 days, 1 worker, chunk 2,500)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            estimate = command_estimate(size)
            runs = [run_once(size, Path(folder)) for _ in range(options.repeats)]
            peak = max(r[0] for r in runs)
            walls = [r[1] for r in runs]
            print(
                f"{size:>12,} {peak / 1e6:>7.0f} MB {estimate / 1e6:>7.0f} MB {peak / estimate:>8.2f} "
                f"{min(walls):>7.1f} s {statistics.median(walls):>7.1f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
