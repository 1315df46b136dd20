"""Backtests on the reference-class episodes: rolling origins, one- and three-month horizons, leave-one-out.

Each reference record that ``data/reference/episodes.yaml`` names is forecast by the scenario it names for
it; the counts scored are those of the dyads the base-rate pool reads (``data/reference/pools.yaml``) and of
the state campaigns the entry lists (:func:`campaign_rows`). At each origin the calibration sees only the
record's rows that had ended before it, and its pooled priors leave the whole record out
(``calibrate(..., leave_out=...)``): an episode is never in the prior that forecasts it. The model is then
simulated from the origin, warm-started from the known rows, and its forecast of the attacks on each target
is scored against what the record says happened, beside three baselines that need no model.

**What can be scored.** The reference records have gaps and claim no complete period, so the count over an
arbitrary window is unknown. What a record does know is the count over each of its count rows (an interval
row, the increment between two running tallies, a zero count). The origins are the first days of those rows,
and the target at an origin is the count from the origin to the end of the longest run of contiguous rows
that ends within the horizon: within one calendar month (at most 31 days) for the one-month horizon, and
between 32 and 92 days for the three-month one. So monthly or quarterly records give monthly origins and
monthly and quarterly targets, and a sparse record gives what it can. A dated incident outside a stated period
is a notable event, not a count, and is never a target.

**Baselines**, from the rows known at the origin (days no row covers are unknown, not zero): *no change*, the
rate of the latest known row; *constant rate*, all known rows' attacks over their days; *climatology*, the
rate of the known rows overlapping the same calendar days in earlier years, where they cover at least half
of the target's days.

A lower-bound target ("at least 32") is not scored by CRPS; the forecast probability of at least that many is
kept. Named thresholds are not scored: no reference record states a complete period, so whether a threshold
happened in a window is unknown (:func:`escalation.semantics.happened`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
import yaml

from escalation import scoring
from escalation.backtest import (
    LEVELS,
    Observation,
    _poisson_histogram,
    _score_counts,
    _years_before,
    forecast_from,
    known_before,
)
from escalation.counts import CountObservation, rate_observations
from escalation.events import Event, EventKind, EventLog, load_events
from escalation.pooling import PRIOR_SOURCES, load_pools, reference_dir
from escalation.specs import EnsembleSpec, ScenarioSpec, SpecError, build_scenario, read_config_file

HORIZONS = {30: (1, 31), 90: (32, 92)}  # horizon -> allowed target spans (days from the origin)
FORECASTERS = ("model", "no change", "constant rate", "climatology")
# A bootstrap interval of skill from fewer targets than this says nothing; the table leaves it out.
MIN_FOR_INTERVAL = 5


STATUSES = {
    "exact": "scored by CRPS and interval coverage",
    "lower bound": "scored by the forecast probability of at least that many",
    "approximate": "not scored: a reading at one of its ends is approximate",
    "upper bound": "not scored: the reading before it is a lower bound, so the count is only bounded above",
    "revised": "not scored: a later tally revised the earlier one downwards",
}


_RANK = list(STATUSES)  # from the strongest reading of a count to the weakest

# The model's variants that the comparison scores (docs/backtesting.md, "Which model"): each switches the
# campaign-regime mechanisms of the episodes' scenarios on or off. A switched-off mechanism is set to its
# off value (no truce drivers, a pause hazard or frailty of 0), which draws nothing (common random numbers).
VARIANTS = {
    "today": "the model without campaign regimes: no truces, no pauses, no frailty",
    "truces": "a truce known at the origin pauses the campaigns it names (paused rate, resume hazard pooled)",
    "pauses": "truces, and campaigns may also pause of their own accord (pause hazard: assumption)",
    "overdispersion": "no regimes, but a rate frailty: the rate varies from stretch to stretch (assumption)",
    "truces_frailty": "truces and the rate frailty, without pauses of the campaign's own accord",
    "restraint": "truces, the rate frailty, and patrons that rein in their groups as their own cost rises",
    "full": "truces, pauses and the rate frailty",
}
_MECHANISMS = {
    "today": set(),
    "truces": {"truces"},
    "pauses": {"truces", "pauses"},
    "overdispersion": {"frailty"},
    "truces_frailty": {"truces", "frailty"},
    "restraint": {"truces", "frailty", "restraint"},
    "full": {"truces", "pauses", "frailty"},
}
# The dynamic restraint the "restraint" variant gives every patron of the scenario's groups (an assumption:
# no reference record dates a patron reining in its groups; 0.1 halves a group's intensity after about 7
# harm units of strikes on the patron, two strikes on its assets).
RESTRAINT_SENSITIVITY = 0.1
DEFAULT_VARIANT = "truces_frailty"  # the best by score (docs/backtesting.md, "Which model")


def variant_scenario(scenario: ScenarioSpec, variant: str, origin: dt.date | None = None) -> ScenarioSpec:
    """The scenario with only the variant's mechanisms, and (given an origin) only the drivers known by then.

    A driver dated after the origin was not known at it and is dropped whatever the variant; a truce dated
    on or before the origin that is still in force takes hold on the forecast's first day.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: unknown {variant!r}; allowed: {', '.join(VARIANTS)}")
    on = _MECHANISMS[variant]
    drivers = tuple(
        d
        for d in scenario.drivers
        if (origin is None or d.date <= origin) and ("truces" in on or d.effect != "pause")
    )
    attacks = tuple(
        dataclasses.replace(
            dyad,
            pause_hazard=dyad.pause_hazard if "pauses" in on else 0.0,
            rate_frailty=dyad.rate_frailty if "frailty" in on else 0.0,
        )
        for dyad in scenario.attacks
    )
    patrons = {a.patron for a in scenario.actors if a.patron}
    actors = tuple(
        dataclasses.replace(a, restraint_sensitivity=RESTRAINT_SENSITIVITY if "restraint" in on else 0.0)
        if a.name in patrons
        else a
        for a in scenario.actors
    )
    return dataclasses.replace(scenario, drivers=drivers, attacks=attacks, actors=actors)


@dataclass(frozen=True)
class Target:
    """The attacks on ``target`` from ``origin`` to ``end``, as the record counts them.

    ``status`` is one of :data:`STATUSES`: a count between two running tallies is exact only if both tallies
    are (the earlier one "at least" leaves the difference bounded above; "about" at either end, approximate).
    A plain tally is taken as reported (its reporting error, an assumption of the calibration, is not scored).
    """

    record: str
    attacker: str
    target: str
    origin: dt.date
    end: dt.date
    count: int
    status: str
    rows: tuple[str, ...]

    @property
    def days(self) -> int:
        """Days from the origin to the end, both included."""
        return (self.end - self.origin).days + 1

    @property
    def horizon(self) -> int:
        """The horizon class (30 or 90) whose spans include this target's."""
        return next(h for h, (low, high) in HORIZONS.items() if low <= self.days <= high)

    @property
    def lower_bound(self) -> bool:
        """Known only as "at least ``count``"."""
        return self.status == "lower bound"

    @property
    def scored(self) -> bool:
        """Scored at all (exactly, or as a lower bound)."""
        return self.status in ("exact", "lower bound")

    def describe(self) -> str:
        """One line: the dyad, the days, the count and why it is or is not scored."""
        return (
            f"{self.record}: {self.attacker}->{self.target} {self.origin} to {self.end}: {self.count} "
            f"({' + '.join(self.rows)}); {self.status}: {STATUSES[self.status]}"
        )


@dataclass(frozen=True)
class Episode:
    """A backtested reference record: the scenario that forecasts it and its state campaigns.

    Attributes:
        scenario: the scenario (``data/reference/scenarios/``).
        campaigns: dyads ``(attacker, target)`` of a state's campaign of strikes that the scenario models as a
            background attack dyad. The record gives them as ``strike`` rows (a state's military action); the
            backtest reads those rows as the dyad's attacks (:func:`campaign_rows`), and scores their counts
            beside those of the dyads the base-rate pool reads.
    """

    scenario: ScenarioSpec
    campaigns: tuple[tuple[str, str], ...] = ()


def episodes(path: str | Path | None = None) -> dict[str, ScenarioSpec]:
    """Record file -> the scenario that forecasts it (episodes.yaml and scenarios/ beside the records)."""
    return {record: episode.scenario for record, episode in episode_entries(path).items()}


def episode_entries(path: str | Path | None = None) -> dict[str, Episode]:
    """Record file -> its :class:`Episode`, from ``episodes.yaml`` (every name checked, one-line errors).

    An entry is either the scenario file's name, or a mapping with the keys ``scenario`` and ``campaigns``
    (a list of ``ATTACKER->TARGET``, each a background attack dyad of the scenario).
    """
    path = Path(path) if path is not None else reference_dir() / "episodes.yaml"
    raw = _yaml(path)
    out = {}
    for record, entry in (raw or {}).items():
        campaigns: list[tuple[str, str]] = []
        if isinstance(entry, dict):
            if set(entry) != {"scenario", "campaigns"}:
                raise ValueError(
                    f"{path}: {record}: expected the scenario file's name, or the keys campaigns, scenario"
                )
            name = entry["scenario"]
            for dyad in entry["campaigns"] or []:
                attacker, arrow, target = str(dyad).partition("->")
                if not arrow or not attacker.strip() or not target.strip():
                    raise ValueError(f"{path}: {record}.campaigns: {dyad!r} is not ATTACKER->TARGET")
                campaigns.append((attacker.strip(), target.strip()))
        else:
            name = entry
        file = path.parent / "scenarios" / str(name)
        entry = _yaml(file)
        if not isinstance(entry, dict) or set(entry) != {"scenario", "actors", "policy"}:
            raise ValueError(f"{file}: expected the keys actors, policy and scenario")
        parts = {
            group: read_config_file(group, value) if isinstance(value, str) else value
            for group, value in entry.items()
        }
        try:
            scenario = build_scenario(parts["scenario"], parts["actors"], parts["policy"])
        except SpecError as err:
            raise ValueError(f"{file}: {err}") from None
        background = {(d.attacker, d.target) for d in scenario.attacks if d.background}
        for attacker, target in campaigns:
            if (attacker, target) not in background:
                allowed = ", ".join(f"{a}->{t}" for a, t in sorted(background)) or "none"
                raise ValueError(
                    f"{path}: {record}.campaigns: {attacker}->{target} is not a background attack dyad of "
                    f"{file.name} (allowed: {allowed})"
                )
        out[str(record)] = Episode(scenario, tuple(campaigns))
    return out


def campaign_rows(log: EventLog, campaigns: Sequence[tuple[str, str]]) -> EventLog:
    """The record with the ``strike`` rows of each campaign dyad read as that dyad's ``attack`` rows.

    What is scored is the campaign's count: the rows' counts, tallies and ``within`` are kept as they are. A
    background dyad's events sit at rung 0 whatever a row says (:mod:`escalation.semantics`), so the rows'
    rungs are dropped, and so are their casualty cells: a state's strike campaign kills soldiers and allied
    fighters by the dozen (217 in Israel's 39 attack events in Syria in 2020, by one tally), which the
    dyad's outcome rule (who is hurt in one attack on a target's forces) does not describe, and the backtest
    does not score casualties.

    A dated strike row that no count row holds (one day, not ``within`` another row) is one attack event of
    the campaign, whatever its count: such rows count targets hit ("8 targets on 10 February 2018"), where the
    running tallies count attack events (a day's raid is one), and a count in other units would be read as
    that many attacks. As a count of 1 it is a dated incident, which outside a stated period is a notable
    event, not a rate (:func:`escalation.counts.rate_observations`).
    """
    if not campaigns:
        return log
    pairs = set(campaigns)

    def read(e: Event) -> Event:
        if e.kind != EventKind.STRIKE or (e.attacker, e.target) not in pairs:
            return e
        e = dataclasses.replace(e, kind=EventKind.ATTACK, rung=None, injured=None, killed=None)
        if not e.cumulative and e.within is None and e.start == e.end:
            e = dataclasses.replace(e, count=1, lower_bound=False, approximate=False)
        return e

    return dataclasses.replace(log, events=tuple(read(e) for e in log))


def _yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable YAML file ({' '.join(str(err).split())})") from None


@dataclass(frozen=True)
class _Segment:
    """The days between two readings of one count observation (a row's span, or a tally's increment)."""

    start: dt.date
    end: dt.date
    observation: CountObservation
    reading: int  # the reading that ends it


def _segments(log: EventLog, attacker: str, target: str, cutoff: dt.date | None = None) -> list[_Segment]:
    """A dyad's count segments known before ``cutoff``, in date order; dated incidents left out."""
    observations = rate_observations(log, attacker, target, cutoff or dt.date.max).observations
    out = [
        _Segment(first, last, o, k)
        for o in observations
        for k, (first, last) in enumerate(o.segments())
        if last >= first
    ]
    return sorted(out, key=lambda s: s.start)


def _run(segments: Sequence[_Segment]) -> tuple[int, str, tuple[str, ...]]:
    """The count over contiguous segments, its status (:data:`STATUSES`) and the rows it reads.

    Within one observation the count is its last reading minus the reading before its first segment.
    """
    total, worst, rows = 0, 0, []
    by_observation: dict[int, list[_Segment]] = {}
    for segment in segments:
        by_observation.setdefault(id(segment.observation), []).append(segment)
    for part in by_observation.values():
        readings = part[0].observation.readings
        last = readings[part[-1].reading]
        before = readings[part[0].reading - 1] if part[0].reading > 0 else None
        count = last.count - (before.count if before is not None else 0)
        rows += [r.event_id for r in ([before] if before is not None else []) + [last]]
        if count < 0:
            own = "revised"
        elif before is not None and before.lower_bound:
            own = "upper bound"
        elif last.approximate or (before is not None and before.approximate):
            own = "approximate"
        else:
            own = "lower bound" if last.lower_bound else "exact"
        worst = max(worst, _RANK.index(own))  # the run is as weak as its weakest part
        total += max(count, 0)
    status = _RANK[worst]
    return total, status, tuple(rows)


def targets(log: EventLog, record: str, attacker: str, target: str) -> list[Target]:
    """Every target the record allows: per origin (a segment's first day), the longest run per horizon."""
    segments = _segments(log, attacker, target)
    longest = max(high for _, high in HORIZONS.values())
    out = []
    for i, first in enumerate(segments):
        best: dict[int, Target] = {}
        for j in range(i, len(segments)):
            if j > i and segments[j].start != segments[j - 1].end + dt.timedelta(days=1):
                break
            days = (segments[j].end - first.start).days + 1
            if days > longest:
                break
            count, status, rows = _run(segments[i : j + 1])
            candidate = Target(record, attacker, target, first.start, segments[j].end, count, status, rows)
            best[candidate.horizon] = candidate
        out += best.values()
    return sorted(out, key=lambda t: (t.origin, t.days))


def baseline_rates(
    log: EventLog, attacker: str, target: str, origin: dt.date, end: dt.date
) -> dict[str, float]:
    """The baselines' daily rates from the counts known before ``origin`` (empty when none is known).

    Only counts whose value is known (exact or approximate, not bounds) enter: each segment whose count is,
    and each observation from its start to its latest such reading. *No change*: the latest of them (the
    shortest among those ending last). *Constant rate*: every observation's latest known count over its days.
    *Climatology*: the segments over the same calendar days in earlier years, where they cover at least half
    of the target's days.
    """
    segments = _segments(log, attacker, target, cutoff=origin)
    if not segments:
        return {}
    valued = []  # (first, last, count) of every segment and prefix whose count is known
    totals = {}
    for segment in segments:
        count, status, _ = _run([segment])
        if status in ("exact", "approximate"):
            valued.append((segment.start, segment.end, count, "segment"))
        reading = segment.observation.readings[segment.reading]
        if not reading.lower_bound:
            totals[id(segment.observation)] = (segment.observation.start, segment.end, reading.count)
    if not totals and not valued:
        return {}
    units = [*valued, *((a, b, c, "total") for a, b, c in totals.values())]
    latest = max(units, key=lambda u: (u[1], -(u[1] - u[0]).days))
    rates = {"no change": latest[2] / ((latest[1] - latest[0]).days + 1)}
    if totals:
        rates["constant rate"] = sum(c for _, _, c in totals.values()) / sum(
            (b - a).days + 1 for a, b, _ in totals.values()
        )
    span = (end - origin).days + 1
    attacks = covered = 0.0
    years = 1
    parts = [u for u in units if u[3] == "segment"]
    while parts and (first := _years_before(origin, years)) >= min(u[0] for u in parts):
        last = first + dt.timedelta(days=span - 1)
        for a, b, count, _ in parts:
            overlap = (min(b, last) - max(a, first)).days + 1
            if overlap > 0:
                attacks += count * overlap / ((b - a).days + 1)
                covered += overlap
        years += 1
    if covered >= span / 2:
        rates["climatology"] = attacks / covered
    return rates


@dataclass(frozen=True)
class OriginResult:
    """The scores of one origin's targets (one row per target and forecaster), and its calibration's pools."""

    record: str
    origin: dt.date
    scores: pd.DataFrame
    pooled_records: tuple[str, ...]


def run_origin(
    record: str,
    log: EventLog,
    scenario: ScenarioSpec,
    origin: dt.date,
    due: Sequence[Target],
    ensemble: EnsembleSpec,
    *,
    calibration_draws: int = 1000,
    calibration_seed: int = 0,
    variant: str = DEFAULT_VARIANT,
    priors: str = "reference_class",
) -> OriginResult:
    """Calibrate on the rows known before ``origin`` (the record left out of the pools), forecast, score."""
    horizon = max(t.days for t in due)
    known = known_before(_within(log, scenario), origin)
    calibration, forecast = forecast_from(
        known,
        variant_scenario(scenario, variant, origin),
        origin,
        horizon,
        ensemble,
        calibration_draws=calibration_draws,
        calibration_seed=calibration_seed,
        calibration_priors=priors,
        leave_out=(record,),
    )
    frames = []
    for t in due:
        histogram = forecast.outcomes.count_histograms[t.target]
        rates = baseline_rates(log, t.attacker, t.target, origin, t.end)
        tail = max((scipy.stats.poisson.ppf(1 - 1e-9, r * horizon) for r in rates.values()), default=0)
        width = int(max(histogram.shape[1], t.count + 1, tail + 2))
        tables = {"model": histogram} | {
            name: _poisson_histogram(r, horizon, width) for name, r in rates.items()
        }
        observation = Observation(t.end, t.days - 1, t.count, t.lower_bound)
        frame = _score_counts(tables, (observation,), seed=ensemble.seed)
        frame.insert(0, "record", record)
        frame.insert(1, "dyad", f"{t.attacker}->{t.target}")
        frame.insert(2, "origin", pd.Timestamp(origin))
        frame.insert(3, "horizon", t.horizon)
        frame.insert(4, "days", t.days)
        frame["rows"] = " + ".join(t.rows)
        frames.append(frame)
    pooled = sorted({r for pool in calibration.pools.values() for r in pool["records"]})
    return OriginResult(record, origin, pd.concat(frames, ignore_index=True), tuple(pooled))


@dataclass(frozen=True)
class ReferenceBacktest:
    """The scores (one row per target and forecaster), the origins, and every target not scored and why."""

    scores: pd.DataFrame
    origins: list[OriginResult]
    left_out: tuple[str, ...]


def _within(log: EventLog, scenario: ScenarioSpec) -> EventLog:
    """The rows between the scenario's actors (the rest, such as a coalition's strikes, are not modelled)."""
    names = set(scenario.actor_names)
    kept = tuple(e for e in log if e.attacker in names and e.target in names)
    ids = {e.event_id for e in kept}
    kept = tuple(dataclasses.replace(e, within=None) if e.within and e.within not in ids else e for e in kept)
    return dataclasses.replace(log, events=kept)


def run_reference_backtests(
    ensemble: EnsembleSpec,
    *,
    records: Sequence[str] | None = None,
    calibration_draws: int = 1000,
    calibration_seed: int = 0,
    variant: str = DEFAULT_VARIANT,
    priors: str = "reference_class",
    progress: Callable[[int, int], None] | None = None,
) -> ReferenceBacktest:
    """Every target of every backtested reference record: scores, per-origin results, the targets left out.

    ``variant`` is one of :data:`VARIANTS` (the mechanisms of the model that forecasts); ``priors`` is the
    calibration's prior source (``reference_class``: the pooled priors, each record left out of its own;
    ``hand``: every scenario's own priors), so that the pools' worth is scored too.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: unknown {variant!r}; allowed: {', '.join(VARIANTS)}")
    if priors not in PRIOR_SOURCES:
        raise ValueError(f"priors: unknown {priors!r}; allowed: {', '.join(PRIOR_SOURCES)}")
    entries = episode_entries()
    scenarios = {record: entry.scenario for record, entry in entries.items()}
    pool = load_pools()["base_rate"]
    scored = {record: (*pool.dyads.get(record, ()), *entry.campaigns) for record, entry in entries.items()}
    backtested = [r for r in entries if scored[r]]
    chosen = list(records) if records is not None else backtested
    unknown = [r for r in chosen if r not in backtested]
    if unknown:
        raise ValueError(
            f"records: no reference backtest for {', '.join(unknown)}; allowed: {', '.join(backtested)}"
        )
    jobs, left_out = [], []
    for record in chosen:
        log = campaign_rows(load_events(reference_dir() / record), entries[record].campaigns)
        due: dict[dt.date, list[Target]] = {}
        for attacker, target in scored[record]:
            for t in targets(log, record, attacker, target):
                if not baseline_rates(log, attacker, target, t.origin, t.end):
                    left_out.append(f"{t.describe()}; left out: no count known before its origin")
                elif not t.scored:
                    left_out.append(t.describe())
                else:
                    due.setdefault(t.origin, []).append(t)
        jobs += [(record, log, origin, due[origin]) for origin in sorted(due)]
    results = []
    for k, (record, log, origin, due) in enumerate(jobs):
        results.append(
            run_origin(
                record,
                log,
                scenarios[record],
                origin,
                due,
                ensemble,
                calibration_draws=calibration_draws,
                calibration_seed=calibration_seed,
                variant=variant,
                priors=priors,
            )
        )
        if progress is not None:
            progress(k + 1, len(jobs))
    scores = pd.concat([r.scores for r in results], ignore_index=True) if results else pd.DataFrame()
    return ReferenceBacktest(scores, results, tuple(left_out))


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean CRPS per forecaster, the model's skill and interval coverage, per record and horizon and pooled.

    Each group's forecasters are compared on the same targets: those every forecaster of the group scored
    (climatology exists for fewer targets, so its skill is over its own subset).
    """
    exact = scores[~scores["lower_bound"].astype(bool)]
    groups = [((record, horizon), rows) for (record, horizon), rows in exact.groupby(["record", "horizon"])]
    groups += [(("all records", horizon), rows) for horizon, rows in exact.groupby("horizon")]
    groups += [(("all records", "all"), exact)]
    lines = []
    for (record, horizon), rows in groups:
        model = rows[rows["forecaster"] == "model"].set_index(["record", "dyad", "origin", "horizon"])
        line = {"record": record, "horizon": str(horizon), "targets": len(model)}
        line["model_crps"] = float(model["crps"].mean()) if len(model) else np.nan
        for level in LEVELS:
            name = f"covered_{round(100 * level)}"
            line[f"model_{name}"] = float(model[name].mean()) if len(model) else np.nan
        for baseline in FORECASTERS[1:]:
            other = rows[rows["forecaster"] == baseline].set_index(["record", "dyad", "origin", "horizon"])
            common = model.index.intersection(other.index)
            key = baseline.replace(" ", "_")
            line[f"{key}_targets"] = len(common)
            line[f"{key}_crps"] = line[f"skill_vs_{key}"] = np.nan
            line[f"skill_vs_{key}_90"] = [np.nan, np.nan]
            if len(common):
                ours, theirs = model.loc[common, "crps"].to_numpy(), other.loc[common, "crps"].to_numpy()
                line[f"{key}_crps"] = float(theirs.mean())
                if theirs.mean() > 0:
                    line[f"skill_vs_{key}"] = scoring.skill(float(ours.mean()), float(theirs.mean()))
                    if len(common) >= MIN_FOR_INTERVAL:
                        line[f"skill_vs_{key}_90"] = _bootstrap_skill(ours, theirs)
        lines.append(line)
    return pd.DataFrame(lines)


def _bootstrap_skill(ours: np.ndarray, theirs: np.ndarray, draws: int = 2000) -> list[float]:
    """A 90% paired-bootstrap interval of the skill over targets (targets resampled with replacement).

    With a dozen targets it is wide, and it is a lower bound on the uncertainty: overlapping targets of one
    record are not independent.
    """
    rng = np.random.default_rng(0)
    picks = rng.integers(0, ours.size, size=(draws, ours.size))
    reference = theirs[picks].mean(axis=1)
    keep = reference > 0
    skills = 1.0 - ours[picks].mean(axis=1)[keep] / reference[keep]
    if skills.size == 0:
        return [np.nan, np.nan]
    return [float(q) for q in np.quantile(skills, [0.05, 0.95])]


def comparison_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The variants' summary tables side by side: per variant, the pooled rows and each record's whole.

    ``tables``: variant -> its :func:`summary_table`. Adds each variant's CRPS skill against ``today``
    (on the same targets: every variant forecasts every target).
    """
    rows = []
    reference = tables.get("today")
    for variant, table in tables.items():
        for line in table.to_dict("records"):
            line = {"variant": variant} | line
            if reference is not None:
                same = reference[
                    (reference["record"] == line["record"]) & (reference["horizon"] == line["horizon"])
                ]
                today = float(same["model_crps"].iloc[0]) if len(same) else np.nan
                line["skill_vs_today"] = scoring.skill(line["model_crps"], today) if today > 0 else np.nan
            rows.append(line)
    return pd.DataFrame(rows)


def comparison_markdown(table: pd.DataFrame) -> str:
    """The comparison of variants as Markdown: the pooled rows (all records, all horizons) first."""
    head = (
        "| variant | record | horizon | targets | model CRPS | skill vs today | skill vs no change [90%] | "
        "skill vs constant [90%] | skill vs climatology | 50% covered | 90% covered |"
    )
    lines = [head, "|" + " --- |" * 11]

    def f(x: float) -> str:
        return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.2f}"

    def skill(row: dict, key: str) -> str:
        low, high = row[f"skill_vs_{key}_90"]
        return f(row[f"skill_vs_{key}"]) + ("" if np.isnan(low) else f" [{f(low)}, {f(high)}]")

    order = table.assign(pooled=(table["record"] != "all records") * 2 + (table["horizon"] != "all"))
    for row in order.sort_values(["pooled"], kind="stable").to_dict("records"):
        lines.append(
            f"| {row['variant']} | {row['record']} | {row['horizon']} | {row['targets']} | "
            f"{f(row['model_crps'])} | {f(row.get('skill_vs_today', np.nan))} | {skill(row, 'no_change')} | "
            f"{skill(row, 'constant_rate')} | {f(row['skill_vs_climatology'])} | "
            f"{f(row['model_covered_50'])} | {f(row['model_covered_90'])} |"
        )
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame) -> str:
    """The summary table as Markdown, for docs/backtesting.md."""
    head = (
        "| record | horizon | targets | model CRPS | no change | constant rate | climatology (targets) | "
        "skill vs no change [90%] | skill vs constant [90%] | skill vs climatology [90%] | 50% covered | "
        "90% covered |"
    )
    lines = [head, "|" + " --- |" * 12]

    def f(x: float, digits: int = 2) -> str:
        return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"

    def skill(row: dict, key: str) -> str:
        low, high = row[f"skill_vs_{key}_90"]
        interval = "" if np.isnan(low) else f" [{f(low)}, {f(high)}]"
        return f"{f(row[f'skill_vs_{key}'])}{interval}"

    for row in table.to_dict("records"):
        lines.append(
            f"| {row['record']} | {row['horizon']} | {row['targets']} | {f(row['model_crps'])} | "
            f"{f(row['no_change_crps'])} | {f(row['constant_rate_crps'])} | "
            f"{f(row['climatology_crps'])} ({row['climatology_targets']}) | {skill(row, 'no_change')} | "
            f"{skill(row, 'constant_rate')} | {skill(row, 'climatology')} | "
            f"{f(row['model_covered_50'])} | {f(row['model_covered_90'])} |"
        )
    return "\n".join(lines) + "\n"
