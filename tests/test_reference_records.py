"""The packaged reference-class records of earlier crises: they load, cite every row, keep out of sample."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest

from escalation.events import COUNTED_KINDS, load_events

RECORDS = sorted(Path(str(files("escalation").joinpath("data", "reference"))).glob("*.csv"))
LAST_ALLOWED = date(2023, 10, 6)  # the records end before the October 2023 crisis (out-of-sample rule)


def test_the_five_reference_records_are_packaged():
    assert [path.name for path in RECORDS] == [
        "houthis_maritime_2016_2023.csv",
        "houthis_saudi_2015_2023.csv",
        "israel_hezbollah_2006_2023.csv",
        "israel_iran_syria_2017_2023.csv",
        "us_militias_2019_2023.csv",
    ]


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_a_reference_record_loads_cites_every_row_and_ends_before_the_crisis(path):
    log = load_events(path)
    assert len(log) >= 40
    assert all(event.source.strip() for event in log)
    assert all("http" in event.source for event in log), "every row names the page it comes from"
    assert log.last_date <= LAST_ALLOWED
    assert log.period is None and not log.dyad_periods  # the records have gaps: they claim no complete period
    assert sum(event.kind in COUNTED_KINDS for event in log) >= 20
