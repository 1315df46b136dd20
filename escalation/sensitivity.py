"""Global sensitivity of the headline numbers: Sobol indices and Morris screening over one ensemble.

Every replication already carries its own parameter vector, so a sensitivity design is one ensemble whose
parameter values are given rather than drawn. The *factors* are

- every uncertain parameter of the scenario (a ``{dist: ...}`` in its config). A unit-interval value ``u``
  becomes a parameter value by the empirical quantile function of the calibration's posterior draws, for a
  calibrated path, or by the inverse CDF of the prior otherwise. The factors are sampled independently, so a
  design keeps each posterior marginal but loses the correlations between calibrated parameters that the
  joint posterior rows carry in an ordinary run (interception and injury probability, say);
- optionally, levers given a range: uniform on it, whatever the scenario sets;
- in a Sobol design, the replication's randomness (:data:`RANDOMNESS`). Equal values of this factor mean the
  same random numbers, distinct values independent ones: the design runner puts runs that share the value at
  the same position of chunks that share a seed (:func:`noise_layout`). Without it the chance variation of a
  replication would be counted as influence in every factor's total index.

A Morris design has no randomness column (SALib's grid would give it only ``morris_levels`` values, so the
whole design would share a handful of sets of random numbers). Instead each trajectory has its own random
numbers, shared by all its points (common random numbers along a trajectory): an elementary effect compares
two runs that differ in one factor only, and the trajectories are independent of one another.

Each unit value is first squeezed into ``[TAIL, 1 - TAIL]`` so that a Morris grid level of 0 or 1 gives a
finite value (the design ignores the outer 0.1% of each distribution).

The outputs (*headlines*) are, per replication: whether each named threshold happened by each horizon (0 or 1,
so its variance is p(1 - p)), and the cumulative attacks on each tracked target by each horizon. The indices
come from SALib (Saltelli's sampling with Sobol' sequences; the first-order estimator of Saltelli et al.
2010 and the total-order estimator of Jansen 1999, with bootstrap intervals; Morris' trajectories with mu*,
sigma and a bootstrap interval on mu*).

References:
    Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Design and estimator for
        the total sensitivity index. Computer Physics Communications 181(2), 259-270.
    Jansen, M. J. W. (1999). Analysis of variance designs for model output. Computer Physics Communications
        117(1-2), 35-43.
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
        Technometrics 33(2), 161-174.
    Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for sensitivity analysis
        of large models. Environmental Modelling & Software 22(10), 1509-1518.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from escalation.ensemble import EnsembleResult, available_memory, estimate_memory, run_ensemble
from escalation.history import ObservedHistory
from escalation.parameters import PARAMETER_GROUPS, scenario_parameters
from escalation.specs import Dist, EnsembleSpec, ParameterInfo, ScenarioSpec, SpecError

RANDOMNESS = "randomness"  # the factor of the replication's own random numbers
TAIL = 1e-3  # unit values are squeezed into [TAIL, 1 - TAIL] before the inverse CDF
METHODS = ("sobol", "morris")
MAX_RUNS = 4_000_000  # a design beyond this many replications is refused whatever the memory
# A chunk costs about as much fixed (Python, per day) work as this many replications; used to lay out designs.
CHUNK_OVERHEAD_RUNS = 200


@dataclass(frozen=True)
class Factor:
    """One input of a sensitivity design, and how a unit-interval value becomes a model value.

    Attributes:
        name: the parameter path, or :data:`RANDOMNESS`.
        kind: ``posterior`` (empirical quantiles of calibration draws), ``prior`` (inverse CDF of the prior),
            ``lever`` (uniform on ``[low, high]``) or ``randomness``.
        dist: the prior, for ``prior``.
        draws: the sorted posterior draws, for ``posterior``.
        low, high: the range, for ``lever``.
    """

    name: str
    kind: str
    dist: Dist | None = None
    draws: np.ndarray | None = field(default=None, repr=False)
    low: float = 0.0
    high: float = 1.0

    def values(self, unit: np.ndarray) -> np.ndarray:
        """Model values of unit-interval values (the randomness factor returns them unchanged)."""
        unit = np.asarray(unit, dtype=float)
        if self.kind == RANDOMNESS:
            return unit
        if self.kind == "lever":
            return self.low + (self.high - self.low) * unit
        level = TAIL + (1.0 - 2.0 * TAIL) * unit
        if self.kind == "posterior":
            return np.quantile(self.draws, level)
        return np.asarray(self.dist.frozen().ppf(level), dtype=float)


@dataclass(frozen=True)
class SensitivitySpec:
    """What a sensitivity analysis computes.

    Attributes:
        method: ``sobol`` (first and total order indices) or ``morris`` (screening).
        base_samples: Sobol: the base sample N, a power of 2 (the design runs N (factors + 2) replications);
            Morris: the number of trajectories (the design runs trajectories (factors + 1)).
        horizons: days by which the headlines are taken.
        thresholds: named thresholds analysed (empty: every one of the scenario).
        cumulative: also analyse the cumulative attacks on each tracked target.
        levers: parameter path -> ``(low, high)``: levers varied uniformly on a range as factors.
        randomness: Sobol: include the replication's randomness as a factor; Morris: share the random
            numbers along each trajectory (each trajectory its own). False: every run its own.
        seed: seed of the design's sampler and of the bootstrap.
        resamples: bootstrap resamples of the intervals.
        level: confidence level of the intervals.
        morris_levels: grid levels of the Morris design (even).
    """

    method: str = "sobol"
    base_samples: int = 1024
    horizons: tuple[int, ...] = (30, 90, 180)
    thresholds: tuple[str, ...] = ()
    cumulative: bool = True
    levers: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    randomness: bool = True
    seed: int = 0
    resamples: int = 200
    level: float = 0.95
    morris_levels: int = 4

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"sensitivity.method: unknown {self.method!r}; allowed: {', '.join(METHODS)}")
        n = self.base_samples
        if self.method == "sobol" and (n < 2 or n & (n - 1)):
            below = 2 ** max(1, int(math.log2(max(n, 2))))
            raise SpecError(
                f"sensitivity.base_samples: Sobol' sequences need a power of 2, got {n}; "
                f"allowed: 2, 4, 8, ... (e.g. {below} or {2 * below})"
            )
        if self.method == "morris" and n < 2:
            raise SpecError(f"sensitivity.base_samples: Morris needs at least 2 trajectories, got {n}")
        if not self.horizons:
            raise SpecError("sensitivity.horizons: no horizon given; allowed: a list of days, e.g. [30, 90]")
        if self.resamples < 10:
            raise SpecError(f"sensitivity.resamples: must be an integer >= 10, got {self.resamples}")
        if not 0 < self.level < 1:
            raise SpecError(f"sensitivity.level: must be in (0, 1), got {self.level}")
        if self.morris_levels < 2 or self.morris_levels % 2:
            raise SpecError(
                f"sensitivity.morris_levels: must be an even integer >= 2, got {self.morris_levels}"
            )
        if self.seed < 0:
            raise SpecError(f"sensitivity.seed: must be an integer >= 0, got {self.seed}")

    def runs(self, factors: int) -> int:
        """Replications the design runs with ``factors`` factors."""
        return self.base_samples * (factors + 2 if self.method == "sobol" else factors + 1)


def _parameter_info(path: str) -> ParameterInfo | None:
    prefix, _, rest = path.partition(".")
    name = rest.rpartition(".")[2]
    for group in PARAMETER_GROUPS:
        if group.prefix == prefix:
            return dict(group.fields).get(name)
    return None


def design_factors(
    scenario: ScenarioSpec,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
    levers: Mapping[str, tuple[float, float]] | None = None,
    randomness: bool = True,
) -> tuple[Factor, ...]:
    """The factors of a design: every uncertain parameter, the levers with ranges, the randomness.

    ``randomness`` adds the :data:`RANDOMNESS` column (Sobol designs; a Morris design has none, see
    :func:`design_noise`).

    Raises:
        SpecError: a lever that is not a parameter path of the scenario, or whose range is empty or outside
            the parameter's bounds.
    """
    calibration_draws = calibration_draws or {}
    levers = dict(levers or {})
    paths = dict(scenario_parameters(scenario))
    for path, bounds in levers.items():
        key = f"sensitivity.levers.{path}"
        if path not in paths:
            raise SpecError(
                f"{key}: not a parameter of scenario {scenario.name!r}; allowed: paths such as "
                f"{', '.join(list(paths)[:3])} (see the param[...] columns of replications.parquet)"
            )
        low, high = (float(b) for b in bounds)
        info = _parameter_info(path)
        if not low < high:
            raise SpecError(f"{key}: the range needs low < high, got [{low}, {high}]")
        if info is not None and (low < info.low or high > info.high or (info.open_low and low <= info.low)):
            raise SpecError(
                f"{key}: [{low}, {high}] is outside the parameter's bounds [{info.low}, {info.high}]"
            )
    factors = []
    for path, value in paths.items():
        if path in levers:
            low, high = (float(b) for b in levers[path])
            factors.append(Factor(path, "lever", low=low, high=high))
        elif isinstance(value, Dist):
            if path in calibration_draws:
                draws = np.sort(np.asarray(calibration_draws[path], dtype=float))
                factors.append(Factor(path, "posterior", draws=draws))
            else:
                factors.append(Factor(path, "prior", dist=value))
    if randomness:
        factors.append(Factor(RANDOMNESS, RANDOMNESS))
    if not factors:
        raise SpecError("sensitivity: the scenario has no uncertain parameter and no lever was given a range")
    return tuple(factors)


def salib_problem(names: list[str] | tuple[str, ...]) -> dict:
    """The SALib problem of factors sampled on the unit interval."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def sample_design(spec: SensitivitySpec, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """The unit-interval design (runs x factors): Saltelli's Sobol' sample or Morris' trajectories."""
    problem = salib_problem(names)
    if spec.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, spec.base_samples, calc_second_order=False, seed=spec.seed)
    from SALib.sample import morris

    return morris.sample(problem, spec.base_samples, num_levels=spec.morris_levels, seed=spec.seed)


def design_noise(spec: SensitivitySpec, factors: tuple[Factor, ...], unit: np.ndarray) -> np.ndarray:
    """The randomness value of every run: runs with equal values get the same random numbers.

    The :data:`RANDOMNESS` column when the design has one; for Morris with ``spec.randomness``, the run's
    trajectory (each trajectory its own random numbers, shared by its ``factors + 1`` points); otherwise
    every run its own.
    """
    names = [f.name for f in factors]
    if RANDOMNESS in names:
        return np.asarray(unit[:, names.index(RANDOMNESS)], dtype=float)
    if spec.method == "morris" and spec.randomness:
        return (np.arange(len(unit)) // (len(factors) + 1)).astype(float)
    return np.arange(len(unit), dtype=float)


def noise_layout(noise: np.ndarray, chunk_size: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Chunks that give runs with equal randomness values the same random numbers, and the runs' places.

    A replication's random numbers depend on its chunk's seed, the chunk's size and its position in the
    chunk. A value used by m runs therefore takes one position in m chunks of one size that share a seed key
    (*layers*). Values are grouped by how many runs use them; groups of nearby counts are merged (their
    values then take the larger count of layers, the spare places running copies whose results are dropped)
    where that saves more fixed per-chunk work than it adds runs.

    Args:
        noise: the randomness value of each run.
        chunk_size: the most positions of one chunk.

    Returns:
        ``(layout, place)``: ``(seed key, size)`` of every chunk in order (see
        :func:`~escalation.ensemble.run_ensemble`), and for every place of those chunks, in order, the run it
        holds (spare places repeat a run of the same value).
    """
    _, value_of_run, uses = np.unique(noise, return_inverse=True, return_counts=True)
    counts = np.unique(uses)
    values_with = {m: np.flatnonzero(uses == m) for m in counts}

    def cost(first: int, last: int) -> float:  # one group: the counts counts[first..last]
        width = sum(len(values_with[m]) for m in counts[first : last + 1])
        layers = int(counts[last])
        return layers * width + CHUNK_OVERHEAD_RUNS * layers * math.ceil(width / chunk_size)

    best = [0.0] + [math.inf] * len(counts)  # best[k]: cheapest grouping of the first k counts
    cut = [0] * (len(counts) + 1)
    for last in range(len(counts)):
        for first in range(last + 1):
            total = best[first] + cost(first, last)
            if total < best[last + 1]:
                best[last + 1], cut[last + 1] = total, first
    groups, k = [], len(counts)
    while k > 0:
        groups.append((cut[k], k - 1))
        k = cut[k]
    runs_of_value = np.split(np.argsort(value_of_run, kind="stable"), np.cumsum(uses)[:-1])
    layout: list[tuple[int, int]] = []
    place: list[np.ndarray] = []
    key = 0
    for first, last in reversed(groups):
        values = np.concatenate([values_with[m] for m in counts[first : last + 1]])
        layers = int(counts[last])
        for start in range(0, len(values), chunk_size):
            block = values[start : start + chunk_size]
            for layer in range(layers):
                place.append(
                    np.array([runs_of_value[v][min(layer, len(runs_of_value[v]) - 1)] for v in block])
                )
                layout.append((key, len(block)))
            key += 1
    return layout, np.concatenate(place)


@dataclass(frozen=True)
class DesignRun:
    """A design and its simulated outcomes, one row per run of the design.

    Attributes:
        spec: the analysis.
        factors: the design's factors, in column order.
        unit: (runs, factors) the unit-interval design.
        values: (runs, factors) the model values (the randomness column as drawn on the unit interval).
        outputs: headline name -> (runs,) the output of every run.
        headlines: headline name -> ``(kind, subject, horizon)``: ``threshold`` or ``cumulative``, the
            threshold's or the tracked target's name, the horizon in days.
        ensemble: the simulated ensemble (in chunk order, with the spare places).
        elapsed_seconds: wall time of the simulation.
    """

    spec: SensitivitySpec
    factors: tuple[Factor, ...]
    unit: np.ndarray
    values: np.ndarray
    outputs: dict[str, np.ndarray]
    headlines: dict[str, tuple[str, str, int]]
    ensemble: EnsembleResult
    elapsed_seconds: float

    @property
    def names(self) -> list[str]:
        """The factors' names, in column order."""
        return [f.name for f in self.factors]

    def frame(self) -> pd.DataFrame:
        """One row per run: the factors' model values and every headline output (tidy for discovery)."""
        table = pd.DataFrame(self.values, columns=self.names)
        table.insert(0, "run", np.arange(len(table)))
        for name, output in self.outputs.items():
            table[name] = output
        return table

    def independent_rows(self) -> np.ndarray:
        """Runs that are independent draws of the factors and of the random numbers.

        Sobol: the A and B rows. Morris: the first point of each trajectory (the other points of a
        trajectory each move one factor from the one before and share its random numbers).
        """
        if self.spec.method != "sobol":
            return np.arange(0, len(self.unit), len(self.factors) + 1)
        block = len(self.factors) + 2
        starts = np.arange(0, len(self.unit), block)
        return np.sort(np.concatenate([starts, starts + block - 1]))


def headline_name(kind: str, subject: str, horizon: int) -> str:
    """The name of a headline: ``regional_war@180``, ``cumulative:us@90``."""
    return f"{subject}@{horizon}" if kind == "threshold" else f"cumulative:{subject}@{horizon}"


def check_design_size(
    spec: SensitivitySpec,
    scenario: ScenarioSpec,
    factors: int,
    chunk_size: int,
    workers: int,
    simulated: int | None = None,
) -> None:
    """Refuse a design whose run count or memory is out of reach, naming the largest that fits.

    Args:
        spec: the analysis.
        scenario: its scenario.
        factors: the design's number of factors.
        chunk_size: the ensemble's chunk size.
        workers: the ensemble's worker processes.
        simulated: the replications the design's chunk layout simulates (:func:`noise_layout`: spare places
            included); the design's run count when None.

    Raises:
        SpecError: naming ``sensitivity.base_samples``.
    """
    runs = max(spec.runs(factors), simulated or 0)
    need = estimate_memory(
        scenario, runs, chunk_size=min(chunk_size, spec.base_samples), workers=workers
    ).total
    available = available_memory()
    fits = runs <= MAX_RUNS and (available is None or need <= available)
    if fits:
        return
    largest = spec.base_samples
    while largest > 2 and (
        runs * largest / spec.base_samples > MAX_RUNS
        or (available is not None and need * largest / spec.base_samples > available)
    ):
        largest //= 2
    where = f"about {need / 1e9:,.1f} GB of memory" if runs <= MAX_RUNS else f"more than {MAX_RUNS:,} runs"
    raise SpecError(
        f"sensitivity.base_samples: {spec.base_samples:,} with {factors} factors is {runs:,} replications, "
        f"{where}; allowed: at most about {largest:,}"
    )


def run_design(
    spec: SensitivitySpec,
    scenario: ScenarioSpec,
    factors: tuple[Factor, ...],
    ensemble: EnsembleSpec,
    history: ObservedHistory | None = None,
    unit: np.ndarray | None = None,
) -> DesignRun:
    """Simulate a design in one ensemble and take every headline of every run.

    Args:
        spec: the analysis (method, base samples, horizons, headlines).
        scenario: the scenario; its horizon must reach the longest of ``spec.horizons``.
        factors: the design's factors (:func:`design_factors`).
        ensemble: seed of the random numbers, chunk size and workers (its replications are the design's).
        history: observed history for the warm start.
        unit: the unit-interval design (default: :func:`sample_design`).
    """
    longest = max(spec.horizons)
    if longest > scenario.horizon_days or min(spec.horizons) < 1:
        raise SpecError(
            f"sensitivity.horizons: {longest if longest > scenario.horizon_days else min(spec.horizons)} is "
            f"outside 1..{scenario.horizon_days} (the scenario's horizon_days)"
        )
    known = [t.name for t in scenario.thresholds]
    unknown = [t for t in spec.thresholds if t not in known]
    if unknown:
        raise SpecError(f"sensitivity.thresholds: unknown {unknown[0]!r}; allowed: {', '.join(known)}")
    names = [f.name for f in factors]
    unit = sample_design(spec, names) if unit is None else np.asarray(unit, dtype=float)
    values = np.column_stack([f.values(unit[:, j]) for j, f in enumerate(factors)])
    layout, place = noise_layout(design_noise(spec, factors, unit), ensemble.chunk_size)
    parameter_values = {f.name: values[place, j] for j, f in enumerate(factors) if f.kind != RANDOMNESS}
    horizons = tuple(sorted(set(spec.horizons)))
    cumulative_days = horizons if spec.cumulative and scenario.tracked_targets else ()
    # Every run has its own parameter values (the design's), so no block of runs shares a draw.
    result = run_ensemble(
        scenario,
        dataclasses.replace(ensemble, replications_per_draw=1),
        history=history,
        parameter_values=parameter_values,
        layout=layout,
        cumulative_days=cumulative_days,
    )
    where = np.empty(len(unit), dtype=np.int64)
    where[place] = np.arange(len(place))  # a run held by several places (spares) takes the last: all equal
    outcomes = result.outcomes
    outputs: dict[str, np.ndarray] = {}
    headlines: dict[str, tuple[str, str, int]] = {}
    for m, threshold in enumerate(scenario.thresholds):
        if spec.thresholds and threshold.name not in spec.thresholds:
            continue
        days = outcomes.threshold_days[where, m]
        for h in horizons:
            name = headline_name("threshold", threshold.name, h)
            outputs[name] = ((days >= 0) & (days < h)).astype(float)
            headlines[name] = ("threshold", threshold.name, h)
    for k, target in enumerate(scenario.tracked_targets if cumulative_days else ()):
        for slot, h in enumerate(cumulative_days):
            name = headline_name("cumulative", target, h)
            outputs[name] = outcomes.cumulative_at[where, slot, k].astype(float)
            headlines[name] = ("cumulative", target, h)
    return DesignRun(
        spec=spec,
        factors=factors,
        unit=unit,
        values=values,
        outputs=outputs,
        headlines=headlines,
        ensemble=result,
        elapsed_seconds=result.elapsed_seconds,
    )


def sobol_indices(
    names: list[str] | tuple[str, ...],
    outputs: Mapping[str, np.ndarray],
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """First and total order Sobol indices of each output, with bootstrap intervals (SALib, tidy).

    The outputs must come from :func:`sample_design`'s Sobol design (``calc_second_order=False``) in its row
    order. An output that does not vary gets NaN indices (there is no variance to share out).

    Returns:
        One row per output and factor: ``output, factor, S1, S1_conf, ST, ST_conf, variance``; ``*_conf`` is
        the half-width of the bootstrap interval at ``level``.
    """
    from SALib.analyze import sobol

    problem = salib_problem(names)
    rows = []
    for output, y in outputs.items():
        y = np.asarray(y, dtype=float)
        variance = float(np.var(y))
        if variance > 0:
            with warnings.catch_warnings():  # a binary output is often constant on a bootstrap resample
                warnings.filterwarnings("ignore", message="Constant values encountered", category=UserWarning)
                found = sobol.analyze(
                    problem, y, calc_second_order=False, num_resamples=resamples, conf_level=level, seed=seed
                )
        else:
            found = {key: np.full(len(names), np.nan) for key in ("S1", "S1_conf", "ST", "ST_conf")}
        for j, name in enumerate(names):
            rows.append(
                {
                    "output": output,
                    "factor": name,
                    **{key: float(found[key][j]) for key in ("S1", "S1_conf", "ST", "ST_conf")},
                    "variance": variance,
                }
            )
    return pd.DataFrame(rows)


def morris_indices(
    names: list[str] | tuple[str, ...],
    unit: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    *,
    levels: int = 4,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Morris elementary-effect statistics of each output on the unit-interval design (SALib, tidy).

    Returns:
        One row per output and factor: ``output, factor, mu, mu_star, mu_star_conf, sigma, variance``;
        ``mu_star_conf`` is the half-width of the bootstrap interval of mu* at ``level``. The effects are per
        unit of the factor's unit interval (its quantile level), so factors compare on one scale.
    """
    from SALib.analyze import morris

    problem = salib_problem(names)
    rows = []
    for output, y in outputs.items():
        y = np.asarray(y, dtype=float)
        found = morris.analyze(
            problem, unit, y, num_resamples=resamples, conf_level=level, num_levels=levels, seed=seed
        )
        for j, name in enumerate(names):
            rows.append(
                {
                    "output": output,
                    "factor": name,
                    **{key: float(found[key][j]) for key in ("mu", "mu_star", "mu_star_conf", "sigma")},
                    "variance": float(np.var(y)),
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SensitivityResult:
    """A sensitivity analysis: the design run and the indices of every headline.

    Attributes:
        design: the design and its outputs.
        indices: tidy table, one row per headline and factor (see :meth:`SensitivityResult.indices_table`).
        calibration_hash: hash of the calibration whose posterior draws the factors use, if any.
    """

    design: DesignRun
    indices: pd.DataFrame
    calibration_hash: str | None = None

    @property
    def spec(self) -> SensitivitySpec:
        """The analysis."""
        return self.design.spec

    def headlines(self) -> pd.DataFrame:
        """One row per headline: kind, subject, horizon, mean and variance of the output over the design."""
        rows = []
        for name, (kind, subject, horizon) in self.design.headlines.items():
            y = self.design.outputs[name]
            rows.append(
                {
                    "headline": name,
                    "kind": kind,
                    "subject": subject,
                    "horizon_days": horizon,
                    "mean": float(np.mean(y)),
                    "variance": float(np.var(y)),
                }
            )
        return pd.DataFrame(rows)

    def ranking(self, headline: str) -> pd.DataFrame:
        """The factors of one headline, most influential first (by ST for Sobol, mu* for Morris)."""
        table = self.indices[self.indices["headline"] == headline]
        key = "ST" if self.spec.method == "sobol" else "mu_star"
        return table.sort_values(key, ascending=False, na_position="last").reset_index(drop=True)


def analyse_design(design: DesignRun, calibration_hash: str | None = None) -> SensitivityResult:
    """The indices of every headline of a design run."""
    spec = design.spec
    if spec.method == "sobol":
        table = sobol_indices(
            design.names, design.outputs, resamples=spec.resamples, level=spec.level, seed=spec.seed
        )
    else:
        table = morris_indices(
            design.names,
            design.unit,
            design.outputs,
            levels=spec.morris_levels,
            resamples=spec.resamples,
            level=spec.level,
            seed=spec.seed,
        )
    table = table.rename(columns={"output": "headline"})
    kinds = {f.name: f.kind for f in design.factors}
    info = pd.DataFrame(
        [
            {"headline": name, "kind": kind, "subject": subject, "horizon_days": horizon}
            for name, (kind, subject, horizon) in design.headlines.items()
        ]
    )
    table = info.merge(table, on="headline", how="right")
    table.insert(4, "factor_kind", table["factor"].map(kinds))
    table.insert(0, "method", spec.method)
    return SensitivityResult(design=design, indices=table, calibration_hash=calibration_hash)


def run_sensitivity(
    spec: SensitivitySpec,
    scenario: ScenarioSpec,
    ensemble: EnsembleSpec,
    *,
    calibration_draws: Mapping[str, np.ndarray] | None = None,
    history: ObservedHistory | None = None,
    calibration_hash: str | None = None,
) -> SensitivityResult:
    """Build the factors, refuse an out-of-reach design, run it in one ensemble and compute the indices."""
    randomness_column = spec.randomness and spec.method == "sobol"
    factors = design_factors(scenario, calibration_draws, spec.levers, randomness_column)
    # Refused before the design is sampled (an absurd one would not fit in memory), then with its layout.
    check_design_size(spec, scenario, len(factors), ensemble.chunk_size, ensemble.workers)
    unit = sample_design(spec, [f.name for f in factors])
    _, place = noise_layout(design_noise(spec, factors, unit), ensemble.chunk_size)
    check_design_size(spec, scenario, len(factors), ensemble.chunk_size, ensemble.workers, len(place))
    design = run_design(spec, scenario, factors, ensemble, history, unit)
    return analyse_design(design, calibration_hash)
