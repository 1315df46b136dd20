"""Import ACLED-style event exports into an :class:`~escalation.events.EventLog`.

ACLED-style exports have one row per event with columns such as ``event_id_cnty``, ``event_date``,
``event_type``, ``sub_event_type``, ``actor1``, ``actor2``, ``inter1``, ``inter2``, ``country``, ``location``,
``fatalities`` and ``notes``. They name actors in free text and do not say who attacked whom, so a *mapping*
file states:

- ``actors``: for each model actor, case-insensitive regular expressions searched in ``actor1``/``actor2``;
- ``priority``: optionally, the order in which actors win when one actor text matches the patterns of several;
- ``states``: the model actors that are states;
- ``sub_event_types``: for each ACLED sub-event type, the event kind (``attack``, ``strike``, or ``auto``: a
  strike when the attacker is a state, an attack otherwise), an optional ladder rung, and which actor field is
  the attacker (``actor1``, the usual reading of ACLED's initiator field, or ``actor2``).

Rows the mapping does not cover (an unknown sub-event type, an actor matching no pattern, the same actor on
both sides, a date outside the requested period) are not guessed at: they are returned with their line and
reason, and the caller decides. Faults that would make the import wrong rather than incomplete (an actor text
that the mapping's patterns give to several actors without a priority deciding, an event id used twice) stop
the import with an :class:`~escalation.events.EventDataError`. Cumulative tallies ("55 attacks since 17
October, as of 14 November") are interval counts with a lower-bound flag; they belong in the project's own
event format (docs/events.md), which ``load_events`` reads.

The ``escalation-import`` command (:func:`main`) imports an export and writes it as a validated event file.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import os
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

import yaml

from escalation.events import (
    DEFAULT_ACTORS,
    FIRST_DAY,
    LAST_DAY,
    MAX_COUNT,
    Event,
    EventDataError,
    EventKind,
    EventLog,
    _csv_problem,
    _cut,
    _names,
    _nul_problem,
    _quoted,
    _read_limited,
    load_events,
    write_events,
)
from escalation.ladder import Ladder, Rung

REQUIRED_COLUMNS = ("event_date", "sub_event_type", "actor1", "actor2", "fatalities")
ATTACKER_FIELDS = ("actor1", "actor2")
MAPPING_KEYS = ("actors", "priority", "states", "sub_event_types")
"""The keys a mapping file may have at its top level."""
RULE_KEYS = ("kind", "rung", "attacker")
"""The keys a sub-event rule may have."""
DATE_FORMATS = ("YYYY-MM-DD", "DD Month YYYY", "DD-Month-YYYY", "DD-Mon-YYYY", "DD-MM-YYYY", "DD/MM/YYYY")
"""The ``event_date`` forms the importer reads (ACLED exports use all of them); numeric ones are day first."""

PROG = "escalation-import"
USAGE_ERROR = 2

_ACTOR_NAME = re.compile(r"[a-z][a-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
# English names spelt out rather than taken from calendar/strptime, whose month names follow the locale.
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_FULL_MONTHS = {name: number for number, name in enumerate(_MONTHS, start=1)}
_SHORT_MONTHS = {name[:3]: number for number, name in enumerate(_MONTHS, start=1)}
_DATE_FORMS: tuple[tuple[re.Pattern[str], dict[str, int] | None], ...] = (
    # (form, month names it takes; None: a numeric month), in the order of DATE_FORMATS
    (re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"), None),
    (re.compile(r"(?P<day>\d{1,2}) (?P<month>[a-z]+) (?P<year>\d{4})", re.IGNORECASE), _FULL_MONTHS),
    (re.compile(r"(?P<day>\d{1,2})-(?P<month>[a-z]+)-(?P<year>\d{4})", re.IGNORECASE), _FULL_MONTHS),
    (re.compile(r"(?P<day>\d{1,2})-(?P<month>[a-z]{3})-(?P<year>\d{4})", re.IGNORECASE), _SHORT_MONTHS),
    (re.compile(r"(?P<day>\d{1,2})-(?P<month>\d{1,2})-(?P<year>\d{4})"), None),
    (re.compile(r"(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})"), None),
)


@dataclass(frozen=True)
class SubEventRule:
    """How rows of one ACLED sub-event type become events."""

    kind: EventKind | None  # None: a strike when the attacker is a state, an attack otherwise
    rung: Rung | None
    attacker: str


@dataclass(frozen=True)
class ActorMatch:
    """What one actor text maps to.

    Attributes:
        actor: the model actor, or None when the text maps to none.
        reason: why ``actor`` is None (empty when it is not).
        ambiguous: True when the text matches several actors and ``priority`` does not decide between them.
    """

    actor: str | None
    reason: str = ""
    ambiguous: bool = False


@dataclass(frozen=True)
class AcledMapping:
    """Actor patterns and sub-event rules (see the module docstring).

    Attributes:
        actors: model actor -> compiled patterns.
        sub_event_types: ACLED sub-event type -> rule.
        states: model actors that are states (for ``kind: auto``).
        path: the mapping file, for messages.
        priority: when an actor text matches several actors, the one that comes first here wins; every actor
            matched must be listed, else the text is ambiguous.
    """

    actors: dict[str, tuple[re.Pattern[str], ...]]
    sub_event_types: dict[str, SubEventRule]
    states: frozenset[str] = frozenset()
    path: str = ""
    priority: tuple[str, ...] = ()

    def matches(self, text: str) -> tuple[tuple[str, str], ...]:
        """Each actor with a pattern found in ``text``, in mapping order, with the first such pattern."""
        found = []
        for name, patterns in self.actors.items():
            pattern = next((p for p in patterns if p.search(text)), None)
            if pattern is not None:
                found.append((name, pattern.pattern))
        return tuple(found)

    def match(self, text: str) -> ActorMatch:
        """The model actor that ``text`` names, resolving several matches with ``priority``."""
        found = self.matches(text)
        if not found:
            return ActorMatch(None, f"no actor pattern matches {_quoted(text)}")
        if len(found) == 1:
            return ActorMatch(found[0][0])
        names = [name for name, _ in found]
        unranked = [name for name in names if name not in self.priority]
        if not unranked:
            return ActorMatch(min(names, key=self.priority.index))
        listed = ", ".join(f'{name} (pattern "{pattern}")' for name, pattern in found)
        missing = f" ({', '.join(unranked)} not in it)" if self.priority else ""
        reason = (
            f'"{_cut(text)}" matches several actors: {listed}; state their order in the mapping\'s priority '
            f"list{missing}"
        )
        return ActorMatch(None, reason, ambiguous=True)

    def actor_of(self, text: str) -> tuple[str | None, str]:
        """The model actor that ``text`` names, or None with the reason (see :meth:`match`)."""
        result = self.match(text)
        return result.actor, result.reason


def default_mapping_path() -> Path:
    """Path of the shipped mapping for the October 2023 scenario."""
    return Path(str(files("escalation").joinpath("data", "acled_mapping_october_2023.yaml")))


def load_mapping(path: str | os.PathLike[str], *, ladder: Ladder | None = None) -> AcledMapping:
    """Read and check a mapping file (YAML).

    Args:
        path: the YAML file.
        ladder: ladder whose rung names the rules' ``rung`` may use; the default ladder when None.

    Returns:
        The checked mapping.

    Raises:
        ValueError: in one line naming the file and the key, and saying what is allowed.
    """
    ladder = ladder or Ladder()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path}: cannot read the mapping ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); re-save the mapping as UTF-8") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not a readable YAML file ({_one_line(err)})") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: the top level is {_described(raw)}; it must be a mapping with the keys "
            f"{', '.join(MAPPING_KEYS)}"
        )
    unknown = [str(key) for key in raw if key not in MAPPING_KEYS]
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(MAPPING_KEYS)}")
    if not isinstance(raw.get("actors"), dict) or not isinstance(raw.get("sub_event_types"), dict):
        raise ValueError(f"{path}: a mapping needs the keys 'actors' and 'sub_event_types', each a mapping")
    actors = {
        _actor_name(path, name): _patterns(path, name, patterns) for name, patterns in raw["actors"].items()
    }
    rules = {
        str(sub_event): _rule(path, str(sub_event), settings, ladder)
        for sub_event, settings in raw["sub_event_types"].items()
    }
    states = _actor_list(path, "states", raw.get("states"), actors)
    priority = _actor_list(path, "priority", raw.get("priority"), actors)
    return AcledMapping(
        actors=actors, sub_event_types=rules, states=frozenset(states), path=str(path), priority=priority
    )


def _described(value: Any) -> str:
    """A short description of a YAML value's type and content, for messages."""
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "a text", list: "a list"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"{kind} ({_one_line(repr(value))[:60]})"


def _actor_name(path: Any, name: Any) -> str:
    # The names become the event file's attacker and target, which must be lower-case identifiers.
    if not isinstance(name, str) or not _ACTOR_NAME.fullmatch(name):
        raise ValueError(
            f"{path}: actors: {name!r} is not an actor name (lower-case letters, digits and _, e.g. 'hamas')"
        )
    return name


def _patterns(path: Any, name: str, patterns: Any) -> tuple[re.Pattern[str], ...]:
    key = f"{path}: actors.{name}"
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns:
        raise ValueError(
            f"{key}: is {_described(patterns)}; allowed: a pattern text or a non-empty list of them"
        )
    compiled = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str):
            raise ValueError(f"{key}[{index}]: is {_described(pattern)}; a pattern must be a text (quote it)")
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as err:
            raise ValueError(f"{key}: invalid pattern {pattern!r} ({err})") from None
    return tuple(compiled)


def _actor_list(path: Any, key: str, value: Any, actors: dict[str, Any]) -> tuple[str, ...]:
    allowed = ", ".join(actors)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"{path}: {key}: is {_described(value)}; allowed: a list of actor names ({allowed})")
    for name in value:
        if name not in actors:
            raise ValueError(f"{path}: {key}: {name!r} has no actor patterns; allowed: {allowed}")
        if value.count(name) > 1:
            raise ValueError(f"{path}: {key}: {name!r} is listed more than once")
    return tuple(value)


def _rule(path: Any, sub_event: str, settings: Any, ladder: Ladder) -> SubEventRule:
    key = f"{path}: sub_event_types.{sub_event}"
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise ValueError(
            f"{key}: is {_described(settings)}; allowed: a mapping such as {{kind: auto, attacker: actor1}}"
        )
    unknown = [str(name) for name in settings if name not in RULE_KEYS]
    if unknown:
        raise ValueError(f"{key}: unknown key {unknown[0]!r}; allowed: {', '.join(RULE_KEYS)}")
    text = settings.get("kind", "auto")
    if text not in ("attack", "strike", "auto"):
        raise ValueError(f"{key}.kind: unknown {text!r}; allowed: attack, strike, auto")
    kind = None if text == "auto" else EventKind(text)
    attacker = settings.get("attacker", "actor1")
    if attacker not in ATTACKER_FIELDS:
        raise ValueError(f"{key}.attacker: unknown {attacker!r}; allowed: actor1, actor2")
    rung_value = settings.get("rung")
    if isinstance(rung_value, bool) or not isinstance(rung_value, int | str | None):
        raise ValueError(f"{key}.rung: is {_described(rung_value)}; allowed: a rung number or name")
    try:
        rung = ladder.parse(rung_value) if rung_value is not None else None
    except ValueError as err:
        raise ValueError(f"{key}.rung: {err}") from None
    return SubEventRule(kind=kind, rung=rung, attacker=attacker)


@dataclass(frozen=True)
class AcledImport:
    """The imported events and the rows left out, each as ``line N: reason``."""

    events: EventLog
    unmapped: tuple[str, ...]


def _date(text: str) -> dt.date:
    """Read an ``event_date`` in any of :data:`DATE_FORMATS`."""
    text = text.strip()
    for pattern, months in _DATE_FORMS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        month = int(match["month"]) if months is None else months.get(match["month"].lower())
        if month is None:
            continue  # not a month name of this form; "26-Oct-2023" has the shape of DD-Month-YYYY too
        try:
            return dt.date(int(match["year"]), month, int(match["day"]))
        except ValueError:
            break  # a form's shape but no such day (31-02-2023, 10/27/2023): no other form reads it
    raise ValueError(
        f"event_date {_quoted(text)} is not a date in an accepted form ({', '.join(DATE_FORMATS)})"
    )


def import_acled(
    path: str | os.PathLike[str],
    mapping: AcledMapping,
    *,
    actors: Iterable[str] | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> AcledImport:
    """Import an ACLED-style CSV export with a mapping.

    Args:
        path: the export (UTF-8 CSV with a header row).
        mapping: actor patterns and sub-event rules.
        actors: if given, events whose attacker or target is not among them are left out (reported).
        period: if given, the (first, last) day, both included, that the import covers: it is stated on the
            resulting log, and events outside it are left out (reported).

    Returns:
        The events, in file order, and the rows left out with their reasons.

    Raises:
        EventDataError: the file is missing, not UTF-8 or not CSV, or lacks a required column; or rows have an
            actor text that matches several actors without ``priority`` deciding, or repeat an
            ``event_id_cnty`` (every such row is listed).
        ValueError: ``period`` is not a pair of dates in order.
    """
    allowed = None if actors is None else frozenset(actors)
    period = _checked_period(period)
    try:
        data = _read_limited(path, "an ACLED-style export")
    except OSError as err:
        raise EventDataError(path, [f"cannot read the file ({err.strerror or err})"]) from None
    header, records = _read_export(path, data)
    events: list[Event] = []
    unmapped: list[str] = []
    faults: list[str] = []
    first_line_of_id: dict[str, int] = {}
    for line, cells in records:
        if len(cells) != len(header):
            unmapped.append(f"line {line}: has {len(cells)} cells but the header has {len(header)} columns")
            continue
        row = dict(zip(header, cells, strict=True))
        identifier = row.get("event_id_cnty", "")
        if identifier in first_line_of_id:
            faults.append(
                f"line {line}: event_id_cnty {_quoted(identifier)} is already used on line "
                f"{first_line_of_id[identifier]} (each event once; it would be imported twice)"
            )
        elif identifier:
            first_line_of_id[identifier] = line
        # Ambiguous actors are checked on every row, whatever else it holds: they are a fault of the mapping.
        for field in ATTACKER_FIELDS:
            result = mapping.match(row[field])
            if result.ambiguous:
                faults.append(f"line {line}: {field} {result.reason}")
        if faults:
            continue  # the import fails; only the faults are collected from here on
        try:
            event = _event(row, line, mapping, Path(path).name, period)
        except ValueError as err:
            unmapped.append(f"line {line}: {err}")
            continue
        if allowed is not None and not {event.attacker, event.target} <= allowed:
            unmapped.append(f"line {line}: {event.attacker} -> {event.target} is not a dyad of these actors")
            continue
        events.append(event)
    if faults:
        raise EventDataError(path, faults)
    log = EventLog(tuple(events), os.fspath(path), hashlib.sha256(data).hexdigest(), period)
    return AcledImport(events=log, unmapped=tuple(unmapped))


def _checked_period(period: Any) -> tuple[dt.date, dt.date] | None:
    if period is None:
        return None
    try:
        start, end = period
    except (TypeError, ValueError):
        raise ValueError(f"period: {period!r} is not a (first day, last day) pair") from None
    if not (isinstance(start, dt.date) and isinstance(end, dt.date)):
        raise ValueError(f"period: {period!r} is not a pair of dates")
    if end < start:
        raise ValueError(f"period: ends {end}, before it starts {start}")
    return start, end


def _read_export(path: Any, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Decode and split an export: the header's column names, and the other records with their lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        problem = (
            f"line {line}: file: not valid UTF-8 text (byte {err.start}); re-save the export as UTF-8 "
            "(ACLED's own downloads are UTF-8; spreadsheet programs often save another encoding)"
        )
        raise EventDataError(path, [problem]) from None
    nul = _nul_problem(text)
    if nul:
        raise EventDataError(path, [nul])
    lines = io.StringIO(text, newline="").readlines()
    # Strict: a stray quote is an error rather than cells silently shifted or merged.
    reader = csv.reader(lines, strict=True)
    records: list[tuple[int, list[str]]] = []
    previous_line = 0
    try:
        for cells in reader:
            # A record's line is where it starts; line_num is where it ends, later for quoted line breaks.
            if any(cell.strip() for cell in cells):
                records.append((previous_line + 1, [cell.strip() for cell in cells]))
            previous_line = reader.line_num
    except csv.Error as err:
        raise EventDataError(path, [_csv_problem(err, lines, previous_line, reader.line_num)]) from None
    if not records:
        raise EventDataError(path, ["file: empty (expected a header row naming the columns, then rows)"])
    header_line, header = records[0]
    if not set(header) & set(REQUIRED_COLUMNS):
        raise EventDataError(path, [_not_a_header(header_line, records)])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise EventDataError(path, [f"line {header_line}: columns named more than once: {_names(repeated)}"])
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise EventDataError(path, [f"line {header_line}: missing column(s) {', '.join(missing)}"])
    return header, records[1:]


def _not_a_header(line: int, records: list[tuple[int, list[str]]]) -> str:
    """The problem with a first line that names none of the required columns (quoting none of it)."""
    problem = (
        f"line {line}: not the export's header: the first line must be the header row, naming at least the "
        f"columns {', '.join(REQUIRED_COLUMNS)}, but it names none of them"
    )
    later = next((number for number, cells in records[1:20] if set(REQUIRED_COLUMNS) <= set(cells)), None)
    if later is not None:
        return f"{problem}; the header seems to be on line {later} (delete the lines above it)"
    return f"{problem} (is this an ACLED-style export?)"


def _event(
    row: dict[str, str], line: int, mapping: AcledMapping, name: str, period: tuple[dt.date, dt.date] | None
) -> Event:
    when = _date(row["event_date"])
    if not FIRST_DAY <= when <= LAST_DAY:
        raise ValueError(f"event_date {when} is outside the allowed range {FIRST_DAY} to {LAST_DAY}")
    if period is not None and not period[0] <= when <= period[1]:
        raise ValueError(f"event_date {when} is outside the period {period[0]} to {period[1]}")
    sub_event = row["sub_event_type"]
    rule = mapping.sub_event_types.get(sub_event)
    if rule is None:
        raise ValueError(f"sub_event_type {_quoted(sub_event)} is not in the mapping")
    sides = {}
    for field in ATTACKER_FIELDS:
        if not row[field]:
            raise ValueError(f"{field} is empty (no actor to map)")
        sides[field] = mapping.match(row[field])
        if sides[field].actor is None:
            raise ValueError(sides[field].reason)
    other = "actor2" if rule.attacker == "actor1" else "actor1"
    attacker, target = str(sides[rule.attacker].actor), str(sides[other].actor)
    if attacker == target:
        raise ValueError(f"both actors map to {attacker!r}")
    fatalities_text = row["fatalities"]
    if not _DIGITS.fullmatch(fatalities_text):
        raise ValueError(f"fatalities {_quoted(fatalities_text)} is not a non-negative integer")
    if len(fatalities_text.lstrip("0")) > len(str(MAX_COUNT)) or int(fatalities_text) > MAX_COUNT:
        raise ValueError(
            f"fatalities {_cut(fatalities_text, 40)} is above the maximum {MAX_COUNT} "
            f"(allowed: a whole number from 0 to {MAX_COUNT})"
        )
    killed = int(fatalities_text)
    kind = rule.kind or (EventKind.STRIKE if attacker in mapping.states else EventKind.ATTACK)
    rung = rule.rung
    if rung is None and kind == EventKind.ATTACK and killed > 0:
        rung = Rung.LETHAL
    identifier = row.get("event_id_cnty", "") or f"line-{line}"
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
        location=", ".join(x for x in (row.get("location", ""), row.get("country", "")) if x),
        source=f"ACLED-style export {name}, line {line}",
        notes=row.get("notes", "")[:500],
    )


# --- the escalation-import command --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line (argparse's own adds the usage text) and exit with code 2."""
        _fail(message)


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _day(text: str) -> dt.date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Import an ACLED-style CSV export with a mapping file and write it as a validated event file "
            "(docs/events.md), usable as `escalation data.path=EVENTS.csv`."
        ),
    )
    parser.add_argument("export", type=Path, metavar="EXPORT.csv", help="the ACLED-style export (UTF-8 CSV)")
    parser.add_argument(
        "--mapping",
        type=Path,
        default=None,
        metavar="MAPPING.yaml",
        help="actor patterns and sub-event rules (default: the shipped October 2023 mapping)",
    )
    parser.add_argument(
        "--output", type=Path, required=True, metavar="EVENTS.csv", help="the event file to write"
    )
    parser.add_argument(
        "--period",
        nargs=2,
        type=_day,
        metavar=("START", "END"),
        help="keep only events from START to END (YYYY-MM-DD, both included); the file states this period",
    )
    parser.add_argument(
        "--any-actors",
        action="store_true",
        help=f"keep events of any mapped actors (default: only {', '.join(DEFAULT_ACTORS)})",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``escalation-import``.

    Args:
        argv: the arguments (without the program name); ``sys.argv[1:]`` when None.

    Raises:
        SystemExit: with code 2 after printing one ``escalation-import: error: ...`` line on standard error.
    """
    args = _parser().parse_args(None if argv is None else list(argv))
    if args.period is not None and args.period[1] < args.period[0]:
        _fail(f"argument --period: END {args.period[1]} is before START {args.period[0]}")
    try:
        result, count = _import_and_write(args)
    except (ValueError, OSError) as err:
        _fail(str(err))
    left_out = result.unmapped
    print(f"wrote {count} events to {args.output} ({len(left_out)} rows left out)")
    for reason in left_out[:10]:
        print(f"  left out: {reason}", file=sys.stderr)
    if len(left_out) > 10:
        print(f"  ... and {len(left_out) - 10} more", file=sys.stderr)


def _import_and_write(args: argparse.Namespace) -> tuple[AcledImport, int]:
    """Import, write to a staging file, re-load it to prove it validates, then move it into place."""
    output: Path = args.output
    if output.is_dir():
        raise ValueError(f"{output}: is a folder (give the event file to write)")
    if output.exists() and not args.force:
        raise ValueError(f"{output}: exists already (use --force to overwrite it)")
    if not output.parent.is_dir():
        raise ValueError(f"{output}: the folder {output.parent} does not exist")
    if output.exists() and output.resolve() == args.export.resolve():
        raise ValueError(f"{output}: is the export itself (write the event file elsewhere)")
    actors = None if args.any_actors else DEFAULT_ACTORS
    mapping = load_mapping(args.mapping or default_mapping_path())
    result = import_acled(args.export, mapping, actors=actors, period=args.period)
    if not result.events.events:
        first = f"; the first: {result.unmapped[0]}" if result.unmapped else ""
        raise ValueError(
            f"{args.export}: no row could be imported ({len(result.unmapped)} rows left out{first})"
        )
    # The output appears only once it has validated, so a failure leaves neither a new file nor a broken one.
    staging = output.with_name(f".{output.name}.{secrets.token_hex(6)}.staging")
    try:
        try:
            write_events(result.events, staging)
        except OSError as err:
            raise ValueError(f"{output}: cannot write ({err.strerror or err})") from None
        try:
            written = load_events(staging, actors=actors)
        except EventDataError as err:
            raise EventDataError(output, err.problems) from None
        staging.replace(output)
    finally:
        staging.unlink(missing_ok=True)
    return result, len(written)
