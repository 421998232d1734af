"""Points HQ adds or takes by hand (each with its reason), and opening balances of imported members.

Every adjustment is a ``points_adjustments`` row (who, why, the balance after) and one ledger
row (reason ``adjust``, origin ``hq:adjust`` and the adjustment's id), written while the
member's row is locked, so the balance it checks is the balance it changes. A request id makes
a retried request harmless: the same id with the same content answers with the adjustment
already made; with other content it is refused.

An adjustment may not take a balance below zero: MISSION allows a negative balance only
through reconciliation of offline redemptions, and that is reported, never made by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

import peewee as pw

from cloud.store import aliases, member_facts
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown
from cloud.store.errors import CloudStoreError
from protocol.bounds import MAX_POINTS, RECORD_ID_CHARS, TEXT_CHARS
from protocol.topics import ALL_STORES

#: The ledger origin of a manual adjustment; ":" keeps it apart from every terminal id.
ORIGIN: Final = "hq:adjust"
OPENING_REASON: Final = "opening balance"


class MemberAdminError(CloudStoreError):
    """A member change HQ asked for cannot be made; ``str(err)`` says why."""


class MemberNotFound(MemberAdminError):
    """No such member."""


class MemberConflict(MemberAdminError):
    """The change contradicts what the cloud holds (a phone in use, a balance too small...)."""


class MemberInvalid(MemberAdminError):
    """The request itself is malformed (no reason, a zero delta, a bad phone...)."""


@dataclass(frozen=True, slots=True)
class Adjusted:
    """An adjustment as recorded; ``replayed`` when the request id was seen before."""

    adjustment_id: int
    request_id: str
    member_id: str
    delta: int
    reason: str
    actor: str
    created_at: dt.datetime
    balance_after: int
    replayed: bool = False
    down: list[PendingDown] = field(default_factory=list)


def balance(cdb: CloudDB, member_id: str) -> int:
    """The member's balance: the sum of its ledger (never stored)."""
    ledger = cdb.models.PointsLedger
    total = (
        ledger.select(pw.fn.COALESCE(pw.fn.SUM(ledger.delta), 0))
        .where(ledger.member_id == member_id)
        .scalar()
    )
    return int(total or 0)


def lock_member(cdb: CloudDB, member_id: str) -> Any:
    """The member's row, locked for the rest of the transaction; MemberNotFound if none."""
    member = cdb.models.Member
    row = cdb.locking(member.select().where(member.member_id == member_id)).first()
    if row is None:
        raise MemberNotFound(f"no member {member_id!r}")
    return row


def check(delta: int, reason: str, request_id: str) -> None:
    """Refuse a malformed adjustment with the reason."""
    if not reason.strip():
        raise MemberInvalid("say why the points are adjusted (reason): an auditor reads it")
    if len(reason) > TEXT_CHARS:
        raise MemberInvalid(f"the reason is {len(reason)} characters; at most {TEXT_CHARS}")
    if delta == 0:
        raise MemberInvalid("an adjustment of 0 points changes nothing")
    if abs(delta) > MAX_POINTS:
        raise MemberInvalid(f"at most {MAX_POINTS} points per adjustment, got {delta}")
    if not 0 < len(request_id) <= RECORD_ID_CHARS:
        raise MemberInvalid(f"request id must be 1-{RECORD_ID_CHARS} characters")


def _record(row: Any, replayed: bool, down: list[PendingDown]) -> Adjusted:
    return Adjusted(
        adjustment_id=int(row.id),
        request_id=row.request_id,
        member_id=row.member_id,
        delta=int(row.delta),
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        balance_after=int(row.balance_after),
        replayed=replayed,
        down=down,
    )


def write(
    cdb: CloudDB,
    member_id: str,
    delta: int,
    reason: str,
    actor: str,
    request_id: str,
    now: dt.datetime,
    before: int,
) -> Any:
    """The adjustment row and its ledger row (the caller holds the member's lock)."""
    adj = cdb.jobs.PointsAdjustment.create(
        request_id=request_id,
        member_id=member_id,
        delta=delta,
        reason=reason,
        actor=actor[:64],
        created_at=now,
        balance_after=before + delta,
    )
    cdb.models.PointsLedger.insert(
        member_id=member_id,
        delta=delta,
        reason="adjust",
        origin_sale_id="",
        origin_terminal=ORIGIN,
        origin_seq=int(adj.id),
        line_no=0,
        created_at=now,
    ).execute()
    return adj


def adjust_points(
    cdb: CloudDB,
    member_id: str,
    delta: int,
    reason: str,
    *,
    actor: str,
    request_id: str,
    now: dt.datetime,
    scope: str = ALL_STORES,
) -> Adjusted:
    """Add (or take) points by hand, with the reason; push the member's new facts.

    Runs in its own transaction, or in the caller's (the API audits in the same one); the
    returned ``down`` changes are published by the caller once committed.
    """
    reason = reason.strip()
    check(delta, reason, request_id)
    with cdb.write():
        lock_member(cdb, member_id)
        seen = cdb.jobs.PointsAdjustment.get_or_none(
            cdb.jobs.PointsAdjustment.request_id == request_id
        )
        if seen is not None:
            if (seen.member_id, int(seen.delta), seen.reason) != (member_id, delta, reason):
                raise MemberConflict(
                    f"request id {request_id!r} was used for another adjustment "
                    f"({seen.delta:+d} points to {seen.member_id}); use a new one"
                )
            return _record(seen, True, [])
        survivor = aliases.resolve(cdb, member_id)
        if survivor != member_id:
            raise MemberConflict(
                f"member {member_id} was merged into {survivor}; adjust {survivor}"
            )
        before = balance(cdb, member_id)
        if before + delta < 0:
            raise MemberConflict(
                f"taking {-delta} points would leave {member_id} at {before + delta}; the "
                f"balance is {before}, so at most {max(before, 0)} can be taken (a balance "
                "goes below zero only through reconciliation)"
            )
        row = write(cdb, member_id, delta, reason, actor, request_id, now, before)
        down = member_facts.push(cdb, [member_id], now, scope)
    return _record(row, False, down)
