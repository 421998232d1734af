"""Joining a duplicate member into the survivor: rows moved, profile and spend joined, id aliased.

One phone registered twice (two tills offline at once) gives one customer two ids. Ingest joins
the second registration into the first in the very transaction that stores it
(``merge_marked``), so no till ever holds the phone under the duplicate alone; HQ's merge
(cloud.api member administration) and the merge job (marks left by earlier releases) use the
same ``merge_into``. Both rows are locked; every row keyed by member (``MEMBER_KEYED``: the
points ledger, the events, the over-redemptions, the coupons bound to the member and their
uses) moves to the survivor keeping its id and time, so the FIFO order of points and the
purchase history stay as they happened; the daily spend adds into the survivor's; the profile
joins (``cloud.domain.member_merge``); the old id becomes an alias that ingest follows for
events tills still send under it. Tills are told: the old id is deleted from their caches, the
survivor's facts are pushed, and the moved coupons are pushed bound to the survivor. A merge
already made is a no-op.

Two members with different phones (a customer who changed number and registered again) are
joined only when HQ says which phone the survivor keeps (``keep_phone``): the phone is the
account key, so the cloud never picks one. The kept phone may not be held by a third member;
the dropped one finds nobody afterwards, at the cloud or at a till (a carrier may give the
number to someone else), and the alias records both, masked, with who merged and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from cloud.domain.crm import mask_phone
from cloud.domain.member_merge import Profile, join, normalise_phone, same_phone
from cloud.domain.tier_review import TierPolicy, upgrade_to
from cloud.store import coupons, member_facts, tier_spend
from cloud.store.adjustments import MemberConflict, MemberInvalid, MemberNotFound
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown, erased_among, logged_change
from cloud.store.member_admin import phone_holders

#: Tables whose rows belong to a member, by label, with the model holding ``member_id``.
#: A new member-keyed table (notes, complaints) joins the merge by one entry here.
MEMBER_KEYED: Final[tuple[tuple[str, Callable[[CloudDB], Any]], ...]] = (
    ("points_ledger", lambda cdb: cdb.models.PointsLedger),
    ("events", lambda cdb: cdb.models.Event),
    ("over_redemptions", lambda cdb: cdb.models.OverRedemption),
    ("coupons", lambda cdb: cdb.remote.Coupon),
    ("coupon_uses", lambda cdb: cdb.remote.CouponUse),
    ("complaints", lambda cdb: cdb.crm.Complaint),
    ("member_notes", lambda cdb: cdb.crm.GuideNote),
)
ORIGIN: Final = "hq:merge"


@dataclass(frozen=True, slots=True)
class Merged:
    """One merge as made (or found made already)."""

    old_id: str
    survivor: str
    already: bool
    moved: dict[str, Any] = field(default_factory=dict)
    tier: str = ""
    cards_left_out: tuple[str, ...] = ()
    down: list[PendingDown] = field(default_factory=list)
    phone: str = ""  # the survivor's phone after the merge
    phone_dropped: str = ""  # the phone that no longer finds the member ("" when none)


def _profile(row: Any) -> Profile:
    return Profile(
        member_id=row.member_id, phone=row.phone or "", name=row.name or "",
        birthday=row.birthday, gender=row.gender or "", opt_out_sms=bool(row.opt_out_sms),
        member_code=row.member_code or "", cards=tuple(row.cards or ()), tier=row.tier,
        registered_at=row.registered_at,
    )  # fmt: skip


def _locked(cdb: CloudDB, member_ids: Sequence[str]) -> dict[str, Any]:
    m = cdb.models.Member
    query = m.select().where(m.member_id.in_(sorted(set(member_ids)))).order_by(m.member_id)
    return {r.member_id: r for r in cdb.locking(query)}


def merge_into(
    cdb: CloudDB, old_id: str, survivor_id: str, *, now: dt.datetime, actor: str, reason: str,
    scope: str, policy: TierPolicy, today: dt.date, dry_run: bool = False, push: bool = True,
    move_cards: bool = True, keep_phone: str | None = None,
) -> Merged:  # fmt: skip
    """Join ``old_id`` into ``survivor_id`` (in the caller's transaction, or its own).

    The survivor's tier is the higher of the two, lifted further if the joined spend or
    visits in ``policy``'s window ending ``today`` earn more. ``push=False`` leaves the
    survivor's facts for the caller to push (ingest pushes once the terminal's mark is
    written). Refused (MemberInvalid, MemberNotFound, MemberConflict) for a member merged
    into itself, an unknown member, one already merged elsewhere, or differing phones unless
    ``keep_phone`` names the one the survivor keeps (``_phones``).

    ``move_cards=False`` (every merge nobody at HQ looked at) keeps the duplicate's cards off
    the survivor: a phone is no proof of identity, and a till that registers a "duplicate"
    with someone's phone and its own card would otherwise spend that member's points with
    the card. The cards are listed as held (``cards_left_out`` and the alias row) for HQ.
    """
    alias = cdb.jobs.MemberAlias
    with cdb.write():
        row = alias.get_or_none(alias.old_id == survivor_id)
        survivor_id = row.new_id if row is not None else survivor_id  # merged itself: follow
        if old_id == survivor_id:
            raise MemberInvalid(f"{old_id} cannot be merged into itself")
        rows = _locked(cdb, [old_id, survivor_id])
        for member in (old_id, survivor_id):
            if member not in rows:
                raise MemberNotFound(f"no member {member!r}")
        done = alias.get_or_none(alias.old_id == old_id)
        if done is not None:
            if done.new_id == survivor_id:
                return Merged(old_id, survivor_id, True, dict(done.moved or {}),
                              phone=rows[survivor_id].phone or "")  # fmt: skip
            raise MemberConflict(f"{old_id} was merged into {done.new_id} already")
        old, keep = rows[old_id], rows[survivor_id]
        phone, dropped = _phones(cdb, old, keep, keep_phone)
        if dropped and not reason.strip():
            raise MemberInvalid("say why the members are merged (reason)")
        held = () if move_cards else tuple(old.cards or ())
        joined = join(_profile(keep), replace(_profile(old), cards=()) if held else _profile(old))
        spend = int(keep.cumulative_spend_fen) + int(old.cumulative_spend_fen)
        both = tier_spend.measures(cdb, [old_id, survivor_id], today, policy)
        tier = joined.profile.tier
        tier = upgrade_to(tier, both[old_id] + both[survivor_id], policy) or tier
        left_out = (*joined.cards_left_out, *held)
        if dry_run:
            return Merged(old_id, survivor_id, False, {}, tier, left_out, [], phone, dropped)
        moved_codes = [
            c.code for c in cdb.remote.Coupon.select(cdb.remote.Coupon.code)
            .where(cdb.remote.Coupon.member_id == old_id)
        ]  # fmt: skip
        moved: dict[str, Any] = dict(_move(cdb, old_id, survivor_id))
        moved["spend_days"] = tier_spend.move(cdb, old_id, survivor_id)
        moved["tags"] = _move_tags(cdb, old_id, survivor_id)
        moved["preferences"] = _move_preferences(cdb, old_id, survivor_id)
        moved["spend_fen"] = int(old.cumulative_spend_fen)
        if held:
            moved["cards_held"] = list(held)
        if dropped:  # masked: the alias outlives an erasure of the survivor's numbers
            moved["phone"] = {
                "kept": mask_phone(phone),
                "dropped": mask_phone(dropped),
                "kept_from": old_id if same_phone(phone, old.phone or "") else survivor_id,
            }
        _write(cdb, old, keep, replace(joined.profile, phone=phone), spend, tier, now)
        alias.insert(
            old_id=old_id, new_id=survivor_id, merged_at=now, merged_by=actor[:64],
            reason=reason, moved=moved,
        ).execute()  # fmt: skip
        alias.update(new_id=survivor_id).where(alias.new_id == old_id).execute()  # keep flat
        down = [logged_change(cdb, "members", scope, "delete", [{"member_id": old_id}], now)]
        if push:
            down += member_facts.push(cdb, [survivor_id], now, scope)
        if moved_codes:  # a till's cache must bind them to the survivor, or it refuses them
            down += coupons.push(cdb, moved_codes, now)
    return Merged(old_id, survivor_id, False, moved, tier, left_out, down, phone, dropped)


def _phones(cdb: CloudDB, old: Any, keep: Any, keep_phone: str | None) -> tuple[str, str]:
    """(the phone the survivor keeps, the one dropped or ""): one phone shared needs no
    choice; two need HQ's, naming one of them and held by no third member."""
    old_phone, into_phone = normalise_phone(old.phone or ""), normalise_phone(keep.phone or "")
    chosen = None if keep_phone is None else normalise_phone(keep_phone)
    if same_phone(old_phone, into_phone):
        if chosen is not None and chosen != into_phone:
            raise MemberInvalid(
                "keep_phone %(phone)s is not the members' phone %(shared)s",
                phone=keep_phone, shared=into_phone,
            )  # fmt: skip
        return keep.phone, ""
    erased = sorted(erased_among(cdb, [old.member_id, keep.member_id]))
    if erased:  # no phone left to choose, and nothing more is recorded on it
        raise MemberConflict(
            "%(member)s's personal data was erased; nothing more is recorded", member=erased[0]
        )
    if chosen is None:
        raise MemberConflict(
            "%(old)s and %(into)s have different phones (%(old_phone)s, %(into_phone)s): say "
            "which one the merged member keeps (keep_phone); the other will find nobody",
            old=old.member_id, into=keep.member_id, old_phone=old_phone or "-",
            into_phone=into_phone or "-",
        )  # fmt: skip
    if not chosen or chosen not in (old_phone, into_phone):
        raise MemberInvalid(
            "keep_phone %(phone)s is neither member's phone: choose %(old_phone)s or "
            "%(into_phone)s",
            phone=keep_phone, old_phone=old_phone or "-", into_phone=into_phone or "-",
        )  # fmt: skip
    held = phone_holders(cdb, chosen, other_than=(old.member_id, keep.member_id))
    if held:
        raise MemberConflict(
            "phone %(phone)s is held by %(holders)s too: merge or edit that member first",
            phone=chosen, holders=", ".join(held),
        )  # fmt: skip
    return chosen, into_phone if chosen == old_phone else old_phone


def _move(cdb: CloudDB, old_id: str, survivor_id: str) -> dict[str, int]:
    moved = {}
    for label, model_of in MEMBER_KEYED:
        model = model_of(cdb)
        moved[label] = int(
            model.update(member_id=survivor_id).where(model.member_id == old_id).execute()
        )
    return moved


def _move_tags(cdb: CloudDB, old_id: str, survivor_id: str) -> int:
    """The duplicate's tags join the survivor's (one row per tag: a tag both carry stays once)."""
    t = cdb.crm.MemberTag
    have = {r.tag for r in t.select(t.tag).where(t.member_id == survivor_id)}
    rows = [r for r in t.select().where(t.member_id == old_id) if r.tag not in have]
    for r in rows:
        t.insert(member_id=survivor_id, tag=r.tag, added_by=r.added_by,
                 added_at=r.added_at).execute()  # fmt: skip
    t.delete().where(t.member_id == old_id).execute()
    return len(rows)


def _move_preferences(cdb: CloudDB, old_id: str, survivor_id: str) -> int:
    """The duplicate's preferences join the survivor's; where both set one, the later wins."""
    p = cdb.crm.MemberPreference
    have = {r.key: r.set_at for r in p.select(p.key, p.set_at).where(p.member_id == survivor_id)}
    rows = [r for r in p.select().where(p.member_id == old_id)
            if r.key not in have or r.set_at > have[r.key]]  # fmt: skip
    for r in rows:
        p.delete().where((p.member_id == survivor_id) & (p.key == r.key)).execute()
        p.insert(member_id=survivor_id, key=r.key, value=r.value, set_by=r.set_by,
                 set_at=r.set_at).execute()  # fmt: skip
    p.delete().where(p.member_id == old_id).execute()
    return len(rows)


def _write(
    cdb: CloudDB, old: Any, keep: Any, profile: Profile, spend: int, tier: str, now: dt.datetime
) -> None:
    m = cdb.models
    m.Member.update(
        phone=profile.phone, name=profile.name, birthday=profile.birthday, gender=profile.gender,
        opt_out_sms=profile.opt_out_sms, cards=list(profile.cards), tier=tier,
        registered_at=profile.registered_at, cumulative_spend_fen=spend, updated_at=now,
    ).where(m.Member.member_id == keep.member_id).execute()  # fmt: skip
    # A merged-away id keeps its phone for history, unless HQ dropped that phone: then nothing
    # at the cloud finds the customer by it any more.
    gone = {} if same_phone(old.phone or "", profile.phone) else {"phone": ""}
    m.Member.update(
        duplicate_of=keep.member_id, cumulative_spend_fen=0, cards=[], updated_at=now, **gone
    ).where(m.Member.member_id == old.member_id).execute()
    if tier != keep.tier:
        m.TierChange.insert(
            member_id=keep.member_id, old_tier=keep.tier, new_tier=tier, spend_fen=spend,
            changed_at=now, origin_terminal=ORIGIN, origin_seq=0,
        ).execute()  # fmt: skip


def merge_marked(
    cdb: CloudDB, member_ids: Sequence[str], *, now: dt.datetime, scope: str,
    policy: TierPolicy, today: dt.date,
) -> tuple[dict[str, str], list[PendingDown]]:  # fmt: skip
    """Join those of ``member_ids`` marked as duplicates (ingest, in the batch's transaction).

    Returns old id -> survivor for each one joined, and the changes to publish (the old ids'
    deletes and the moved coupons; the caller pushes the survivors' facts). A duplicate that
    cannot be joined (its twin gone, or merged into a member with another phone) keeps its
    mark for HQ and the merge job.
    """
    m, alias = cdb.models.Member, cdb.jobs.MemberAlias
    marked = list(
        m.select(m.member_id, m.duplicate_of)
        .where(
            m.member_id.in_(sorted(set(member_ids)))
            & m.duplicate_of.is_null(False)
            & m.member_id.not_in(alias.select(alias.old_id))
        )
        .order_by(m.member_id)
        .tuples()
    )
    joined: dict[str, str] = {}
    down: list[PendingDown] = []
    for old_id, twin in marked:
        try:
            done = merge_into(
                cdb, old_id, twin, now=now, actor="ingest", reason="same phone registered twice",
                scope=scope, policy=policy, today=today, push=False, move_cards=False,
            )  # fmt: skip
        except (MemberConflict, MemberNotFound, MemberInvalid):
            continue
        joined[old_id] = done.survivor
        down += done.down
    return joined, down
