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

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("escalation")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from escalation.calibration import Calibration, calibrate
from escalation.ensemble import EnsembleResult, run_ensemble
from escalation.events import EventDataError, EventLog, load_builtin_events, load_events
from escalation.history import ObservedHistory, observed_history
from escalation.ladder import Ladder, Rung
from escalation.model import EscalationModel, Outcomes
from escalation.specs import EnsembleSpec, ScenarioSpec, SpecError, build_scenario, default_scenario

__all__ = [
    "Calibration",
    "EnsembleResult",
    "EnsembleSpec",
    "EscalationModel",
    "EventDataError",
    "EventLog",
    "Ladder",
    "ObservedHistory",
    "Outcomes",
    "Rung",
    "ScenarioSpec",
    "SpecError",
    "__version__",
    "build_scenario",
    "calibrate",
    "default_scenario",
    "load_builtin_events",
    "load_events",
    "observed_history",
    "run_ensemble",
]
