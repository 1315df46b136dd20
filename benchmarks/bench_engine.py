"""Engine benchmark: ns per replication-dyad-day of the default scenario, side by side in one run.

Prints, for 10,000 replications x 365 days of the default scenario on one core (each figure the min and the
median of ``--repeats`` child processes, run interleaved so that the machine's load falls on all alike):

- the engine at its default chunk size, and at a chunk size of 2,500;
- the plain NumPy kernel of the same day (``numpy_kernel.py``), and the engine's ratio to it;
- with ``--against REV``: the engine at git revision REV (extracted with ``git archive``), at its own default
  chunk size, and the speed-up;
- each engine both with BLAS pinned to one thread in the environment and as the command runs it (no
  environment setting), which is where the routing products' BLAS threads cost.

Usage: python benchmarks/bench_engine.py [--repeats 3] [--against 96c4b4b] [--days 365] [--loops 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _child(kind: str, replications: int, days: int, chunk_size: int) -> None:
    """Time one run in this process (pinned to one core) and print the seconds."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from escalation.calibration import calibrate
    from escalation.ensemble import run_ensemble
    from escalation.events import load_builtin_events
    from escalation.history import observed_history
    from escalation.specs import EnsembleSpec, default_scenario

    events = load_builtin_events()
    scenario = dataclasses.replace(default_scenario(), horizon_days=days)
    draws, history = calibrate(events, scenario).draws, observed_history(events, scenario)
    if kind == "kernel":
        sys.path.insert(0, str(HERE))
        from numpy_kernel import run_kernel

        from escalation.model import EscalationModel

        model = EscalationModel(scenario, replications, seed=1, calibration_draws=draws, history=history)
        started = time.perf_counter()
        run_kernel(model)
    else:
        spec = EnsembleSpec(replications=500, chunk_size=500, workers=1, seed=1)
        run_ensemble(scenario, spec, calibration_draws=draws, history=history)  # warm-up
        chunk = chunk_size or EnsembleSpec().chunk_size
        spec = EnsembleSpec(replications=replications, chunk_size=chunk, workers=1, seed=1)
        started = time.perf_counter()
        run_ensemble(scenario, spec, calibration_draws=draws, history=history)
    print(f"{time.perf_counter() - started:.4f} {len(scenario.attacks)}")


def _run(path: Path, env: dict, kind: str, args, chunk_size: int) -> tuple[float, int]:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(args.replications),
        str(args.days),
        str(chunk_size),
    ]
    environment = dict(env, PYTHONPATH=str(path))
    done = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        sys.exit(f"bench_engine: a child run failed:\n{done.stderr[-2000:]}")
    seconds, dyads = done.stdout.split()[-2:]
    return float(seconds), int(dyads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="child runs per variant (default 3)")
    parser.add_argument("--against", help="a git revision to compare with, e.g. 96c4b4b")
    parser.add_argument("--replications", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, replications, days, chunk = args.child
        _child(kind, int(replications), int(days), int(chunk))
        return

    tree = HERE.parent
    plain = {k: v for k, v in os.environ.items() if k not in PINNED}
    pinned = dict(plain, **PINNED)
    variants = [
        ("engine, default chunk", tree, "engine", 0, pinned, "pinned"),
        ("engine, default chunk", tree, "engine", 0, plain, "as run"),
        ("engine, chunk 2,500", tree, "engine", 2_500, pinned, "pinned"),
        ("plain NumPy kernel", tree, "kernel", 0, pinned, "pinned"),
    ]
    scratch = None
    if args.against:
        scratch = Path(tempfile.mkdtemp(prefix="bench_engine_"))
        archive = subprocess.run(
            ["git", "-C", str(tree), "archive", args.against, "escalation"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive.stdout, check=True)
        variants += [
            (f"engine at {args.against}, its default chunk", scratch, "engine", 0, pinned, "pinned"),
            (f"engine at {args.against}, its default chunk", scratch, "engine", 0, plain, "as run"),
        ]
    times: dict[int, list[float]] = {i: [] for i in range(len(variants))}
    dyads: dict[int, int] = {}  # each variant's own scenario: a revision may have other dyads
    try:
        for _ in range(args.repeats):
            for i, (_, path, kind, chunk, env, _) in enumerate(variants):
                seconds, dyads[i] = _run(path, env, kind, args, chunk)
                times[i].append(seconds)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    at = f" ({dyads[4]} at {args.against})" if args.against and dyads[4] != dyads[0] else ""
    print(
        f"default scenario, {args.replications:,} replications x {args.days} days x {dyads[0]} attack "
        f"dyads{at}, one core, {args.repeats} runs each (min / median); ns per replication-dyad-day"
    )
    kernel = min(times[3])
    for i, (label, _, _, _, _, blas) in enumerate(variants):
        best, middle = min(times[i]), statistics.median(times[i])
        cells = args.replications * args.days * int(dyads[i])
        line = f"{label:<44} BLAS {blas:<7} {best:6.2f} / {middle:6.2f} s  {best / cells * 1e9:6.0f} ns"
        line += f"  {best / kernel:4.2f}x kernel"
        if args.against:
            line += f"  speed-up over {args.against} (same BLAS): "
            line += f"{min(times[4 if blas == 'pinned' else 5]) / best:4.2f}x"
            if dyads[4] != dyads[i]:  # per replication-dyad-day, where the scenarios differ
                other = min(times[4 if blas == "pinned" else 5]) / int(dyads[4])
                line += f" (per dyad {other / (best / int(dyads[i])):4.2f}x)"
        print(line)


if __name__ == "__main__":
    main()
