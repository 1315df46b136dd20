"""Import ACLED-style event exports into an :class:`~escalation.events.EventLog`.

ACLED-style exports have one row per event with columns such as ``event_date``, ``event_type``,
``sub_event_type``, ``actor1``, ``actor2``, ``inter1``, ``inter2``, ``country``, ``location``,
``fatalities`` and ``notes``. They name actors in free text and do not say who attacked whom, so a
*mapping* file states:

- ``actors``: for each model actor, case-insensitive regular expressions searched in ``actor1``/``actor2``;
- ``states``: the model actors that are states;
- ``sub_event_types``: for each ACLED sub-event type, the event kind (``attack``, ``strike``, or ``auto``: a
  strike when the attacker is a state, an attack otherwise), an optional ladder rung, and which actor field is
  the attacker (``actor1``, the usual reading of ACLED's initiator field, or ``actor2``).

Rows the mapping does not cover (an unknown sub-event type, an actor matching no pattern or several, the same
actor on both sides) are not guessed at: they are returned with their line and reason, and the caller decides.
Cumulative tallies ("55 attacks since 17 October, as of 14 November") are interval counts with a lower-bound
flag; they belong in the project's own event format (docs/events.md), which ``load_events`` reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from escalation.events import Event, EventDataError, EventKind, EventLog
from escalation.ladder import Ladder, Rung

REQUIRED_COLUMNS = ("event_date", "sub_event_type", "actor1", "actor2", "fatalities")
ATTACKER_FIELDS = ("actor1", "actor2")


@dataclass(frozen=True)
class SubEventRule:
    """How rows of one ACLED sub-event type become events."""

    kind: EventKind | None  # None: a strike when the attacker is a state, an attack otherwise
    rung: Rung | None
    attacker: str


@dataclass(frozen=True)
class AcledMapping:
    """Actor patterns and sub-event rules (see the module docstring).

    Attributes:
        actors: model actor -> compiled patterns.
        sub_event_types: ACLED sub-event type -> rule.
        states: model actors that are states (for ``kind: auto``).
        path: the mapping file, for messages.
    """

    actors: dict[str, tuple[re.Pattern[str], ...]]
    sub_event_types: dict[str, SubEventRule]
    states: frozenset[str] = frozenset()
    path: str = ""

    def actor_of(self, text: str) -> tuple[str | None, str]:
        """The model actor whose patterns match ``text``, or None with the reason."""
        matches = [name for name, patterns in self.actors.items() if any(p.search(text) for p in patterns)]
        if len(matches) == 1:
            return matches[0], ""
        if not matches:
            return None, f"no actor pattern matches {text!r}"
        return None, f"{text!r} matches several actors ({', '.join(matches)})"


def load_mapping(path: str | os.PathLike[str], *, ladder: Ladder | None = None) -> AcledMapping:
    """Read and check a mapping file (YAML); raises ValueError naming the file and key."""
    ladder = ladder or Ladder()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the mapping ({err})") from None
    if not isinstance(raw.get("actors"), dict) or not isinstance(raw.get("sub_event_types"), dict):
        raise ValueError(f"{path}: a mapping needs the keys 'actors' and 'sub_event_types'")
    actors = {}
    for name, patterns in raw["actors"].items():
        patterns = [patterns] if isinstance(patterns, str) else patterns
        try:
            actors[str(name)] = tuple(re.compile(str(p), re.IGNORECASE) for p in patterns)
        except re.error as err:
            raise ValueError(f"{path}: actors.{name}: invalid pattern ({err})") from None
    rules = {}
    for sub_event, settings in raw["sub_event_types"].items():
        rules[str(sub_event)] = _rule(path, str(sub_event), settings or {}, ladder)
    states = frozenset(str(s) for s in raw.get("states") or ())
    unknown = sorted(states - set(actors))
    if unknown:
        raise ValueError(
            f"{path}: states: {unknown[0]!r} has no actor patterns; allowed: {', '.join(actors)}"
        )
    return AcledMapping(actors=actors, sub_event_types=rules, states=states, path=str(path))


def _rule(path: Any, sub_event: str, settings: dict, ladder: Ladder) -> SubEventRule:
    key = f"{path}: sub_event_types.{sub_event}"
    text = settings.get("kind", "auto")
    if text not in ("attack", "strike", "auto"):
        raise ValueError(f"{key}.kind: unknown {text!r}; allowed: attack, strike, auto")
    kind = None if text == "auto" else EventKind(text)
    attacker = settings.get("attacker", "actor1")
    if attacker not in ATTACKER_FIELDS:
        raise ValueError(f"{key}.attacker: unknown {attacker!r}; allowed: actor1, actor2")
    try:
        rung = ladder.parse(settings["rung"]) if settings.get("rung") is not None else None
    except ValueError as err:
        raise ValueError(f"{key}.rung: {err}") from None
    return SubEventRule(kind=kind, rung=rung, attacker=attacker)


@dataclass(frozen=True)
class AcledImport:
    """The imported events and the rows left out, each as ``line N: reason``."""

    events: EventLog
    unmapped: tuple[str, ...]


def _date(text: str) -> dt.date:
    for pattern in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise ValueError(f"event_date {text!r} is not a date (YYYY-MM-DD or '26 October 2023')")


def import_acled(
    path: str | os.PathLike[str], mapping: AcledMapping, *, actors: tuple[str, ...] | None = None
) -> AcledImport:
    """Import an ACLED-style CSV export with a mapping.

    Args:
        path: the export.
        mapping: actor patterns and sub-event rules.
        actors: if given, events whose attacker or target is not among them are left out (reported).

    Raises:
        EventDataError: the file is missing or lacks a required column.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise EventDataError(path, [f"cannot read the file ({err.strerror})"]) from None
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise EventDataError(path, [f"line 1: missing column(s) {', '.join(missing)}"])
    events: list[Event] = []
    unmapped: list[str] = []
    for row in reader:
        line = reader.line_num
        try:
            event = _event(row, line, mapping, Path(path).name)
        except ValueError as err:
            unmapped.append(f"line {line}: {err}")
            continue
        if actors is not None and not {event.attacker, event.target} <= set(actors):
            unmapped.append(f"line {line}: {event.attacker} -> {event.target} is not a dyad of these actors")
            continue
        events.append(event)
    log = EventLog(events=tuple(events), path=str(path), data_hash=hashlib.sha256(data).hexdigest())
    return AcledImport(events=log, unmapped=tuple(unmapped))


def _event(row: dict[str, str], line: int, mapping: AcledMapping, name: str) -> Event:
    sub_event = (row.get("sub_event_type") or "").strip()
    rule = mapping.sub_event_types.get(sub_event)
    if rule is None:
        raise ValueError(f"sub_event_type {sub_event!r} is not in the mapping")
    first, why_first = mapping.actor_of(row.get("actor1") or "")
    second, why_second = mapping.actor_of(row.get("actor2") or "")
    if first is None or second is None:
        raise ValueError(why_first or why_second)
    attacker, target = (first, second) if rule.attacker == "actor1" else (second, first)
    if attacker == target:
        raise ValueError(f"both actors map to {attacker!r}")
    when = _date(row.get("event_date") or "")
    fatalities_text = (row.get("fatalities") or "").strip()
    if not fatalities_text.isdigit():
        raise ValueError(f"fatalities {fatalities_text!r} is not a non-negative integer")
    killed = int(fatalities_text)
    kind = rule.kind or (EventKind.STRIKE if attacker in mapping.states else EventKind.ATTACK)
    rung = rule.rung
    if rung is None and kind == EventKind.ATTACK and killed > 0:
        rung = Rung.LETHAL
    identifier = (row.get("event_id_cnty") or "").strip() or f"line-{line}"
    return Event(
        event_id=f"acled-{identifier}",
        start=when,
        end=when,
        attacker=attacker,
        target=target,
        kind=kind,
        count=1,
        lower_bound=False,
        injured=None,
        killed=killed,
        rung=rung,
        within=None,
        location=", ".join(
            x for x in ((row.get("location") or "").strip(), (row.get("country") or "").strip()) if x
        ),
        source=f"ACLED-style export {name}, line {line}",
        notes=(row.get("notes") or "").strip()[:500],
    )
