"""The escalation model: a Mesa model that advances R replications of a scenario together.

Every state array has a leading replication axis, and each :class:`~escalation.actors.ActorAgent` decides
for all replications with NumPy, so the Python cost of a day is O(actors), not O(actors x replications).
R = 1 is the same code.

A day runs in a fixed order of phases:

1. **drivers** - dated parameter changes in force today (base-rate and air-defence multipliers);
2. **decide** - every actor chooses attacks and strikes from the state at the end of yesterday;
3. **resolve** - attack outcomes (interception, injuries, deaths) are drawn;
4. **record** - memories (provocation, punishment, unanswered harm) are updated, and the ladder, the
   named thresholds and the cumulative counts are recorded.

Events travel on *channels*: one per attack dyad, and three per retaliation dyad (a strike at the target
itself, at its patron's assets, at its patron's territory). Fixed routing matrices carry each channel's
harm and strikes into the memories of the dyads they concern, so a day's bookkeeping is a few matrix
products whatever the number of replications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mesa
import numpy as np

from escalation import rules, sampling
from escalation.actors import ActorAgent
from escalation.history import ObservedHistory
from escalation.ladder import Rung
from escalation.parameters import Parameters, draw_parameters
from escalation.specs import RETALIATION_LEVELS, ScenarioSpec
from escalation.streams import NamedStreams

NEVER = -1
N_RUNGS = len(Rung)
N_LEVELS = len(RETALIATION_LEVELS)


@dataclass(frozen=True)
class Outcomes:
    """Compact outcomes of a block of replications.

    Attributes:
        first_passage: (R, rungs) first day the highest rung so far was >= k; -1 if never.
        threshold_days: (R, thresholds) first day of each named threshold event; -1 if never.
        attacks, injured, killed: (R, attack dyads) totals over the simulated days.
        strikes: (R, retaliation dyads, levels) strikes made, by level.
        count_histograms: tracked target -> (days, counts) histogram over replications of the cumulative
            number of attacks the target has received by the end of each day.
        parameters: (R, uncertain parameters) the parameter values each replication drew.
        parameter_names: names of the columns of ``parameters``.
    """

    first_passage: np.ndarray
    threshold_days: np.ndarray
    attacks: np.ndarray
    injured: np.ndarray
    killed: np.ndarray
    strikes: np.ndarray
    count_histograms: dict[str, np.ndarray]
    parameters: np.ndarray
    parameter_names: tuple[str, ...]

    @property
    def replications(self) -> int:
        """Number of replications."""
        return int(self.first_passage.shape[0])

    @property
    def highest_rung(self) -> np.ndarray:
        """(R,) highest rung reached over the run."""
        return (self.first_passage >= 0).sum(axis=1) - 1


class EscalationModel(mesa.Model):
    """R replications of a scenario, advanced one day per step.

    Args:
        scenario: the scenario to simulate.
        replications: number of replications simulated together.
        seed: the seed sequence of this block of replications; every decision draws from its own stream
            derived from it (see :mod:`escalation.streams`).
        calibration_draws: path -> joint posterior draws for calibrated parameters (see
            :func:`escalation.parameters.draw_parameters`).
        history: observed days before the scenario's start, replayed into the memories (a warm start).
    """

    def __init__(
        self,
        scenario: ScenarioSpec,
        replications: int,
        seed: np.random.SeedSequence | int = 0,
        calibration_draws: Mapping[str, np.ndarray] | None = None,
        history: ObservedHistory | None = None,
    ) -> None:
        if not isinstance(seed, np.random.SeedSequence):
            seed = np.random.SeedSequence(seed)
        self.streams = NamedStreams(seed)
        super().__init__(rng=self.streams("model"))
        if replications < 1:
            raise ValueError(f"replications: must be >= 1, got {replications}")
        self.scenario = scenario
        self.replications = replications
        self.day = 0
        self.params = draw_parameters(scenario, replications, self.streams, calibration_draws)
        self._build_structure()
        self._bind_parameters(self.params)
        self._init_state()
        self.actor_agents = [ActorAgent(self, i) for i in range(len(scenario.actors))]
        if history is not None and len(history):
            self._warm_start(history)

    # -- structure -------------------------------------------------------------------------------------

    def _build_structure(self) -> None:
        """Index arrays and routing matrices derived once from the scenario."""
        s = self.scenario
        names = s.actor_names
        idx = {n: i for i, n in enumerate(names)}
        n_a, n_e = len(s.attacks), len(s.retaliations)
        self.n_attacks, self.n_retaliations = n_a, n_e
        patron = [idx[a.patron] if a.patron else -1 for a in s.actors]

        # Channels: (perpetrator, victim, rung, background, addressed actor). Attack channels come first;
        # a strike channel exists only for the levels the retaliating state's policy and reach allow.
        channels = [(idx[d.attacker], idx[d.target], 0, d.background, idx[d.target]) for d in s.attacks]
        self.max_level = np.zeros(n_e, dtype=np.int64)
        strike_slots = []  # flat (dyad, level) index of each strike channel, in channel order
        for e, dyad in enumerate(s.retaliations):
            j, i = idx[dyad.state], idx[dyad.target]
            direct = Rung.DIRECT_INTERSTATE if s.actors[i].kind == "state" else Rung.PROXY_STRIKE
            channels.append((j, i, direct, dyad.background, i))
            strike_slots.append(N_LEVELS * e)
            if patron[i] < 0:
                continue
            allowed = RETALIATION_LEVELS.index(s.policy(dyad.state).max_level)
            for level, rung in ((1, Rung.PATRON_STRIKE), (2, Rung.DIRECT_INTERSTATE)):
                if level > allowed or rung > s.actor(dyad.state).max_rung:
                    break
                channels.append((j, patron[i], rung, False, i))
                strike_slots.append(N_LEVELS * e + level)
                self.max_level[e] = level
        perp, victim, rung, background, addressed = (
            np.array(column) for column in zip(*channels, strict=True)
        )
        self.n_channels = len(channels)
        self.strike_slots = np.array(strike_slots, dtype=np.int64)
        # A dyad's strike channels are consecutive: channel = first channel of the dyad + level.
        self.first_strike_channel = n_a + np.searchsorted(self.strike_slots, N_LEVELS * np.arange(n_e))
        self.channel_rung = rung.astype(np.int8)
        self.channel_background = background.astype(bool)
        self.strike_harm = np.array([s.harm.strike_harm(r) for r in rung[n_a:]], dtype=float)

        # Routing: harm on a channel -> provocation of attack dyads and unanswered harm of retaliation dyads
        # (one matrix, one product per day); strikes on a channel -> punishment of attack dyads; lethal
        # attacks -> retaliation triggers.
        route_provocation = np.zeros((self.n_channels, n_a))
        self.route_punishment = np.zeros((self.n_channels, n_a))
        route_unanswered = np.zeros((self.n_channels, n_e))
        for c in range(self.n_channels):
            for d, dyad in enumerate(s.attacks):
                a, b = idx[dyad.attacker], idx[dyad.target]
                if b == perp[c] and a == victim[c]:
                    route_provocation[c, d] += 1.0
                elif b == perp[c] and patron[a] == victim[c]:
                    route_provocation[c, d] += s.attribution
                if c >= n_a and b == perp[c] and a in (victim[c], addressed[c]):
                    self.route_punishment[c, d] = 1.0
            for e, dyad in enumerate(s.retaliations):
                if idx[dyad.state] == victim[c] and idx[dyad.target] == perp[c]:
                    route_unanswered[c, e] = 1.0
        self.route_harm = np.concatenate([route_provocation, route_unanswered], axis=1)
        # Lethal attacks on dyad d set the trigger of retaliation dyad e: (d, e) pairs.
        self.lethal_pairs = [
            (int(d), int(e)) for d, e in zip(*np.nonzero(route_unanswered[:n_a]), strict=True)
        ]

        self.max_attacks = np.array([dyad.max_per_day for dyad in s.attacks])
        self.min_rung = np.array([dyad.min_rung for dyad in s.attacks])
        self.max_strikes = np.array([s.policy(dyad.state).max_strikes_per_day for dyad in s.retaliations])
        self.attack_target = np.array([idx[dyad.target] for dyad in s.attacks], dtype=np.int64)

        # Named thresholds as channel masks; rung 7 is the regional-war state, not a channel.
        self.threshold_min = np.array([t.min_rung for t in s.thresholds], dtype=np.int64)
        self.threshold_mask = np.zeros((len(s.thresholds), self.n_channels), dtype=bool)
        for m, t in enumerate(s.thresholds):
            perps = {idx[n] for n in t.attackers} or set(range(len(names)))
            victims = {idx[n] for n in t.targets} or set(range(len(names)))
            kinds = (
                np.arange(self.n_channels) < n_a if t.kind == "attack" else np.arange(self.n_channels) >= n_a
            )
            if t.kind == "any":
                kinds[:] = True
            self.threshold_mask[m] = kinds & [
                p in perps and v in victims for p, v in zip(perp, victim, strict=True)
            ]
        self.threshold_columns = [np.flatnonzero(mask) for mask in self.threshold_mask]
        self.tracked = list(s.tracked_targets)
        self.track_matrix = np.array(
            [[dyad.target == name for name in self.tracked] for dyad in s.attacks], dtype=np.int64
        ).reshape(n_a, len(self.tracked))

        # Drivers: which days each is in force, and which dyads it touches.
        days = np.arange(s.horizon_days)
        self.driver_active = np.zeros((s.horizon_days, len(s.drivers)), dtype=bool)
        self.driver_applies = np.zeros((len(s.drivers), n_a), dtype=bool)
        for k, driver in enumerate(s.drivers):
            first = s.day_index(driver.date)
            last = s.day_index(driver.end) if driver.end else s.horizon_days
            self.driver_active[:, k] = (days >= first) & (days <= last)
            self.driver_applies[k] = [driver.applies_to(dyad) for dyad in s.attacks]
        self.driver_is_base = np.array([d.effect == "base_rate_factor" for d in s.drivers], dtype=bool)

    def _bind_parameters(self, params: Parameters) -> None:
        """Per-replication parameter arrays in the shapes the rules use."""
        s = self.scenario
        attack = [f"attacks.{d.key}" for d in s.attacks]
        actor = [f"actors.{a.name}" for a in s.actors]
        policy = [f"policy.{r.state}" for r in s.retaliations]

        def block(prefixes: list[str], name: str) -> np.ndarray:
            return (
                params.stack([f"{p}.{name}" for p in prefixes])
                if prefixes
                else np.zeros((self.replications, 0))
            )

        self.base_rate = block(attack, "base_rate")
        self.excitation = block(attack, "excitation")
        self.deterrence = block(attack, "deterrence")
        self.provocation_retention = rules.decay_factor(block(attack, "provocation_memory_days"))
        self.punishment_retention = rules.decay_factor(block(attack, "punishment_memory_days"))
        self.injury_probability = block(attack, "injury_probability")
        self.injured_extra = block(attack, "injured_extra")
        self.kill_probability = block(attack, "kill_probability")
        self.killed_extra = block(attack, "killed_extra")
        self.interception = block(actor, "interception")
        self.restraint = block(actor, "restraint")
        self.threshold = block(policy, "threshold")
        self.retaliation_probability = block(policy, "retaliation_probability")
        self.proportionality = block(policy, "proportionality")
        self.escalation = block(policy, "escalation_probability")
        self.lethal_escalation = block(policy, "lethal_escalation_probability")
        self.unanswered_retention = rules.decay_factor(block(policy, "memory_days"))
        self.driver_factor = block([f"drivers.{d.name}" for d in s.drivers], "factor")

    def _init_state(self) -> None:
        r, n_a, n_e = self.replications, self.n_attacks, self.n_retaliations
        self.provocation = np.zeros((r, n_a))
        self.punishment = np.zeros((r, n_a))
        self.unanswered = np.zeros((r, n_e))
        self.lethal_pending = np.zeros((r, n_e), dtype=bool)
        # Today's intentions, written by the agents.
        self.attacks = np.zeros((r, n_a), dtype=np.int64)
        self.strike_size = np.zeros((r, n_e), dtype=np.int64)
        self.strike_level = np.zeros((r, n_e), dtype=np.int64)
        self.base_rate_multiplier = np.ones((r, n_a))
        self.through_multiplier = np.ones((r, n_a))
        # Outcomes.
        self.first_passage = np.full((r, N_RUNGS), NEVER, dtype=np.int64)
        self.threshold_days = np.full((r, len(self.scenario.thresholds)), NEVER, dtype=np.int64)
        self.total_attacks = np.zeros((r, n_a), dtype=np.int64)
        self.total_injured = np.zeros((r, n_a), dtype=np.int64)
        self.total_killed = np.zeros((r, n_a), dtype=np.int64)
        self.total_strikes = np.zeros((r, len(self.strike_slots)), dtype=np.int64)
        self.cumulative = np.zeros((r, len(self.tracked)), dtype=np.int64)
        self._histograms: list[list[np.ndarray]] = [[] for _ in self.tracked]
        self._direct_window = np.zeros((self.scenario.ladder.war_window_days, r), dtype=np.int64)
        self._outcome_streams = [self.streams(f"outcome:{dyad.key}") for dyad in self.scenario.attacks]
        self.highest = np.full(r, -1, dtype=np.int64)
        # Work arrays reused every day.
        self._harm = np.zeros((r, self.n_channels))
        self._strike_counts = np.zeros((r, self.n_channels))
        self._strikes = np.zeros((r, len(self.strike_slots)), dtype=np.int64)
        self._channel_rung_today = np.zeros((self.n_channels, r), dtype=np.int8)

    # -- the day ---------------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance every replication by one day."""
        if self.day >= self.scenario.horizon_days:
            raise RuntimeError(
                f"the scenario's horizon of {self.scenario.horizon_days} days is already simulated"
            )
        self._apply_drivers()
        self.agents.do("decide")
        attacks, injured, killed = self._resolve_attacks()
        self._record(attacks, injured, killed)
        self.day += 1

    def run(self) -> Outcomes:
        """Simulate the remaining days of the horizon and return the outcomes."""
        while self.day < self.scenario.horizon_days:
            self.step()
        return self.outcomes()

    def _apply_drivers(self) -> None:
        self.base_rate_multiplier.fill(1.0)
        self.through_multiplier.fill(1.0)
        for k in np.flatnonzero(self.driver_active[self.day]):
            target = self.base_rate_multiplier if self.driver_is_base[k] else self.through_multiplier
            columns = self.driver_applies[k]
            target[:, columns] *= self.driver_factor[:, k : k + 1]

    def _resolve_attacks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw injuries and deaths for today's attacks on every dyad.

        Each attack gets through the target's air defence with probability ``(1 - q) * f(t)`` (f: the
        air-defence drivers in force) and, if it does, injures with probability ``p_inj`` and kills with
        probability ``p_kill``. Injury and death are drawn independently per attack, so thinning the day's
        attacks by ``(1 - q) f p_inj`` and ``(1 - q) f p_kill`` gives the injuring and lethal attacks. Each
        dyad's stream gives four uniforms per replication a day, whatever happened (common random numbers).
        """
        attacks = self.attacks
        through = np.clip(
            (1.0 - self.interception[:, self.attack_target]) * self.through_multiplier, 0.0, 1.0
        )
        uniforms = np.stack(
            [stream.random((self.replications, 4)) for stream in self._outcome_streams], axis=1
        )
        injuring = sampling.binomial(uniforms[..., 0], attacks, through * self.injury_probability)
        lethal = sampling.binomial(uniforms[..., 1], attacks, through * self.kill_probability)
        injured = injuring + sampling.poisson(uniforms[..., 2], injuring * self.injured_extra)
        killed = lethal + sampling.poisson(uniforms[..., 3], lethal * self.killed_extra)
        return attacks, injured.reshape(attacks.shape), killed.reshape(attacks.shape)

    def _channel_inputs(
        self, attacks: np.ndarray, injured: np.ndarray, killed: np.ndarray, strike_channels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Harm and strike counts per channel from a day's attacks and strikes per strike channel."""
        weights = self.scenario.harm
        harm, strike_counts, n_a = self._harm, self._strike_counts, self.n_attacks
        strike_counts[:, n_a:] = strike_channels
        harm[:, :n_a] = rules.attack_harm(
            attacks, injured, killed, weights.attack, weights.injured, weights.killed
        )
        np.multiply(strike_channels, self.strike_harm, out=harm[:, n_a:])
        return harm, strike_counts

    def _update_memories(
        self, harm: np.ndarray, strike_counts: np.ndarray, fired: np.ndarray, killed: np.ndarray
    ) -> None:
        """Decay the memories one day and add the day's harm and strikes.

        Provocation, punishment and unanswered harm are updated; a strike answers the harm accumulated so
        far, and today's new harm is added after.
        """
        inflow = harm @ self.route_harm
        n_a = self.n_attacks
        self.provocation = rules.decayed_sum(self.provocation, self.provocation_retention, inflow[:, :n_a])
        self.punishment = rules.decayed_sum(
            self.punishment, self.punishment_retention, strike_counts @ self.route_punishment
        )
        self.unanswered[fired] = 0.0
        self.unanswered = rules.decayed_sum(self.unanswered, self.unanswered_retention, inflow[:, n_a:])
        self.lethal_pending &= ~fired
        for d, e in self.lethal_pairs:
            self.lethal_pending[:, e] |= killed[:, d] > 0

    def _strike_channels(self) -> np.ndarray:
        """Today's strikes laid out on the strike channels (one column per dyad and level)."""
        strikes = self._strikes
        strikes.fill(0)
        rows, dyads = np.nonzero(self.strike_size)
        columns = self.first_strike_channel[dyads] - self.n_attacks + self.strike_level[rows, dyads]
        strikes[rows, columns] = self.strike_size[rows, dyads]
        return strikes

    def _record(self, attacks: np.ndarray, injured: np.ndarray, killed: np.ndarray) -> None:
        strikes = self._strike_channels()
        harm, strike_counts = self._channel_inputs(attacks, injured, killed, strikes)
        self._update_memories(harm, strike_counts, self.strike_size > 0, killed)

        # Rungs of today's events, channel-major so that reductions run over contiguous replications.
        n_a = self.n_attacks
        channel_rung = self._channel_rung_today
        channel_rung[:n_a] = rules.attack_rung(attacks, injured, killed, self.min_rung).T
        np.multiply(strikes.T > 0, self.channel_rung[n_a:, None], out=channel_rung[n_a:])
        channel_rung[self.channel_background] = Rung.QUIET
        day_max = channel_rung.max(axis=0)
        ladder = self.scenario.ladder
        direct_today = (channel_rung >= Rung.DIRECT_INTERSTATE).sum(axis=0)
        self._direct_window[self.day % ladder.war_window_days] = direct_today
        at_war = self._direct_window.sum(axis=0) >= ladder.war_strikes
        day_max[at_war] = Rung.REGIONAL_WAR
        self._record_first_passage(day_max)
        for m, min_rung in enumerate(self.threshold_min):
            if min_rung >= Rung.REGIONAL_WAR:
                hit = at_war
            else:
                hit = (channel_rung[self.threshold_columns[m]] >= min_rung).any(axis=0)
            first = self.threshold_days[:, m]
            first[hit & (first == NEVER)] = self.day

        self.total_attacks += attacks
        self.total_injured += injured
        self.total_killed += killed
        self.total_strikes += strikes
        self.cumulative += attacks @ self.track_matrix
        for k, histograms in enumerate(self._histograms):
            histograms.append(np.bincount(self.cumulative[:, k]).astype(np.int32))

    def _record_first_passage(self, day_max: np.ndarray) -> None:
        """Set today's day on every rung that a replication reaches for the first time."""
        climbed = np.flatnonzero(day_max > self.highest)
        if climbed.size:
            rungs = np.arange(N_RUNGS)
            new = (rungs > self.highest[climbed, None]) & (rungs <= day_max[climbed, None])
            self.first_passage[climbed] = np.where(new, self.day, self.first_passage[climbed])
            self.highest[climbed] = day_max[climbed]

    def _warm_start(self, history: ObservedHistory) -> None:
        """Replay observed days into the memories so the run starts from the state the events imply."""
        shape = (self.replications, self.n_attacks)
        for k in range(len(history)):
            strikes = history.strikes[k].reshape(-1)[self.strike_slots]
            harm, strike_counts = self._channel_inputs(
                np.broadcast_to(history.attacks[k], shape),
                np.broadcast_to(history.injured[k], shape),
                np.broadcast_to(history.killed[k], shape),
                np.broadcast_to(strikes, (self.replications, strikes.size)),
            )
            fired = np.broadcast_to(history.strikes[k].sum(axis=1) > 0, self.unanswered.shape)
            lethal = np.broadcast_to(history.lethal[k].astype(np.int64), shape)
            self._update_memories(harm, strike_counts, fired, lethal)

    # -- outcomes --------------------------------------------------------------------------------------

    def _strikes_by_dyad_and_level(self) -> np.ndarray:
        table = np.zeros((self.replications, self.n_retaliations * N_LEVELS), dtype=np.int64)
        table[:, self.strike_slots] = self.total_strikes
        return table.reshape(self.replications, self.n_retaliations, N_LEVELS)

    def outcomes(self) -> Outcomes:
        """The compact outcomes of the days simulated so far."""
        histograms = {}
        for name, rows in zip(self.tracked, self._histograms, strict=True):
            width = max((len(h) for h in rows), default=1)
            table = np.zeros((len(rows), width), dtype=np.int32)
            for t, h in enumerate(rows):
                table[t, : len(h)] = h
            histograms[name] = table
        uncertain = self.params.uncertain
        return Outcomes(
            first_passage=self.first_passage.copy(),
            threshold_days=self.threshold_days.copy(),
            attacks=self.total_attacks.copy(),
            injured=self.total_injured.copy(),
            killed=self.total_killed.copy(),
            strikes=self._strikes_by_dyad_and_level(),
            count_histograms=histograms,
            parameters=self.params.stack(list(uncertain)) if uncertain else np.zeros((self.replications, 0)),
            parameter_names=uncertain,
        )
