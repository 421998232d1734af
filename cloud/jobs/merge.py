"""Duplicate-member merge: one phone registered twice becomes one member, the old id an alias.

Ingest marks a registration whose phone another member already holds (``duplicate_of``, the
earlier registration). The merge joins the duplicate into that survivor in one transaction,
with both rows locked: every row keyed by member (``MEMBER_KEYED``: the points ledger, the
events, the over-redemptions) moves to the survivor, keeping its id and time, so the FIFO
order of points and the purchase history stay as they happened; the spend adds up; the profile
joins (``cloud.domain.member_merge``); the old id becomes an alias that ingest follows for
events tills still send under it. Tills are told: the old id is deleted from their caches and
the survivor's facts are pushed. A merge already made is a no-op, so the job is idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.domain.member_merge import Profile, join, same_phone
from cloud.domain.tiers import TierThresholds, upgrade_for
from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import JobContext, Tally, lock_members
from cloud.store import member_facts
from cloud.store.adjustments import MemberConflict, MemberInvalid, MemberNotFound
from cloud.store.db import CloudDB
from cloud.store.downstream import append_change
from cloud.store.effects import PendingDown

NAME: Final = "merge_duplicates"
ORIGIN: Final = "hq:merge"
#: Tables whose rows belong to a member, by label, with the model holding ``member_id``.
#: A new member-keyed table (coupons, notes, complaints) joins the merge by one entry here.
MEMBER_KEYED: Final[tuple[tuple[str, Callable[[CloudDB], Any]], ...]] = (
    ("points_ledger", lambda cdb: cdb.models.PointsLedger),
    ("events", lambda cdb: cdb.models.Event),
    ("over_redemptions", lambda cdb: cdb.models.OverRedemption),
)


@dataclass(frozen=True, slots=True)
class Merged:
    """One merge as made (or found made already)."""

    old_id: str
    survivor: str
    already: bool
    moved: dict[str, int] = field(default_factory=dict)
    tier: str = ""
    cards_left_out: tuple[str, ...] = ()
    down: list[PendingDown] = field(default_factory=list)


def params(config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings."""
    return {"member_scope": config.member_scope}


def _profile(row: Any) -> Profile:
    return Profile(
        member_id=row.member_id,
        phone=row.phone or "",
        name=row.name or "",
        birthday=row.birthday,
        gender=row.gender or "",
        opt_out_sms=bool(row.opt_out_sms),
        member_code=row.member_code or "",
        cards=tuple(row.cards or ()),
        tier=row.tier,
        registered_at=row.registered_at,
    )


def _thresholds(config: JobsConfig) -> TierThresholds | None:
    policy = config.tier
    return TierThresholds(policy.silver, policy.gold) if policy.basis == "spend" else None


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
) -> Merged:
    """Join ``old_id`` into ``survivor_id`` (in the caller's transaction, or its own).

    Refused (MemberInvalid, MemberNotFound, MemberConflict) for a member merged into itself,
    an unknown member, one already merged elsewhere, or two members whose phones differ.
    """
    alias = cdb.jobs.MemberAlias
    with cdb.write():
        row = alias.get_or_none(alias.old_id == survivor_id)
        survivor_id = row.new_id if row is not None else survivor_id  # merged itself: follow
        if old_id == survivor_id:
            raise MemberInvalid(f"{old_id} cannot be merged into itself")
        rows = {r.member_id: r for r in lock_members(cdb, [old_id, survivor_id])}
        for member in (old_id, survivor_id):
            if member not in rows:
                raise MemberNotFound(f"no member {member!r}")
        done = alias.get_or_none(alias.old_id == old_id)
        if done is not None:
            if done.new_id == survivor_id:
                return Merged(old_id, survivor_id, True, dict(done.moved or {}))
            raise MemberConflict(f"{old_id} was merged into {done.new_id} already")
        old, keep = rows[old_id], rows[survivor_id]
        if not same_phone(old.phone or "", keep.phone or ""):
            raise MemberConflict(
                f"{old_id} and {survivor_id} have different phones; only members registered "
                "with one phone are merged"
            )
        joined = join(_profile(keep), _profile(old))
        spend = int(keep.cumulative_spend_fen) + int(old.cumulative_spend_fen)
        thresholds = _thresholds(config)
        tier = joined.profile.tier
        if thresholds is not None:
            tier = upgrade_for(tier, spend, thresholds) or tier
        if dry_run:
            return Merged(old_id, survivor_id, False, {}, tier, joined.cards_left_out)
        moved = _move(cdb, old_id, survivor_id)
        moved["spend_fen"] = int(old.cumulative_spend_fen)
        _write(cdb, old, keep, joined.profile, spend, tier, now)
        alias.insert(
            old_id=old_id,
            new_id=survivor_id,
            merged_at=now,
            merged_by=actor[:64],
            reason=reason,
            moved=moved,
        ).execute()
        alias.update(new_id=survivor_id).where(alias.new_id == old_id).execute()  # keep flat
        scope = config.member_scope
        version = append_change(cdb, "members", scope, "delete", [{"member_id": old_id}], now)
        down = [PendingDown("members", version, scope, "delete", [{"member_id": old_id}])]
        down += member_facts.push(cdb, [survivor_id], now, scope)
    return Merged(old_id, survivor_id, False, moved, tier, joined.cards_left_out, down)


def _move(cdb: CloudDB, old_id: str, survivor_id: str) -> dict[str, int]:
    moved = {}
    for label, model_of in MEMBER_KEYED:
        model = model_of(cdb)
        moved[label] = int(
            model.update(member_id=survivor_id).where(model.member_id == old_id).execute()
        )
    return moved


def _write(
    cdb: CloudDB, old: Any, keep: Any, profile: Profile, spend: int, tier: str, now: dt.datetime
) -> None:
    m = cdb.models
    m.Member.update(
        name=profile.name,
        birthday=profile.birthday,
        gender=profile.gender,
        opt_out_sms=profile.opt_out_sms,
        cards=list(profile.cards),
        tier=tier,
        registered_at=profile.registered_at,
        cumulative_spend_fen=spend,
        updated_at=now,
    ).where(m.Member.member_id == keep.member_id).execute()
    m.Member.update(
        duplicate_of=keep.member_id, cumulative_spend_fen=0, cards=[], updated_at=now
    ).where(m.Member.member_id == old.member_id).execute()
    if tier != keep.tier:
        m.TierChange.insert(
            member_id=keep.member_id,
            old_tier=keep.tier,
            new_tier=tier,
            spend_fen=spend,
            changed_at=now,
            origin_terminal=ORIGIN,
            origin_seq=0,
        ).execute()


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
