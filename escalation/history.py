"""Observed history: the events before a scenario's start, laid out day by day for a warm start.

The model starts a run from the state the observed events imply: it replays each observed day through the
same memory-update rule it uses for simulated days, so a forecast from 27 October 2023 begins with the
26 October strike just made. Interval counts ("at least 19 attacks between the 17th and the 26th") are
spread evenly over their days; rows that an interval row already counts (``within``) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from escalation.counts import resolved
from escalation.events import COUNTED_KINDS, EventKind, EventLog
from escalation.semantics import (
    Channels,
    Memories,
    Retention,
    channel_inputs,
    inflows,
    strike_level,
    update_memories,
)
from escalation.specs import ScenarioSpec


@dataclass(frozen=True)
class ObservedHistory:
    """Observed daily inputs before a scenario starts.

    Attributes:
        days: observed days before the start, oldest first, one per row of the arrays.
        attacks, injured, killed: (days, attack dyads) expected daily attacks and casualties per dyad.
        lethal: (days, attack dyads) whether a dated lethal attack happened that day (interval rows, whose
            days of death are unknown, add harm but do not set this flag).
        strikes: (days, retaliation dyads, 3 levels) strikes per day by level.
        unmatched: ids of attack and strike events before the start that match no dyad of the scenario.
        data_hash: hash of the event data the history came from.
    """

    days: tuple[date, ...]
    attacks: np.ndarray
    injured: np.ndarray
    killed: np.ndarray
    lethal: np.ndarray
    strikes: np.ndarray
    unmatched: tuple[str, ...]
    data_hash: str

    def __len__(self) -> int:
        return len(self.days)


def observed_history(events: EventLog, scenario: ScenarioSpec, until: date | None = None) -> ObservedHistory:
    """Lay out the events before ``until`` (default: the scenario's start) day by day on its dyads."""
    until = until or scenario.start
    events = resolved(events)  # tally series as their increments: every event counted once
    attack_index = {(d.attacker, d.target): i for i, d in enumerate(scenario.attacks)}
    strike_index = {(r.state, r.target): i for i, r in enumerate(scenario.retaliations)}
    before = [e for e in events if e.start < until and e.kind in COUNTED_KINDS and e.within is None]
    if not before:
        empty = np.zeros((0, len(scenario.attacks)))
        no_strikes = np.zeros((0, len(scenario.retaliations), 3))
        return ObservedHistory((), empty, empty, empty, empty.astype(bool), no_strikes, (), events.data_hash)
    first = min(e.start for e in before)
    days = tuple(first + timedelta(days=k) for k in range((until - first).days))
    n_days, n_attacks = len(days), len(scenario.attacks)
    attacks, injured, killed = (np.zeros((n_days, n_attacks)) for _ in range(3))
    lethal = np.zeros((n_days, n_attacks), dtype=bool)
    strikes = np.zeros((n_days, len(scenario.retaliations), 3))
    unmatched: list[str] = []
    for event in before:
        last = min(event.end, until - timedelta(days=1))
        span = slice((event.start - first).days, (last - first).days + 1)
        per_day = 1.0 / event.days
        pair = (event.attacker, event.target)
        if event.kind == EventKind.ATTACK and pair in attack_index:
            d = attack_index[pair]
            attacks[span, d] += event.count * per_day
            injured[span, d] += (event.injured or 0) * per_day
            killed[span, d] += (event.killed or 0) * per_day
            lethal[span, d] |= event.days == 1 and bool(event.killed)
        elif event.kind == EventKind.STRIKE and pair in strike_index:
            level = strike_level(event.rung, scenario.actor(event.target).kind == "state")
            strikes[span, strike_index[pair], level] += event.count * per_day
        else:
            unmatched.append(event.event_id)
    return ObservedHistory(
        days, attacks, injured, killed, lethal, strikes, tuple(unmatched), events.data_hash
    )


def replay(
    history: ObservedHistory,
    scenario: ScenarioSpec,
    channels: Channels,
    retention: Retention,
    memories: Memories,
    *,
    record_eve: bool = False,
) -> list[Memories]:
    """Replay the observed days through the model's own memory update (``semantics.update_memories``).

    The warm start replays them into every replication's memories; the retaliation-policy calibration reads
    the state's unanswered harm and lethal trigger on the eve of each observed day, so it fits the model's
    update, not a copy of it.

    Args:
        history: the observed days.
        scenario: the scenario the history is laid out on.
        channels: its channels.
        retention: the memories' daily retention (broadcastable against ``memories``).
        memories: the memories before the first observed day, updated in place to the end of the last.
        record_eve: also return a copy of the memories on the eve of each day (before its events).

    Returns:
        The eve of each day when ``record_eve``, else an empty list.
    """
    eves: list[Memories] = []
    shape = memories.provocation.shape
    work = (np.zeros((shape[0], channels.size)), np.zeros((shape[0], channels.size)))
    for k in range(len(history)):
        if record_eve:
            eves.append(Memories(*(np.copy(getattr(memories, f)) for f in _MEMORY_FIELDS)))
        strikes = history.strikes[k].reshape(-1)[channels.strike_slots]
        harm, counts = channel_inputs(
            channels,
            scenario,
            np.broadcast_to(history.attacks[k], shape),
            np.broadcast_to(history.injured[k], shape),
            np.broadcast_to(history.killed[k], shape),
            np.broadcast_to(strikes, (shape[0], strikes.size)),
            out=work,
        )
        fired = np.broadcast_to(history.strikes[k].sum(axis=1) > 0, memories.unanswered.shape)
        lethal = np.broadcast_to(history.lethal[k].astype(np.int64), shape)
        update_memories(memories, retention, channels, harm, counts, fired, lethal)
    return eves


_MEMORY_FIELDS = ("provocation", "punishment", "unanswered", "lethal_pending")


def observed_inflows(
    history: ObservedHistory, scenario: ScenarioSpec, channels: Channels
) -> tuple[np.ndarray, ...]:
    """Daily inflow into provocation and punishment (days x attack dyads), routed as the model does.

    The likelihood fit of an attack dyad recomputes the memories from these for each candidate memory length.
    """
    strikes = history.strikes.reshape(len(history), -1)[:, channels.strike_slots]
    harm, counts = channel_inputs(
        channels, scenario, history.attacks, history.injured, history.killed, strikes
    )
    provocation, punishment, _ = inflows(channels, harm, counts)
    return provocation, punishment
