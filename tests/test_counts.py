"""The richer event rows: zero counts, running tallies, casualty rows, dyad periods, each counted once.

Each new row type loads, validates and reaches the calibration's likelihood; each malformed variant gives its
one-line error naming the line and column.
"""

# ruff: noqa: E501  (rows of test records read best one per line)
from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest
import scipy.stats

from escalation import counts
from escalation.calibration import calibrate
from escalation.counts import CountObservation, Reading, casualty_observations, count_observations
from escalation.events import EventKind, load_events, write_events
from escalation.specs import default_scenario
from tests.test_events import load_error, write_csv

ATTACK = EventKind.ATTACK


def tally(event_id, end, count, **flags):
    return {"event_id": event_id, "start_date": "2020-01-01", "end_date": end, "count": str(count),
            "cumulative": "true", **flags}  # fmt: skip


# --- loading and validation ---------------------------------------------------------------------------------


def test_new_row_types_load_and_write_back(tmp_path):
    rows = [
        tally("t1", "2020-01-31", 30),
        tally("t2", "2020-02-29", 25, count_is_approximate="true"),
        {"event_id": "d1", "start_date": "2020-01-05", "end_date": "2020-01-05", "within": "t1", "killed": "1"},
        {"event_id": "zero", "start_date": "2020-03-01", "end_date": "2020-03-31", "count": "0"},
        {"event_id": "cas", "start_date": "2020-03-01", "end_date": "2020-03-31", "kind": "casualties",
         "count": "", "injured": "0"},
    ]  # fmt: skip
    preamble = (
        "# period militias->us: 2020-01-01 to 2020-03-31\n# period us->militias: 2020-01-01 to 2020-02-01\n"
    )
    log = load_events(write_csv(tmp_path, rows, preamble=preamble))
    assert log.period is None
    assert log.period_of("militias", "us") == (date(2020, 1, 1), date(2020, 3, 31))
    assert log.period_of("hamas", "israel") is None
    by_id = {e.event_id: e for e in log}
    assert by_id["t2"].cumulative and by_id["t2"].approximate and not by_id["t2"].lower_bound
    assert by_id["zero"].count == 0 and by_id["cas"].count is None and by_id["cas"].injured == 0
    again = load_events(write_events(log, tmp_path / "again.csv"))
    assert again.events == log.events and again.dyad_periods == log.dyad_periods
    frame = log.to_frame()
    assert frame["count"].isna().sum() == 1 and frame["cumulative"].sum() == 2


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"kind": "casualties", "count": "", "injured": "", "killed": ""}],
         "line 2: injured/killed: both empty on a casualties row"),
        ([{"kind": "casualties", "count": "3", "killed": "1"}], "line 2: count: set on a casualties row"),
        ([{"kind": "context", "cumulative": "true"}], "line 2: cumulative: set on a context row"),
        ([{"count_is_lower_bound": "true", "count_is_approximate": "true"}],
         "line 2: count_is_approximate: also a lower bound"),
        ([{"count": ""}], "line 2: count: empty (required on attack rows"),
        ([{"event_id": "a", "end_date": "2023-10-20"}, {"event_id": "b", "start_date": "2023-10-19",
          "end_date": "2023-10-22"}], "line 3: start_date/end_date: overlaps 'a' (line 2)"),
        ([{"event_id": "a", "count": "0"}, {"event_id": "b"}], "line 3: start_date/end_date: overlaps 'a'"),
        ([tally("t1", "2020-01-31", 3), {**tally("t2", "2020-02-29", 5), "start_date": "2020-01-02"}],
         "line 3: start_date/end_date: overlaps 't1' (line 2)"),
        ([{"event_id": "a", "end_date": "2023-10-20"}, {"event_id": "c", "kind": "casualties", "count": "",
          "killed": "1", "start_date": "2023-10-18", "end_date": "2023-10-25"}],
         "line 3: start_date/end_date: the casualties of 2023-10-18 to 2023-10-25 cut across 'a'"),
        ([{**tally("t", "2020-01-31", 3), "within": "x"}, {"event_id": "x", "start_date": "2020-01-01",
          "end_date": "2020-02-01"}], "line 2: within: set on a running tally"),
    ],
)  # fmt: skip
def test_malformed_new_rows_give_one_line_naming_line_and_column(tmp_path, rows, expected):
    err = load_error(write_csv(tmp_path, rows))
    assert "\n" not in str(err)
    assert any(problem.startswith(expected) for problem in err.problems), err.problems


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("# period militias->militias: 2020-01-01 to 2020-01-31", "names one actor twice"),
        ("# period militias->us 2020-01-01 to 2020-01-31", "is not a period line"),
        (
            "# period militias->us: 2020-01-01 to 2020-01-31\n# period militias->us: 2020-01-01 to 2020-01-31",
            "period of militias->us stated twice",
        ),
    ],
)
def test_bad_dyad_period_lines_are_refused(tmp_path, line, expected):
    err = load_error(write_csv(tmp_path, [{"start_date": "2020-01-05", "end_date": "2020-01-05"}],
                               preamble=line + "\n"))  # fmt: skip
    assert expected in str(err)


def test_a_row_outside_its_dyads_period_is_refused_but_another_dyad_is_free(tmp_path):
    preamble = "# period militias->us: 2020-01-01 to 2020-01-31\n"
    rows = [
        {"event_id": "in", "start_date": "2020-01-05", "end_date": "2020-01-05"},
        {"event_id": "free", "attacker": "hamas", "target": "israel", "start_date": "2021-01-05",
         "end_date": "2021-01-05"},
        {"event_id": "out", "start_date": "2020-02-05", "end_date": "2020-02-05"},
    ]  # fmt: skip
    err = load_error(write_csv(tmp_path, rows, preamble=preamble))
    assert len(err.problems) == 1
    assert err.problems[0].startswith(
        "line 5: start_date/end_date: 2020-02-05 lies outside the period of militias"
    )


# --- counted once -------------------------------------------------------------------------------------------


def test_a_tally_series_is_one_observation_and_its_dated_rows_are_not_counted_again(tmp_path):
    rows = [
        tally("t1", "2020-01-31", 30),
        tally("t2", "2020-02-29", 25),
        {"event_id": "d1", "start_date": "2020-02-05", "end_date": "2020-02-05", "within": "t2"},
        {"event_id": "d2", "start_date": "2020-03-05", "end_date": "2020-03-05"},
    ]
    log = load_events(write_csv(tmp_path, rows))
    observations = count_observations(log, "militias", "us", ATTACK)
    assert [o.event_ids for o in observations] == [("t1", "t2"), ("d2",)]
    resolved = counts.resolved(log)
    increments = [e for e in resolved if e.event_id.startswith("t1#")]
    assert [(e.start, e.end, e.count, e.lower_bound) for e in increments] == [
        (date(2020, 1, 1), date(2020, 1, 31), 30, False),
        (date(2020, 2, 1), date(2020, 2, 29), 0, True),  # revised down: at least 0 more, not minus 5
    ]
    assert {e.event_id: e.within for e in resolved}["d1"] == "t1#2"


def test_the_series_likelihood_is_the_exact_poisson_one_where_the_tallies_are_exact_and_consistent():
    # With zero reporting error the forward pass must give the product of the increments' Poisson
    # probabilities; with the package's small error it stays close (tallies 30 then 50, means 25 and 22).
    observation = CountObservation("a", "b", ATTACK, date(2020, 1, 1), (
        Reading("t1", date(2020, 1, 31), 30, False, False, False),
        Reading("t2", date(2020, 2, 29), 50, False, False, False),
    ))  # fmt: skip
    means = np.array([[25.0, 22.0]])
    exact = scipy.stats.poisson.logpmf(30, 25.0) + scipy.stats.poisson.logpmf(20, 22.0)
    assert counts._forward(observation.readings, means)[0] == pytest.approx(exact, abs=1e-9)
    as_tallies = dataclasses.replace(
        observation, readings=tuple(dataclasses.replace(r, tally=True) for r in observation.readings)
    )
    grid = np.linspace(0.2, 2.0, 181)
    log_lik = counts.log_likelihood(as_tallies, grid[:, None] * np.array([31.0, 29.0])[None, :])
    assert grid[np.argmax(log_lik)] == pytest.approx(50 / 60, abs=0.02)  # the rate the last tally implies


def test_a_downward_revision_is_possible_and_pulls_the_rate_between_the_two_readings():
    readings = (
        Reading("t1", date(2020, 1, 31), 30, False, False, True),
        Reading("t2", date(2020, 2, 29), 25, False, False, True),
    )
    observation = CountObservation("a", "b", ATTACK, date(2020, 1, 1), readings)
    grid = np.linspace(0.1, 2.0, 191)
    log_lik = counts.log_likelihood(observation, grid[:, None] * np.array([31.0, 29.0])[None, :])
    assert np.all(np.isfinite(log_lik))
    best = grid[np.argmax(log_lik)]
    assert 25 / 60 < best < 30 / 31


def test_casualties_are_used_once_and_dated_tolls_inside_a_count_are_lower_bounds(tmp_path):
    rows = [
        {"event_id": "jan", "start_date": "2020-01-01", "end_date": "2020-01-31", "count": "10"},
        {"event_id": "jan-5", "start_date": "2020-01-05", "end_date": "2020-01-05", "within": "jan", "killed": "2"},
        {"event_id": "feb", "start_date": "2020-02-01", "end_date": "2020-02-29", "count": "8", "killed": "1"},
        {"event_id": "mar", "start_date": "2020-03-01", "end_date": "2020-03-31", "count": "5", "killed": "4"},
        {"event_id": "q1", "start_date": "2020-03-01", "end_date": "2020-03-31", "kind": "casualties",
         "count": "", "killed": "3", "injured": "7"},
    ]  # fmt: skip
    used, ignored = casualty_observations(load_events(write_csv(tmp_path, rows)), "militias", "us")
    by_id = {o.event_id: o for o in used}
    assert set(by_id) == {"jan", "feb", "q1"}
    assert by_id["jan"].killed == 2 and by_id["jan"].killed_lower_bound and by_id["jan"].attacks == 10
    assert by_id["q1"].attacks == 5 and by_id["q1"].killed == 3 and not by_id["q1"].killed_lower_bound
    assert [i.event_id for i in ignored] == ["mar"]  # inside the casualties row: counted there


# --- in the calibration -------------------------------------------------------------------------------------


def _militia_file(tmp_path, rows, preamble="# period militias->us: 2023-09-01 to 2023-10-26\n"):
    return load_events(write_csv(tmp_path, rows, preamble=preamble))


def test_days_of_a_stated_period_without_rows_are_zeros_and_days_outside_it_are_unknown(tmp_path):
    # 20 attacks in the last 10 days of a period of 56 days: the period says the other 46 days had none,
    # so the rate is about 20/56; without the period they are unknown and the rate is about 20/10.
    row = {"event_id": "burst", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "20"}
    scenario = default_scenario()
    with_period = calibrate(_militia_file(tmp_path, [row]), scenario, draws=2000)
    without = calibrate(_militia_file(tmp_path, [row], preamble=""), scenario, draws=2000)
    rate = "attacks.militias->us.base_rate"
    assert with_period.summaries[rate]["mean"] == pytest.approx(20 / 56, rel=0.25)
    assert without.summaries[rate]["mean"] == pytest.approx(20 / 10, rel=0.25)
    assert "no rows 2023-09-01 to 2023-10-16" in with_period.summaries[rate]["data"]


def test_a_zero_count_row_enters_the_likelihood(tmp_path):
    scenario = default_scenario()
    burst = {"event_id": "burst", "start_date": "2023-10-17", "end_date": "2023-10-26", "count": "20"}
    quiet = {"event_id": "quiet", "start_date": "2023-09-01", "end_date": "2023-10-16", "count": "0"}
    rate = "attacks.militias->us.base_rate"
    alone = calibrate(_militia_file(tmp_path, [burst], preamble=""), scenario, draws=2000)
    with_zero = calibrate(_militia_file(tmp_path, [burst, quiet], preamble=""), scenario, draws=2000)
    assert with_zero.summaries[rate]["mean"] < 0.5 * alone.summaries[rate]["mean"]
    assert "0 by 2023-10-16 (quiet)" in with_zero.summaries[rate]["data"]


def test_a_dated_row_outside_any_period_is_left_out_and_the_notes_say_so(tmp_path):
    scenario = default_scenario()
    rows = [{"event_id": "notable", "start_date": "2023-10-20", "end_date": "2023-10-20", "killed": "1"}]
    calibration = calibrate(_militia_file(tmp_path, rows, preamble=""), scenario, draws=500)
    # The row is not data for the rate: the rate has its (pooled) prior only.
    assert calibration.summaries["attacks.militias->us.base_rate"]["data"] == "none: the pooled prior only"
    assert any(n.startswith("attacks.militias->us.base_rate: notable: a dated attack outside a stated period")
               for n in calibration.notes)  # fmt: skip
    assert any("casualties: notable left out" in n for n in calibration.notes)


def test_tallies_and_a_casualty_row_reach_the_calibration(tmp_path):
    scenario = default_scenario()
    rows = [
        {"event_id": "t1", "start_date": "2023-09-01", "end_date": "2023-09-30", "count": "30", "cumulative": "true"},
        {"event_id": "t2", "start_date": "2023-09-01", "end_date": "2023-10-26", "count": "60", "cumulative": "true"},
        {"event_id": "toll", "start_date": "2023-09-01", "end_date": "2023-10-26", "kind": "casualties",
         "count": "", "killed": "0"},
    ]  # fmt: skip
    calibration = calibrate(_militia_file(tmp_path, rows), scenario, draws=2000)
    rate = calibration.summaries["attacks.militias->us.base_rate"]
    assert rate["mean"] == pytest.approx(60 / 56, rel=0.15)
    assert "since 2023-09-01: 30 by 2023-09-30 (t1), 60 by 2023-10-26 (t2)" in rate["data"]
    kill = calibration.summaries["attacks.militias->us.kill_probability"]
    assert "60 attacks, unknown injured, 0 killed (toll)" in kill["data"]
    assert kill["mean"] < scenario.attacks[1].kill_probability.mean()
