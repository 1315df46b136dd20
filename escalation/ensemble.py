"""The Monte Carlo ensemble: replications in fixed-size chunks, on one or more worker processes.

Chunk k of a run simulates its replications in one :class:`~escalation.model.EscalationModel` seeded by
``SeedSequence(seed, spawn_key=(k,))``. Results therefore depend on the root seed and the chunk size, never
on the number of workers or the order in which chunks finish. Chunks are merged as they arrive: each
chunk's per-replication outcomes are copied into arrays allocated once for the whole run, in compact dtypes
(days in int16, counts in int32: about 0.5 KB per replication of the packaged scenario), its daily count
histograms are summed, and the chunk and its model are freed at once. What is kept across chunks therefore
grows only with those compact outcomes; see ``docs/architecture.md``, "Memory".
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import mesa
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
    try:
        return task.chunk, model.run()
    finally:
        _discard(model)


def _discard(model: EscalationModel) -> None:
    """Free a chunk's model now, not at some later garbage collection (its outcomes are copies).

    Mesa 3.3's ``Agent`` keeps every model that ever had an agent as a key of a class-level id counter
    (mesa issue 3179), so without this every chunk's working arrays stayed alive until the process ended:
    about 10 KB per replication of the packaged scenario. The model also sits in reference cycles (its
    agents, Mesa's wrapped ``step``), which only a full garbage collection would break; emptying its
    ``__dict__`` frees its arrays and agents at once, without paying for a collection per chunk.
    """
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
    with contextlib.suppress(Exception):  # a model that failed half-built may lack what this needs
        model.remove_all_agents()
    model.__dict__.clear()


def _add_histogram(total: np.ndarray | None, part: np.ndarray) -> np.ndarray:
    """Sum two daily histograms of possibly different widths (in place when the total is wide enough)."""
    if total is None:
        return part.astype(np.int64)
    if part.shape[1] > total.shape[1]:
        total, part = np.pad(total, ((0, 0), (0, part.shape[1] - total.shape[1]))), part
    total[:, : part.shape[1]] += part
    return total


# Outcomes fields holding days (-1 for never, else 0 .. horizon) and counts; other arrays keep their dtype.
_DAY_FIELDS = frozenset({"first_passage", "threshold_days", "longest_quiet", "stop_day"})
_COUNT_FIELDS = frozenset({"attacks", "injured", "killed", "strikes", "cumulative_at"})
_NOT_PER_REPLICATION = frozenset({"count_histograms", "parameter_names"})


def compact_dtype(field: str, horizon_days: int, given: np.dtype) -> np.dtype:
    """The dtype an ensemble keeps an :class:`~escalation.model.Outcomes` field in, across all its chunks.

    Days take the smallest integer type that holds -1 .. ``horizon_days`` (int16 up to 32,767 days), counts
    int32; anything else keeps its own dtype (``given``; the drawn parameters stay float64, exactly as
    drawn). A chunk whose counts do not fit widens the merged array (:class:`_Merger`), so no value is lost.
    """
    if field in _DAY_FIELDS and np.issubdtype(given, np.integer):
        return _smallest_integer(-1, horizon_days)
    if field in _COUNT_FIELDS and np.issubdtype(given, np.integer):
        return np.dtype(np.int32)
    return np.dtype(given)


def _smallest_integer(low: int, high: int) -> np.dtype:
    for dtype in (np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


class _Merger:
    """Chunks' outcomes copied, as they arrive in any order, into arrays allocated once for the whole run.

    Each per-replication field is allocated at the first chunk that has it (R rows, :func:`compact_dtype`)
    and filled at the chunk's rows (chunks in the order given); the daily histograms are summed. Nothing of a
    chunk is kept after :meth:`add`, so the run holds one set of compact outcomes and the chunks in flight.
    """

    def __init__(self, chunks: Iterable[tuple[int, int]], horizon_days: int) -> None:
        """``chunks``: ``(chunk, replications)`` in the order of their rows in the merged outcomes."""
        self._rows: dict[int, tuple[int, int]] = {}
        self._total = 0
        for chunk, size in chunks:
            self._rows[chunk] = (self._total, self._total + size)
            self._total += size
        self._horizon = horizon_days
        self._arrays: dict[str, np.ndarray | None] = {}
        self._histograms: dict[str, np.ndarray] = {}
        self._parameter_names: tuple[str, ...] | None = None
        self._merged = 0

    def add(self, chunk: int, part: Outcomes) -> None:
        start, stop = self._rows[chunk]
        if part.replications != stop - start:
            raise ValueError(f"chunk {chunk}: {part.replications} replications, expected {stop - start}")
        for field in dataclasses.fields(Outcomes):
            if field.name in _NOT_PER_REPLICATION:
                continue
            values = getattr(part, field.name)
            if self._merged and (values is None) != (self._arrays.get(field.name) is None):
                raise ValueError(f"chunk {chunk}: {field.name} is given in some chunks and not in others")
            if values is None:
                self._arrays[field.name] = None
                continue
            target = self._arrays.get(field.name)
            if target is None:
                dtype = compact_dtype(field.name, self._horizon, values.dtype)
                target = np.empty((self._total, *values.shape[1:]), dtype=dtype)
            target = _widened(target, values)
            target[start:stop] = values
            self._arrays[field.name] = target
        for name, table in part.count_histograms.items():
            self._histograms[name] = _add_histogram(self._histograms.get(name), table)
        if self._parameter_names is None:
            self._parameter_names = part.parameter_names
        self._merged += 1

    def outcomes(self) -> Outcomes:
        arrays = self._arrays
        return Outcomes(
            **{name: arrays.get(name) for name in arrays},
            count_histograms=dict(self._histograms),
            parameter_names=self._parameter_names or (),
        )


def _widened(target: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``target``, copied to a wider integer type if ``values`` do not fit in its own (rare: huge counts)."""
    if not np.issubdtype(target.dtype, np.integer) or not values.size:
        return target
    if np.can_cast(values.dtype, target.dtype):
        return target
    info = np.iinfo(target.dtype)
    low, high = int(values.min()), int(values.max())
    if info.min <= low and high <= info.max:
        return target
    return target.astype(_smallest_integer(min(low, info.min), max(high, info.max)))


@dataclass(frozen=True)
class EnsembleResult:
    """The merged outcomes of an ensemble, with the statistics analysts report.

    Attributes:
        scenario: the simulated scenario.
        ensemble: how the ensemble was run.
        outcomes: per-replication outcomes (in chunk order; days in int16, counts in int32, see
            :func:`compact_dtype`) and summed daily histograms.
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

    def replications_frame(self, rows: slice | None = None) -> pd.DataFrame:
        """One row per replication: first-passage days, threshold days, totals and drawn parameters.

        Days and counts keep the outcomes' compact dtypes (``highest_rung`` int8). ``rows``: only these
        replications (a slice; all when None), so that a writer can go through a large ensemble in batches
        without building the whole table (:meth:`escalation.experiment.ExperimentResult.replication_batches`).
        """
        o, s = self.outcomes, self.scenario
        rows = slice(None) if rows is None else rows
        start, stop, step = rows.indices(o.replications)
        first = o.first_passage[rows]
        columns: dict[str, np.ndarray] = {
            "replication": np.arange(start, stop, step),
            "draw": self.draws[rows],
            "highest_rung": ((first >= 0).sum(axis=1) - 1).astype(np.int8),
        }
        for k in range(1, first.shape[1]):
            columns[f"first_day_rung_{k}"] = first[:, k]
        threshold_days = o.threshold_days[rows]
        for m, t in enumerate(s.thresholds):
            columns[f"first_day_{t.name}"] = threshold_days[:, m]
        attacks, injured, killed = o.attacks[rows], o.injured[rows], o.killed[rows]
        for d, dyad in enumerate(s.attacks):
            columns[f"attacks[{dyad.key}]"] = attacks[:, d]
            columns[f"injured[{dyad.key}]"] = injured[:, d]
            columns[f"killed[{dyad.key}]"] = killed[:, d]
        strikes = o.strikes[rows]
        for e, dyad in enumerate(s.retaliations):
            for level, name in enumerate(("target", "patron_assets", "patron_territory")):
                columns[f"strikes[{dyad.key}:{name}]"] = strikes[:, e, level]
        parameters = o.parameters[rows]
        for p, name in enumerate(o.parameter_names):
            columns[f"param[{name}]"] = parameters[:, p]
        return pd.DataFrame(columns)

    def draw_parameter_values(self) -> pd.DataFrame:
        """One row per parameter draw: the varying parameters' values (those of its first replication)."""
        draws = self.draws
        first = np.flatnonzero(np.r_[True, draws[1:] != draws[:-1]])
        return pd.DataFrame(self.outcomes.parameters[first], columns=list(self.outcomes.parameter_names))

    def uncertainty_drivers(self, horizon: int, bins: int = 10) -> pd.DataFrame:
        """For each named threshold by ``horizon``, each varying parameter's share of its parameter spread.

        Columns ``threshold``, ``parameter``, ``share``, ``p_value`` and ``detected``
        (:func:`escalation.metrics.variance_drivers`), largest share first within a threshold; empty when the
        parameter spread cannot be estimated or is zero.
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
            return pd.DataFrame(columns=["threshold", "parameter", "share", "p_value", "detected"])
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
    merger = _Merger([(task.chunk, task.replications) for task in tasks], scenario.horizon_days)
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
            merger.add(chunk, part)
            bar.update(part.replications)
            del part  # merged: the chunk's own arrays are freed before the next one arrives
    elapsed = time.perf_counter() - started
    merged = merger.outcomes()
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
# run's size, with factors fitted to the peak resident memory of the baseline command (measured for 10,000 to
# 1,000,000 replications, benchmarks/bench_memory.py); it is meant to be within a factor of about 1.5 either
# way (tests/test_memory.py checks it), and on the low side rather than the high side, so that what fits runs:
#
# - outcomes: per replication and arm, the merged outcome arrays in their compact dtypes (first-passage day
#   of each rung, day of each named threshold, the longest pause and stop day of each tracked target: int16;
#   totals of each attack dyad, strikes of each retaliation dyad and level: int32; the drawn parameters:
#   float64; the draw index), OUTCOME_OVERHEAD times for the allocator's slack; plus, for one arm at a time,
#   the statistics' working copies: about ANALYSIS_VALUES 8-byte values per named threshold (the threshold
#   table's int64 days and per-horizon counts), and one batch of the replications table being written
#   (at most REPLICATION_BATCH_ROWS rows of 8-byte values, twice: the frame and its Arrow copy). About 0.7 KB
#   per replication of the packaged scenario;
# - chunks: per replication of the chunks simulated at the same time (one per worker), the model's working
#   arrays, about CHUNK_STATE_VALUES 8-byte values per dyad. A chunk's model is freed when it is merged;
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
# The escalation curves' per-draw tables are built a block of days at a time (metrics.BLOCK_CELLS), so they
# add a constant, not a term that grows with draws x days. Measured on the packaged scenario (180 days, 4,000
# calibration draws), peak resident memory against this estimate: see benchmarks/bench_memory.py and the
# figures in docs/architecture.md, "Memory".

OUTCOME_OVERHEAD = 1.1
ANALYSIS_VALUES = 4
CHUNK_STATE_VALUES = 16
HISTOGRAM_CELL_BYTES = 24
CALIBRATION_DRAW_BYTES = 40
PROCESS_BYTES = 300e6
REPLICATION_BATCH_ROWS = 65_536  # rows of the replications table built (and written) at once


@dataclass(frozen=True)
class MemoryEstimate:
    """A rough estimate of a run's memory in bytes, by what needs it (see the comment above it in the source).

    Attributes:
        outcomes: the per-replication outcome arrays of every arm (compact dtypes), the statistics' working
            copies of one arm's, and one batch of the replications table being written.
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
    from escalation.semantics import N_LEVELS
    from escalation.specs import Dist, param_mean

    days = scenario.horizon_days if horizon_days is None else horizon_days
    uncertain = [path for path, value in scenario_parameters(scenario) if isinstance(value, Dist)]
    dyads = len(scenario.attacks) + len(scenario.retaliations)
    columns = N_RUNGS + len(scenario.thresholds) + 3 * dyads + len(uncertain)
    tracked = len(scenario.tracked_targets)
    day_bytes = _smallest_integer(-1, days).itemsize * (N_RUNGS + len(scenario.thresholds) + 2 * tracked)
    count_bytes = 4 * (3 * len(scenario.attacks) + N_LEVELS * len(scenario.retaliations))
    per_replication = OUTCOME_OVERHEAD * (day_bytes + count_bytes + 8 * len(uncertain) + 8)
    analysis = 8 * ANALYSIS_VALUES * len(scenario.thresholds)
    batch = min(replications, REPLICATION_BATCH_ROWS) * (columns + 3) * 8 * 2
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
        outcomes=float(replications) * (arms * per_replication + analysis) + batch,
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
