"""escalation: Monte Carlo estimates of crisis-escalation risk from ensemble-vectorised agent-based models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("escalation")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
