"""The model's rules as small pure functions of arrays.

Every function works element-wise on NumPy arrays whose leading axis is the replication, so one call decides
for a whole ensemble. ``docs/model.md`` states each rule with its reasons; the model only wires them together.

References:
    Hawkes, A. G. (1971). Spectra of some self-exciting and mutually exciting point processes.
        Biometrika 58(1), 83-90. (Provocation: an exponentially decaying memory of harm that raises the
        intensity of attacks.)
    Hawkes, A. G., & Oakes, D. (1974). A cluster process representation of a self-exciting process.
        Journal of Applied Probability 11(3), 493-503.
    Fischer, W., & Meier-Hellstern, K. (1993). The Markov-modulated Poisson process (MMPP) cookbook.
        Performance Evaluation 18(2), 149-171. (Campaign regimes: active and paused.)
    Reinhart, A. (2018). A review of self-exciting spatio-temporal point processes and their applications.
        Statistical Science 33(3), 299-318. (Inhibition: a multiplicative exp(-delta * D) suppression, the
        deterrent effect of punishment.)
"""

from __future__ import annotations

import numpy as np

from escalation.ladder import Rung


def decay_factor(memory_days: np.ndarray) -> np.ndarray:
    """Daily retention ``exp(-1/tau)`` of a memory with e-folding time ``tau`` days."""
    return np.exp(-1.0 / np.asarray(memory_days, dtype=float))


def decayed_sum(memory: np.ndarray, retention: np.ndarray, inflow: np.ndarray) -> np.ndarray:
    """One day of an exponentially decaying memory: ``M <- M * exp(-1/tau) + inflow``.

    This is the recursive form of a Hawkes process's exponential kernel evaluated at daily resolution
    (Hawkes 1971).
    """
    return memory * retention + inflow


def attack_intensity(
    base_rate: np.ndarray,
    excitation: np.ndarray,
    provocation: np.ndarray,
    deterrence: np.ndarray,
    punishment: np.ndarray,
    restraint: np.ndarray,
    *,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> np.ndarray:
    """Expected attacks per day: ``(mu * s + alpha * P) * exp(-delta * D) * r``.

    Args:
        base_rate: mu times the scheduled driver s(t), attacks per day.
        excitation: alpha, attacks per day per harm unit of provocation.
        provocation: P, decayed harm the attacker has suffered from the target.
        deterrence: delta, suppression per unit of punishment.
        punishment: D, decayed strikes the attacker has received from the target.
        restraint: r, the patron's restraint multiplier on the attacker.
        out: an array of the result's shape to compute in, in place, and return (with ``work``); the same
            operations in the same order, so the same numbers.
        work: an array of the result's shape for the suppression factor, overwritten.
    """
    if out is None or work is None:
        return (base_rate + excitation * provocation) * np.exp(-deterrence * punishment) * restraint
    np.multiply(excitation, provocation, out=out)
    out += base_rate
    np.multiply(deterrence, punishment, out=work)
    np.negative(work, out=work)
    np.exp(work, out=work)
    out *= work
    out *= restraint
    return out


def frailty_multiplier(normal: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """A mean-one lognormal multiplier ``exp(sigma z - sigma^2 / 2)`` of a campaign's intensity.

    Drawn once per replication, it makes the count over a stretch a Poisson-lognormal mixture: overdispersed,
    as counts of attacks are from one stretch of a campaign to the next (a gamma or lognormal frailty).
    """
    return np.exp(spread * normal - 0.5 * spread * spread)


def switch_regime(
    active: np.ndarray, uniform: np.ndarray, pause_hazard: np.ndarray, resume_hazard: np.ndarray
) -> np.ndarray:
    """Today's regime of a campaign from yesterday's: a two-state Markov chain (active, paused).

    An active campaign pauses with probability ``pause_hazard``, a paused one resumes with probability
    ``resume_hazard``; the count given the regime is Poisson, so the counts are a Markov-modulated Poisson
    process (Fischer & Meier-Hellstern 1993). One uniform per decision (common random numbers).
    """
    return np.where(active, uniform >= pause_hazard, uniform < resume_hazard)


def regime_intensity(active_intensity: np.ndarray, paused_rate: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Expected attacks per day: the active intensity in the active regime, the paused rate in a pause."""
    return np.where(active, active_intensity, paused_rate)


def reined_restraint(restraint: np.ndarray, sensitivity: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """A group's restraint when its patron reins it in as its own cost rises: ``r * exp(-kappa * C)``.

    ``C`` is the patron's decayed harm from strikes on its forces, assets and territory: the more the
    confrontation costs the patron itself, the less it lets its groups attack (a patron weighing the risk
    that the confrontation becomes direct).
    """
    return restraint * np.exp(-sensitivity * cost)


def retaliation_triggered(
    unanswered: np.ndarray, threshold: np.ndarray, lethal_pending: np.ndarray
) -> np.ndarray:
    """A state is ready to strike when unanswered harm reaches its threshold, or after a lethal attack."""
    return ((unanswered >= threshold) & (unanswered > 0)) | lethal_pending


def strike_size(unanswered: np.ndarray, proportionality: np.ndarray, cap: int | np.ndarray) -> np.ndarray:
    """Number of strikes: ``ceil(pi * unanswered harm)``, at least one, at most ``cap``."""
    return np.clip(np.ceil(proportionality * unanswered), 1, cap).astype(np.int64)


def strike_level(uniform: np.ndarray, escalation: np.ndarray, max_level: np.ndarray) -> np.ndarray:
    """Level a strike climbs to, capped at ``max_level``.

    Each step up (target -> patron assets -> patron territory) has probability ``escalation``, so
    ``P(level >= k) = escalation**k``.

    One uniform draw per decision keeps the draw count fixed whatever the parameters (common random numbers).
    """
    level = (uniform < escalation).astype(np.int64) + (uniform < escalation * escalation)
    return np.minimum(level, max_level)


def attack_rung(
    attacks: np.ndarray, injured: np.ndarray, killed: np.ndarray, min_rung: np.ndarray
) -> np.ndarray:
    """Rung of a day's attacks on a dyad: harassment, casualties or lethal by outcome; 0 without attacks."""
    outcome = np.maximum(
        (injured > 0).astype(np.int8) * np.int8(Rung.CASUALTIES), (killed > 0) * np.int8(Rung.LETHAL)
    )
    return np.maximum(outcome, (attacks > 0) * np.asarray(min_rung, dtype=np.int8))


def attack_harm(
    attacks: np.ndarray,
    injured: np.ndarray,
    killed: np.ndarray,
    per_attack: float,
    per_injured: float,
    per_killed: float,
    *,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> np.ndarray:
    """Harm units a day's attacks do to their target.

    ``out`` and ``work``: float arrays of the result's shape to compute in (the result is ``out``); the same
    operations in the same order, so the same numbers.
    """
    if out is None or work is None:
        return attacks * per_attack + injured * per_injured + killed * per_killed
    np.multiply(attacks, per_attack, out=out)
    np.multiply(injured, per_injured, out=work)
    out += work
    np.multiply(killed, per_killed, out=work)
    out += work
    return out
