"""What a record says about a dyad's counts and casualties, with every event counted once.

Every consumer of counts (the calibration's grid and likelihood, the warm start, the backtest's observations)
reads them from here, so that a dated attack inside a tally, a tally that revises an earlier one and a
casualty total given on its own row mean the same thing everywhere:

- a top-level count row (not ``within`` another) is one observation of the dyad's events over its interval;
  rows ``within`` it are detail that it already counts;
- the running tallies of a dyad and kind with the same start ("N since S, as of D") form one **series**: each
  tally observes the cumulative count from S to its date. Later tallies may revise earlier ones, even
  downwards, so a tally is a *report* of the cumulative count, not the count itself: a tally is taken to lie
  within a few per cent of the truth (:data:`TALLY_ERROR`), an approximate figure within about a fifth
  (:data:`APPROXIMATE_ERROR`), and "at least N" only bounds the count from below. The likelihood of a series
  integrates over the unobserved path of the cumulative count (a forward pass over its values), so every
  tally speaks, none is dropped, and a downward revision widens the answer instead of making it impossible;
- for consumers that need disjoint rows (the warm start's days, the backtest's observations),
  :func:`resolved` replaces each series by its increments: the count between consecutive tallies, a
  lower bound of zero where a tally revised the last one downwards;
- casualty totals come from the count rows that carry them, from ``casualties`` rows (over the count rows
  inside their interval) and, as lower bounds, from the dated rows inside a count row whose own totals are
  not known (:func:`casualty_observations`). A total is used once: a row whose totals a wider row already
  covers adds nothing.

The two reporting errors are assumptions (docs/events.md says so where a user reads them): no record in the
package measures how far official tallies stray from the truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import scipy.special
import scipy.stats

from escalation.events import Event, EventKind, EventLog

TALLY_ERROR = 0.05
"""Assumption: a running tally is within about 5% of the true cumulative count (standard deviation)."""

APPROXIMATE_ERROR = 0.2
"""Assumption: an approximate count ("about 20") is within about 20% of the truth (standard deviation)."""

_LATTICE_MARGIN = 30  # the forward pass tracks cumulative counts up to 1.6 x the largest tally plus this


@dataclass(frozen=True)
class Reading:
    """One reported figure of a count observation: its row, its date and what it says."""

    event_id: str
    end: date
    count: int
    lower_bound: bool
    approximate: bool
    tally: bool

    @property
    def exact(self) -> bool:
        """The figure is the count itself (an exact interval count)."""
        return not (self.lower_bound or self.approximate or self.tally)


@dataclass(frozen=True)
class CountObservation:
    """An independent observation of a dyad's events: one interval row, or one series of running tallies.

    Attributes:
        attacker, target, kind: the dyad and kind counted.
        start: the first day counted.
        readings: the figures, by date; each is the count from ``start`` to its ``end`` (one for an interval
            row, one per tally for a series).
    """

    attacker: str
    target: str
    kind: EventKind
    start: date
    readings: tuple[Reading, ...]

    @property
    def end(self) -> date:
        """The last day any reading covers."""
        return self.readings[-1].end

    @property
    def event_ids(self) -> tuple[str, ...]:
        """The rows of the readings."""
        return tuple(reading.event_id for reading in self.readings)

    def segments(self) -> list[tuple[date, date]]:
        """The (first, last) days between consecutive readings, both included: the increments' intervals."""
        out, first = [], self.start
        for reading in self.readings:
            if reading.end >= first:
                out.append((first, reading.end))
                first = reading.end + timedelta(days=1)
            else:  # two readings of one day
                out.append((first, first - timedelta(days=1)))
        return out

    def describe(self) -> str:
        """One line for the calibration's summaries: the readings and their rows."""
        parts = []
        for reading in self.readings:
            flag = "at least " if reading.lower_bound else "about " if reading.approximate else ""
            parts.append(f"{flag}{reading.count} by {reading.end} ({reading.event_id})")
        return f"since {self.start}: " + ", ".join(parts)


def count_observations(
    events: EventLog | Iterable[Event],
    attacker: str,
    target: str,
    kind: EventKind,
    *,
    cutoff: date | None = None,
) -> list[CountObservation]:
    """The independent count observations of one dyad and kind, in date order.

    Args:
        events: the record.
        attacker: the dyad's attacker.
        target: the dyad's target.
        kind: the kind counted.
        cutoff: when given, only rows that ended before it (what was known on the cut-off).
    """
    rows = [
        e
        for e in events
        if e.kind == kind
        and (e.attacker, e.target) == (attacker, target)
        and e.within is None
        and (cutoff is None or e.end < cutoff)
    ]
    series: dict[date, list[Event]] = {}
    out = []
    for event in rows:
        if event.cumulative:
            series.setdefault(event.start, []).append(event)
        else:
            out.append(CountObservation(attacker, target, kind, event.start, (_reading(event),)))
    for start, tallies in series.items():
        ordered = sorted(tallies, key=lambda e: e.end)  # stable: tallies of one day keep file order
        out.append(CountObservation(attacker, target, kind, start, tuple(_reading(e) for e in ordered)))
    return sorted(out, key=lambda o: (o.start, o.end))


@dataclass(frozen=True)
class RateData:
    """What a record says about an attack dyad's rate before the cut-off, and which rows it leaves out."""

    observations: list[CountObservation]  # interval rows, tally series, zero gaps (and dated rows, see below)
    dated: list[CountObservation]  # exactly dated single days
    period: tuple[date, date] | None  # the dyad's stated period, cut at the cut-off
    left_out: list[str]  # notes: rows not used and why


def rate_observations(events: EventLog, attacker: str, target: str, cutoff: date) -> RateData:
    """The count observations of a dyad, with the days of its stated period that no row covers as zeros.

    Inside a stated period every event is recorded, so a day without a row is a day without an attack and
    enters the likelihood as a zero; dated rows are then part of a complete record. Outside a stated period a
    dated row is a notable event, recorded because it happened: it says nothing about how often such events
    happen, so the grid leaves it out and the notes say so (the likelihood, for records of dated attacks
    taken as complete over their span, keeps it).
    """
    observations = count_observations(events, attacker, target, EventKind.ATTACK, cutoff=cutoff)
    stated = events.period_of(attacker, target)
    period = None
    if stated is not None and stated[0] < cutoff:
        period = (stated[0], min(stated[1], cutoff - timedelta(days=1)))
    dated = [o for o in observations if is_dated(o)]
    others = [o for o in observations if not is_dated(o)]
    left_out = []
    if period is None:
        left_out += [
            f"{o.readings[0].event_id}: a dated attack outside a stated period of {attacker}->"
            f"{target}; a record of notable events does not say how often they happen, so the grid "
            "leaves it out of the rate"
            for o in dated
        ]
        return RateData(others, dated, None, left_out)
    # Days counted by a row that ends on or after the cut-off were unknown on the cut-off, not zero.
    every = count_observations(events, attacker, target, EventKind.ATTACK)
    covered = [(o.start, o.end) for o in every]
    gaps = []
    day = period[0]
    after = period[1] + timedelta(days=1)
    for first, last in [*sorted(covered), (after, after)]:
        if first > day:
            gaps.append((day, min(first - timedelta(days=1), period[1])))
        day = max(day, last + timedelta(days=1))
    zeros = [
        CountObservation(
            attacker, target, EventKind.ATTACK, first,
            (Reading(f"no rows {first} to {last}", last, 0, False, False, False),),
        )
        for first, last in gaps if first <= last
    ]  # fmt: skip
    return RateData(sorted(others + dated + zeros, key=lambda o: o.start), dated, period, left_out)


def is_dated(observation: CountObservation) -> bool:
    """One exact count of a single day: a dated row."""
    reading = observation.readings[0]
    return len(observation.readings) == 1 and observation.start == reading.end and reading.exact


def _reading(event: Event) -> Reading:
    assert event.count is not None
    return Reading(
        event.event_id, event.end, event.count, event.lower_bound, event.approximate, event.cumulative
    )


def log_likelihood(observation: CountObservation, means: np.ndarray) -> np.ndarray:
    """Log probability of an observation's readings given the expected counts of its segments.

    Args:
        observation: the observation.
        means: (..., K) expected number of events in each of its K segments
            (:meth:`CountObservation.segments`), for any number of parameter values in the leading axes.

    Returns:
        (...) the log likelihood (up to a constant that does not depend on ``means``).
    """
    means = np.asarray(means, dtype=float)
    readings = observation.readings
    if len(readings) == 1 and (readings[0].exact or readings[0].lower_bound):
        reading, mean = readings[0], means[..., 0]
        with np.errstate(divide="ignore"):
            if reading.lower_bound:
                return np.log(scipy.special.pdtrc(reading.count - 1, mean)) if reading.count > 0 else 0 * mean
            return scipy.stats.poisson.logpmf(reading.count, mean)
    return _forward(readings, means)


def _kernel(reading: Reading, values: np.ndarray) -> np.ndarray:
    """P(the reading | the true cumulative count is ``values``), up to a factor set by the reading alone."""
    if reading.lower_bound:
        return (values >= reading.count).astype(float)
    if reading.exact:
        return (values == reading.count).astype(float)
    error = APPROXIMATE_ERROR if reading.approximate else TALLY_ERROR
    sd = error * max(reading.count, 1) + 0.5
    return np.exp(-0.5 * ((values - reading.count) / sd) ** 2)


def _forward(readings: tuple[Reading, ...], means: np.ndarray) -> np.ndarray:
    """The forward pass over the cumulative count's values 0..M (M holds 'M or more')."""
    import scipy.signal  # here only: a run that reads no tally likelihood never imports it

    top = int(1.6 * max(r.count for r in readings)) + _LATTICE_MARGIN
    values = np.arange(top + 1)
    shape = means.shape[:-1]
    flat = means.reshape(-1, means.shape[-1])
    state = np.zeros((flat.shape[0], top + 1))
    state[:, 0] = 1.0
    total = np.zeros(flat.shape[0])
    for k, reading in enumerate(readings):
        step = scipy.stats.poisson.pmf(values[None, :], flat[:, k : k + 1])
        step[:, -1] += scipy.stats.poisson.sf(top, flat[:, k])
        moved = np.clip(scipy.signal.fftconvolve(state, step, axes=1), 0.0, None)
        state = moved[:, : top + 1]
        state[:, -1] += moved[:, top + 1 :].sum(axis=1)
        state *= _kernel(reading, values)[None, :]
        mass = state.sum(axis=1)
        with np.errstate(divide="ignore"):
            total += np.log(mass)
        state /= np.where(mass > 0, mass, 1.0)[:, None]
    return total.reshape(shape)


def point_reading(observation: CountObservation) -> list[tuple[date, date, int, bool]]:
    """The observation as disjoint increments: ``(first, last, count, lower bound)`` per segment.

    Each increment is the latest reading minus the one before; where a reading revised the last one downwards
    the increment is "at least 0" (the events are not undone, the earlier figure was too high).
    """
    out, before = [], 0
    for (first, last), reading in zip(observation.segments(), observation.readings, strict=True):
        if last < first:
            before = max(before, reading.count)
            continue
        increment = reading.count - before
        lower = reading.lower_bound or increment < 0
        out.append((first, last, max(increment, 0), lower))
        before = reading.count if increment >= 0 else before
    return out


def resolved(events: EventLog) -> EventLog:
    """The record with each tally series replaced by its increments (disjoint rows), as :func:`point_reading`.

    A row ``within`` a tally is moved ``within`` the increment that holds its day. Other rows are unchanged.
    """
    if not any(e.cumulative for e in events):
        return events
    by_id = {e.event_id: e for e in events}
    replaced: dict[str, list[Event]] = {}
    dyads = {(e.attacker, e.target, e.kind) for e in events if e.cumulative}
    for attacker, target, kind in dyads:
        for observation in count_observations(events, attacker, target, kind):
            if not by_id[observation.readings[0].event_id].cumulative:
                continue
            increments = []
            first_id = observation.readings[0].event_id
            template = by_id[first_id]
            for k, (first, last, count, lower) in enumerate(point_reading(observation)):
                increments.append(
                    dataclasses.replace(
                        template,
                        event_id=f"{first_id}#{k + 1}",
                        start=first,
                        end=last,
                        count=count,
                        lower_bound=lower,
                        approximate=False,
                        cumulative=False,
                        injured=None,
                        killed=None,
                    )
                )
            for reading in observation.readings:
                replaced[reading.event_id] = increments
    out: list[Event] = []
    emitted: set[str] = set()
    for event in events:
        if event.event_id in replaced:
            for increment in replaced[event.event_id]:
                if increment.event_id not in emitted:
                    emitted.add(increment.event_id)
                    out.append(increment)
        elif event.within in replaced:
            holder = next(i for i in replaced[event.within] if i.start <= event.start and event.end <= i.end)
            out.append(dataclasses.replace(event, within=holder.event_id))
        else:
            out.append(event)
    return dataclasses.replace(events, events=tuple(out))


# ---------------------------------------------------------------------------------------------------------
# Casualties


@dataclass(frozen=True)
class CasualtyObservation:
    """Casualty totals over a known number of a dyad's attacks.

    Attributes:
        event_id: the row the totals come from.
        start, end: the days the attacks fall in.
        attacks: the attacks the totals cover (a lower bound when ``attacks_lower_bound``).
        injured, killed: the totals (None: not known); with ``*_lower_bound`` they are minimums (the dated
            rows inside a count row whose own totals are not known).
    """

    event_id: str
    start: date
    end: date
    attacks: int
    attacks_lower_bound: bool
    injured: int | None
    injured_lower_bound: bool
    killed: int | None
    killed_lower_bound: bool


@dataclass(frozen=True)
class Ignored:
    """A row that carries casualty figures the likelihood cannot use, and why (the calibration notes it)."""

    event_id: str
    reason: str


def casualty_observations(
    events: EventLog, attacker: str, target: str, *, cutoff: date | None = None
) -> tuple[list[CasualtyObservation], list[Ignored]]:
    """The casualty observations of one attack dyad, each total used once, and the rows left out with why."""
    known = [e for e in events if cutoff is None or e.end < cutoff]
    dyad = [e for e in known if (e.attacker, e.target) == (attacker, target)]
    attacks = [e for e in dyad if e.kind == EventKind.ATTACK]
    casualty_rows = [e for e in dyad if e.kind == EventKind.CASUALTIES]
    increments = [
        (first, last, count, lower, observation)
        for observation in count_observations(known, attacker, target, EventKind.ATTACK)
        for first, last, count, lower in point_reading(observation)
    ]
    out: list[CasualtyObservation] = []
    ignored: list[Ignored] = []

    def covered_by_casualty_row(first: date, last: date) -> bool:
        return any(c.start <= first and last <= c.end for c in casualty_rows)

    for row in casualty_rows:
        inside = [i for i in increments if row.start <= i[0] and i[1] <= row.end]
        if not inside:
            ignored.append(Ignored(row.event_id, "no count row of the dyad lies inside its interval"))
            continue
        out.append(
            CasualtyObservation(
                row.event_id, row.start, row.end, sum(i[2] for i in inside), any(i[3] for i in inside),
                row.injured, False, row.killed, False,
            )
        )  # fmt: skip
    top_level = [e for e in attacks if e.within is None]
    for event in top_level:
        series = (
            [e for e in top_level if e.cumulative and e.start == event.start] if event.cumulative else [event]
        )
        if event.injured is None and event.killed is None:
            if event is max(series, key=lambda e: e.end):  # a series' dated rows bound its latest tally
                out += _lower_bounds_from_inside(event, series, attacks, covered_by_casualty_row)
            continue
        if covered_by_casualty_row(event.start, event.end):
            ignored.append(Ignored(event.event_id, "its totals are inside a casualties row's, counted there"))
            continue
        latest = max(
            (e for e in series if e.injured is not None or e.killed is not None), key=lambda e: e.end
        )
        if latest is not event:
            ignored.append(Ignored(event.event_id, f"superseded by the later tally {latest.event_id}"))
            continue
        assert event.count is not None
        out.append(
            CasualtyObservation(
                event.event_id, event.start, event.end, event.count, event.lower_bound,
                event.injured, False, event.killed, False,
            )
        )  # fmt: skip
    return out, ignored


def _lower_bounds_from_inside(
    container: Event, series: list[Event], attacks: list[Event], covered
) -> list[CasualtyObservation]:
    """The dated rows inside a count row (or a series) without totals bound its totals from below."""
    holders = {e.event_id for e in series}
    inside = [e for e in attacks if e.within in holders]
    injured = [e.injured for e in inside if e.injured is not None]
    killed = [e.killed for e in inside if e.killed is not None]
    if not (injured or killed) or covered(container.start, container.end) or container.count is None:
        return []
    if any(e.injured is not None or e.killed is not None for e in series):
        return []  # a tally of the series gives totals: those are used
    return [
        CasualtyObservation(
            container.event_id, container.start, container.end, container.count, container.lower_bound,
            sum(injured) if injured else None, True, sum(killed) if killed else None, True,
        )
    ]  # fmt: skip


SELECTED_TOLL = (
    "a dated attack outside a stated period: recorded because it happened, so its toll would bias the "
    "per-attack probabilities"
)


def usable_casualties(
    events: EventLog, attacker: str, target: str, cutoff: date
) -> tuple[list[CasualtyObservation], list[Ignored]]:
    """The casualty observations that may inform per-attack probabilities, and the rest with why.

    As :func:`casualty_observations`, less the tolls of single dated attacks outside a stated period of the
    dyad: such an attack is in the record because it happened (often because it hurt someone), so its toll
    says nothing about how often attacks hurt. Every consumer of per-attack outcomes reads them from here.
    """
    casualties, ignored = casualty_observations(events, attacker, target, cutoff=cutoff)
    stated = events.period_of(attacker, target)
    complete = stated is not None and stated[0] < cutoff
    used = []
    for observation in casualties:
        if not complete and observation.start == observation.end and not observation.attacks_lower_bound:
            ignored.append(Ignored(observation.event_id, SELECTED_TOLL))
        else:
            used.append(observation)
    return used, ignored


def casualty_likelihood(
    n: int, total: int, p_event: np.ndarray, extra_mean: np.ndarray, *, at_least: bool = False
) -> np.ndarray:
    """P(total casualties | n attacks), or P(at least ``total``) when ``at_least``.

    K ~ Bin(n, p_event) attacks cause casualties and each adds 1 + Poisson(extra_mean) casualties, so the
    total is K + Poisson(K * extra_mean).
    """
    if at_least:
        below = sum(
            (casualty_likelihood(n, t, p_event, extra_mean) for t in range(total)),
            np.zeros(np.broadcast(p_event, extra_mean).shape),
        )
        return np.clip(1.0 - below, 0.0, 1.0)
    result = np.zeros(np.broadcast(p_event, extra_mean).shape)
    for k in range(0, min(n, total) + 1):
        rest = total - k
        poisson = scipy.stats.poisson.pmf(rest, k * extra_mean) if k > 0 else float(rest == 0)
        result = result + scipy.stats.binom.pmf(k, n, p_event) * poisson
    return result
