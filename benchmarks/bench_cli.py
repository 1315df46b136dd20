"""Command-line benchmark: `escalation --help` and the baseline experiment at its default replications.

Runs both as a user would (subprocesses in a temporary folder) and prints their wall times, plus the widest
90% interval among the baseline's headline probabilities (the default replications are chosen to keep it
within +/-1 percentage point).

Usage: python benchmarks/bench_cli.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "escalation", *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        help_seconds = min(timed(["--help"], cwd) for _ in range(3))
        baseline_seconds = timed([], cwd)
        summary_path = next((cwd / "results" / "baseline").glob("*/summary.json"))
        summary = json.loads(summary_path.read_text())
    widest = max(
        (value["upper"] - value["lower"]) / 2
        for arm in summary["arms"].values()
        for threshold in arm["thresholds"].values()
        for value in threshold["by_day"].values()
    )
    print(f"escalation --help                     : {help_seconds:6.2f} s (best of 3)")
    print(f"escalation (baseline, {summary['replications']:,} replications): {baseline_seconds:6.2f} s")
    print(f"widest headline 90% interval          : +/-{100 * widest:.2f} percentage points")


if __name__ == "__main__":
    main()
