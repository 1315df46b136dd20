"""Calibration benchmark: 10,000 exactly dated events across 10 attack dyads, fitted by their likelihood.

Builds a scenario of 5 groups attacking 2 states (10 dyads), simulates about a year of daily attacks per dyad
from the model's intensity (with the states' strikes on the groups), writes them as an event file of ~10,000
dated rows, and times `calibrate(..., method="likelihood")` on it. Prints the time and, per dyad, the true and
fitted base rate with the time-rescaling p-value.

Usage: python benchmarks/bench_calibration.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np

from escalation.calibration import calibrate
from escalation.events import load_events
from escalation.fitting import DyadData, intensity
from escalation.specs import build_scenario

GROUPS = ("g1", "g2", "g3", "g4", "g5")
STATES = ("s1", "s2")
DAYS = 365
GAMMA = {"dist": "gamma", "a": 2.0}


def scenario():
    attacks = {
        f"{g}_on_{s}": {
            "attacker": g,
            "target": s,
            "base_rate": {**GAMMA, "scale": 0.75},
            "excitation": {**GAMMA, "scale": 0.025},
            "deterrence": {**GAMMA, "scale": 0.05},
        }
        for g in GROUPS
        for s in STATES
    }
    actors = {s: {"kind": "state"} for s in STATES} | {
        g: {"kind": "non_state", "max_rung": 3} for g in GROUPS
    }
    retaliations = {f"{s}_on_{g}": {"state": s, "target": g} for g in GROUPS for s in STATES}
    policy = {s: {"max_level": "target"} for s in STATES}
    return build_scenario(
        {"name": "bench", "start": "2025-01-01", "horizon_days": 30, "attacks": attacks,
         "retaliations": retaliations},
        actors, policy,
    )  # fmt: skip


def write_events(path: Path, rng: np.random.Generator) -> dict[str, float]:
    first = dt.date(2024, 1, 1)
    lines = ["event_id,start_date,end_date,attacker,target,kind,count,source"]
    truths = {}
    for g in GROUPS:
        for s in STATES:
            base = float(rng.uniform(2.7, 3.3))  # about 10,000 attacks over the ten dyads in a year
            truths[f"{g}->{s}"] = base
            strikes = (rng.random(DAYS) < 1 / 20).astype(float)
            data = DyadData(np.zeros(DAYS), (), 2.0 * strikes, strikes, np.ones(DAYS))
            counts = rng.poisson(intensity(np.array([base, 0.05, 0.1, 14.0, 30.0]), data))
            for k in range(DAYS):
                day = (first + dt.timedelta(days=k)).isoformat()
                for n in range(int(counts[k])):  # one row per event, as in an ACLED export
                    lines.append(f"{g}-{s}-{k}-{n},{day},{day},{g},{s},attack,1,synthetic")
                if strikes[k]:
                    lines.append(f"{s}-{g}-{k},{day},{day},{s},{g},strike,1,synthetic")
    path.write_text("\n".join(lines) + "\n")
    return truths


def main() -> None:
    rng = np.random.default_rng(2025)
    spec = scenario()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.csv"
        truths = write_events(path, rng)
        started = time.perf_counter()
        events = load_events(path)
        loaded = time.perf_counter() - started
        attacks = sum(1 for e in events if e.kind == "attack")
        started = time.perf_counter()
        calibration = calibrate(events, spec, cutoff=dt.date(2024, 12, 31), method="likelihood")
        fitted = time.perf_counter() - started
    print(f"{len(events):,} events ({attacks:,} attacks) across {len(spec.attacks)} dyads")
    print(f"load and validate the event file : {loaded:6.2f} s")
    print(f"calibrate by likelihood          : {fitted:6.2f} s")
    checks = {c["observation"]: c for c in calibration.checks}
    for key, truth in truths.items():
        summary = calibration.summaries[f"attacks.{key}.base_rate"]
        p_value = checks[f"attacks {key}"]["ks_pvalue"]
        print(
            f"  {key}: base rate true {truth:.2f}, posterior mean {summary['mean']:.2f} "
            f"[{summary['q05']:.2f}, {summary['q95']:.2f}], rescaling KS p = {p_value:.2f}"
        )


if __name__ == "__main__":
    main()
