"""Reference backtests (escalation.reference_backtest): targets, baselines, leave-one-out, the command."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from escalation.events import EventKind, load_events
from escalation.pooling import reference_dir
from escalation.reference_backtest import (
    VARIANTS,
    _run,
    _segments,
    baseline_rates,
    campaign_rows,
    episode_entries,
    episodes,
    run_origin,
    summary_table,
    targets,
    variant_scenario,
)
from escalation.report.reference_backtest import main
from escalation.specs import EnsembleSpec

HEADER = (
    "event_id,start_date,end_date,attacker,target,kind,count,count_is_lower_bound,count_is_approximate,"
    "cumulative,injured,killed,rung,within,location,source,notes\n"
)


def _record(tmp_path, rows: list[str]):
    path = tmp_path / "r.csv"
    padded = [row + "," * (15 - row.count(",")) for row in rows]  # empty cells up to the source column
    path.write_text(HEADER + "".join(f"{row}test source,\n" for row in padded), encoding="utf-8")
    return load_events(path)


def test_targets_are_runs_of_contiguous_count_rows_from_each_origin(tmp_path):
    log = _record(
        tmp_path,
        [
            "jan,2020-01-01,2020-01-31,a,b,attack,10,false",
            "feb,2020-02-01,2020-02-29,a,b,attack,5,false",
            "mar,2020-03-01,2020-03-31,a,b,attack,7,true",
            # a gap in April: a run cannot cross it
            "may,2020-05-01,2020-05-31,a,b,attack,2,false",
            "jun,2020-06-01,2020-06-30,a,b,attack,0,false",
            "incident,2020-07-04,2020-07-04,a,b,attack,1,false",  # a dated incident: never a target
        ],
    )
    found = {
        (t.origin.isoformat(), t.horizon): (t.end.isoformat(), t.count, t.lower_bound)
        for t in targets(log, "r", "a", "b")
    }
    assert found == {
        ("2020-01-01", 30): ("2020-01-31", 10, False),
        ("2020-01-01", 90): ("2020-03-31", 22, True),  # 91 days, and March's figure is a lower bound
        ("2020-02-01", 30): ("2020-02-29", 5, False),
        ("2020-02-01", 90): ("2020-03-31", 12, True),
        ("2020-03-01", 30): ("2020-03-31", 7, True),
        ("2020-05-01", 30): ("2020-05-31", 2, False),
        ("2020-05-01", 90): ("2020-06-30", 2, False),
        ("2020-06-01", 30): ("2020-06-30", 0, False),
    }


def test_baselines_read_days_without_rows_as_unknown_not_zero(tmp_path):
    log = _record(
        tmp_path,
        [
            "jan19,2019-01-01,2019-01-31,a,b,attack,62,false",
            "jan,2020-01-01,2020-01-31,a,b,attack,31,false",
            "mar,2020-03-01,2020-03-31,a,b,attack,62,false",
        ],
    )
    rates = baseline_rates(log, "a", "b", dt.date(2020, 4, 1), dt.date(2020, 4, 30))
    assert rates["no change"] == pytest.approx(2.0)
    assert rates["constant rate"] == pytest.approx(155 / 93)  # February unknown: not 155 / (93 + 29 + ...)
    assert "climatology" not in rates  # April 2019 is unknown
    january = baseline_rates(log, "a", "b", dt.date(2020, 1, 1), dt.date(2020, 1, 31))
    assert january == {"no change": 2.0, "constant rate": 2.0, "climatology": 2.0}
    assert baseline_rates(log, "a", "b", dt.date(2019, 1, 1), dt.date(2019, 1, 31)) == {}


def test_an_episode_is_never_in_the_prior_that_forecasts_it():
    record = "us_militias_2019_2023.csv"
    log = load_events(reference_dir() / record)
    due = [t for t in targets(log, record, "militias", "us") if t.origin == dt.date(2020, 3, 3)]
    result = run_origin(
        record, log, episodes()[record], dt.date(2020, 3, 3), due, EnsembleSpec(replications=50, seed=3),
        calibration_draws=100,
    )  # fmt: skip
    assert record not in result.pooled_records
    assert result.pooled_records == ("houthis_saudi_2015_2023.csv",)
    hand = run_origin(
        record, log, episodes()[record], dt.date(2020, 3, 3), due, EnsembleSpec(replications=50, seed=3),
        calibration_draws=100, priors="hand",
    )  # fmt: skip
    assert hand.pooled_records == ()  # the scenario's own priors: no pool read
    assert set(result.scores["forecaster"]) == {"model", "no change", "constant rate"}
    assert set(result.scores["horizon"]) == {30, 90}
    assert result.scores["crps"].notna().all()


def test_summary_compares_forecasters_on_the_same_targets():
    rows = []
    first = {"model": 1.0, "no change": 2.0, "constant rate": 4.0}
    second = {"model": 3.0, "no change": 2.0, "constant rate": 4.0, "climatology": 6.0}
    for origin, crps in (("2020-01-01", first), ("2020-02-01", second)):
        for name, value in crps.items():
            rows.append({"record": "r", "dyad": "a->b", "origin": pd.Timestamp(origin), "horizon": 30,
                         "forecaster": name, "lower_bound": False, "crps": value,
                         "covered_50": True, "covered_90": True})  # fmt: skip
    table = summary_table(pd.DataFrame(rows)).set_index(["record", "horizon"])
    line = table.loc[("r", "30")]
    assert line["model_crps"] == 2.0 and line["targets"] == 2
    assert line["skill_vs_no_change"] == pytest.approx(0.0)
    assert line["skill_vs_constant_rate"] == pytest.approx(0.5)
    assert line["climatology_targets"] == 1
    assert line["skill_vs_climatology"] == pytest.approx(1 - 3.0 / 6.0)  # on its own target only


def test_the_command_writes_the_table_and_says_where_each_origin_s_priors_came_from(tmp_path, capsys):
    out = tmp_path / "out"
    main(
        [
            "--out",
            str(out),
            "--replications",
            "30",
            "--draws",
            "50",
            "--records",
            "houthis_saudi_2015_2023.csv",
        ]
    )
    printed = capsys.readouterr().out
    assert "| all records | all |" in printed
    assert (out / "table.md").read_text(encoding="utf-8") in printed
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["records"] == ["houthis_saudi_2015_2023.csv"]
    for origin in run["origins"]:
        assert "houthis_saudi_2015_2023.csv" not in origin["pooled_priors_from"]
    scores = pd.read_parquet(out / "scores.parquet")
    assert set(scores["record"]) == {"houthis_saudi_2015_2023.csv"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--replications", "0"], "--replications: must be an integer in 1..200,000, got 0"),
        (["--draws", "1"], "--draws: must be an integer in 2..100,000, got 1"),
        (["--records", "nope.csv"], "records: no reference backtest for nope.csv; allowed: "),
        (["--priors", "nope"], "--priors: unknown 'nope'; allowed: reference_class, hand"),
        (
            ["--variant", "nope"],
            "--variant: unknown 'nope'; allowed: today, truces, pauses, overdispersion, truces_frailty, ",
        ),
    ],
)
def test_bad_arguments_get_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "out"), *argv])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not (tmp_path / "out").exists()


def test_a_malformed_episode_file_gets_a_one_line_error_naming_it(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "episodes.yaml").write_text("r.csv: s.yaml\n", encoding="utf-8")
    (tmp_path / "scenarios" / "s.yaml").write_text("scenario: {}\nactors: october_2023\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"s\.yaml: expected the keys actors, policy and scenario"):
        episodes(tmp_path / "episodes.yaml")
    (tmp_path / "scenarios" / "s.yaml").write_text(
        "scenario: {name: x}\nactors: october_2023\npolicy: calibrated\n", encoding="utf-8"
    )
    with pytest.raises(ValueError) as error:
        episodes(tmp_path / "episodes.yaml")
    assert str(error.value).startswith(str(tmp_path / "scenarios" / "s.yaml")) and "\n" not in str(
        error.value
    )


def test_a_count_between_two_tallies_is_exact_only_if_both_tallies_are(tmp_path):
    log = _record(
        tmp_path,
        [
            "t1,2020-01-01,2020-01-10,a,b,attack,10,true,false,true",  # at least 10
            "t2,2020-01-01,2020-01-20,a,b,attack,19,false,false,true",  # 19: after a lower bound
            "t3,2020-01-01,2020-01-30,a,b,attack,25,false,true,true",  # about 25
            "t4,2020-01-01,2020-02-09,a,b,attack,24,false,false,true",  # 24: revises the last one down
            "t5,2020-01-01,2020-02-19,a,b,attack,30,false,false,true",
        ],
    )
    runs = {t.origin.isoformat(): t for t in targets(log, "r", "a", "b") if t.horizon == 30}
    # A count is the difference of the readings at its two ends; what lies between does not matter.
    assert (runs["2020-01-11"].count, runs["2020-01-11"].status) == (14, "upper bound")  # 24 - "at least 10"
    assert (runs["2020-01-21"].count, runs["2020-01-21"].status) == (11, "exact")  # 30 - 19
    assert (runs["2020-01-31"].count, runs["2020-01-31"].status) == (5, "approximate")  # 30 - about 25
    assert (runs["2020-02-10"].count, runs["2020-02-10"].status) == (6, "exact")  # 30 - 24
    assert runs["2020-01-01"].status == "approximate"  # about 25 by day 30, the longest run within 31 days
    fourth = next(seg for seg in _segments(log, "a", "b") if seg.start == dt.date(2020, 1, 31))
    assert _run([fourth])[:2] == (0, "revised")  # 24 after about 25: a downward revision
    # Every scored target reads only exact figures (or ends on a lower bound).
    for t in targets(log, "r", "a", "b"):
        assert t.scored == (t.status in ("exact", "lower bound"))
    # The baselines use known values only: "at least 10" and the revised step are not rates.
    rates = baseline_rates(log, "a", "b", dt.date(2020, 2, 20), dt.date(2020, 3, 19))
    assert rates["constant rate"] == pytest.approx(30 / 50)
    assert rates["no change"] == pytest.approx(6 / 10)


def test_a_variant_keeps_only_its_mechanisms_and_only_the_drivers_known_at_the_origin():
    scenario = episodes()["us_militias_2019_2023.csv"]
    militias = next(d for d in scenario.attacks if d.key == "militias->us")
    assert militias.pause_hazard != 0 and militias.rate_frailty != 0 and scenario.drivers
    before, on = dt.date(2020, 10, 10), dt.date(2020, 10, 11)
    today = variant_scenario(scenario, "today", on)
    assert not today.drivers and all(d.pause_hazard == 0 and d.rate_frailty == 0 for d in today.attacks)
    truces = variant_scenario(scenario, "truces", on)
    assert [d.name for d in truces.drivers] == ["militia_truce_2020"]
    assert all(d.pause_hazard == 0 and d.rate_frailty == 0 for d in truces.attacks)
    # The truce of 11 October is not known on the 10th: a backtest from then cannot use it.
    assert not variant_scenario(scenario, "full", before).drivers
    full = variant_scenario(scenario, "full", on)
    assert next(d for d in full.attacks if d.key == "militias->us") == militias
    with pytest.raises(ValueError, match="variant: unknown 'x'; allowed: today, truces"):
        variant_scenario(scenario, "x")


def test_a_truce_known_at_the_origin_lowers_the_forecast_during_the_truce():
    # From the militias' truce of 11 October 2020 the record counts 3 attacks in 71 days. Today's model
    # forecasts the campaign's recent rate; with the truce (its paused rate and resume hazard pooled from
    # the Houthi record alone, this record left out) the forecast median falls below a tenth of it.
    log = load_events(reference_dir() / "us_militias_2019_2023.csv")
    due = [
        t
        for t in targets(log, "us_militias_2019_2023.csv", "militias", "us")
        if t.origin == dt.date(2020, 10, 11)
    ]
    assert [(t.count, t.days) for t in due] == [(3, 71)]
    scenario = episodes()["us_militias_2019_2023.csv"]
    crps = {}
    for variant in ("today", "truces"):
        result = run_origin(
            "us_militias_2019_2023.csv",
            log,
            scenario,
            dt.date(2020, 10, 11),
            due,
            EnsembleSpec(replications=200, seed=1, workers=1),
            calibration_draws=200,
            variant=variant,
        )
        model = result.scores[result.scores["forecaster"] == "model"].iloc[0]
        crps[variant] = model["crps"]
        assert "us_militias_2019_2023.csv" not in result.pooled_records
    assert crps["truces"] < 0.3 * crps["today"]


def test_the_comparison_scores_every_variant_on_the_same_targets(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--out", str(out), "--replications", "30", "--draws", "50", "--compare"]
    main([*argv, "--records", "houthis_saudi_2015_2023.csv"])
    printed = capsys.readouterr().out
    assert "default variant: truces_frailty" in printed
    comparison = pd.read_parquet(out / "comparison.parquet")
    assert set(comparison["variant"]) == set(VARIANTS)
    pooled = comparison[(comparison["record"] == "all records") & (comparison["horizon"] == "all")]
    assert pooled["targets"].nunique() == 1 and len(pooled) == len(VARIANTS)
    assert pooled.set_index("variant").loc["today", "skill_vs_today"] == 0.0
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["variant"] == "truces_frailty" and set(run["compared"]) == set(VARIANTS)
    assert (out / "comparison.md").read_text(encoding="utf-8") in printed


def test_a_state_campaign_s_strike_rows_are_read_as_its_attacks_and_counted_in_its_own_units(tmp_path):
    log = _record(
        tmp_path,
        [
            "t1,2023-01-01,2023-03-07,s,x,strike,4,false,false,true,,30",
            "t2,2023-01-01,2023-04-03,s,x,strike,10,false,false,true",
            "in,2023-03-22,2023-03-22,s,x,strike,1,false,false,false,2,1,,t2",
            "wave,2018-02-10,2018-02-10,s,x,strike,8,false,false,false",  # 8 targets hit on one day
            "other,2023-02-01,2023-02-01,s,y,strike,3,false,false,false",  # not the campaign's dyad
        ],
    )
    read = {e.event_id: e for e in campaign_rows(log, [("s", "x")])}
    assert {read[i].kind for i in ("t1", "t2", "in", "wave")} == {EventKind.ATTACK}
    assert read["other"].kind == EventKind.STRIKE and read["other"].count == 3
    assert (read["t2"].count, read["t2"].cumulative, read["in"].within) == (10, True, "t2")
    assert read["t1"].killed is None and read["in"].injured is None  # casualties are not the campaign's count
    assert (read["wave"].count, read["wave"].lower_bound) == (1, False)  # one raid, not eight attacks
    read_log = campaign_rows(log, [("s", "x")])
    found = {(t.origin.isoformat(), t.count, t.status) for t in targets(read_log, "r", "s", "x")}
    assert ("2023-03-08", 6, "exact") in found  # 10 - 4 between the two tallies
    assert not any(t.origin.year == 2018 for t in targets(read_log, "r", "s", "x"))  # the raid is an incident
    assert campaign_rows(log, []) is log


def test_the_israel_syria_episode_scores_the_campaign_s_tallies_with_nothing_of_the_record_in_its_priors():
    record = "israel_iran_syria_2017_2023.csv"
    entry = episode_entries()[record]
    assert entry.campaigns == (("israel", "syria"),)
    log = campaign_rows(load_events(reference_dir() / record), entry.campaigns)
    exact = [t for t in targets(log, record, "israel", "syria") if t.status == "exact"]
    # The 2023 series (SOHR, Haaretz): 4 by 7 March, 10 by 3 April, 12 by 10 April, ...
    assert (dt.date(2023, 3, 8), dt.date(2023, 4, 3), 6) in {(t.origin, t.end, t.count) for t in exact}
    origin = dt.date(2023, 3, 8)
    due = [t for t in exact if t.origin == origin]
    result = run_origin(record, log, entry.scenario, origin, due, EnsembleSpec(replications=50, seed=3),
                        calibration_draws=100)  # fmt: skip
    assert result.pooled_records == ()  # no pool describes a state's campaign; the policy pool is unused
    assert set(result.scores["dyad"]) == {"israel->syria"}
    assert result.scores["crps"].notna().all()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{scenario: s.yaml}", "r.csv: expected the scenario file's name, or the keys campaigns, scenario"),
        ("{scenario: s.yaml, campaigns: [a-b]}", "r.csv.campaigns: 'a-b' is not ATTACKER->TARGET"),
        (
            "{scenario: s.yaml, campaigns: [militias->us]}",
            "r.csv.campaigns: militias->us is not a background attack dyad of s.yaml (allowed: ",
        ),
    ],
)
def test_a_malformed_campaigns_entry_gets_a_one_line_error_naming_the_file(tmp_path, entry, message):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "episodes.yaml").write_text(f"r.csv: {entry}\n", encoding="utf-8")
    source = reference_dir() / "scenarios" / "us_militias.yaml"
    (tmp_path / "scenarios" / "s.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ValueError) as error:
        episode_entries(tmp_path / "episodes.yaml")
    assert str(error.value).startswith(str(tmp_path / "episodes.yaml")) and message in str(error.value)
    assert "\n" not in str(error.value)
