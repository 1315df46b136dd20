"""Pooled priors of retaliation policies, from the reference-class records.

A state under another state's standing campaign of strikes on its forces and allies abroad (Israel's strikes
in Syria, 2017-2023) is, in the model, ready to answer on nearly every day: its unanswered harm from the
campaign stays above a low threshold, and any lethal strike sets its lethal trigger. How often it actually
strikes back directly is then its daily strike probability ``rho`` on those days. The packaged
``data/reference/policy_pools.yaml`` lists, per record, the campaign's first row and the rows that are the
state's direct answers; the posterior of ``rho`` is ``Beta(a + answers, b + days without one)`` (a daily
Bernoulli trial on every day of the campaign known before the cut-off, beta-binomial conjugacy), and it
becomes the prior of the ``retaliation_probability`` of every policy the pool applies to
(``policy.<state>.toward.<target>``), as :mod:`escalation.pooling` does for attack dyads. Leave-one-out
leaves a whole record out.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from escalation.events import EventKind, EventLog, load_events
from escalation.pooling import BetaPool, PooledPrior, beta_prior, reference_dir
from escalation.specs import Dist, ScenarioSpec

_KEYS = {"describes", "applies_to", "prior", "campaigns"}
_CAMPAIGN_KEYS = {"record", "start", "why", "answers", "not_answers"}


@dataclass(frozen=True)
class Campaign:
    """A standing campaign in one record and the target state's direct answers to it.

    Attributes:
        record: the record file.
        start: the event id of the row whose first day is the campaign's first known day.
        why: what the rows say, for the artefact.
        answers: event ids of the target state's direct strikes on the campaigning state (one day each).
        not_answers: event id -> why a row by the state on the campaigning state is not a direct answer.
    """

    record: str
    start: str
    why: str
    answers: tuple[str, ...]
    not_answers: Mapping[str, str]


@dataclass(frozen=True)
class AnswerPool:
    """The pool behind the daily probability of a direct answer, with its beta prior (an assumption)."""

    name: str
    describes: str
    applies_to: tuple[tuple[str, str], ...]  # (answering state, campaigning state)
    prior_a: float
    prior_b: float
    campaigns: tuple[Campaign, ...]


def load_policy_pools(path: str | Path | None = None) -> AnswerPool:
    """Read a policy-pools file (default: the packaged ``policy_pools.yaml``), checking every name it uses."""
    path = Path(path) if path is not None else reference_dir() / "policy_pools.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable policy-pools file ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict) or set(raw) != {"answer_probability"}:
        raise ValueError(f"{path}: expected the one pool answer_probability")
    entry, key = raw["answer_probability"], f"{path}: answer_probability"
    if not isinstance(entry, dict) or set(entry) != _KEYS:
        raise ValueError(f"{key}: expected the keys {', '.join(sorted(_KEYS))}")
    a, b = beta_prior(f"{key}.prior", entry["prior"])
    applies = []
    for item in entry["applies_to"] or []:
        state, arrow, target = str(item).partition("->")
        if not arrow or not state or not target:
            raise ValueError(f"{key}.applies_to: {item!r} is not STATE->TARGET")
        applies.append((state, target))
    campaigns = []
    for k, item in enumerate(entry["campaigns"] or []):
        where = f"{key}.campaigns[{k}]"
        if not isinstance(item, dict) or set(item) != _CAMPAIGN_KEYS:
            raise ValueError(f"{where}: expected the keys {', '.join(sorted(_CAMPAIGN_KEYS))}")
        if not (path.parent / str(item["record"])).is_file():
            raise ValueError(f"{where}: no record {item['record']!r} beside the policy-pools file")
        if not isinstance(item["answers"], list) or not isinstance(item["not_answers"] or {}, dict):
            raise ValueError(f"{where}: answers must be a list of event ids, not_answers a mapping id -> why")
        campaigns.append(
            Campaign(
                str(item["record"]),
                str(item["start"]),
                str(item["why"]),
                tuple(str(x) for x in item["answers"]),
                {str(x): str(y) for x, y in (item["not_answers"] or {}).items()},
            )
        )
    return AnswerPool(
        "answer_probability", str(entry["describes"]), tuple(applies), float(a), float(b), tuple(campaigns)
    )


@dataclass(frozen=True)
class AnswerDays(BetaPool):
    """The campaigns known before a cut-off, their days and answers, and the posterior of ``rho``.

    Attributes:
        pool: the pool read.
        campaigns: per campaign known before the cut-off, ``(campaign, days, answers)``: the days from its
            first day to the record's last day (or the day before the cut-off), and the answers on them.
        notes: campaigns and rows left out, and why.
    """

    pool: AnswerPool
    campaigns: tuple[tuple[Campaign, int, tuple[str, ...]], ...]
    notes: tuple[str, ...] = ()
    unit = "campaigns"

    @property
    def a(self) -> float:
        """The posterior's first shape: the prior's plus the days with an answer."""
        return self.pool.prior_a + sum(len(answers) for _, _, answers in self.campaigns)

    @property
    def b(self) -> float:
        """The posterior's second shape: the prior's plus the days without one."""
        return self.pool.prior_b + sum(days - len(answers) for _, days, answers in self.campaigns)

    @property
    def records(self) -> tuple[str, ...]:
        """The records whose campaigns are pooled."""
        return tuple(sorted({c.record for c, _, _ in self.campaigns}))

    @property
    def stretches(self) -> tuple[str, ...]:
        """One line per campaign pooled."""
        return tuple(
            f"{c.record}: campaign from {c.start}, {days} days, {len(answers)} direct answers "
            f"({', '.join(answers) or 'none'}): {c.why}"
            for c, days, answers in self.campaigns
        )

    def summary(self) -> dict[str, Any]:
        """What the calibration artefact records of the pool."""
        frozen = self.prior().frozen()
        return self._summary(
            "daily probability rho ~ Beta(a, b) that the state strikes directly on a day of the campaign; "
            "one Bernoulli trial a day",
            "rho",
            rho_90=[float(x) for x in frozen.ppf([0.05, 0.95])],
            mean_days_between_answers=float(1.0 / frozen.mean()),
        )


def answer_days(
    pool: AnswerPool,
    cutoff: date | None,
    *,
    leave_out: Sequence[str] = (),
    records: Mapping[str, EventLog] | None = None,
) -> AnswerDays:
    """The pool's campaigns under way before ``cutoff``, without the records in ``leave_out``.

    Every attack row of an answering state on its campaigning state inside a campaign must be listed as an
    answer or under ``not_answers`` (with the reason): no row is silently ignored.
    """
    cutoff = cutoff or date.max
    known, notes = [], []
    for campaign in pool.campaigns:
        if campaign.record in leave_out:
            notes.append(f"{campaign.record}: campaign left out (the episode being forecast)")
            continue
        log = (
            records[campaign.record]
            if records is not None
            else load_events(reference_dir() / campaign.record)
        )
        rows = {e.event_id: e for e in log}
        where = f"policy pools: answer_probability: {campaign.record}"
        for name in (campaign.start, *campaign.answers, *campaign.not_answers):
            if name not in rows:
                raise ValueError(f"{where}: no row {name!r}")
        pairs = set(pool.applies_to)
        for name in (*campaign.answers, *campaign.not_answers):
            row = rows[name]
            if row.kind != EventKind.ATTACK or (row.attacker, row.target) not in pairs:
                raise ValueError(
                    f"{where}: {name} is not an attack by an answering state on the state campaigning "
                    f"against it (pairs: {', '.join(f'{s}->{t}' for s, t in sorted(pairs))})"
                )
        start = rows[campaign.start].start
        if start >= cutoff:
            notes.append(f"{campaign.record}: campaign from {campaign.start} begins on or after {cutoff}")
            continue
        last = min(cutoff.toordinal() - 1, log.coverage[1].toordinal())
        listed = set(campaign.answers) | set(campaign.not_answers)
        for row in log:
            inside = start <= row.start and row.start.toordinal() <= last
            attack = row.kind == EventKind.ATTACK and (row.attacker, row.target) in pairs
            if inside and attack and row.event_id not in listed:
                raise ValueError(
                    f"{where}: {row.event_id} is an attack by {row.attacker} on {row.target} during the "
                    "campaign but neither an answer nor under not_answers"
                )
        answers = tuple(a for a in campaign.answers if rows[a].start.toordinal() <= last)
        notes.extend(
            f"{campaign.record}: {a} on or after {cutoff} left out"
            for a in campaign.answers
            if a not in answers
        )
        notes.extend(
            f"{campaign.record}: {name} not an answer: {why}" for name, why in campaign.not_answers.items()
        )
        known.append((campaign, last - start.toordinal() + 1, answers))
    return AnswerDays(pool, tuple(known), tuple(notes))


@functools.cache
def _answer_population(cutoff: date | None, leave_out: tuple[str, ...]) -> AnswerDays | None:
    days = answer_days(load_policy_pools(), cutoff, leave_out=leave_out)
    return days if days.campaigns else None


def policy_priors(
    scenario: ScenarioSpec, cutoff: date | None, *, leave_out: Sequence[str] = ()
) -> dict[str, PooledPrior]:
    """The pooled priors of the scenario's policies toward a campaigning state, known before ``cutoff``.

    One for ``policy.<state>-><target>.retaliation_probability`` of every policy the pool applies to, where
    the scenario has that policy, it sets the probability (as a distribution), and a retaliation dyad uses it.
    """
    out = {}
    for state, target in load_policy_pools().applies_to:
        policies = [
            p
            for p in scenario.policies
            if p.state == state and p.target == target and "retaliation_probability" in p.overrides
        ]
        used = any(d.state == state and d.target == target for d in scenario.retaliations)
        if not used or not policies or not isinstance(policies[0].retaliation_probability, Dist):
            continue
        population = _answer_population(cutoff, tuple(sorted(leave_out)))
        if population is None:
            continue
        path = f"policy.{policies[0].key}.retaliation_probability"
        out[path] = PooledPrior(path, population.prior(), policies[0].retaliation_probability, population)
    return out


def with_policy_priors(scenario: ScenarioSpec, priors: Mapping[str, PooledPrior]) -> ScenarioSpec:
    """The scenario with its pooled policy priors in place of the hand-set ones."""
    policies = tuple(
        dataclasses.replace(p, retaliation_probability=priors[path].prior)
        if (path := f"policy.{p.key}.retaliation_probability") in priors
        else p
        for p in scenario.policies
    )
    return dataclasses.replace(scenario, policies=policies)
