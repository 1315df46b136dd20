"""Dated event data: read, validate and query event files.

An event file is a UTF-8 CSV with one row per observed event or per counted group of events (an interval count
such as "at least 19 attacks between 17 and 26 October"). :func:`load_events` checks every row and reports all
problems at once in one :class:`EventDataError`, each with its file line number. The result is an immutable
:class:`EventLog` that remembers the SHA-256 of the file it came from, so calibrations can record their data.
The file format is described in ``docs/events.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escalation.ladder import Ladder, Rung

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ACTORS: tuple[str, ...] = ("us", "iran", "militias", "israel", "hamas", "hezbollah", "houthis")

COLUMNS: tuple[str, ...] = (
    "event_id",
    "start_date",
    "end_date",
    "attacker",
    "target",
    "kind",
    "count",
    "count_is_lower_bound",
    "injured",
    "killed",
    "rung",
    "within",
    "location",
    "source",
    "notes",
)
"""All columns an event file may have, in the order :meth:`EventLog.to_frame` returns them."""

REQUIRED_COLUMNS: tuple[str, ...] = (
    "event_id",
    "start_date",
    "end_date",
    "attacker",
    "target",
    "kind",
    "count",
    "source",
)
"""Columns every event file must have; the others may be left out (all their cells then count as empty)."""

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"[0-9]+")
_ACTOR_NAME = re.compile(r"[a-z][a-z0-9_]*")


class EventKind(StrEnum):
    """What a row records."""

    ATTACK = "attack"
    """An attack on the target's forces, people or territory."""
    STRIKE = "strike"
    """A state's military strike, for example a retaliation."""
    CONTEXT = "context"
    """A dated fact that is neither an attack nor a strike, for example a request to delay an operation."""


class EventDataError(ValueError):
    """Raised for any invalid event file.

    Attributes:
        path: the file the problems were found in.
        problems: one entry per problem, each ``"line N: column: what is wrong and what is allowed"``
            (problems that concern the whole file have no line).
    """

    def __init__(self, path: str | os.PathLike[str], problems: list[str]):
        self.path = os.fspath(path)
        self.problems = [" ".join(str(problem).splitlines()) for problem in problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{self.path}: {count} {noun}: {'; '.join(self.problems)}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problems))


@dataclass(frozen=True)
class Event:
    """One row of an event file.

    Attributes:
        event_id: identifier, unique within its file.
        start: first day of the interval the row covers.
        end: last day of the interval (inclusive); equal to ``start`` for an exact-dated event.
        attacker: actor that acted (for context rows, the actor the fact is about).
        target: actor acted upon.
        kind: attack, strike or context.
        count: number of events the row stands for (at least 1).
        lower_bound: True when ``count`` is a lower bound ("at least 19").
        injured: people injured over all the row's events; None when unknown.
        killed: people killed over all the row's events; None when unknown.
        rung: ladder rung of the row's events when they all sit on one rung, else None.
        within: ``event_id`` of a row whose count already includes this row's events, else None.
        location: free-text place.
        source: citation.
        notes: free-text remarks.
    """

    event_id: str
    start: date
    end: date
    attacker: str
    target: str
    kind: EventKind
    count: int
    lower_bound: bool
    injured: int | None
    killed: int | None
    rung: Rung | None
    within: str | None
    location: str
    source: str
    notes: str

    @property
    def days(self) -> int:
        """Length of the interval in days, both ends included."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class EventLog:
    """An immutable, validated sequence of events in file order.

    Attributes:
        events: the events.
        path: the file they were read from.
        data_hash: SHA-256 (hex) of that file's bytes; selections keep the hash of the file they came from.
    """

    events: tuple[Event, ...]
    path: str
    data_hash: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def select(
        self,
        *,
        attacker: str | None = None,
        target: str | None = None,
        kind: EventKind | str | None = None,
        before: date | None = None,
    ) -> EventLog:
        """Events that match every given filter.

        Args:
            attacker: keep events by this actor.
            target: keep events against this actor.
            kind: keep events of this kind.
            before: keep events that start before this day. Intervals that start before it and end on or
                after it are kept whole; callers that need to split them do so themselves.

        Returns:
            A new log with the same path and data hash.

        Raises:
            ValueError: if ``kind`` is not a valid event kind.
        """
        wanted = None if kind is None else EventKind(kind)
        kept = tuple(
            event
            for event in self.events
            if (attacker is None or event.attacker == attacker)
            and (target is None or event.target == target)
            and (wanted is None or event.kind == wanted)
            and (before is None or event.start < before)
        )
        return EventLog(kept, self.path, self.data_hash)

    def actors(self) -> frozenset[str]:
        """Every actor named as attacker or target."""
        return frozenset(name for event in self.events for name in (event.attacker, event.target))

    @property
    def first_date(self) -> date:
        """Earliest start date.

        Raises:
            ValueError: if the log is empty.
        """
        self._require_events()
        return min(event.start for event in self.events)

    @property
    def last_date(self) -> date:
        """Latest end date.

        Raises:
            ValueError: if the log is empty.
        """
        self._require_events()
        return max(event.end for event in self.events)

    def _require_events(self) -> None:
        if not self.events:
            raise ValueError(f"{self.path}: the event log (or selection) is empty and has no dates")

    def to_frame(self) -> pd.DataFrame:
        """One row per event with the event file's column names.

        Dates are ``datetime64``; ``injured``, ``killed`` and ``rung`` (the rung number) are nullable integers
        (``Int64``), with missing values where the file had empty cells.
        """
        import pandas as pd

        rows = [_event_to_record(event) for event in self.events]
        frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        return frame.astype(
            {
                "start_date": "datetime64[ns]",
                "end_date": "datetime64[ns]",
                "count": "int64",
                "count_is_lower_bound": "bool",
                "injured": "Int64",
                "killed": "Int64",
                "rung": "Int64",
            }
        )


def _event_to_record(event: Event) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "start_date": event.start,
        "end_date": event.end,
        "attacker": event.attacker,
        "target": event.target,
        "kind": event.kind.value,
        "count": event.count,
        "count_is_lower_bound": event.lower_bound,
        "injured": event.injured,
        "killed": event.killed,
        "rung": None if event.rung is None else int(event.rung),
        "within": event.within,
        "location": event.location,
        "source": event.source,
        "notes": event.notes,
    }


# --- reading ------------------------------------------------------------------------------------------------


def load_events(
    path: str | os.PathLike[str],
    *,
    actors: Iterable[str] | None = None,
    ladder: Ladder | None = None,
) -> EventLog:
    """Read and validate an event file.

    Args:
        path: the CSV file.
        actors: allowed actor names; when None, any lower-case identifier is accepted.
        ladder: ladder whose rung names the ``rung`` column may use; the default ladder when None.

    Returns:
        The validated events, in file order, with the file's SHA-256.

    Raises:
        EventDataError: listing every problem found, each with its line number (the header is line 1).
    """
    data = _read_bytes(path)
    header_record, records = _split_csv(path, data)
    _check_header(path, header_record)
    header = header_record[1]
    cell_parsers = _cell_parsers(None if actors is None else tuple(dict.fromkeys(actors)), ladder or Ladder())
    problems: list[str] = []
    rows: list[_Row] = []
    for line, cells in records:
        values, row_problems = _parse_row(line, header, cells, cell_parsers)
        rows.append(_Row(line, values))
        problems += row_problems
    problems += _check_unique_ids(rows) + _check_within(rows)
    if problems:
        raise EventDataError(path, sorted(problems, key=_line_of))
    events = tuple(_event_from_values(row.values) for row in rows)
    return EventLog(events, os.fspath(path), hashlib.sha256(data).hexdigest())


def builtin_events_path() -> Path:
    """Path of the built-in October 2023 event file (``escalation/data/october_2023.csv``)."""
    return Path(str(files("escalation").joinpath("data", "october_2023.csv")))


def load_builtin_events(*, actors: Iterable[str] | None = None) -> EventLog:
    """Load the built-in October 2023 event file with the default ladder.

    Args:
        actors: allowed actor names, as for :func:`load_events`.
    """
    return load_events(builtin_events_path(), actors=actors, ladder=Ladder())


_Record = tuple[int, list[str]]
"""A CSV record: the line it starts on and its stripped cells."""


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise EventDataError(path, [f"cannot read the file: {exc.strerror or exc}"]) from exc


def _split_csv(path: str | os.PathLike[str], data: bytes) -> tuple[_Record, list[_Record]]:
    """Decode the file; return the header record and the other non-blank records with their line numbers."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EventDataError(path, [f"line {line}: file: not valid UTF-8 text (byte {exc.start})"]) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[_Record] = []
    previous_line = 0
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((previous_line + 1, [cell.strip() for cell in cells]))
            previous_line = reader.line_num
    except csv.Error as exc:
        problem = f"line {reader.line_num + 1}: file: not readable as CSV ({exc})"
        raise EventDataError(path, [problem]) from exc
    if not records:
        raise EventDataError(
            path, ["file: empty (expected a header row naming the columns, then event rows)"]
        )
    if len(records) == 1:
        raise EventDataError(path, [f"line {records[0][0]}: file: has a header but no event rows"])
    return records[0], records[1:]


def _check_header(path: str | os.PathLike[str], header_record: _Record) -> None:
    line, header = header_record
    problems = []
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        problems.append(f"line {line}: header: columns named more than once: {', '.join(duplicated)}")
    unknown = [name or "(empty name)" for name in dict.fromkeys(header) if name not in COLUMNS]
    if unknown:
        problems.append(
            f"line {line}: header: unknown columns {', '.join(unknown)} (allowed: {', '.join(COLUMNS)})"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        problems.append(f"line {line}: header: missing required columns {', '.join(missing)}")
    if problems:
        raise EventDataError(path, problems)


# --- one cell at a time -------------------------------------------------------------------------------------

_CellParser = Callable[[str], Any]


def _cell_parsers(actors: tuple[str, ...] | None, ladder: Ladder) -> dict[str, _CellParser]:
    """One parser per column; each returns the value or raises ValueError saying what is allowed."""
    return {
        "event_id": _required_text,
        "start_date": _parse_date,
        "end_date": _parse_date,
        "attacker": lambda text: _parse_actor(text, actors),
        "target": lambda text: _parse_actor(text, actors),
        "kind": _parse_kind,
        "count": _parse_count,
        "count_is_lower_bound": _parse_flag,
        "injured": _parse_casualties,
        "killed": _parse_casualties,
        "rung": lambda text: _parse_rung(text, ladder),
        "within": lambda text: text or None,
        "location": str,
        "source": _required_text,
        "notes": str,
    }


def _required_text(text: str) -> str:
    if not text:
        raise ValueError("empty (this column is required)")
    return text


def _parse_date(text: str) -> date:
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date in YYYY-MM-DD form")


def _parse_actor(text: str, actors: tuple[str, ...] | None) -> str:
    if not _ACTOR_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not an actor name (lower-case letters, digits and _, e.g. 'hamas')")
    if actors is not None and text not in actors:
        raise ValueError(f"unknown actor {text!r} (allowed: {', '.join(actors)})")
    return text


def _parse_kind(text: str) -> EventKind:
    if text not in EventKind._value2member_map_:
        raise ValueError(f"unknown kind {text!r} (allowed: {', '.join(EventKind)})")
    return EventKind(text)


def _parse_count(text: str) -> int:
    if not _DIGITS.fullmatch(text) or int(text) < 1:
        raise ValueError(f"{text!r} is not a whole number >= 1")
    return int(text)


def _parse_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"{text!r} is not a flag (allowed: true/false, 1/0, yes/no, or empty for false)")
    return lowered in _TRUE


def _parse_rung(text: str, ladder: Ladder) -> Rung | None:
    if not text:
        return None
    try:
        return ladder.parse(text)
    except ValueError:
        allowed = ", ".join(f"{number} ({name})" for number, name in enumerate(ladder.names))
        raise ValueError(f"unknown rung {text!r} (allowed: {allowed}, or empty)") from None


def _parse_casualties(text: str) -> int | None:
    if not text:
        return None
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number >= 0 (leave the cell empty when unknown)")
    return int(text)


# --- one row at a time --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A record's line number and the cells that parsed (bad cells are absent)."""

    line: int
    values: dict[str, Any]


def _parse_row(
    line: int, header: list[str], cells: list[str], parsers: dict[str, _CellParser]
) -> tuple[dict[str, Any], list[str]]:
    """Parse one record into column values; return the values that parsed and the row's problems."""
    if len(cells) != len(header):
        return {}, [f"line {line}: row: has {len(cells)} cells but the header has {len(header)} columns"]
    record = dict(zip(header, cells, strict=True))
    values: dict[str, Any] = {}
    problems = []
    for column, parse in parsers.items():
        try:
            values[column] = parse(record.get(column, ""))
        except ValueError as exc:
            problems.append(f"line {line}: {column}: {exc}")
    problems += [f"line {line}: {problem}" for problem in _row_consistency(values)]
    return values, problems


def _row_consistency(values: dict[str, Any]) -> list[str]:
    """Checks that involve two cells of the same row (only when both cells parsed)."""
    problems = []
    start, end = values.get("start_date"), values.get("end_date")
    if start is not None and end is not None and end < start:
        problems.append(f"end_date: {end} is before start_date {start}")
    attacker, target = values.get("attacker"), values.get("target")
    if attacker is not None and attacker == target:
        problems.append(f"target: same actor as attacker ({attacker!r}), an event needs two different actors")
    return problems


def _event_from_values(values: dict[str, Any]) -> Event:
    return Event(
        event_id=values["event_id"],
        start=values["start_date"],
        end=values["end_date"],
        attacker=values["attacker"],
        target=values["target"],
        kind=values["kind"],
        count=values["count"],
        lower_bound=values["count_is_lower_bound"],
        injured=values["injured"],
        killed=values["killed"],
        rung=values["rung"],
        within=values["within"],
        location=values["location"],
        source=values["source"],
        notes=values["notes"],
    )


# --- checks across rows -------------------------------------------------------------------------------------


def _check_unique_ids(rows: list[_Row]) -> list[str]:
    first_line: dict[str, int] = {}
    problems = []
    for row in rows:
        event_id = row.values.get("event_id")
        if event_id in first_line:
            problems.append(
                f"line {row.line}: event_id: {event_id!r} is already used on line {first_line[event_id]} "
                "(ids must be unique)"
            )
        elif event_id is not None:
            first_line[event_id] = row.line
    return problems


def _check_within(rows: list[_Row]) -> list[str]:
    """A ``within`` cell must name another top-level row of the same dyad and kind whose interval holds it."""
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_id.setdefault(row.values.get("event_id", ""), row.values)
    problems = []
    for row in rows:
        within = row.values.get("within")
        problem = within and _within_problem(row.values, by_id.get(within))
        if problem:
            problems.append(f"line {row.line}: within: {problem}")
    return problems


def _within_problem(inner: dict[str, Any], outer: dict[str, Any] | None) -> str | None:
    """What is wrong with ``inner``'s reference to ``outer``; cells that did not parse are not compared."""
    name = inner["within"]
    if outer is None:
        return f"no row has event_id {name!r}"
    if outer is inner:
        return f"{name!r} is this row itself (name the interval row whose count includes this row)"
    if outer.get("within"):
        return f"{name!r} is itself within {outer['within']!r} (name the outermost row instead)"
    dyad = ("attacker", "target", "kind")
    if all(key in inner and key in outer for key in dyad) and any(inner[key] != outer[key] for key in dyad):
        return (
            f"{name!r} counts {outer['attacker']}->{outer['target']} {outer['kind']} events, "
            f"not {inner['attacker']}->{inner['target']} {inner['kind']}"
        )
    outer_start, outer_end = outer.get("start_date"), outer.get("end_date")
    start, end = inner.get("start_date"), inner.get("end_date")
    if None not in (outer_start, outer_end, start, end) and not (outer_start <= start and end <= outer_end):
        return f"{name!r} covers {outer_start} to {outer_end}, not this row's {start} to {end}"
    return None


def _line_of(problem: str) -> int:
    match = re.match(r"line (\d+):", problem)
    return int(match.group(1)) if match else 0
