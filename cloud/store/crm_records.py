"""HQ's and sales guides' records on a member: tags, preferences, follow-up notes, complaints.

Each call runs inside the caller's write transaction (the API audits in the same one). A
refusal raises the member-administration errors (``cloud.store.adjustments``): not found,
conflict or invalid, with the reason.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

from cloud.domain.crm import CrmRuleError, clean_tag, clean_tags, complaint_move
from cloud.store.adjustments import MemberConflict, MemberInvalid, MemberNotFound
from cloud.store.crm import complaint_row
from cloud.store.db import CloudDB

#: Tags one member may carry (a tag cloud beyond this is noise, not a segment).
MAX_TAGS: Final = 50


def member_or_404(cdb: CloudDB, member_id: str) -> Any:
    """The member row; MemberNotFound when there is none."""
    m = cdb.models.Member
    row = m.get_or_none(m.member_id == member_id)
    if row is None:
        raise MemberNotFound("no member %(member)r", member=member_id)
    return row


def _erased(cdb: CloudDB, member_id: str) -> bool:
    e = cdb.crm.MemberErasure
    return e.get_or_none(e.member_id == member_id) is not None


def _live(cdb: CloudDB, member_id: str) -> Any:
    row = member_or_404(cdb, member_id)
    if _erased(cdb, member_id):
        raise MemberConflict(
            "%(member)s's personal data was erased; nothing more is recorded", member=member_id
        )
    return row


def add_tags(
    cdb: CloudDB, member_id: str, tags: list[str], actor: str, now: dt.datetime
) -> list[str]:
    """Put tags on a member (a tag it carries already stays as it was); the tags added."""
    _live(cdb, member_id)
    try:
        wanted = clean_tags(tags)
    except CrmRuleError as err:
        raise MemberInvalid.like(err) from err
    t = cdb.crm.MemberTag
    held = {r.tag for r in t.select(t.tag).where(t.member_id == member_id)}
    new = [tag for tag in wanted if tag not in held]
    if len(held) + len(new) > MAX_TAGS:
        raise MemberConflict("a member carries at most %(most)s tags", most=MAX_TAGS)
    for tag in new:
        t.insert(member_id=member_id, tag=tag, added_by=actor[:64], added_at=now).execute()
    return new


def remove_tag(cdb: CloudDB, member_id: str, tag: str) -> bool:
    """Take a tag off a member; False when it did not carry it."""
    member_or_404(cdb, member_id)
    try:
        stored = clean_tag(tag)
    except CrmRuleError as err:
        raise MemberInvalid.like(err) from err
    t = cdb.crm.MemberTag
    return bool(t.delete().where((t.member_id == member_id) & (t.tag == stored)).execute())


def set_preferences(
    cdb: CloudDB, member_id: str, values: dict[str, str | None], actor: str, now: dt.datetime
) -> dict[str, str]:
    """Set (or with None remove) preferences; the member's preferences afterwards."""
    _live(cdb, member_id)
    p = cdb.crm.MemberPreference
    for key, value in values.items():
        p.delete().where((p.member_id == member_id) & (p.key == key)).execute()
        if value is not None and value.strip():
            p.insert(member_id=member_id, key=key, value=value.strip(), set_by=actor[:64],
                     set_at=now).execute()  # fmt: skip
    return {r.key: r.value for r in p.select().where(p.member_id == member_id)}


def add_note(
    cdb: CloudDB, member_id: str, text: str, actor: str, role: str, now: dt.datetime
) -> int:
    """A follow-up note on the member; its id."""
    _live(cdb, member_id)
    if not text.strip():
        raise MemberInvalid("a note needs some text")
    n = cdb.crm.GuideNote
    return int(n.insert(member_id=member_id, author=actor[:64], role=role[:16],
                        text=text.strip(), created_at=now).execute())  # fmt: skip


def open_complaint(
    cdb: CloudDB, member_id: str, text: str, sale_id: str, actor: str, now: dt.datetime,
    *, complaint_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A complaint HQ takes down (a phone call, a letter); open until someone resolves it.

    The same ``complaint_id`` again (a retry) answers the complaint already taken down.
    """
    member = _live(cdb, member_id)
    if not text.strip():
        raise MemberInvalid("say what the complaint is about")
    c = cdb.crm.Complaint
    complaint_id = complaint_id or "hq-" + uuid.uuid4().hex[:24]
    held = c.get_or_none(c.complaint_id == complaint_id)
    if held is not None:
        if held.member_id != member_id or held.text != text.strip():
            raise MemberConflict(
                "complaint id %(complaint)r is taken by another complaint", complaint=complaint_id
            )
        return complaint_row(held)
    c.insert(complaint_id=complaint_id, member_id=member_id, sale_id=sale_id,
             store_id=member.home_store or "", origin="hq", text=text.strip(), status="open",
             opened_by=actor[:64], opened_at=now).execute()  # fmt: skip
    return complaint_row(c.get(c.complaint_id == complaint_id))


def _till_complaint(cdb: CloudDB, complaint_id: str) -> dict[str, Any] | None:
    """A till's complaint event as a row of the workflow table (None when no till sent it)."""
    e = cdb.models.Event
    pattern = f'%"complaint_id":"{complaint_id}"%'
    # A complaint has no receipt number: (receipt_no, type) is indexed (events_receipt_no), so
    # only complaint events are read, never the sales.
    found = e.select().where((e.receipt_no == "") & (e.type == "complaint")
                             & (e.body.cast("text") ** pattern)).limit(5)  # fmt: skip
    for ev in found:
        body = ev.body or {}
        if body.get("complaint_id") != complaint_id:
            continue
        try:
            opened = dt.datetime.fromisoformat(str(body.get("device_time")).replace("Z", "+00:00"))
            opened = opened.astimezone(dt.UTC).replace(tzinfo=None)
        except ValueError:
            opened = ev.received_at
        return {"complaint_id": complaint_id, "member_id": body.get("member_id"),
                "sale_id": body.get("sale_id") or "", "store_id": ev.store_id,
                "origin": f"till:{ev.terminal_id}:{ev.seq}", "text": body.get("text", ""),
                "status": body.get("status", "open"), "opened_by": body.get("staff_id", ""),
                "opened_at": opened}  # fmt: skip
    return None


def complaint_store(cdb: CloudDB, complaint_id: str) -> str | None:
    """The store a complaint belongs to (None when there is no such complaint); reads only."""
    c = cdb.crm.Complaint
    row = c.get_or_none(c.complaint_id == complaint_id)
    if row is not None:
        return str(row.store_id)
    till = _till_complaint(cdb, complaint_id)
    return None if till is None else str(till["store_id"])


def find_complaint(cdb: CloudDB, complaint_id: str) -> Any:
    """The complaint's row, locked (a till's one copied in the first time HQ handles it);
    MemberNotFound when there is none."""
    c = cdb.crm.Complaint
    row = cdb.locking(c.select().where(c.complaint_id == complaint_id)).first()
    if row is None:
        till = _till_complaint(cdb, complaint_id)
        if till is not None:
            c.insert(**till).execute()
            row = c.get(c.complaint_id == complaint_id)
    if row is None:
        raise MemberNotFound("no complaint %(complaint)r", complaint=complaint_id)
    return row


def move_complaint(
    cdb: CloudDB, complaint_id: str, action: str, note: str, actor: str, now: dt.datetime
) -> dict[str, Any]:
    """Resolve (saying how) or reopen a complaint; who handled it is kept."""
    row = find_complaint(cdb, complaint_id)
    try:
        status = complaint_move(row.status, action)
    except CrmRuleError as err:
        raise MemberConflict.like(err) from err
    if action == "resolve" and not note.strip():
        raise MemberInvalid("say how the complaint was resolved")
    c = cdb.crm.Complaint
    changes: dict[str, Any] = {"status": status, "handled_by": actor[:64]}
    if action == "resolve":
        changes.update(resolved_at=now, resolution=note.strip())
    else:
        changes.update(resolved_at=None)
    c.update(**changes).where(c.complaint_id == complaint_id).execute()
    return complaint_row(c.get(c.complaint_id == complaint_id))
