"""Tests of the what-if compute (escalation/whatif.py) and page (escalation/whatif_app.py).

The compute tests need no browser. The page is tested twice: with Streamlit's in-process AppTest (fast),
and in a real headless Chromium driven by Selenium against the served page (slow; needs the Debian
packages chromium and chromium-driver, which .ci/run installs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from escalation import whatif
from escalation.ensemble import run_ensemble
from escalation.events import load_builtin_events
from escalation.experiment import arm_calibration_draws
from escalation.specs import EnsembleSpec, SpecError, default_scenario

APP = Path(whatif.__file__).with_name("whatif_app.py")
# Small enough to keep the module fast; the what-if's own numbers are checked at this size too.
REPLICATIONS, SEED, DAYS = 300, 11, 60


@pytest.fixture(scope="module")
def baseline() -> whatif.Baseline:
    ensemble = EnsembleSpec(replications=REPLICATIONS, seed=SEED, workers=1)
    return whatif.prepare_baseline(default_scenario(), load_builtin_events(), ensemble, days=DAYS)


def final_horizon(table):
    return table[table["horizon_days"] == DAYS].set_index("threshold")


def test_no_lever_is_the_baseline_exactly(baseline):
    result = whatif.evaluate(baseline, whatif.Levers())
    table = result.thresholds
    assert list(table["horizon_days"].unique()) == [30, DAYS]
    np.testing.assert_array_equal(table["probability"], table["baseline_probability"])
    assert (table["difference"] == 0).all()
    np.testing.assert_array_equal(
        result.result.outcomes.threshold_days, baseline.result.outcomes.threshold_days
    )
    assert set(result.ladder["arm"]) == {"what-if", "baseline"}
    assert set(result.fan["arm"]) == {"what-if", "baseline"}


def test_a_lever_gives_the_librarys_run_for_the_same_settings_and_seed(baseline):
    levers = whatif.Levers(militia_restraint=0.4, us_retaliation_probability=0.8)
    result = whatif.evaluate(baseline, levers)
    # The same what-if built by hand from the library's pieces.
    scenario = baseline.scenario
    policies = tuple(
        dataclasses.replace(p, retaliation_probability=0.8) if p.state == "us" else p
        for p in scenario.policies
    )
    actors = tuple(
        dataclasses.replace(a, restraint=0.4) if a.name == "militias" else a for a in scenario.actors
    )
    by_hand = dataclasses.replace(scenario, policies=policies, actors=actors)
    draws = arm_calibration_draws(scenario, by_hand, baseline.calibration.draws)
    assert "policy.us.retaliation_probability" not in draws  # the lever fixes it ...
    assert set(draws) == set(baseline.calibration.draws) - {
        "policy.us.retaliation_probability"
    }  # ... only it
    expected = run_ensemble(by_hand, baseline.ensemble, calibration_draws=draws, history=baseline.history)
    np.testing.assert_array_equal(result.result.outcomes.threshold_days, expected.outcomes.threshold_days)
    np.testing.assert_allclose(
        result.thresholds["probability"], expected.threshold_table(baseline.horizons)["probability"]
    )


def test_stopping_the_militias_removes_the_risk_of_a_us_fatality(baseline):
    result = whatif.evaluate(baseline, whatif.Levers(militia_restraint=0.0))
    row = final_horizon(result.thresholds).loc["first_us_fatality"]
    # The militias are the only attackers of US forces in the scenario: with none of their attacks there is
    # no US fatality at all, and the whole baseline probability is the paired difference.
    assert row["probability"] == 0.0
    assert row["difference"] == pytest.approx(-row["baseline_probability"])
    assert row["difference_upper"] < 0


def test_the_truce_lever_adds_a_pause_driver_on_its_day(baseline):
    scenario = whatif.apply_levers(baseline.scenario, whatif.Levers(truce_day=10, truce_hold_probability=0.5))
    (truce,) = [d for d in scenario.drivers if d.name == whatif.TRUCE_DRIVER]
    assert truce.effect == "pause"
    assert truce.factor == 0.5
    assert scenario.day_index(truce.date) == 10
    assert set(truce.attackers) == set(whatif.TRUCE_ATTACKERS)
    no_truce = whatif.apply_levers(baseline.scenario, whatif.Levers(truce_hold_probability=0.5))
    assert whatif.TRUCE_DRIVER not in {d.name for d in no_truce.drivers}
    # A truce that holds from day 10 cuts the attacks on US forces by the run's end.
    result = whatif.evaluate(baseline, whatif.Levers(truce_day=10))
    fan = result.fan[result.fan["day"] == DAYS - 1].set_index("arm")
    assert fan.loc["what-if", "mean"] < fan.loc["baseline", "mean"]


def test_the_date_levers_move_their_drivers(baseline):
    levers = whatif.Levers(invasion_day=20, air_defence_day=5, air_defence_factor=0.25)
    scenario = whatif.apply_levers(baseline.scenario, levers)
    drivers = {d.name: d for d in scenario.drivers}
    assert scenario.day_index(drivers["ground_invasion"].date) == 20
    assert scenario.day_index(drivers["air_defence"].date) == 5
    assert drivers["air_defence"].factor == 0.25
    assert whatif.configured_value(baseline.scenario, "invasion_day") == 1


@pytest.mark.parametrize(
    ("levers", "message"),
    [
        (
            whatif.Levers(us_retaliation_probability=1.5),
            "us_retaliation_probability (policy.us.retaliation_probability): must be a number in [0, 1], "
            "got 1.5",
        ),
        (whatif.Levers(militia_restraint=-1.0), "militia_restraint (actors.militias.restraint): must be"),
        (
            whatif.Levers(truce_day=DAYS),
            f"truce_day (drivers.truce.date): must be a number in [0, {DAYS - 1}]",
        ),
        (whatif.Levers(invasion_day=2.5), "invasion_day (drivers.ground_invasion.date): must be a whole day"),
        (whatif.Levers(us_threshold="high"), "us_threshold (policy.us.threshold): must be a number"),
    ],
)
def test_a_lever_out_of_range_is_a_one_line_error_naming_it(baseline, levers, message):
    with pytest.raises(SpecError) as caught:
        whatif.apply_levers(baseline.scenario, levers)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_defaults_start_at_the_calibrated_mean(baseline):
    draws = baseline.calibration.draws["policy.us.retaliation_probability"]
    assert whatif.lever_default(baseline, "us_retaliation_probability") == pytest.approx(draws.mean())
    assert whatif.lever_default(baseline, "militia_restraint") == 1.0
    assert whatif.lever_default(baseline, "air_defence_day") == 30.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--replications", "0"],
            "escalation-whatif: error: --replications: expected an integer >= 1, got 0",
        ),
        (["--days", "0"], "escalation-whatif: error: --days: must be a whole number >= 1, got 0"),
        (["--port", "0"], "escalation-whatif: error: --port: must be in [1, 65535], got 0"),
    ],
)
def test_the_command_rejects_a_bad_option_in_one_line(capsys, argv, message):
    from escalation.whatif_app import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == message


def displayed(value: float) -> str:
    from escalation.whatif_app import _percent

    return _percent(value)


def test_the_page_shows_the_librarys_numbers_and_follows_a_control(baseline, monkeypatch):
    # Streamlit's AppTest runs the page's script in this process, without a browser.
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(
        sys,
        "argv",
        ["whatif_app.py", "--replications", str(REPLICATIONS), "--seed", str(SEED), "--days", str(DAYS)],
    )
    page = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not page.exception, page.exception
    labels = {t.name: t.label for t in baseline.scenario.thresholds}
    metric = {m.label: m.value for m in page.metric}
    for name, row in final_horizon(baseline.thresholds).iterrows():
        assert metric[f"{labels[name]} by day {DAYS}"] == displayed(row["probability"])
    page.slider(key="militia_restraint").set_value(0.5).run()
    assert not page.exception, page.exception
    expected = final_horizon(whatif.evaluate(baseline, whatif.Levers(militia_restraint=0.5)).thresholds)
    metric = {m.label: m.value for m in page.metric}
    for name, row in expected.iterrows():
        assert metric[f"{labels[name]} by day {DAYS}"] == displayed(row["probability"])
    fatality = f"{labels['first_us_fatality']} by day {DAYS}"
    assert metric[fatality] != displayed(
        final_horizon(baseline.thresholds).loc["first_us_fatality", "probability"]
    )


# ---------------------------------------------------------------------------------------------------------
# In a real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_or_skip() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(reason)  # CI installs them (.ci/run): missing there is a failure, not a skip
    pytest.skip(reason)


@pytest.fixture
def served_page():
    """The page served by ``escalation-whatif`` on a free port; the server is always stopped afterwards."""
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "import sys; from escalation.whatif_app import main; main(sys.argv[1:])",
        *("--replications", str(REPLICATIONS), "--seed", str(SEED), "--days", str(DAYS), "--port", str(port)),
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"the server exited with {server.returncode}: {server.stdout.read().decode()[-2000:]}"
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer,
            ):
                if answer.read() == b"ok":
                    break
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer within 60 s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)


@pytest.mark.slow
def test_in_headless_chromium_a_moved_control_shows_the_librarys_probability(baseline, served_page, tmp_path):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1300"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    labels = {t.name: t.label for t in baseline.scenario.thresholds}
    fatality = f"{labels['first_us_fatality']} by day {DAYS}"

    def shown() -> dict[str, str]:
        values = {}
        for element in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
            label = element.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
            values[label] = element.find_element(
                By.CSS_SELECTOR, '[data-testid="stMetricValue"]'
            ).text.strip()
        return values

    def idle() -> bool:
        return not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"] *')

    try:
        browser.get(served_page)
        wait = WebDriverWait(browser, 120, poll_frequency=0.25)
        wait.until(lambda _: fatality in shown() and idle())
        before = shown()
        assert before[fatality] == displayed(
            final_horizon(baseline.thresholds).loc["first_us_fatality", "probability"]
        )
        # Move the restraint slider with the keyboard, as a user would: ten steps of 0.05 to the left.
        control = browser.find_element(
            By.CSS_SELECTOR, 'input[type="range"][aria-label="Iran\'s restraint of the militias"]'
        )
        control.send_keys(*[Keys.ARROW_LEFT] * 10)
        wait.until(lambda _: shown().get(fatality, before[fatality]) != before[fatality])
        value = float(control.get_attribute("value"))
        assert value == pytest.approx(0.5)
        # The page has caught up with the slider once its caption names the value and nothing is running.
        wait.until(lambda _: f"militia_restraint={value:g}." in browser.page_source and idle())
        expected = final_horizon(whatif.evaluate(baseline, whatif.Levers(militia_restraint=value)).thresholds)
        after = shown()
        for name, row in expected.iterrows():
            assert after[f"{labels[name]} by day {DAYS}"] == displayed(row["probability"]), name
        screenshot = tmp_path / "whatif.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        print(f"screenshot saved at {screenshot}")
    finally:
        browser.quit()
