import csv
import dataclasses
import hashlib
import json
import os
import pickle
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from escalation.events import (
    COLUMNS,
    DEFAULT_ACTORS,
    EventDataError,
    EventKind,
    EventLog,
    builtin_events_path,
    load_builtin_events,
    load_events,
    write_events,
)
from escalation.ladder import Rung

DATA = Path(__file__).parent / "data"

GOOD_ROW = {
    "event_id": "a1",
    "start_date": "2023-10-17",
    "end_date": "2023-10-17",
    "attacker": "militias",
    "target": "us",
    "kind": "attack",
    "count": "1",
    "count_is_lower_bound": "",
    "injured": "",
    "killed": "",
    "rung": "",
    "within": "",
    "location": "",
    "source": "test fixture",
    "notes": "",
}


def write_csv(tmp_path, rows, columns=None, name="events.csv", preamble=""):
    """Write rows (dicts overriding GOOD_ROW) to a CSV; the first data row is line 2 after the preamble."""
    columns = list(columns or COLUMNS)
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(preamble)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            full = {**GOOD_ROW, **row}
            writer.writerow([full.get(column, "") for column in columns])
    return path


def load_error(path, **kwargs):
    with pytest.raises(EventDataError) as info:
        load_events(path, **kwargs)
    return info.value


# --- built-in dataset ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin():
    return load_builtin_events(actors=DEFAULT_ACTORS)


def by_id(log):
    return {event.event_id: event for event in log}


def test_builtin_loads_with_default_actors(builtin):
    assert len(builtin) == 7
    assert builtin.actors() <= set(DEFAULT_ACTORS)
    assert builtin.first_date == date(2023, 10, 7)
    assert builtin.last_date == date(2023, 10, 27)
    assert all(event.source for event in builtin)


def test_builtin_hamas_attack(builtin):
    event = by_id(builtin)["hamas-attack-oct07"]
    assert (event.attacker, event.target, event.kind) == ("hamas", "israel", EventKind.ATTACK)
    assert event.start == event.end == date(2023, 10, 7)
    assert event.killed == 1400
    assert event.injured is None
    assert event.rung is Rung.LETHAL
    assert "approximate" in event.notes


def test_builtin_interval_row(builtin):
    event = by_id(builtin)["militia-attacks-oct17-26"]
    assert (event.attacker, event.target, event.kind) == ("militias", "us", EventKind.ATTACK)
    assert (event.start, event.end) == (date(2023, 10, 17), date(2023, 10, 26))
    assert event.count == 19
    assert event.lower_bound is True
    assert event.injured == 24
    assert event.killed == 1
    assert event.days == 10
    assert event.within is None


def test_builtin_dated_attacks_are_within_the_interval(builtin):
    inner = [event for event in builtin if event.within is not None]
    assert sorted((event.start, event.location) for event in inner) == [
        (date(2023, 10, 25), "Kharab al-Jir, Syria"),
        (date(2023, 10, 26), "Kharab al-Jir, Syria"),
        (date(2023, 10, 26), "western Iraq"),
    ]
    for event in inner:
        assert event.within == "militia-attacks-oct17-26"
        assert event.count == 1
        assert event.injured is None
        assert event.killed is None


def test_builtin_strike_and_context_rows(builtin):
    strikes = builtin.select(kind="strike")
    assert len(strikes) == 1
    (strike,) = strikes
    assert (strike.attacker, strike.target, strike.start) == ("us", "militias", date(2023, 10, 26))
    assert strike.rung is Rung.PROXY_STRIKE
    assert strike.count == 1
    assert "Boukamal" in strike.location
    assert strike.injured is None and strike.killed is None
    (context,) = builtin.select(kind=EventKind.CONTEXT)
    assert (context.attacker, context.target) == ("us", "israel")
    assert (context.start, context.end) == (date(2023, 10, 23), date(2023, 10, 27))
    assert "12" in context.notes


def event_as_json(event):
    """An event's fields in the form of tests/data/october_2023_events.json."""
    fields = dataclasses.asdict(event)
    for added in ("approximate", "cumulative"):  # added after the snapshot; false on every built-in row
        assert fields.pop(added) is False
    fields.update(
        start=event.start.isoformat(),
        end=event.end.isoformat(),
        kind=event.kind.value,
        rung=None if event.rung is None else event.rung.name,
    )
    return fields


def test_builtin_events_are_those_loaded_before_the_period_line(builtin):
    # The snapshot was taken from the loader before the file gained its comment lines: every field of every
    # event, in file order, must be unchanged (the calibration and the headline numbers rest on them).
    before = json.loads((DATA / "october_2023_events.json").read_text(encoding="utf-8"))
    assert [event_as_json(event) for event in builtin] == before
    assert [event.event_id for event in builtin] == [
        "hamas-attack-oct07",
        "militia-attacks-oct17-26",
        "kharab-al-jir-oct25",
        "kharab-al-jir-oct26",
        "western-iraq-base-oct26",
        "us-strike-boukamal-oct26",
        "us-asks-israel-delay-invasion",
    ]


def test_builtin_states_the_periods_of_its_complete_dyads(builtin):
    # The report accounts for the militias' attacks and the US strikes from 17 October (when the Pentagon
    # says the attacks began); its other rows are notable events, so the file states no period for them.
    assert (
        builtin_events_path()
        .read_text(encoding="utf-8")
        .startswith(
            "# period militias->us: 2023-10-17 to 2023-10-26\n"
            "# period us->militias: 2023-10-17 to 2023-10-26\n"
        )
    )
    assert builtin.period is None
    assert builtin.period_of("militias", "us") == (date(2023, 10, 17), date(2023, 10, 26))
    assert builtin.period_of("hamas", "israel") is None
    assert builtin.coverage_of("hamas", "israel") == (date(2023, 10, 7), date(2023, 10, 7))
    assert builtin.coverage == (date(2023, 10, 7), date(2023, 10, 26))
    assert builtin.last_date == date(2023, 10, 27)  # the context row reaches past the periods; it may
    assert max(event.end for event in builtin if event.kind != EventKind.CONTEXT) == date(2023, 10, 26)


def test_builtin_data_hash_is_sha256_of_file(builtin):
    assert re.fullmatch(r"[0-9a-f]{64}", builtin.data_hash)
    assert builtin.data_hash == hashlib.sha256(builtin_events_path().read_bytes()).hexdigest()
    assert builtin.path == str(builtin_events_path())


# --- good fixtures ------------------------------------------------------------------------------------------


def test_minimal_columns_and_flag_spellings(tmp_path):
    rows = [
        {"event_id": "a", "count_is_lower_bound": "YES"},
        {"event_id": "b", "count_is_lower_bound": "0"},
        {"event_id": "c", "count_is_lower_bound": "True"},
        {"event_id": "d", "count_is_lower_bound": "no"},
    ]
    columns = [*reversed(["event_id", "start_date", "end_date", "attacker", "target", "kind", "count"])]
    path = write_csv(tmp_path, rows, columns=[*columns, "source", "count_is_lower_bound"])
    log = load_events(path)
    assert [event.lower_bound for event in log] == [True, False, True, False]
    assert all(event.injured is None and event.rung is None and event.notes == "" for event in log)


def test_zero_casualties_differ_from_unknown(tmp_path):
    path = write_csv(tmp_path, [{"event_id": "a", "injured": "0", "killed": ""}])
    (event,) = load_events(path)
    assert event.injured == 0
    assert event.killed is None


def test_rung_accepts_number_and_name(tmp_path):
    path = write_csv(tmp_path, [{"event_id": "a", "rung": "2"}, {"event_id": "b", "rung": "lethal"}])
    assert [event.rung for event in load_events(path)] == [Rung.CASUALTIES, Rung.LETHAL]


# --- bad inputs: one problem each ---------------------------------------------------------------------------


def assert_one_line_error(err, path, line, column):
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert f"line {line}: {column}:" in message
    assert err.path == str(path)


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [
        ({"start_date": "2023-10-32"}, "start_date", "YYYY-MM-DD"),
        ({"end_date": "26/10/2023"}, "end_date", "YYYY-MM-DD"),
        (
            {"start_date": "2023-10-05", "end_date": "2023-10-01"},
            "end_date",
            "is before start_date 2023-10-05",
        ),
        ({"attacker": "hamaz"}, "attacker", "unknown actor 'hamaz' (allowed: us, iran,"),
        ({"target": "militias"}, "target", "same actor as attacker"),
        ({"count": "-1"}, "count", ">= 0"),
        ({"count": "2.5"}, "count", ">= 0"),
        ({"count": ""}, "count", "empty (required on attack rows"),
        ({"injured": "2.5"}, "injured", ">= 0"),
        ({"injured": "-1"}, "injured", ">= 0"),
        ({"killed": "x"}, "killed", ">= 0"),
        ({"kind": "raid"}, "kind", "unknown kind 'raid' (allowed: attack, strike, casualties, context)"),
        ({"count_is_lower_bound": "maybe"}, "count_is_lower_bound", "true/false"),
        ({"rung": "nuclear"}, "rung", "unknown rung"),
        ({"rung": "9"}, "rung", "unknown rung"),
        ({"source": ""}, "source", "required"),
        ({"event_id": ""}, "event_id", "required"),
        ({"attacker": "Hamas"}, "attacker", "lower-case"),
    ],
)
def test_bad_cell_is_reported_with_line_and_column(tmp_path, row, column, expected):
    path = write_csv(tmp_path, [{"event_id": "ok"}, {"event_id": "bad", **row}])
    err = load_error(path, actors=DEFAULT_ACTORS)
    assert_one_line_error(err, path, 3, column)
    assert len(err.problems) == 1
    assert expected in err.problems[0]


def test_unknown_actor_only_checked_when_actors_given(tmp_path):
    path = write_csv(tmp_path, [{"attacker": "uk"}])
    (event,) = load_events(path)
    assert event.attacker == "uk"
    assert "allowed: us, iran" in str(load_error(path, actors=DEFAULT_ACTORS))


def test_duplicate_event_id(tmp_path):
    path = write_csv(tmp_path, [{"event_id": "x"}, {"event_id": "y"}, {"event_id": "x"}])
    err = load_error(path)
    assert_one_line_error(err, path, 4, "event_id")
    assert "already used on line 2" in str(err)


def test_missing_column(tmp_path):
    path = write_csv(tmp_path, [{}], columns=[column for column in COLUMNS if column != "source"])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "header")
    assert "missing required columns source" in str(err)


def test_unknown_column_is_named(tmp_path):
    path = write_csv(tmp_path, [{}], columns=[*COLUMNS, "fatalities"])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "header")
    assert "unknown columns fatalities" in str(err)


def test_row_with_wrong_number_of_cells(tmp_path):
    path = write_csv(tmp_path, [{}])
    path.write_text(path.read_text() + "b,2023-10-17\n")
    err = load_error(path)
    assert_one_line_error(err, path, 3, "row")


OUTSIDE = "'outer' covers 2023-10-17 to 2023-10-26, not this row's"


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ({"within": "nope"}, "no row has event_id 'nope'"),
        (
            {"within": "outer", "start_date": "2023-10-27", "end_date": "2023-10-27"},
            "covers 2023-10-17 to 2023-10-26, not this row",
        ),
        (
            {"within": "outer", "start_date": "2023-10-16", "end_date": "2023-10-18"},
            "covers 2023-10-17 to 2023-10-26, not this row",
        ),
        ({"within": "outer", "target": "israel"}, "militias->us attack"),
        ({"within": "inner"}, "this row itself"),
    ],
)
def test_bad_within(tmp_path, inner, expected):
    outer = {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19"}
    path = write_csv(tmp_path, [outer, {"event_id": "inner", **inner}])
    err = load_error(path)
    assert_one_line_error(err, path, 3, "within")
    assert expected in str(err)


def test_within_may_not_nest(tmp_path):
    rows = [
        {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19"},
        {"event_id": "middle", "start_date": "2023-10-20", "end_date": "2023-10-22", "within": "outer"},
        {"event_id": "inner", "start_date": "2023-10-21", "end_date": "2023-10-21", "within": "middle"},
    ]
    err = load_error(write_csv(tmp_path, rows))
    assert err.problems == [err.problems[0]]
    assert err.problems[0].startswith("line 4: within: 'middle' is itself within 'outer'")


def test_good_within_loads(tmp_path):
    rows = [
        {"event_id": "inner", "start_date": "2023-10-26", "end_date": "2023-10-26", "within": "outer"},
        {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19"},
    ]
    log = load_events(write_csv(tmp_path, rows))
    assert [event.within for event in log] == ["outer", None]


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.csv"
    err = load_error(path)
    assert str(err).startswith(f"{path}: 1 problem: cannot read the file")
    assert "\n" not in str(err)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n  \n")
    assert "empty" in str(load_error(path))


def test_header_without_rows(tmp_path):
    path = write_csv(tmp_path, [])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "file")
    assert "no event rows" in str(err)


def test_not_utf8(tmp_path):
    path = write_csv(tmp_path, [{}])
    path.write_bytes(path.read_bytes() + b"b,\xff\n")
    err = load_error(path)
    assert "line 3: file: not valid UTF-8" in str(err)


def test_several_problems_reported_together(tmp_path):
    rows = [
        {"event_id": "a"},
        {"event_id": "b", "start_date": "2023-10-05", "end_date": "2023-10-01"},
        {"event_id": "c"},
        {"event_id": "d", "attacker": "hamaz", "count": "x", "within": "gone"},
        {"event_id": "b"},
    ]
    path = write_csv(tmp_path, rows)
    err = load_error(path, actors=DEFAULT_ACTORS)
    assert len(err.problems) == 5
    lines = ["line 3", "line 5", "line 5", "line 5", "line 6"]
    assert [problem.split(":")[0] for problem in err.problems] == lines
    message = str(err)
    assert message.startswith(
        f"{path}: 5 problems: line 3: end_date: 2023-10-01 is before start_date 2023-10-05; "
    )
    assert "line 5: attacker: unknown actor 'hamaz'" in message
    assert "line 5: count:" in message
    assert "line 5: within: no row has event_id 'gone'" in message
    assert "line 6: event_id: 'b' is already used on line 3" in message
    assert "\n" not in message


def test_error_is_a_value_error_and_pickles(tmp_path):
    err = EventDataError(tmp_path / "f.csv", ["line 2: kind: bad", "line 3: count: bad"])
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    assert copy.problems == err.problems


# --- queries ------------------------------------------------------------------------------------------------


def test_select_filters_combine(builtin):
    attacks = builtin.select(attacker="militias", target="us", kind=EventKind.ATTACK)
    assert len(attacks) == 4
    assert attacks.data_hash == builtin.data_hash
    assert len(builtin.select(attacker="us")) == 2
    assert len(builtin.select(target="israel")) == 2
    assert len(builtin.select(attacker="iran")) == 0
    with pytest.raises(ValueError, match="raid"):
        builtin.select(kind="raid")


def test_select_before_uses_start_date(builtin):
    early = builtin.select(before=date(2023, 10, 26))
    ids = {event.event_id for event in early}
    assert "militia-attacks-oct17-26" in ids  # starts before the cut-off; the caller handles the straddle
    assert "kharab-al-jir-oct25" in ids
    assert "kharab-al-jir-oct26" not in ids
    assert "us-strike-boukamal-oct26" not in ids
    assert all(event.start < date(2023, 10, 26) for event in early)
    assert len(builtin.select(before=date(2023, 10, 7))) == 0


def test_empty_selection_has_no_dates(builtin):
    empty = builtin.select(attacker="houthis")
    assert len(empty) == 0
    assert empty.actors() == frozenset()
    with pytest.raises(ValueError, match="empty"):
        _ = empty.first_date


def test_to_frame(builtin):
    frame = builtin.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(builtin)
    assert pd.api.types.is_datetime64_any_dtype(frame["start_date"])
    assert pd.api.types.is_datetime64_any_dtype(frame["end_date"])
    row = frame.set_index("event_id").loc["militia-attacks-oct17-26"]
    assert row["start_date"] == pd.Timestamp("2023-10-17")
    assert row["count"] == 19
    assert bool(row["count_is_lower_bound"]) is True
    assert row["injured"] == 24
    hamas = frame.set_index("event_id").loc["hamas-attack-oct07"]
    assert pd.isna(hamas["injured"])
    assert hamas["rung"] == int(Rung.LETHAL)
    assert frame["kind"].tolist().count("strike") == 1


def test_to_frame_of_empty_selection_keeps_columns(builtin):
    frame = builtin.select(attacker="houthis").to_frame()
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)
    assert pd.api.types.is_datetime64_any_dtype(frame["start_date"])


# --- comment lines and the stated period --------------------------------------------------------------------


def test_comments_before_the_header_are_skipped_and_lines_still_counted(tmp_path):
    preamble = '# what this is, with a "stray quote\n\n#\n  # indented comment\n'
    path = write_csv(tmp_path, [{"event_id": "a"}, {"event_id": "b", "count": "x"}], preamble=preamble)
    err = load_error(path)
    assert_one_line_error(err, path, 7, "count")  # 4 comment/blank lines, header on line 5, rows on 6 and 7
    (event,) = load_events(write_csv(tmp_path, [{"event_id": "a"}], preamble=preamble))
    assert event.event_id == "a"
    assert load_events(write_csv(tmp_path, [{}], preamble=preamble)).period is None


def test_period_line_is_read(tmp_path):
    preamble = "# source: a test; the period of the report is below\n# periodic review\n"
    path = write_csv(tmp_path, [{}], preamble=preamble + "#  PERIOD :2023-10-07   to 2023-10-26 \n")
    log = load_events(path)
    assert log.period == (date(2023, 10, 7), date(2023, 10, 26))
    assert log.coverage == log.period


@pytest.mark.parametrize(
    ("preamble", "line", "expected"),
    [
        (
            "# period: 2023-10-07 until 2023-10-26\n",
            1,
            "'# period: 2023-10-07 until 2023-10-26' is not a period",
        ),
        (
            "# period: 2023-10-07 to 2023-10-32\n",
            1,
            "is not a period line (allowed: '# period: YYYY-MM-DD to",
        ),
        ("# period: 7 October to 26 October\n", 1, "not a period line"),
        ("# period:\n", 1, "'# period:' is not a period line"),
        (
            "# Period 2023-10-07 to 2023-10-26\n",
            1,
            "'# Period 2023-10-07 to 2023-10-26' is not a period line",
        ),
        ("#\n# period: 2023-10-26 to 2023-10-07\n", 2, "ends 2023-10-07, before it starts 2023-10-26"),
        (
            "# period: 2023-10-07 to 2023-10-26\n# note\n# Period: 2023-10-01 to 2023-10-31\n",
            3,
            "stated twice (first in line 1; state it once)",
        ),
    ],
)
def test_bad_period_line(tmp_path, preamble, line, expected):
    path = write_csv(tmp_path, [{}], preamble=preamble)
    err = load_error(path)
    assert_one_line_error(err, path, line, "period")
    assert len(err.problems) == 1
    assert expected in err.problems[0]


PERIOD = "# period: 2023-10-07 to 2023-10-26\n"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"start_date": "2023-10-27", "end_date": "2023-10-27"},
            "line 4: start_date/end_date: 2023-10-27 lies outside the period 2023-10-07 to 2023-10-26 "
            "that the file states in line 1 (attack, strike and casualty rows must lie inside it)",
        ),
        (
            {"start_date": "2023-10-25", "end_date": "2023-10-28", "kind": "strike"},
            "line 4: start_date/end_date: 2023-10-25 to 2023-10-28 lies partly outside the period 2023-10-07 "
            "to 2023-10-26 that the file states in line 1",
        ),
        (
            {"start_date": "2023-10-06", "end_date": "2023-10-07"},
            "line 4: start_date/end_date: 2023-10-06 to 2023-10-07 lies partly outside the period",
        ),
    ],
)
def test_counted_row_outside_the_period(tmp_path, row, expected):
    path = write_csv(tmp_path, [{"event_id": "inside"}, {"event_id": "out", **row}], preamble=PERIOD)
    err = load_error(path)
    assert "\n" not in str(err)
    assert len(err.problems) == 1
    assert err.problems[0].startswith(expected)


def test_context_rows_may_lie_outside_the_period(tmp_path):
    context = {"event_id": "c", "kind": "context", "start_date": "2023-10-23", "end_date": "2023-10-27"}
    log = load_events(write_csv(tmp_path, [{"event_id": "a"}, context], preamble=PERIOD))
    assert [event.kind for event in log] == [EventKind.ATTACK, EventKind.CONTEXT]
    assert log.period == (date(2023, 10, 7), date(2023, 10, 26))


def test_comment_after_the_header_is_an_error(tmp_path):
    path = write_csv(tmp_path, [{"event_id": "a"}])
    path.write_text(
        path.read_text() + "# a late note\n" + path.read_text().splitlines()[1].replace("a", "b", 1)
    )
    err = load_error(path)
    assert_one_line_error(err, path, 3, "row")
    assert "comment lines are allowed only before the header" in str(err)
    assert len(err.problems) == 1


def test_coverage_without_a_stated_period(tmp_path):
    rows = [
        {"event_id": "c", "kind": "context", "start_date": "2023-09-01", "end_date": "2023-11-30"},
        {"event_id": "a", "start_date": "2023-10-17", "end_date": "2023-10-20"},
        {"event_id": "s", "kind": "strike", "attacker": "us", "target": "militias",
         "start_date": "2023-10-26", "end_date": "2023-10-26"},
    ]  # fmt: skip
    log = load_events(write_csv(tmp_path, rows))
    assert log.period is None
    assert log.coverage == (date(2023, 10, 17), date(2023, 10, 26))  # the context row does not count
    assert log.select(kind="context").coverage is None
    assert log.select(attacker="militias").coverage == (date(2023, 10, 17), date(2023, 10, 20))


def test_select_and_replace_keep_the_periods(builtin):
    assert builtin.select(attacker="militias").dyad_periods == builtin.dyad_periods
    assert builtin.select(before=date(2023, 10, 20)).period_of("militias", "us") == (
        date(2023, 10, 17), date(2023, 10, 26)
    )  # fmt: skip
    copy = dataclasses.replace(builtin, events=builtin.events[:2])
    assert (len(copy), copy.dyad_periods, copy.data_hash) == (2, builtin.dyad_periods, builtin.data_hash)


def test_event_log_rejects_a_reversed_period(builtin):
    with pytest.raises(ValueError, match="period: ends 2023-10-01, before it starts 2023-10-07"):
        EventLog(builtin.events, "x.csv", "", (date(2023, 10, 7), date(2023, 10, 1)))
    with pytest.raises(ValueError, match="not a pair of dates"):
        EventLog(builtin.events, "x.csv", "", ("2023-10-07", "2023-10-26"))


# --- writing ------------------------------------------------------------------------------------------------


def test_builtin_round_trips_through_write_events(builtin, tmp_path):
    path = write_events(builtin, tmp_path / "copy.csv")
    assert path == tmp_path / "copy.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == [
        "# period militias->us: 2023-10-17 to 2023-10-26",
        "# period us->militias: 2023-10-17 to 2023-10-26",
    ]
    assert lines[2] == ",".join(COLUMNS)
    back = load_events(path, actors=DEFAULT_ACTORS)
    assert back.events == builtin.events
    assert (back.period, back.dyad_periods) == (builtin.period, builtin.dyad_periods)
    assert [file.name for file in tmp_path.iterdir()] == ["copy.csv"]  # no temporary file left


def test_write_events_round_trips_awkward_cells(tmp_path):
    rows = [
        {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19",
         "count_is_lower_bound": "true", "injured": "0", "notes": 'says "at least", then, a comma\nand more'},
        {"event_id": "#2", "start_date": "2023-10-20", "end_date": "2023-10-20", "within": "outer",
         "rung": "proxy strike", "location": "Town, Country"},
    ]  # fmt: skip
    # event_id not first, so that the fixture's "#2" does not start a line; the writer puts it first
    log = load_events(write_csv(tmp_path, rows, columns=[*COLUMNS[1:], "event_id"]))
    assert [event.event_id for event in log] == ["outer", "#2"]
    assert log.period is None
    path = write_events(log, tmp_path / "out.csv")
    text = path.read_text(encoding="utf-8")
    assert not text.startswith("#")  # no period line without a period
    assert '\n"#2",' in text  # quoted, or it would read as a comment line
    back = load_events(path)
    assert back.events == log.events
    assert back.period is None
    (outer, inner) = back
    assert (outer.injured, outer.killed, outer.lower_bound, inner.rung) == (0, None, True, Rung.PROXY_STRIKE)


def test_write_events_replaces_a_file_whole_or_not_at_all(builtin, tmp_path, monkeypatch):
    target = tmp_path / "events.csv"
    target.write_text("old contents\n")
    write_events(builtin.select(kind="strike"), target)
    assert len(load_events(target)) == 1

    def broken_disk(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_disk)
    with pytest.raises(OSError, match="No space left"):
        write_events(builtin, target)
    assert len(load_events(target)) == 1  # the earlier file is intact
    assert [file.name for file in tmp_path.iterdir()] == ["events.csv"]


def test_write_events_into_a_missing_folder_raises(builtin, tmp_path):
    with pytest.raises(FileNotFoundError):
        write_events(builtin, tmp_path / "absent" / "events.csv")
    assert not (tmp_path / "absent").exists()
