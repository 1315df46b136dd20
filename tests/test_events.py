import csv
import hashlib
import pickle
import re
from datetime import date

import pandas as pd
import pytest

from escalation.events import (
    COLUMNS,
    DEFAULT_ACTORS,
    EventDataError,
    EventKind,
    builtin_events_path,
    load_builtin_events,
    load_events,
)
from escalation.ladder import Rung

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


def write_events(tmp_path, rows, columns=None, name="events.csv"):
    """Write rows (dicts overriding GOOD_ROW) to a CSV; the first data row is line 2."""
    columns = list(columns or COLUMNS)
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
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
    path = write_events(tmp_path, rows, columns=[*columns, "source", "count_is_lower_bound"])
    log = load_events(path)
    assert [event.lower_bound for event in log] == [True, False, True, False]
    assert all(event.injured is None and event.rung is None and event.notes == "" for event in log)


def test_zero_casualties_differ_from_unknown(tmp_path):
    path = write_events(tmp_path, [{"event_id": "a", "injured": "0", "killed": ""}])
    (event,) = load_events(path)
    assert event.injured == 0
    assert event.killed is None


def test_rung_accepts_number_and_name(tmp_path):
    path = write_events(tmp_path, [{"event_id": "a", "rung": "2"}, {"event_id": "b", "rung": "lethal"}])
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
        ({"count": "-1"}, "count", ">= 1"),
        ({"count": "0"}, "count", ">= 1"),
        ({"count": "2.5"}, "count", ">= 1"),
        ({"count": ""}, "count", ">= 1"),
        ({"injured": "2.5"}, "injured", ">= 0"),
        ({"injured": "-1"}, "injured", ">= 0"),
        ({"killed": "x"}, "killed", ">= 0"),
        ({"kind": "raid"}, "kind", "unknown kind 'raid' (allowed: attack, strike, context)"),
        ({"count_is_lower_bound": "maybe"}, "count_is_lower_bound", "true/false"),
        ({"rung": "nuclear"}, "rung", "unknown rung"),
        ({"rung": "9"}, "rung", "unknown rung"),
        ({"source": ""}, "source", "required"),
        ({"event_id": ""}, "event_id", "required"),
        ({"attacker": "Hamas"}, "attacker", "lower-case"),
    ],
)
def test_bad_cell_is_reported_with_line_and_column(tmp_path, row, column, expected):
    path = write_events(tmp_path, [{"event_id": "ok"}, {"event_id": "bad", **row}])
    err = load_error(path, actors=DEFAULT_ACTORS)
    assert_one_line_error(err, path, 3, column)
    assert len(err.problems) == 1
    assert expected in err.problems[0]


def test_unknown_actor_only_checked_when_actors_given(tmp_path):
    path = write_events(tmp_path, [{"attacker": "uk"}])
    (event,) = load_events(path)
    assert event.attacker == "uk"
    assert "allowed: us, iran" in str(load_error(path, actors=DEFAULT_ACTORS))


def test_duplicate_event_id(tmp_path):
    path = write_events(tmp_path, [{"event_id": "x"}, {"event_id": "y"}, {"event_id": "x"}])
    err = load_error(path)
    assert_one_line_error(err, path, 4, "event_id")
    assert "already used on line 2" in str(err)


def test_missing_column(tmp_path):
    path = write_events(tmp_path, [{}], columns=[column for column in COLUMNS if column != "source"])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "header")
    assert "missing required columns source" in str(err)


def test_unknown_column_is_named(tmp_path):
    path = write_events(tmp_path, [{}], columns=[*COLUMNS, "fatalities"])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "header")
    assert "unknown columns fatalities" in str(err)


def test_row_with_wrong_number_of_cells(tmp_path):
    path = write_events(tmp_path, [{}])
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
    path = write_events(tmp_path, [outer, {"event_id": "inner", **inner}])
    err = load_error(path)
    assert_one_line_error(err, path, 3, "within")
    assert expected in str(err)


def test_within_may_not_nest(tmp_path):
    rows = [
        {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19"},
        {"event_id": "middle", "start_date": "2023-10-20", "end_date": "2023-10-22", "within": "outer"},
        {"event_id": "inner", "start_date": "2023-10-21", "end_date": "2023-10-21", "within": "middle"},
    ]
    err = load_error(write_events(tmp_path, rows))
    assert err.problems == [err.problems[0]]
    assert err.problems[0].startswith("line 4: within: 'middle' is itself within 'outer'")


def test_good_within_loads(tmp_path):
    rows = [
        {"event_id": "inner", "start_date": "2023-10-26", "end_date": "2023-10-26", "within": "outer"},
        {"event_id": "outer", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "19"},
    ]
    log = load_events(write_events(tmp_path, rows))
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
    path = write_events(tmp_path, [])
    err = load_error(path)
    assert_one_line_error(err, path, 1, "file")
    assert "no event rows" in str(err)


def test_not_utf8(tmp_path):
    path = write_events(tmp_path, [{}])
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
    path = write_events(tmp_path, rows)
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
