"""The duplicate-member merge job: members marked as duplicates and not joined yet are joined.

Ingest joins a registration whose phone another member already holds at once
(``cloud.store.merging.merge_marked``); what is left for this job are marks ingest could not
resolve (and any left by earlier releases). The joining itself is ``cloud.store.merging``:
rows keyed by member (``MEMBER_KEYED``) move to the survivor, the old id becomes an alias,
tills are told. The survivor's tier is judged by the rules in force (``cloud.store.rules``).
A merge already made is a no-op, so the job is idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

from cloud.domain.rulesets import tier_policy
from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import JobContext, Tally
from cloud.store import rules as rules_store
from cloud.store.adjustments import MemberConflict, MemberInvalid, MemberNotFound
from cloud.store.db import CloudDB
from cloud.store.merging import MEMBER_KEYED, Merged, merge_into

__all__ = ["MEMBER_KEYED", "NAME", "ORIGIN", "Merged", "merge_member", "params", "run"]

NAME: Final = "merge_duplicates"
ORIGIN: Final = "hq:merge"


def params(cdb: CloudDB, config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings."""
    return {"member_scope": config.member_scope}


def merge_member(
    cdb: CloudDB,
    old_id: str,
    survivor_id: str,
    *,
    now: dt.datetime,
    actor: str,
    reason: str,
    config: JobsConfig,
    dry_run: bool = False,
    move_cards: bool = True,
    keep_phone: str | None = None,
) -> Merged:
    """Join ``old_id`` into ``survivor_id`` under the chain's rules in force.

    Refused (MemberInvalid, MemberNotFound, MemberConflict) for a member merged into itself,
    an unknown member, one already merged elsewhere, or two members whose phones differ
    unless ``keep_phone`` names the one the survivor keeps.
    """
    chain, _ = rules_store.in_force(cdb, "all")
    today = now.replace(tzinfo=dt.UTC).astimezone(config.zone()).date()
    return merge_into(
        cdb, old_id, survivor_id, now=now, actor=actor, reason=reason,
        scope=config.member_scope, policy=tier_policy(chain), today=today, dry_run=dry_run,
        move_cards=move_cards, keep_phone=keep_phone,
    )  # fmt: skip


def _pending(ctx: JobContext) -> Iterator[tuple[str, str]]:
    """Members marked as duplicates and not merged yet, oldest marks first."""
    m, alias = ctx.cdb.models.Member, ctx.cdb.jobs.MemberAlias
    rows = (
        m.select(m.member_id, m.duplicate_of)
        .where(m.duplicate_of.is_null(False) & m.member_id.not_in(alias.select(alias.old_id)))
        .order_by(m.member_id)
        .tuples()
    )
    yield from list(rows)


def run(ctx: JobContext, tally: Tally) -> None:
    """Merge every member ingest marked as a duplicate into the member it duplicates."""
    for old_id, survivor in _pending(ctx):
        tally.add("duplicates_found")
        try:
            merged = merge_member(
                ctx.cdb,
                old_id,
                survivor,
                now=ctx.now,
                actor=ctx.actor,
                reason="same phone registered twice",
                config=ctx.config,
                dry_run=ctx.dry_run,
                move_cards=False,  # nobody at HQ looked: the phone alone never hands over cards
            )
        except (MemberConflict, MemberNotFound, MemberInvalid) as err:
            tally.add("refused")
            tally.note(old_id, changed=False, refused=str(err))
            continue
        if merged.down:
            ctx.publish(merged.down)
        if not merged.already:
            tally.add("merged")
            tally.note(old_id, merged_into=merged.survivor, moved=merged.moved, tier=merged.tier)
