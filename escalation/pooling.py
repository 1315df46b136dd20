"""Pooled (hierarchical) priors from the reference-class records (docs/reference_class.md, "Pooled priors").

A pool is a set of *stretches*: the count observations (an interval row, a series of running tallies, a
zero count) of the dyads that ``data/reference/pools.yaml`` names, from the records it names, known before
the cut-off. Stretch ``j`` has its own daily rate ``λ_j``, and the log rates are drawn from one population,
``log λ_j ~ Normal(m, s)``. Each stretch's likelihood on a grid of log rates comes from
:func:`escalation.counts.log_likelihood` (tallies with their revisions, lower bounds, zeros: as the
calibration reads them), the population's posterior over ``(m, s)`` is computed exactly on a grid, and the
predictive distribution of a new stretch's rate (a mixture of normals over that posterior) is the pooled
prior. The calibration uses it in the scenario's config form: a lognormal with the predictive's mean and
standard deviation of the log rate.

Why a grid and not MCMC: two hyperparameters and one rate per stretch, so exact integration is possible; it
is deterministic, takes a fraction of a second and needs no convergence diagnostics.

The hyperpriors are assumptions (:data:`HYPERPRIORS`): ``m`` uniform on the log of 0.001 to 30 a day, ``s``
half-normal with scale 1.5 on the log scale (a spread of more than a factor of 20 between campaigns is
possible but not favoured).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import yaml

from escalation import cache
from escalation.counts import CountObservation, log_likelihood, rate_observations
from escalation.events import EventLog, load_events
from escalation.specs import AttackSpec, Dist, Param, ScenarioSpec

PRIOR_SOURCES = ("reference_class", "hand")
HYPERPRIORS = {
    "m": "uniform on log(0.001) to log(30) (attacks a day); assumption",
    "s": "half-normal, scale 1.5 (log scale); assumption",
}
_LOG_RATES = np.linspace(-21.0, 7.0, 561)  # e^-21 to e^7 (about 1100) attacks a day, step 0.05
_M = np.linspace(np.log(1e-3), np.log(30.0), 101)
_S = np.linspace(0.05, 4.0, 64)
_S_SCALE = 1.5


def reference_dir() -> Path:
    """The packaged reference-class records."""
    return Path(str(files("escalation").joinpath("data", "reference")))


@dataclass(frozen=True)
class Pool:
    """What one pool reads: record file -> dyads (attacker, target), and why the others are not pooled."""

    name: str
    describes: str
    applies_to: str
    dyads: dict[str, tuple[tuple[str, str], ...]]
    paused: dict[str, str]  # event id of a stretch in a truce or halt -> the truce
    not_pooled: dict[str, str]
    keep_paused: bool = False  # True: the pool is the paused stretches; False: it leaves them out


@dataclass(frozen=True)
class Truce:
    """A declared truce or halt of a campaign in a reference record: its first day and how it ended.

    Attributes:
        record: the record file.
        start: the event id of the row dating the truce's first day.
        end: the event id of the row dating the campaign's resumption, or None: the truce outlasted the
            record (censored at the record's last day, or at the cut-off).
        why: what the rows say, for the artefact.
    """

    record: str
    start: str
    end: str | None
    why: str


@dataclass(frozen=True)
class TrucePool:
    """The pool of truce durations behind the resume hazard, with its conjugate beta prior (assumption)."""

    name: str
    describes: str
    applies_to: str
    prior_a: float
    prior_b: float
    truces: tuple[Truce, ...]


POOL_NAMES = ("base_rate", "paused_rate", "resume_hazard")
_POOL_KEYS = {
    "base_rate": {"describes", "applies_to", "dyads", "paused", "not_pooled"},
    "paused_rate": {"describes", "applies_to"},
    "resume_hazard": {"describes", "applies_to", "prior", "truces"},
}


def load_pools(path: str | Path | None = None) -> dict[str, Any]:
    """Read a pools file (default: the packaged ``pools.yaml``), checking every name it uses.

    Returns ``base_rate`` (a :class:`Pool`), ``paused_rate`` (a :class:`Pool` of the stretches the base-rate
    pool lists as paused, from the same records and dyads) and ``resume_hazard`` (a :class:`TrucePool`).
    """
    path = Path(path) if path is not None else reference_dir() / "pools.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable pools file ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict) or set(raw) != set(POOL_NAMES):
        raise ValueError(
            f"{path}: expected the pools {', '.join(POOL_NAMES)}; "
            f"got {sorted(raw) if isinstance(raw, dict) else raw!r}"
        )
    for name in POOL_NAMES:
        keys = _POOL_KEYS[name]
        if not isinstance(raw[name], dict) or set(raw[name]) != keys:
            raise ValueError(f"{path}: {name}: expected the keys {', '.join(sorted(keys))}")
    base = _rate_pool(path, "base_rate", raw["base_rate"])
    paused = raw["paused_rate"]
    return {
        "base_rate": base,
        "paused_rate": Pool(
            "paused_rate",
            str(paused["describes"]),
            str(paused["applies_to"]),
            base.dyads,
            base.paused,
            base.not_pooled,
            keep_paused=True,
        ),
        "resume_hazard": _truce_pool(path, raw["resume_hazard"]),
    }


def beta_prior(key: str, prior: Any) -> tuple[float, float]:
    """The shapes of a pool's assumed beta prior, ``{a: ..., b: ...}``, both numbers > 0 (else one line)."""
    if not isinstance(prior, dict) or set(prior) != {"a", "b"}:
        raise ValueError(f"{key}: expected the keys a, b (a beta distribution)")
    a, b = prior["a"], prior["b"]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in (a, b)):
        raise ValueError(f"{key}: a and b must be numbers > 0, got {a!r} and {b!r}")
    return float(a), float(b)


def _truce_pool(path: Path, entry: dict) -> TrucePool:
    key = f"{path}: resume_hazard"
    a, b = beta_prior(f"{key}.prior", entry["prior"])
    truces = []
    for k, item in enumerate(entry["truces"] or []):
        if not isinstance(item, dict) or set(item) != {"record", "start", "end", "why"}:
            raise ValueError(f"{key}.truces[{k}]: expected the keys end, record, start, why")
        if not (path.parent / str(item["record"])).is_file():
            raise ValueError(f"{key}.truces[{k}]: no record {item['record']!r} beside the pools file")
        end = None if item["end"] is None else str(item["end"])
        truces.append(Truce(str(item["record"]), str(item["start"]), end, str(item["why"])))
    return TrucePool(
        "resume_hazard", str(entry["describes"]), str(entry["applies_to"]), float(a), float(b), tuple(truces)
    )


def _rate_pool(path: Path, name: str, entry: dict) -> Pool:
    dyads = {}
    for record, names in (entry["dyads"] or {}).items():
        if not (path.parent / record).is_file():
            raise ValueError(f"{path}: {name}.dyads: no record {record!r} beside the pools file")
        pairs = []
        for dyad in names or []:
            attacker, arrow, target = str(dyad).partition("->")
            if not arrow or not attacker or not target:
                raise ValueError(f"{path}: {name}.dyads.{record}: {dyad!r} is not ATTACKER->TARGET")
            pairs.append((attacker.strip(), target.strip()))
        dyads[record] = tuple(pairs)
    return Pool(
        name,
        str(entry["describes"]),
        str(entry["applies_to"]),
        dyads,
        {str(k): str(v) for k, v in (entry["paused"] or {}).items()},
        {str(k): str(v) for k, v in (entry["not_pooled"] or {}).items()},
    )


@dataclass(frozen=True)
class Stretch:
    """One count observation of a pooled dyad: the unit with its own rate."""

    record: str
    observation: CountObservation

    @property
    def days(self) -> np.ndarray:
        """Days in each of the observation's segments (the reference records have no drivers)."""
        return np.array([(last - first).days + 1 for first, last in self.observation.segments()], dtype=float)

    def describe(self) -> str:
        """The record, the dyad and the readings."""
        o = self.observation
        return f"{self.record}: {o.attacker}->{o.target} {o.describe()}"


@dataclass(frozen=True)
class Population:
    """The exact posterior of a population of log rates, and what it says of a new stretch.

    Each stretch's likelihood is kept on its own grid of log rates (:func:`stretch_likelihood`), fine where
    it is narrow: a stretch of thousands of events pins its rate to a few percent, finer than any grid that
    spans every stretch.

    Attributes:
        stretches: the units pooled.
        grids: per stretch, its grid of log rates.
        log_likelihoods: per stretch, its log likelihood on its grid.
        weights: (M, S) posterior probability of each (m, s) grid cell.
        notes: rows left out of the pool, and why.
        known_predictive: :meth:`predictive` once computed (by its first call, or read from the disk cache
            with the rest), else None; not an argument, and not copied by ``dataclasses.replace``.
    """

    stretches: tuple[Stretch, ...]
    grids: tuple[np.ndarray, ...]
    log_likelihoods: tuple[np.ndarray, ...]
    weights: np.ndarray
    notes: tuple[str, ...] = ()
    known_predictive: np.ndarray | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def records(self) -> tuple[str, ...]:
        """The records whose stretches are pooled."""
        return tuple(sorted({s.record for s in self.stretches}))

    def predictive(self) -> np.ndarray:
        """Probability of each point of :data:`_LOG_RATES` for the log rate of a new stretch."""
        if self.known_predictive is None:
            out = np.tensordot(self.weights, _predictive_densities(), axes=([0, 1], [0, 1]))
            object.__setattr__(self, "known_predictive", out / out.sum())  # frozen: set once, never changed
        return self.known_predictive.copy()

    def prior(self) -> Dist:
        """The predictive as a config distribution: lognormal with its mean and sd of the log rate."""
        p = self.predictive()
        mean = float(p @ _LOG_RATES)
        sd = float(np.sqrt(p @ (_LOG_RATES - mean) ** 2))
        return Dist("lognorm", (("s", round(sd, 4)), ("scale", float(f"{np.exp(mean):.6g}"))))

    def stretch_posterior(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Stretch ``j``'s grid of log rates and the posterior probability of each point.

        The posterior is given every stretch, with the population's uncertainty integrated out.
        """
        density = _densities(self.grids[j])
        likelihood = np.exp(self.log_likelihoods[j] - self.log_likelihoods[j].max())
        marginal = density @ likelihood
        out = np.tensordot(self.weights / np.maximum(marginal, 1e-300), density, axes=([0, 1], [0, 1]))
        out = out * likelihood
        return self.grids[j], out / out.sum()

    def stretch_interval(self, j: int, levels: Sequence[float] = (0.05, 0.95)) -> list[float]:
        """Quantiles of stretch ``j``'s rate (a day)."""
        grid, probabilities = self.stretch_posterior(j)
        return [float(np.exp(q)) for q in _quantiles(grid, probabilities, levels)]

    def hyper_summary(self) -> dict[str, Any]:
        """Posterior median and 90% interval of exp(m) (the population's median rate a day) and of s."""
        out: dict[str, Any] = {}
        for name, axis, marginal, scale in (
            ("median_rate", _M, self.weights.sum(axis=1), np.exp),
            ("spread_log", _S, self.weights.sum(axis=0), float),
        ):
            q05, q50, q95 = (float(scale(q)) for q in _quantiles(axis, marginal, (0.05, 0.5, 0.95)))
            out[name] = {"q05": q05, "q50": q50, "q95": q95}
        return out

    def summary(self) -> dict[str, Any]:
        """What the calibration artefact records of the pool."""
        low, median, high = (
            float(np.exp(q)) for q in _quantiles(_LOG_RATES, self.predictive(), (0.05, 0.5, 0.95))
        )
        exact_tail = [float(np.exp(q)) for q in _quantiles(_LOG_RATES, self.predictive(), (0.99, 0.999))]
        prior_tail = [float(x) for x in self.prior().frozen().ppf([0.99, 0.999])]
        return {
            "model": "log rate of each stretch ~ Normal(m, s); exact grid posterior of (m, s)",
            "approximation": (
                "assumption: the prior is a lognormal with the predictive's mean and sd of the log rate; its "
                f"upper tail is lighter (99% and 99.9% points {prior_tail[0]:.3g} and {prior_tail[1]:.3g} a "
                f"day, against the predictive's {exact_tail[0]:.3g} and {exact_tail[1]:.3g}), and a rate "
                "that the data bound only from below takes its upper side from that tail"
            ),
            "predictive_rate_99_999": exact_tail,
            "prior_rate_99_999": prior_tail,
            "hyperpriors": HYPERPRIORS,
            "population": self.hyper_summary(),
            "predictive_rate_90": [low, high],
            "predictive_rate_median": median,
            "prior": self.prior().as_dict(),
            "records": list(self.records),
            "stretches": [s.describe() for s in self.stretches],
            "left_out": list(self.notes),
        }


def _quantiles(axis: np.ndarray, probabilities: np.ndarray, levels: Sequence[float]) -> list[float]:
    """Quantiles of a distribution given at grid points, interpolated between the points' mid-CDFs."""
    p = np.asarray(probabilities, dtype=float) / np.sum(probabilities)
    mid = np.cumsum(p) - 0.5 * p
    return [float(np.interp(q, mid, axis)) for q in levels]


@functools.cache
def _predictive_densities() -> np.ndarray:
    """:func:`_densities` at :data:`_LOG_RATES`, computed once (29 MB): every pool's predictive uses them."""
    densities = _densities(_LOG_RATES)
    densities.flags.writeable = False
    return densities


def _densities(points: np.ndarray) -> np.ndarray:
    """(M, S, X) Normal(m, s) probability of the cell around each of the (evenly spaced) log rates."""
    step = points[1] - points[0]
    z = (points[None, None, :] - _M[:, None, None]) / _S[None, :, None]
    return np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * _S[None, :, None]) * step


def stretch_likelihood(stretch: Stretch, size: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A stretch's grid of log rates and its log likelihood there.

    The grid spans where the likelihood, on the coarse grid :data:`_LOG_RATES`, is within e^-25 of its
    maximum, one coarse step more on each side, in ``size`` even steps. (Not further: the forward pass of a
    tally series has a round-off floor near e^-38 of its maximum, and a grid out to that floor would be too
    coarse where the likelihood is.)
    """
    coarse = _log_likelihood(stretch, _LOG_RATES)
    inside = np.flatnonzero(coarse >= coarse.max() - 25.0)
    low = _LOG_RATES[max(inside[0] - 1, 0)]
    high = _LOG_RATES[min(inside[-1] + 1, _LOG_RATES.size - 1)]
    grid = np.linspace(low, high, size)
    return grid, _log_likelihood(stretch, grid)


def _log_likelihood(stretch: Stretch, log_rates: np.ndarray) -> np.ndarray:
    return log_likelihood(stretch.observation, np.exp(log_rates)[:, None] * stretch.days[None, :])


def fit_population(stretches: Sequence[Stretch], notes: Sequence[str] = ()) -> Population:
    """The population posterior of the stretches' log rates."""
    if not stretches:
        raise ValueError("a pooled prior needs at least one stretch; none is known before the cut-off")
    grids, log_likelihoods = zip(*(stretch_likelihood(s) for s in stretches), strict=True)
    log_post = scipy.stats.halfnorm.logpdf(_S, scale=_S_SCALE)[None, :].repeat(_M.size, axis=0)
    with np.errstate(divide="ignore"):
        for grid, log_lik in zip(grids, log_likelihoods, strict=True):
            log_post = log_post + np.log(_densities(grid) @ np.exp(log_lik - log_lik.max()))
    weights = np.exp(log_post - log_post.max())
    return Population(tuple(stretches), grids, log_likelihoods, weights / weights.sum(), tuple(notes))


def pool_stretches(
    pool: Pool,
    cutoff: date | None,
    *,
    leave_out: Sequence[str] = (),
    records: dict[str, EventLog] | None = None,
) -> tuple[list[Stretch], list[str]]:
    """The stretches of a pool known before ``cutoff``, without the records in ``leave_out``.

    Returns the stretches and notes naming each row left out and why (dated rows outside a stated period
    are notable events: they say nothing of how often attacks happen).
    """
    stretches, notes = [], []
    for record, dyads in pool.dyads.items():
        if record in leave_out:
            notes.append(f"{record}: left out (the episode being forecast)")
            continue
        log = records[record] if records is not None else _record(record)
        for attacker, target in dyads:
            rates = rate_observations(log, attacker, target, cutoff or date.max)
            for observation in rates.observations:
                paused = [pool.paused[i] for i in observation.event_ids if i in pool.paused]
                if bool(paused) == pool.keep_paused:
                    stretches.append(Stretch(record, observation))
                elif paused:
                    notes.append(
                        f"{record}: {observation.event_ids[-1]} left out: inside a pause ({paused[0]}); the "
                        "base rate describes an active campaign"
                    )
            if not pool.keep_paused:
                notes += [f"{record}: {note}" for note in rates.left_out]
    return stretches, notes


@functools.cache
def _record(name: str) -> EventLog:
    return load_events(reference_dir() / name)


class BetaPool:
    """A pool whose prior is the beta posterior of a daily probability, ``Beta(a, b)``, from its records.

    Subclasses give ``a``, ``b``, ``pool`` (with ``prior_a`` and ``prior_b``, the assumed beta before any
    record), ``records``, ``stretches`` and ``notes``.
    """

    def prior(self) -> Dist:
        """The posterior of the daily probability, as a config distribution."""
        return Dist("beta", (("a", round(self.a, 6)), ("b", round(self.b, 6))))

    def _summary(self, model: str, symbol: str, **figures: Any) -> dict[str, Any]:
        """What the calibration artefact records of the pool: its model, prior, figures and rows."""
        return {
            "model": model,
            "hyperpriors": {symbol: f"Beta({self.pool.prior_a:g}, {self.pool.prior_b:g}); assumption"},
            "prior": self.prior().as_dict(),
            **figures,
            "records": list(self.records),
            "stretches": list(self.stretches),
            "left_out": list(self.notes),
        }


@dataclass(frozen=True)
class TruceDurations(BetaPool):
    """The truces known before a cut-off, and the beta posterior of the daily probability that one breaks.

    A truce that takes hold on day ``s`` survives each later day with probability ``1 - h`` (the engine's
    rule, :func:`escalation.rules.switch_regime`): one that broke on day ``e`` contributes ``e - s - 1``
    days survived and one break; one still holding on day ``c`` (the record's last day, or the day before
    the cut-off) contributes ``c - s`` days survived. With a ``Beta(a, b)`` prior the posterior is
    ``Beta(a + breaks, b + days survived)`` (beta-geometric conjugacy).

    Attributes:
        pool: the pool read.
        truces: per truce known before the cut-off, ``(truce, days survived, broke)``.
        notes: truces left out, and why.
    """

    pool: TrucePool
    truces: tuple[tuple[Truce, int, bool], ...]
    notes: tuple[str, ...] = ()

    @property
    def a(self) -> float:
        """The posterior's first shape: the prior's plus the breaks."""
        return self.pool.prior_a + sum(broke for _, _, broke in self.truces)

    @property
    def b(self) -> float:
        """The posterior's second shape: the prior's plus the days survived."""
        return self.pool.prior_b + sum(days for _, days, _ in self.truces)

    @property
    def records(self) -> tuple[str, ...]:
        """The records whose truces are pooled."""
        return tuple(sorted({t.record for t, _, _ in self.truces}))

    @property
    def stretches(self) -> tuple[str, ...]:
        """One line per truce pooled."""
        return tuple(self.describe(j) for j in range(len(self.truces)))

    def describe(self, j: int) -> str:
        """Truce ``j``: its record, first row, how long it held and how it ended."""
        truce, days, broke = self.truces[j]
        how = f"broke after {days + 1} days ({truce.end})" if broke else f"still holding after {days} days"
        return f"{truce.record}: truce from {truce.start}, {how}: {truce.why}"

    def summary(self) -> dict[str, Any]:
        """What the calibration artefact records of the pool."""
        frozen = self.prior().frozen()
        return self._summary(
            "daily probability that a truce breaks, h ~ Beta(a, b); truce durations geometric in h",
            "h",
            hazard_90=[float(x) for x in frozen.ppf([0.05, 0.95])],
            median_days_to_break=float(np.log(0.5) / np.log1p(-frozen.mean())),
        )


def truce_durations(
    pool: TrucePool,
    cutoff: date | None,
    *,
    leave_out: Sequence[str] = (),
    records: dict[str, EventLog] | None = None,
) -> TruceDurations:
    """The pool's truces that had begun before ``cutoff``, without the records in ``leave_out``."""
    cutoff = cutoff or date.max
    known, notes = [], []
    for truce in pool.truces:
        if truce.record in leave_out:
            notes.append(f"{truce.record}: truce from {truce.start} left out (the episode being forecast)")
            continue
        log = records[truce.record] if records is not None else _record(truce.record)
        rows = {e.event_id: e for e in log}
        for name in (truce.start, truce.end):
            if name is not None and name not in rows:
                raise ValueError(f"pools: resume_hazard: no row {name!r} in {truce.record}")
        start = rows[truce.start].start
        if start >= cutoff:
            notes.append(f"{truce.record}: truce from {truce.start} begins on or after {cutoff}")
            continue
        end = rows[truce.end].start if truce.end is not None else None
        if end is not None and end < cutoff:
            known.append((truce, (end - start).days - 1, True))
        else:
            last = min(cutoff.toordinal() - 1, log.coverage[1].toordinal())
            known.append((truce, last - start.toordinal(), False))
    return TruceDurations(pool, tuple(known), tuple(notes))


@dataclass(frozen=True)
class PooledPrior:
    """A parameter's pooled prior, the hand-set prior it replaces, and the population behind it."""

    path: str
    prior: Dist
    hand: Param
    population: Population | TruceDurations

    def source(self) -> str:
        """One line for the artefact's summaries."""
        unit = getattr(self.population, "unit", None) or (
            "truces" if isinstance(self.population, TruceDurations) else "stretches"
        )
        count = len(self.population.stretches)
        return (
            f"reference_class: pooled from {count} {_SINGULAR.get(unit, unit) if count == 1 else unit} of "
            f"{', '.join(self.population.records)} (hand-set prior it replaces: {_shown(self.hand)})"
        )


_SINGULAR = {"stretches": "stretch", "truces": "truce", "campaigns": "campaign"}


def _shown(param: Param) -> str:
    return str(param.as_dict()) if isinstance(param, Dist) else str(param)


# The disk cache of the pools' fits (escalation.cache): a fit is some 0.5 s of likelihood passes over the
# records and its predictive another 0.1 to 0.2 s; both are fixed by the inputs that population_key hashes.
POPULATION_CACHE = "pooled-population-v1"
# The modules whose code computes a population: this one, the count likelihood and the record reader.
_FIT_MODULES = ("pooling.py", "counts.py", "events.py", "ladder.py")


def population_key(
    pool: Pool, cutoff: date | None, leave_out: Sequence[str], folder: Path | None = None
) -> str:
    """The cache key of a pool's fit: a hash of every input of :func:`fit_population` on its stretches.

    The pool's name and kind, the cut-off and the records left out (the only parts of a scenario the fit
    reads: the cut-off is the scenario's start unless a calibration sets one), the bytes of the pools file and
    of every record the pool names, the source of the modules that compute the fit (:data:`_FIT_MODULES`) and
    the versions of the package, NumPy and SciPy.
    """
    import escalation

    folder = folder if folder is not None else reference_dir()
    package = Path(__file__).resolve().parent
    parts: list[str | bytes] = [
        POPULATION_CACHE,
        pool.name,
        str(pool.keep_paused),
        cutoff.isoformat() if cutoff is not None else "no cut-off",
        "\n".join(sorted(leave_out)),
        (folder / "pools.yaml").read_bytes(),
    ]
    for record in sorted(pool.dyads):
        parts += [record, (folder / record).read_bytes()]
    parts += [escalation.__version__, np.__version__, scipy.__version__]
    for module in _FIT_MODULES:
        parts += [module, (package / module).read_bytes()]
    return cache.key(parts)


def _population_arrays(population: Population) -> dict[str, np.ndarray]:
    """What the cache keeps of a population: its arrays, and its stretches' descriptions to check them by."""
    arrays = {
        "weights": population.weights,
        "predictive": population.predictive(),
        "stretches": np.array([s.describe() for s in population.stretches]),
    }
    for j, (grid, values) in enumerate(zip(population.grids, population.log_likelihoods, strict=True)):
        arrays[f"grid_{j}"] = grid
        arrays[f"log_likelihood_{j}"] = values
    return arrays


def _cached_population(key: str, stretches: Sequence[Stretch], notes: Sequence[str]) -> Population | None:
    """The population of these stretches from the disk cache, or None (no entry, or one not to be trusted)."""

    def plausible(arrays: dict[str, np.ndarray]) -> bool:
        described = [s.describe() for s in stretches]
        if arrays["stretches"].shape != (len(described),) or arrays["stretches"].tolist() != described:
            return False
        names = {f"{kind}_{j}" for j in range(len(described)) for kind in ("grid", "log_likelihood")}
        if set(arrays) != {"weights", "predictive", "stretches", *names}:
            return False
        for name, shape in (("weights", (_M.size, _S.size)), ("predictive", _LOG_RATES.shape)):
            values = arrays[name]
            if values.dtype != np.float64 or values.shape != shape or not np.isfinite(values).all():
                return False
        for j in range(len(described)):
            grid, values = arrays[f"grid_{j}"], arrays[f"log_likelihood_{j}"]
            if grid.dtype != np.float64 or grid.ndim != 1 or values.shape != grid.shape:
                return False
            if values.dtype != np.float64 or not np.isfinite(grid).all():
                return False
            if np.isnan(values).any() or not np.isfinite(values.max()):
                return False
        return True

    arrays = cache.read(POPULATION_CACHE, key, check=plausible)
    if arrays is None:
        return None
    count = len(stretches)
    population = Population(
        tuple(stretches),
        tuple(arrays[f"grid_{j}"] for j in range(count)),
        tuple(arrays[f"log_likelihood_{j}"] for j in range(count)),
        arrays["weights"],
        tuple(notes),
    )
    object.__setattr__(population, "known_predictive", arrays["predictive"])  # as predictive() sets it
    return population


@functools.cache
def _rate_population(name: str, cutoff: date | None, leave_out: tuple[str, ...]) -> Population | None:
    pool = load_pools()[name]
    stretches, notes = pool_stretches(pool, cutoff, leave_out=leave_out)
    if not stretches:
        return None
    key = population_key(pool, cutoff, leave_out)
    population = _cached_population(key, stretches, notes)
    if population is None:
        population = fit_population(stretches, notes=notes)
        cache.write(POPULATION_CACHE, key, _population_arrays(population))
    return population


def _base_rate_population(cutoff: date | None, leave_out: tuple[str, ...]) -> Population | None:
    return _rate_population("base_rate", cutoff, leave_out)


@functools.cache
def _truce_population(cutoff: date | None, leave_out: tuple[str, ...]) -> TruceDurations | None:
    durations = truce_durations(load_pools()["resume_hazard"], cutoff, leave_out=leave_out)
    return durations if durations.truces else None


# The pooled parameters of an attack dyad, and where each one's population comes from.
POOLED_FIELDS = {
    "base_rate": lambda cutoff, leave_out: _rate_population("base_rate", cutoff, leave_out),
    "paused_rate": lambda cutoff, leave_out: _rate_population("paused_rate", cutoff, leave_out),
    "resume_hazard": _truce_population,
}


def pools_describe(scenario: ScenarioSpec, dyad: AttackSpec, name: str = "base_rate") -> bool:
    """Whether the pool of field ``name`` describes a dyad.

    No pool describes a background dyad (the war the scenario takes as given). The base-rate pool is of
    campaigns by armed groups against a state's forces or territory: not of attacks on an actor that is
    not a state (shipping, say), nor of a state's own campaign. The truce pools (paused rate, resume hazard)
    describe how any campaign's truces went.
    """
    if dyad.background:
        return False
    if name != "base_rate":
        return True
    return scenario.actor(dyad.target).kind == "state" and scenario.actor(dyad.attacker).kind == "non_state"


def reference_priors(
    scenario: ScenarioSpec, cutoff: date | None, *, leave_out: Sequence[str] = ()
) -> dict[str, PooledPrior]:
    """The pooled priors of a scenario's parameters, from the packaged records known before ``cutoff``.

    Only parameters set as distributions get one (a number in a config is a setting), of the dyads the pools
    describe (:func:`pools_describe`).
    Empty when no stretch of the pool is known before ``cutoff`` outside ``leave_out``.
    """
    out = {}
    for name, population_of in POOLED_FIELDS.items():
        wanted = [
            d
            for d in scenario.attacks
            if pools_describe(scenario, d, name) and isinstance(getattr(d, name), Dist)
        ]
        population = population_of(cutoff, tuple(sorted(leave_out))) if wanted else None
        if population is None:
            continue
        for dyad in wanted:
            path = f"attacks.{dyad.key}.{name}"
            out[path] = PooledPrior(path, population.prior(), getattr(dyad, name), population)
    return out


def with_priors(scenario: ScenarioSpec, priors: dict[str, PooledPrior]) -> ScenarioSpec:
    """The scenario with its pooled priors in place of the hand-set ones."""
    attacks = []
    for dyad in scenario.attacks:
        pooled = {
            name: priors[f"attacks.{dyad.key}.{name}"].prior
            for name in POOLED_FIELDS
            if f"attacks.{dyad.key}.{name}" in priors
        }
        attacks.append(dataclasses.replace(dyad, **pooled))
    return dataclasses.replace(scenario, attacks=tuple(attacks))
