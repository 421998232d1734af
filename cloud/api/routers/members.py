"""Members: profile and points ledger; phones and names only for roles allowed to see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud.api.paths import MemberPath
from cloud.api.policy import PolicyRouter, Principal, Role, allow
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who
from cloud.store import queries

MEMBER_READERS = allow(
    Role.MARKETING,
    Role.ANALYST,
    Role.STORE_MANAGER,
    note="phones and names masked except for admin and marketing; "
    "store managers: members of their stores only",
)


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits (MISSION privacy rule)."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """The first character and a star per further character."""
    return name[:1] + "*" * max(0, len(name) - 1)


def _visible(cdb: Any, who: Principal, member_id: str) -> Any:
    m = cdb.models
    member = m.Member.get_or_none(m.Member.member_id == member_id)
    if member is not None and who.stores is not None and member.home_store not in who.stores:
        raise Refused(403, "member %(member)r belongs to another store", member=member_id)
    return member


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Member profile and points."""
    r = PolicyRouter(enforcer, tags=["members"])

    @r.get("/api/members/{member_id}", policy=MEMBER_READERS)
    def member(cdb: Db, who: Who, member_id: MemberPath) -> dict[str, Any]:
        """Profile: phone, name, home store, tier, cumulative spend (masked per role)."""
        found = _visible(cdb, who, member_id)
        if found is None:
            raise Refused(404, "no member %(member)r", member=member_id)
        phone, name = found.phone or "", found.name or ""
        if not who.sees_personal_data:
            phone, name = mask_phone(phone), mask_name(name)
        return {
            "member_id": found.member_id,
            "phone": phone,
            "name": name,
            "home_store": found.home_store,
            "tier": found.tier,
            "cumulative_spend_fen": found.cumulative_spend_fen,
            "duplicate_of": found.duplicate_of,
            "masked": not who.sees_personal_data,
        }

    @r.get("/api/members/{member_id}/points", policy=MEMBER_READERS)
    def member_points(cdb: Db, who: Who, member_id: MemberPath) -> dict[str, Any]:
        """The points ledger and the balance it sums to, plus any over-redemptions; store
        managers: the rows recorded at their stores' tills and HQ (the balance is chain-wide)."""
        _visible(cdb, who, member_id)
        found = queries.member_points(cdb, member_id, who.stores)
        if found is None:
            raise Refused(
                404, "no member %(member)r and no points recorded for it", member=member_id
            )
        return found

    return r
