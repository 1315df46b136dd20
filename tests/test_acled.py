"""Tests of escalation/acled.py: ACLED-style fixtures import with the expected directions, kinds and rungs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from escalation.acled import DATE_FORMATS, default_mapping_path, import_acled, load_mapping, main
from escalation.events import DEFAULT_ACTORS, EventDataError, EventKind, load_events, write_events
from escalation.ladder import Rung

HEADER = (
    "event_id_cnty,event_date,event_type,sub_event_type,actor1,actor2,"
    "inter1,inter2,country,location,fatalities,notes"
)
ROWS = [
    # 1: a militia drone attack on a US base, no deaths -> militias attack us, no rung given
    "IRQ1,2023-10-18,Explosions/Remote violence,Air/drone strike,Islamic Resistance in Iraq,"
    'Military Forces of the United States (2021-),3,8,Iraq,Ain al-Asad,0,"Drones launched at the base."',
    # 2: a US air strike on militia depots (actor1 = US): a strike by a state
    "SYR1,26 October 2023,Explosions/Remote violence,Air/drone strike,"
    "Military Forces of the United States (2021-),Militia (Pro-Iran),8,3,Syria,Boukamal,0,Depots struck.",
    # 3: a lethal Hezbollah missile attack on Israeli forces -> lethal rung from the fatalities
    "LBN1,2023-10-20,Explosions/Remote violence,Shelling/artillery/missile attack,Hezbollah,"
    "Military Forces of Israel (2022-),3,8,Israel,Shtula,2,Anti-tank missile.",
    # 4: an unknown actor -> reported, not imported
    "IRQ2,2023-10-19,Explosions/Remote violence,Air/drone strike,Unidentified Armed Group (Iraq),"
    "Military Forces of the United States (2021-),3,8,Iraq,Erbil,0,",
    # 5: a sub-event type the mapping does not cover -> reported
    "IRQ3,2023-10-21,Protests,Peaceful protest,Protesters (Iraq),"
    "Military Forces of the United States (2021-),6,8,Iraq,Baghdad,0,",
    # 6: a bad fatality count -> reported
    "IRQ4,2023-10-22,Explosions/Remote violence,Air/drone strike,Islamic Resistance in Iraq,"
    "Military Forces of the United States (2021-),3,8,Syria,Al-Tanf,n/a,",
]


US = "Military Forces of the United States (2021-)"


@pytest.fixture()
def mapping():
    return load_mapping(default_mapping_path())


def write(tmp_path, rows, header=HEADER, name="acled.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def row(event_id, when, actor1, actor2=US, sub_event="Air/drone strike", fatalities="0"):
    """One export row (line numbers: the header is line 1, so the n-th row is line n + 1)."""
    kind = "Explosions/Remote violence"
    return f'{event_id},{when},{kind},{sub_event},"{actor1}","{actor2}",3,8,Iraq,Erbil,{fatalities},'


def test_fixture_imports_with_expected_directions_kinds_and_rungs(tmp_path, mapping):
    result = import_acled(write(tmp_path, ROWS), mapping, actors=DEFAULT_ACTORS)
    events = {e.event_id: e for e in result.events}
    assert set(events) == {"acled-IRQ1", "acled-SYR1", "acled-LBN1"}
    drone = events["acled-IRQ1"]
    assert (drone.attacker, drone.target, drone.kind, drone.rung, drone.killed) == (
        "militias", "us", EventKind.ATTACK, None, 0,
    )  # fmt: skip
    strike = events["acled-SYR1"]
    assert (strike.attacker, strike.target, strike.kind) == ("us", "militias", EventKind.STRIKE)
    assert strike.start.isoformat() == "2023-10-26"
    lethal = events["acled-LBN1"]
    assert (lethal.attacker, lethal.target, lethal.rung, lethal.killed) == (
        "hezbollah",
        "israel",
        Rung.LETHAL,
        2,
    )
    assert len(result.events.data_hash) == 64
    reasons = "\n".join(result.unmapped)
    assert len(result.unmapped) == 3
    assert "line 5: no actor pattern matches 'Unidentified Armed Group (Iraq)'" in reasons
    assert "line 6: sub_event_type 'Peaceful protest' is not in the mapping" in reasons
    assert "line 7: fatalities 'n/a'" in reasons


def test_missing_columns_and_files_are_clear_errors(tmp_path, mapping):
    with pytest.raises(EventDataError, match="missing column"):
        import_acled(write(tmp_path, ROWS[:1], header=HEADER.replace("fatalities", "deaths")), mapping)
    with pytest.raises(EventDataError, match="cannot read"):
        import_acled(tmp_path / "none.csv", mapping)


def test_bad_mappings_name_the_key(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("actors: {us: ['(']}\nsub_event_types: {}\n")
    with pytest.raises(ValueError, match=r"actors\.us: invalid pattern"):
        load_mapping(path)
    path.write_text("actors: {us: [US]}\nsub_event_types: {'Attack': {kind: battle}}\n")
    with pytest.raises(ValueError, match=r"sub_event_types\.Attack\.kind: unknown 'battle'"):
        load_mapping(path)


# --- several actors matching one text -----------------------------------------------------------------------

AMBIGUOUS_MAPPING = """
actors:
  us: ["Military Forces of the United States"]
  militias: ["Islamic Resistance in Iraq", "Kata'?ib Hezbollah"]
  hezbollah: ["Hezbollah(?! Brigades)"]
  israel: ["Military Forces of Israel"]
states: [us, israel]
sub_event_types:
  "Air/drone strike": {kind: auto}
"""


def mapping_file(tmp_path, text, name="mapping.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_actor_matching_several_actors_is_an_error_naming_row_and_patterns(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, AMBIGUOUS_MAPPING))
    rows = [
        row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq"),
        row("IRQ2", "2023-10-19", "Kata'ib Hezbollah"),
        row("ISR1", "2023-10-20", "Military Forces of Israel", actor2="Kata'ib Hezbollah"),
    ]
    path = write(tmp_path, rows)
    with pytest.raises(EventDataError) as info:
        import_acled(path, mapping)
    reason = (
        '"Kata\'ib Hezbollah" matches several actors: militias (pattern "Kata\'?ib Hezbollah"), '
        'hezbollah (pattern "Hezbollah(?! Brigades)"); state their order in the mapping\'s priority list'
    )
    assert info.value.problems == [f"line 3: actor1 {reason}", f"line 4: actor2 {reason}"]
    assert str(info.value).startswith(f"{path}: 2 problems: line 3: actor1")
    assert "\n" not in str(info.value)


def test_priority_decides_and_must_list_every_matched_actor(tmp_path):
    rows = [row("IRQ2", "2023-10-19", "Kata'ib Hezbollah")]
    ranked = load_mapping(mapping_file(tmp_path, AMBIGUOUS_MAPPING + "priority: [militias, hezbollah]\n"))
    (event,) = import_acled(write(tmp_path, rows), ranked).events
    assert (event.attacker, event.target, event.kind) == ("militias", "us", EventKind.ATTACK)
    reversed_order = load_mapping(
        mapping_file(tmp_path, AMBIGUOUS_MAPPING + "priority: [hezbollah, militias]\n")
    )
    assert [e.attacker for e in import_acled(write(tmp_path, rows), reversed_order).events] == ["hezbollah"]
    partial = load_mapping(mapping_file(tmp_path, AMBIGUOUS_MAPPING + "priority: [militias, us]\n"))
    with pytest.raises(EventDataError, match=r"line 2: actor1 .*priority list \(hezbollah not in it\)"):
        import_acled(write(tmp_path, rows), partial)


@pytest.mark.parametrize("text", ["Kata'ib Hezbollah", "Kata\u2019ib Hezbollah", "Kataib Hezbollah (Iraq)"])
def test_shipped_mapping_gives_kataib_hezbollah_to_the_militias(tmp_path, mapping, text):
    assert mapping.priority.index("militias") < mapping.priority.index("hezbollah")
    assert {name for name, _ in mapping.matches(text)} == {"militias", "hezbollah"}  # priority is needed
    assert mapping.actor_of(text) == ("militias", "")
    assert mapping.actor_of("Hezbollah") == ("hezbollah", "")
    (event,) = import_acled(write(tmp_path, [row("IRQ9", "2023-10-19", text)]), mapping).events
    assert (event.attacker, event.target) == ("militias", "us")


# --- dates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2023-10-27", "27 October 2023", "27 october 2023", "27-October-2023", "27-Oct-2023", "27-10-2023",
     "27/10/2023"],
)  # fmt: skip
def test_accepted_date_forms(tmp_path, mapping, text):
    (event,) = import_acled(
        write(tmp_path, [row("IRQ1", text, "Islamic Resistance in Iraq")]), mapping
    ).events
    assert event.start == event.end == date(2023, 10, 27)


def test_day_first_numeric_dates(tmp_path, mapping):
    rows = [row("IRQ1", "07-10-2023", "Islamic Resistance in Iraq"), row("IRQ2", "7/10/2023", "Hezbollah")]
    assert [e.start for e in import_acled(write(tmp_path, rows), mapping).events] == [date(2023, 10, 7)] * 2


@pytest.mark.parametrize("text", ["10/27/2023", "2023/10/27", "27 Oct 2023", "31-02-2023", "27-Okt-2023", ""])
def test_other_dates_are_left_out_naming_the_accepted_forms(tmp_path, mapping, text):
    result = import_acled(write(tmp_path, [row("IRQ1", text, "Islamic Resistance in Iraq")]), mapping)
    assert len(result.events) == 0
    assert result.unmapped == (
        f"line 2: event_date {text!r} is not a date in an accepted form ({', '.join(DATE_FORMATS)})",
    )
    assert "DD-Mon-YYYY" in result.unmapped[0] and "DD/MM/YYYY" in result.unmapped[0]


# --- mapping shape ------------------------------------------------------------------------------------------

GOOD_RULES = "sub_event_types: {'Attack': {kind: auto}}\n"
KNOWN_US = "actors: {us: [US]}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- actors\n- sub_event_types\n",
            "the top level is a list (['actors', 'sub_event_types']); it must be",
        ),
        (
            "actors: {us: 5}\n" + GOOD_RULES,
            "actors.us: is a number (5); allowed: a pattern text or a non-empty",
        ),
        ("actors: {us: [US, 5]}\n" + GOOD_RULES, "actors.us[1]: is a number (5); a pattern must be a text"),
        ("actors: {us: []}\n" + GOOD_RULES, "actors.us: is a list ([]); allowed: a pattern text or"),
        ("actors: {US: [US]}\n" + GOOD_RULES, "actors: 'US' is not an actor name (lower-case"),
        (
            KNOWN_US + "sub_event_types: {'Attack': attack}\n",
            "sub_event_types.Attack: is a text ('attack'); allowed",
        ),
        (
            KNOWN_US + "sub_event_types: {'Attack': {kinds: attack}}\n",
            "Attack: unknown key 'kinds'; allowed: kind,",
        ),
        (
            KNOWN_US + "sub_event_types: {'Attack': {rung: [3]}}\n",
            "Attack.rung: is a list ([3]); allowed: a rung",
        ),
        (
            KNOWN_US + "priority: us\n" + GOOD_RULES,
            "priority: is a text ('us'); allowed: a list of actor names (us)",
        ),
        (
            KNOWN_US + "priority: [us, iran]\n" + GOOD_RULES,
            "priority: 'iran' has no actor patterns; allowed: us",
        ),
        (KNOWN_US + "priority: [us, us]\n" + GOOD_RULES, "priority: 'us' is listed more than once"),
        (KNOWN_US + "states: us\n" + GOOD_RULES, "states: is a text ('us'); allowed: a list of actor names"),
        (
            KNOWN_US + "priorty: [us]\n" + GOOD_RULES,
            "unknown key 'priorty'; allowed: actors, priority, states",
        ),
        ("actors: [us]\n" + GOOD_RULES, "a mapping needs the keys 'actors' and 'sub_event_types', each a"),
        ("actors: {us: [US]\n", "not a readable YAML file ("),
    ],
)
def test_mapping_shape_errors_are_one_line_value_errors_naming_file_and_key(tmp_path, text, expected):
    path = mapping_file(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_mapping(path)
    assert type(info.value) is ValueError
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_mapping_not_utf8(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_bytes("actors: {us: [Forces Armées]}\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"mapping\.yaml: not UTF-8 text .*re-save the mapping as UTF-8"):
        load_mapping(path)


# --- faults of the export -----------------------------------------------------------------------------------


def test_duplicate_event_ids_are_an_error_listing_the_lines(tmp_path, mapping):
    rows = [
        row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq"),
        row("IRQ2", "2023-10-19", "Islamic Resistance in Iraq"),
        row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq"),
        row("IRQ1", "2023-10-20", "Hezbollah"),
    ]
    with pytest.raises(EventDataError) as info:
        import_acled(write(tmp_path, rows), mapping)
    assert [problem.split(" (")[0] for problem in info.value.problems] == [
        "line 4: event_id_cnty 'IRQ1' is already used on line 2",
        "line 5: event_id_cnty 'IRQ1' is already used on line 2",
    ]


def test_export_not_utf8_names_the_line_and_says_to_resave(tmp_path, mapping):
    path = tmp_path / "acled.csv"
    rows = [
        row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq"),
        row("IRQ2", "2023-10-19", "Islamic Resistance in Iraq", actor2="Forces Armées"),
    ]
    text = "\n".join([HEADER, *rows]) + "\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(EventDataError) as info:
        import_acled(path, mapping)
    message = str(info.value)
    assert message.startswith(f"{path}: 1 problem: line 3: file: not valid UTF-8 text")
    assert "re-save the export as UTF-8" in message


def test_quoted_line_breaks_keep_line_numbers_and_short_rows_are_left_out(tmp_path, mapping):
    multi = row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq") + '"first line\nsecond line"'
    rows = [multi, "IRQ2,2023-10-19,Explosions/Remote violence", row("IRQ3", "not a date", "Hezbollah")]
    result = import_acled(write(tmp_path, rows), mapping)
    assert [e.notes for e in result.events] == ["first line\nsecond line"]
    assert result.unmapped == (
        "line 4: has 3 cells but the header has 12 columns",
        f"line 5: event_date 'not a date' is not a date in an accepted form ({', '.join(DATE_FORMATS)})",
    )


# --- period -------------------------------------------------------------------------------------------------


def test_period_is_stated_and_events_outside_it_are_left_out(tmp_path, mapping):
    rows = [
        row("IRQ1", "2023-10-16", "Islamic Resistance in Iraq"),
        row("IRQ2", "2023-10-17", "Islamic Resistance in Iraq"),
        row("IRQ3", "26 October 2023", "Islamic Resistance in Iraq"),
        row("IRQ4", "27-10-2023", "Islamic Resistance in Iraq"),
    ]
    period = (date(2023, 10, 17), date(2023, 10, 26))
    result = import_acled(write(tmp_path, rows), mapping, period=period)
    assert [e.event_id for e in result.events] == ["acled-IRQ2", "acled-IRQ3"]
    assert result.events.period == period
    assert result.events.coverage == period
    assert result.unmapped == (
        "line 2: event_date 2023-10-16 is outside the period 2023-10-17 to 2023-10-26",
        "line 5: event_date 2023-10-27 is outside the period 2023-10-17 to 2023-10-26",
    )
    assert import_acled(write(tmp_path, rows), mapping).events.period is None
    with pytest.raises(ValueError, match="period: ends 2023-10-17, before it starts 2023-10-26"):
        import_acled(write(tmp_path, rows), mapping, period=(period[1], period[0]))


def test_import_round_trips_through_write_events(tmp_path, mapping):
    rows = [*ROWS, row("IRQ9", "20/10/2023", "Kata'ib Hezbollah", fatalities="1")]
    period = (date(2023, 10, 17), date(2023, 10, 26))
    imported = import_acled(write(tmp_path, rows), mapping, actors=DEFAULT_ACTORS, period=period).events
    assert len(imported) == 4
    back = load_events(write_events(imported, tmp_path / "events.csv"), actors=DEFAULT_ACTORS)
    assert back.events == imported.events
    assert back.period == period
    assert by_id(back)["acled-IRQ9"].rung is Rung.LETHAL


def by_id(log):
    return {event.event_id: event for event in log}


# --- the escalation-import command --------------------------------------------------------------------------


def run_main(capsys, *argv):
    """Run the command in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_command_writes_an_event_file_that_loads(tmp_path, capsys):
    export = write(tmp_path, ROWS)
    output = tmp_path / "events.csv"
    code, out, err = run_main(capsys, export, "--output", output, "--period", "2023-10-17", "2023-10-26")
    assert code == 0
    assert out == f"wrote 3 events to {output} (3 rows left out)\n"
    assert err.splitlines() == [
        "  left out: line 5: no actor pattern matches 'Unidentified Armed Group (Iraq)'",
        "  left out: line 6: sub_event_type 'Peaceful protest' is not in the mapping",
        "  left out: line 7: fatalities 'n/a' is not a non-negative integer",
    ]
    log = load_events(output, actors=DEFAULT_ACTORS)
    assert sorted(by_id(log)) == ["acled-IRQ1", "acled-LBN1", "acled-SYR1"]
    assert log.period == (date(2023, 10, 17), date(2023, 10, 26))
    assert {file.name for file in tmp_path.iterdir()} == {"acled.csv", "events.csv"}  # no staging file left


def test_command_lists_ten_left_out_rows_and_counts_the_rest(tmp_path, capsys):
    rows = [row("IRQ0", "2023-10-18", "Islamic Resistance in Iraq")]
    rows += [row(f"IRQ{n}", "2023-10-18", "Nobody") for n in range(1, 13)]
    code, out, err = run_main(capsys, write(tmp_path, rows), "--output", tmp_path / "events.csv")
    assert code == 0
    assert out.endswith("(12 rows left out)\n")
    lines = err.splitlines()
    assert len(lines) == 11
    assert lines[0] == "  left out: line 3: no actor pattern matches 'Nobody'"
    assert lines[-1] == "  ... and 2 more"


def test_command_with_a_missing_mapping_exits_2_with_one_line_and_no_file(tmp_path, capsys):
    output = tmp_path / "events.csv"
    missing = tmp_path / "nope.yaml"
    code, out, err = run_main(capsys, write(tmp_path, ROWS), "--mapping", missing, "--output", output)
    assert code == 2
    assert out == ""
    assert (
        err == f"escalation-import: error: {missing}: cannot read the mapping (No such file or directory)\n"
    )
    assert not output.exists()


@pytest.mark.parametrize(
    ("rows", "extra", "expected"),
    [
        (
            [row("IRQ1", "2023-10-18", "Nobody")],
            [],
            "no row could be imported (1 rows left out; the first: line",
        ),
        ([row("IRQ1", "2023-10-18", "Hezbollah")] * 2, [], "event_id_cnty 'IRQ1' is already used on line 2"),
        (ROWS, ["--period", "2023-10-26", "2023-10-17"], "argument --period: END 2023-10-17 is before START"),
        (
            ROWS,
            ["--period", "2023-10-17", "26/10/2023"],
            "--period: '26/10/2023' is not a date in YYYY-MM-DD",
        ),
        (ROWS, ["--bogus"], "unrecognized arguments: --bogus"),
        (ROWS, [], "acled.csv: 1 problem: line 1: missing column(s) fatalities"),
    ],
)
def test_command_errors_leave_nothing_behind(tmp_path, capsys, rows, extra, expected):
    header = HEADER if "fatalities" not in expected else HEADER.replace("fatalities", "deaths")
    export = write(tmp_path, rows, header=header)
    code, out, err = run_main(capsys, export, "--output", tmp_path / "events.csv", *extra)
    assert (code, out) == (2, "")
    assert err.startswith("escalation-import: error: ")
    assert expected in err
    assert err.count("\n") == 1
    assert [file.name for file in tmp_path.iterdir()] == ["acled.csv"]  # no output, no staging file


def test_command_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    export = write(tmp_path, ROWS)
    output = tmp_path / "events.csv"
    output.write_text("keep me\n")
    code, _, err = run_main(capsys, export, "--output", output)
    assert (code, err) == (
        2,
        f"escalation-import: error: {output}: exists already (use --force to overwrite it)\n",
    )
    assert output.read_text() == "keep me\n"
    code, out, _ = run_main(capsys, export, "--output", output, "--force")
    assert code == 0 and out.startswith("wrote 3 events")
    assert len(load_events(output)) == 3


def test_command_restricts_actors_unless_any_actors(tmp_path, capsys):
    mapping = mapping_file(tmp_path, AMBIGUOUS_MAPPING.replace("israel:", "uk: [Royal Navy]\n  israel:"))
    rows = [row("IRQ1", "2023-10-18", "Islamic Resistance in Iraq"), row("GBR1", "2023-10-19", "Royal Navy")]
    export = write(tmp_path, rows)
    code, out, err = run_main(capsys, export, "--mapping", mapping, "--output", tmp_path / "a.csv")
    assert (code, out) == (0, f"wrote 1 events to {tmp_path / 'a.csv'} (1 rows left out)\n")
    assert "line 3: uk -> us is not a dyad of these actors" in err
    code, out, _ = run_main(
        capsys, export, "--mapping", mapping, "--output", tmp_path / "b.csv", "--any-actors"
    )
    assert (code, out) == (0, f"wrote 2 events to {tmp_path / 'b.csv'} (0 rows left out)\n")
    assert load_events(tmp_path / "b.csv").actors() == {"militias", "us", "uk"}


def test_command_as_a_process_exits_2_without_a_traceback(tmp_path):
    output = tmp_path / "events.csv"
    process = subprocess.run(
        [sys.executable, "-c", "from escalation.acled import main; main()", str(write(tmp_path, ROWS)),
         "--mapping", str(tmp_path / "nope.yaml"), "--output", str(output)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert process.returncode == 2
    assert process.stderr.startswith("escalation-import: error: ")
    assert len(process.stderr.splitlines()) == 1
    assert "Traceback" not in process.stderr
    assert not output.exists()
