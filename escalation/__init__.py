"""escalation: Monte Carlo estimates of crisis-escalation risk from ensemble-vectorised agent-based models.

The library is usable without Hydra::

    from escalation import (load_builtin_events, default_scenario, calibrate, observed_history,
                            run_ensemble, EnsembleSpec)

    events = load_builtin_events()
    scenario = default_scenario()
    calibration = calibrate(events, scenario)
    result = run_ensemble(scenario, EnsembleSpec(replications=10_000),
                          calibration_draws=calibration.draws,
                          history=observed_history(events, scenario))
    result.threshold_table(horizons=(30, 90, 180))
"""

# Public names, imported on first use so that ``import escalation`` (and the command's --help) stays fast;
# ``__version__`` too (reading the installed metadata imports importlib.metadata and the email package).
_EXPORTS = {
    "Calibration": "escalation.calibration",
    "calibrate": "escalation.calibration",
    "EnsembleResult": "escalation.ensemble",
    "run_ensemble": "escalation.ensemble",
    "EventDataError": "escalation.events",
    "EventLog": "escalation.events",
    "load_builtin_events": "escalation.events",
    "load_events": "escalation.events",
    "ObservedHistory": "escalation.history",
    "observed_history": "escalation.history",
    "Ladder": "escalation.ladder",
    "Rung": "escalation.ladder",
    "EscalationModel": "escalation.model",
    "Outcomes": "escalation.model",
    "EnsembleSpec": "escalation.specs",
    "ScenarioSpec": "escalation.specs",
    "SpecError": "escalation.specs",
    "build_scenario": "escalation.specs",
    "default_scenario": "escalation.specs",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("escalation")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'escalation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
