"""The Monte Carlo ensemble: replications in fixed-size chunks, on one or more worker processes.

Chunk k of a run simulates its replications in one :class:`~escalation.model.EscalationModel` seeded by
``SeedSequence(seed, spawn_key=(k,))``. Results therefore depend on the root seed and the chunk size, never
on the number of workers or the order in which chunks finish. Chunks are merged as they arrive: the
per-replication outcomes are kept (a few hundred bytes per replication) and the daily count histograms are
summed, so memory stays bounded whatever the number of replications.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from escalation import metrics
from escalation.history import ObservedHistory
from escalation.model import EscalationModel, Outcomes
from escalation.parameters import block_index
from escalation.specs import EnsembleSpec, ScenarioSpec
from escalation.streams import chunk_seed
from escalation.workers import watch_parent


@dataclass(frozen=True)
class _ChunkTask:
    scenario: ScenarioSpec
    chunk: int
    replications: int
    seed: int
    calibration_draws: Mapping[str, np.ndarray] | None
    history: ObservedHistory | None
    parameter_values: Mapping[str, np.ndarray] | None = None
    cumulative_days: tuple[int, ...] = ()
    seed_key: int | None = None  # None: the chunk index
    replications_per_draw: int = 1


def _simulate_chunk(task: _ChunkTask) -> tuple[int, Outcomes]:
    """Simulate one chunk (a top-level function, so worker processes can receive it)."""
    model = EscalationModel(
        task.scenario,
        task.replications,
        seed=chunk_seed(task.seed, task.chunk if task.seed_key is None else task.seed_key),
        calibration_draws=task.calibration_draws,
        history=task.history,
        replications_per_draw=task.replications_per_draw,
        parameter_values=task.parameter_values,
        cumulative_days=task.cumulative_days,
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
        draw_of: (R,) the parameter draw of each replication (:func:`draw_index` of the chunks run); None:
            that of ``ensemble.chunks``.
    """

    scenario: ScenarioSpec
    ensemble: EnsembleSpec
    outcomes: Outcomes
    elapsed_seconds: float
    calibration_hash: str | None = None
    data_hash: str | None = None
    draw_of: np.ndarray | None = None

    @property
    def replications(self) -> int:
        """Number of replications."""
        return self.outcomes.replications

    @property
    def draws(self) -> np.ndarray:
        """(R,) the parameter draw of each replication: replications with one draw share their parameters."""
        if self.draw_of is not None:
            return self.draw_of
        return draw_index([size for _, size in self.ensemble.chunks], self.ensemble.replications_per_draw)

    @property
    def fixed_parameters(self) -> bool:
        """Whether every parameter is a setting (no parameter varies between replications)."""
        return len(self.outcomes.parameter_names) == 0

    def ladder_curves(self, level: float = 0.90, method: str = "wilson") -> pd.DataFrame:
        """P(highest rung >= k by day t) for every rung and day, with both intervals (tidy).

        ``lower``/``upper`` are the simulation noise; ``parameter_lower``/``parameter_upper`` the spread over
        plausible parameter values (:func:`escalation.metrics.uncertainty_split`).
        """
        table = metrics.escalation_curves(
            self.outcomes.first_passage,
            horizon_days=self.scenario.horizon_days,
            level=level,
            method=method,
            ladder=self.scenario.ladder,
            draws=self.draws,
            fixed_parameters=self.fixed_parameters,
        )
        table.insert(3, "date", pd.to_datetime(self.scenario.start) + pd.to_timedelta(table["day"], unit="D"))
        return table

    def threshold_table(
        self, horizons: tuple[int, ...] | None = None, level: float = 0.90, method: str = "wilson"
    ) -> pd.DataFrame:
        """Probability of each named threshold by each horizon (days), with both intervals (tidy)."""
        horizons = horizons or (self.scenario.horizon_days,)
        table = metrics.threshold_probabilities(
            self.outcomes.threshold_days,
            [t.name for t in self.scenario.thresholds],
            list(horizons),
            level=level,
            method=method,
            draws=self.draws,
            fixed_parameters=self.fixed_parameters,
        )
        labels = {t.name: t.label for t in self.scenario.thresholds}
        table.insert(1, "label", table["threshold"].map(labels))
        return table

    def pause_table(
        self, spells: tuple[int, ...] = (14, 30, 60), level: float = 0.90, method: str = "wilson"
    ) -> pd.DataFrame:
        """P(a spell of at least N consecutive days without an attack on each tracked target), over the run.

        The pauses of the campaigns against a target: with campaign regimes or truces it can be far from
        zero; without them a campaign at a few attacks a day almost never falls quiet for weeks.
        """
        quiet = self.outcomes.longest_quiet
        rows = []
        for k, target in enumerate(self.scenario.tracked_targets):
            for spell in spells:
                if spell > self.scenario.horizon_days:
                    continue
                hits = int((quiet[:, k] >= spell).sum())
                low, high = metrics.proportion_interval(hits, self.replications, level=level, method=method)
                rows.append(
                    {"target": target, "spell_days": spell, "probability": hits / self.replications,
                     "lower": float(low), "upper": float(high), "replications": self.replications}
                )  # fmt: skip
        return pd.DataFrame(rows)

    def stop_table(
        self, horizons: tuple[int, ...] | None = None, level: float = 0.90, method: str = "wilson"
    ) -> pd.DataFrame:
        """When the campaigns against each tracked target stop (a spell of 30 days without an attack begins).

        Per target and horizon: the probability that they have stopped by then, with its interval, and the
        5%, 50% and 95% points of the stop day among the replications in which they did.
        """
        horizons = horizons or (self.scenario.horizon_days,)
        rows = []
        for k, target in enumerate(self.scenario.tracked_targets):
            days = self.outcomes.stop_day[:, k]
            for horizon in horizons:
                stopped = (days >= 0) & (days < horizon)
                hits = int(stopped.sum())
                low, high = metrics.proportion_interval(hits, self.replications, level=level, method=method)
                q05, q50, q95 = np.quantile(days[stopped], [0.05, 0.5, 0.95]) if hits else (np.nan,) * 3
                rows.append(
                    {"target": target, "horizon_days": horizon, "probability": hits / self.replications,
                     "lower": float(low), "upper": float(high), "stop_day_q05": float(q05),
                     "stop_day_q50": float(q50), "stop_day_q95": float(q95),
                     "replications": self.replications}
                )  # fmt: skip
        return pd.DataFrame(rows)

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
            "draw": self.draws,
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

    def draw_parameter_values(self) -> pd.DataFrame:
        """One row per parameter draw: the varying parameters' values (those of its first replication)."""
        draws = self.draws
        first = np.flatnonzero(np.r_[True, draws[1:] != draws[:-1]])
        return pd.DataFrame(self.outcomes.parameters[first], columns=list(self.outcomes.parameter_names))

    def uncertainty_drivers(self, horizon: int, bins: int = 10) -> pd.DataFrame:
        """For each named threshold by ``horizon``, each varying parameter's share of its parameter spread.

        Columns ``threshold``, ``parameter``, ``share`` (:func:`escalation.metrics.variance_drivers`), largest
        first within a threshold; empty when the parameter spread cannot be estimated or is zero.
        """
        days = self.outcomes.threshold_days
        successes, sizes = metrics.draw_counts((days >= 0) & (days < horizon), self.draws)
        variance = metrics.parameter_variance(successes, sizes)
        values = self.draw_parameter_values()
        frames = []
        for m, threshold in enumerate(self.scenario.thresholds):
            if self.fixed_parameters or not np.isfinite(variance[m]) or variance[m] <= 0:
                continue
            table = metrics.variance_drivers(
                successes[:, m] / sizes, values.to_numpy(), list(values.columns), float(variance[m]), bins
            )
            table.insert(0, "threshold", threshold.name)
            frames.append(table)
        if not frames:
            return pd.DataFrame(columns=["threshold", "parameter", "share"])
        return pd.concat(frames, ignore_index=True)


def draw_index(chunk_sizes: list[int], replications_per_draw: int) -> np.ndarray:
    """(R,) the parameter draw of each replication, numbered across chunks in order.

    Each chunk's replications form blocks of ``replications_per_draw`` (its last block may be shorter), one
    parameter draw each (:func:`escalation.parameters.block_index`).
    """
    parts, offset = [], 0
    for size in chunk_sizes:
        blocks = block_index(size, replications_per_draw)
        parts.append(blocks + offset)
        offset += int(blocks[-1]) + 1
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def run_ensemble(
    scenario: ScenarioSpec,
    ensemble: EnsembleSpec | None = None,
    *,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
    history: ObservedHistory | None = None,
    calibration_hash: str | None = None,
    parameter_values: Mapping[str, np.ndarray] | None = None,
    layout: list[tuple[int, int]] | None = None,
    cumulative_days: tuple[int, ...] = (),
) -> EnsembleResult:
    """Run a Monte Carlo ensemble of a scenario.

    Args:
        scenario: the scenario to simulate.
        ensemble: replications, chunk size, workers, seed and progress bar (defaults: :class:`EnsembleSpec`).
        calibration_draws: joint posterior draws per parameter path (see :mod:`escalation.calibration`).
        history: observed history for the warm start.
        calibration_hash: recorded in the result for provenance.
        parameter_values: path -> one value per replication (in chunk order), replacing those paths' draws
            (a sensitivity design); each chunk takes its slice.
        layout: ``(seed key, replications)`` of each chunk, in order, instead of ``ensemble.chunks``
            (``ensemble.replications`` and ``chunk_size`` are then unused). Chunk k is seeded by
            ``chunk_seed(seed, key)``: chunks of one size with one key draw the same random numbers,
            replication by replication (a design that holds the randomness fixed while parameters change).
        cumulative_days: day counts whose cumulative attacks are kept per replication
            (:attr:`~escalation.model.Outcomes.cumulative_at`).
    """
    ensemble = ensemble or EnsembleSpec()
    chunks = [(chunk, size, None) for chunk, size in ensemble.chunks]
    if layout is not None:
        chunks = [(chunk, size, key) for chunk, (key, size) in enumerate(layout)]
    offsets = np.cumsum([0] + [size for _, size, _ in chunks])
    if parameter_values is not None:
        for path, given in parameter_values.items():
            if len(given) != offsets[-1]:
                raise ValueError(f"parameter_values: {path!r} has {len(given)} values for {offsets[-1]} runs")
    tasks = [
        _ChunkTask(
            scenario,
            chunk,
            size,
            ensemble.seed,
            calibration_draws,
            history,
            parameter_values=None
            if parameter_values is None
            else {
                path: np.asarray(v)[offsets[chunk] : offsets[chunk + 1]]
                for path, v in parameter_values.items()
            },
            cumulative_days=tuple(cumulative_days),
            seed_key=key,
            replications_per_draw=ensemble.replications_per_draw,
        )
        for chunk, size, key in chunks
    ]
    parts: dict[int, Outcomes] = {}
    histograms: dict[str, np.ndarray | None] = dict.fromkeys(scenario.tracked_targets)
    started = time.perf_counter()
    with (
        tqdm(
            total=ensemble.replications,
            disable=not ensemble.progress,
            unit="rep",
            desc=f"{scenario.name}",
            leave=False,
        ) as bar,
        contextlib.closing(_execute(tasks, ensemble.workers)) as chunks,  # stops the workers on an exception
    ):
        for chunk, part in chunks:
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
        cumulative_at=np.concatenate([p.cumulative_at for p in ordered]) if cumulative_days else None,
        longest_quiet=np.concatenate([p.longest_quiet for p in ordered]),
        stop_day=np.concatenate([p.stop_day for p in ordered]),
    )
    return EnsembleResult(
        scenario=scenario,
        ensemble=ensemble,
        outcomes=merged,
        elapsed_seconds=elapsed,
        calibration_hash=calibration_hash,
        data_hash=history.data_hash if history is not None else None,
        draw_of=draw_index([task.replications for task in tasks], ensemble.replications_per_draw),
    )


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once (on an error or interrupt): cancel what has not started, terminate the workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


@contextlib.contextmanager
def _signals_deferred():
    """Hold Ctrl-C and SIGTERM while the pool starts its workers, and deliver them after.

    Submitting spawns the workers and writes each its start-up data; an interrupt raised in the middle of
    that write leaves a worker with half of it, and the worker prints a traceback of its own as it dies.

    Two holds are needed. The kernel may deliver a signal to any thread that does not block it (the progress
    bar's monitor thread, for one), and Python then runs the handler in the main thread whatever the main
    thread's mask, so the handlers are swapped for ones that only record the signal, and the recorded signals
    are raised again once the pool has started. The mask is blocked as well because the workers inherit it
    across ``exec``: a Ctrl-C that reaches a worker while it starts stays pending until
    :func:`~escalation.workers.watch_parent` ignores it.
    """
    held = (signal.SIGINT, signal.SIGTERM)
    caught: list[int] = []
    previous_handlers: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in held:
            previous_handlers[signum] = signal.signal(signum, lambda signum, frame: caught.append(signum))
    masked = hasattr(signal, "pthread_sigmask")
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, held) if masked else None
    try:
        yield
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def _execute(tasks: list[_ChunkTask], workers: int):
    """Yield ``(chunk, outcomes)`` as chunks finish, in this process or in worker processes.

    Worker processes never outlive the run: they end with their parent (:mod:`escalation.workers`), and an
    exception in the parent (an error, Ctrl-C, SIGTERM turned into an exception) or closing this generator
    terminates them before the exception goes on.
    """
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            yield _simulate_chunk(task)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=context,
        initializer=watch_parent,
        initargs=(os.getpid(),),
    )
    try:
        with _signals_deferred():
            futures = [pool.submit(_simulate_chunk, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


# ---------------------------------------------------------------------------------------------------------
# Memory estimate
#
# A rough model of the memory a run needs, so that the command can refuse a size that cannot fit before it
# computes anything (``escalation.cli.prepare_inputs``). It counts the structures whose size grows with the
# run's size, with factors fitted to the peak resident memory of the packaged scenario (measured for 2,000 to
# 300,000 replications, horizons of 180 and 2,000 days, and 300 to 400,000 calibration draws); it is meant to
# be within a factor of about two, and on the low side rather than the high side, so that what fits runs:
#
# - outcomes: per replication and arm, the outcome arrays of 8-byte values (first-passage day of each rung,
#   day of each named threshold, totals of each attack dyad, strikes of each retaliation dyad and level, the
#   drawn parameters), held about OUTCOME_COPIES times at once: the chunks' parts and their concatenation,
#   the replications table and its Parquet copy (about 6 KB per replication of the packaged scenario);
# - chunks: per replication of the chunks simulated at the same time (one per worker), the model's working
#   arrays, about CHUNK_STATE_VALUES 8-byte values per dyad;
# - histograms: the daily histograms of the cumulative attacks on each tracked target, days x counts. The
#   widest count is taken as twice the expected cumulative count on the last day (the dyads' mean base rates
#   times the attacker's restraint, at most max_per_day, no excitation or drivers). Each cell costs
#   HISTOGRAM_CELL_BYTES (the summed int64 table of each arm, its quantiles' working copies) and 6 bytes more
#   per chunk simulated at the same time (its int32 daily rows and table);
# - calibration: per posterior draw, the draws and their JSON form in calibration.json, counted as
#   CALIBRATION_DRAW_BYTES per uncertain parameter (only some are calibrated; about 1.3 KB per draw of the
#   packaged scenario);
# - the interpreter and its libraries, PROCESS_BYTES.
#
# Measured on the packaged scenario, against this estimate: 6.3 KB per replication (5.9 estimated); 3.4 GB
# for 2,000 days of 300 replications (2.9 GB); 1.25 KB per calibration draw (1.36 KB).

OUTCOME_COPIES = 9
CHUNK_STATE_VALUES = 16
HISTOGRAM_CELL_BYTES = 24
CALIBRATION_DRAW_BYTES = 40
PROCESS_BYTES = 300e6


@dataclass(frozen=True)
class MemoryEstimate:
    """A rough estimate of a run's memory in bytes, by what needs it (see the comment above it in the source).

    Attributes:
        outcomes: the per-replication outcome arrays of every arm, with their copies in the tables.
        chunks: the working arrays of the chunks simulated at the same time.
        histograms: the daily histograms of the cumulative attacks on the tracked targets.
        calibration: the calibration's posterior draws.

    The interpreter and its libraries (``PROCESS_BYTES``) count in :attr:`total` only.
    """

    outcomes: float
    chunks: float
    histograms: float
    calibration: float

    @property
    def total(self) -> float:
        """The whole estimate, in bytes."""
        return PROCESS_BYTES + self.outcomes + self.chunks + self.histograms + self.calibration


def estimate_memory(
    scenario: ScenarioSpec,
    replications: int,
    *,
    chunk_size: int,
    workers: int = 1,
    arms: int = 1,
    calibration_draws: int = 0,
    horizon_days: int | None = None,
) -> MemoryEstimate:
    """Estimate the memory a run of ``arms`` arms of a scenario needs (rough; see :class:`MemoryEstimate`).

    Args:
        scenario: the scenario (its dyads, thresholds, parameters and tracked targets).
        replications: replications per arm.
        chunk_size: replications simulated together.
        workers: worker processes (chunks simulated at the same time).
        arms: arms run, each with ``replications`` replications, whose results are kept together.
        calibration_draws: posterior draws of the calibration (0: none).
        horizon_days: days simulated (default: the scenario's horizon).
    """
    from escalation.model import N_RUNGS
    from escalation.parameters import scenario_parameters
    from escalation.specs import Dist, param_mean

    days = scenario.horizon_days if horizon_days is None else horizon_days
    uncertain = [path for path, value in scenario_parameters(scenario) if isinstance(value, Dist)]
    dyads = len(scenario.attacks) + len(scenario.retaliations)
    columns = N_RUNGS + len(scenario.thresholds) + 3 * dyads + len(uncertain)
    chunk = min(chunk_size, replications)
    concurrent = max(1, min(workers, -(-replications // chunk)))
    restraint = {actor.name: param_mean(actor.restraint) for actor in scenario.actors}
    width = 0.0
    for target in scenario.tracked_targets:
        daily = sum(
            min(float(dyad.max_per_day), param_mean(dyad.base_rate) * restraint.get(dyad.attacker, 1.0))
            for dyad in scenario.attacks
            if dyad.target == target
        )
        width += 2 * daily * days + 1
    return MemoryEstimate(
        outcomes=float(arms) * replications * columns * 8 * OUTCOME_COPIES,
        chunks=float(concurrent) * chunk * 8 * (CHUNK_STATE_VALUES * dyads + columns),
        histograms=float(days) * width * (HISTOGRAM_CELL_BYTES + 8 * (arms - 1) + 6 * concurrent),
        calibration=float(calibration_draws) * max(1, len(uncertain)) * CALIBRATION_DRAW_BYTES,
    )


def available_memory() -> int | None:
    """Bytes of memory available to a new run, or None when unknown.

    That is ``MemAvailable`` of /proc/meminfo (free memory plus the caches the kernel can drop), or else the
    free physical pages (``os.sysconf``).
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:  # noqa: PTH123
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def largest_fitting(need: Callable[[int], float], available: float, current: int) -> int:
    """The largest size in ``0 .. current`` whose memory ``need(size)`` is within ``available``.

    A bisection: ``need`` must not decrease with the size.
    """
    low, high = 0, current
    while low < high:
        middle = (low + high + 1) // 2
        if need(middle) <= available:
            low = middle
        else:
            high = middle - 1
    return low
