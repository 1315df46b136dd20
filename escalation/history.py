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

from escalation.events import EventKind, EventLog
from escalation.ladder import Rung
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


def _strike_level(rung: Rung | None, target_is_state: bool) -> int:
    if rung is None or rung <= Rung.PROXY_STRIKE or target_is_state:
        return 0
    return 1 if rung == Rung.PATRON_STRIKE else 2


def observed_history(events: EventLog, scenario: ScenarioSpec) -> ObservedHistory:
    """Lay out the events before ``scenario.start`` day by day on the scenario's dyads."""
    attack_index = {(d.attacker, d.target): i for i, d in enumerate(scenario.attacks)}
    strike_index = {(r.state, r.target): i for i, r in enumerate(scenario.retaliations)}
    before = [
        e for e in events if e.start < scenario.start and e.kind != EventKind.CONTEXT and e.within is None
    ]
    if not before:
        empty = np.zeros((0, len(scenario.attacks)))
        no_strikes = np.zeros((0, len(scenario.retaliations), 3))
        return ObservedHistory((), empty, empty, empty, empty.astype(bool), no_strikes, (), events.data_hash)
    first = min(e.start for e in before)
    days = tuple(first + timedelta(days=k) for k in range((scenario.start - first).days))
    n_days, n_attacks = len(days), len(scenario.attacks)
    attacks, injured, killed = (np.zeros((n_days, n_attacks)) for _ in range(3))
    lethal = np.zeros((n_days, n_attacks), dtype=bool)
    strikes = np.zeros((n_days, len(scenario.retaliations), 3))
    unmatched: list[str] = []
    for event in before:
        last = min(event.end, scenario.start - timedelta(days=1))
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
            level = _strike_level(event.rung, scenario.actor(event.target).kind == "state")
            strikes[span, strike_index[pair], level] += event.count * per_day
        else:
            unmatched.append(event.event_id)
    return ObservedHistory(
        days, attacks, injured, killed, lethal, strikes, tuple(unmatched), events.data_hash
    )
