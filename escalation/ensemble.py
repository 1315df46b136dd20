"""The Monte Carlo ensemble: replications in fixed-size chunks, on one or more worker processes.

Chunk k of a run simulates its replications in one :class:`~escalation.model.EscalationModel` seeded by
``SeedSequence(seed, spawn_key=(k,))``. Results therefore depend on the root seed and the chunk size, never
on the number of workers or the order in which chunks finish. Chunks are merged as they arrive: the
per-replication outcomes are kept (a few hundred bytes per replication) and the daily count histograms are
summed, so memory stays bounded whatever the number of replications.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from escalation import metrics
from escalation.history import ObservedHistory
from escalation.model import EscalationModel, Outcomes
from escalation.specs import EnsembleSpec, ScenarioSpec
from escalation.streams import chunk_seed


@dataclass(frozen=True)
class _ChunkTask:
    scenario: ScenarioSpec
    chunk: int
    replications: int
    seed: int
    calibration_draws: Mapping[str, np.ndarray] | None
    history: ObservedHistory | None


def _simulate_chunk(task: _ChunkTask) -> tuple[int, Outcomes]:
    """Simulate one chunk (a top-level function, so worker processes can receive it)."""
    model = EscalationModel(
        task.scenario,
        task.replications,
        seed=chunk_seed(task.seed, task.chunk),
        calibration_draws=task.calibration_draws,
        history=task.history,
    )
    return task.chunk, model.run()


def _add_histogram(total: np.ndarray | None, part: np.ndarray) -> np.ndarray:
    """Sum two daily histograms of possibly different widths (in place when the total is wide enough)."""
    if total is None:
        return part.astype(np.int64)
    if part.shape[1] > total.shape[1]:
        total, part = np.pad(total, ((0, 0), (0, part.shape[1] - total.shape[1]))), part
    total[:, : part.shape[1]] += part
    return total


@dataclass(frozen=True)
class EnsembleResult:
    """The merged outcomes of an ensemble, with the statistics analysts report.

    Attributes:
        scenario: the simulated scenario.
        ensemble: how the ensemble was run.
        outcomes: per-replication outcomes (in chunk order) and summed daily histograms.
        elapsed_seconds: wall time of the simulation.
        calibration_hash: hash of the calibration the parameters were drawn from, if any.
        data_hash: hash of the event data of the warm start, if any.
    """

    scenario: ScenarioSpec
    ensemble: EnsembleSpec
    outcomes: Outcomes
    elapsed_seconds: float
    calibration_hash: str | None = None
    data_hash: str | None = None

    @property
    def replications(self) -> int:
        """Number of replications."""
        return self.outcomes.replications

    def ladder_curves(self, level: float = 0.90, method: str = "wilson") -> pd.DataFrame:
        """P(highest rung >= k by day t) for every rung and day, with intervals (tidy)."""
        table = metrics.escalation_curves(
            self.outcomes.first_passage,
            horizon_days=self.scenario.horizon_days,
            level=level,
            method=method,
            ladder=self.scenario.ladder,
        )
        table.insert(3, "date", pd.to_datetime(self.scenario.start) + pd.to_timedelta(table["day"], unit="D"))
        return table

    def threshold_table(
        self, horizons: tuple[int, ...] | None = None, level: float = 0.90, method: str = "wilson"
    ) -> pd.DataFrame:
        """Probability of each named threshold by each horizon (days), with intervals (tidy)."""
        horizons = horizons or (self.scenario.horizon_days,)
        table = metrics.threshold_probabilities(
            self.outcomes.threshold_days,
            [t.name for t in self.scenario.thresholds],
            list(horizons),
            level=level,
            method=method,
        )
        labels = {t.name: t.label for t in self.scenario.thresholds}
        table.insert(1, "label", table["threshold"].map(labels))
        return table

    def cumulative_attacks(
        self, target: str, qs: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
    ) -> pd.DataFrame:
        """Mean and quantiles of the cumulative attacks on ``target`` by day (simulated days only)."""
        if target not in self.outcomes.count_histograms:
            tracked = ", ".join(self.outcomes.count_histograms) or "none"
            raise KeyError(f"{target!r} is not a tracked target; tracked: {tracked}")
        table = metrics.count_summary(self.outcomes.count_histograms[target], qs)
        table.insert(1, "date", pd.to_datetime(self.scenario.start) + pd.to_timedelta(table["day"], unit="D"))
        return table

    def replications_frame(self) -> pd.DataFrame:
        """One row per replication: first-passage days, threshold days, totals and drawn parameters."""
        o, s = self.outcomes, self.scenario
        columns: dict[str, np.ndarray] = {
            "replication": np.arange(o.replications),
            "highest_rung": o.highest_rung,
        }
        for k in range(1, o.first_passage.shape[1]):
            columns[f"first_day_rung_{k}"] = o.first_passage[:, k]
        for m, t in enumerate(s.thresholds):
            columns[f"first_day_{t.name}"] = o.threshold_days[:, m]
        for d, dyad in enumerate(s.attacks):
            columns[f"attacks[{dyad.key}]"] = o.attacks[:, d]
            columns[f"injured[{dyad.key}]"] = o.injured[:, d]
            columns[f"killed[{dyad.key}]"] = o.killed[:, d]
        for e, dyad in enumerate(s.retaliations):
            for level, name in enumerate(("target", "patron_assets", "patron_territory")):
                columns[f"strikes[{dyad.key}:{name}]"] = o.strikes[:, e, level]
        for p, name in enumerate(o.parameter_names):
            columns[f"param[{name}]"] = o.parameters[:, p]
        return pd.DataFrame(columns)


def run_ensemble(
    scenario: ScenarioSpec,
    ensemble: EnsembleSpec | None = None,
    *,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
    history: ObservedHistory | None = None,
    calibration_hash: str | None = None,
) -> EnsembleResult:
    """Run a Monte Carlo ensemble of a scenario.

    Args:
        scenario: the scenario to simulate.
        ensemble: replications, chunk size, workers, seed and progress bar (defaults: :class:`EnsembleSpec`).
        calibration_draws: joint posterior draws per parameter path (see :mod:`escalation.calibration`).
        history: observed history for the warm start.
        calibration_hash: recorded in the result for provenance.
    """
    ensemble = ensemble or EnsembleSpec()
    tasks = [
        _ChunkTask(scenario, chunk, size, ensemble.seed, calibration_draws, history)
        for chunk, size in ensemble.chunks
    ]
    parts: dict[int, Outcomes] = {}
    histograms: dict[str, np.ndarray | None] = dict.fromkeys(scenario.tracked_targets)
    started = time.perf_counter()
    with tqdm(
        total=ensemble.replications,
        disable=not ensemble.progress,
        unit="rep",
        desc=f"{scenario.name}",
        leave=False,
    ) as bar:
        for chunk, part in _execute(tasks, ensemble.workers):
            for name, table in part.count_histograms.items():
                histograms[name] = _add_histogram(histograms[name], table)
            parts[chunk] = dataclasses.replace(part, count_histograms={})  # summed above; keep memory bounded
            bar.update(part.replications)
    elapsed = time.perf_counter() - started
    ordered = [parts[k] for k in sorted(parts)]
    merged = Outcomes(
        first_passage=np.concatenate([p.first_passage for p in ordered]),
        threshold_days=np.concatenate([p.threshold_days for p in ordered]),
        attacks=np.concatenate([p.attacks for p in ordered]),
        injured=np.concatenate([p.injured for p in ordered]),
        killed=np.concatenate([p.killed for p in ordered]),
        strikes=np.concatenate([p.strikes for p in ordered]),
        count_histograms={k: v for k, v in histograms.items() if v is not None},
        parameters=np.concatenate([p.parameters for p in ordered]),
        parameter_names=ordered[0].parameter_names,
    )
    return EnsembleResult(
        scenario=scenario,
        ensemble=ensemble,
        outcomes=merged,
        elapsed_seconds=elapsed,
        calibration_hash=calibration_hash,
        data_hash=history.data_hash if history is not None else None,
    )


def _execute(tasks: list[_ChunkTask], workers: int):
    """Yield ``(chunk, outcomes)`` as chunks finish, in this process or in worker processes."""
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            yield _simulate_chunk(task)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        futures = [pool.submit(_simulate_chunk, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
