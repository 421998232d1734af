"""Check the tier each sale of a batch was priced at against its member, in ingest's transaction.

The bound is cloud.domain.tier_bound's: a tier the member held lately, or one the cloud's measure
plus the till's earlier sales of the batch earns. A sale claiming regular, or no member, needs
nothing read; a batch with any higher claim reads its members' tiers, tier changes and aliases
in one statement, which also serves as the alias lookup the member upsert would otherwise make
(``Judged.survivors``), so ingest's round trips stay as they were. The measure is read only for
a claim above what the member held (a till's own upgrade, or a forgery). A claim above the bound
while the till still has seqs missing below it is not stored yet, like a return waiting for its
sale: the missing events may be the till's own sales that earned the tier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.domain.flags import Flag
from cloud.domain.projections import NON_MONEY_TENDERS
from cloud.domain.tier_bound import TierHistory, held_since, judge_claim
from cloud.domain.tiers import TIER_ORDER, tier_rank
from cloud.store import seq_gaps, tier_spend
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules


@dataclass(frozen=True, slots=True)
class Judged:
    """Sales to hold (seq -> reasons), sales not to store yet, and, when the members were
    read, old id -> survivor for every member the batch names (None: not looked up)."""

    held: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    waiting: frozenset[int] = frozenset()
    survivors: dict[str, str] | None = None


def _claim(event: Any) -> tuple[str, str] | None:
    """(member, tier) of a live sale priced above regular, or None."""
    if event.type != "sale" or event.dead_reason is not None or event.hold_reasons:
        return None
    body = event.body
    member, tier = body.get("member_id"), body.get("member_tier")
    if not isinstance(member, str) or not member or not isinstance(tier, str):
        return None
    return (member, tier) if tier_rank(tier) > 0 else None


def _money_paid(body: Mapping[str, Any]) -> int:
    """What a sale's member paid in money: the spend it adds (cloud.domain.projections)."""
    paid = 0
    for tender in body.get("tenders") or ():
        if tender.get("kind") not in NON_MONEY_TENDERS:
            paid += int(tender.get("amount_fen") or 0)
    return paid


def _anchor(event: Any, now: dt.datetime) -> dt.datetime:
    """When the sale was priced, naive UTC: its synchronised device time, else receive time."""
    if event.clock_synced and event.device_time is not None:
        return min(now, event.device_time.astimezone(dt.UTC).replace(tzinfo=None))
    return now


def _read(
    cdb: CloudDB, claimed: Sequence[str], named: Sequence[str], since: dt.datetime
) -> tuple[dict[str, str], dict[str, TierHistory], dict[str, int]]:
    """(old id -> survivor for ``named``; tier history and cumulative spend of ``claimed`` and
    their survivors), in one statement."""
    db, m = cdb.database, cdb.models
    p = db.param
    alias = cdb.jobs.MemberAlias._meta.table_name
    named_marks, claimed_marks = ", ".join([p] * len(named)), ", ".join([p] * len(claimed))
    whose = (f"IN ({claimed_marks}) OR member_id IN "
             f"(SELECT new_id FROM {alias} WHERE old_id IN ({claimed_marks}))")  # fmt: skip
    sql = (
        f"SELECT 'a', old_id, new_id, CAST(NULL AS BIGINT), CAST(NULL AS TIMESTAMP) "
        f"FROM {alias} WHERE old_id IN ({named_marks}) "
        f"UNION ALL SELECT 'm', member_id, tier, cumulative_spend_fen, CAST(NULL AS TIMESTAMP) "
        f"FROM members WHERE member_id {whose} "
        f"UNION ALL SELECT 'c', member_id, old_tier || ' ' || new_tier, CAST(NULL AS BIGINT), "
        f"changed_at FROM tier_changes WHERE changed_at >= {p} AND (member_id {whose})"
    )
    params = [*named, *claimed, *claimed, m.TierChange.changed_at.db_value(since), *claimed,
              *claimed]  # fmt: skip
    survivors: dict[str, str] = {}
    current: dict[str, str] = {}
    spend: dict[str, int] = {}
    changes: dict[str, list[tuple[dt.datetime, str, str]]] = {}
    to_time = m.TierChange.changed_at.python_value
    for kind, member, value, fen, when in db.execute_sql(sql, params):
        if kind == "a":
            survivors[member] = value
        elif kind == "m":
            current[member], spend[member] = value, int(fen or 0)
        else:
            old, _, new = str(value).partition(" ")
            changes.setdefault(member, []).append((to_time(when), old, new))
    ids = set(current) | set(changes)
    return (
        survivors,
        {i: TierHistory(current.get(i, TIER_ORDER[0]), tuple(changes.get(i, ()))) for i in ids},
        spend,
    )


class _Measures:
    """The members' measure under each policy the batch's claims need, read once each."""

    def __init__(self, cdb: CloudDB, rules: IngestRules, members: Mapping[str, int]) -> None:
        self.cdb, self.rules, self.spend = cdb, rules, members
        self.read: dict[tuple[Any, str], int] = {}

    def of(self, member: str, version: str, day: dt.date, lag_days: int) -> int:
        policy = self.rules.tier_policy(version)
        if policy.basis == "spend" and policy.window_days == 0:
            return self.spend.get(member, 0)  # since joining: the member row's figure
        key = (policy, member)
        if key not in self.read:
            # The till's figure came with a push up to ``lag`` old, whose window started
            # that much earlier: count those days too.
            start = policy.window_start(day) - dt.timedelta(days=lag_days)
            found = tier_spend.measures(self.cdb, [member], day, policy, start=start)
            self.read[key] = found.get(member, 0)
        return self.read[key]


def judge(
    cdb: CloudDB,
    batch: Any,
    storing: Sequence[Any],
    high_water: int,
    max_seq: int,
    rules: IngestRules,
) -> Judged:
    """Which of the sales about to be stored (``storing``) claim a tier above the bound (to
    hold), and which wait for the till's missing seqs; ``high_water``/``max_seq`` are the
    terminal's, locked."""
    claims = {e.seq: c for e in storing if (c := _claim(e)) is not None}
    if not claims:
        return Judged()
    lag = dt.timedelta(days=rules.tier_lag_days)
    since = min(_anchor(e, batch.now) for e in storing if e.seq in claims) - lag
    claimed = sorted({member for member, _ in claims.values()})
    named = sorted({*claimed, *batch.merged.spend, *(r.member_id for r in batch.merged.ledger)})
    survivors, histories, spend_now = _read(cdb, claimed, named, since)
    held: dict[int, tuple[str, ...]] = {}
    waiting: set[int] = set()
    measures = _Measures(cdb, rules, spend_now)
    here = {e.seq for e in storing}
    stored: set[int] | None = None
    added: dict[str, tuple[int, int]] = {}  # survivor -> (spend, visits) of earlier sales here
    for event in sorted(storing, key=lambda e: e.seq):
        claim = claims.get(event.seq)
        if claim is not None:
            member, tier = claim
            who = survivors.get(member, member)
            ids = {member, who}
            lately = held_since([histories[i] for i in ids if i in histories],
                                _anchor(event, batch.now) - lag)  # fmt: skip
            policy = rules.tier_policy(event.rules_version)
            verdict = judge_claim(tier, lately, None, policy)
            if not verdict.ok:
                day = batch.local_times[event.seq].date()
                spend, visits = added.get(who, (0, 0))
                base = measures.of(who, event.rules_version, day, rules.tier_lag_days)
                extra = visits if policy.basis == "visits" else spend
                verdict = judge_claim(tier, lately, base + extra, policy)
            if not verdict.ok:
                if stored is None:  # events above the mark, from an earlier batch
                    stored = (seq_gaps.stored_between(cdb, batch.terminal_id, high_water, max(here))
                              if max_seq > high_water else set())  # fmt: skip
                present = (here | stored) - waiting
                if seq_gaps.missing_below(present, high_water, event.seq):
                    waiting.add(event.seq)
                    continue
                held[event.seq] = (Flag("implausible.tier_claim", tier=tier, member=repr(member),
                                        held=verdict.held, days=rules.tier_lag_days,
                                        earned=verdict.earned),)  # fmt: skip
                continue
        if event.type == "sale" and event.dead_reason is None and not event.hold_reasons:
            owner = event.body.get("member_id")
            if isinstance(owner, str) and owner:
                who = survivors.get(owner, owner)
                spend, visits = added.get(who, (0, 0))
                added[who] = (spend + _money_paid(event.body), visits + 1)
    return Judged(held, frozenset(waiting), survivors)
