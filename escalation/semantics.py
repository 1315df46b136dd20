"""What an event means: its rung, the channel it travels on, the memories it feeds, the thresholds it meets.

These rules are decided here once and used by every part of the package that needs them: the model (for
simulated events), the warm start and the calibration (for observed events), and the backtest (to decide
whether a named threshold was reached in the record). Before, each kept its own copy, and the copies had
drifted apart (an unranked strike on a state was rung 6 in the model and rung 4 in the backtest).

- **Strikes.** A strike at level 0 hits the target itself: rung 6 (direct interstate) if the target is a
  state, else rung 4 (proxy strike). Level 1 hits the target's patron's assets abroad (rung 5), level 2 the
  patron's territory (rung 6). An observed strike's level comes from its recorded rung.
- **Channels.** Every attack dyad and every strike level a retaliation dyad can reach is a channel
  (perpetrator, victim, rung, background flag, addressed actor). Fixed routing matrices carry a day's harm
  and strikes from the channels to the memories they concern: provocation and punishment of the attack dyads,
  unanswered harm of the retaliation dyads, and the lethal triggers.
- **Memories.** One daily update (:func:`update_memories`) moves them on: the model calls it every simulated
  day, the warm start replays the observed days through it, and the retaliation-policy calibration reads the
  unanswered harm it builds on the eve of each observed day.
- **Thresholds.** :func:`threshold_matches` says which channels (or observed events) count for a named
  threshold; :func:`happened` says whether the record shows one in a window, with a third answer, *unknown*,
  when the window runs past what the record covers or an interval row leaves the date open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from escalation import rules
from escalation.events import COUNTED_KINDS, Event, EventKind, EventLog
from escalation.ladder import Rung
from escalation.specs import RETALIATION_LEVELS, ScenarioSpec, ThresholdSpec

N_LEVELS = len(RETALIATION_LEVELS)


# ---------------------------------------------------------------------------------------------------------
# Rungs


def strike_rung(level: int, target_is_state: bool) -> Rung:
    """The rung of a strike at a level (0 the target, 1 its patron's assets, 2 its patron's territory)."""
    if level == 0:
        return Rung.DIRECT_INTERSTATE if target_is_state else Rung.PROXY_STRIKE
    return Rung.PATRON_STRIKE if level == 1 else Rung.DIRECT_INTERSTATE


def strike_level(rung: Rung | None, target_is_state: bool) -> int:
    """The level of an observed strike from its recorded rung (no rung: the target itself)."""
    if rung is None or rung <= Rung.PROXY_STRIKE or target_is_state:
        return 0
    return 1 if rung == Rung.PATRON_STRIKE else 2


def attack_rung(injured: int | None, killed: int | None, min_rung: int = int(Rung.HARASSMENT)) -> Rung:
    """The rung of an observed attack from its casualties (unknown counts as none), at least ``min_rung``."""
    rung = rules.attack_rung(np.array(1), np.array(injured or 0), np.array(killed or 0), np.array(min_rung))
    return Rung(int(rung))


# ---------------------------------------------------------------------------------------------------------
# Channels and routing


@dataclass(frozen=True)
class Channels:
    """The channels of a scenario and the matrices that route their harm and strikes into the memories.

    Attributes:
        perpetrator, victim, addressed: (channels,) actor indices; ``addressed`` is the actor a strike
            answers (the target of the retaliation dyad), which differs from the victim for strikes that
            climb to the patron.
        rung: (channels,) the channel's rung (attack channels: 0, their rung comes from the outcome).
        background: (channels,) events that feed memories but are not steps up the ladder.
        n_attacks, n_retaliations: numbers of attack and retaliation dyads; the first ``n_attacks``
            channels are the attack dyads, in order.
        strike_slots: flat ``(dyad, level)`` index of each strike channel, in channel order.
        first_strike_channel: (retaliation dyads,) the dyad's level-0 channel; its levels are consecutive.
        max_level: (retaliation dyads,) the highest level a channel exists for.
        strike_harm: (strike channels,) harm of one strike on the channel.
        route_harm: (channels, attack dyads + retaliation dyads) harm -> provocation, then unanswered harm.
        route_punishment: (channels, attack dyads) strikes -> punishment.
        route_cost: (channels, actors) harm of strikes -> the cost the victim bears (a patron's cost, which
            drives its restraint of its groups).
        lethal_pairs: (attack dyad, retaliation dyad) pairs: a lethal attack on the first triggers the second.
        direct_pairs: (channel, retaliation dyad) pairs: a strike on the channel climbs to the territory of
            the dyad's state (level 2, rung 6) and is the dyad's target's, which sets the dyad's direct
            trigger.
    """

    perpetrator: np.ndarray
    victim: np.ndarray
    addressed: np.ndarray
    rung: np.ndarray
    background: np.ndarray
    n_attacks: int
    n_retaliations: int
    strike_slots: np.ndarray
    first_strike_channel: np.ndarray
    max_level: np.ndarray
    strike_harm: np.ndarray
    route_harm: np.ndarray
    route_punishment: np.ndarray
    route_cost: np.ndarray
    lethal_pairs: tuple[tuple[int, int], ...]
    direct_pairs: tuple[tuple[int, int], ...] = ()

    @property
    def size(self) -> int:
        """Number of channels."""
        return int(self.rung.size)

    @cached_property
    def routing(self) -> Routing:
        """The routing matrices as lists of their non-zero entries, for the daily update (built once)."""
        return _routing_of(self)


def channels_of(scenario: ScenarioSpec) -> Channels:
    """Build the channels and routing matrices of a scenario.

    A strike channel exists only for the levels the retaliating state's policy (``max_level``) and reach
    (``max_rung``) allow, and only if the target has a patron for levels above 0.
    """
    s = scenario
    idx = {n: i for i, n in enumerate(s.actor_names)}
    n_a, n_e = len(s.attacks), len(s.retaliations)
    patron = [idx[a.patron] if a.patron else -1 for a in s.actors]
    # An actor and its protector are one side: the protector answers harm to the actor, and its strikes
    # provoke and deter the actor's attackers (ActorSpec.protector).
    side = [{i} | ({idx[a.protector]} if a.protector else set()) for i, a in enumerate(s.actors)]
    rows = [(idx[d.attacker], idx[d.target], 0, d.background, idx[d.target]) for d in s.attacks]
    max_level = np.zeros(n_e, dtype=np.int64)
    slots = []
    for e, dyad in enumerate(s.retaliations):
        j, i = idx[dyad.state], idx[dyad.target]
        rows.append((j, i, strike_rung(0, s.actors[i].kind == "state"), dyad.background, i))
        slots.append(N_LEVELS * e)
        if patron[i] < 0:
            continue
        allowed = RETALIATION_LEVELS.index(s.policy_of(dyad).max_level)
        for level in (1, 2):
            rung = strike_rung(level, True)
            if level > allowed or rung > s.actor(dyad.state).max_rung:
                break
            rows.append((j, patron[i], rung, False, i))
            slots.append(N_LEVELS * e + level)
            max_level[e] = level
    perp, victim, rung, background, addressed = (np.array(column) for column in zip(*rows, strict=True))
    background = background.astype(bool)
    n_channels = len(rows)
    strike_slots = np.array(slots, dtype=np.int64)

    route_provocation = np.zeros((n_channels, n_a))
    route_punishment = np.zeros((n_channels, n_a))
    route_unanswered = np.zeros((n_channels, n_e))
    for c in range(n_channels):
        for d, dyad in enumerate(s.attacks):
            a, b = idx[dyad.attacker], idx[dyad.target]
            if perp[c] in side[b] and a == victim[c]:
                route_provocation[c, d] += 1.0
            elif perp[c] in side[b] and patron[a] == victim[c] and not (c < n_a and background[c]):
                # Harm to the patron provokes its groups, except a background campaign's (Israel's in
                # Syria): the groups' pooled base rates come from years in which it was running.
                route_provocation[c, d] += s.attribution
            if c >= n_a and perp[c] in side[b] and a in (victim[c], addressed[c]):
                route_punishment[c, d] = 1.0
        for e, dyad in enumerate(s.retaliations):
            if idx[dyad.state] in side[victim[c]] and idx[dyad.target] == perp[c]:
                route_unanswered[c, e] = 1.0
    lethal_pairs = tuple((int(d), int(e)) for d, e in zip(*np.nonzero(route_unanswered[:n_a]), strict=True))
    # A state's strike on a state is rung 6 wherever it lands (its forces abroad or its soil), so only a
    # strike that climbs from a proxy to its patron's territory (level 2) is known to hit the state itself.
    direct_pairs = tuple(
        (int(n_a + c), int(e))
        for c, e in zip(*np.nonzero(route_unanswered[n_a:]), strict=True)
        if rung[n_a + c] >= Rung.DIRECT_INTERSTATE and addressed[n_a + c] != victim[n_a + c]
    )
    route_cost = np.zeros((n_channels, len(s.actors)))
    route_cost[np.arange(n_a, n_channels), victim[n_a:]] = 1.0  # strikes only: the cost of being struck
    return Channels(
        perpetrator=perp,
        victim=victim,
        addressed=addressed,
        rung=rung.astype(np.int8),
        background=background.astype(bool),
        n_attacks=n_a,
        n_retaliations=n_e,
        strike_slots=strike_slots,
        first_strike_channel=n_a + np.searchsorted(strike_slots, N_LEVELS * np.arange(n_e)),
        max_level=max_level,
        strike_harm=np.array([s.harm.strike_harm(r) for r in rung[n_a:]], dtype=float),
        route_harm=np.concatenate([route_provocation, route_unanswered], axis=1),
        route_punishment=route_punishment,
        route_cost=route_cost,
        lethal_pairs=lethal_pairs,
        direct_pairs=direct_pairs,
    )


# ---------------------------------------------------------------------------------------------------------
# Memories


@dataclass
class Memories:
    """The decayed memories of every replication (leading axis), as of the end of a day.

    Attributes:
        provocation: (R, attack dyads) harm the attacker has suffered from the target (Hawkes memory).
        punishment: (R, attack dyads) strikes the attacker has received from the target.
        unanswered: (R, retaliation dyads) harm the state has not answered yet.
        lethal_pending: (R, retaliation dyads) a lethal attack has happened since the state last struck.
        cost: (R, actors) decayed harm each actor has borne from strikes on its forces, assets and
            territory (a patron's cost; its restraint of its groups follows it).
        direct_pending: (R, retaliation dyads) a direct strike by the target on the state has happened since
            the state last struck it (the direct trigger); None: not kept (no policy answers it apart).
    """

    provocation: np.ndarray
    punishment: np.ndarray
    unanswered: np.ndarray
    lethal_pending: np.ndarray
    cost: np.ndarray | None = None
    direct_pending: np.ndarray | None = None

    @classmethod
    def empty(cls, replications: int, channels: Channels) -> Memories:
        """Memories with nothing remembered."""
        r, n_a, n_e = replications, channels.n_attacks, channels.n_retaliations
        return cls(
            np.zeros((r, n_a)),
            np.zeros((r, n_a)),
            np.zeros((r, n_e)),
            np.zeros((r, n_e), dtype=bool),
            np.zeros((r, channels.route_cost.shape[1])),
            np.zeros((r, n_e), dtype=bool),
        )


@dataclass(frozen=True)
class Retention:
    """Daily retention ``exp(-1/tau)`` of each memory, broadcastable against :class:`Memories`.

    ``cost`` None: the cost memory is not kept (no patron's restraint follows it).
    """

    provocation: np.ndarray
    punishment: np.ndarray
    unanswered: np.ndarray
    cost: np.ndarray | None = None


def channel_inputs(
    channels: Channels,
    scenario: ScenarioSpec,
    attacks: np.ndarray,
    injured: np.ndarray,
    killed: np.ndarray,
    strike_channels: np.ndarray,
    *,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Harm and strike counts per channel from a day's attacks (per dyad) and strikes (per strike channel).

    Args:
        channels: the scenario's channels.
        scenario: the scenario (its harm weights).
        attacks: (R, attack dyads) the day's attacks.
        injured: (R, attack dyads) people injured by them.
        killed: (R, attack dyads) people killed by them.
        strike_channels: (R, strike channels) the day's strikes.
        out: work arrays (R, channels) to fill instead of allocating.
    """
    r = attacks.shape[0]
    harm, counts = out if out is not None else (np.zeros((r, channels.size)), np.zeros((r, channels.size)))
    n_a, weights = channels.n_attacks, scenario.harm
    counts[:, n_a:] = strike_channels
    harm[:, :n_a] = rules.attack_harm(
        attacks, injured, killed, weights.attack, weights.injured, weights.killed
    )
    np.multiply(strike_channels, channels.strike_harm, out=harm[:, n_a:])
    return harm, counts


def inflows(channels: Channels, harm: np.ndarray, strike_counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """A day's inflow into provocation, punishment (attack dyads) and unanswered harm (retaliation dyads)."""
    routed = harm @ channels.route_harm
    n_a = channels.n_attacks
    return routed[:, :n_a], strike_counts @ channels.route_punishment, routed[:, n_a:]


@dataclass(frozen=True)
class _Route:
    """One memory's inflow from the channels: the non-zero entries of its routing matrix.

    Attributes:
        width: the memory's columns.
        by_count: the inflow is the channels' strike counts (punishment), else their harm.
        attack_terms: (attack channel, column, weight) of each non-zero entry of the attack channels, in the
            order of the channels.
        strike_columns, strike_weights: (strike channels, terms) the columns each strike channel feeds, in
            order, and their weights; a channel with fewer terms is padded (``strike_valid`` False there).
        strike_valid: (strike channels, terms) which terms exist; None: all.
    """

    width: int
    by_count: bool
    attack_terms: tuple[tuple[int, int, float], ...]
    strike_columns: np.ndarray
    strike_weights: np.ndarray
    strike_valid: np.ndarray | None


def _route(matrix: np.ndarray, n_attacks: int, by_count: bool) -> _Route:
    """The route of a routing matrix (channels, memory columns)."""
    attack_terms = tuple(
        (int(c), int(j), float(matrix[c, j])) for c, j in zip(*np.nonzero(matrix[:n_attacks]), strict=True)
    )
    strikes = matrix[n_attacks:]
    found = [np.flatnonzero(row) for row in strikes]
    terms = max((f.size for f in found), default=0)
    columns = np.zeros((len(found), terms), dtype=np.int64)
    weights = np.zeros((len(found), terms))
    valid = np.zeros((len(found), terms), dtype=bool)
    for s, f in enumerate(found):
        columns[s, : f.size], weights[s, : f.size], valid[s, : f.size] = f, strikes[s, f], True
    return _Route(
        int(matrix.shape[1]), by_count, attack_terms, columns, weights, None if valid.all() else valid
    )


@dataclass(frozen=True)
class Routing:
    """The routing matrices of :class:`Channels` as lists of their non-zero entries.

    A memory cell's inflow on a day is the sum, in the order of the channels, of the terms that reach it:
    the attack channels' (every replication) and the day's strikes' (only the replications that struck), so
    the daily update touches only the cells a strike reaches, and sums what the routing products sum, in
    their order.

    Attributes:
        provocation, punishment, unanswered, cost: each memory's route.
        direct: ``Channels.direct_pairs`` with the channel counted among the strike channels.
    """

    provocation: _Route
    punishment: _Route
    unanswered: _Route
    cost: _Route
    direct: tuple[tuple[int, int], ...]


def _routing_of(channels: Channels) -> Routing:
    n_a = channels.n_attacks
    return Routing(
        provocation=_route(channels.route_harm[:, :n_a], n_a, by_count=False),
        punishment=_route(channels.route_punishment, n_a, by_count=True),
        unanswered=_route(channels.route_harm[:, n_a:], n_a, by_count=False),
        cost=_route(channels.route_cost, n_a, by_count=False),
        direct=tuple((c - n_a, e) for c, e in channels.direct_pairs),
    )


@dataclass(frozen=True)
class DayInputs:
    """A day's harm and strikes on the channels: every replication's attack channels, and each strike apart.

    Attributes:
        attack_harm: (R, attack dyads) the harm of the day's attacks on each attack channel.
        strike_rows, strike_columns: (strikes,) the replication and the strike channel (0: channel
            ``Channels.n_attacks``) of each (replication, strike channel) that has strikes today, in the order
            of the replications, then of the channels (the order the routing sums in).
        strike_counts: (strikes,) the strikes on the channel.
        strike_harm: (strikes,) their harm.
    """

    attack_harm: np.ndarray
    strike_rows: np.ndarray
    strike_columns: np.ndarray
    strike_counts: np.ndarray
    strike_harm: np.ndarray

    @classmethod
    def of(cls, channels: Channels, harm: np.ndarray, strike_counts: np.ndarray) -> DayInputs:
        """The inputs laid out as :func:`channel_inputs` gives them: (R, channels) harm and strike counts."""
        n_a = channels.n_attacks
        harm_on, counts_on = harm[:, n_a:], strike_counts[:, n_a:]
        rows, columns = np.nonzero((counts_on != 0) | (harm_on != 0))
        return cls(harm[:, :n_a], rows, columns, counts_on[rows, columns], harm_on[rows, columns])


def day_inputs(
    channels: Channels,
    scenario: ScenarioSpec,
    attacks: np.ndarray,
    injured: np.ndarray,
    killed: np.ndarray,
    strike_rows: np.ndarray,
    strike_columns: np.ndarray,
    strike_counts: np.ndarray,
    *,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> DayInputs:
    """A day's inputs from its attacks (per dyad) and its strikes (per struck replication and strike channel).

    The same numbers as :func:`channel_inputs` gives for the same day, without laying the strikes out on
    every replication.

    Args:
        channels: the scenario's channels.
        scenario: the scenario (its harm weights).
        attacks: (R, attack dyads) the day's attacks.
        injured: (R, attack dyads) people injured by them.
        killed: (R, attack dyads) people killed by them.
        strike_rows: (strikes,) the replication of each of the day's strikes (see :class:`DayInputs`).
        strike_columns: (strikes,) its strike channel.
        strike_counts: (strikes,) the strikes on the channel.
        out: two (R, attack dyads) work arrays, for the attack harm and a term of it, instead of allocating.
    """
    weights = scenario.harm
    harm, work = out if out is not None else (None, None)
    attack_harm = rules.attack_harm(
        attacks, injured, killed, weights.attack, weights.injured, weights.killed, out=harm, work=work
    )
    strike_harm = strike_counts * channels.strike_harm.take(strike_columns)
    return DayInputs(attack_harm, strike_rows, strike_columns, strike_counts, strike_harm)


def memory_work(replications: int, channels: Channels) -> tuple[np.ndarray, ...]:
    """Work arrays of :func:`advance_memories`, one per memory with routing (all zeros, left all zeros)."""
    routing = channels.routing
    routes = (routing.provocation, routing.punishment, routing.unanswered, routing.cost)
    return tuple(np.zeros(replications * route.width) for route in routes)


def update_memories(
    memories: Memories,
    retention: Retention,
    channels: Channels,
    harm: np.ndarray,
    strike_counts: np.ndarray,
    fired: np.ndarray,
    killed: np.ndarray,
) -> None:
    """Move the memories on by one day (in place): decay, then add the day's harm and strikes.

    :func:`advance_memories` with the day's inputs laid out on every replication and channel, as
    :func:`channel_inputs` gives them: ``harm`` and ``strike_counts`` are (R, channels) arrays.
    """
    advance_memories(
        memories, retention, channels, DayInputs.of(channels, harm, strike_counts), fired, killed
    )


def advance_memories(
    memories: Memories,
    retention: Retention,
    channels: Channels,
    inputs: DayInputs,
    fired: np.ndarray,
    killed: np.ndarray,
    *,
    work: tuple[np.ndarray, ...] | None = None,
) -> None:
    """Move the memories on by one day (in place): decay, then add the day's harm and strikes.

    A strike answers the harm accumulated so far: the state's unanswered harm and its lethal and direct
    triggers reset on the day it strikes, and the day's new harm is added after. A lethal attack
    (``killed > 0``) on an attack dyad sets the trigger of the retaliation dyads it concerns, and a direct
    strike (rung 6) on a state sets the direct trigger of its dyad against the striker.

    Each memory follows :func:`escalation.rules.decayed_sum` with the inflow the routing matrices give
    (:class:`Routing`): the same operations in the same order, so the same numbers, computed only for the
    cells that receive something.

    Args:
        memories: the memories at the end of yesterday, updated to the end of today.
        retention: daily retention of each memory.
        channels: the scenario's channels.
        inputs: the day's harm and strikes.
        fired: (R, retaliation dyads) the state struck today.
        killed: (R, attack dyads) people killed today (only whether it is positive matters).
        work: the work arrays of :func:`memory_work` for these replications (None: allocated).
    """
    routing = channels.routing
    if work is None:
        work = memory_work(memories.provocation.shape[0], channels)
    _advance(memories.provocation, retention.provocation, routing.provocation, inputs, work[0])
    _advance(memories.punishment, retention.punishment, routing.punishment, inputs, work[1])
    np.copyto(memories.unanswered, 0.0, where=fired)
    _advance(memories.unanswered, retention.unanswered, routing.unanswered, inputs, work[2])
    pending = memories.lethal_pending
    np.greater(pending, fired, out=pending)  # pending and not fired
    for d, e in channels.lethal_pairs:
        pending[:, e] |= killed[:, d] > 0
    if memories.direct_pending is not None:
        direct = memories.direct_pending
        np.greater(direct, fired, out=direct)
        for s, e in routing.direct:
            hit = (inputs.strike_columns == s) & (inputs.strike_counts > 0)
            direct[inputs.strike_rows[hit], e] = True
    if retention.cost is not None and memories.cost is not None:
        _advance(memories.cost, retention.cost, routing.cost, inputs, work[3])


def _advance(
    memory: np.ndarray, retention: np.ndarray, route: _Route, inputs: DayInputs, scratch: np.ndarray
) -> None:
    """``memory <- memory * retention + inflow`` in place; the inflow is summed in ``scratch`` (kept zero)."""
    rows = memory.shape[0]
    inflow = scratch.reshape(rows, route.width)
    # The inflow of a cell: 0, plus the attack channels' terms, plus the strikes' terms, in channel order
    # (a strike channel follows every attack channel, and a replication's strikes come in channel order).
    attack_terms = () if route.by_count else route.attack_terms  # attack channels carry no strike counts
    for c, j, weight in attack_terms:
        source = inputs.attack_harm[:, c]
        inflow[:, j] += source if weight == 1.0 else source * weight
    cells = None
    if inputs.strike_rows.size and route.strike_columns.shape[1]:
        columns = inputs.strike_columns
        cells = inputs.strike_rows[:, None] * route.width + route.strike_columns.take(columns, axis=0)
        source = inputs.strike_counts if route.by_count else inputs.strike_harm
        terms = source[:, None] * route.strike_weights.take(columns, axis=0)
        if route.strike_valid is not None:
            keep = route.strike_valid.take(columns, axis=0)
            cells, terms = cells[keep], terms[keep]
        cells, terms = cells.reshape(-1), terms.reshape(-1)
        np.add.at(scratch, cells, terms)
    np.multiply(memory, retention, out=memory)
    if attack_terms or (cells is not None and not memory.flags.c_contiguous):
        memory += inflow
        for _, j, _ in attack_terms:
            inflow[:, j] = 0.0
    elif cells is not None:
        memory.reshape(-1)[cells] += scratch.take(cells)  # a cell listed twice gets its sum once
    if cells is not None:
        scratch[cells] = 0.0


# ---------------------------------------------------------------------------------------------------------
# Observed events on the ladder


@dataclass(frozen=True)
class LadderEvent:
    """An observed attack or strike as the model would place it: channel ends, rung and dates."""

    event_id: str
    start: dt.date
    end: dt.date
    kind: EventKind
    perpetrator: str
    victim: str
    rung: Rung

    @property
    def exact(self) -> bool:
        """The event is dated to one day."""
        return self.start == self.end


def ladder_event(event: Event, scenario: ScenarioSpec) -> LadderEvent | None:
    """Place an observed attack or strike on the ladder (context rows: None).

    An attack takes its recorded rung, else the rung its casualties imply, at least its dyad's ``min_rung``;
    a strike hits the target at level 0, or its patron at the level its recorded rung implies. Events of a
    background dyad (the ongoing war the scenario takes as given) sit at rung 0, as in the model.
    """
    if event.kind not in COUNTED_KINDS:
        return None
    names = set(scenario.actor_names)
    target_is_state = event.target in names and scenario.actor(event.target).kind == "state"
    victim = event.target
    if event.kind == EventKind.ATTACK:
        dyad = next(
            (d for d in scenario.attacks if (d.attacker, d.target) == (event.attacker, event.target)), None
        )
        min_rung = dyad.min_rung if dyad is not None else int(Rung.HARASSMENT)
        rung = event.rung if event.rung is not None else attack_rung(event.injured, event.killed, min_rung)
        background = dyad is not None and dyad.background
    else:
        level = strike_level(event.rung, target_is_state)
        patron = scenario.actor(event.target).patron if event.target in names else None
        if level > 0 and patron is not None:
            victim = patron
        # The model's placement, whatever rung the row records, so a backtest scores by the model's rule;
        # only a recorded regional war is kept as such (it is a state of the system, not a channel).
        rung = Rung.REGIONAL_WAR if event.rung == Rung.REGIONAL_WAR else strike_rung(level, target_is_state)
        dyad = next(
            (r for r in scenario.retaliations if (r.state, r.target) == (event.attacker, event.target)), None
        )
        background = level == 0 and dyad is not None and dyad.background
    return LadderEvent(
        event.event_id,
        event.start,
        event.end,
        event.kind,
        event.attacker,
        victim,
        Rung.QUIET if background else Rung(int(rung)),
    )


def threshold_matches(threshold: ThresholdSpec, kind: EventKind | str, perpetrator: str, victim: str) -> bool:
    """Whether events of this kind between these actors count for the named threshold (any rung)."""
    return (
        threshold.kind in ("any", str(kind))
        and (not threshold.attackers or perpetrator in threshold.attackers)
        and (not threshold.targets or victim in threshold.targets)
    )


def happened(
    events: EventLog, threshold: ThresholdSpec, scenario: ScenarioSpec, start: dt.date, end: dt.date
) -> bool | None:
    """Whether the record shows the named threshold reached in the days ``[start, end)``.

    True when a matching event at or above the threshold's rung lies wholly inside the window (for the
    regional war: a rung-7 row, or the ladder's rule of ``war_strikes`` direct-interstate channel-days
    within ``war_window_days`` among the exactly dated events). None (*unknown*) when it did not, but the
    window runs outside the period the record covers, or a matching interval row only partly overlaps the
    window (its events may fall either side). False otherwise.
    """
    placed = [p for e in events if (p := ladder_event(e, scenario)) is not None]
    if threshold.min_rung >= Rung.REGIONAL_WAR:
        relevant = [p for p in placed if p.rung >= Rung.DIRECT_INTERSTATE]
        if any(p.rung >= Rung.REGIONAL_WAR and start <= p.start and p.end < end for p in relevant):
            return True
        if _war_rule_met(relevant, scenario, start, end):
            return True
    else:
        relevant = [
            p
            for p in placed
            if p.rung >= threshold.min_rung and threshold_matches(threshold, p.kind, p.perpetrator, p.victim)
        ]
        if any(start <= p.start and p.end < end for p in relevant):
            return True
    straddles = any(
        p.start < end and p.end >= start and not (start <= p.start and p.end < end) for p in relevant
    )
    coverage = events.coverage
    outside = coverage is None or start < coverage[0] or end - dt.timedelta(days=1) > coverage[1]
    return None if straddles or outside else False


def _war_rule_met(direct: list[LadderEvent], scenario: ScenarioSpec, start: dt.date, end: dt.date) -> bool:
    """The ladder's regional-war rule on exactly dated rung-6 events: enough channel-days in a window."""
    ladder = scenario.ladder
    days = sorted(
        {(p.start, p.perpetrator, p.victim, p.kind) for p in direct if p.exact and start <= p.start < end}
    )
    dates = [d[0] for d in days]
    for i, first in enumerate(dates):
        inside = [d for d in dates[i:] if (d - first).days < ladder.war_window_days]
        if len(inside) >= ladder.war_strikes:
            return True
    return False
