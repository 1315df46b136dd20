"""Tests of escalation/history.py: observed events laid out day by day before a scenario's start."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from escalation.events import load_builtin_events
from escalation.history import observed_history


def test_interval_counts_are_spread_and_within_rows_skipped(scenario):
    history = observed_history(load_builtin_events(), scenario)
    assert history.days[0] == date(2023, 10, 7) and history.days[-1] == date(2023, 10, 26)
    militias = next(d for d, a in enumerate(scenario.attacks) if a.key == "militias->us")
    # 19 attacks over 17-26 October, 1.9 a day; the three dated attacks inside the interval are not added.
    assert np.isclose(history.attacks[:, militias].sum(), 19.0)
    assert np.allclose(history.attacks[10:, militias], 1.9)
    assert np.isclose(history.injured[:, militias].sum(), 24.0)
    # The interval's death has no date, so it does not set the lethal trigger; the dated 7 October one does.
    assert not history.lethal[:, militias].any()
    hamas = next(d for d, a in enumerate(scenario.attacks) if a.key == "hamas->israel")
    assert history.lethal[0, hamas]
    us_militias = next(e for e, r in enumerate(scenario.retaliations) if r.key == "us->militias")
    assert history.strikes[-1, us_militias, 0] == 1.0
    assert history.unmatched == ()


def test_only_days_before_the_start_are_history(scenario):
    mid = dataclasses.replace(scenario, start=date(2023, 10, 22))
    history = observed_history(load_builtin_events(), mid)
    militias = next(d for d, a in enumerate(scenario.attacks) if a.key == "militias->us")
    assert history.days[-1] == date(2023, 10, 21)
    assert np.isclose(history.attacks[:, militias].sum(), 1.9 * 5)
    assert history.strikes.sum() == 0


def test_events_without_a_dyad_are_reported(scenario):
    reduced = dataclasses.replace(
        scenario, attacks=tuple(a for a in scenario.attacks if a.key != "hamas->israel")
    )
    history = observed_history(load_builtin_events(), reduced)
    assert history.unmatched == ("hamas-attack-oct07",)
