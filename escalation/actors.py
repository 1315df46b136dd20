"""Actors as Mesa agents that decide for every replication of an ensemble at once.

An :class:`ActorAgent` owns the attack dyads it attacks on and the retaliation dyads it answers on. Each
day it reads the model's state as of the end of the previous day and writes its intentions (attacks per
target, strikes per retaliation dyad and their level) into the model's arrays. Because agents read only
yesterday's state and write only their own slots, and every decision draws from its own named stream, the
order in which agents act never matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from escalation import rules
from escalation.streams import DailyUniforms

if TYPE_CHECKING:
    from escalation.model import EscalationModel


class ActorAgent(mesa.Agent):
    """One actor of the scenario, vectorised over the model's replications.

    Attributes:
        name: the actor's name.
        attack_dyads: indices of the attack dyads on which this actor is the attacker.
        retaliation_dyads: indices of the retaliation dyads on which this actor is the retaliating state.
    """

    model: EscalationModel

    def __init__(self, model: EscalationModel, index: int) -> None:
        super().__init__(model)
        scenario = model.scenario
        self.index = index
        self.name = scenario.actors[index].name
        self.attack_dyads = [d for d, dyad in enumerate(scenario.attacks) if dyad.attacker == self.name]
        self.retaliation_dyads = [
            e for e, dyad in enumerate(scenario.retaliations) if dyad.state == self.name
        ]

        # Every decision stream gives one uniform per replication a day, whatever happened (common random
        # numbers), so each is drawn ahead a block of days at a time.
        def daily(name: str) -> DailyUniforms:
            return DailyUniforms(model.streams(name), (model.replications,), scenario.horizon_days)

        self._attack_streams = [daily(f"attacks:{scenario.attacks[d].key}") for d in self.attack_dyads]
        self._fire_streams = [
            daily(f"retaliate:{scenario.retaliations[e].key}") for e in self.retaliation_dyads
        ]
        self._level_streams = [daily(f"level:{scenario.retaliations[e].key}") for e in self.retaliation_dyads]
        self._retaliation_columns = np.array(self.retaliation_dyads, dtype=np.int64)

    def decide(self) -> None:
        """Choose today's attack intensities and strikes from yesterday's state, for every replication.

        The attack counts are drawn from the intensities and this actor's uniforms by the model, for all dyads
        in one sampler call (:meth:`EscalationModel._draw_attacks`).
        """
        self._decide_attacks()
        self._decide_strikes()

    def _decide_attacks(self) -> None:
        m = self.model
        restraint = m.effective_restraint(self.index) if self.attack_dyads else None
        for d, stream in zip(self.attack_dyads, self._attack_streams, strict=True):
            intensity = rules.attack_intensity(
                m.base_rate[:, d] * m.base_rate_multiplier[:, d],
                m.excitation[:, d],
                m.memories.provocation[:, d],
                m.deterrence[:, d],
                m.memories.punishment[:, d],
                restraint,
            )
            if m.has_frailty[d]:
                intensity = intensity * m.frailty[:, d]
            if m.regime_enabled[d]:
                intensity = rules.regime_intensity(intensity, m.paused_rate[:, d], m.active[:, d])
            m.attack_intensity[:, d] = intensity
            m.attack_uniform[:, d] = stream.today()

    def _decide_strikes(self) -> None:
        if not self.retaliation_dyads:
            return
        m = self.model
        e = self._retaliation_columns
        fire_draws = np.column_stack([stream.today() for stream in self._fire_streams])
        level_draws = np.column_stack([stream.today() for stream in self._level_streams])
        memories = m.memories
        ready = rules.retaliation_triggered(
            memories.unanswered[:, e], m.threshold[:, e], memories.lethal_pending[:, e]
        )
        probability = m.retaliation_probability[:, e]
        if m.answers_direct:
            # An unanswered direct strike on the state makes it ready, and it strikes with rho_D where that
            # is higher than rho (docs/model.md 4.6): only on the dyads whose policy sets rho_D.
            rho_direct = m.direct_retaliation_probability[:, e]
            direct = memories.direct_pending[:, e] & (rho_direct > 0)
            ready = ready | direct
            probability = np.where(direct, np.maximum(probability, rho_direct), probability)
        rows, cols = np.nonzero(ready & (fire_draws < probability))
        m.strike_size[:, e] = 0
        m.strike_level[:, e] = 0
        if rows.size == 0:
            return
        # Size and level only for the strikes that happen: most replications do not strike on most days.
        dyads = e[cols]
        pending = memories.lethal_pending[rows, dyads]
        escalation = np.where(
            pending, m.lethal_escalation_probability[rows, dyads], m.escalation_probability[rows, dyads]
        )
        unanswered = memories.unanswered[rows, dyads]
        m.strike_size[rows, dyads] = rules.strike_size(
            unanswered, m.proportionality[rows, dyads], m.max_strikes[dyads]
        )
        m.strike_level[rows, dyads] = rules.strike_level(
            level_draws[rows, cols], escalation, m.channels.max_level[dyads]
        )
