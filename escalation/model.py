"""The escalation model: a Mesa model that advances R replications of a scenario together.

Every state array has a replication axis, and the actors' decisions (:class:`~escalation.actors.Decisions`,
every :class:`~escalation.actors.ActorAgent`'s rule at once) run for all replications with NumPy, so the
Python cost of a day does not grow with the replications. R = 1 is the same code. The memories and outcomes
lead with the replication axis; the day's attacks, casualties and their totals are kept dyad-major
(attack dyads, R), so that each dyad's replications are contiguous. Every draw depends only on its own
uniform and parameters, so the layout changes no number.

A day runs in a fixed order of phases:

1. **drivers** - dated parameter changes in force today (base-rate and air-defence multipliers);
2. **decide** - every actor chooses attacks and strikes from the state at the end of yesterday;
3. **resolve** - attack outcomes (interception, injuries, deaths) are drawn;
4. **record** - memories (provocation, punishment, unanswered harm) are updated, and the ladder, the
   named thresholds and the cumulative counts are recorded.

Events travel on *channels*: one per attack dyad, and three per retaliation dyad (a strike at the target
itself, at its patron's assets, at its patron's territory). Fixed routing matrices carry each channel's
harm and strikes into the memories of the dyads they concern; the day's update adds their terms only where
something happened (the attack channels of every replication, the strikes of the few that struck), so a
day's bookkeeping costs a few array operations whatever the number of replications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import mesa
import numpy as np

from escalation import rules, sampling
from escalation.actors import ActorAgent, Decisions
from escalation.events import EventKind
from escalation.history import ObservedHistory, replay
from escalation.ladder import Rung
from escalation.parameters import Parameters, draw_parameters, parameter_columns
from escalation.semantics import (
    N_LEVELS,
    Memories,
    Retention,
    advance_memories,
    channels_of,
    day_inputs,
    memory_work,
    threshold_matches,
)
from escalation.specs import ScenarioSpec, can_be_nonzero
from escalation.streams import DailyUniforms, NamedStreams, StackedUniforms

NEVER = -1
N_RUNGS = len(Rung)
# A campaign has stopped, for the outcomes, when its target goes this many days without an attack.
STOP_SPELL_DAYS = 30


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
        cumulative_at: (R, days asked, tracked targets) cumulative attacks on each tracked target by the end
            of each day count asked for (``cumulative_days`` of the model); None when none was asked.
        longest_quiet: (R, tracked targets) the longest run of consecutive days without an attack on each
            tracked target (the pauses of the campaigns against it); None in outcomes made without it.
        stop_day: (R, tracked targets) the first day of the first spell of at least :data:`STOP_SPELL_DAYS`
            days without an attack on the target (when the campaigns against it stopped); -1 if none.
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
    cumulative_at: np.ndarray | None = None
    longest_quiet: np.ndarray | None = None
    stop_day: np.ndarray | None = None

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
        replications_per_draw: consecutive replications that share one parameter draw (the nested design;
            see :func:`escalation.parameters.draw_parameters`).
        parameter_values: path -> one value per replication, replacing the draws of those paths (a
            sensitivity design; see :func:`escalation.parameters.draw_parameters`).
        cumulative_days: day counts h (1 .. horizon) by whose end each replication's cumulative attacks on
            each tracked target are kept (:attr:`Outcomes.cumulative_at`).
    """

    def __init__(
        self,
        scenario: ScenarioSpec,
        replications: int,
        seed: np.random.SeedSequence | int = 0,
        calibration_draws: Mapping[str, np.ndarray] | None = None,
        history: ObservedHistory | None = None,
        replications_per_draw: int = 1,
        parameter_values: Mapping[str, np.ndarray] | None = None,
        cumulative_days: tuple[int, ...] = (),
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
        self.params = draw_parameters(
            scenario,
            replications,
            self.streams,
            calibration_draws,
            per_draw=replications_per_draw,
            parameter_values=parameter_values,
        )
        self._build_structure()
        self._bind_parameters(self.params)
        self._init_state()
        self._init_cumulative_days(tuple(int(h) for h in cumulative_days))
        self.actor_agents = [ActorAgent(self, i) for i in range(len(scenario.actors))]
        self.decisions = Decisions(self, self.actor_agents)
        if history is not None and len(history):
            self._warm_start(history)

    # -- structure -------------------------------------------------------------------------------------

    def _build_structure(self) -> None:
        """Index arrays and routing matrices derived once from the scenario."""
        s = self.scenario
        names = s.actor_names
        idx = {n: i for i, n in enumerate(names)}
        self.channels = channels = channels_of(s)
        n_a = self.n_attacks = channels.n_attacks
        self.n_retaliations = channels.n_retaliations
        self.n_channels = channels.size
        perp, victim = channels.perpetrator, channels.victim

        self.max_attacks = np.array([dyad.max_per_day for dyad in s.attacks])
        self.min_rung = np.array([dyad.min_rung for dyad in s.attacks])
        self.max_strikes = np.array([s.policy_of(dyad).max_strikes_per_day for dyad in s.retaliations])
        self.attack_target = np.array([idx[dyad.target] for dyad in s.attacks], dtype=np.int64)

        # Named thresholds as channel masks; rung 7 is the regional-war state, not a channel.
        self.threshold_min = np.array([t.min_rung for t in s.thresholds], dtype=np.int64)
        kinds = [EventKind.ATTACK] * n_a + [EventKind.STRIKE] * (self.n_channels - n_a)
        self.threshold_columns = [
            np.flatnonzero(
                [
                    threshold_matches(t, k, names[p], names[v])
                    for k, p, v in zip(kinds, perp, victim, strict=True)
                ]
            )
            for t in s.thresholds
        ]
        self.tracked = list(s.tracked_targets)
        self.track_matrix = np.array(
            [[dyad.target == name for name in self.tracked] for dyad in s.attacks], dtype=np.int64
        ).reshape(n_a, len(self.tracked))
        self._tracked_dyads = [np.flatnonzero(self.track_matrix[:, k]) for k in range(len(self.tracked))]
        # The rungs a channel can put on the ladder today (background channels: none), and the channels whose
        # events are direct interstate (rung 6) for the regional-war rule: strikes at rung 6, attacks of a
        # dyad whose least rung is 6.
        ladder_rung = np.where(channels.background, Rung.QUIET, channels.rung).astype(np.int8)
        self._strike_rung = ladder_rung[n_a:]
        self._strike_is_direct = self._strike_rung >= Rung.DIRECT_INTERSTATE
        self._background_attacks = np.flatnonzero(channels.background[:n_a])
        self._direct_attacks = np.flatnonzero(
            (self.min_rung >= Rung.DIRECT_INTERSTATE) & ~channels.background[:n_a]
        )

        # Drivers: which days each is in force, and which dyads it touches.
        dates = [s.start + dt.timedelta(days=t) for t in range(s.horizon_days)]
        self.driver_active = np.array(
            [[driver.in_force(day) for driver in s.drivers] for day in dates], dtype=bool
        ).reshape(s.horizon_days, len(s.drivers))
        self.driver_applies = np.array(
            [[driver.applies_to(dyad) for dyad in s.attacks] for driver in s.drivers], dtype=bool
        ).reshape(len(s.drivers), n_a)
        self.driver_is_base = np.array([d.effect == "base_rate_factor" for d in s.drivers], dtype=bool)
        self.driver_is_pause = np.array([d.effect == "pause" for d in s.drivers], dtype=bool)
        # A truce (pause driver) takes hold on its first day in force in the run, and expires the day after
        # its last; -1: not within the run.
        in_force = self.driver_active.any(axis=0)
        self.pause_start = np.where(in_force, self.driver_active.argmax(axis=0), -1)
        last = s.horizon_days - 1 - self.driver_active[::-1].argmax(axis=0)
        self.pause_end = np.where(in_force & (last < s.horizon_days - 1), last + 1, -1)

        # Campaign regimes (active or paused) run for the dyads that can pause: a pause hazard set, or a
        # truce that applies to them; the rest are always active and draw nothing for it.
        truce_applies = self.driver_applies[self.driver_is_pause].any(axis=0)
        self.regime_dyads = np.flatnonzero(
            [can_be_nonzero(dyad.pause_hazard) or truce_applies[d] for d, dyad in enumerate(s.attacks)]
        )
        self.frailty_dyads = np.flatnonzero([can_be_nonzero(dyad.rate_frailty) for dyad in s.attacks])

    def _bind_parameters(self, params: Parameters) -> None:
        """Per-replication parameter arrays in the shapes the rules use.

        Every parameter field becomes an attribute of the same name, of shape (R, columns): the columns are
        the actors (``interception``, ``restraint``), the attack dyads (``base_rate`` ... ``killed_extra``),
        the retaliation dyads, each with its state's policy (``threshold`` ... ``memory_days``), or the
        drivers (``factor``); see :func:`escalation.parameters.parameter_columns`.
        """
        for name, paths in parameter_columns(self.scenario):
            if hasattr(self, name):
                raise TypeError(f"parameter {name!r}: the model already has an attribute of that name")
            setattr(self, name, params.stack(paths) if paths else np.zeros((self.replications, 0)))
        self._derive_from_parameters()

    def _derive_from_parameters(self) -> None:
        """Quantities computed from the bound parameters: the daily retention of the three memories."""
        # Dynamic restraint: a group's intensity follows its patron's cost, where the patron's sensitivity
        # can be non-zero; otherwise no cost memory is kept (and nothing changes).
        names = self.scenario.actor_names
        self.patron_of = np.array(
            [names.index(a.patron) if a.patron else -1 for a in self.scenario.actors], dtype=np.int64
        )
        reined = [
            i
            for i, a in enumerate(self.scenario.actors)
            if a.patron and can_be_nonzero(self.scenario.actor(a.patron).restraint_sensitivity)
        ]
        self.reined_actors = np.array(reined, dtype=np.int64)
        self.retention = Retention(
            provocation=rules.decay_factor(self.provocation_memory_days),
            punishment=rules.decay_factor(self.punishment_memory_days),
            unanswered=rules.decay_factor(self.memory_days),
            cost=rules.decay_factor(self.cost_memory_days) if reined else None,
        )

    def _init_state(self) -> None:
        r, n_a = self.replications, self.n_attacks
        self.memories = Memories.empty(r, self.channels)
        # The direct trigger is kept only where a policy answers a direct strike apart (rho_D > 0 in some
        # replication: a setting, a prior or a design's values). It draws nothing, so skipping it otherwise
        # changes no number.
        self.answers_direct = bool(np.any(self.direct_retaliation_probability > 0))
        if not self.answers_direct:
            self.memories.direct_pending = None
        # Today's intentions (written by the agents' decisions) and events, dyad-major: (attack dyads, R),
        # so that each dyad's replications are contiguous.
        self.attacks = np.zeros((n_a, r), dtype=np.int64)
        self.injured = np.zeros((n_a, r), dtype=np.int64)
        self.killed = np.zeros((n_a, r), dtype=np.int64)
        self.attack_intensity = np.zeros((n_a, r))
        self.attack_uniform = np.zeros((n_a, r))
        # The drivers in force: their multipliers (R, attack dyads), and what follows from them, recomputed
        # only on the days the drivers in force change (_apply_drivers).
        self.base_rate_multiplier = np.ones((r, n_a))
        self.through_multiplier = np.ones((r, n_a))
        self.base_rate_today = np.zeros((n_a, r))
        # Per outcome (injuring, lethal) and dyad-major element (attack dyad x R + replication).
        self._harm_probability = np.zeros((2, n_a * r))
        self._harm_extra = np.stack([self.injured_extra.T, self.killed_extra.T]).reshape(2, n_a * r)
        self._drivers_in_force: bytes | None = None
        # Campaign regimes: True while a dyad's campaign is active; the frailty multiplies its intensity.
        self.active = np.ones((r, n_a), dtype=bool)
        days = self.scenario.horizon_days
        self._regime_streams = [
            DailyUniforms(self.streams(f"regime:{self.scenario.attacks[d].key}"), (r,), days)
            for d in self.regime_dyads
        ]
        self._truce_streams = {
            k: self.streams(f"truce:{self.scenario.drivers[k].name}")
            for k in np.flatnonzero(self.driver_is_pause)
        }
        for d, dyad in zip(
            self.regime_dyads, (self.scenario.attacks[d] for d in self.regime_dyads), strict=True
        ):
            if can_be_nonzero(dyad.start_paused):  # the campaign may be paused on the first day
                uniform = self.streams(f"regime-start:{dyad.key}").random(r)
                self.active[:, d] = uniform >= self.start_paused[:, d]
        self.frailty = np.ones((r, n_a))
        for d in self.frailty_dyads:
            z = self.streams(f"frailty:{self.scenario.attacks[d].key}").standard_normal(r)
            self.frailty[:, d] = rules.frailty_multiplier(z, self.rate_frailty[:, d])
        # Outcomes.
        self.first_passage = np.full((r, N_RUNGS), NEVER, dtype=np.int64)
        self.threshold_days = np.full((r, len(self.scenario.thresholds)), NEVER, dtype=np.int64)
        # Totals by dyad (attack dyads, R) and by tracked target (tracked targets, R); outcomes() transposes.
        self.total_attacks = np.zeros((n_a, r), dtype=np.int64)
        self.total_injured = np.zeros((n_a, r), dtype=np.int64)
        self.total_killed = np.zeros((n_a, r), dtype=np.int64)
        self.total_strikes = np.zeros((r, len(self.channels.strike_slots)), dtype=np.int64)
        self.cumulative = np.zeros((len(self.tracked), r), dtype=np.int64)
        self.quiet_run = np.zeros((len(self.tracked), r), dtype=np.int64)
        self.longest_quiet = np.zeros((len(self.tracked), r), dtype=np.int64)
        self.stop_day = np.full((len(self.tracked), r), NEVER, dtype=np.int64)
        self._histograms: list[list[np.ndarray]] = [[] for _ in self.tracked]
        # The regional-war rule's window: each day's direct-interstate channel-days, and their running sum.
        self._direct_window = np.zeros((self.scenario.ladder.war_window_days, r), dtype=np.int64)
        self._direct_in_window = np.zeros(r, dtype=np.int64)
        self._outcome_uniforms = StackedUniforms(
            [self.streams(f"outcome:{dyad.key}") for dyad in self.scenario.attacks], (r, 4), days
        )
        self.highest = np.full(r, -1, dtype=np.int64)
        # Work arrays reused every day.
        # The attack harm and a term of it, dyad-major like the attacks; the memory update's work arrays.
        self._attack_harm = (np.zeros((n_a, r)).T, np.zeros((n_a, r)).T)
        self._memory_work = memory_work(r, self.channels)
        # The outcome draws' work arrays: (outcome, attacked element) pairs of floats and of counts.
        self._outcome_work = (np.empty((2, 2 * n_a * r)), np.empty((2, 2 * n_a * r), dtype=np.int64))
        self._channel_rung_today = np.zeros((self.n_channels, r), dtype=np.int8)
        self._tracked_today = np.zeros((len(self.tracked), r), dtype=np.int64)

    def _init_cumulative_days(self, days: tuple[int, ...]) -> None:
        """Where the cumulative attacks by the end of each asked day count are kept."""
        for h in days:
            if not 1 <= h <= self.scenario.horizon_days:
                raise ValueError(f"cumulative_days: {h} is outside 1..{self.scenario.horizon_days}")
        self.cumulative_days = days
        self._cumulative_at = (
            np.zeros((self.replications, len(days), len(self.tracked)), dtype=np.int64) if days else None
        )

    # -- the day ---------------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance every replication by one day."""
        if self.day >= self.scenario.horizon_days:
            raise RuntimeError(
                f"the scenario's horizon of {self.scenario.horizon_days} days is already simulated"
            )
        self._apply_drivers()
        self._switch_regimes()
        self.decisions.decide()
        self._draw_attacks()
        attacks, injured, killed = self._resolve_attacks()
        self._record(attacks, injured, killed)
        self.day += 1

    def run(self) -> Outcomes:
        """Simulate the remaining days of the horizon and return the outcomes.

        The day runs no large linear algebra: on more than one BLAS thread a small product costs more in
        thread start-up than it gains, and an ensemble's worker processes would each start as many threads
        as there are cores. So the simulation runs with the BLAS pools limited to one thread (restored after).
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            while self.day < self.scenario.horizon_days:
                self.step()
        return self.outcomes()

    def _apply_drivers(self) -> None:
        """The multipliers of the drivers in force today, and the base rates and harm probabilities they give.

        Recomputed only on a day the drivers in force differ from yesterday's (the same operations as
        every day, so the same numbers).
        """
        in_force = self.driver_active[self.day] & ~self.driver_is_pause
        key = in_force.tobytes()
        if key == self._drivers_in_force:
            return
        self._drivers_in_force = key
        self.base_rate_multiplier.fill(1.0)
        self.through_multiplier.fill(1.0)
        for k in np.flatnonzero(in_force):
            target = self.base_rate_multiplier if self.driver_is_base[k] else self.through_multiplier
            columns = self.driver_applies[k]
            target[:, columns] *= self.factor[:, k : k + 1]  # driver k's factor
        self.base_rate_today[...] = (self.base_rate * self.base_rate_multiplier).T
        # Each attack gets through the target's air defence with probability (1 - q) f(t), then injures
        # with probability p_inj and kills with probability p_kill.
        through = np.clip(
            (1.0 - self.interception[:, self.attack_target]) * self.through_multiplier, 0.0, 1.0
        )
        probability = self._harm_probability.reshape(2, self.n_attacks, self.replications)
        probability[0] = (through * self.injury_probability).T
        probability[1] = (through * self.kill_probability).T

    def effective_restraint(self, actor: int) -> np.ndarray:
        """(R,) the restraint on an actor's attacks today: its own, times its patron's reining-in.

        ``r * exp(-kappa_patron * C_patron)``, the patron's cost as of the end of yesterday (docs/model.md,
        4.7a); the actor's own ``r`` when its patron's sensitivity is 0.
        """
        own = self.restraint[:, actor]
        patron = self.patron_of[actor]
        if actor not in self.reined_actors:
            return own
        return rules.reined_restraint(
            own, self.restraint_sensitivity[:, patron], self.memories.cost[:, patron]
        )

    def _switch_regimes(self) -> None:
        """Today's campaign regimes: yesterday's switch by their hazards, then the truces of today.

        Each dyad that can pause draws one uniform per replication a day, whatever its regime (common random
        numbers); a truce draws one per replication on the day it takes hold.
        """
        for d, stream in zip(self.regime_dyads, self._regime_streams, strict=True):
            self.active[:, d] = rules.switch_regime(
                self.active[:, d],
                stream.today(),
                self.pause_hazard[:, d],
                self.resume_hazard[:, d],
            )
        for k, stream in self._truce_streams.items():
            columns = self.driver_applies[k]
            if self.day == self.pause_start[k]:
                holds = stream.random(self.replications) < self.factor[:, k]
                self.active[:, columns] &= ~holds[:, None]
            elif self.day == self.pause_end[k]:
                self.active[:, columns] = True

    def _draw_attacks(self) -> None:
        """Today's attacks on every dyad from the intensities and uniforms the attackers chose: one draw."""
        sampling.poisson(self.attack_uniform, self.attack_intensity, out=self.attacks)
        np.minimum(self.attacks, self.max_attacks[:, None], out=self.attacks)

    def _resolve_attacks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw injuries and deaths for today's attacks on every dyad; (attack dyads, R) arrays.

        Each attack gets through the target's air defence with probability ``(1 - q) * f(t)`` (f: the
        air-defence drivers in force) and, if it does, injures with probability ``p_inj`` and kills with
        probability ``p_kill``. Injury and death are drawn independently per attack, so thinning the day's
        attacks by ``(1 - q) f p_inj`` and ``(1 - q) f p_kill`` gives the injuring and lethal attacks. Each
        dyad's stream gives four uniforms per replication a day, whatever happened (common random numbers).
        A draw depends only on its own uniform and parameters (:mod:`escalation.sampling`), so only the
        replications and dyads with attacks today are drawn: the others have no casualties.
        """
        attacks, injured, killed = self.attacks, self.injured, self.killed
        # Per dyad-major element, four uniforms: of the injuring and lethal thinnings, then of the extra
        # casualties.
        uniforms = self._outcome_uniforms.today().reshape(-1)
        injured.fill(0)
        killed.fill(0)
        hit = np.flatnonzero(attacks.reshape(-1) > 0)
        if hit.size:
            # (outcome, attacked element) arrays in the work arrays, gathered by flat takes; the first axis:
            # injuring, lethal.
            def shaped(work: np.ndarray) -> np.ndarray:
                return work[: 2 * hit.size].reshape(2, hit.size)

            def pair(
                first: np.ndarray, second: np.ndarray, sources: tuple[np.ndarray, ...], work: np.ndarray
            ) -> np.ndarray:
                out = shaped(work)
                sources[0].take(first, out=out[0])
                sources[1].take(second, out=out[1])
                return out

            floats, integers = self._outcome_work
            at = hit * 4
            flat = attacks.reshape(-1)
            trials = pair(hit, hit, (flat, flat), integers[0])
            # Injury and death in one draw each for both, then the extra casualties.
            probability = pair(hit, hit, self._harm_probability, floats[0])
            harmed = shaped(integers[1])
            sampling.binomial(
                pair(at, at + 1, (uniforms, uniforms), floats[1]), trials, probability, out=harmed
            )
            # The thinnings' work arrays are free again: the extra casualties' go in them.
            rates = pair(hit, hit, self._harm_extra, floats[0])
            rates *= harmed
            casualties = trials
            sampling.poisson(pair(at + 2, at + 3, (uniforms, uniforms), floats[1]), rates, out=casualties)
            casualties += harmed
            injured.reshape(-1)[hit] = casualties[0]
            killed.reshape(-1)[hit] = casualties[1]
        return attacks, injured, killed

    def _strike_channels(self) -> np.ndarray:
        """Today's strike channels (0: the first; one per dyad and level) of the strikes, in their order.

        The strikes come in the order of the replications, then of the dyads, so of the channels.
        """
        decisions = self.decisions
        columns = self._strike_columns = (
            self.channels.first_strike_channel[decisions.strike_dyads]
            - self.n_attacks
            + decisions.strike_level
        )
        width = self.channels.strike_slots.size
        self._strike_cells = decisions.strike_rows * width + columns  # flat (R, strike channels) cells
        return columns

    def _record(self, attacks: np.ndarray, injured: np.ndarray, killed: np.ndarray) -> None:
        """Memories, ladder, thresholds and counts from today's (attack dyads, R) events and strikes."""
        decisions = self.decisions
        inputs = day_inputs(
            self.channels,
            self.scenario,
            attacks.T,
            injured.T,
            killed.T,
            decisions.strike_rows,
            self._strike_channels(),
            decisions.strike_size,
            out=self._attack_harm,
        )
        advance_memories(
            self.memories,
            self.retention,
            self.channels,
            inputs,
            decisions.fired,
            killed.T,
            work=self._memory_work,
        )

        # Rungs of today's events, channel-major so that reductions run over contiguous replications; the
        # strike channels only where a strike happened.
        n_a = self.n_attacks
        rows, columns = decisions.strike_rows, self._strike_columns
        channel_rung = self._channel_rung_today
        channel_rung[:n_a] = rules.attack_rung(attacks, injured, killed, self.min_rung[:, None])
        channel_rung[self._background_attacks] = Rung.QUIET
        channel_rung[n_a:] = Rung.QUIET
        channel_rung.reshape(-1)[(n_a + columns) * self.replications + rows] = self._strike_rung[columns]
        day_max = channel_rung.max(axis=0)
        # The regional-war rule: direct-interstate channel-days within the window.
        ladder = self.scenario.ladder
        direct_today = np.bincount(rows[self._strike_is_direct[columns]], minlength=self.replications)
        for d in self._direct_attacks:
            direct_today += attacks[d] > 0
        slot = self.day % ladder.war_window_days
        self._direct_in_window += direct_today - self._direct_window[slot]
        self._direct_window[slot] = direct_today
        at_war = self._direct_in_window >= ladder.war_strikes
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
        self.total_strikes.reshape(-1)[self._strike_cells] += decisions.strike_size  # each cell once a day
        today = self._tracked_today
        for k, dyads in enumerate(self._tracked_dyads):
            np.sum(attacks[dyads], axis=0, out=today[k])
        self.cumulative += today
        quiet = today == 0
        self.quiet_run += 1
        self.quiet_run *= quiet
        np.maximum(self.longest_quiet, self.quiet_run, out=self.longest_quiet)
        stopped = (self.quiet_run == STOP_SPELL_DAYS) & (self.stop_day == NEVER)
        self.stop_day[stopped] = self.day - STOP_SPELL_DAYS + 1
        if self._cumulative_at is not None:
            for slot, h in enumerate(self.cumulative_days):
                if h == self.day + 1:
                    self._cumulative_at[:, slot] = self.cumulative.T
        for k, histograms in enumerate(self._histograms):
            histograms.append(np.bincount(self.cumulative[k]).astype(np.int32))

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
        replay(history, self.scenario, self.channels, self.retention, self.memories)

    # -- outcomes --------------------------------------------------------------------------------------

    def _strikes_by_dyad_and_level(self) -> np.ndarray:
        table = np.zeros((self.replications, self.n_retaliations * N_LEVELS), dtype=np.int64)
        table[:, self.channels.strike_slots] = self.total_strikes
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
            attacks=self.total_attacks.T.copy(),
            injured=self.total_injured.T.copy(),
            killed=self.total_killed.T.copy(),
            strikes=self._strikes_by_dyad_and_level(),
            count_histograms=histograms,
            parameters=self.params.stack(list(uncertain)) if uncertain else np.zeros((self.replications, 0)),
            parameter_names=uncertain,
            cumulative_at=None if self._cumulative_at is None else self._cumulative_at.copy(),
            longest_quiet=self.longest_quiet.T.copy(),
            stop_day=self.stop_day.T.copy(),
        )
