"""Actors as Mesa agents, and their daily decisions for every replication of an ensemble at once.

An :class:`ActorAgent` owns the attack dyads it attacks on and the retaliation dyads it answers on, and the
named streams of those decisions. Each day every actor reads the model's state as of the end of the
previous day and writes its intentions (attacks per target, strikes per retaliation dyad and their level)
into its own slots of the model's arrays. Because agents read only yesterday's state and write only their
own slots, and every decision draws from its own named stream, the order in which agents act never matters;
so :class:`Decisions` evaluates every agent's rule in one set of array operations over all dyads (fewer,
larger NumPy calls than one set per agent), with the same numbers, element by element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from escalation import rules
from escalation.streams import StackedUniforms

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

        # The names of the streams its decisions draw from (one uniform per replication a day each).
        self.attack_streams = tuple(f"attacks:{scenario.attacks[d].key}" for d in self.attack_dyads)
        self.fire_streams = tuple(f"retaliate:{scenario.retaliations[e].key}" for e in self.retaliation_dyads)
        self.level_streams = tuple(f"level:{scenario.retaliations[e].key}" for e in self.retaliation_dyads)


class Decisions:
    """Every agent's choices of the day, evaluated for all agents and replications in one set of operations.

    Attack dyad ``d`` is its attacker's slot and retaliation dyad ``e`` its state's, so evaluating each
    agent's rule on its own dyads or every rule on all dyads at once writes the same numbers: every
    operation is element-wise, in the order of :mod:`escalation.rules`, and each dyad's uniforms come from
    its agent's named stream (:class:`~escalation.streams.StackedUniforms`, one row per dyad).

    The day's choices, written on the model and here:
        model.attack_intensity, model.attack_uniform: (attack dyads, R) the expected attacks and the
            uniform that draws them (the model draws all dyads in one sampler call).
        fired: (R, retaliation dyads) the state strikes today.
        strike_rows, strike_dyads, strike_size, strike_level: the strikes made today, one entry per
            (replication, retaliation dyad) that fires: most replications do not strike on most days.
    """

    def __init__(self, model: EscalationModel, agents: list[ActorAgent]) -> None:
        self.model = m = model
        scenario = model.scenario
        r, days = model.replications, scenario.horizon_days
        n_a, n_e = len(scenario.attacks), len(scenario.retaliations)
        attack_names: list[str] = [""] * n_a
        fire_names: list[str] = [""] * n_e
        level_names: list[str] = [""] * n_e
        attacker = np.zeros(n_a, dtype=np.int64)
        for agent in agents:
            for d, name in zip(agent.attack_dyads, agent.attack_streams, strict=True):
                attack_names[d], attacker[d] = name, agent.index
            for e, fire, level in zip(
                agent.retaliation_dyads, agent.fire_streams, agent.level_streams, strict=True
            ):
                fire_names[e], level_names[e] = fire, level
        self._attack_uniforms = StackedUniforms([m.streams(n) for n in attack_names], (r,), days)
        self._fire_uniforms = StackedUniforms([m.streams(n) for n in fire_names], (r,), days)
        self._level_uniforms = StackedUniforms([m.streams(n) for n in level_names], (r,), days)

        # The attack rule's per-replication parameters, dyad-major like the intensities.
        def by_dyad(values: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(values.T)

        self._excitation = by_dyad(m.excitation)
        self._deterrence = by_dyad(m.deterrence)
        self._restraint = by_dyad(m.restraint[:, attacker])
        # Dyads whose attacker's patron reins it in: their restraint follows the patron's cost each day.
        self._reined = [(d, int(attacker[d])) for d in range(n_a) if attacker[d] in m.reined_actors]
        self._frailty = by_dyad(m.frailty) if m.frailty_dyads.size else None
        self._work = np.empty((n_a, r))
        # The strike rule's: a direct strike on the state makes it ready and it strikes with rho_D where that
        # is higher than rho (docs/model.md 4.6), only on the dyads whose policy sets rho_D.
        self._probability = m.retaliation_probability
        if m.answers_direct:
            self._direct_possible = m.direct_retaliation_probability > 0
            self._direct_probability = np.maximum(m.retaliation_probability, m.direct_retaliation_probability)
        flat = {
            name: np.ascontiguousarray(getattr(m, name)).reshape(-1)
            for name in ("escalation_probability", "lethal_escalation_probability", "proportionality")
        }
        self._escalation, self._lethal_escalation = (
            flat["escalation_probability"],
            flat["lethal_escalation_probability"],
        )
        self._proportionality = flat["proportionality"]
        self.fired = np.zeros((r, n_e), dtype=bool)
        self.strike_rows = self.strike_dyads = np.zeros(0, dtype=np.int64)
        self.strike_size = self.strike_level = np.zeros(0, dtype=np.int64)

    def decide(self) -> None:
        """Choose today's attack intensities and strikes from yesterday's state, for every replication.

        The attack counts are drawn from the intensities and the agents' uniforms by the model, for all dyads
        in one sampler call (:meth:`EscalationModel._draw_attacks`).
        """
        self._decide_attacks()
        self._decide_strikes()

    def _decide_attacks(self) -> None:
        m = self.model
        memories = m.memories
        for d, actor in self._reined:
            self._restraint[d] = m.effective_restraint(actor)
        intensity = rules.attack_intensity(
            m.base_rate_today,
            self._excitation,
            memories.provocation.T,
            self._deterrence,
            memories.punishment.T,
            self._restraint,
            out=m.attack_intensity,
            work=self._work,
        )
        if self._frailty is not None:
            intensity *= self._frailty  # 1 on the dyads without a frailty
        for d in m.regime_dyads:
            intensity[d] = rules.regime_intensity(intensity[d], m.paused_rate[:, d], m.active[:, d])
        m.attack_uniform = self._attack_uniforms.today()

    def _decide_strikes(self) -> None:
        m = self.model
        n_e = self.fired.shape[1]
        if n_e == 0:
            return
        fire_draws = self._fire_uniforms.today()
        level_draws = self._level_uniforms.today()
        memories = m.memories
        ready = rules.retaliation_triggered(memories.unanswered, m.threshold, memories.lethal_pending)
        probability = self._probability
        if m.answers_direct:
            direct = memories.direct_pending & self._direct_possible
            ready |= direct
            probability = np.where(direct, self._direct_probability, probability)
        fired = self.fired
        np.less(fire_draws.T, probability, out=fired)
        fired &= ready
        flat = np.flatnonzero(fired)
        rows, dyads = np.divmod(flat, n_e)
        # Size and level only for the strikes that happen.
        pending = memories.lethal_pending.reshape(-1).take(flat)
        escalation = np.where(pending, self._lethal_escalation.take(flat), self._escalation.take(flat))
        self.strike_size = rules.strike_size(
            memories.unanswered.reshape(-1).take(flat), self._proportionality.take(flat), m.max_strikes[dyads]
        )
        self.strike_level = rules.strike_level(
            level_draws.reshape(-1).take(dyads * m.replications + rows),
            escalation,
            m.channels.max_level[dyads],
        )
        self.strike_rows, self.strike_dyads = rows, dyads
