"""The escalation ladder: ordered rungs that every simulated or observed event is placed on.

The default ladder follows the model description in ``docs/model.md``. Rungs are an ``IntEnum`` so that
comparisons read like the briefing (``rung >= Rung.LETHAL``). Display names and the regional-war rule are
configurable through :class:`Ladder`; the order and meaning of the rungs are part of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Rung(IntEnum):
    """Rungs of the escalation ladder, lowest first."""

    QUIET = 0
    HARASSMENT = 1
    CASUALTIES = 2
    LETHAL = 3
    PROXY_STRIKE = 4
    PATRON_STRIKE = 5
    DIRECT_INTERSTATE = 6
    REGIONAL_WAR = 7


DEFAULT_RUNG_NAMES: tuple[str, ...] = (
    "quiet",
    "harassment",
    "casualties",
    "lethal",
    "proxy strike",
    "patron strike",
    "direct interstate",
    "regional war",
)


@dataclass(frozen=True)
class Ladder:
    """Display names of the rungs and the rule that turns direct interstate strikes into a regional war.

    Attributes:
        names: one display name per rung, in rung order.
        war_strikes: number of direct interstate strikes (rung 6 events) that makes a regional war ...
        war_window_days: ... when they fall within this many consecutive days.
    """

    names: tuple[str, ...] = DEFAULT_RUNG_NAMES
    war_strikes: int = 3
    war_window_days: int = 14
    _by_name: dict[str, Rung] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.names) != len(Rung):
            raise ValueError(
                f"ladder.names: expected {len(Rung)} names (one per rung), got {len(self.names)}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError("ladder.names: rung names must be distinct")
        if self.war_strikes < 1:
            raise ValueError(f"ladder.war_strikes: must be an integer >= 1, got {self.war_strikes}")
        if self.war_window_days < 1:
            raise ValueError(f"ladder.war_window_days: must be an integer >= 1, got {self.war_window_days}")
        object.__setattr__(self, "_by_name", {n: Rung(i) for i, n in enumerate(self.names)})

    def name(self, rung: int) -> str:
        """Display name of a rung."""
        return self.names[int(rung)]

    def parse(self, value: int | str) -> Rung:
        """Turn a rung number, enum name (``"LETHAL"``) or display name (``"lethal"``) into a :class:`Rung`.

        Raises:
            ValueError: if the value names no rung.
        """
        if isinstance(value, Rung):
            return value
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            number = int(value)
            if 0 <= number < len(Rung):
                return Rung(number)
        elif isinstance(value, str):
            text = value.strip()
            if text in self._by_name:
                return self._by_name[text]
            if text.upper().replace(" ", "_") in Rung.__members__:
                return Rung[text.upper().replace(" ", "_")]
        allowed = ", ".join(f"{i} ({n})" for i, n in enumerate(self.names))
        raise ValueError(f"unknown rung {value!r}; allowed: {allowed}")
