"""Dated event data: read, validate and query event files.

An event file is a UTF-8 CSV with one row per observed event or per counted group of events (an interval count
such as "at least 19 attacks between 17 and 26 October"). Comment lines (``#``) may precede the header; one of
them, ``# period: YYYY-MM-DD to YYYY-MM-DD``, states the days the file records completely.
:func:`load_events` checks every row and reports all problems at once in one :class:`EventDataError`, each
with its file line number. The result is an immutable :class:`EventLog` that remembers the SHA-256 of the
file it came from, so calibrations can record their data; :func:`write_events` writes a log back in the same
format. The file format is described in ``docs/events.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escalation.files import atomic_file
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
    "count_is_approximate",
    "cumulative",
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

MAX_FILE_BYTES = 200_000_000
"""The largest event file (or export) read, in bytes (200 MB); a larger one is refused, naming its size."""

MAX_COUNT = 1_000_000_000
"""The largest ``count``, ``injured`` or ``killed`` a row may state (10^9)."""

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2100, 12, 31)
"""Dates (rows and the stated period) must lie from :data:`FIRST_DAY` to :data:`LAST_DAY`, both included."""

MAX_LISTED_PROBLEMS = 10
"""An :class:`EventDataError`'s message names this many problems and counts the rest; ``problems`` has all."""

_MAX_PROBLEM_CHARS = 500  # a last guard: a problem longer than this is cut short in the message
_MAX_QUOTED_CHARS = 80  # a cell or column names quoted in a message are cut short at this length

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"[0-9]+")
_ACTOR_NAME = re.compile(r"[a-z][a-z0-9_]*")
# A comment whose first word is "period" is taken as a period line, so a misspelt one fails loudly instead of
# being skipped as an ordinary comment (the stated period changes what the record claims).
_PERIOD_KEY = re.compile(r"period\b.*", re.IGNORECASE)
_PERIOD_VALUE = re.compile(
    r"period(?:\s+([a-z][a-z0-9_]*)\s*->\s*([a-z][a-z0-9_]*))?\s*:\s*(\d{4}-\d{2}-\d{2})\s+to\s+(\d{4}-\d{2}-\d{2})",
    re.IGNORECASE,
)
_PERIOD_FORM = (
    "'# period: YYYY-MM-DD to YYYY-MM-DD' for the whole file or '# period ATTACKER->TARGET: YYYY-MM-DD to "
    "YYYY-MM-DD' for one dyad, both days included"
)


class EventKind(StrEnum):
    """What a row records."""

    ATTACK = "attack"
    """An attack on the target's forces, people or territory."""
    STRIKE = "strike"
    """A state's military strike, for example a retaliation."""
    CASUALTIES = "casualties"
    """The injured and killed of the attacker's attacks on the target over the row's interval, given apart
    from the attacks' count (it has no count; the attacks it covers are the dyad's count rows inside it)."""
    CONTEXT = "context"
    """A dated fact that is neither an attack nor a strike, for example a request to delay an operation."""


COUNTED_KINDS: frozenset[EventKind] = frozenset({EventKind.ATTACK, EventKind.STRIKE})
"""Kinds whose rows are counts of events."""

RECORDED_KINDS: frozenset[EventKind] = COUNTED_KINDS | {EventKind.CASUALTIES}
"""Kinds a stated period bounds: counts and casualty totals (``context`` rows only date facts)."""


class EventDataError(ValueError):
    """Raised for any invalid event file.

    Its message is one line: the file, the number of problems, and the first :data:`MAX_LISTED_PROBLEMS` of
    them (``... and N more problems`` counts the rest).

    Attributes:
        path: the file the problems were found in.
        problems: one entry per problem, each ``"line N: column: what is wrong and what is allowed"``
            (problems that concern the whole file have no line); all of them, however many.
    """

    def __init__(self, path: str | os.PathLike[str], problems: list[str]):
        self.path = os.fspath(path)
        self.problems = [" ".join(str(problem).splitlines()) for problem in problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        listed = [_cut(problem, _MAX_PROBLEM_CHARS) for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if count > MAX_LISTED_PROBLEMS:
            rest = count - MAX_LISTED_PROBLEMS
            listed.append(f"... and {rest:,} more problem{'' if rest == 1 else 's'}")
        super().__init__(f"{self.path}: {count:,} {noun}: {'; '.join(listed)}")

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
        kind: attack, strike, casualties or context.
        count: number of events the row stands for (0: "no attacks between X and Y"); None on casualty rows.
        lower_bound: True when ``count`` is a lower bound ("at least 19").
        approximate: True when ``count`` is approximate ("about 20").
        cumulative: True when the row is a running tally, "``count`` since ``start``, as of ``end``"; the
            tallies of one dyad and kind with the same ``start`` form one series (``escalation.counts``).
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
    count: int | None
    lower_bound: bool
    injured: int | None
    killed: int | None
    rung: Rung | None
    within: str | None
    location: str
    source: str
    notes: str
    approximate: bool = False
    cumulative: bool = False

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
        period: the (first, last) day, both included, that the file states it records completely for attacks,
            strikes and casualties of every dyad (its ``# period:`` line); None when it states none.
        dyad_periods: ``(attacker, target)`` -> the (first, last) day that the file states it records
            completely for that dyad (its ``# period ATTACKER->TARGET:`` lines); it replaces ``period`` for
            the dyad.
    """

    events: tuple[Event, ...]
    path: str
    data_hash: str
    period: tuple[date, date] | None = None
    dyad_periods: Mapping[tuple[str, str], tuple[date, date]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        if self.period is not None:
            object.__setattr__(self, "period", _checked_period(self.path, self.period))
        checked = {
            tuple(dyad): _checked_period(self.path, span) for dyad, span in dict(self.dyad_periods).items()
        }
        object.__setattr__(self, "dyad_periods", dict(sorted(checked.items())))

    def __hash__(self) -> int:
        return hash((self.events, self.path, self.data_hash, self.period, tuple(self.dyad_periods.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventLog):
            return NotImplemented
        return (self.events, self.path, self.data_hash, self.period, dict(self.dyad_periods)) == (
            other.events, other.path, other.data_hash, other.period, dict(other.dyad_periods)
        )  # fmt: skip

    def period_of(self, attacker: str, target: str) -> tuple[date, date] | None:
        """The days the file states it records completely for one dyad: its own period, else ``period``."""
        return self.dyad_periods.get((attacker, target), self.period)

    def coverage_of(self, attacker: str, target: str) -> tuple[date, date] | None:
        """The days the record speaks for about one dyad: its stated period, else the span of its rows.

        Returns:
            :meth:`period_of` when the file states one; otherwise (earliest start, latest end) over the dyad's
            attack, strike and casualty rows; None when there is neither.
        """
        stated = self.period_of(attacker, target)
        if stated is not None:
            return stated
        rows = [
            e
            for e in self.events
            if e.kind in RECORDED_KINDS and (e.attacker, e.target) == (attacker, target)
        ]
        if not rows:
            return None
        return min(e.start for e in rows), max(e.end for e in rows)

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
            A new log with the same path, data hash and period.

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
        return EventLog(kept, self.path, self.data_hash, self.period, self.dyad_periods)

    @property
    def coverage(self) -> tuple[date, date] | None:
        """The days the record speaks for: the stated period, else the span of its rows and dyad periods.

        Returns:
            ``period`` when the file states one; otherwise (earliest start, latest end) over the attack,
            strike and casualty rows and the dyads' stated periods; None when there is none of them.
        """
        if self.period is not None:
            return self.period
        spans = [(e.start, e.end) for e in self.events if e.kind in RECORDED_KINDS]
        spans += list(self.dyad_periods.values())
        if not spans:
            return None
        return min(first for first, _ in spans), max(last for _, last in spans)

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
                "count": "Int64",
                "count_is_lower_bound": "bool",
                "count_is_approximate": "bool",
                "cumulative": "bool",
                "injured": "Int64",
                "killed": "Int64",
                "rung": "Int64",
            }
        )


def _checked_period(path: str, period: Any) -> tuple[date, date]:
    try:
        start, end = period
    except (TypeError, ValueError):
        raise ValueError(f"{path}: period: {period!r} is not a (first day, last day) pair") from None
    if not (isinstance(start, date) and isinstance(end, date)):
        raise ValueError(f"{path}: period: {period!r} is not a pair of dates")
    if end < start:
        raise ValueError(f"{path}: period: ends {end}, before it starts {start}")
    return start, end


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
        "count_is_approximate": event.approximate,
        "cumulative": event.cumulative,
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

    The file is read once (so a pipe such as ``<(cat events.csv)`` works), and at most
    :data:`MAX_FILE_BYTES` of it; a folder or a device is refused. Counts and casualties may be at most
    :data:`MAX_COUNT`, dates must lie from :data:`FIRST_DAY` to :data:`LAST_DAY`.

    Args:
        path: the CSV file.
        actors: allowed actor names; when None, any lower-case identifier is accepted.
        ladder: ladder whose rung names the ``rung`` column may use; the default ladder when None.

    Returns:
        The validated events, in file order, with the file's SHA-256.

    Raises:
        EventDataError: listing every problem found, each with its line number (every physical line counts).
    """
    data = _read_bytes(path)
    table = _split_csv(path, data)
    _check_header(path, table.header)
    header = table.header[1]
    cell_parsers = _cell_parsers(None if actors is None else tuple(dict.fromkeys(actors)), ladder or Ladder())
    periods, problems = _stated_periods(table.comments)
    problems += [
        f"line {line}: row: starts with '#', but comment lines are allowed only before the header"
        for line in table.late_comments
    ]
    rows: list[_Row] = []
    for line, cells in table.records:
        values, row_problems = _parse_row(line, header, cells, cell_parsers)
        rows.append(_Row(line, values))
        problems += row_problems
    problems += _check_unique_ids(rows) + _check_within(rows) + _check_overlaps(rows)
    problems += _check_inside_periods(rows, periods)
    if problems:
        raise EventDataError(path, sorted(problems, key=_line_of))
    events = tuple(_event_from_values(row.values) for row in rows)
    return EventLog(events, os.fspath(path), hashlib.sha256(data).hexdigest(), periods.period, periods.dyads)


def builtin_events_path() -> Path:
    """Path of the built-in October 2023 event file (``escalation/data/october_2023.csv``)."""
    return Path(str(files("escalation").joinpath("data", "october_2023.csv")))


def load_builtin_events(*, actors: Iterable[str] | None = None) -> EventLog:
    """Load the built-in October 2023 event file with the default ladder.

    Args:
        actors: allowed actor names, as for :func:`load_events`.
    """
    return load_events(builtin_events_path(), actors=actors, ladder=Ladder())


# --- writing ------------------------------------------------------------------------------------------------


def write_events(log: EventLog, path: str | os.PathLike[str]) -> Path:
    """Write a log as an event file that :func:`load_events` reads back to the same events and period.

    The file has the ``# period:`` line when ``log.period`` is set, then a header with every column in
    :data:`COLUMNS` order, then one row per event: standard CSV quoting, empty cells for unknown values, flags
    as ``true``/``false`` and rungs by their default-ladder names. The file appears whole or not at all: it is
    written to a temporary file in the same folder, which then replaces ``path``.

    Args:
        log: the events to write.
        path: the file to write; an existing file is replaced.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: if the folder does not exist or cannot be written.
    """
    target = Path(path)
    text = io.StringIO()
    if log.period is not None:
        text.write(f"# period: {log.period[0]} to {log.period[1]}\n")
    for (attacker, victim), (first, last) in log.dyad_periods.items():
        text.write(f"# period {attacker}->{victim}: {first} to {last}\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    ladder = Ladder()
    for event in log.events:
        text.write(_guard_first_cell(_csv_line(_event_cells(event, ladder))))
    with atomic_file(target, make_folder=False) as stream:
        stream.write(text.getvalue().encode("utf-8"))
    return target


def _event_cells(event: Event, ladder: Ladder) -> list[str]:
    cells = {
        **{column: "" if value is None else str(value) for column, value in _event_to_record(event).items()},
        "count_is_lower_bound": "true" if event.lower_bound else "false",
        "count_is_approximate": "true" if event.approximate else "false",
        "cumulative": "true" if event.cumulative else "false",
        "rung": "" if event.rung is None else ladder.name(event.rung),
    }
    return [cells[column] for column in COLUMNS]


def _csv_line(cells: list[str]) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(cells)
    return line.getvalue()


def _guard_first_cell(line: str) -> str:
    """Quote a leading cell that starts with ``#``, which the loader would otherwise read as a comment."""
    if not line.startswith("#"):
        return line
    # Unquoted by the writer, so the cell holds no comma, quote or line break: quoting it needs no escapes.
    first, rest = line.split(",", 1)  # every row has all the columns, so there is a comma
    return f'"{first}",{rest}'


_Record = tuple[int, list[str]]
"""A CSV record: the line it starts on and its stripped cells."""

_Comment = tuple[int, str]
"""A comment line before the header: its line number and its text after the ``#``, stripped."""


@dataclass(frozen=True)
class _Table:
    """A decoded event file split into its parts.

    Attributes:
        comments: the comment lines before the header.
        header: the header record.
        records: the other non-blank records.
        late_comments: line numbers of ``#`` lines after the header (not allowed there).
    """

    comments: list[_Comment]
    header: _Record
    records: list[_Record]
    late_comments: list[int]


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        return _read_limited(path)
    except OSError as exc:
        raise EventDataError(path, [f"cannot read the file: {exc.strerror or exc}"]) from exc


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _read_limited(path: str | os.PathLike[str], what: str = "an event file") -> bytes:
    """The bytes of a regular file or a pipe, read once and at most :data:`MAX_FILE_BYTES` of them.

    A pipe (``data.path=<(cat events.csv)``) can be read only once, so callers keep these bytes (and their
    hash) rather than reading the file again.

    Raises:
        EventDataError: the path is a folder, a device or a socket, or holds more than the limit.
        OSError: the file cannot be opened or read (the caller words it).
    """
    info = Path(path).stat()
    mode = info.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise EventDataError(path, [f"file: is {kind}, not {what} (allowed: a regular file or a pipe)"])
    limit = f"the limit of {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1_000_000} MB) for {what}"
    size = info.st_size if stat.S_ISREG(mode) else 0
    if size > MAX_FILE_BYTES:
        raise EventDataError(path, [f"file: is {size:,} bytes, more than {limit}"])
    with Path(path).open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # bounded: a file that grows or a pipe that never ends
    if len(data) > MAX_FILE_BYTES:
        raise EventDataError(path, [f"file: holds more than {limit}"])
    return data


def _cut(text: str, limit: int = _MAX_QUOTED_CHARS) -> str:
    """``text``, cut short with an ellipsis when it is longer than ``limit`` characters."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _quoted(text: str) -> str:
    """A cell's text for a message: quoted (``repr``) and cut short."""
    return repr(text) if len(text) <= _MAX_QUOTED_CHARS else f"{text[: _MAX_QUOTED_CHARS - 1]!r}…"


def _names(names: Iterable[str]) -> str:
    """Column names for a message: invisible characters shown escaped, the whole list cut short."""
    shown = [name if name.isprintable() else repr(name) for name in names]
    return _cut(", ".join(shown))


def _nul_problem(text: str) -> str | None:
    """A problem naming the line of the first NUL character: text files have none (binary files do)."""
    position = text.find("\x00")
    if position < 0:
        return None
    return (
        f"line {_line_breaks(text[:position]) + 1}: file: contains a NUL byte, which a text file does not "
        "(allowed: UTF-8 CSV text; is this a binary file?)"
    )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QUOTED_CELL = re.compile(r'"[^"]*(?:""[^"]*)*"')
_REST_OF_CELL = re.compile(r"[^,\r\n]*")


def _line_breaks(text: str) -> int:
    """Line breaks in ``text``, counted as the CSV reader counts lines (CR LF, CR or LF)."""
    return sum(1 for _ in _LINE_BREAK.finditer(text))


def _unclosed_quote(text: str, *, or_text_after: bool = False) -> int | None:
    """Where a quoted cell opens that never closes in ``text`` (CSV records, as the csv module reads them).

    Args:
        text: the records.
        or_text_after: also stop at a quoted cell whose closing quote is followed by more text (not a comma
            or a line break), which a strict csv reader refuses.

    Returns:
        The offset of that cell's opening quote, or None when every quoted cell closes (and is well formed).
    """
    position, size = 0, len(text)
    while position < size:
        if text[position] == '"':  # a quote opens a quoted cell only as the cell's first character
            match = _QUOTED_CELL.match(text, position)
            if match is None:
                return position
            if or_text_after and match.end() < size and text[match.end()] not in ",\r\n":
                return position
            position = match.end()
        position = _REST_OF_CELL.match(text, position).end() + 1  # the cell's rest, then its delimiter
    return None


def _unclosed_quote_problem(lines: list[str], first: int, first_line: int, *, to_end: bool) -> str | None:
    """A problem naming the line where a quote opens that swallows ``lines[first:]``, or None.

    ``lines[first]`` is physical line ``first_line`` of the file and starts a record. ``to_end``: the lines
    run to the end of the file (else the csv module stopped at its field size limit).
    """
    text = "".join(lines[first:])
    offset = _unclosed_quote(text)
    if offset is None:
        return None
    line = first_line + _line_breaks(text[:offset])
    last = first_line + len(lines) - first - 1
    if not to_end:
        effect = (
            f"does not close within the CSV limit of {csv.field_size_limit():,} characters for a cell, "
            f"so it would take in lines {line} to {last} and more"
        )
    elif last > line:
        effect = f"never closes, so it takes in the rest of the file (lines {line} to {last}) as one cell"
    else:
        effect = "never closes before the end of the file"
    return (
        f"line {line}: row: unterminated quote: a cell opens with a double quote here and {effect} "
        '(close it with a second "; write a quote inside a quoted cell as "")'
    )


def _csv_problem(error: csv.Error, lines: list[str], start: int, read: int, offset: int = 0) -> str:
    """What a strict csv reader's error means, as a problem naming the line.

    Args:
        error: the error.
        lines: the physical lines the reader was given; ``lines[0]`` is line ``offset + 1`` of the file.
        start: index in ``lines`` of the record being read.
        read: how many of ``lines`` the reader had read (its ``line_num``).
        offset: physical lines of the file before ``lines[0]``.
    """
    if "expected after" in str(error):
        text = "".join(lines[start:read])
        opened = _unclosed_quote(text, or_text_after=True)
        line = offset + start + 1 + _line_breaks(text[:opened]) if opened is not None else offset + read
        if line < offset + read:
            # A quote left open took in line breaks, until a quote in a later row closed it.
            return (
                f"line {line}: row: unterminated quote: a cell opens with a double quote here and runs on "
                f"to line {offset + read}, where a quote closes it and more text follows (close the quote "
                'where the cell ends; write a quote inside a quoted cell as "")'
            )
        return (
            f"line {line}: row: text follows the closing quote of a quoted cell (allowed after it: "
            'a comma or the end of the line; write a quote inside a quoted cell as "")'
        )
    # A quote that never closes: the reader reaches the end of the file inside it, or its field size limit.
    problem = _unclosed_quote_problem(lines[start:read], 0, offset + start + 1, to_end=read >= len(lines))
    if problem:
        return problem
    if "field larger" in str(error):
        return (
            f"line {offset + read}: row: a cell is longer than {csv.field_size_limit():,} characters, the "
            "CSV limit for a cell (is this a CSV file?)"
        )
    return f"line {offset + read}: file: not readable as CSV ({error})"


def _split_csv(path: str | os.PathLike[str], data: bytes) -> _Table:
    """Decode the file and split it into comments, header and records, each with its line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"line {line}: file: not valid UTF-8 text (byte {exc.start}); save it as UTF-8 CSV text"
        raise EventDataError(path, [problem]) from exc
    nul = _nul_problem(text)
    if nul:
        raise EventDataError(path, [nul])
    # The same stream (newline="") splits lines for the comment scan and for the CSV reader, so both count
    # physical lines alike; comments never reach the reader, where a stray quote in one would swallow rows.
    stream = io.StringIO(text, newline="")
    comments: list[_Comment] = []
    preamble_lines = 0
    header_line = ""
    for physical in iter(stream.readline, ""):
        stripped = physical.strip()
        if stripped and not stripped.startswith("#"):
            header_line = physical
            break
        preamble_lines += 1
        if stripped:
            comments.append((preamble_lines, stripped[1:].strip()))
    lines = [header_line, *stream] if header_line else []
    # Strict: a stray quote is an error rather than cells silently shifted or merged.
    reader = csv.reader(lines, strict=True)
    records: list[_Record] = []
    late_comments: list[int] = []
    previous_line = preamble_lines
    try:
        for cells in reader:
            # Only the raw line tells a comment from a quoted cell that starts with "#".
            if lines[previous_line - preamble_lines].lstrip().startswith("#"):
                late_comments.append(previous_line + 1)
            elif any(cell.strip() for cell in cells):
                records.append((previous_line + 1, [cell.strip() for cell in cells]))
            previous_line = preamble_lines + reader.line_num
    except csv.Error as exc:
        problem = _csv_problem(exc, lines, previous_line - preamble_lines, reader.line_num, preamble_lines)
        raise EventDataError(path, [problem]) from exc
    if not records:
        raise EventDataError(
            path, ["file: empty (expected a header row naming the columns, then event rows)"]
        )
    if len(records) == 1:
        raise EventDataError(path, [f"line {records[0][0]}: file: has a header but no event rows"])
    return _Table(comments, records[0], records[1:], late_comments)


@dataclass(frozen=True)
class _Periods:
    """What the ``# period`` comment lines state: the file's period, the dyads' periods, their lines."""

    period: tuple[date, date] | None
    line: int
    dyads: dict[tuple[str, str], tuple[date, date]]
    dyad_lines: dict[tuple[str, str], int]


def _stated_periods(comments: list[_Comment]) -> tuple[_Periods, list[str]]:
    """The periods the ``# period`` comments state, and the problems with such comments."""
    period: tuple[date, date] | None = None
    period_line = 0
    dyads: dict[tuple[str, str], tuple[date, date]] = {}
    dyad_lines: dict[tuple[str, str], int] = {}
    problems = []
    for line, text in comments:
        if _PERIOD_KEY.fullmatch(text) is None:
            continue  # an ordinary comment
        match = _PERIOD_VALUE.fullmatch(text)
        dyad = None if match is None or match.group(1) is None else (match.group(1), match.group(2))
        first_line = period_line if dyad is None else dyad_lines.get(dyad, 0)
        what = "period" if dyad is None else f"period of {dyad[0]}->{dyad[1]}"
        if match is not None and first_line:
            problems.append(
                f"line {line}: period: {what} stated twice (first in line {first_line}; state it once)"
            )
            continue
        try:
            start, end = (date.fromisoformat(match.group(n)) for n in (3, 4)) if match else (None, None)
        except ValueError:
            start = end = None
        if start is None or end is None:
            problems.append(
                f"line {line}: period: {_quoted('# ' + text)} is not a period line (allowed: {_PERIOD_FORM})"
            )
            continue
        if dyad is None:
            period_line = line
        else:
            dyad_lines[dyad] = line
        if dyad is not None and dyad[0] == dyad[1]:
            problems.append(
                f"line {line}: period: {dyad[0]}->{dyad[1]} names one actor twice (a dyad has two)"
            )
        elif end < start:
            problems.append(f"line {line}: period: ends {end}, before it starts {start}")
        elif start < FIRST_DAY or end > LAST_DAY:
            problems.append(
                f"line {line}: period: {start} to {end} is outside the allowed range {FIRST_DAY} to "
                f"{LAST_DAY}"
            )
        elif dyad is None:
            period = (start, end)
        else:
            dyads[dyad] = (start, end)
    return _Periods(period, period_line, dyads, dyad_lines), problems


def _check_header(path: str | os.PathLike[str], header_record: _Record) -> None:
    line, header = header_record
    if not set(header) & set(COLUMNS):
        # Not an event file (a system file, a picture, a text): quote none of it, say what a header is.
        raise EventDataError(
            path,
            [
                f"line {line}: header: names none of the event-file columns, so this is not an event file's "
                f"header (the first line that is not a comment must name the columns, at least "
                f"{', '.join(REQUIRED_COLUMNS)})"
            ],
        )
    problems = []
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        problems.append(f"line {line}: header: columns named more than once: {_names(duplicated)}")
    unknown = [name or "(empty name)" for name in dict.fromkeys(header) if name not in COLUMNS]
    if unknown:
        problems.append(
            f"line {line}: header: unknown columns {_names(unknown)} (allowed: {', '.join(COLUMNS)})"
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
        "count_is_approximate": _parse_flag,
        "cumulative": _parse_flag,
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
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a date in YYYY-MM-DD form")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a day of the calendar (allowed: a real date, YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{text} is outside the allowed range {FIRST_DAY} to {LAST_DAY}")
    return day


def _parse_actor(text: str, actors: tuple[str, ...] | None) -> str:
    if not _ACTOR_NAME.fullmatch(text):
        raise ValueError(
            f"{_quoted(text)} is not an actor name (lower-case letters, digits and _, e.g. 'hamas')"
        )
    if actors is not None and text not in actors:
        raise ValueError(f"unknown actor {_quoted(text)} (allowed: {', '.join(actors)})")
    return text


def _parse_kind(text: str) -> EventKind:
    if text not in EventKind._value2member_map_:
        raise ValueError(f"unknown kind {_quoted(text)} (allowed: {', '.join(EventKind)})")
    return EventKind(text)


def _parse_count(text: str) -> int | None:
    if not text:
        return None  # allowed on casualty rows only (_row_consistency)
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a whole number >= 0")
    return _at_most_max(text, "a whole number from 0")


def _bounded(text: str) -> str:
    """Digits short enough for int() (Python refuses very long ones): longer ones stand for a huge number."""
    digits = text.lstrip("0") or "0"
    return digits if len(digits) <= len(str(MAX_COUNT)) + 1 else str(10 * MAX_COUNT)


def _at_most_max(text: str, allowed: str) -> int:
    value = int(_bounded(text))
    if value > MAX_COUNT:
        raise ValueError(
            f"{_cut(text, 40)} is above the maximum {MAX_COUNT} (allowed: {allowed} to {MAX_COUNT})"
        )
    return value


def _parse_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(
            f"{_quoted(text)} is not a flag (allowed: true/false, 1/0, yes/no, or empty for false)"
        )
    return lowered in _TRUE


def _parse_rung(text: str, ladder: Ladder) -> Rung | None:
    if not text:
        return None
    try:
        return ladder.parse(text)
    except ValueError:
        allowed = ", ".join(f"{number} ({name})" for number, name in enumerate(ladder.names))
        raise ValueError(f"unknown rung {_quoted(text)} (allowed: {allowed}, or empty)") from None


def _parse_casualties(text: str) -> int | None:
    if not text:
        return None
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a whole number >= 0 (leave the cell empty when unknown)")
    return _at_most_max(text, "a whole number from 0")


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
    kind = values.get("kind")
    if kind is None or "count" not in values:
        return problems
    if kind == EventKind.CASUALTIES:
        problems += _casualty_row_problems(values)
    elif values["count"] is None and kind in COUNTED_KINDS:
        problems.append(f"count: empty (required on {kind} rows: a whole number >= 0)")
    if values.get("count_is_lower_bound") and values.get("count_is_approximate"):
        problems.append("count_is_approximate: also a lower bound (choose one: 'at least N' or 'about N')")
    if values.get("cumulative") and kind not in COUNTED_KINDS:
        problems.append(f"cumulative: set on a {kind} row (allowed on attack and strike rows only)")
    if values.get("cumulative") and values.get("within"):
        problems.append(
            "within: set on a running tally (a tally counts events; it is not within another row)"
        )
    return problems


def _casualty_row_problems(values: dict[str, Any]) -> list[str]:
    problems = []
    if values["count"] is not None:
        problems.append("count: set on a casualties row (leave it empty: it covers the count rows inside it)")
    if values.get("injured") is None and values.get("killed") is None:
        problems.append("injured/killed: both empty on a casualties row (give at least one total)")
    for column in ("count_is_lower_bound", "count_is_approximate"):
        if values.get(column):
            problems.append(f"{column}: set on a casualties row, which has no count")
    if values.get("within"):
        problems.append("within: set on a casualties row (it covers the count rows inside its interval)")
    if values.get("rung") is not None:
        problems.append("rung: set on a casualties row (rungs belong to events)")
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
        approximate=values["count_is_approximate"],
        cumulative=values["cumulative"],
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
                f"line {row.line}: event_id: {_quoted(event_id)} is already used on line "
                f"{first_line[event_id]} (ids must be unique)"
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
        return f"no row has event_id {_quoted(name)}"
    if outer is inner:
        return f"{_quoted(name)} is this row itself (name the interval row whose count includes this row)"
    if outer.get("within"):
        return f"{_quoted(name)} is itself within {_quoted(outer['within'])} (name the outermost row instead)"
    dyad = ("attacker", "target", "kind")
    if all(key in inner and key in outer for key in dyad) and any(inner[key] != outer[key] for key in dyad):
        return (
            f"{_quoted(name)} counts {outer['attacker']}->{outer['target']} {outer['kind']} events, "
            f"not {inner['attacker']}->{inner['target']} {inner['kind']}"
        )
    outer_start, outer_end = outer.get("start_date"), outer.get("end_date")
    start, end = inner.get("start_date"), inner.get("end_date")
    if None not in (outer_start, outer_end, start, end) and not (outer_start <= start and end <= outer_end):
        return f"{_quoted(name)} covers {outer_start} to {outer_end}, not this row's {start} to {end}"
    return None


def _check_inside_periods(rows: list[_Row], periods: _Periods) -> list[str]:
    """Attack, strike and casualty rows must lie inside their dyad's stated period (or the file's)."""
    problems = []
    for row in rows:
        start, end = row.values.get("start_date"), row.values.get("end_date")
        if row.values.get("kind") not in RECORDED_KINDS or start is None or end is None or end < start:
            continue
        dyad = (row.values.get("attacker"), row.values.get("target"))
        if dyad in periods.dyads:
            (first, last), line, whose = (
                periods.dyads[dyad],
                periods.dyad_lines[dyad],
                f" of {dyad[0]}->{dyad[1]}",
            )
        elif periods.period is not None:
            (first, last), line, whose = periods.period, periods.line, ""
        else:
            continue
        if first <= start and end <= last:
            continue
        extent = "partly " if start <= last and end >= first else ""
        interval = str(start) if start == end else f"{start} to {end}"
        problems.append(
            f"line {row.line}: start_date/end_date: {interval} lies {extent}outside the period{whose} "
            f"{first} to {last} that the file states in line {line} (attack, strike and casualty rows must "
            "lie inside it)"
        )
    return problems


def _check_overlaps(rows: list[_Row]) -> list[str]:
    """Every event is counted once: the top-level count rows of a dyad and kind may not overlap.

    Rows ``within`` another are counted by it. Dated rows of one day are distinct events. Running tallies
    with the same start are one series and may overlap each other (later tallies revise earlier ones), but
    no other row. A zero count that overlaps a
    row with events contradicts it. Casualty rows of a dyad may not overlap each other, and a count row that
    straddles a casualty row's edge cannot be attributed to it.
    """
    groups: dict[tuple[Any, Any, Any], list[_Row]] = {}
    casualties: dict[tuple[Any, Any], list[_Row]] = {}
    for row in rows:
        values = row.values
        if None in (values.get("start_date"), values.get("end_date"), values.get("kind")):
            continue
        if values["end_date"] < values["start_date"]:
            continue
        if values["kind"] == EventKind.CASUALTIES:
            casualties.setdefault((values.get("attacker"), values.get("target")), []).append(row)
        elif values["kind"] in COUNTED_KINDS and not values.get("within"):
            groups.setdefault((values.get("attacker"), values.get("target"), values["kind"]), []).append(row)
    problems = []
    for group in groups.values():
        problems += _overlapping(group, _may_overlap, _COUNT_ONCE)
    for dyad, group in casualties.items():
        problems += _overlapping(group, lambda a, b: False, "casualty rows of one dyad may not overlap")
        counted = [row for (attacker, target, _), rows_ in groups.items() if (attacker, target) == dyad
                   for row in rows_]  # fmt: skip
        for row in group:
            problems += _straddling(row, counted)
    return problems


_COUNT_ONCE = (
    "count rows of one dyad and kind count each event once: put the inner row 'within' the outer, or make "
    "both running tallies (cumulative) from the same start_date"
)


def _may_overlap(a: _Row, b: _Row) -> bool:
    """Two count rows that may share days: two dated events of one day, or two tallies of one series."""
    if all(row.values["start_date"] == row.values["end_date"] and row.values.get("count") != 0 and
           not row.values.get("cumulative") for row in (a, b)):  # fmt: skip
        return True
    return bool(a.values.get("cumulative") and b.values.get("cumulative")) and (
        a.values["start_date"] == b.values["start_date"]
    )


def _overlapping(group: list[_Row], allowed: Callable[[_Row, _Row], bool], rule: str) -> list[str]:
    ordered = sorted(group, key=lambda row: (row.values["start_date"], row.line))
    problems = []
    for k, row in enumerate(ordered):
        for other in ordered[:k]:
            if other.values["end_date"] >= row.values["start_date"] and not allowed(other, row):
                problems.append(
                    f"line {row.line}: start_date/end_date: overlaps "
                    f"{_quoted(other.values.get('event_id', ''))} (line {other.line}), "
                    f"{other.values['start_date']} to {other.values['end_date']}; {rule}"
                )
                break
    return problems


def _straddling(row: _Row, counted: list[_Row]) -> list[str]:
    first, last = row.values["start_date"], row.values["end_date"]
    for other in counted:
        start, end = other.values["start_date"], other.values["end_date"]
        if start <= last and end >= first and not (first <= start and end <= last):
            return [
                f"line {row.line}: start_date/end_date: the casualties of {first} to {last} cut across "
                f"{_quoted(other.values.get('event_id', ''))} (line {other.line}, {start} to {end}); a "
                "casualty row covers whole count rows (widen or narrow it to their edges)"
            ]
    return []


def _line_of(problem: str) -> int:
    match = re.match(r"line (\d+):", problem)
    return int(match.group(1)) if match else 0
