"""HQ's member register: add and edit members, and bring in a chain's members in bulk.

The cloud's member table is the authority; every change here pushes the member's facts to
the tills in the same transaction (``cloud.store.member_facts``), so tills learn members only
from the cloud. A phone, member code or card identifies one member at a till, so none may be
held by two members the cloud still uses (a merged-away id keeps its old phone for history).
A bulk import brings each member's opening figures from the chain's previous system: spend,
tier (recorded as a tier change from ``hq:import``) and points (an adjustment with the reason
"opening balance"). Importing the same file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.domain.member_merge import normalise_phone
from cloud.domain.tiers import TIER_ORDER, tier_rank
from cloud.store import adjustments, member_facts
from cloud.store.adjustments import MemberConflict, MemberInvalid
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown
from cloud.store.stores import store_known
from protocol.bounds import MAX_POINTS
from protocol.items import ItemError, validate_items
from protocol.phones import mobile_phone
from protocol.topics import ALL_STORES

#: Profile fields HQ may set (the phone is required on a new member).
PROFILE_FIELDS: Final = (
    "phone",
    "name",
    "birthday",
    "gender",
    "opt_out_sms",
    "member_code",
    "cards",
    "home_store",
)
IMPORT_ORIGIN: Final = "hq:import"
#: Problems listed in one refusal (the rest are counted).
MAX_LISTED: Final = 20
#: The earliest birthday taken; the latest is today (a typo like 2090 for 1990 is refused).
EARLIEST_BIRTHDAY: Final = dt.date(1900, 1, 1)
#: Ids a URL cannot carry: browsers and fetch collapse these path segments (``%2E`` as well;
#: curl the plain ones), so such a member's page and API address would lead somewhere else.
UNREACHABLE_IDS: Final = frozenset({".", ".."})
DOT_ID: Final = (
    "member id %(member_id)s cannot be used: a web address takes it for a step between "
    "folders, so the member could not be opened; choose another id"
)


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One member of a bulk import: the profile and the opening figures."""

    member_id: str
    profile: Mapping[str, Any]
    points: int = 0
    spend_fen: int = 0
    tier: str = "regular"


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did."""

    created: list[str]
    already_imported: list[str]
    down: list[PendingDown] = field(default_factory=list)


def clean_profile(member_id: str, given: Mapping[str, Any], *, new: bool) -> dict[str, Any]:
    """The profile fields checked against what a till accepts; MemberInvalid says what is wrong."""
    if new and member_id in UNREACHABLE_IDS:
        raise MemberInvalid(DOT_ID, member_id=repr(member_id))
    unknown = sorted(set(given) - set(PROFILE_FIELDS))
    if unknown:
        raise MemberInvalid(f"{member_id}: unknown field(s) {', '.join(unknown)}")
    out = dict(given)
    if "phone" in out:
        # The till's rule, after the +86 and punctuation a pasted number may carry.
        phone = mobile_phone(normalise_phone(str(out["phone"] or "")))
        if phone is None:
            raise MemberInvalid(
                "%(member)s: phone %(phone)s is not a phone number (11 digits starting with 1)",
                member=member_id, phone=repr(given["phone"]),
            )  # fmt: skip
        out["phone"] = phone
    elif new:
        raise MemberInvalid(f"{member_id}: the phone is required (it is the account key)")
    if "birthday" in out:
        if out["birthday"] is None:
            raise MemberInvalid(f"{member_id}: a birthday can be corrected, not removed")
        if isinstance(out["birthday"], dt.date):
            # Tomorrow by UTC is already today east of it (Shanghai is UTC+8).
            latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
            if not EARLIEST_BIRTHDAY <= out["birthday"] <= latest:
                raise MemberInvalid(
                    f"{member_id}: birthday {out['birthday'].isoformat()} is not a date of "
                    f"birth (from {EARLIEST_BIRTHDAY.isoformat()} to today)"
                )
            out["birthday"] = out["birthday"].isoformat()
    if "cards" in out:
        out["cards"] = list(out["cards"] or [])
    item = {"member_id": member_id, **{k: v for k, v in out.items() if k != "home_store"}}
    try:
        validate_items("members", "upsert", [item])
    except ItemError as err:
        raise MemberInvalid(f"{member_id}: {str(err).removeprefix('items[0]: ')}") from err
    if "birthday" in out:
        out["birthday"] = dt.date.fromisoformat(out["birthday"])
    return out


def _merged_away(cdb: CloudDB) -> Any:
    alias = cdb.jobs.MemberAlias
    return alias.select(alias.old_id)


def phone_holders(cdb: CloudDB, phone: str, other_than: Iterable[str] = ()) -> list[str]:
    """The members the cloud still uses (not merged away) that hold ``phone``, in id order."""
    m = cdb.models.Member
    skip = set(other_than)
    rows = m.select(m.member_id).where((m.phone == phone) & m.member_id.not_in(_merged_away(cdb)))
    return [r.member_id for r in rows.order_by(m.member_id) if r.member_id not in skip]


def holders(cdb: CloudDB, profile: Mapping[str, Any], other_than: Iterable[str] = ()) -> list[str]:
    """Problems: the profile's phone, member code or cards already held by another member."""
    m = cdb.models.Member
    skip = set(other_than)
    found = []
    live = m.member_id.not_in(_merged_away(cdb))
    if profile.get("phone"):
        for holder in phone_holders(cdb, profile["phone"], skip):
            found.append(f"phone {profile['phone']} is held by {holder}")
    if profile.get("member_code"):
        for row in m.select(m.member_id).where((m.member_code == profile["member_code"]) & live):
            if row.member_id not in skip:
                found.append(f"member code {profile['member_code']} is held by {row.member_id}")
    for card in profile.get("cards") or ():
        # Every character a LIKE or the JSON text could treat specially becomes a wildcard:
        # the pattern finds a superset, checked exactly below.
        pattern = "%" + re.sub(r"[^0-9A-Za-z]+", "%", card) + "%"
        for row in m.select(m.member_id, m.cards).where(m.cards.cast("text") ** pattern & live):
            if row.member_id not in skip and card in (row.cards or []):
                found.append(f"card {card} is held by {row.member_id}")
    return found


def _refuse(problems: Sequence[str]) -> None:
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise MemberConflict("; ".join(problems[:MAX_LISTED]) + more)


def _check_store(cdb: CloudDB, profile: Mapping[str, Any]) -> None:
    store = profile.get("home_store")
    if store and not store_known(cdb, str(store)):
        raise MemberInvalid(f"unknown store {store!r}; add it under /api/stores")


def create_member(
    cdb: CloudDB,
    member_id: str,
    given: Mapping[str, Any],
    *,
    now: dt.datetime,
    scope: str = ALL_STORES,
) -> tuple[bool, list[PendingDown]]:
    """Add a member; (False, []) when it exists with exactly this profile already."""
    profile = clean_profile(member_id, given, new=True)
    m = cdb.models.Member
    with cdb.write():
        _check_store(cdb, profile)
        held = cdb.locking(m.select().where(m.member_id == member_id)).first()
        if held is not None:
            if all(_stored(held, k) == v for k, v in profile.items()):
                return False, []
            raise MemberConflict(f"member {member_id} exists with another profile; edit it")
        _refuse(holders(cdb, profile))
        m.insert(
            member_id=member_id, registered_at=now, updated_at=now, **_columns(profile)
        ).execute()
        return True, member_facts.push(cdb, [member_id], now, scope)


def _stored(row: Any, key: str) -> Any:
    value = getattr(row, key)
    return list(value or []) if key == "cards" else value


def _columns(profile: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if k == "cards" else v) for k, v in profile.items()}


def edit_member(
    cdb: CloudDB,
    member_id: str,
    given: Mapping[str, Any],
    *,
    now: dt.datetime,
    scope: str = ALL_STORES,
) -> tuple[dict[str, list[Any]], list[PendingDown]]:
    """Change profile fields; returns field -> [before, after] for those that changed."""
    if not given:
        raise MemberInvalid("nothing to change: send the fields to edit")
    profile = clean_profile(member_id, given, new=False)
    with cdb.write():
        row = adjustments.lock_member(cdb, member_id)
        alias = cdb.jobs.MemberAlias.get_or_none(cdb.jobs.MemberAlias.old_id == member_id)
        if alias is not None:
            raise MemberConflict(
                f"member {member_id} was merged into {alias.new_id}; edit {alias.new_id}"
            )
        _check_store(cdb, profile)
        changed = {k: [_stored(row, k), v] for k, v in profile.items() if _stored(row, k) != v}
        if not changed:
            return {}, []
        _refuse(holders(cdb, {k: v[1] for k, v in changed.items()}, other_than=[member_id]))
        m = cdb.models.Member
        m.update(updated_at=now, **_columns({k: v[1] for k, v in changed.items()})).where(
            m.member_id == member_id
        ).execute()
        return _iso(changed), member_facts.push(cdb, [member_id], now, scope)


def _iso(changed: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        k: [v.isoformat() if isinstance(v, dt.date) else v for v in pair]
        for k, pair in changed.items()
    }


def _check_rows(rows: Sequence[ImportRow]) -> list[dict[str, Any]]:
    problems: list[str] = []
    profiles: list[dict[str, Any]] = []
    seen: dict[str, dict[str, str]] = {"id": {}, "phone": {}, "code": {}, "card": {}}
    for i, row in enumerate(rows):
        try:
            profile = clean_profile(row.member_id, row.profile, new=True)
        except MemberInvalid as err:
            problems.append(f"members[{i}] {err}")
            profiles.append({})
            continue
        if row.tier not in TIER_ORDER:
            problems.append(f"members[{i}] {row.member_id}: unknown tier {row.tier!r}")
        if not 0 <= row.points <= MAX_POINTS or row.spend_fen < 0:
            problems.append(
                f"members[{i}] {row.member_id}: opening points must be 0.."
                f"{MAX_POINTS} and spend at least 0"
            )
        keys = [
            ("id", row.member_id),
            ("phone", profile["phone"]),
            ("code", profile.get("member_code") or ""),
            *(("card", c) for c in profile.get("cards") or ()),
        ]
        for kind, key in keys:
            if key and key in seen[kind]:
                problems.append(
                    f"members[{i}] {row.member_id}: {kind} {key} also in {seen[kind][key]}"
                )
            elif key:
                seen[kind][key] = row.member_id
        profiles.append(profile)
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise MemberInvalid("; ".join(problems[:MAX_LISTED]) + more)
    return profiles


def import_members(
    cdb: CloudDB,
    rows: Sequence[ImportRow],
    *,
    actor: str,
    now: dt.datetime,
    home_store: str = "",
    scope: str = ALL_STORES,
) -> Imported:
    """Create every member of ``rows`` with its opening figures, all or nothing.

    Members imported before are left as they are (their points, spend and tier have moved
    on since); a member id or phone the cloud already uses otherwise is a conflict, and a
    conflict or a bad row refuses the whole import, naming the rows.
    """
    profiles = _check_rows(rows)
    m, j = cdb.models, cdb.jobs
    with cdb.write():
        if home_store:
            _check_store(cdb, {"home_store": home_store})
        ids = [r.member_id for r in rows]
        done = {
            r
            for (r,) in j.MemberImport.select(j.MemberImport.member_id)
            .where(j.MemberImport.member_id.in_(ids))
            .tuples()
        }
        fresh = [(r, p) for r, p in zip(rows, profiles, strict=True) if r.member_id not in done]
        fresh_ids = [r.member_id for r, _ in fresh]
        existing = {
            r
            for (r,) in m.Member.select(m.Member.member_id)
            .where(m.Member.member_id.in_(fresh_ids))
            .tuples()
        }
        problems = [
            f"member {r} exists already (registered at a till or by HQ)"
            for r in fresh_ids
            if r in existing
        ]
        for _, profile in fresh:
            problems += holders(cdb, profile, other_than=fresh_ids)
        _refuse(problems)
        for row, profile in fresh:
            _create_imported(cdb, row, {"home_store": home_store, **profile}, actor, now)
        down = member_facts.push(cdb, fresh_ids, now, scope) if fresh_ids else []
    return Imported(fresh_ids, sorted(done), down)


def _create_imported(
    cdb: CloudDB, row: ImportRow, profile: Mapping[str, Any], actor: str, now: dt.datetime
) -> None:
    m, j = cdb.models, cdb.jobs
    m.Member.insert(
        member_id=row.member_id,
        registered_at=now,
        updated_at=now,
        tier=row.tier,
        cumulative_spend_fen=row.spend_fen,
        **_columns(profile),
    ).execute()
    j.MemberImport.insert(
        member_id=row.member_id,
        imported_at=now,
        actor=actor[:64],
        opening_points=row.points,
        opening_spend_fen=row.spend_fen,
        opening_tier=row.tier,
    ).execute()
    if tier_rank(row.tier) > 0:
        m.TierChange.insert(
            member_id=row.member_id,
            old_tier=TIER_ORDER[0],
            new_tier=row.tier,
            spend_fen=row.spend_fen,
            changed_at=now,
            origin_terminal=IMPORT_ORIGIN,
            origin_seq=0,
        ).execute()
    if row.points:
        adjustments.write(
            cdb,
            row.member_id,
            row.points,
            adjustments.OPENING_REASON,
            actor,
            f"import:{row.member_id}",
            now,
            0,
        )
