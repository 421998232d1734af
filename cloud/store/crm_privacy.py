"""Privacy requests: export everything held on one member, and erase a member's personal data.

Erasure keeps the member id (an opaque key the tills made up) and every figure keyed by it:
the points ledger, spend, tier, the sales and returns and their totals, so reports still add
up. What identifies the person goes, everywhere the cloud copied it: the member row, the
bodies of the member's events (registrations, complaints, ratings), the change log tills
catch up from, conflicting copies of events, dead letters naming the phone, HQ's notes and
complaints, tags and preferences. Members merged into this one are erased with it. Tills are
told to drop each id (a members delete), and the member is never pushed again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.domain.crm import ERASED_TEXT, scrub, without_profile
from cloud.store import coupons
from cloud.store.adjustments import MemberNotFound
from cloud.store.crm import complaint_row, member_360
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown, erased_among, logged_change

EXPORT_FORMAT: Final = "member-export/1"
#: Rows read per round when scanning a table that has no index by member.
SCAN_CHUNK: Final = 2000


@dataclass(frozen=True, slots=True)
class Erased:
    """One erasure as made (or found made already)."""

    member_id: str
    ids: tuple[str, ...]
    already: bool
    scrubbed: dict[str, int] = field(default_factory=dict)
    down: list[PendingDown] = field(default_factory=list)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _ids(cdb: CloudDB, member_id: str) -> list[str]:
    alias = cdb.jobs.MemberAlias
    return [member_id, *(r.old_id for r in alias.select().where(alias.new_id == member_id))]


def export_member(cdb: CloudDB, member_id: str, now: dt.datetime) -> dict[str, Any]:
    """Everything held on the member (and ids merged into it), unmasked, as one JSON object."""
    view = member_360(cdb, member_id)
    if view is None:
        raise MemberNotFound(f"no member {member_id!r}")
    ids = _ids(cdb, member_id)
    m, crm, jobs = cdb.models, cdb.crm, cdb.jobs
    e, p, tc = m.Event, m.PointsLedger, m.TierChange
    events = e.select().where(e.member_id.in_(ids)).order_by(e.terminal_id, e.seq)
    ledger = p.select().where(p.member_id.in_(ids)).order_by(p.id)
    adj = jobs.PointsAdjustment
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now.isoformat(),
        "member_id": member_id,
        "ids": ids,
        "profiles": [{k: (_iso(v) if isinstance(v, dt.date | dt.datetime) else v)
                      for k, v in row.__data__.items()}
                     for row in m.Member.select().where(m.Member.member_id.in_(ids))],
        "view": view,
        "events": [{"terminal_id": ev.terminal_id, "seq": int(ev.seq), "type": ev.type,
                    "store_id": ev.store_id, "received_at": _iso(ev.received_at),
                    "status": ev.status, "body": ev.body} for ev in events],
        "points_ledger": [{"delta": int(r.delta), "reason": r.reason,
                           "origin_terminal": r.origin_terminal, "origin_seq": int(r.origin_seq),
                           "origin_sale_id": r.origin_sale_id, "created_at": _iso(r.created_at)}
                          for r in ledger],
        "points_adjustments": [{"id": int(a.id), "delta": int(a.delta), "reason": a.reason,
                                "actor": a.actor, "created_at": _iso(a.created_at)}
                               for a in adj.select().where(adj.member_id.in_(ids))],
        "tier_changes": [{"old_tier": t.old_tier, "new_tier": t.new_tier,
                          "changed_at": _iso(t.changed_at)}
                         for t in tc.select().where(tc.member_id.in_(ids)).order_by(tc.id)],
        "notes": [{"author": n.author, "text": n.text, "created_at": _iso(n.created_at)}
                  for n in crm.GuideNote.select().where(crm.GuideNote.member_id.in_(ids))],
        "complaints": [complaint_row(c)
                       for c in crm.Complaint.select().where(crm.Complaint.member_id.in_(ids))],
        "coupons": [c for i in ids for c in coupons.listing(cdb, member_id=i, limit=10_000)],
    }  # fmt: skip


def _scrub_events(cdb: CloudDB, ids: Sequence[str]) -> int:
    e = cdb.models.Event
    changed = 0
    rows = list(e.select(e.terminal_id, e.seq, e.type, e.body).where(e.member_id.in_(list(ids))))
    sales = [(r.terminal_id, int(r.seq), (r.body or {}).get("sale_id")) for r in rows
             if r.type == "sale"]  # fmt: skip
    for r in rows:
        clean = scrub(r.body)
        if clean != r.body:
            key = (e.terminal_id == r.terminal_id) & (e.seq == r.seq)
            e.update(body=clean).where(key).execute()
            changed += 1
    # Ratings name the sale, not the member: found on the sale's till just after it.
    for terminal_id, seq, sale_id in sales:
        near = e.select(e.terminal_id, e.seq, e.body).where(
            (e.type == "feedback") & (e.terminal_id == terminal_id)
            & e.seq.between(seq + 1, seq + 20))  # fmt: skip
        for r in near:
            if (r.body or {}).get("sale_id") == sale_id and (r.body or {}).get("comment"):
                e.update(body={**r.body, "comment": ERASED_TEXT}).where(
                    (e.terminal_id == r.terminal_id) & (e.seq == r.seq)).execute()  # fmt: skip
                changed += 1
    return changed


def _like_any(field_: Any, ids: Sequence[str]) -> Any:
    cond: Any = None
    for i in ids:
        # "_" and "%" in an id only widen the match: every row found is checked exactly.
        one = field_.cast("text") ** f"%{i}%"
        cond = one if cond is None else cond | one
    return cond


def _scrub_changes(cdb: CloudDB, ids: Sequence[str]) -> int:
    d = cdb.models.DownChange
    changed = 0
    for row in d.select().where((d.stream == "members") & _like_any(d.items, ids)):
        items = [without_profile(it) if it.get("member_id") in ids else it for it in row.items]
        if items != row.items:
            d.update(items=items).where(d.id == row.id).execute()
            changed += 1
    return changed


def _scrub_conflicts(cdb: CloudDB, ids: Sequence[str]) -> int:
    c = cdb.models.EventConflict
    changed = 0
    for row in c.select().where(_like_any(c.envelope, ids)):
        body = (row.envelope or {}).get("body") or {}
        if body.get("member_id") in ids:
            c.update(envelope={**row.envelope, "body": scrub(body)}).where(c.id == row.id).execute()
            changed += 1
    return changed


def _scrub_dead_letters(cdb: CloudDB, secrets: Sequence[str]) -> int:
    """Dead letters are unreadable by definition: any holding a phone or name loses its payload."""
    needles = [s.encode() for s in secrets if s and len(s) >= 2]
    if not needles:
        return 0
    d = cdb.models.DeadLetter
    changed, after = 0, 0
    while True:
        chunk = list(d.select(d.id, d.payload).where(d.id > after).order_by(d.id).limit(SCAN_CHUNK))
        if not chunk:
            return changed
        after = int(chunk[-1].id)
        for row in chunk:
            if any(n in (row.payload or b"") for n in needles):
                d.update(payload=b"", reason=d.reason.concat(" (payload erased)")).where(
                    d.id == row.id).execute()  # fmt: skip
                changed += 1


def _scrub_records(cdb: CloudDB, ids: Sequence[str]) -> dict[str, int]:
    crm = cdb.crm
    n, c = crm.GuideNote, crm.Complaint
    return {
        "member_notes": int(n.update(text=ERASED_TEXT).where(n.member_id.in_(ids)).execute()),
        "complaints": int(c.update(text=ERASED_TEXT, resolution=ERASED_TEXT)
                          .where(c.member_id.in_(ids)).execute()),
        "member_tags": int(crm.MemberTag.delete()
                           .where(crm.MemberTag.member_id.in_(ids)).execute()),
        "member_preferences": int(crm.MemberPreference.delete()
                                  .where(crm.MemberPreference.member_id.in_(ids)).execute()),
    }  # fmt: skip


def erase_member(
    cdb: CloudDB, member_id: str, *, actor: str, reason: str, now: dt.datetime, scope: str
) -> Erased:
    """Erase the member's personal data (see the module text); inside a write transaction.

    Erasing again changes nothing and pushes nothing (``already``).
    """
    m, crm = cdb.models, cdb.crm
    member = cdb.locking(m.Member.select().where(m.Member.member_id == member_id)).first()
    if member is None:
        raise MemberNotFound(f"no member {member_id!r}")
    if crm.MemberErasure.get_or_none(crm.MemberErasure.member_id == member_id) is not None:
        return Erased(member_id, tuple(_ids(cdb, member_id)), True)
    ids = _ids(cdb, member_id)
    rows = list(m.Member.select().where(m.Member.member_id.in_(ids)))
    secrets = sorted({s for r in rows for s in (r.phone, r.name, r.member_code, *(r.cards or []))
                      if s})  # fmt: skip
    scrubbed = {
        "members": int(m.Member.update(
            phone="", name="", birthday=None, gender="", member_code="", cards=[],
            opt_out_sms=True, updated_at=now, rev=m.Member.rev + 1,
        ).where(m.Member.member_id.in_(ids)).execute()),
        "events": _scrub_events(cdb, ids),
        "down_changes": _scrub_changes(cdb, ids),
        "event_conflicts": _scrub_conflicts(cdb, ids),
        "dead_letters": _scrub_dead_letters(cdb, secrets),
        **_scrub_records(cdb, ids),
    }  # fmt: skip
    for i in ids:
        crm.MemberErasure.insert(
            member_id=i,
            erased_at=now,
            erased_by=actor[:64],
            reason=reason,
            scrubbed=json.dumps(scrubbed),
        ).on_conflict_ignore().execute()
    drop = [{"member_id": i} for i in ids]
    return Erased(member_id, tuple(ids), False, scrubbed,
                  [logged_change(cdb, "members", scope, "delete", drop, now)])  # fmt: skip


def scrub_late(cdb: CloudDB, member_ids: list[str]) -> int:
    """Scrub the stored events of erased members that arrived after the erasure (a till that
    had not heard of it yet); inside the ingest's write transaction. Returns events changed."""
    gone = erased_among(cdb, member_ids)
    return _scrub_events(cdb, sorted(gone)) if gone else 0


def erased_ids(cdb: CloudDB) -> Any:
    """Ids whose personal data was erased, as a subquery (they are never pushed again)."""
    e = cdb.crm.MemberErasure
    return e.select(e.member_id)
