"""The tier-downgrade job: members whose spend or visits in the window no longer keep their tier.

The basis, window and thresholds are the chain's rules in force (``cloud.store.rules``), the
figures the tills and ingest use. Only members above the lowest tier are reviewed. A member's
window measure is their daily spend or visits (``cloud.store.tier_spend``), the very sums
ingest upgrades by, so a member lowered here is lifted again only by buying enough inside the
window. The tier held since the member reached it (their newest tier change to it; else
registration) holds for one whole window (``cloud.domain.tier_review``). A downgrade is a tier
change from ``hq:downgrade`` with the run's id; a second run finds the member already at the
lower tier, which the window no longer lowers further.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Final

import peewee as pw

from cloud.domain.rulesets import tier_policy
from cloud.domain.tier_review import TierPolicy, downgrade_to
from cloud.domain.tiers import TIER_ORDER
from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import CHUNK, JobContext, Tally, in_chunk, lock_members
from cloud.store import rules as rules_store
from cloud.store import tier_spend
from cloud.store.aliases import survivors
from cloud.store.db import CloudDB
from protocol.rules import DEFAULT_VERSION

NAME: Final = "tier_downgrade"
ORIGIN: Final = "hq:downgrade"


def policy_in_force(cdb: CloudDB) -> tuple[TierPolicy, str]:
    """How the chain's rules in force keep tiers, and their version ("": the defaults)."""
    chain, _ = rules_store.in_force(cdb, "all")
    return tier_policy(chain), chain.version if chain is not None else DEFAULT_VERSION


def params(cdb: CloudDB, config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings."""
    p, version = policy_in_force(cdb)
    return {
        "rules_version": version,
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
    policy, _ = policy_in_force(ctx.cdb)
    today = _local_day(ctx.now, ctx)
    if policy.window_days == 0:
        return  # a tier earned since joining is never lowered (cloud.domain.tier_review)
    m, tc = ctx.cdb.models.Member, ctx.cdb.models.TierChange
    for ids in _candidates(ctx):

        def work(ids: list[str] = ids) -> list[str]:
            merged = survivors(ctx.cdb, ids)  # merged-away ids keep their last tier, unused
            rows = [
                r
                for r in lock_members(ctx.cdb, ids)
                if r.tier != TIER_ORDER[0] and r.member_id not in merged
            ]
            measure = tier_spend.measures(ctx.cdb, [r.member_id for r in rows], today, policy)
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
