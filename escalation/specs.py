# ruff: noqa: RUF009 (model parameters are fields made by `parameter`, a wrapper of dataclasses.field)
"""Frozen, validated descriptions of a scenario: actors, dyads, deterrence policies, drivers and outcomes.

A :class:`ScenarioSpec` is plain data. It is built from mappings (YAML files, a Hydra config turned into a
dict, or a notebook's literals) by :func:`build_scenario`, which checks every value and names the offending
key in a one-line :class:`SpecError`. The model, the calibration and the ensemble take specs, never config
objects.

Any model parameter is either a number (a setting, such as a policy lever) or a :class:`Dist` (an
uncertainty: a prior that a calibration may update and that each replication draws from). Each model parameter
is declared once, as a spec field made by :func:`parameter`: its bounds, its documentation and the calibration
that can update it are the field's metadata (:class:`ParameterInfo`, listed by :func:`parameter_fields`), and
the config parser, the parameter paths (:mod:`escalation.parameters`), the model's parameter arrays and the
fitted names (:mod:`escalation.fitting`) are derived from it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from escalation.ladder import Ladder, Rung

if TYPE_CHECKING:
    import numpy as np


class SpecError(ValueError):
    """A scenario, actor, policy or ensemble setting is invalid; the message names the key."""


# Distribution families a parameter may carry, with their scipy.stats keyword arguments.
DIST_FAMILIES: dict[str, tuple[str, ...]] = {
    "beta": ("a", "b"),
    "gamma": ("a", "scale"),
    "lognorm": ("s", "scale"),
    "uniform": ("loc", "scale"),
    "expon": ("scale",),
    "truncnorm": ("a", "b", "loc", "scale"),
}


# What scipy.stats accepts for each family's parameters (outside it, the distribution is undefined).
DIST_RANGES: dict[str, str] = {
    "beta": "a > 0, b > 0",
    "gamma": "a > 0, scale > 0",
    "lognorm": "s > 0, scale > 0",
    "uniform": "scale > 0",
    "expon": "scale > 0",
    "truncnorm": "a < b, scale > 0",
}


@dataclass(frozen=True)
class Dist:
    """A parameter's distribution: a scipy.stats family and its keyword arguments.

    Attributes:
        family: one of :data:`DIST_FAMILIES`.
        params: the family's keyword arguments as sorted ``(name, value)`` pairs.
    """

    family: str
    params: tuple[tuple[str, float], ...]

    def frozen(self) -> Any:
        """The frozen ``scipy.stats`` distribution."""
        return _frozen_distribution(self.family, self.params)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values with the given generator."""
        import numpy as np

        return np.asarray(self.frozen().rvs(size=size, random_state=rng), dtype=float)

    def mean(self) -> float:
        """The distribution's mean."""
        return float(self.frozen().mean())

    def as_dict(self) -> dict[str, Any]:
        """The mapping form used in config files: ``{"dist": family, **params}``."""
        return {"dist": self.family, **dict(self.params)}


Param = float | Dist


@functools.lru_cache(maxsize=1024)
def _frozen_distribution(family: str, params: tuple[tuple[str, float], ...]) -> Any:
    import scipy.stats  # imported on first use: the command's --help and config checks never need it

    return getattr(scipy.stats, family)(**dict(params))


def param_mean(value: Param) -> float:
    """A parameter's point value: the number itself, or the distribution's mean."""
    return value.mean() if isinstance(value, Dist) else float(value)


def param_support(value: Param) -> tuple[float, float]:
    """Smallest and largest value a parameter can take."""
    if isinstance(value, Dist):
        low, high = value.frozen().support()
        return float(low), float(high)
    return float(value), float(value)


# ---------------------------------------------------------------------------------------------------------
# Declaring model parameters

# The calibrations that can update a parameter (``ParameterInfo.fitted_by``): the grid posteriors of
# :mod:`escalation.calibration` and the dyad likelihood of :mod:`escalation.fitting`.
CALIBRATIONS: tuple[str, ...] = ("grid", "likelihood")


@dataclass(frozen=True)
class ParameterInfo:
    """What a spec field declared with :func:`parameter` says about its model parameter.

    Attributes:
        low, high: the bounds a value (or a distribution's support) must lie within.
        open_low: the lower bound itself is not allowed (a number must be > ``low``; a continuous
            distribution may have its support start at ``low``).
        doc: what the parameter means, in one or two sentences (symbols as in docs/model.md).
        fitted_by: the calibrations that can update its prior (names in :data:`CALIBRATIONS`); empty when
            only the prior or the setting is ever used.
    """

    low: float = 0.0
    high: float = math.inf
    open_low: bool = False
    doc: str = ""
    fitted_by: tuple[str, ...] = ()

    def parse(self, key: str, raw: Any) -> Param:
        """A config value of this parameter: a number or a ``{"dist": ...}`` mapping within the bounds."""
        return _parse_param(key, raw, low=self.low, high=self.high, open_low=self.open_low)


def parameter(
    default: Any = dataclasses.MISSING,
    *,
    low: float = 0.0,
    high: float = math.inf,
    open_low: bool = False,
    doc: str = "",
    fitted_by: tuple[str, ...] = (),
) -> Any:
    """A spec field that is a model parameter (a number or a :class:`Dist`), with its metadata.

    Args:
        default: the default value (omit for a required parameter).
        low: lower bound (see :class:`ParameterInfo`).
        high: upper bound.
        open_low: the lower bound itself is not allowed.
        doc: what the parameter means.
        fitted_by: the calibrations that can update it.

    Returns:
        A ``dataclasses.field`` whose metadata ``"parameter"`` is the :class:`ParameterInfo`.
    """
    unknown = sorted(set(fitted_by) - set(CALIBRATIONS))
    if unknown:
        raise ValueError(f"fitted_by: unknown calibration {unknown[0]!r}; allowed: {', '.join(CALIBRATIONS)}")
    info = ParameterInfo(low=low, high=high, open_low=open_low, doc=doc, fitted_by=tuple(fitted_by))
    return field(default=default, metadata={"parameter": info})


@functools.cache
def parameter_fields(spec_class: type) -> tuple[tuple[str, ParameterInfo], ...]:
    """The model parameters of a spec class as ``(field name, info)``, in declaration order."""
    return tuple((f.name, f.metadata["parameter"]) for f in fields(spec_class) if "parameter" in f.metadata)


def can_be_nonzero(value: Param) -> bool:
    """Whether a parameter can take a value other than 0: a distribution, or a number other than 0.

    A mechanism whose parameter cannot (a pause hazard, a frailty, a patron's restraint sensitivity of 0)
    is off: the model draws nothing for it and the fits leave it out.
    """
    return isinstance(value, Dist) or value != 0


def _parse_parameters(spec_class: type, key: str, raw: Mapping) -> dict[str, Param]:
    """The model parameters given in a config mapping, each checked against its declared bounds."""
    return {
        name: info.parse(f"{key}.{name}", raw[name])
        for name, info in parameter_fields(spec_class)
        if name in raw
    }


# ---------------------------------------------------------------------------------------------------------
# Parsing helpers: each names the key it checks.


def _parse_param(
    key: str, raw: Any, *, low: float = 0.0, high: float = math.inf, open_low: bool = False
) -> Param:
    """A number or a ``{"dist": family, ...}`` mapping whose support lies inside [low, high].

    With ``open_low`` a number must be above ``low``; a distribution's support may start at ``low`` (it takes
    that value with probability zero).
    """
    if isinstance(raw, Mapping):
        family, expected = dist_family(key, raw)
        values = {name: _number(f"{key}.{name}", raw[name]) for name in expected}
        dist = Dist(family, tuple(sorted(values.items())))
        try:
            support = param_support(dist)
            mean = dist.mean()
        except (ValueError, TypeError) as err:
            raise SpecError(f"{key}: invalid {family} parameters {values}: {err}") from None
        if math.isnan(support[0]) or math.isnan(support[1]):  # scipy's answer to parameters out of its range
            shown = ", ".join(f"{name}: {value:g}" for name, value in values.items())
            raise SpecError(f"{key}: invalid {family} parameters ({shown}); allowed: {DIST_RANGES[family]}")
        if not math.isfinite(mean) or support[0] < low or support[1] > high:
            bracket = "(" if open_low else "["
            raise SpecError(
                f"{key}: a {family} distribution with support {support} is outside {bracket}{low}, {high}]"
            )
        return dist
    number = _number(key, raw)
    if not (low < number if open_low else low <= number) or number > high:
        if open_low:
            allowed = f"> {low:g}" if math.isinf(high) else f"in ({low}, {high}]"
        else:
            allowed = f">= {low:g}" if math.isinf(high) else f"in [{low}, {high}]"
        raise SpecError(f"{key}: must be {allowed}, got {number:g}")
    return number


def dist_family(key: str, raw: Mapping) -> tuple[str, tuple[str, ...]]:
    """The family of a ``{"dist": family, ...}`` mapping and the family's parameter names.

    Only the mapping's keys are checked (not the values): the family must be one of :data:`DIST_FAMILIES`
    and the other keys exactly that family's parameters.

    Raises:
        SpecError: naming the key, with the allowed families or the family's parameters.
    """
    family = raw.get("dist")
    if not isinstance(family, str) or family not in DIST_FAMILIES:
        problem = "no distribution family given" if family is None else f"unknown distribution {family!r}"
        families = ", ".join(f"{name} ({', '.join(params)})" for name, params in DIST_FAMILIES.items())
        raise SpecError(f"{key}.dist: {problem}; allowed: {families}")
    expected = DIST_FAMILIES[family]
    given = [str(name) for name in raw if name != "dist"]
    missing = [name for name in expected if name not in given]
    unknown = [name for name in given if name not in expected]
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        if unknown:
            problems.append(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among them")
        form = ", ".join([f"dist: {family}", *(f"{name}: <number>" for name in expected)])
        raise SpecError(
            f"{key}: a {family} distribution takes exactly {', '.join(expected)}; {'; '.join(problems)}; "
            f"allowed: {{{form}}}"
        )
    return family, expected


def _number(key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SpecError(f"{key}: expected a number, got {raw!r}")
    if not math.isfinite(raw):
        raise SpecError(f"{key}: expected a finite number, got {raw!r}")
    return float(raw)


def _integer(key: str, raw: Any, *, low: int = 0, high: int | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < low or (high is not None and raw > high):
        allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise SpecError(f"{key}: expected {allowed}, got {raw!r}")
    return int(raw)


def _date(key: str, raw: Any) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise SpecError(f"{key}: expected a date YYYY-MM-DD, got {raw!r}") from None


def _choice(key: str, raw: Any, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise SpecError(f"{key}: unknown value {raw!r}; allowed: {', '.join(allowed)}")
    return str(raw)


def _check_keys(key: str, raw: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{key}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise SpecError(f"{key}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    missing = [name for name in required if name not in raw]
    if missing:
        raise SpecError(f"{key}: missing key {missing[0]!r}")
    return dict(raw)


def _spec_keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.init)


# ---------------------------------------------------------------------------------------------------------
# Specs


@dataclass(frozen=True)
class ActorSpec:
    """One actor: a state or a non-state group.

    Attributes:
        name: identifier used everywhere (lower case).
        kind: ``"state"`` (has a retaliation policy) or ``"non_state"``.
        patron: the state that arms and restrains this group, if any.
        protector: a state that answers attacks on this actor as attacks on itself (the US for the shipping
            its navy protects), if any: harm to the actor counts in the protector's unanswered harm, and the
            protector's strikes provoke and deter the actor's attackers as the actor's own would.
        max_rung: the highest ladder rung this actor can carry out.
        interception, restraint: model parameters (each field's ``doc``; docs/model.md, section 4).
        label: display name for tables and plots.
    """

    name: str
    kind: Literal["state", "non_state"]
    patron: str | None = None
    protector: str | None = None
    max_rung: int = int(Rung.DIRECT_INTERSTATE)
    interception: Param = parameter(
        0.5,
        high=1.0,
        doc="q, probability that an attack on this actor's forces is intercepted or fails.",
        fitted_by=("grid",),
    )
    restraint: Param = parameter(
        1.0, doc="r, multiplier the patron applies to this group's attack intensity (1 = as observed)."
    )
    restraint_sensitivity: Param = parameter(
        0.0,
        doc=(
            "kappa, how hard this state (as a patron) reins in its groups as its own cost rises: their "
            "intensity is multiplied by exp(-kappa * C), C its decayed harm from strikes on it (0: never)."
        ),
    )
    cost_memory_days: Param = parameter(
        30.0,
        open_low=True,
        doc="tau_c, e-folding time of the cost a state remembers from strikes on it (days).",
    )
    label: str = ""


@dataclass(frozen=True)
class AttackSpec:
    """An attack dyad: an actor that attacks a target at a Poisson rate (DESIGN: attack intensity).

    Attributes:
        attacker, target: actor names.
        base_rate ... killed_extra: model parameters (each field's ``doc``; docs/model.md, section 4): the
            attack intensity (base rate, excitation, deterrence, the two memory times) and the outcomes of an
            attack that gets through (injury and kill probabilities, extra injured and killed).
        min_rung: floor on the rung of this dyad's attacks (6 for a state striking a state's territory).
        max_per_day: cap on attacks per day.
        background: the dyad's events are part of an ongoing war the scenario takes as given: they feed
            the actors' memories but are not steps up the escalation ladder.
        name: the dyad's name in the config (for messages); empty for dyads given as a list.
    """

    attacker: str
    target: str
    base_rate: Param = parameter(
        doc="mu, attacks per day without provocation or punishment.", fitted_by=("grid", "likelihood")
    )
    excitation: Param = parameter(
        0.0, doc="alpha, extra attacks per day per unit of provocation (revenge).", fitted_by=("likelihood",)
    )
    deterrence: Param = parameter(
        0.0,
        doc="delta, suppression per unit of punishment: intensity is multiplied by exp(-delta * D).",
        fitted_by=("likelihood",),
    )
    provocation_memory_days: Param = parameter(
        14.0, open_low=True, doc="tau_p, e-folding time of remembered harm (days).", fitted_by=("likelihood",)
    )
    punishment_memory_days: Param = parameter(
        30.0,
        open_low=True,
        doc="tau_d, e-folding time of remembered strikes (days).",
        fitted_by=("likelihood",),
    )
    injury_probability: Param = parameter(
        0.0,
        high=1.0,
        doc="p_inj, probability that an attack that gets through injures personnel.",
        fitted_by=("grid",),
    )
    injured_extra: Param = parameter(
        0.0,
        doc="x_inj, mean number injured beyond the first, per injuring attack (Poisson).",
        fitted_by=("grid",),
    )
    kill_probability: Param = parameter(
        0.0, high=1.0, doc="p_kill, probability that an attack that gets through kills.", fitted_by=("grid",)
    )
    killed_extra: Param = parameter(
        0.0, doc="x_kill, mean number killed beyond the first, per lethal attack (Poisson)."
    )
    pause_hazard: Param = parameter(
        0.0,
        high=1.0,
        doc="h_pause, daily probability that an active campaign pauses of its own accord (0: never).",
        fitted_by=("likelihood",),
    )
    resume_hazard: Param = parameter(
        0.0,
        high=1.0,
        doc="h_resume, daily probability that a paused campaign (or a truce) ends and the campaign resumes.",
        fitted_by=("likelihood",),
    )
    paused_rate: Param = parameter(
        0.0,
        doc="mu_paused, attacks per day while the campaign is paused (violations of a truce).",
        fitted_by=("likelihood",),
    )
    start_paused: Param = parameter(
        0.0,
        high=1.0,
        doc=(
            "probability that the campaign is paused on the first day (with a pause hazard; the likelihood "
            "fit sets it per draw to the filtered probability that the campaign was paused on the last day "
            "of the data)."
        ),
    )
    rate_frailty: Param = parameter(
        0.0,
        doc=(
            "sigma_f, spread of a mean-one lognormal multiplier of the active intensity drawn once per "
            "replication: the stretch-to-stretch variation of a campaign's rate (0: none)."
        ),
    )
    min_rung: int = int(Rung.HARASSMENT)
    max_per_day: int = 50
    background: bool = False
    name: str = ""

    @property
    def key(self) -> str:
        """``attacker->target``, the dyad's name in parameter paths and tables."""
        return f"{self.attacker}->{self.target}"

    @property
    def path(self) -> str:
        """Where the dyad is set in the config, for error messages."""
        return f"scenario.attacks.{self.name or self.key}"


RETALIATION_LEVELS: tuple[str, ...] = ("target", "patron_assets", "patron_territory")


@dataclass(frozen=True)
class RetaliationSpec:
    """A retaliation dyad: a state that answers harm from one actor.

    Attributes:
        state: the retaliating state.
        target: the actor whose attacks or strikes it answers.
        background: strikes at the target itself are part of an ongoing war (see :class:`AttackSpec`);
            strikes that climb to the target's patron still count on the ladder.
        name: the dyad's name in the config (for messages); empty for dyads given as a list.
    """

    state: str
    target: str
    background: bool = False
    name: str = ""

    @property
    def key(self) -> str:
        """``state->target``."""
        return f"{self.state}->{self.target}"

    @property
    def path(self) -> str:
        """Where the dyad is set in the config, for error messages."""
        return f"scenario.retaliations.{self.name or self.key}"


@dataclass(frozen=True)
class PolicySpec:
    """A state's retaliation policy: the deterrence levers users sweep.

    Attributes:
        state: the state this policy belongs to.
        threshold ... lethal_escalation_probability, memory_days: model parameters (each field's ``doc``;
            docs/model.md, section 4): when the state strikes, how hard, how likely a strike climbs, and how
            long it remembers unanswered harm.
        max_level: highest level the state will strike: the target itself, the patron's assets abroad, or
            the patron's territory.
        max_strikes_per_day: cap on strike size.
        target: empty for the state's policy; an actor's name for the state's policy toward that one
            adversary (``policy.<state>.toward.<target>`` in the config), which overrides the fields it sets
            and takes the others from the state's policy.
        overrides: the fields a policy toward one adversary sets. Its other parameters are the state's own
            (the same draws, the same calibration: :meth:`ScenarioSpec.policy_key`).
    """

    state: str
    threshold: Param = parameter(
        10.0, doc="theta, unanswered harm (harm units) that triggers retaliation.", fitted_by=("grid",)
    )
    retaliation_probability: Param = parameter(
        0.3, high=1.0, doc="rho, probability of striking on a day when triggered.", fitted_by=("grid",)
    )
    proportionality: Param = parameter(0.1, doc="pi, strikes per harm unit answered (at least one strike).")
    escalation_probability: Param = parameter(
        0.02,
        high=1.0,
        doc="epsilon, probability that a strike on a patron's proxy climbs one level (to the patron's "
        "assets, then its territory).",
    )
    lethal_escalation_probability: Param = parameter(
        0.1,
        high=1.0,
        doc="epsilon_L, the escalation probability used when a lethal attack triggered the strike.",
    )
    max_level: str = "patron_assets"
    max_strikes_per_day: int = 10
    memory_days: Param = parameter(
        30.0, open_low=True, doc="tau_U, e-folding time of unanswered harm (days)."
    )
    direct_retaliation_probability: Param = parameter(
        0.0,
        high=1.0,
        doc=(
            "rho_D, the daily strike probability, where it exceeds rho, while a direct strike by the target "
            "on the state itself (rung 6: on its territory, or state on state) is unanswered (0: rho always)."
        ),
    )
    target: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The policy's name in parameter paths: ``state``, or ``state->target`` toward one adversary."""
        return self.state if self.target is None else f"{self.state}->{self.target}"

    @property
    def path(self) -> str:
        """Where the policy is set in the config, for error messages."""
        return f"policy.{self.state}" + ("" if self.target is None else f".toward.{self.target}")


DRIVER_EFFECTS: tuple[str, ...] = ("base_rate_factor", "through_factor", "pause")


@dataclass(frozen=True)
class DriverSpec:
    """A dated change to parameters from its date on.

    Attributes:
        name: identifier (e.g. ``ground_invasion``).
        date: first day the change applies.
        effect: ``base_rate_factor`` multiplies the base rates of the selected attack dyads;
            ``through_factor`` multiplies the probability that an attack on the selected dyads gets through
            the target's air defence (0.5 halves it); ``pause`` is a truce: on its first day in force the
            campaigns of the selected dyads pause (with probability ``factor`` per replication), attack at
            their ``paused_rate`` while paused, and resume at their ``resume_hazard`` (the truce breaks) or
            after ``end`` (it expires).
        factor: the multiplier, a model parameter (see the field's ``doc``); for ``pause``, the probability
            that the truce takes hold, in [0, 1].
        attackers, targets: the attack dyads affected (empty = all).
        end: last day the change applies (None: to the end of the run).
    """

    name: str
    date: date
    effect: str
    factor: Param = parameter(
        doc=(
            "s(t) or f(t), the multiplier of the base rates or of the through probability while in force; "
            "for a pause (truce), the probability that it takes hold."
        )
    )
    attackers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    end: date | None = None

    def in_force(self, day: date) -> bool:
        """Whether the change applies on a day (from its date to its end, both included)."""
        return self.date <= day and (self.end is None or day <= self.end)

    def applies_to(self, dyad: AttackSpec) -> bool:
        """Whether this driver changes the given attack dyad."""
        return (not self.attackers or dyad.attacker in self.attackers) and (
            not self.targets or dyad.target in self.targets
        )


THRESHOLD_KINDS: tuple[str, ...] = ("any", "attack", "strike")


@dataclass(frozen=True)
class ThresholdSpec:
    """A named threshold event: the first event on the ladder at or above a rung between given actors.

    Attributes:
        name: identifier (e.g. ``first_us_fatality``).
        min_rung: the rung the event must reach; rung 7 (regional war) is a state of the whole system.
        attackers, targets: the actors that must be perpetrator and victim (empty = any).
        kind: the events that count: ``attack``, ``strike`` or ``any``.
        label: display text for tables and plots.
    """

    name: str
    min_rung: int
    attackers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    kind: str = "any"
    label: str = ""


@dataclass(frozen=True)
class HarmWeights:
    """Harm units that events add to the victim's memories.

    Attributes:
        attack: per attack, whatever its outcome.
        injured: per person injured.
        killed: per person killed.
        strike: per strike, by the strike's rung: proxy strike (4), patron strike (5), direct interstate (6).
    """

    attack: float = 1.0
    injured: float = 1.0
    killed: float = 10.0
    strike: tuple[float, float, float] = (2.0, 4.0, 8.0)

    def strike_harm(self, rung: int) -> float:
        """Harm of one strike on the given rung (4, 5 or 6)."""
        return self.strike[int(rung) - int(Rung.PROXY_STRIKE)]


@dataclass(frozen=True)
class ScenarioSpec:
    """Everything the model needs to simulate one scenario.

    Attributes:
        name: identifier.
        start: first simulated day (events before it are observed history).
        horizon_days: number of simulated days.
        actors: the actors, by name.
        attacks: attack dyads.
        retaliations: retaliation dyads.
        policies: one retaliation policy per state that has a retaliation dyad.
        drivers: dated parameter changes.
        thresholds: named threshold events reported by the metrics.
        harm: harm weights.
        attribution: weight with which harm done to an actor's patron counts as provocation of the actor.
        ladder: rung names and the regional-war rule.
        tracked_targets: actors whose cumulative attacks received are kept per day (fan charts).
        description: one line for captions.
    """

    name: str
    start: date
    horizon_days: int
    actors: tuple[ActorSpec, ...]
    attacks: tuple[AttackSpec, ...]
    retaliations: tuple[RetaliationSpec, ...]
    policies: tuple[PolicySpec, ...]
    drivers: tuple[DriverSpec, ...] = ()
    thresholds: tuple[ThresholdSpec, ...] = ()
    harm: HarmWeights = field(default_factory=HarmWeights)
    attribution: float = 0.5
    ladder: Ladder = field(default_factory=Ladder)
    tracked_targets: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _validate_scenario(self)

    @property
    def actor_names(self) -> tuple[str, ...]:
        """Actor names in declaration order."""
        return tuple(a.name for a in self.actors)

    def actor(self, name: str) -> ActorSpec:
        """The actor with this name."""
        for actor in self.actors:
            if actor.name == name:
                return actor
        raise KeyError(name)

    def policy(self, state: str, target: str | None = None) -> PolicySpec:
        """The retaliation policy of a state (toward ``target``: its policy toward it, if it has one).

        A state's policy toward one adversary is ``policy.<state>.toward.<target>`` in the config.
        """
        if target is not None:
            for policy in self.policies:
                if policy.state == state and policy.target == target:
                    return policy
        for policy in self.policies:
            if policy.state == state and policy.target is None:
                return policy
        raise KeyError(state)

    def policy_of(self, dyad: RetaliationSpec) -> PolicySpec:
        """The policy a retaliation dyad acts under."""
        return self.policy(dyad.state, dyad.target)

    def policy_key(self, dyad: RetaliationSpec, field_name: str) -> str:
        """The key (in the paths) of the policy whose parameter ``field_name`` a retaliation dyad uses.

        The state's policy toward the dyad's target where that policy sets the field, else the state's own.
        """
        policy = self.policy_of(dyad)
        return policy.key if policy.target is None or field_name in policy.overrides else policy.state

    @property
    def end(self) -> date:
        """Last simulated day."""
        return self.start + timedelta(days=self.horizon_days - 1)

    def day_index(self, when: date) -> int:
        """Simulated day index of a date (negative before the start)."""
        return (when - self.start).days


def _validate_scenario(spec: ScenarioSpec) -> None:
    names = spec.actor_names
    if len(set(names)) != len(names):
        raise SpecError(f"actors: duplicate actor names in {list(names)}")
    if spec.horizon_days < 1:
        raise SpecError(f"scenario.horizon_days: must be an integer >= 1, got {spec.horizon_days}")
    allowed = ", ".join(names)

    def known(key: str, name: str) -> None:
        if name not in names:
            raise SpecError(f"{key}: unknown actor {name!r}; allowed: {allowed}")

    for actor in spec.actors:
        if actor.patron is not None:
            known(f"actors.{actor.name}.patron", actor.patron)
            if spec.actor(actor.patron).kind != "state":
                raise SpecError(f"actors.{actor.name}.patron: the patron {actor.patron!r} must be a state")
        if actor.protector is not None:
            known(f"actors.{actor.name}.protector", actor.protector)
            if spec.actor(actor.protector).kind != "state" or actor.protector == actor.name:
                raise SpecError(
                    f"actors.{actor.name}.protector: the protector {actor.protector!r} must be a state "
                    "other than the actor"
                )
    seen: set[str] = set()
    for dyad in spec.attacks:
        key = dyad.path
        known(f"{key}.attacker", dyad.attacker)
        known(f"{key}.target", dyad.target)
        if dyad.attacker == dyad.target or dyad.key in seen:
            raise SpecError(f"{key}: an attack dyad needs two different actors and must be listed once")
        seen.add(dyad.key)
        if dyad.min_rung > spec.actor(dyad.attacker).max_rung:
            raise SpecError(
                f"{key}.min_rung: {dyad.min_rung} is above the attacker's max_rung "
                f"{spec.actor(dyad.attacker).max_rung}"
            )
    seen.clear()
    states_with_dyads = set()
    for dyad in spec.retaliations:
        key = dyad.path
        known(f"{key}.state", dyad.state)
        known(f"{key}.target", dyad.target)
        if spec.actor(dyad.state).kind != "state":
            raise SpecError(f"{key}.state: {dyad.state!r} is not a state; only states retaliate")
        if dyad.state == dyad.target or dyad.key in seen:
            raise SpecError(f"{key}: a retaliation dyad needs two different actors and must be listed once")
        seen.add(dyad.key)
        states_with_dyads.add(dyad.state)
    policy_states = [p.state for p in spec.policies if p.target is None]
    for state in policy_states:
        known(f"policy.{state}", state)
    for policy in spec.policies:
        # A policy toward an adversary the scenario gives the state no dyad against is unused, as is the
        # policy of a state without retaliation dyads (a packaged policy file serves several scenarios).
        if policy.target is not None:
            known(policy.path, policy.target)
    missing = sorted(states_with_dyads - set(policy_states))
    if missing:
        raise SpecError(f"policy.{missing[0]}: the state retaliates in the scenario but has no policy")
    for driver in spec.drivers:
        for name in (*driver.attackers, *driver.targets):
            known(f"scenario.drivers.{driver.name}", name)
        if driver.end is not None and driver.end < driver.date:
            raise SpecError(
                f"scenario.drivers.{driver.name}.end: {driver.end} is before its date {driver.date}"
            )
    for threshold in spec.thresholds:
        for name in (*threshold.attackers, *threshold.targets):
            known(f"scenario.thresholds.{threshold.name}", name)
    for name in spec.tracked_targets:
        known("scenario.tracked_targets", name)


# ---------------------------------------------------------------------------------------------------------
# Building specs from mappings


def _actor(name: str, raw: Any) -> ActorSpec:
    key = f"actors.{name}"
    raw = _check_keys(key, raw, _spec_keys(ActorSpec)[1:], required=("kind",))
    kind = _choice(f"{key}.kind", raw["kind"], ("state", "non_state"))
    max_rung = _integer(f"{key}.max_rung", raw.get("max_rung", 6), low=1, high=int(Rung.DIRECT_INTERSTATE))
    return ActorSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        patron=raw.get("patron"),
        protector=None if raw.get("protector") is None else str(raw["protector"]),
        max_rung=max_rung,
        label=str(raw.get("label") or name),
        **_parse_parameters(ActorSpec, key, raw),
    )


def _attack(key: str, raw: Any) -> AttackSpec:
    allowed = tuple(k for k in _spec_keys(AttackSpec) if k != "name")
    raw = _check_keys(key, raw, allowed, required=("attacker", "target", "base_rate"))
    values: dict[str, Any] = {"attacker": str(raw["attacker"]), "target": str(raw["target"])}
    if key.endswith("]"):  # a list entry: name it by its dyad
        key = f"scenario.attacks.{values['attacker']}->{values['target']}"
    else:
        values["name"] = key.rsplit(".", 1)[-1]
    parameters = dict(parameter_fields(AttackSpec))
    for name in allowed[2:]:
        if name not in raw:
            continue
        if name in parameters:
            values[name] = parameters[name].parse(f"{key}.{name}", raw[name])
        elif name in ("min_rung", "max_per_day"):
            high = int(Rung.DIRECT_INTERSTATE) if name == "min_rung" else None
            values[name] = _integer(f"{key}.{name}", raw[name], low=1, high=high)
        elif name == "background":
            values[name] = _boolean(f"{key}.{name}", raw[name])
        else:
            raise NotImplementedError(f"{key}.{name}: the attack-dyad parser has no rule for this field")
    return AttackSpec(**values)


def _boolean(key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise SpecError(f"{key}: expected true or false, got {raw!r}")
    return raw


def _retaliation(key: str, raw: Any) -> RetaliationSpec:
    raw = _check_keys(key, raw, ("state", "target", "background"), required=("state", "target"))
    return RetaliationSpec(
        state=str(raw["state"]),
        target=str(raw["target"]),
        background=_boolean(f"{key}.background", raw.get("background", False)),
        name="" if key.endswith("]") else key.rsplit(".", 1)[-1],
    )


def _policy(state: str, raw: Any) -> tuple[PolicySpec, ...]:
    """A state's policy and its policies toward single adversaries (``toward``)."""
    key = f"policy.{state}"
    allowed = (*(k for k in _spec_keys(PolicySpec)[1:] if k not in ("target", "overrides")), "toward")
    raw = _check_keys(key, raw, allowed)
    toward = raw.pop("toward", None) or {}
    if not isinstance(toward, Mapping):
        raise SpecError(f"{key}.toward: expected a mapping of adversary name -> policy settings")
    base = _policy_values(key, raw)
    policies = [PolicySpec(state=state, **base)]
    for target, override in toward.items():
        path = f"{key}.toward.{target}"
        given = _check_keys(path, override, allowed[:-1])
        values = _policy_values(path, {k: v for k, v in given.items() if v is not None})
        if str(target) == state:
            raise SpecError(f"{path}: a state has no policy toward itself")
        policies.append(
            PolicySpec(state=state, target=str(target), overrides=tuple(values), **{**base, **values})
        )
    return tuple(policies)


def _policy_values(key: str, raw: Mapping) -> dict[str, Any]:
    values: dict[str, Any] = {}
    parameters = dict(parameter_fields(PolicySpec))
    for name, value in raw.items():
        if name in parameters:
            values[name] = parameters[name].parse(f"{key}.{name}", value)
        elif name == "max_level":
            values[name] = _choice(f"{key}.{name}", value, RETALIATION_LEVELS)
        elif name == "max_strikes_per_day":
            values[name] = _integer(f"{key}.{name}", value, low=1)
        else:
            raise NotImplementedError(f"{key}.{name}: the policy parser has no rule for this field")
    return values


def _names(key: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list | tuple):
        raise SpecError(f"{key}: expected an actor name or a list of names, got {raw!r}")
    return tuple(str(x) for x in raw)


def _driver(name: str, raw: Any) -> DriverSpec:
    key = f"scenario.drivers.{name}"
    raw = _check_keys(key, raw, _spec_keys(DriverSpec)[1:], required=("date", "effect", "factor"))
    effect = _choice(f"{key}.effect", raw["effect"], DRIVER_EFFECTS)
    when = _date(f"{key}.date", raw["date"])
    parameters = _parse_parameters(DriverSpec, key, raw)
    if effect == "pause":
        # The factor of a truce is a probability.
        parameters["factor"] = _parse_param(f"{key}.factor", raw["factor"], high=1.0)
    return DriverSpec(
        name=name,
        date=when,
        effect=effect,
        **parameters,
        attackers=_names(f"{key}.attackers", raw.get("attackers")),
        targets=_names(f"{key}.targets", raw.get("targets")),
        end=_date(f"{key}.end", raw["end"]) if raw.get("end") is not None else None,
    )


def _threshold(name: str, raw: Any, ladder: Ladder) -> ThresholdSpec:
    key = f"scenario.thresholds.{name}"
    raw = _check_keys(key, raw, _spec_keys(ThresholdSpec)[1:], required=("min_rung",))
    try:
        rung = ladder.parse(raw["min_rung"])
    except ValueError as err:
        raise SpecError(f"{key}.min_rung: {err}") from None
    return ThresholdSpec(
        name=name,
        min_rung=int(rung),
        attackers=_names(f"{key}.attackers", raw.get("attackers")),
        targets=_names(f"{key}.targets", raw.get("targets")),
        kind=_choice(f"{key}.kind", raw.get("kind", "any"), THRESHOLD_KINDS),
        label=str(raw.get("label") or name.replace("_", " ")),
    )


def _harm(raw: Any) -> HarmWeights:
    raw = _check_keys("scenario.harm", raw or {}, _spec_keys(HarmWeights))
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "strike":
            if not isinstance(value, list | tuple) or len(value) != len(RETALIATION_LEVELS):
                raise SpecError("scenario.harm.strike: expected 3 numbers (rungs 4, 5 and 6)")
            values[name] = tuple(
                _parse_nonnegative(f"scenario.harm.strike[{i}]", v) for i, v in enumerate(value)
            )
        else:
            values[name] = _parse_nonnegative(f"scenario.harm.{name}", value)
    return HarmWeights(**values)


def _parse_nonnegative(key: str, raw: Any) -> float:
    value = _number(key, raw)
    if value < 0:
        raise SpecError(f"{key}: must be >= 0, got {value}")
    return value


def _ladder(raw: Any) -> Ladder:
    raw = _check_keys("scenario.ladder", raw or {}, ("names", "war_strikes", "war_window_days"))
    try:
        return Ladder(
            names=tuple(raw.get("names") or Ladder().names),
            war_strikes=_integer("scenario.ladder.war_strikes", raw.get("war_strikes", 3), low=1),
            war_window_days=_integer(
                "scenario.ladder.war_window_days", raw.get("war_window_days", 14), low=1
            ),
        )
    except ValueError as err:
        raise SpecError(f"scenario.{err}") from None


SCENARIO_KEYS = (
    "name",
    "description",
    "start",
    "horizon_days",
    "attacks",
    "retaliations",
    "drivers",
    "thresholds",
    "harm",
    "attribution",
    "ladder",
    "tracked_targets",
)


def build_scenario(scenario: Mapping, actors: Mapping, policy: Mapping) -> ScenarioSpec:
    """Build and validate a :class:`ScenarioSpec` from plain mappings.

    Args:
        scenario: the ``scenario`` mapping (start, horizon, dyads, drivers, thresholds, ...).
        actors: actor name -> actor settings.
        policy: state name -> retaliation-policy settings (the levers).

    Raises:
        SpecError: with a one-line message naming the key, for any invalid value.
    """
    raw = _check_keys(
        "scenario", scenario, SCENARIO_KEYS, required=("name", "start", "horizon_days", "attacks")
    )
    if not isinstance(actors, Mapping) or not actors:
        raise SpecError("actors: expected a mapping of actor name -> settings with at least one actor")
    if not isinstance(policy, Mapping):
        raise SpecError("policy: expected a mapping of state name -> retaliation policy")
    ladder = _ladder(raw.get("ladder"))
    attribution = _parse_param("scenario.attribution", raw.get("attribution", 0.5), high=1.0)
    if isinstance(attribution, Dist):
        raise SpecError("scenario.attribution: expected a number in [0, 1], not a distribution")
    return ScenarioSpec(
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        start=_date("scenario.start", raw["start"]),
        horizon_days=_integer("scenario.horizon_days", raw["horizon_days"], low=1),
        actors=tuple(_actor(str(n), a) for n, a in actors.items()),
        attacks=tuple(_attack(key, a) for key, a in _items("attacks", raw)),
        retaliations=tuple(_retaliation(key, r) for key, r in _items("retaliations", raw)),
        policies=tuple(p for s, raw in policy.items() for p in _policy(str(s), raw)),
        drivers=tuple(_driver(str(n), d) for n, d in (raw.get("drivers") or {}).items()),
        thresholds=tuple(_threshold(str(n), t, ladder) for n, t in (raw.get("thresholds") or {}).items()),
        harm=_harm(raw.get("harm")),
        attribution=attribution,
        ladder=ladder,
        tracked_targets=_names("scenario.tracked_targets", raw.get("tracked_targets")),
    )


def _items(name: str, raw: Mapping) -> list[tuple[str, Any]]:
    """Dyads as ``(key, settings)``: a mapping of named dyads (as in the config files) or a list."""
    value = raw.get(name) or []
    if isinstance(value, Mapping):
        return [(f"scenario.{name}.{key}", item) for key, item in value.items()]
    if not isinstance(value, list | tuple):
        raise SpecError(f"scenario.{name}: expected a mapping of named dyads or a list")
    return [(f"scenario.{name}[{i}]", item) for i, item in enumerate(value)]


# ---------------------------------------------------------------------------------------------------------
# Ensemble


@dataclass(frozen=True)
class EnsembleSpec:
    """How a Monte Carlo ensemble is run.

    Attributes:
        replications: number of replications.
        chunk_size: replications simulated together in one model; chunk k draws from its own seed child,
            so the results depend on (seed, chunk_size) but never on the number of workers.
        workers: worker processes (1 = in this process).
        seed: root seed entropy (a non-negative integer).
        progress: show a progress bar.
        replications_per_draw: consecutive replications of a chunk that share one parameter draw (the
            nested design that splits the uncertainty into simulation noise and parameter uncertainty; see
            ``docs/uncertainty.md``). 1: every replication draws its own parameters, and no parameter
            interval can be estimated. A chunk whose size is not a multiple has a shorter last block.
    """

    replications: int = 10_000
    chunk_size: int = 10_000
    workers: int = 1
    seed: int = 20231027
    progress: bool = False
    replications_per_draw: int = 10

    def __post_init__(self) -> None:
        _integer("ensemble.replications", self.replications, low=1)
        _integer("ensemble.chunk_size", self.chunk_size, low=1)
        _integer("ensemble.workers", self.workers, low=1)
        _integer("ensemble.seed", self.seed, low=0)
        _integer("ensemble.replications_per_draw", self.replications_per_draw, low=1)

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """``(chunk index, replications in the chunk)`` for every chunk, in order."""
        sizes = []
        remaining = self.replications
        while remaining > 0:
            sizes.append((len(sizes), min(self.chunk_size, remaining)))
            remaining -= self.chunk_size
        return sizes


# ---------------------------------------------------------------------------------------------------------
# Packaged configuration files


def config_dir() -> Path:
    """The packaged Hydra config tree (``escalation/configs``)."""
    return Path(str(resources.files("escalation").joinpath("configs")))


def read_config_file(group: str, name: str) -> dict:
    """Read one packaged YAML config file (``escalation/configs/<group>/<name>.yaml``) as a dict."""
    resource = config_dir() / group / f"{name}.yaml"
    if not resource.is_file():
        raise SpecError(f"{group}={name}: no such packaged config file")
    data = yaml.safe_load(resource.read_text(encoding="utf-8")) or {}
    return {k: v for k, v in data.items() if k != "defaults"}


def default_scenario(
    scenario: str = "october_2023", actors: str = "october_2023", policy: str = "calibrated"
) -> ScenarioSpec:
    """The packaged scenario, built without Hydra (the same files the ``escalation`` command composes)."""
    return build_scenario(
        read_config_file("scenario", scenario),
        read_config_file("actors", actors),
        read_config_file("policy", policy),
    )
