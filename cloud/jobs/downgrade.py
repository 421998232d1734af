"""The tier-downgrade job: members whose spend or visits in the window no longer keep their tier.

Only members above the lowest tier are reviewed. A member's window measure comes from their
events in the cloud (sales and returns the cloud projected, by store business day): spend is
exactly what ingest added to the member's cumulative spend for each event (money paid, less
money refunded: the same projection computes both), visits are sales. The tier held since
the member reached it (their newest tier change to it; else registration) holds for one
whole window (``cloud.domain.tier_review``). A downgrade is a tier change from
``hq:downgrade`` with the run's id; a second run finds the member already at the lower
tier, which the window no longer lowers further.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Final

import peewee as pw

from cloud.domain.errors import DomainError
from cloud.domain.projections import EventFacts, project
from cloud.domain.tier_review import TierPolicy, downgrade_to
from cloud.domain.tiers import TIER_ORDER
from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import CHUNK, JobContext, Tally, in_chunk, lock_members
from cloud.store.aliases import survivors

NAME: Final = "tier_downgrade"
ORIGIN: Final = "hq:downgrade"


def params(config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings."""
    p = config.tier
    return {
        "basis": p.basis,
        "window_days": p.window_days,
        "silver": p.silver,
        "gold": p.gold,
        "timezone": config.timezone,
    }


def _candidates(ctx: JobContext) -> Iterator[list[str]]:
    m = ctx.cdb.models.Member
    after = ""
    while True:
        ids = [
            member
            for (member,) in m.select(m.member_id)
            .where((m.tier != TIER_ORDER[0]) & (m.member_id > after))
            .order_by(m.member_id)
            .limit(CHUNK)
            .tuples()
        ]
        if not ids:
            return
        yield ids
        after = ids[-1]


def _local_day(at: dt.datetime, ctx: JobContext) -> dt.date:
    return at.replace(tzinfo=dt.UTC).astimezone(ctx.config.zone()).date()


def measures(
    ctx: JobContext, ids: Sequence[str], since: dt.date, policy: TierPolicy
) -> dict[str, int]:
    """Each member's spend (fen) or visits in the window from ``since``."""
    e = ctx.cdb.models.Event
    window = e.member_id.in_(list(ids)) & (e.status == "ok") & (e.business_day >= since)
    out = dict.fromkeys(ids, 0)
    if policy.basis == "visits":
        rows = (
            e.select(e.member_id, pw.fn.COUNT(e.seq))
            .where(window & (e.type == "sale"))
            .group_by(e.member_id)
            .tuples()
        )
        out.update({member: int(n) for member, n in rows})
        return out
    rows = (
        e.select(
            e.member_id,
            e.terminal_id,
            e.store_id,
            e.seq,
            e.type,
            e.body,
            e.business_day,
            e.business_hour,
        )
        .where(window & e.type.in_(["sale", "return"]))
        .tuples()
    )
    for member, terminal, store, seq, kind, body, day, hour in rows:
        local = dt.datetime.combine(day, dt.time(int(hour)))
        try:
            spend = project(EventFacts(terminal, store, seq, kind, body, local)).spend
        except DomainError:
            continue  # projected at ingest, so never here; a body changed by hand counts 0
        out[member] += sum(spend.values())
    return out


def _reached(ctx: JobContext, rows: Sequence[Any]) -> dict[str, dt.date]:
    """The business day each member reached the tier they hold."""
    tc = ctx.cdb.models.TierChange
    out: dict[str, dt.date] = {}
    tiers = {r.member_id: r.tier for r in rows}
    changes = (
        tc.select(tc.member_id, tc.new_tier, pw.fn.MAX(tc.changed_at))
        .where(tc.member_id.in_(list(tiers)))
        .group_by(tc.member_id, tc.new_tier)
        .tuples()
    )
    for member, tier, at in changes:
        if tiers.get(member) == tier and at is not None:
            at = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
            out[member] = _local_day(at, ctx)
    for r in rows:
        if r.member_id not in out:
            out[r.member_id] = _local_day(r.registered_at or r.updated_at, ctx)
    return out


def run(ctx: JobContext, tally: Tally) -> None:
    """Review every member above the lowest tier, chunk by chunk."""
    policy = ctx.config.tier
    today = _local_day(ctx.now, ctx)
    since = policy.window_start(today)
    m, tc = ctx.cdb.models.Member, ctx.cdb.models.TierChange
    for ids in _candidates(ctx):

        def work(ids: list[str] = ids) -> list[str]:
            merged = survivors(ctx.cdb, ids)  # merged-away ids keep their last tier, unused
            rows = [
                r
                for r in lock_members(ctx.cdb, ids)
                if r.tier != TIER_ORDER[0] and r.member_id not in merged
            ]
            measure = measures(ctx, [r.member_id for r in rows], since, policy)
            reached = _reached(ctx, rows)
            changed = []
            for r in rows:
                tally.add("members_reviewed")
                target = downgrade_to(
                    r.tier, measure[r.member_id], reached[r.member_id], today, policy
                )
                if target is None:
                    continue
                if not ctx.dry_run:
                    m.update(tier=target, updated_at=ctx.now).where(
                        m.member_id == r.member_id
                    ).execute()
                    tc.insert(
                        member_id=r.member_id,
                        old_tier=r.tier,
                        new_tier=target,
                        spend_fen=r.cumulative_spend_fen,
                        changed_at=ctx.now,
                        origin_terminal=ORIGIN,
                        origin_seq=ctx.run_id,
                    ).execute()
                tally.add(f"{r.tier}_to_{target}")
                tally.note(
                    r.member_id,
                    old_tier=r.tier,
                    new_tier=target,
                    measure=measure[r.member_id],
                    basis=policy.basis,
                )
                changed.append(r.member_id)
            return changed

        in_chunk(ctx, work)
