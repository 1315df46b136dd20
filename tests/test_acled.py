"""Tests of escalation/acled.py: an ACLED-style fixture imports with the expected directions and rungs."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from escalation.acled import import_acled, load_mapping
from escalation.events import EventDataError, EventKind
from escalation.ladder import Rung
from escalation.specs import default_scenario

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


@pytest.fixture()
def mapping():
    path = resources.files("escalation").joinpath("data", "acled_mapping_october_2023.yaml")
    return load_mapping(Path(str(path)))


def write(tmp_path, rows, header=HEADER):
    path = tmp_path / "acled.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_fixture_imports_with_expected_directions_kinds_and_rungs(tmp_path, mapping):
    result = import_acled(write(tmp_path, ROWS), mapping, actors=default_scenario().actor_names)
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
