"""A plain NumPy kernel of the model's day: the reference the engine's speed is compared with.

It runs the same rules on the same arrays as :class:`escalation.model.EscalationModel` (which it borrows
for the parameters, the routing matrices and the warm-started memories), as one function with no agents,
no phases and no outcome bookkeeping beyond the ladder's first passages and the tracked counts: what a
hand-written simulation of these rules would cost. It draws its uniforms from one generator, so its
numbers are not the engine's (no named streams); only its speed is compared. The drivers' factors are
applied; campaign regimes and dynamic restraint, off in the default scenario, are left out.
"""

from __future__ import annotations

import numpy as np

from escalation import rules, sampling
from escalation.model import EscalationModel


def run_kernel(model: EscalationModel, seed: int = 0) -> np.ndarray:
    """Simulate the model's horizon with the plain kernel; return the highest rung of each replication."""
    m, ch = model, model.channels
    r, n_a, n_e, days = m.replications, m.n_attacks, m.n_retaliations, m.scenario.horizon_days
    rng = np.random.default_rng(seed)
    weights = m.scenario.harm
    restraint = m.restraint[:, [m.scenario.actor_names.index(d.attacker) for d in m.scenario.attacks]]
    open_sky = 1.0 - m.interception[:, m.attack_target]
    provocation, punishment = m.memories.provocation.copy(), m.memories.punishment.copy()
    unanswered, pending = m.memories.unanswered.copy(), m.memories.lethal_pending.copy()
    keep_p, keep_d, keep_u = m.retention.provocation, m.retention.punishment, m.retention.unanswered
    n_strike = len(ch.strike_slots)
    first_level = ch.first_strike_channel - n_a
    highest = np.full(r, -1)
    cumulative = np.zeros((r, len(m.tracked)), dtype=np.int64)
    for day in range(days):
        # The drivers in force today: base-rate and air-defence factors on the dyads they apply to.
        factors = np.ones((2, r, n_a))
        for k in np.flatnonzero(m.driver_active[day] & ~m.driver_is_pause):
            factors[0 if m.driver_is_base[k] else 1][:, m.driver_applies[k]] *= m.factor[:, k : k + 1]
        base = m.base_rate * factors[0]
        through = np.clip(open_sky * factors[1], 0.0, 1.0)
        p_injure, p_kill = through * m.injury_probability, through * m.kill_probability
        u = rng.random((5, r, n_a))  # the day's uniforms: attacks and their outcomes, then the strikes
        v = rng.random((2, r, n_e))
        intensity = rules.attack_intensity(
            base, m.excitation, provocation, m.deterrence, punishment, restraint
        )
        attacks = np.minimum(sampling.poisson(u[0], intensity * m.frailty), m.max_attacks)
        injuring = sampling.binomial(u[1], attacks, p_injure)
        lethal = sampling.binomial(u[2], attacks, p_kill)
        injured = injuring + sampling.poisson(u[3], injuring * m.injured_extra)
        killed = lethal + sampling.poisson(u[4], lethal * m.killed_extra)
        ready = rules.retaliation_triggered(unanswered, m.threshold, pending)
        fire = ready & (v[0] < m.retaliation_probability)
        size = np.where(fire, rules.strike_size(unanswered, m.proportionality, m.max_strikes), 0)
        level = np.where(fire, rules.strike_level(v[1], m.escalation_probability, ch.max_level), 0)
        strikes = np.zeros((r, n_strike))
        np.put_along_axis(strikes, first_level[None, :] + level, size, axis=1)
        harm = np.concatenate(
            [
                rules.attack_harm(attacks, injured, killed, weights.attack, weights.injured, weights.killed),
                strikes * ch.strike_harm,
            ],
            axis=1,
        )
        counts = np.concatenate([np.zeros((r, n_a)), strikes], axis=1)
        routed = harm @ ch.route_harm
        provocation = provocation * keep_p + routed[:, :n_a]
        punishment = punishment * keep_d + counts @ ch.route_punishment
        unanswered = np.where(fire, 0.0, unanswered) * keep_u + routed[:, n_a:]
        pending = pending & ~fire
        for d, e in ch.lethal_pairs:
            pending[:, e] |= killed[:, d] > 0
        rung = np.concatenate(
            [rules.attack_rung(attacks, injured, killed, m.min_rung), (strikes > 0) * ch.rung[n_a:]], axis=1
        )
        np.maximum(highest, rung.max(axis=1), out=highest)
        cumulative += attacks @ m.track_matrix
    return highest
